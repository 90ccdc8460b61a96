#ifndef DRUN_MODULES_H
#define DRUN_MODULES_H
#include <lua.h>

/* Makes drun's modules requirable; script (may be NULL) adds its folder and
 * its lib/ to the search path. */
void modules_register(lua_State *L, const char *script);
#endif
