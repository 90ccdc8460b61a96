#include "heartbeat.h"

#include "proc.h"

static heartbeat_fn beat_fn;
static void *beat_ud;
static double beat_every, beat_next;
static int beating;

void heartbeat_set(heartbeat_fn fn, void *ud, double every) {
  beat_fn = fn;
  beat_ud = ud;
  beat_every = every > 0 ? every : 1;
  beat_next = proc_now() + beat_every;
}

void heartbeat_due(void) {
  if (!beat_fn || beating || proc_now() < beat_next) return;
  beating = 1;
  beat_fn(beat_ud);
  beating = 0;
  beat_next = proc_now() + beat_every;
}

double heartbeat_cap(double wait) {
  if (!beat_fn || beating) return wait;
  double left = beat_next - proc_now();
  if (left < 0) left = 0;
  return wait < 0 || wait > left ? left : wait;
}
