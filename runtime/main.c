/* drun — a scriptable deploy runtime. Command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "version.h"

static const char usage[] =
    "usage: drun FILE.lua [args...]     run a script or recipe\n"
    "       drun RECIPE [key=value ...] [--yes] [--dry-run] [--auto-rollback | --no-auto-rollback]\n"
    "                   [--json] [--ledger ADDRESS] [--from STEP] [--wait-lock SECONDS]\n"
    "       drun plan RECIPE [key=value ...]  what a recipe would do\n"
    "       drun ledger COMMAND ...      the deployment ledger (drun ledger --help)\n"
    "       drun init cms|fly|compose|pages [DIR] [--force]   a flow's config and recipes into DIR\n"
    "       drun -e CODE [args...]      run a Lua chunk\n"
    "       drun --version              drun and library versions\n"
    "       drun --help\n"
    "\n"
    "Environment: DRUN_STDLIB_DIR=dir loads the stdlib from disk instead of the\n"
    "copy built into the binary. Exit codes: 0 ok, 1 a step failed, 2 usage,\n"
    "3 script error, 4 lock held, 5 approval refused, 130 interrupted.\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  const char *a = argv[1];
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (!strcmp(a, "--version")) {
    buf b = {0};
    version_describe(&b);
    puts(buf_cstr(&b));
    buf_free(&b);
    return EXIT_OK;
  }
  host_job job = {argv[0], NULL, NULL, NULL, 0, 0, NULL};
  if (!strcmp(a, "plan")) {
    if (argc < 3) {
      fprintf(stderr, "drun: plan needs a recipe: drun plan RECIPE [key=value ...]\n");
      return EXIT_USAGE;
    }
    job.plan = 1;
    job.script = argv[2];
    job.argc = argc - 3;
    job.argv = argv + 3;
  } else if (!strcmp(a, "ledger") || !strcmp(a, "init")) {
    job.module = !strcmp(a, "ledger") ? "drun.cli.ledger" : "drun.cli.scaffold";
    job.argc = argc - 2;
    job.argv = argv + 2;
  } else if (!strcmp(a, "-e")) {
    if (argc < 3) {
      fprintf(stderr, "drun: -e needs a chunk of Lua code\n");
      return EXIT_USAGE;
    }
    job.code = argv[2];
    job.argc = argc - 3;
    job.argv = argv + 3;
  } else if (a[0] == '-' && a[1]) {
    fprintf(stderr, "drun: unknown option '%s' (see drun --help)\n", a);
    return EXIT_USAGE;
  } else {
    job.script = a;
    job.argc = argc - 2;
    job.argv = argv + 2;
  }
  return host_run(&job);
}
