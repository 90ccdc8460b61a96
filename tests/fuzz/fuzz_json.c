/* drun.json: the strict parser on any bytes (no crash, no hang), and for
 * what it accepts, decode -> encode -> decode gives the same text again. */
#include "fuzz_lua.h"
#include "jsontext.h"

static const char CHECK[] =
    "local json = require 'drun.json'\n"
    "return function(s)\n"
    "  local ok, v = pcall(json.decode, s)\n"
    "  if not ok then\n"
    "    if not tostring(v):find('json: ', 1, true) then error('FUZZ: decode raised a non-json error: ' .. tostring(v)) end\n"
    "    return\n"
    "  end\n"
    "  local text = json.encode(v)\n"
    "  local again = json.encode(json.decode(text))\n"
    "  if again ~= text then error('FUZZ: not a fixed point: ' .. text .. ' -> ' .. again) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  buf scratch = {0};
  json_error err;
  json_parse((const char *)data, size, NULL, NULL, &scratch, &err);
  buf_free(&scratch);
  return fuzz_lua_run(CHECK, data, size);
}
