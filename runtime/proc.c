#include "proc.h"

#include "heartbeat.h"
#include "guard.h"
#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signals.h"

extern char **environ;

double proc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tail buffer ------------------------------------------------------- */

static void tail_write(tailbuf *t, const char *p, size_t n) {
  t->total += n;
  if (!t->cap) return;
  if (n >= t->cap) { /* only the last cap bytes survive */
    memcpy(t->data, p + n - t->cap, t->cap);
    t->start = 0;
    t->len = t->cap;
    return;
  }
  size_t end = (t->start + t->len) % t->cap;
  size_t first = t->cap - end < n ? t->cap - end : n;
  memcpy(t->data + end, p, first);
  memcpy(t->data, p + first, n - first);
  if (t->len + n > t->cap) {
    t->start = (t->start + t->len + n - t->cap) % t->cap;
    t->len = t->cap;
  } else {
    t->len += n;
  }
}

int tailbuf_get(const tailbuf *t, buf *out) {
  if (buf_reserve(out, t->len)) return -1;
  size_t first = t->cap - t->start < t->len ? t->cap - t->start : t->len;
  buf_add(out, t->data + t->start, first);
  buf_add(out, t->data, t->len - first);
  return 0;
}

void proc_result_free(proc_result *res) {
  free(res->out.data);
  free(res->err.data);
  res->out.data = res->err.data = NULL;
}

/* ---- finding the program ----------------------------------------------- */

/* *exists: 1 a file that is there, 2 a directory */
static int is_exec_file(const char *path, int *exists) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  if (S_ISDIR(st.st_mode)) {
    if (!*exists) *exists = 2;
    return 0;
  }
  *exists = 1;
  return access(path, X_OK) == 0;
}

int proc_find_exe(const char *name, const char *path, buf *out) {
  out->len = 0;
  int exists = 0;
  if (strchr(name, '/')) {
    if (is_exec_file(name, &exists)) return buf_addstr(out, name) ? ENOMEM : 0;
    return exists == 2 ? EISDIR : exists ? EACCES : ENOENT;
  }
  if (!path) path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  while (*name) {
    size_t dl = strcspn(path, ":");
    out->len = 0;
    if (dl == 0) buf_addstr(out, "."); /* an empty PATH entry is the current directory */
    else buf_add(out, path, dl);
    if (buf_addstr(out, "/") || buf_addstr(out, name)) return ENOMEM;
    if (is_exec_file(out->data, &exists)) return 0;
    if (!path[dl]) break;
    path += dl + 1;
  }
  out->len = 0;
  return exists == 1 ? EACCES : ENOENT; /* a directory named like it on PATH is no program */
}

static const char *env_lookup(char *const *envp, const char *name) {
  size_t n = strlen(name);
  for (; envp && *envp; envp++)
    if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=') return *envp + n + 1;
  return NULL;
}

/* ---- running ----------------------------------------------------------- */

static int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

typedef struct {
  int fd;
  tailbuf *tail;
  linesink sink;
  int streaming;
} outstream;

enum { PUMP_WOULD_BLOCK, PUMP_EOF, PUMP_MORE };

/* Reads what is there, a bounded amount so one stream cannot starve the other. */
static int pump(outstream *s, proc_result *res, char *chunk, size_t chunklen) {
  for (int rounds = 0; rounds < 16; rounds++) {
    ssize_t r = read(s->fd, chunk, chunklen);
    if (r == 0) return PUMP_EOF;
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? PUMP_WOULD_BLOCK : PUMP_EOF;
    tail_write(s->tail, chunk, (size_t)r);
    if (s->streaming && !res->emit_error) {
      int e = linesink_feed(&s->sink, chunk, (size_t)r);
      if (e) res->emit_error = e;
    }
    if ((size_t)r < chunklen) return PUMP_WOULD_BLOCK;
  }
  return PUMP_MORE;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int set_err(buf *err, const char *fmt, const char *a, const char *b) {
  err->len = 0;
  buf_addf(err, fmt, a, b);
  return -1;
}

static int tail_alloc(tailbuf *t, size_t cap) {
  memset(t, 0, sizeof *t);
  t->cap = cap;
  if (cap && !(t->data = malloc(cap))) return -1;
  return 0;
}

int proc_run(const proc_spec *spec, proc_result *res, buf *err) {
  /* A child that exits without reading its stdin must give us EPIPE, not
   * kill us: whoever embeds this runner gets SIGPIPE ignored. */
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  memset(res, 0, sizeof *res);
  res->pid = -1;
  char *const *envp = spec->envp ? spec->envp : environ;
  const char *argv0 = spec->argv[0];

  if (spec->cwd) {
    struct stat st;
    if (stat(spec->cwd, &st) != 0) return set_err(err, "proc: cwd '%s' does not exist%s", spec->cwd, "");
    if (!S_ISDIR(st.st_mode)) return set_err(err, "proc: cwd '%s' is not a directory%s", spec->cwd, "");
  }
  buf exe = {0};
  const char *path = strchr(argv0, '/') ? NULL : env_lookup(envp, "PATH");
  int fe = proc_find_exe(argv0, path, &exe);
  if (fe) {
    buf_free(&exe);
    if (fe == ENOENT && !strchr(argv0, '/')) return set_err(err, "%s: not found in PATH%s", argv0, "");
    if (fe == ENOENT) return set_err(err, "%s: no such file%s", argv0, "");
    if (fe == EACCES) return set_err(err, "%s: not executable (permission denied)%s", argv0, "");
    if (fe == EISDIR) return set_err(err, "%s: is a directory, not a program%s", argv0, "");
    return set_err(err, "%s: %s", argv0, strerror(fe));
  }
  if (tail_alloc(&res->out, spec->cap) || tail_alloc(&res->err, spec->cap)) {
    buf_free(&exe);
    proc_result_free(res);
    return set_err(err, "proc: out of memory%s%s", "", "");
  }

  int in[2] = {-1, -1}, op[2] = {-1, -1}, ep[2] = {-1, -1};
  int rc = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  if (pipe2(op, O_CLOEXEC) || pipe2(ep, O_CLOEXEC) || (spec->stdin_data && pipe2(in, O_CLOEXEC))) {
    set_err(err, "proc: pipe: %s%s", strerror(errno), "");
    goto done;
  }
  if (spec->stdin_data) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, op[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  if (spec->cwd) posix_spawn_file_actions_addchdir_np(&fa, spec->cwd);

  /* Own process group, so a timeout or Ctrl-C takes down everything the child
   * started; default signal dispositions and an empty mask, so our SIGPIPE
   * ignore and handlers do not leak into it. */
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaddset(&defaults, sigs[i]);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &defaults);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  /* Counted before the spawn: a Ctrl-C that lands while the child starts
   * must still stop it. */
  int signals_seen = signals_count();
  if (signals_caught()) { /* drun is stopping: start nothing more */
    set_err(err, "interrupted%s%s", "", "");
    goto done;
  }
  if (guard_expired()) { /* the step's time is up: start nothing more */
    set_err(err, "%s%s", guard_timeout_message(), "");
    goto done;
  }
  double t0 = proc_now();
  pid_t pid;
  int se = posix_spawn(&pid, exe.data, &fa, &at, spec->argv, envp);
  if (se) {
    if (se == ENOEXEC) set_err(err, "%s: cannot execute (exec format error: no #! line?)%s", argv0, "");
    else set_err(err, "%s: cannot execute: %s", argv0, strerror(se));
    goto done;
  }
  res->pid = pid;
  rc = 0;
  close_fd(&op[1]);
  close_fd(&ep[1]);
  close_fd(&in[0]);
  fcntl(op[0], F_SETFL, O_NONBLOCK);
  fcntl(ep[0], F_SETFL, O_NONBLOCK);
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);

  outstream so = {.fd = op[0], .tail = &res->out, .streaming = spec->emit_out != NULL};
  outstream se_ = {.fd = ep[0], .tail = &res->err, .streaming = spec->emit_err != NULL};
  if (so.streaming) linesink_init(&so.sink, spec->emit_out, spec->emit_ud);
  if (se_.streaming) linesink_init(&se_.sink, spec->emit_err, spec->emit_ud);

  int pfd = pidfd_for(pid);
  size_t in_off = 0;
  int exited = 0, status = 0;
  double deadline = spec->timeout > 0 ? t0 + spec->timeout : 0, kill_at = 0;
  if (guard_deadline() > 0 && (!deadline || guard_deadline() < deadline)) deadline = guard_deadline(); /* the step's */
  enum { RUNNING, TERMED, KILLED } stage = RUNNING;
  size_t chunklen = 64 * 1024;
  char *chunk = malloc(chunklen);
  if (!chunk) chunklen = 0;

  while (!exited) {
    double now = proc_now();
    /* Decide whether to stop the child: deadline, drun being interrupted,
     * or the emitter (a Lua callback) failing. */
    int want_stop = (deadline && now >= deadline) || signals_count() != signals_seen || res->emit_error;
    if (want_stop && stage == RUNNING) {
      if (deadline && now >= deadline) res->timed_out = 1;
      if (signals_count() != signals_seen) res->interrupted = 1;
      killpg(pid, SIGTERM);
      stage = TERMED;
      kill_at = now + (spec->grace > 0 ? spec->grace : 0);
    }
    if (stage == TERMED && (now >= kill_at || signals_count() > signals_seen + 1)) {
      killpg(pid, SIGKILL); /* ignored TERM, or a second Ctrl-C */
      stage = KILLED;
    }

    struct pollfd fds[5];
    int n = 0, i_out = -1, i_err = -1, i_in = -1, i_pid = -1, i_sig = -1;
    if (so.fd >= 0) { fds[n] = (struct pollfd){so.fd, POLLIN, 0}; i_out = n++; }
    if (se_.fd >= 0) { fds[n] = (struct pollfd){se_.fd, POLLIN, 0}; i_err = n++; }
    if (in[1] >= 0) { fds[n] = (struct pollfd){in[1], POLLOUT, 0}; i_in = n++; }
    if (pfd >= 0) { fds[n] = (struct pollfd){pfd, POLLIN, 0}; i_pid = n++; }
    if (signals_fd() >= 0 && stage == RUNNING) { fds[n] = (struct pollfd){signals_fd(), POLLIN, 0}; i_sig = n++; }

    double wait = -1;
    if (stage == RUNNING && deadline) wait = deadline - now;
    if (stage == TERMED) wait = kill_at - now;
    if (pfd < 0 && (wait < 0 || wait > 0.02)) wait = 0.02; /* no pidfd: poll for the exit */
    wait = heartbeat_cap(wait); /* a long child must not cost the run its lock's lease */
    int ms = wait < 0 ? -1 : (int)(wait * 1000) + 1;
    out_flush(); /* what the child printed so far is shown before drun waits */
    int pr = poll(fds, (nfds_t)n, ms);
    heartbeat_due();
    if (pr < 0 && errno != EINTR) break;
    if (pr > 0) {
      if (i_out >= 0 && fds[i_out].revents && pump(&so, res, chunk, chunklen) == PUMP_EOF) close_fd(&so.fd);
      if (i_err >= 0 && fds[i_err].revents && pump(&se_, res, chunk, chunklen) == PUMP_EOF) close_fd(&se_.fd);
      if (i_in >= 0 && fds[i_in].revents) {
        ssize_t w = fds[i_in].revents & POLLOUT
                        ? write(in[1], spec->stdin_data + in_off, spec->stdin_len - in_off)
                        : -1;
        if (w > 0) in_off += (size_t)w;
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off >= spec->stdin_len)
          close_fd(&in[1]); /* all written, or the child closed its stdin (EPIPE) */
      }
      if (i_sig >= 0 && fds[i_sig].revents) {
        char drain[64];
        while (read(signals_fd(), drain, sizeof drain) > 0) {}
      }
    }
    if (in[1] >= 0 && in_off >= spec->stdin_len) close_fd(&in[1]);
    /* Never a blocking wait here: a child that closed its output may still
     * run past its deadline. Without a pidfd the 20 ms poll above paces this. */
    if ((i_pid >= 0 && pr > 0 && fds[i_pid].revents) || pfd < 0)
      if (waitpid(pid, &status, WNOHANG) == pid) exited = 1;
  }
  if (!exited && waitpid(pid, &status, 0) == pid) exited = 1;
  /* Stopping the child (timeout, interrupt): whatever else is left in its
   * group (a grandchild that ignores TERM, also once the child itself is
   * gone) gets the rest of the grace, then KILL. */
  if (stage == TERMED) {
    while (killpg(pid, 0) == 0 && proc_now() < kill_at) poll(NULL, 0, 10);
    if (killpg(pid, 0) == 0) killpg(pid, SIGKILL);
  }
  res->duration = proc_now() - t0;

  /* The child is gone; take what it left in the pipes, but do not wait for
   * a grandchild that inherited them (a daemon it started). */
  outstream *streams[] = {&so, &se_};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 256 && streams[k]->fd >= 0; i++)
      if (pump(streams[k], res, chunk, chunklen) != PUMP_MORE) break;
  if (so.streaming) { if (!res->emit_error) res->emit_error = linesink_finish(&so.sink); linesink_free(&so.sink); }
  if (se_.streaming) { if (!res->emit_error) res->emit_error = linesink_finish(&se_.sink); linesink_free(&se_.sink); }
  free(chunk);
  close_fd(&so.fd);
  close_fd(&se_.fd);
  if (pfd >= 0) close(pfd);

  if (WIFSIGNALED(status)) {
    res->signal = WTERMSIG(status);
    res->code = 128 + res->signal;
  } else {
    res->code = WEXITSTATUS(status);
  }

done:
  close_fd(&in[0]);
  close_fd(&in[1]);
  close_fd(&op[0]);
  close_fd(&op[1]);
  close_fd(&ep[0]);
  close_fd(&ep[1]);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  buf_free(&exe);
  if (rc) proc_result_free(res);
  return rc;
}
