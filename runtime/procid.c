#include "procid.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int procid_host(char *out, size_t n) {
  if (gethostname(out, n) != 0) return -1;
  out[n - 1] = '\0';
  return 0;
}

static void boot_id(char out[40]) {
  out[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (!f) return;
  if (fgets(out, 40, f)) out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

int procid_of(pid_t pid, char out[PROCID_MAX]) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: fields are
   * counted from the last ')'. Start time is field 22. */
  char *p = strrchr(stat, ')');
  if (!p) return -1;
  unsigned long long start = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
    if (++field == 22) {
      sscanf(tok, "%llu", &start);
      break;
    }
  char boot[40];
  boot_id(boot);
  snprintf(out, PROCID_MAX, "%s:%llu", boot, start);
  return 0;
}

int procid_alive(const char *host, pid_t pid, const char *ident) {
  char me[256];
  if (procid_host(me, sizeof me) != 0 || strcmp(me, host) != 0) return -1;
  char now[PROCID_MAX];
  if (pid <= 0 || procid_of(pid, now) != 0) return 0;
  return ident && strcmp(now, ident) == 0;
}
