/* Argument parsing: drun's command line (drun.cli.spec, on argparse) and a
 * recipe's parameters on arbitrary words; a usage error or a value, never
 * anything else. */
#include "fuzz_lua.h"

static const char CHECK[] =
    "local args, recipe, spec = require 'drun.cli.args', require 'drun.recipe', require 'drun.cli.spec'\n"
    "local r = recipe.new { name = 'f', service = 's', environment = 'e',\n"
    "  params = { n = { default = 1 }, b = { default = false }, c = { choices = { 'a', 'b' } }, s = { default = '' } } }\n"
    "local function parsed(argv)\n"
    "  local ok, res = pcall(spec.parse, argv)\n"
    "  if not ok and not args.is_usage_error(res) then error('FUZZ: parse raised ' .. tostring(res)) end\n"
    "  if ok and type(res) ~= 'table' then error('FUZZ: parse gave a ' .. type(res)) end\n"
    "  return ok and res\n"
    "end\n"
    "return function(s)\n"
    "  local argv = {}\n"
    "  for w in s:gmatch('[^\\n]+') do argv[#argv + 1] = w end\n"
    "  parsed(argv)\n"
    "  local opts = parsed { 'run', 'x.lua', table.unpack(argv) }\n"
    "  if not opts or opts.help then return end\n"
    "  pcall(args.count, opts, 'wait-lock', 0)\n"
    "  local given = {}\n"
    "  for _, a in ipairs(opts.params or {}) do local k, v = a:match('^([%w_]+)=(.*)$'); if k then given[k] = v end end\n"
    "  local p, why = r:resolve_params(given)\n"
    "  if not p and type(why) ~= 'string' then error('FUZZ: resolve gave no reason') end\n"
    "  if p and math.type(p.n) == nil then error('FUZZ: n is not a number') end\n"
    "  local n = recipe.number(s)\n"
    "  if n and (n ~= n or n == math.huge or n == -math.huge) then error('FUZZ: number gave ' .. tostring(n)) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_run(CHECK, data, size); }
