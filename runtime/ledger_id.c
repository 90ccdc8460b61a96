#include "ledger_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

/* now + seconds, in ledger_now's form (text that sorts as time does) */
int ledger_at(double seconds, char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (long long)(seconds * 1000);
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char s[24];
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
  return snprintf(out, 32, "%s.%03lldZ", s, ms % 1000);
}

int ledger_now(char out[32]) { return ledger_at(0, out); }

void ledger_new_id(char out[27]) {
  static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford */
  static unsigned long long last_ms;
  static unsigned char rnd[10];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
  if (ms <= last_ms) { /* same millisecond: the next id (ULID's monotonic rule) */
    ms = last_ms;
    for (int i = 9; i >= 0 && ++rnd[i] == 0; i--) {}
  } else if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)(rand() ^ (int)ts.tv_nsec >> i);
  }
  last_ms = ms;
  for (int i = 9; i >= 0; i--, ms >>= 5) out[i] = b32[ms & 31]; /* 48 bits of time in 10 chars */
  unsigned long long hi = 0, lo = 0; /* 80 random bits in 16 chars */
  for (int i = 0; i < 5; i++) hi = hi << 8 | rnd[i];
  for (int i = 5; i < 10; i++) lo = lo << 8 | rnd[i];
  for (int i = 17; i >= 10; i--, hi >>= 5) out[i] = b32[hi & 31];
  for (int i = 25; i >= 18; i--, lo >>= 5) out[i] = b32[lo & 31];
  out[26] = '\0';
}

