/* drun.core.git: a repository handle over repo.c. Policy (semver order of
 * tags, dry-run, context helpers, raising) is in stdlib/drun/git.lua.
 * A wrong argument raises; a git failure returns nil, "git: ...". */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lutil.h"
#include "glob.h"
#include "repo.h"

#define GIT_MT "drun.git"

typedef struct {
  git_repository *r;
} handle;

static git_repository *check(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, GIT_MT);
  if (!h->r) luaL_error(L, "git: the repository handle is closed");
  return h->r;
}

static int git_open_l(lua_State *L) {
  const char *path = luaL_optstring(L, 1, ".");
  handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->r = NULL;
  luaL_setmetatable(L, GIT_MT);
  buf err = {0};
  if (repo_open(path, &h->r, &err)) return push_failure(L, &err);
  return 1;
}

static int h_close(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, GIT_MT);
  repo_free(h->r);
  h->r = NULL;
  return 0;
}

static int h_tostring(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, GIT_MT);
  const char *wd = h->r ? repo_workdir(h->r) : NULL;
  lua_pushfstring(L, "drun.git (%s)", h->r ? (wd ? wd : "bare") : "closed");
  return 1;
}

static int h_workdir(lua_State *L) {
  const char *wd = repo_workdir(check(L));
  if (wd) lua_pushlstring(L, wd, strlen(wd) > 1 ? strlen(wd) - 1 : strlen(wd)); /* without the trailing / */
  else lua_pushnil(L);
  return 1;
}

static int h_head(lua_State *L) {
  repo_head_info info;
  buf err = {0};
  if (repo_head(check(L), &info, &err)) return push_failure(L, &err);
  lua_createtable(L, 0, 4);
  setfield_str(L, "sha", info.sha);
  setfield_str(L, "short", info.short_sha);
  if (!info.detached) setfield_str(L, "branch", info.branch);
  setfield_bool(L, "detached", info.detached);
  return 1;
}

static int h_rev_parse(lua_State *L) {
  char sha[41];
  buf err = {0};
  if (repo_rev_parse(check(L), luaL_checkstring(L, 2), sha, &err)) return push_failure(L, &err);
  lua_pushstring(L, sha);
  return 1;
}

static int h_merge_base(lua_State *L) {
  char sha[41];
  buf err = {0};
  if (repo_merge_base(check(L), luaL_checkstring(L, 2), luaL_checkstring(L, 3), sha, &err)) return push_failure(L, &err);
  lua_pushstring(L, sha);
  return 1;
}

static int h_is_ancestor(lua_State *L) {
  int yes;
  buf err = {0};
  if (repo_is_ancestor(check(L), luaL_checkstring(L, 2), luaL_checkstring(L, 3), &yes, &err)) return push_failure(L, &err);
  lua_pushboolean(L, yes);
  return 1;
}

typedef struct {
  lua_State *L;
  int n;
  int with_status;
} list;

static int add_path(void *ud, const char *path, char status) {
  list *l = ud;
  if (l->with_status) {
    lua_createtable(l->L, 0, 2);
    setfield_str(l->L, "path", path);
    lua_pushlstring(l->L, &status, 1);
    lua_setfield(l->L, -2, "status");
  } else {
    lua_pushstring(l->L, path);
  }
  lua_rawseti(l->L, -2, ++l->n);
  return 0;
}

static int h_dirty(lua_State *L) {
  git_repository *r = check(L);
  lua_newtable(L);
  list l = {L, 0, 1};
  buf err = {0};
  if (repo_dirty(r, lua_toboolean(L, 2), add_path, &l, &err)) return push_failure(L, &err);
  return 1;
}

/* The strings of the array at idx, in a userdata left on the stack top (the
 * strings themselves stay anchored by the array). */
static const char **strings(lua_State *L, int idx, size_t *n, const char *what) {
  *n = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  *n = lua_rawlen(L, idx);
  const char **v = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *v, 0);
  for (size_t i = 0; i < *n; i++) {
    if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "git: %s[%d] must be a string", what, (int)i + 1);
    v[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  return v;
}

/* changed(from | nil, to | nil, globs | nil) -> paths */
static int h_changed(lua_State *L) {
  git_repository *r = check(L);
  const char *from = luaL_optstring(L, 2, NULL), *to = luaL_optstring(L, 3, NULL);
  lua_settop(L, 4);
  size_t n;
  const char **globs = strings(L, 4, &n, "globs");
  size_t bad;
  const char *why = glob_list_check(globs, n, &bad);
  if (why) return luaL_error(L, "git: pattern '%s': %s", n ? globs[bad] : "", why);
  lua_newtable(L);
  list l = {L, 0, 0};
  buf err = {0};
  if (repo_changed(r, from, to, globs, n, add_path, &l, &err)) return push_failure(L, &err);
  return 1;
}

static int add_tag(void *ud, const char *name, const char *sha) {
  list *l = ud;
  lua_createtable(l->L, 0, 2);
  setfield_str(l->L, "name", name);
  setfield_str(l->L, "sha", sha);
  lua_rawseti(l->L, -2, ++l->n);
  return 0;
}

static int h_tags(lua_State *L) {
  git_repository *r = check(L);
  lua_newtable(L);
  list l = {L, 0, 0};
  buf err = {0};
  if (repo_tags(r, luaL_optstring(L, 2, "*"), add_tag, &l, &err)) return push_failure(L, &err);
  return 1;
}

static int h_tag(lua_State *L) {
  char sha[41];
  buf err = {0};
  if (repo_tag(check(L), luaL_checkstring(L, 2), luaL_optstring(L, 3, NULL), luaL_optstring(L, 4, NULL),
               luaL_optstring(L, 5, NULL), sha, &err))
    return push_failure(L, &err);
  lua_pushstring(L, sha);
  return 1;
}

/* commit(paths, message [, author]) -> sha */
static int h_commit(lua_State *L) {
  git_repository *r = check(L);
  const char *message = luaL_checkstring(L, 3);
  const char *author = luaL_optstring(L, 4, NULL);
  lua_settop(L, 4);
  size_t n;
  const char **paths = strings(L, 2, &n, "paths");
  if (!n) return luaL_argerror(L, 2, "no paths to commit");
  char sha[41];
  buf err = {0};
  if (repo_commit(r, paths, n, message, author, sha, &err)) return push_failure(L, &err);
  lua_pushstring(L, sha);
  return 1;
}

/* push(remote, refspecs [, token]) -> true */
static int h_push(lua_State *L) {
  git_repository *r = check(L);
  const char *remote = luaL_checkstring(L, 2);
  const char *token = luaL_optstring(L, 4, NULL);
  lua_settop(L, 4);
  size_t n;
  const char **specs = strings(L, 3, &n, "refspecs");
  if (!n) return luaL_argerror(L, 3, "no refspecs to push");
  buf err = {0};
  if (repo_push(r, remote, specs, n, token, &err)) return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int add_ref(void *ud, const char *name, const char *sha) {
  lua_State *L = ((list *)ud)->L;
  lua_pushstring(L, sha);
  lua_setfield(L, -2, name);
  return 0;
}

/* remote_refs(remote [, token]) -> {refname = sha}: what the remote
 * advertises to a push, once it accepted the credentials for writing */
static int h_remote_refs(lua_State *L) {
  git_repository *r = check(L);
  const char *remote = luaL_checkstring(L, 2);
  const char *token = luaL_optstring(L, 3, NULL);
  lua_settop(L, 3);
  lua_newtable(L);
  list l = {L, 0, 0};
  buf err = {0};
  if (repo_remote_refs(r, remote, token, add_ref, &l, &err)) return push_failure(L, &err);
  return 1;
}

static int h_is_shallow(lua_State *L) {
  lua_pushboolean(L, repo_is_shallow(check(L)));
  return 1;
}

static int add_commit(void *ud, const repo_log_entry *c) {
  list *l = ud;
  lua_createtable(l->L, 0, 5);
  setfield_str(l->L, "sha", c->sha);
  setfield_str(l->L, "subject", c->subject);
  setfield_str(l->L, "body", c->body);
  setfield_str(l->L, "author", c->author);
  setfield_int(l->L, "time", c->time);
  lua_rawseti(l->L, -2, ++l->n);
  return 0;
}

static int h_log(lua_State *L) {
  git_repository *r = check(L);
  const char *range = luaL_optstring(L, 2, "HEAD");
  lua_Integer limit = luaL_optinteger(L, 3, 0);
  if (limit < 0) return luaL_argerror(L, 3, "limit must not be negative");
  lua_newtable(L);
  list l = {L, 0, 0};
  buf err = {0};
  if (repo_log(r, range, (size_t)limit, add_commit, &l, &err)) return push_failure(L, &err);
  return 1;
}

static int h_config(lua_State *L) {
  buf out = {0}, err = {0};
  int rc = repo_config(check(L), luaL_checkstring(L, 2), &out, &err);
  if (rc < 0) return buf_free(&out), push_failure(L, &err);
  if (rc == 1) lua_pushnil(L);
  else lua_pushstring(L, buf_cstr(&out));
  buf_free(&out);
  return 1;
}

static const luaL_Reg methods[] = {
    {"config", h_config},
    {"close", h_close},       {"workdir", h_workdir},   {"head", h_head},     {"rev_parse", h_rev_parse},
    {"merge_base", h_merge_base}, {"is_ancestor", h_is_ancestor}, {"dirty", h_dirty}, {"changed", h_changed},
    {"tags", h_tags},         {"tag", h_tag},           {"commit", h_commit}, {"push", h_push},
    {"log", h_log},           {"remote_refs", h_remote_refs}, {"is_shallow", h_is_shallow},
    {NULL, NULL},
};

int luaopen_drun_core_git(lua_State *L) {
  register_handle(L, GIT_MT, methods, h_close, h_tostring);
  lua_newtable(L);
  lua_pushcfunction(L, git_open_l);
  lua_setfield(L, -2, "open");
  return 1;
}
