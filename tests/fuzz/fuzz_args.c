/* Argument parsing: drun's option parser and a recipe's parameters on
 * arbitrary words; a usage error or a value, never anything else. */
#include "fuzz_lua.h"

static const char CHECK[] =
    "local args, recipe = require 'drun.cli.args', require 'drun.recipe'\n"
    "local SPEC = { flags = { yes = true, json = true }, options = { ledger = true, ['wait-lock'] = true } }\n"
    "local r = recipe.new { name = 'f', service = 's', environment = 'e',\n"
    "  params = { n = { default = 1 }, b = { default = false }, c = { choices = { 'a', 'b' } }, s = { default = '' } } }\n"
    "return function(s)\n"
    "  local argv = {}\n"
    "  for w in s:gmatch('[^\\n]+') do argv[#argv + 1] = w end\n"
    "  local ok, opts, rest = pcall(args.parse, argv, SPEC)\n"
    "  if not ok then\n"
    "    if not args.is_usage_error(opts) then error('FUZZ: parse raised ' .. tostring(opts)) end\n"
    "    return\n"
    "  end\n"
    "  pcall(args.count, opts, 'wait-lock', 0)\n"
    "  local given = {}\n"
    "  for _, a in ipairs(rest) do local k, v = a:match('^([%w_]+)=(.*)$'); if k then given[k] = v end end\n"
    "  local p, why = r:resolve_params(given)\n"
    "  if not p and type(why) ~= 'string' then error('FUZZ: resolve gave no reason') end\n"
    "  if p and math.type(p.n) == nil then error('FUZZ: n is not a number') end\n"
    "  local n = recipe.number(s)\n"
    "  if n and (n ~= n or n == math.huge or n == -math.huge) then error('FUZZ: number gave ' .. tostring(n)) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_run(CHECK, data, size); }
