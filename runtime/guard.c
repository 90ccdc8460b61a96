#include "guard.h"

#include <stdio.h>

#include "proc.h"

static double deadline_at, timeout_s;
static char message[64];

void guard_set_deadline(double deadline, double timeout) {
  deadline_at = deadline;
  timeout_s = timeout;
  snprintf(message, sizeof message, "step timed out after %gs", timeout);
}

double guard_deadline(void) { return deadline_at; }
double guard_timeout(void) { return timeout_s; }

int guard_expired(void) { return deadline_at > 0 && proc_now() >= deadline_at; }

double guard_clamp(double seconds) {
  if (deadline_at <= 0) return seconds;
  double left = deadline_at - proc_now();
  if (left < 0.001) left = 0.001;
  return seconds <= 0 || seconds > left ? left : seconds;
}

const char *guard_timeout_message(void) { return message; }
