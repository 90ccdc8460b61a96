#include "pq_api.h"

#include "dynlib.h"

struct pq_api lpq;

int pq_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  *err = why;
  if (state) return state > 0 ? 0 : -1;
#define PQ_ENTRY(name) {#name, (void **)&lpq.name},
  static const dynlib_entry entries[] = {PQ_FUNCTIONS(PQ_ENTRY)};
#undef PQ_ENTRY
  state = -1;
  if (dynlib_load("ledger", DRUN_PQ_SONAME, entries, sizeof entries / sizeof *entries, why, sizeof why)) return -1;
  state = 1;
  return 0;
}
