/* drun.pages: any branch name gives an alias of [a-z0-9-], within 28
 * characters, never starting or ending with '-'. */
#include "fuzz_lua.h"

static const char CHECK[] =
    "local pages = require 'drun.pages'\n"
    "return function(s)\n"
    "  local slug = pages.slug(s)\n"
    "  if slug:find('[^a-z0-9-]') or #slug > 28 or slug:find('^%-') or slug:find('%-$') then\n"
    "    error('FUZZ: slug ' .. string.format('%q', slug))\n"
    "  end\n"
    "  local b = pages.preview_branch(#s % 100000 + 1, s)\n"
    "  if b:find('[^a-z0-9-]') or #b > 28 or b:find('%-$') then error('FUZZ: branch ' .. b) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_run(CHECK, data, size); }
