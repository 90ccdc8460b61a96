/* libgit2, loaded on first use (see dynlib.h): the functions drun calls, as
 * typed pointers filled by dlsym. Call them as lg2.git_xxx(...); the
 * compiler checks each call against libgit2's own prototypes. */
#ifndef DRUN_GIT2_API_H
#define DRUN_GIT2_API_H
#include <git2.h>

#define GIT2_FUNCTIONS(X) \
  X(git_libgit2_init) X(git_libgit2_shutdown) X(git_error_last) \
  X(git_repository_open_ext) X(git_repository_free) X(git_repository_workdir) X(git_repository_path) \
  X(git_repository_is_shallow) X(git_repository_head) X(git_repository_head_detached) \
  X(git_repository_head_unborn) X(git_repository_index) X(git_repository_config_snapshot) \
  X(git_reference_free) X(git_reference_shorthand) X(git_reference_target) X(git_reference_lookup) \
  X(git_oid_tostr_s) X(git_oid_cmp) X(git_object_short_id) X(git_buf_dispose) X(git_object_free) X(git_object_id) \
  X(git_object_peel) X(git_revparse_single) X(git_merge_base) \
  X(git_commit_lookup) X(git_commit_free) X(git_commit_tree) X(git_commit_summary) X(git_commit_body) X(git_commit_author) \
  X(git_commit_time) X(git_commit_id) X(git_commit_parentcount) X(git_commit_create) \
  X(git_tree_free) X(git_tree_lookup) \
  X(git_diff_options_init) X(git_diff_tree_to_tree) X(git_diff_num_deltas) X(git_diff_get_delta) X(git_diff_free) \
  X(git_status_options_init) X(git_status_list_new) X(git_status_list_entrycount) X(git_status_byindex) \
  X(git_status_list_free) \
  X(git_tag_list_match) X(git_strarray_dispose) X(git_tag_create) \
  X(git_signature_default) X(git_signature_now) X(git_signature_free) \
  X(git_index_add_bypath) X(git_index_remove_bypath) X(git_index_write) X(git_index_write_tree) X(git_index_free) \
  X(git_remote_lookup) X(git_remote_create_anonymous) X(git_remote_free) X(git_remote_push) X(git_remote_url) \
  X(git_remote_connect) X(git_remote_ls) X(git_remote_disconnect) X(git_remote_init_callbacks) \
  X(git_push_options_init) X(git_credential_userpass_plaintext_new) \
  X(git_graph_descendant_of) \
  X(git_revwalk_new) X(git_revwalk_hide) X(git_revwalk_push) X(git_revwalk_next) X(git_revwalk_sorting) \
  X(git_revwalk_free) \
  X(git_config_get_string) X(git_config_free)

#define GIT2_POINTER(name) __typeof__(&name) name;
struct git2_api {
  GIT2_FUNCTIONS(GIT2_POINTER)
};
#undef GIT2_POINTER

extern struct git2_api lg2;

/* Loads libgit2 and initialises it once; 0, or -1 with *err set. */
int git2_load(const char **err);
#endif
