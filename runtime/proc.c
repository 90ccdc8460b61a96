#include "proc.h"

#include "guard.h"

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

enum { PUMP_WOULD_BLOCK, PUMP_EOF, PUMP_MORE };

/* Reads what is there, a bounded amount so one stream (or one child) cannot
 * starve the others. */
static int pump(proc_stream *s, proc_result *res, char *chunk, size_t chunklen) {
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

enum { RUNNING, TERMED, KILLED };

/* Whether to stop the child: its deadline, drun being interrupted, the
 * emitter (a Lua callback) failing, a cancel. TERM first, KILL after the
 * grace or at a second Ctrl-C. */
static void child_decide(proc_child *c, double now) {
  pid_t pid = c->res.pid;
  int late = c->deadline && now >= c->deadline, sig = signals_count() != c->signals_seen;
  if ((late || sig || c->res.emit_error || c->stop_asked) && c->stage == RUNNING && !c->exited) {
    if (late) c->res.timed_out = 1;
    if (sig) c->res.interrupted = 1;
    killpg(pid, SIGTERM);
    c->stage = TERMED;
    c->kill_at = now + (c->grace > 0 ? c->grace : 0);
  }
  if (c->stage == TERMED && (now >= c->kill_at || signals_count() > c->signals_seen + 1)) {
    killpg(pid, SIGKILL); /* ignored TERM, or a second Ctrl-C */
    c->stage = KILLED;
  }
}

static int child_want(loop_source *s, struct pollfd *fds, int max, double *wake_at) {
  proc_child *c = (proc_child *)s;
  double now = proc_now();
  child_decide(c, now);
  int n = 0;
  c->i_out = c->i_err = c->i_in = c->i_pid = -1;
#define ADD(idx, fd_, ev) do { if (n < max) fds[n] = (struct pollfd){(fd_), (ev), 0}; c->idx = n++; } while (0)
  if (c->exited) { /* stopping: the rest of its group gets the grace */
    *wake_at = now + 0.01;
    return 0;
  }
  int paused = c->out_backlog && *c->out_backlog >= c->backlog_max;
  if (c->so.fd >= 0 && !paused) ADD(i_out, c->so.fd, POLLIN);
  if (c->se.fd >= 0) ADD(i_err, c->se.fd, POLLIN);
  if (c->in_fd >= 0) ADD(i_in, c->in_fd, POLLOUT);
  if (c->pfd >= 0) ADD(i_pid, c->pfd, POLLIN);
#undef ADD
  double at = 0;
  if (c->stage == RUNNING && c->deadline) at = c->deadline;
  if (c->stage == TERMED) at = c->kill_at;
  if (c->pfd < 0 && (!at || at > now + 0.02)) at = now + 0.02; /* no pidfd: poll for the exit */
  *wake_at = at;
  return n;
}

/* The child is gone (and its group, when it was stopped): take what it left
 * in the pipes, but do not wait for a grandchild that inherited them (a
 * daemon it started). */
static void child_complete(proc_child *c) {
  proc_result *res = &c->res;
  proc_stream *streams[] = {&c->so, &c->se};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 256 && streams[k]->fd >= 0; i++)
      if (pump(streams[k], res, c->chunk, c->chunklen) != PUMP_MORE) break;
  for (int k = 0; k < 2; k++)
    if (streams[k]->streaming) {
      if (!res->emit_error) res->emit_error = linesink_finish(&streams[k]->sink);
      linesink_free(&streams[k]->sink);
      streams[k]->streaming = 0;
    }
  free(c->chunk);
  c->chunk = NULL;
  close_fd(&c->so.fd);
  close_fd(&c->se.fd);
  close_fd(&c->in_fd);
  close_fd(&c->pfd);
  res->duration = proc_now() - c->t0;
  if (WIFSIGNALED(c->status)) {
    res->signal = WTERMSIG(c->status);
    res->code = 128 + res->signal;
  } else {
    res->code = WEXITSTATUS(c->status);
  }
  c->done = 1;
  loop_remove(&c->src);
}

static void child_service(loop_source *s, struct pollfd *fds, int n) {
  proc_child *c = (proc_child *)s;
  (void)n;
  if (!c->exited) {
    if (c->i_out >= 0 && fds[c->i_out].revents && pump(&c->so, &c->res, c->chunk, c->chunklen) == PUMP_EOF)
      close_fd(&c->so.fd);
    if (c->i_err >= 0 && fds[c->i_err].revents && pump(&c->se, &c->res, c->chunk, c->chunklen) == PUMP_EOF)
      close_fd(&c->se.fd);
    if (c->i_in >= 0 && fds[c->i_in].revents) {
      ssize_t w = fds[c->i_in].revents & POLLOUT ? write(c->in_fd, c->stdin_data + c->in_off, c->stdin_len - c->in_off) : -1;
      if (w > 0) c->in_off += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || c->in_off >= c->stdin_len)
        close_fd(&c->in_fd); /* all written, or the child closed its stdin (EPIPE) */
    }
    /* Never a blocking wait here: a child that closed its output may still
     * run past its deadline. Without a pidfd the 20 ms wake paces this. */
    if ((c->i_pid >= 0 && fds[c->i_pid].revents) || c->pfd < 0)
      if (waitpid(c->res.pid, &c->status, WNOHANG) == c->res.pid) c->exited = 1;
  }
  double now = proc_now();
  child_decide(c, now);
  if (!c->exited) return;
  /* Stopping the child (timeout, interrupt, cancel): whatever else is left
   * in its group (a grandchild that ignores TERM, also once the child itself
   * is gone) gets the rest of the grace, then KILL. */
  if (c->stage == TERMED && killpg(c->res.pid, 0) == 0) {
    if (now < c->kill_at) return;
    killpg(c->res.pid, SIGKILL);
  }
  child_complete(c);
}

int proc_start(const proc_spec *spec, proc_child *c, buf *err) {
  /* A child that exits without reading its stdin must give us EPIPE, not
   * kill us: whoever embeds this runner gets SIGPIPE ignored. */
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  memset(c, 0, sizeof *c);
  proc_result *res = &c->res;
  res->pid = -1;
  c->pfd = c->in_fd = c->so.fd = c->se.fd = -1;
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
  c->chunklen = 64 * 1024;
  if (tail_alloc(&res->out, spec->cap) || tail_alloc(&res->err, spec->cap) || !(c->chunk = malloc(c->chunklen))) {
    buf_free(&exe);
    free(c->chunk);
    c->chunk = NULL;
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
  c->signals_seen = signals_count();
  if (signals_caught()) { /* drun is stopping: start nothing more */
    set_err(err, "interrupted%s%s", "", "");
    goto done;
  }
  if (guard_expired() && !spec->own_deadline_only) { /* the step's time is up: start nothing more */
    set_err(err, "%s%s", guard_timeout_message(), "");
    goto done;
  }
  c->t0 = proc_now();
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
  c->so = (proc_stream){.fd = op[0], .tail = &res->out, .streaming = spec->emit_out != NULL};
  c->se = (proc_stream){.fd = ep[0], .tail = &res->err, .streaming = spec->emit_err != NULL};
  op[0] = ep[0] = -1;
  c->in_fd = in[1];
  in[1] = -1;
  if (c->so.streaming) linesink_init(&c->so.sink, spec->emit_out, spec->emit_ud);
  if (c->se.streaming) linesink_init(&c->se.sink, spec->emit_err, spec->emit_ud);
  c->stdin_data = spec->stdin_data;
  c->stdin_len = spec->stdin_len;
  if (c->in_fd >= 0 && !c->stdin_len) close_fd(&c->in_fd);
  c->pfd = pidfd_for(pid);
  c->grace = spec->grace;
  c->deadline = spec->timeout > 0 ? c->t0 + spec->timeout : 0;
  if (!spec->own_deadline_only && guard_deadline() > 0 && (!c->deadline || guard_deadline() < c->deadline))
    c->deadline = guard_deadline(); /* the step's */
  c->out_backlog = spec->out_backlog;
  c->backlog_max = spec->backlog_max;
  c->src.want = child_want;
  c->src.service = child_service;
  loop_add(&c->src);

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
  if (rc) {
    free(c->chunk);
    c->chunk = NULL;
    proc_result_free(res);
  }
  return rc;
}

int proc_done(const proc_child *c) { return c->done; }

void proc_stop(proc_child *c) {
  if (c->done) return;
  c->stop_asked = 1;
  child_decide(c, proc_now());
}

int proc_signal(proc_child *c, int sig) {
  if (c->done || c->exited) return ESRCH;
  return killpg(c->res.pid, sig) == 0 ? 0 : errno;
}

void proc_finish(proc_child *c, proc_result *res) {
  *res = c->res;
  memset(&c->res, 0, sizeof c->res);
}

void proc_abandon(proc_child *c) {
  if (c->res.pid > 0 && !c->done) {
    if (!c->exited) {
      killpg(c->res.pid, SIGKILL);
      waitpid(c->res.pid, &c->status, 0);
      c->exited = 1;
    } else if (killpg(c->res.pid, 0) == 0) {
      killpg(c->res.pid, SIGKILL);
    }
    c->stage = KILLED;
    child_complete(c);
  }
  proc_result_free(&c->res);
  free(c->chunk);
  c->chunk = NULL;
}

int proc_run(const proc_spec *spec, proc_result *res, buf *err) {
  proc_child c;
  if (proc_start(spec, &c, err)) {
    memset(res, 0, sizeof *res);
    res->pid = -1;
    return -1;
  }
  while (!proc_done(&c)) loop_run_once(-1);
  proc_finish(&c, res);
  return 0;
}
