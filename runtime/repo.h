/* Git operations for deploy flows, on libgit2 (Lua-free; l_git.c binds
 * them). Every function returns 0, or -1 with "git: ..." in *err. Lists are
 * handed out through callbacks, one item at a time. */
#ifndef DRUN_REPO_H
#define DRUN_REPO_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct git_repository git_repository;

int repo_open(const char *path, git_repository **out, buf *err);
void repo_free(git_repository *r);
const char *repo_workdir(git_repository *r); /* NULL for a bare repository */

typedef struct {
  char sha[41], short_sha[41];
  char branch[256]; /* "" when detached */
  int detached;
} repo_head_info;

int repo_head(git_repository *r, repo_head_info *out, buf *err);
int repo_rev_parse(git_repository *r, const char *spec, char sha[41], buf *err); /* to a commit */
int repo_merge_base(git_repository *r, const char *a, const char *b, char sha[41], buf *err);
int repo_is_ancestor(git_repository *r, const char *ancestor, const char *of, int *yes, buf *err);

/* status: 'A' added, 'M' modified, 'D' deleted, 'R' renamed, '?' untracked */
typedef int (*repo_path_cb)(void *ud, const char *path, char status);

int repo_dirty(git_repository *r, int untracked, repo_path_cb cb, void *ud, buf *err);
/* Paths changed between two revisions (from NULL: everything in `to`),
 * matching any of the globs (none: all). A rename lists both names. */
int repo_changed(git_repository *r, const char *from, const char *to, const char *const *globs, size_t nglobs,
                 repo_path_cb cb, void *ud, buf *err);

typedef int (*repo_tag_cb)(void *ud, const char *name, const char *sha);
int repo_tags(git_repository *r, const char *pattern, repo_tag_cb cb, void *ud, buf *err);
/* tagger: "Name <email>" or NULL, as a commit's author */
int repo_tag(git_repository *r, const char *name, const char *message, const char *target, const char *tagger,
             char sha[41], buf *err);

/* author: "Name <email>" or NULL (git config, else "drun <drun@localhost>") */
int repo_commit(git_repository *r, const char *const *paths, size_t npaths, const char *message, const char *author,
                char sha[41], buf *err);
/* remote: a configured remote's name, or a path / file:// / https URL.
 * token (may be NULL): for https, supplied through the credential callback. */
int repo_push(git_repository *r, const char *remote, const char *const *refspecs, size_t n, const char *token,
              buf *err);

/* The refs a remote advertises to a push (name, sha), after it accepted the
 * credentials for writing; nothing is pushed. */
int repo_remote_refs(git_repository *r, const char *remote, const char *token, repo_tag_cb cb, void *ud, buf *err);
int repo_is_shallow(git_repository *r); /* 1: a shallow clone (history cut off) */

/* A git config value (repository, then global): 0 found, 1 not set, -1 error. */
int repo_config(git_repository *r, const char *key, buf *out, buf *err);

/* A commit of a log: body is the message after the subject's paragraph
 * (where a BREAKING CHANGE: footer is), "" when there is none. */
typedef struct {
  const char *sha, *subject, *body, *author;
  int64_t time;
} repo_log_entry;
typedef int (*repo_log_cb)(void *ud, const repo_log_entry *c);
int repo_log(git_repository *r, const char *range, size_t limit, repo_log_cb cb, void *ud, buf *err);
#endif
