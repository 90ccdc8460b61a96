#include "utc.h"

const char *utc_text(time_t t) {
  static time_t last = (time_t)-1;
  static char text[32];
  if (t != last) {
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
      last = (time_t)-1;
      return NULL;
    }
    last = t;
  }
  return text;
}
