#include "procid.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* The identity of pid (see procid_of) and its state letter ('Z': a zombie). */
static int read_stat(pid_t pid, char out[PROCID_MAX], char *state) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: fields are
   * counted from the last ')'. State is field 3, start time field 22. */
  char *p = strrchr(stat, ')');
  if (!p || p[1] != ' ') return -1;
  *state = p[2];
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

int procid_of(pid_t pid, char out[PROCID_MAX]) {
  char state;
  return read_stat(pid, out, &state);
}

/* A zombie (killed, not yet reaped: its parent is gone and init is slow, or
 * never reaps inside a container) is dead: it holds nothing. */
int procid_alive(const char *host, pid_t pid, const char *ident) {
  char me[256];
  if (procid_host(me, sizeof me) != 0 || strcmp(me, host) != 0) return -1;
  char now[PROCID_MAX], state;
  if (pid <= 0 || read_stat(pid, now, &state) != 0) return 0;
  return ident && strcmp(now, ident) == 0 && state != 'Z';
}

/* ---- what a drun leaves behind ------------------------------------------ */

#define RUNS_VAR "DRUN_RUNS"

void procid_mark_self(void) {
  char ident[PROCID_MAX], token[PROCID_MAX + 32];
  if (procid_of(getpid(), ident) != 0) return;
  snprintf(token, sizeof token, "%d@%s", (int)getpid(), ident);
  const char *old = getenv(RUNS_VAR);
  size_t n = (old ? strlen(old) + 1 : 0) + strlen(token) + 1;
  char *v = malloc(n);
  if (!v) return;
  snprintf(v, n, "%s%s%s", old ? old : "", old ? " " : "", token);
  setenv(RUNS_VAR, v, 1);
  free(v);
}

/* Does /proc/<pid>/environ carry the token in DRUN_RUNS? */
static int carries(const char *pid, const char *token) {
  char path[300]; /* d_name is at most 255 bytes */
  snprintf(path, sizeof path, "/proc/%s/environ", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int found = 0;
  size_t tl = strlen(token);
  char *entry = NULL;
  size_t cap = 0;
  while (!found && getdelim(&entry, &cap, '\0', f) > 0) {
    if (strncmp(entry, RUNS_VAR "=", sizeof RUNS_VAR) != 0) continue;
    for (const char *p = entry + sizeof RUNS_VAR; (p = strstr(p, token)); p += tl)
      if ((p == entry + sizeof RUNS_VAR || p[-1] == ' ') && (p[tl] == ' ' || p[tl] == '\0')) found = 1;
  }
  free(entry);
  fclose(f);
  return found;
}

static int scan(const char *token, int sig) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9' || !carries(e->d_name, token)) continue;
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid == getpid()) continue;
    if (sig) kill(pid, sig);
    n++;
  }
  closedir(d);
  return n;
}

int procid_kill_leftovers(pid_t pid, const char *ident, double grace) {
  if (!ident || !*ident) return 0;
  char token[PROCID_MAX + 32];
  snprintf(token, sizeof token, "%d@%s", (int)pid, ident);
  int n = scan(token, SIGTERM);
  if (!n) return 0;
  struct timespec step = {0, 20 * 1000 * 1000};
  for (double waited = 0; waited < grace && scan(token, 0); waited += 0.02) nanosleep(&step, NULL);
  scan(token, SIGKILL);
  return n;
}
