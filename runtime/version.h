#ifndef DRUN_VERSION_FN_H
#define DRUN_VERSION_FN_H
#include "buf.h"

const char *drun_version(void); /* git describe at build time */
/* "drun 0.1.0 (Lua 5.4.4, libcurl 7.88.1, ...)": the versions actually loaded. */
void version_describe(buf *out);
#endif
