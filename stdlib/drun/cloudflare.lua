-- drun.cloudflare: wrangler for recipes (FLOWS.md §1).
--
--   local cf = require "drun.cloudflare"
--   local id = cf.deploy { dir = "apps/cms", env = "staging", message = msg }   -- the new version id
--   cf.d1.backfill_if_needed { db = "cms-staging", env = "staging", dir = "apps/cms",
--                              file = "scripts/backfill-d1-migrations.sql" }
--   cf.d1.migrate { db = "cms-staging", env = "staging", dir = "apps/cms" }      -- applied file names
--   cf.rollback { dir = "apps/cms", env = "production", version_id = id, message = "rolling back: ..." }
--   cf.watch { dir = "apps/cms", env = nil, seconds = 60, max_errors = 0 }       -- {requests, errors, ...}
--
-- Every call takes `run` (default drun.proc.run; recipes pass ctx.run so
-- wrangler's output shows under the step) and `remote` (default true).
-- Credentials: CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID through
-- env.secret (a clear error when missing; masked everywhere): without the
-- account, wrangler stops as soon as the token sees several accounts ("More
-- than one account available but unable to select one in non-interactive
-- mode", wrangler-dist/cli.js requireAuth). Failures raise with wrangler's own
-- message. M.api reads Cloudflare's REST API (CLOUDFLARE_API_BASE_URL, as
-- wrangler does) for what wrangler does not print, such as a Pages project's
-- production branch.
local proc = require "drun.proc"
local env = require "drun.env"
local fs = require "drun.fs"
local json = require "drun.json"
local runtime = require "drun.runtime"
local clock = require "drun.time"

local M = { d1 = {}, MAX_OUTPUT_FILE = 1024 * 1024 } -- wrangler writes a few hundred bytes per command

local function credentials()
  env.secret("CLOUDFLARE_API_TOKEN")
  return env.secret("CLOUDFLARE_ACCOUNT_ID")
end

-- api(path) -> the result of GET <base>/accounts/<account><path>; raises with
-- Cloudflare's own message and code ("... [code: 8000007]"), the error table
-- carrying .code for callers that tell "not found" apart.
function M.api(path)
  local token, account = env.secret("CLOUDFLARE_API_TOKEN"), env.secret("CLOUDFLARE_ACCOUNT_ID")
  local base = env.get("CLOUDFLARE_API_BASE_URL", "https://api.cloudflare.com/client/v4"):gsub("/+$", "")
  local r, herr = require("drun.http").request { url = base .. "/accounts/" .. account .. path, check = false, retries = 2,
                                           headers = { Authorization = "Bearer " .. token } }
  if not r then error("cloudflare: GET /accounts/…" .. path .. ": " .. tostring(herr), 0) end
  local ok, body = pcall(r.json, r)
  if ok and type(body) == "table" and body.success == true and r.status == 200 then return body.result end
  local e = ok and type(body) == "table" and type(body.errors) == "table" and body.errors[1] or nil
  local err = { code = e and tonumber(e.code), status = r.status,
                message = string.format("cloudflare: GET /accounts/…%s: %s%s", path,
                  e and tostring(e.message) or (r.status .. " " .. r.body:sub(1, 200)), e and string.format(" [code: %s]", e.code) or "") }
  error(setmetatable(err, { __tostring = function(x) return x.message end }), 0)
end

-- wrangler(args, o): o.dir, o.run, o.env (added to the environment), o.read_only
local function wrangler(args, o)
  local spec = { "wrangler" }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  spec.cwd, spec.env, spec.read_only, spec.check = o.dir, o.env, o.read_only, false
  local res, err = (o.run or proc.run)(spec)
  if not res then error("cloudflare: " .. err, 3) end
  if not res.ok and not res.dry_run then
    -- wrangler prints its errors on stderr, and --json errors as {"error": ...} on stdout
    local jerr = res.stdout:match("^%s*{") and select(2, pcall(json.decode, res.stdout))
    if type(jerr) == "table" and jerr.error then
      error("cloudflare: wrangler " .. table.concat(args, " ") .. " failed: " .. (jerr.error.text or json.encode(jerr.error)), 3)
    end
    error("cloudflare: " .. proc.failure_message(res), 3) -- it names the whole command once
  end
  return res
end

local function with_env(list, e)
  if e and e ~= "" then list[#list + 1] = "--env"; list[#list + 1] = e end
  return list
end

local function remote(o) return o.remote == false and "--local" or "--remote" end

-- Runs wrangler with WRANGLER_OUTPUT_FILE_PATH and returns the first entry
-- of `kind` it wrote (the machine-readable result, never the text); nil under
-- --dry-run. Shared with drun.pages.
function M.run_for_output(args, o, kind)
  credentials()
  local out = fs.tmpdir("drun-wrangler") .. "/output.jsonl"
  local ok, res = pcall(wrangler, args, { dir = o.dir, run = o.run, env = { WRANGLER_OUTPUT_FILE_PATH = out } })
  local st = fs.try.stat(out)
  if st and st.size > M.MAX_OUTPUT_FILE then
    fs.remove(fs.dirname(out), true)
    error(string.format("cloudflare: wrangler wrote %d bytes to its output file (more than %d): refusing to read it",
                        st.size, M.MAX_OUTPUT_FILE), 2)
  end
  local text = fs.try.read(out) or ""
  fs.remove(fs.dirname(out), true)
  if not ok then error((tostring(res):gsub("^[^:\n]+:%d+: ", "")), 0) end -- wrangler's words, not our line
  if res.dry_run then return nil end
  for line in text:gmatch("[^\n]+") do
    local okj, e = pcall(json.decode, line)
    if okj and type(e) == "table" and e.type == kind then return e end
  end
  error(string.format("cloudflare: wrangler %s wrote no %s entry to its output file (is this wrangler 3.x or older?)",
                      args[1] .. (args[2] and not args[2]:match("^%-") and (" " .. args[2]) or ""), kind), 2)
end

-- deploy{dir, env, message, tag} -> version id (from the output file, not the text)
function M.deploy(o)
  local args = with_env({ "deploy" }, o.env)
  if o.message then args[#args + 1] = "--message"; args[#args + 1] = o.message end
  if o.tag then args[#args + 1] = "--tag"; args[#args + 1] = o.tag end
  local e = M.run_for_output(args, o, "deploy")
  if not e then return nil end
  local id = e.version_id
  if type(id) ~= "string" or not id:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
    local shown = type(id) == "string" and string.format("%q", #id > 60 and id:sub(1, 60) .. "..." or id):gsub("\\0", "\\0")
        or (id == nil and "none") or ("a " .. (type(id) == "table" and (json.kind(id) or "table") or type(id)))
    error("cloudflare: wrangler deploy's output entry has no version id (a UUID) but " .. shown
          .. ": nothing to record or roll back to", 2)
  end
  return id
end

-- deployments{dir, env} -> the deployments, oldest first (wrangler's JSON)
function M.deployments(o)
  credentials()
  local res = wrangler(with_env({ "deployments", "list", "--json" }, o.env), { dir = o.dir, run = o.run, read_only = true })
  return json.decode(res.stdout)
end

-- wrangler's codes for "no such Worker" (src/utils/worker-not-found-error.ts:
-- WORKER_NOT_FOUND_ERR_CODE, WORKER_LEGACY_ENVIRONMENT_NOT_FOUND_ERR_CODE)
local WORKER_NOT_FOUND = { ["10007"] = true, ["10090"] = true }

-- Whether a wrangler failure says the Worker does not exist (by its code).
function M.worker_not_found(err) return WORKER_NOT_FOUND[tostring(err):match("%[code: (%d+)%]") or ""] == true end

-- The version id serving now (100% of traffic), or nil if never deployed
-- (the Worker does not exist: code 10007, whatever the words around it).
function M.current_version(o)
  local ok, list = pcall(M.deployments, o)
  if not ok then
    if M.worker_not_found(list) then return nil end
    error(list, 2)
  end
  local last = list[#list]
  return last and last.versions[1] and last.versions[1].version_id or nil
end

-- rollback{dir, env, version_id, message}
function M.rollback(o)
  credentials()
  local args = with_env({ "rollback" }, o.env)
  if o.version_id then args[#args + 1] = o.version_id end
  args[#args + 1] = "--message"
  args[#args + 1] = o.message or "rolled back by drun"
  wrangler(args, { dir = o.dir, run = o.run })
end

-- d1.execute{db, env, sql | file, remote, dir, read_only} -> rows of the last statement, all results
function M.d1.execute(o)
  if o.remote ~= false then credentials() end
  local args = with_env({ "d1", "execute", o.db, remote(o), "--json" }, o.env)
  if o.sql then args[#args + 1] = "--command"; args[#args + 1] = o.sql
  elseif o.file then args[#args + 1] = "--file"; args[#args + 1] = o.file
  else error("cloudflare: d1.execute needs sql or file", 2) end
  local res = wrangler(args, { dir = o.dir, run = o.run, read_only = o.read_only })
  if res.dry_run then return {}, {} end
  local ok, results = pcall(json.decode, res.stdout)
  if not ok or type(results) ~= "table" then error("cloudflare: d1 execute printed no JSON: " .. res.stdout:sub(1, 200), 2) end
  local last = results[#results]
  return (last and last.results) or {}, results
end

-- One tail event, as the watch counts it: an error is an uncaught exception
-- (outcome other than ok/canceled, or exceptions listed) or a 5xx answer
-- (workers-types TraceItemFetchEventInfo: event.response.status; absent when
-- the worker threw). Returns the error's description, or nil.
local function tail_error(ev)
  local req = type(ev.event) == "table" and type(ev.event.request) == "table" and ev.event.request or {}
  local where = string.format("%s %s", tostring(req.method or "?"), tostring(req.url or "(no request)"))
  if type(ev.exceptions) == "table" and ev.exceptions[1] then
    local e = ev.exceptions[1]
    return string.format("%s: %s (%s)", tostring(e.name), type(e.message) == "string" and e.message or json.encode(e.message), where)
  end
  if ev.outcome ~= nil and ev.outcome ~= "ok" and ev.outcome ~= "canceled" then
    return string.format("outcome %s (%s)", tostring(ev.outcome), where)
  end
  local res = type(ev.event) == "table" and ev.event.response
  local status = type(res) == "table" and tonumber(res.status)
  if status and status >= 500 then return string.format("%d (%s)", status, where) end
end

-- watch{dir, env, seconds = 60, max_errors = 0, on_error = fn(text)} ->
-- {requests, errors, seconds, samples}: `wrangler tail --format json` (the
-- worker of the wrangler config in dir) for `seconds`. wrangler prints each
-- event as JSON.stringify(event, null, 4) (src/tail/printing.ts
-- jsonPrintLogs): objects one after another, each ending with a "}" line.
-- Raises as soon as the errors exceed max_errors (no need to wait the
-- window out), and when the stream ends before the window did: a tail that
-- disconnected has not watched anything, and must not pass silently.
function M.watch(o)
  credentials()
  local seconds, max_errors = o.seconds or 60, o.max_errors or 0
  local argv = with_env({ "wrangler", "tail", "--format", "json" }, o.env)
  argv.cwd, argv.read_only, argv.grace = o.dir, true, 2
  local h <close> = proc.spawn(argv)
  local s = { requests = 0, errors = 0, samples = {} }
  local started = clock.now()
  local deadline, lines = started + seconds, nil
  while true do
    local left = deadline - clock.now()
    if left <= 0 then break end
    local line, why = h:read_line(left)
    if not line then
      if why == "timeout" then break end
      local res = h:wait()
      -- wrangler's own error (an uncaught one is node's dump: the "...Error...: message" line), else its last line
      local err = (res.stderr or ""):gsub("%s+$", "")
      local said = err:match("[%w]*Error[^\n:]*: ([^\n]+)") or err:match("[^\n]*$") or ""
      error(string.format("cloudflare: the tail of %s ended after %.1fs of %gs (wrangler tail exit %s%s): the watch "
                          .. "is incomplete (%d requests seen, %d errors)", o.dir or "the worker", clock.now() - started,
                          seconds, tostring(res.code), said ~= "" and (": " .. said) or "", s.requests, s.errors), 0)
    end
    if line == "{" then lines = {} end
    if lines then
      lines[#lines + 1] = line
      if line == "}" then
        local ok, ev = pcall(json.decode, table.concat(lines, "\n"))
        lines = nil
        if not ok or type(ev) ~= "table" then
          error("cloudflare: wrangler tail printed something that is not a tail event: " .. tostring(ev):sub(1, 200), 0)
        end
        s.requests = s.requests + 1
        local bad = tail_error(ev)
        if bad then
          s.errors = s.errors + 1
          if #s.samples < 3 then s.samples[#s.samples + 1] = bad end
          if o.on_error then o.on_error(bad) end
          if s.errors > max_errors then
            error(string.format("cloudflare: %d error(s) in %d request(s) within %.1fs of the watch (at most %d allowed): %s",
                                s.errors, s.requests, clock.now() - started, max_errors, table.concat(s.samples, "; ")), 0)
          end
        end
      end
    end
  end
  s.seconds = seconds
  return s
end

-- the migration files listed in wrangler's table of a `migrations apply|list` output, each once, in order
local function migration_names(stdout, mark)
  local names, seen = {}, {}
  for name in stdout:gmatch("│%s*([%w_%-%.]+%.sql)%s*│" .. mark) do
    if not seen[name] then names[#names + 1], seen[name] = name, true end
  end
  return names
end

-- d1.migrate{db, env, remote, dir} -> the migration files applied now ({} when up to date)
function M.d1.migrate(o)
  if o.remote ~= false then credentials() end
  local res = wrangler(with_env({ "d1", "migrations", "apply", o.db, remote(o) }, o.env), { dir = o.dir, run = o.run })
  if res.stdout:find("No migrations to apply!", 1, true) then return {} end
  -- wrangler redraws its table as it goes: each file once, in order
  return migration_names(res.stdout, "%s*✅")
end

-- d1.pending{db, env, remote, dir} -> the migration files not applied yet ({} when up to date).
-- `migrations list` creates the tracker table when it is missing (wrangler's
-- initMigrationsTable, src/d1/migrations/list.ts): on a database the app
-- migrated itself that would hide it from the backfill rule, so such a
-- database is named, not listed.
function M.d1.pending(o)
  local rows = M.d1.execute { db = o.db, env = o.env, remote = o.remote, dir = o.dir, read_only = true,
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'd1_migrations'" }
  if not rows[1] then
    if runtime.dry_run then return {} end
    error(string.format("cloudflare: %s has no migration tracker (d1_migrations): no deploy has applied migrations "
                        .. "to it yet", o.db), 0)
  end
  local res = wrangler(with_env({ "d1", "migrations", "list", o.db, remote(o) }, o.env),
                       { dir = o.dir, run = o.run, read_only = true })
  if res.stdout:find("No migrations to apply!", 1, true) then return {} end
  local names = migration_names(res.stdout, "")
  if #names == 0 and not res.dry_run then
    error("cloudflare: d1 migrations list " .. o.db .. " printed neither its table nor \"No migrations to apply!\": "
          .. res.stdout:sub(1, 200), 0)
  end
  return names
end

-- d1.backfill_if_needed{db, env, file, dir, table = "organizations"}:
-- databases the app migrated itself have the schema but no d1_migrations
-- table; `migrations apply` would re-run every file and fail on the first
-- ADD COLUMN. Rule: if `table` exists and d1_migrations does not, run
-- `file` (idempotent: INSERT OR IGNORE); otherwise skip. Returns
-- {ran = bool, reason = "..."}.
function M.d1.backfill_if_needed(o)
  local probe = o.table or "organizations"
  local rows = M.d1.execute { db = o.db, env = o.env, remote = o.remote, dir = o.dir, run = o.run, read_only = true,
    sql = string.format("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('%s', 'd1_migrations')",
                        probe:gsub("'", "''")) }
  local has = {}
  for _, r in ipairs(rows) do has[r.name] = true end
  if runtime.dry_run and not rows[1] then
    return { ran = false, reason = "dry-run: the database was not inspected" }
  end
  if has.d1_migrations then
    return { ran = false, reason = "the migration tracker (d1_migrations) is already there" }
  end
  if not has[probe] then
    return { ran = false, reason = string.format("a fresh database (no %s table): nothing to backfill", probe) }
  end
  M.d1.execute { db = o.db, env = o.env, remote = o.remote, dir = o.dir, run = o.run, file = o.file }
  return { ran = true, reason = string.format("%s exists without d1_migrations: the tracker was backfilled from %s",
                                              probe, o.file) }
end

return M
