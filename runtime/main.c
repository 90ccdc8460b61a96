/* drun — a scriptable deploy runtime. Command-line entry point: the command
 * line is read by one Lua module, drun.cli (stdlib/drun/cli/init.lua), on
 * one specification (drun.cli.spec) that also makes the help, the shell
 * completions and the man page. */
#include "host.h"

int main(int argc, char **argv) {
  host_job job = {argv[0], argc - 1, argv + 1};
  return host_run(&job);
}
