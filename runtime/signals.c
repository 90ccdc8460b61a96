#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int wake[2] = {-1, -1};
static volatile sig_atomic_t caught, count;
static void (*user_hook)(int);

static void on_signal(int sig) {
  int saved = errno;
  if (!caught) caught = sig;
  count++;
  if (wake[1] >= 0) (void)!write(wake[1], "x", 1); /* non-blocking; a full pipe is still readable */
  if (user_hook) user_hook(sig);
  errno = saved;
}

void signals_install(void (*hook)(int)) {
  user_hook = hook;
  if (wake[0] < 0 && pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) wake[0] = wake[1] = -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed pipe is an EPIPE to handle, not a death */
}

int signals_fd(void) { return wake[0]; }
int signals_caught(void) { return caught; }
int signals_count(void) { return count; }
