#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "heartbeat.h"
#include "out.h"
#include "proc.h"
#include "signals.h"

static loop_source *head;
static unsigned changes; /* bumped by add/remove: a round stops servicing once the set changed */
static int count;

void loop_add(loop_source *s) {
  s->prev = NULL;
  s->next = head;
  if (head) head->prev = s;
  head = s;
  s->busy = 0;
  changes++;
  count++;
}

void loop_remove(loop_source *s) {
  if (s->prev) s->prev->next = s->next;
  else if (head == s) head = s->next;
  else return; /* not registered */
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  changes++;
  count--;
}

int loop_sources(void) { return count; }

typedef struct {
  loop_source *src;
  int first, n;
  double wake_at;
} slot;

void loop_run_once(double timeout) {
  /* Per round, not static: a Lua callback serviced below may wait too. */
  int nslots = 0, cap_slots = 0, nfds = 0, cap_fds = 16;
  slot *slots = NULL;
  struct pollfd *fds = malloc(sizeof *fds * (size_t)cap_fds);
  if (!fds) return;
  double now = proc_now(), wake = timeout < 0 ? -1 : now + timeout;
  for (loop_source *s = head; s; s = s->next) {
    if (s->busy) continue;
    if (nslots == cap_slots) {
      cap_slots = cap_slots ? cap_slots * 2 : 8;
      slot *ns = realloc(slots, sizeof *ns * (size_t)cap_slots);
      if (!ns) break;
      slots = ns;
    }
    double at = 0;
    int need;
    while ((need = s->want(s, fds + nfds, cap_fds - nfds, &at)) > cap_fds - nfds) {
      struct pollfd *nf = realloc(fds, sizeof *fds * (size_t)(cap_fds = (nfds + need) * 2));
      if (!nf) { need = 0; break; }
      fds = nf;
      at = 0;
    }
    slots[nslots++] = (slot){s, nfds, need, at};
    nfds += need;
    if (at > 0 && (wake < 0 || at < wake)) wake = at;
  }
  int sig = -1;
  if (signals_fd() >= 0) {
    if (nfds == cap_fds) {
      struct pollfd *nf = realloc(fds, sizeof *fds * (size_t)(++cap_fds));
      if (nf) fds = nf;
    }
    if (nfds < cap_fds) {
      fds[nfds] = (struct pollfd){signals_fd(), POLLIN, 0};
      sig = nfds++;
    }
  }
  double wait = wake < 0 ? -1 : wake - now;
  if (wake >= 0 && wait < 0) wait = 0;
  wait = heartbeat_cap(wait); /* a long wait must not cost the run its lock's lease */
  out_flush();                /* what was printed so far is shown before drun waits */
  int pr = poll(fds, (nfds_t)nfds, wait < 0 ? -1 : (int)(wait * 1000) + (wait > 0));
  heartbeat_due();
  if (pr < 0 && errno != EINTR) pr = 0;
  if (sig >= 0 && fds[sig].revents) {
    char drain[64];
    while (read(signals_fd(), drain, sizeof drain) > 0) {}
  }
  now = proc_now();
  unsigned seen = changes;
  for (int i = 0; i < nslots && changes == seen; i++) {
    slot *sl = &slots[i];
    int ready = sl->wake_at > 0 && now >= sl->wake_at;
    for (int k = 0; k < sl->n && !ready && pr > 0; k++) ready = fds[sl->first + k].revents != 0;
    if (!ready) continue;
    sl->src->busy = 1;
    sl->src->service(sl->src, fds + sl->first, sl->n);
    if (changes == seen) sl->src->busy = 0; /* still registered: the same pointer */
    else {
      /* the set changed inside service (a child finished, a callback started
       * another): clear the flag only if this source is still registered */
      for (loop_source *s = head; s; s = s->next)
        if (s == sl->src) s->busy = 0;
    }
  }
  free(slots);
  free(fds);
}
