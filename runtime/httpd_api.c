#include "httpd_api.h"

#include "dynlib.h"

struct mhd_api lmhd;

int mhd_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  *err = why;
  if (state) return state > 0 ? 0 : -1;
#define MHD_ENTRY(name) {#name, (void **)&lmhd.name},
  static const dynlib_entry entries[] = {MHD_FUNCTIONS(MHD_ENTRY)};
#undef MHD_ENTRY
  state = -1;
  if (dynlib_load("ledger serve", DRUN_MHD_SONAME, entries, sizeof entries / sizeof *entries, why, sizeof why))
    return -1;
  state = 1;
  return 0;
}
