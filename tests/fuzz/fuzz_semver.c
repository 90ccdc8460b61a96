/* drun.semver: what parses prints back as itself, compares equal to itself,
 * and bumps to a version that parses and sorts after it. */
#include "fuzz_lua.h"

static const char CHECK[] =
    "local semver = require 'drun.semver'\n"
    "return function(s)\n"
    "  local v = semver.parse(s)\n"
    "  if not v then return end\n"
    "  local text = semver.tostring(v)\n"
    "  if text ~= s:gsub('^v', '') then error('FUZZ: ' .. s .. ' printed as ' .. text) end\n"
    "  if semver.compare(s, text) ~= 0 then error('FUZZ: not equal to itself: ' .. s) end\n"
    "  for _, part in ipairs { 'patch', 'minor', 'major' } do\n"
    "    local ok, b = pcall(semver.bump, s, part)\n"
    "    if ok then\n"
    "      if not semver.parse(b) then error('FUZZ: bump gave ' .. b) end\n"
    "      if semver.compare(b, s) ~= 1 and #v.pre == 0 then error('FUZZ: ' .. b .. ' not after ' .. s) end\n"
    "    elseif not tostring(b):find('overflow', 1, true) then error('FUZZ: bump raised ' .. tostring(b)) end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_run(CHECK, data, size); }
