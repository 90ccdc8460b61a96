/* What `drun ledger serve` and notifications take from outside: a query
 * string's parameters (drun.ledger.api.filter: a filter or a client's
 * mistake in words; anything it raises is a crash), and text from the
 * ledger or git put into HTML (the dashboard), Slack's mrkdwn and a
 * changelog entry. */
#include "fuzz_lua.h"

static const char CHECK[] =
    "local api, dashboard = require 'drun.ledger.api', require 'drun.ledger.dashboard'\n"
    "local notify, changelog = require 'drun.notify', require 'drun.changelog'\n"
    "local TYPES = {}\n"
    "for _, t in ipairs(changelog.TYPES) do TYPES[t[1]] = true end\n"
    "return function(s)\n"
    "  local query = {}\n"
    "  for pair in s:gmatch('[^&\\n]+') do\n"
    "    local k, v = pair:match('^([^=]*)=?(.*)$')\n"
    "    query[k] = v\n"
    "  end\n"
    "  for _, endpoint in ipairs { 'version', 'deployments', 'stats' } do\n"
    "    local f, why = api.filter(endpoint, query)\n"
    "    if not f and type(why) ~= 'string' then error('FUZZ: no filter and no reason') end\n"
    "    if f and endpoint == 'deployments' and (math.type(f.limit) ~= 'integer' or f.limit < 1 or f.limit > 1000) then\n"
    "      error('FUZZ: limit ' .. tostring(f.limit))\n"
    "    end\n"
    "  end\n"
    "  if dashboard.esc(s):find('[<>\"\\']') then error('FUZZ: markup left in HTML') end\n"
    "  if notify.slack_escape(s):find('[<>]') then error('FUZZ: markup left in mrkdwn') end\n"
    "  local e = changelog.parse(s)\n"
    "  if not TYPES[e.type] or type(e.description) ~= 'string' then error('FUZZ: parse gave ' .. tostring(e.type)) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_run(CHECK, data, size); }
