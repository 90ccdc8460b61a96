#include "repo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git2_api.h"
#include "glob.h"

/* "git: <what>: <libgit2's message>", with a hint for shallow clones. */
static int fail(git_repository *r, buf *err, const char *fmt, const char *arg) {
  const git_error *e = lg2.git_error_last ? lg2.git_error_last() : NULL;
  err->len = 0;
  buf_addstr(err, "git: ");
  buf_addf(err, fmt, arg);
  if (e && e->message) buf_addf(err, ": %s", e->message);
  if (r && lg2.git_repository_is_shallow(r) == 1)
    buf_addstr(err, " (this is a shallow clone: history may be missing; fetch it with git fetch --unshallow)");
  return -1;
}

static int say(buf *err, const char *fmt, const char *a, const char *b) {
  err->len = 0;
  buf_addf(err, fmt, a, b);
  return -1;
}

static int loaded(buf *err) {
  const char *why;
  if (git2_load(&why) == 0) return 0;
  return say(err, "%s%s", why, "");
}

int repo_open(const char *path, git_repository **out, buf *err) {
  *out = NULL;
  if (loaded(err)) return -1;
  int rc = lg2.git_repository_open_ext(out, path, 0, NULL);
  if (rc == GIT_ENOTFOUND) {
    char *abs = realpath(path, NULL);
    say(err, "git: %s is not inside a git repository%s", abs ? abs : path, "");
    free(abs);
    return -1;
  }
  return rc ? fail(NULL, err, "cannot open the repository at %s", path) : 0;
}

void repo_free(git_repository *r) {
  if (r) lg2.git_repository_free(r);
}

const char *repo_workdir(git_repository *r) { return lg2.git_repository_workdir(r); }

/* A revision to a commit; "unknown revision" for anything that is not one. */
static int commit_of(git_repository *r, const char *spec, git_commit **out, buf *err) {
  git_object *obj = NULL, *peeled = NULL;
  int rc = lg2.git_revparse_single(&obj, r, spec);
  if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC)
    return say(err, "git: unknown revision '%s'%s", spec,
               lg2.git_repository_is_shallow(r) == 1
                   ? " (this is a shallow clone: it may be in the history not fetched; git fetch --unshallow --tags)"
                   : "");
  if (rc == GIT_EAMBIGUOUS) return say(err, "git: ambiguous revision '%s': give more of it%s", spec, "");
  if (rc) return fail(r, err, "cannot resolve '%s'", spec);
  rc = lg2.git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  lg2.git_object_free(obj);
  if (rc) return say(err, "git: '%s' is not a commit%s", spec, "");
  *out = (git_commit *)peeled;
  return 0;
}

static void sha_of(const git_oid *oid, char sha[41]) { snprintf(sha, 41, "%s", lg2.git_oid_tostr_s(oid)); }

int repo_head(git_repository *r, repo_head_info *out, buf *err) {
  memset(out, 0, sizeof *out);
  git_reference *head = NULL;
  int rc = lg2.git_repository_head(&head, r);
  if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND)
    return say(err, "git: %s has no commits yet%s", lg2.git_repository_path(r), "");
  if (rc) return fail(r, err, "cannot read HEAD%s", "");
  const git_oid *oid = lg2.git_reference_target(head);
  if (oid) sha_of(oid, out->sha);
  out->detached = lg2.git_repository_head_detached(r) == 1;
  if (!out->detached) snprintf(out->branch, sizeof out->branch, "%s", lg2.git_reference_shorthand(head));
  lg2.git_reference_free(head);
  git_commit *c;
  git_buf shortid = {0};
  if (commit_of(r, "HEAD", &c, err) == 0) {
    if (lg2.git_object_short_id(&shortid, (git_object *)c) == 0) snprintf(out->short_sha, 41, "%s", shortid.ptr);
    lg2.git_buf_dispose(&shortid);
    lg2.git_commit_free(c);
  }
  return 0;
}

int repo_rev_parse(git_repository *r, const char *spec, char sha[41], buf *err) {
  git_commit *c;
  if (commit_of(r, spec, &c, err)) return -1;
  sha_of(lg2.git_commit_id(c), sha);
  lg2.git_commit_free(c);
  return 0;
}

int repo_merge_base(git_repository *r, const char *a, const char *b, char sha[41], buf *err) {
  git_commit *ca, *cb;
  if (commit_of(r, a, &ca, err)) return -1;
  if (commit_of(r, b, &cb, err)) return lg2.git_commit_free(ca), -1;
  git_oid base;
  int rc = lg2.git_merge_base(&base, r, lg2.git_commit_id(ca), lg2.git_commit_id(cb));
  lg2.git_commit_free(ca);
  lg2.git_commit_free(cb);
  if (rc == GIT_ENOTFOUND) {
    err->len = 0;
    buf_addf(err, "git: '%s' and '%s' have no common ancestor", a, b);
    if (lg2.git_repository_is_shallow(r) == 1) buf_addstr(err, " (this is a shallow clone: fetch the history with git fetch --unshallow)");
    return -1;
  }
  if (rc) return fail(r, err, "merge-base of '%s' failed", a);
  sha_of(&base, sha);
  return 0;
}

int repo_is_ancestor(git_repository *r, const char *ancestor, const char *of, int *yes, buf *err) {
  git_commit *ca, *cb;
  if (commit_of(r, ancestor, &ca, err)) return -1;
  if (commit_of(r, of, &cb, err)) return lg2.git_commit_free(ca), -1;
  const git_oid *a = lg2.git_commit_id(ca), *b = lg2.git_commit_id(cb);
  int rc = lg2.git_oid_cmp(a, b) == 0 ? 1 : lg2.git_graph_descendant_of(r, b, a);
  lg2.git_commit_free(ca);
  lg2.git_commit_free(cb);
  if (rc < 0) return fail(r, err, "cannot compare '%s'", ancestor);
  *yes = rc;
  return 0;
}

int repo_dirty(git_repository *r, int untracked, repo_path_cb cb, void *ud, buf *err) {
  git_status_options opts;
  lg2.git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES | GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX;
  if (untracked) opts.flags |= GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
  git_status_list *list;
  if (lg2.git_status_list_new(&list, r, &opts)) return fail(r, err, "cannot read the status%s", "");
  size_t n = lg2.git_status_list_entrycount(list);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const git_status_entry *e = lg2.git_status_byindex(list, i);
    const git_diff_delta *d = e->head_to_index ? e->head_to_index : e->index_to_workdir;
    if (!d) continue;
    char st = e->status & GIT_STATUS_WT_NEW ? '?'
              : e->status & (GIT_STATUS_INDEX_NEW) ? 'A'
              : e->status & (GIT_STATUS_INDEX_DELETED | GIT_STATUS_WT_DELETED) ? 'D'
              : e->status & (GIT_STATUS_INDEX_RENAMED | GIT_STATUS_WT_RENAMED) ? 'R'
                                                                                : 'M';
    rc = cb(ud, d->new_file.path ? d->new_file.path : d->old_file.path, st);
  }
  lg2.git_status_list_free(list);
  return rc ? -1 : 0;
}

int repo_changed(git_repository *r, const char *from, const char *to, const char *const *globs, size_t nglobs,
                 repo_path_cb cb, void *ud, buf *err) {
  git_commit *cfrom = NULL, *cto = NULL;
  git_tree *tfrom = NULL, *tto = NULL;
  git_diff *diff = NULL;
  int rc = -1;
  if (from && commit_of(r, from, &cfrom, err)) goto done;
  if (commit_of(r, to ? to : "HEAD", &cto, err)) goto done;
  if ((cfrom && lg2.git_commit_tree(&tfrom, cfrom)) || lg2.git_commit_tree(&tto, cto)) {
    fail(r, err, "cannot read the tree of '%s'", to ? to : "HEAD");
    goto done;
  }
  /* No rename detection: a rename is a deletion and an addition, which is
   * exactly "both names" — and far cheaper on a big history. */
  git_diff_options opts;
  lg2.git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  // Each glob's literal leading directories ("docs/usage-docs" of
  // "docs/usage-docs/**") become literal pathspecs, so libgit2 never walks
  // the subtrees no glob can match; glob_match still decides exactly. A glob
  // with no literal directory ("**/*.sql") needs the whole tree.
  char **prefixes = nglobs ? calloc(nglobs, sizeof *prefixes) : NULL;
  size_t nprefixes = 0;
  for (size_t i = 0; prefixes && i < nglobs; i++) {
    if (globs[i][0] == '!') continue; /* an exclusion narrows, never widens */
    size_t dir = glob_literal_dir(globs[i]);
    if (!dir || !(prefixes[nprefixes] = strndup(globs[i], dir))) {
      nprefixes = 0; /* whole tree */
      break;
    }
    nprefixes++;
  }
  if (nprefixes) {
    opts.pathspec.strings = prefixes;
    opts.pathspec.count = nprefixes;
    opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
  }
  int drc = lg2.git_diff_tree_to_tree(&diff, r, tfrom, tto, &opts);
  for (size_t i = 0; prefixes && i < nglobs; i++) free(prefixes[i]);
  free(prefixes);
  if (drc) {
    fail(r, err, "cannot diff '%s'", from ? from : "(empty)");
    goto done;
  }
  rc = 0;
  size_t n = lg2.git_diff_num_deltas(diff);
  for (size_t i = 0; i < n && !rc; i++) {
    const git_diff_delta *d = lg2.git_diff_get_delta(diff, i);
    char st = d->status == GIT_DELTA_ADDED ? 'A' : d->status == GIT_DELTA_DELETED ? 'D' : 'M';
    const char *path = st == 'D' ? d->old_file.path : d->new_file.path;
    if ((!nglobs || glob_list_match(globs, nglobs, path)) && cb(ud, path, st)) rc = -1;
  }
done:
  if (diff) lg2.git_diff_free(diff);
  if (tfrom) lg2.git_tree_free(tfrom);
  if (tto) lg2.git_tree_free(tto);
  if (cfrom) lg2.git_commit_free(cfrom);
  if (cto) lg2.git_commit_free(cto);
  return rc;
}

int repo_tags(git_repository *r, const char *pattern, repo_tag_cb cb, void *ud, buf *err) {
  git_strarray names = {0};
  if (lg2.git_tag_list_match(&names, pattern ? pattern : "*", r)) return fail(r, err, "cannot list tags%s", "");
  int rc = 0;
  buf ref = {0};
  for (size_t i = 0; i < names.count && !rc; i++) {
    ref.len = 0;
    buf_addf(&ref, "refs/tags/%s", names.strings[i]);
    char sha[41];
    if (repo_rev_parse(r, ref.data, sha, err) == 0) rc = cb(ud, names.strings[i], sha);
    /* a tag of something that is not a commit (a tree, a blob) is skipped */
  }
  buf_free(&ref);
  lg2.git_strarray_dispose(&names);
  err->len = 0;
  return rc ? -1 : 0;
}

/* "Name <email>" -> a signature; NULL: git config, else drun <drun@localhost>. */
static int signature(git_repository *r, const char *author, git_signature **out) {
  if (author) {
    const char *lt = strchr(author, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt && lt > author) {
      char name[256], email[256];
      size_t nl = (size_t)(lt - author);
      while (nl && author[nl - 1] == ' ') nl--;
      snprintf(name, sizeof name, "%.*s", (int)nl, author);
      snprintf(email, sizeof email, "%.*s", (int)(gt - lt - 1), lt + 1);
      return lg2.git_signature_now(out, name, email);
    }
    return lg2.git_signature_now(out, author, "drun@localhost");
  }
  if (lg2.git_signature_default(out, r) == 0) return 0;
  return lg2.git_signature_now(out, "drun", "drun@localhost");
}

int repo_tag(git_repository *r, const char *name, const char *message, const char *target, const char *tagger,
             char sha[41], buf *err) {
  git_object *obj = NULL;
  git_commit *c;
  if (commit_of(r, target ? target : "HEAD", &c, err)) return -1;
  obj = (git_object *)c;
  git_signature *sig;
  if (signature(r, tagger, &sig)) return lg2.git_object_free(obj), fail(r, err, "no signature for tag '%s'", name);
  git_oid oid;
  int rc = lg2.git_tag_create(&oid, r, name, obj, sig, message ? message : name, 0);
  lg2.git_signature_free(sig);
  lg2.git_object_free(obj);
  if (rc == GIT_EEXISTS) return say(err, "git: tag '%s' already exists%s", name, "");
  if (rc) return fail(r, err, "cannot create tag '%s'", name);
  sha_of(&oid, sha);
  return 0;
}

int repo_commit(git_repository *r, const char *const *paths, size_t npaths, const char *message, const char *author,
                char sha[41], buf *err) {
  git_index *index = NULL;
  git_tree *tree = NULL;
  git_commit *parent = NULL;
  git_signature *sig = NULL;
  int rc = -1;
  const char *wd = lg2.git_repository_workdir(r);
  if (!wd) return say(err, "git: cannot commit in a bare repository%s%s", "", "");
  if (lg2.git_repository_index(&index, r)) return fail(r, err, "cannot read the index%s", "");
  for (size_t i = 0; i < npaths; i++) {
    buf full = {0};
    buf_addf(&full, "%s%s", wd, paths[i]);
    int exists = access(full.data, F_OK) == 0;
    buf_free(&full);
    if ((exists ? lg2.git_index_add_bypath(index, paths[i]) : lg2.git_index_remove_bypath(index, paths[i]))) {
      fail(r, err, "cannot stage '%s'", paths[i]);
      goto done;
    }
  }
  int wrc = lg2.git_index_write(index);
  if (wrc == GIT_ELOCKED || (wrc && lg2.git_error_last() && strstr(lg2.git_error_last()->message, "index.lock"))) {
    err->len = 0;
    buf_addf(err, "git: %sindex.lock exists: another git is running, or one crashed and left it; "
                  "remove it if no git is running", lg2.git_repository_path(r));
    goto done;
  }
  if (wrc) {
    fail(r, err, "cannot write the index%s", "");
    goto done;
  }
  git_oid tree_id, commit_id;
  if (lg2.git_index_write_tree(&tree_id, index) || lg2.git_tree_lookup(&tree, r, &tree_id)) {
    fail(r, err, "cannot write the tree%s", "");
    goto done;
  }
  int unborn = lg2.git_repository_head_unborn(r) == 1;
  if (!unborn && commit_of(r, "HEAD", &parent, err)) goto done;
  if (signature(r, author, &sig)) {
    fail(r, err, "no signature for the commit%s", "");
    goto done;
  }
  const git_commit *parents[1] = {parent};
  if (lg2.git_commit_create(&commit_id, r, "HEAD", sig, sig, NULL, message, tree, parent ? 1 : 0, parents)) {
    fail(r, err, "cannot commit%s", "");
    goto done;
  }
  sha_of(&commit_id, sha);
  rc = 0;
done:
  if (sig) lg2.git_signature_free(sig);
  if (parent) lg2.git_commit_free(parent);
  if (tree) lg2.git_tree_free(tree);
  lg2.git_index_free(index);
  return rc;
}

typedef struct {
  const char *token;
  int attempts;
  buf rejected;
} push_ctx;

static int credentials(git_credential **out, const char *url, const char *user, unsigned int allowed, void *payload) {
  (void)url, (void)user;
  push_ctx *p = payload;
  /* answer once: libgit2 asks again after a refusal, which would loop forever */
  if (p->attempts++ || !p->token || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) return GIT_PASSTHROUGH;
  return lg2.git_credential_userpass_plaintext_new(out, "x-access-token", p->token);
}

static int update_reference(const char *refname, const char *status, void *payload) {
  push_ctx *p = payload;
  if (status) buf_addf(&p->rejected, "%s%s: %s", p->rejected.len ? "; " : "", refname, status);
  return 0;
}

/* A configured remote by name, or an anonymous one for a path or URL. git
 * resolves a relative path URL ("../origin.git") against the working tree;
 * libgit2 does not: it is resolved here. */
static int open_remote(git_repository *r, const char *remote_name, git_remote **out, buf *err) {
  git_remote *remote = NULL;
  int rc = lg2.git_remote_lookup(&remote, r, remote_name);
  if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) {
    if (!strchr(remote_name, '/') && !strchr(remote_name, ':')) return say(err, "git: no remote '%s'%s", remote_name, "");
    rc = lg2.git_remote_create_anonymous(&remote, r, remote_name);
  }
  if (rc) return fail(r, err, "cannot use remote '%s'", remote_name);
  const char *url = lg2.git_remote_url(remote);
  const char *wd = lg2.git_repository_workdir(r);
  if (url && wd && url[0] != '/' && !strchr(url, ':')) {
    buf rel = {0};
    buf_addf(&rel, "%s%s", wd, url);
    char *abs = realpath(rel.data, NULL);
    buf_free(&rel);
    if (abs) {
      lg2.git_remote_free(remote);
      rc = lg2.git_remote_create_anonymous(&remote, r, abs);
      free(abs);
      if (rc) return fail(r, err, "cannot use remote '%s'", remote_name);
    }
  }
  *out = remote;
  return 0;
}

/* The reason a talk with the remote failed, in the words a user can act on. */
static void remote_failure(const char *remote_name, const char *what, const push_ctx *ctx, const char *token,
                           buf *err) {
  err->len = 0;
  if (ctx->attempts > 1) /* asked again after we answered: the token was refused */
    buf_addf(err, "git: %s '%s' rejected: authentication failed (the token was refused)", what, remote_name);
  else if (ctx->attempts == 1 && !token)
    buf_addf(err, "git: %s '%s' rejected: the remote requires authentication; set GITHUB_TOKEN", what, remote_name);
  else {
    const git_error *e = lg2.git_error_last();
    buf_addf(err, "git: %s '%s' rejected: %s", what, remote_name, e && e->message ? e->message : "unknown error");
    if (e && e->message && strstr(e->message, "non-fastforward"))
      buf_addstr(err, " (the remote has commits this repository does not: fetch and rebase, then push again)");
  }
}

int repo_remote_refs(git_repository *r, const char *remote_name, const char *token, repo_tag_cb cb, void *ud,
                     buf *err) {
  git_remote *remote = NULL;
  if (open_remote(r, remote_name, &remote, err)) return -1;
  push_ctx ctx = {token, 0, {0}};
  git_remote_callbacks cbs;
  lg2.git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
  cbs.credentials = credentials;
  cbs.payload = &ctx;
  /* connecting for push is what a push does first: the remote checks the
   * credentials for writing (GitHub answers 403 without write access) and
   * advertises its refs; nothing is sent */
  int rc = lg2.git_remote_connect(remote, GIT_DIRECTION_PUSH, &cbs, NULL, NULL);
  if (rc) {
    remote_failure(remote_name, "push to", &ctx, token, err);
    lg2.git_remote_free(remote);
    return -1;
  }
  const git_remote_head **heads;
  size_t n = 0;
  rc = lg2.git_remote_ls(&heads, &n, remote);
  if (rc) fail(r, err, "cannot list the refs of '%s'", remote_name);
  for (size_t i = 0; !rc && i < n; i++) {
    char sha[41];
    sha_of(&heads[i]->oid, sha);
    if (cb(ud, heads[i]->name, sha)) break;
  }
  lg2.git_remote_disconnect(remote);
  lg2.git_remote_free(remote);
  return rc ? -1 : 0;
}

int repo_is_shallow(git_repository *r) { return lg2.git_repository_is_shallow(r) == 1; }

int repo_push(git_repository *r, const char *remote_name, const char *const *refspecs, size_t n, const char *token,
              buf *err) {
  git_remote *remote = NULL;
  if (open_remote(r, remote_name, &remote, err)) return -1;
  int rc;
  push_ctx ctx = {token, 0, {0}};
  git_push_options opts;
  lg2.git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
  opts.callbacks.credentials = credentials;
  opts.callbacks.push_update_reference = update_reference;
  opts.callbacks.payload = &ctx;
  git_strarray specs = {(char **)refspecs, n};
  rc = lg2.git_remote_push(remote, &specs, &opts);
  if (rc) {
    remote_failure(remote_name, "push to", &ctx, token, err);
  } else if (ctx.rejected.len) {
    err->len = 0;
    buf_addf(err, "git: push to '%s' rejected by the remote: %s", remote_name, ctx.rejected.data);
    rc = -1;
  }
  buf_free(&ctx.rejected);
  lg2.git_remote_free(remote);
  return rc ? -1 : 0;
}

/* a commit as repo_log gives it: to cb, 0 or -1 when cb stops */
static int emit(git_commit *c, repo_log_cb cb, void *ud) {
  const git_signature *a = lg2.git_commit_author(c);
  char sha[41], who[600];
  sha_of(lg2.git_commit_id(c), sha);
  snprintf(who, sizeof who, "%s <%s>", a->name, a->email);
  const char *subject = lg2.git_commit_summary(c), *body = lg2.git_commit_body(c);
  repo_log_entry e = {sha, subject ? subject : "", body ? body : "", who, (int64_t)lg2.git_commit_time(c)};
  return cb(ud, &e) ? -1 : 0;
}

/* one commit to cb, read without a walk */
static int log_one(git_repository *r, const char *rev, repo_log_cb cb, void *ud, buf *err) {
  git_commit *c;
  if (commit_of(r, rev, &c, err)) return -1;
  int rc = emit(c, cb, ud);
  lg2.git_commit_free(c);
  return rc;
}

int repo_log(git_repository *r, const char *range, size_t limit, repo_log_cb cb, void *ud, buf *err) {
  /* One commit needs no walk: that works in a shallow clone too (the
   * deployed commit's time, on a CI runner's depth-1 checkout). */
  if (limit == 1 && !strstr(range, "..")) return log_one(r, range, cb, ud, err);
  /* libgit2 1.5 cannot walk a shallow clone (its revwalk fails at the first
   * missing parent, and leaks on the way): say so before trying. */
  if (lg2.git_repository_is_shallow(r) == 1)
    return say(err, "git: cannot read the log of '%s': this is a shallow clone: history may be missing; "
                    "fetch it with git fetch --unshallow%s", range, "");
  git_revwalk *walk;
  if (lg2.git_revwalk_new(&walk, r)) return fail(r, err, "cannot walk history%s", "");
  lg2.git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  int rc;
  const char *dots = strstr(range, "..");
  if (dots) {
    /* Each end resolved here, not by git_revwalk_push_range: libgit2 1.5
     * leaks the first end's commit when the second does not resolve (a
     * changelog up to a tag a dry-run has not made), and its error names
     * neither end. */
    char from[256];
    size_t n = (size_t)(dots - range);
    const char *to = dots[2] ? dots + 2 : "HEAD";
    if (n == 0 || n >= sizeof from || strstr(to, "..")) {
      lg2.git_revwalk_free(walk);
      return say(err, "git: not a revision range: '%s' (FROM..TO)%s", range, "");
    }
    memcpy(from, range, n);
    from[n] = '\0';
    git_commit *a, *b;
    if (commit_of(r, from, &a, err)) return lg2.git_revwalk_free(walk), -1;
    if (commit_of(r, to, &b, err)) return lg2.git_commit_free(a), lg2.git_revwalk_free(walk), -1;
    rc = lg2.git_revwalk_push(walk, lg2.git_commit_id(b)) || lg2.git_revwalk_hide(walk, lg2.git_commit_id(a));
    lg2.git_commit_free(a);
    lg2.git_commit_free(b);
    if (rc) {
      lg2.git_revwalk_free(walk);
      return fail(r, err, "cannot walk '%s'", range);
    }
  } else {
    git_commit *c;
    if (commit_of(r, range, &c, err)) return lg2.git_revwalk_free(walk), -1;
    rc = lg2.git_revwalk_push(walk, lg2.git_commit_id(c));
    lg2.git_commit_free(c);
  }
  git_oid oid;
  size_t count = 0;
  rc = 0;
  while (!rc && (!limit || count < limit)) {
    int nx = lg2.git_revwalk_next(&oid, walk);
    if (nx == GIT_ITEROVER) break;
    if (nx) {
      rc = fail(r, err, "cannot walk history of '%s'", range);
      break;
    }
    git_commit *c;
    if (lg2.git_commit_lookup(&c, r, &oid)) {
      rc = fail(r, err, "cannot read a commit of '%s'", range);
      break;
    }
    if (emit(c, cb, ud)) rc = -1;
    lg2.git_commit_free(c);
    count++;
  }
  lg2.git_revwalk_free(walk);
  return rc;
}

int repo_config(git_repository *r, const char *key, buf *out, buf *err) {
  git_config *cfg;
  if (lg2.git_repository_config_snapshot(&cfg, r)) return fail(r, err, "cannot read the config%s", "");
  const char *v = NULL;
  int rc = lg2.git_config_get_string(&v, cfg, key);
  if (rc == 0) buf_addstr(out, v);
  lg2.git_config_free(cfg);
  if (rc == GIT_ENOTFOUND) return 1;
  return rc ? fail(r, err, "cannot read config '%s'", key) : 0;
}
