/* proc.c: real processes, real pipes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "proc.h"

static int run(char *const *argv, proc_spec *spec, proc_result *res, buf *err) {
  spec->argv = argv;
  if (!spec->grace) spec->grace = 1;
  return proc_run(spec, res, err);
}

static char *tail_str(const tailbuf *t) {
  buf b = {0};
  tailbuf_get(t, &b);
  buf_add(&b, "", 0);
  return b.data;
}

TEST(exit_code_and_capture) {
  char *argv[] = {"/bin/sh", "-c", "printf out; printf err >&2; exit 7", NULL};
  proc_spec spec = {.cap = 1024};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  CHECK(res.code == 7 && res.signal == 0 && !res.timed_out);
  char *o = tail_str(&res.out), *e = tail_str(&res.err);
  CHECK_STR(o, "out");
  CHECK_STR(e, "err");
  free(o), free(e);
  proc_result_free(&res);
  buf_free(&err);
}

TEST(tail_keeps_last_bytes) {
  char *argv[] = {"/bin/sh", "-c", "i=0; while [ $i -lt 100 ]; do printf '%02d' $i; i=$((i+1)); done", NULL};
  proc_spec spec = {.cap = 10};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  char *o = tail_str(&res.out);
  CHECK_STR(o, "9596979899");
  CHECK(res.out.total == 200);
  free(o);
  proc_result_free(&res);
}

TEST(stdin_larger_than_pipe_buffer) {
  size_t n = 4 << 20;
  char *data = malloc(n);
  memset(data, 'z', n);
  char *argv[] = {"wc", "-c", NULL};
  proc_spec spec = {.cap = 64, .stdin_data = data, .stdin_len = n};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  char *o = tail_str(&res.out);
  CHECK(atol(o) == (long)n);
  free(o);
  free(data);
  proc_result_free(&res);
}

TEST(stdin_to_a_child_that_never_reads) {
  size_t n = 1 << 20;
  char *data = calloc(1, n);
  char *argv[] = {"true", NULL};
  proc_spec spec = {.cap = 64, .stdin_data = data, .stdin_len = n, .timeout = 10};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  CHECK(res.code == 0 && !res.timed_out);
  free(data);
  proc_result_free(&res);
}

TEST(not_found_not_executable_bad_cwd) {
  proc_spec spec = {0};
  proc_result res;
  buf err = {0};
  char *a1[] = {"wrangler-does-not-exist", NULL};
  CHECK(run(a1, &spec, &res, &err) == -1);
  CHECK_STR(buf_cstr(&err), "wrangler-does-not-exist: not found in PATH");
  char path[] = "/tmp/drun-noexec.XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  char *a2[] = {path, NULL};
  CHECK(run(a2, &spec, &res, &err) == -1);
  CHECK(strstr(buf_cstr(&err), "not executable") != NULL);
  chmod(path, 0755); /* executable but empty and no #!: exec format error */
  if (write(fd = open(path, O_WRONLY), "\x7f" "ELFjunk", 8) > 0) close(fd);
  CHECK(run(a2, &spec, &res, &err) == -1);
  CHECK(strstr(buf_cstr(&err), "cannot execute") != NULL);
  unlink(path);
  char *a3[] = {"true", NULL};
  spec.cwd = "/nonexistent/dir";
  CHECK(run(a3, &spec, &res, &err) == -1);
  CHECK_STR(buf_cstr(&err), "proc: cwd '/nonexistent/dir' does not exist");
  buf_free(&err);
}

TEST(timeout_kills_group_even_when_term_is_ignored) {
  char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30 & sleep 30", NULL};
  proc_spec spec = {.cap = 64, .timeout = 0.2, .grace = 0.2};
  proc_result res;
  buf err = {0};
  double t0 = proc_now();
  CHECK(run(argv, &spec, &res, &err) == 0);
  double took = proc_now() - t0;
  CHECK(res.timed_out && res.signal == SIGKILL);
  CHECK(took >= 0.39 && took < 3);
  /* The whole group is gone: the orphaned sleep was killed too and is
   * reaped by init shortly after (until then kill(pg, 0) sees a zombie). */
  int gone = 0;
  for (int i = 0; i < 200 && !gone; i++, usleep(10000)) gone = kill(-res.pid, 0) == -1 && errno == ESRCH;
  CHECK(gone);
  proc_result_free(&res);
}

TEST(child_closing_stdout_still_waited_for) {
  char *argv[] = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 0.3", NULL};
  proc_spec spec = {.cap = 64, .timeout = 5};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  CHECK(res.code == 0 && res.duration >= 0.29);
  proc_result_free(&res);
}

TEST(child_closing_stdout_still_times_out) {
  char *argv[] = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 30", NULL};
  proc_spec spec = {.cap = 64, .timeout = 0.2, .grace = 0.2};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  CHECK(res.timed_out && res.duration < 3);
  proc_result_free(&res);
}

TEST(grandchild_holding_the_pipe_does_not_hang) {
  char *argv[] = {"/bin/sh", "-c", "sleep 3 & echo started", NULL};
  proc_spec spec = {.cap = 64};
  proc_result res;
  buf err = {0};
  CHECK(run(argv, &spec, &res, &err) == 0);
  char *o = tail_str(&res.out);
  CHECK_STR(o, "started\n");
  CHECK(res.duration < 2);
  free(o);
  kill(-res.pid, SIGKILL); /* tidy up the sleeper */
  proc_result_free(&res);
}

TEST(no_zombies_left) {
  for (int i = 0; i < 20; i++) {
    char *argv[] = {"true", NULL};
    proc_spec spec = {.cap = 16};
    proc_result res;
    buf err = {0};
    run(argv, &spec, &res, &err);
    proc_result_free(&res);
  }
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

int main(void) {
  check_suite = "c/proc";
  RUN(exit_code_and_capture);
  RUN(tail_keeps_last_bytes);
  RUN(stdin_larger_than_pipe_buffer);
  RUN(stdin_to_a_child_that_never_reads);
  RUN(not_found_not_executable_bad_cwd);
  RUN(timeout_kills_group_even_when_term_is_ignored);
  RUN(child_closing_stdout_still_waited_for);
  RUN(child_closing_stdout_still_times_out);
  RUN(grandchild_holding_the_pipe_does_not_hang);
  RUN(no_zombies_left);
  return check_summary();
}
