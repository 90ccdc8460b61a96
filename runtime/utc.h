/* UTC timestamps as drun writes them: "2026-11-21T21:42:07Z". Lua-free. */
#ifndef DRUN_UTC_H
#define DRUN_UTC_H
#include <time.h>

/* t as text, or NULL when out of range; the text of the last second asked
 * is kept, since --json stamps every line a child prints. */
const char *utc_text(time_t t);
#endif
