#ifndef DRUN_MODULES_H
#define DRUN_MODULES_H
#include <lua.h>

/* Makes drun's modules requirable. */
void modules_register(lua_State *L);
/* The script's folder and its lib/ searched before drun's stdlib: a
 * repository's module overrides drun's of the same name. */
void modules_add_script(lua_State *L, const char *script);
#endif
