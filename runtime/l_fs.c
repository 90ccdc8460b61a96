/* drun.core.fs: raw filesystem calls; failures return nil, "fs: ...".
 * stdlib/drun/fs.lua makes them raise for recipes. */
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "glob.h"
#include "lutil.h"

static int fail(lua_State *L, const char *what, const char *path) {
  int e = errno;
  lua_pushnil(L);
  lua_pushfstring(L, "fs: cannot %s '%s': %s", what, path, strerror(e));
  return 2;
}

static int fs_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  FILE *f = fopen(path, "rb");
  if (!f) return fail(L, "read", path);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffer(&b);
    size_t n = fread(p, 1, LUAL_BUFFERSIZE, f);
    luaL_addsize(&b, n);
    if (n < LUAL_BUFFERSIZE) break;
  }
  if (ferror(f)) {
    fclose(f);
    return fail(L, "read", path);
  }
  fclose(f);
  luaL_pushresult(&b);
  return 1;
}

/* write(path, data [, mode]) -> true | nil, err   (atomic) */
static int fs_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t n;
  const char *data = luaL_checklstring(L, 2, &n);
  int mode = (int)luaL_optinteger(L, 3, -1);
  if (fs_write_atomic(path, data, n, mode)) return fail(L, "write", path);
  lua_pushboolean(L, 1);
  return 1;
}

static const char *kind_of(mode_t m) {
  return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "link" : "other";
}

/* exists(path) -> "file" | "directory" | "link" | "other" | false (follows links) */
static int fs_exists(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st)) lua_pushboolean(L, 0);
  else lua_pushstring(L, kind_of(st.st_mode));
  return 1;
}

static int fs_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (lstat(path, &st)) return fail(L, "stat", path);
  lua_createtable(L, 0, 4);
  setfield_str(L, "type", kind_of(st.st_mode));
  setfield_int(L, "size", (lua_Integer)st.st_size);
  setfield_int(L, "mode", st.st_mode & 07777);
  setfield_num(L, "mtime", (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9);
  return 1;
}

static int fs_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (fs_mkdir_p(path, (mode_t)luaL_optinteger(L, 2, 0777))) return fail(L, "create directory", path);
  lua_pushboolean(L, 1);
  return 1;
}

/* remove(path [, recursive]) -> true | nil, err. A missing path is not an error. */
static int fs_remove(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int recursive = lua_toboolean(L, 2);
  if (!*path || !strcmp(path, "/")) return luaL_argerror(L, 1, "refusing to remove '/' or ''");
  int rc;
  if (recursive) rc = fs_remove_tree(path);
  else rc = remove(path) && errno != ENOENT ? -1 : 0;
  if (rc) return fail(L, "remove", path);
  lua_pushboolean(L, 1);
  return 1;
}

/* Sorts the array at the stack top in place with table.sort. */
static void sort_top(lua_State *L) {
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
}

/* list(dir) -> sorted names (without . and ..) */
static int fs_list(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  if (!d) return fail(L, "list", path);
  lua_newtable(L);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      lua_pushstring(L, e->d_name);
      lua_rawseti(L, -2, ++n);
    }
  closedir(d);
  sort_top(L);
  return 1;
}

typedef struct {
  lua_State *L;
  int n;
} globacc;

static int glob_add(void *ud, const char *path) {
  globacc *g = ud;
  lua_pushstring(g->L, path);
  lua_rawseti(g->L, -2, ++g->n);
  return 0;
}

/* glob(pattern) -> sorted matching paths */
static int fs_glob_l(lua_State *L) {
  const char *pattern = luaL_checkstring(L, 1);
  const char *why = glob_check(pattern);
  if (why) return luaL_error(L, "fs.glob: pattern '%s': %s", pattern, why);
  lua_newtable(L);
  globacc g = {L, 0};
  if (fs_glob(pattern, glob_add, &g)) return fail(L, "glob", pattern);
  sort_top(L);
  return 1;
}

/* match(pattern, path) -> boolean: the matcher fs.glob and git's changed()
 * use, for lists a recipe already has */
static int fs_match(lua_State *L) {
  const char *pattern = luaL_checkstring(L, 1), *path = luaL_checkstring(L, 2);
  const char *why = glob_check(pattern);
  if (why) return luaL_error(L, "fs.match: pattern '%s': %s", pattern, why);
  lua_pushboolean(L, glob_match(pattern, path));
  return 1;
}

/* tmpdir([prefix]) -> a new private directory under $TMPDIR */
static int fs_tmpdir(lua_State *L) {
  const char *prefix = luaL_optstring(L, 1, "drun");
  if (strchr(prefix, '/')) return luaL_argerror(L, 1, "prefix must not contain '/'");
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  lua_pushfstring(L, "%s/%s.XXXXXX", base, prefix);
  char *tmpl = strdup(lua_tostring(L, -1));
  if (!tmpl) return luaL_error(L, "fs: out of memory");
  if (!mkdtemp(tmpl)) {
    int e = errno;
    free(tmpl);
    errno = e;
    return fail(L, "create temporary directory in", base);
  }
  lua_pushstring(L, tmpl);
  free(tmpl);
  return 1;
}

static int fs_cwd(lua_State *L) {
  char *p = getcwd(NULL, 0);
  if (!p) return fail(L, "get", ".");
  lua_pushstring(L, p);
  free(p);
  return 1;
}

static int fs_realpath(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char *p = realpath(path, NULL);
  if (!p) return fail(L, "resolve", path);
  lua_pushstring(L, p);
  free(p);
  return 1;
}

static const luaL_Reg fs_funcs[] = {
    {"read", fs_read},   {"write", fs_write}, {"exists", fs_exists},   {"stat", fs_stat},
    {"mkdir", fs_mkdir}, {"remove", fs_remove}, {"list", fs_list},     {"glob", fs_glob_l}, {"match", fs_match},
    {"tmpdir", fs_tmpdir}, {"cwd", fs_cwd},   {"realpath", fs_realpath}, {NULL, NULL},
};

int luaopen_drun_core_fs(lua_State *L) {
  luaL_newlib(L, fs_funcs);
  return 1;
}
