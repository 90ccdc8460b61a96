-- drun ledger: the deployment history from the command line.
-- Human tables by default; --json prints the shapes of the versioning API
-- drun's ledger is modelled on (FLOWS.md §5).
local args = require "drun.cli.args"
local ledger = require "drun.ledger"
local schema = require "drun.ledger.schema"
local api = require "drun.ledger.api"
local metrics = require "drun.ledger.metrics"
local json = require "drun.json"
local time = require "drun.time"
local out = require "drun.core.out"
local log = require "drun.log"
local tab = require "drun.tabulate"

local function say(s) out.write("stdout", s) end

local function colour_on() return out.isatty("stdout") and (os.getenv("NO_COLOR") or "") == "" end

local function print_json(v) say(json.encode(v, { indent = 2 }) .. "\n") end

local STATUS_COLOUR = { success = "green", failed = "red", rollback = "yellow", aborted = "yellow", running = "blue" }
local function paint_status(text, row) return tab.colour(STATUS_COLOUR[row.status] or "dim", text) end

-- (--status is one of the statuses: drun.cli.spec lists them)
local function filter_from(opts)
  return { service = opts.service, environment = opts.env, status = opts.status, version = opts.version,
           branch = opts.branch }
end

local commands = {}

function commands.list(db, opts)
  local f = filter_from(opts)
  f.limit = args.count(opts, "limit", 1) or 50
  local rows = db:history(f)
  if opts.json then return print_json(api.deployments(rows)) end
  if #rows == 0 then return say("no deployments recorded\n") end
  local now = time.unix()
  say(tab.tabulate(rows, {
    { "ID", function(r) return r.id:sub(1, 12) end },
    { "SERVICE", "service" },
    { "ENV", "environment" },
    { "VERSION", "full_version" },
    { "STATUS", "status", paint = paint_status },
    { "DEPLOYED", function(r) return tab.ago(time.parse(r.deployed_at), now) end },
    { "BY", "deployed_by" },
    { "COMMIT", function(r) return (r.git_commit or ""):sub(1, 7) end },
    { "DURATION", function(r) return tab.duration(r.duration_ms) end },
  }, { colour = colour_on() }))
end

local function need_ref(rest, what)
  if not rest[2] then args.usage_error("%s needs a deployment id or full version", what) end
  return rest[2]
end

function commands.show(db, opts, rest)
  local rec = db:record(need_ref(rest, "show"))
  if not rec then
    log.error("ledger: no deployment with id or full version '%s'", rest[2])
    return 1
  end
  if opts.json then return print_json(api.deployment(rec)) end
  local lines = {}
  local function kv(k, v) if v ~= nil and v ~= "" then lines[#lines + 1] = string.format("%-12s %s", k, v) end end
  kv("id", rec.id)
  kv("deployment", string.format("%s %s -> %s", rec.service, rec.full_version, rec.environment))
  kv("status", rec.status .. (rec.failed_step and (" at step " .. rec.failed_step) or ""))
  kv("recipe", rec.recipe)
  kv("commit", rec.git_commit and (rec.git_commit .. (rec.git_branch and (" on " .. rec.git_branch) or "")))
  kv("deployed", rec.deployed_at .. (rec.deployed_by and (" by " .. rec.deployed_by) or ""))
  kv("duration", tab.duration(rec.duration_ms))
  kv("run", rec.workflow_run_url)
  kv("error", rec.error)
  local keys = {}
  for k in pairs(rec.metadata) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = rec.metadata[k]
    kv(k, type(v) == "table" and json.encode(v) or tostring(v))
  end
  say(table.concat(lines, "\n") .. "\n")
  if #rec.steps > 0 then
    say("\n" .. tab.tabulate(rec.steps, {
      { "#", "seq" }, { "STEP", "name" }, { "STATUS", "status", paint = paint_status },
      { "DURATION", function(s) return tab.duration(s.duration_ms) end }, { "ERROR", "error" },
    }, { colour = colour_on() }))
  end
  -- what it brought, when this clone has the history (a CI checkout may not)
  local log, prev = require("drun.changelog").for_deployment(db, rec)
  if log then
    say(string.format("\nchanges since %s (%s):\n", prev.full_version, prev.git_commit:sub(1, 7)) .. log:text())
  elseif rec.git_commit then
    say("\nchanges: " .. prev .. "\n")
  end
end

local function pct(x) return x and string.format("%.1f%%", x * 100) or "-" end

function commands.stats(db, opts)
  local f = filter_from(opts)
  local days = args.count(opts, "days", 1) or metrics.DEFAULT_DAYS
  if days > metrics.MAX_DAYS then args.usage_error("--days must be at most %d", metrics.MAX_DAYS) end
  local s = db:stats(f)
  local d = api.delivery(db, f, days)
  if opts.json then return print_json(api.stats(s, d)) end
  say(string.format("deployments   %d (success %d, failed %d, rollback %d, aborted %d, running %d)\n",
                    s.total, s.success, s.failed, s.rollback, s.aborted, s.running))
  if s.success_rate ~= json.null then say(string.format("success rate  %.1f%%\n", s.success_rate * 100)) end
  say(string.format("latest        %s\n", s.latest_version or "-"))
  if s.p50_ms then
    say(string.format("duration      p50 %s, p95 %s\n", tab.duration(s.p50_ms), tab.duration(s.p95_ms)))
  end
  say(string.format("\ndelivery over the last %d day(s)\n", days))
  if #d.groups == 0 then return say("no deployments in that window\n") end
  local rows = {}
  for i, g in ipairs(d.groups) do rows[i] = g end
  if #d.groups > 1 then
    d.all.service, d.all.environment = "all", ""
    rows[#rows + 1] = d.all
  end
  local function ms(v) return v and tab.duration(v) or "-" end
  say(tab.tabulate(rows, {
    { "SERVICE", "service" }, { "ENV", "environment" },
    { "DEPLOYS", function(g) return tostring(g.successful) .. "/" .. g.deployments end },
    { "PER WEEK", function(g) return string.format("%.1f", g.per_week) end },
    { "CHANGE FAIL", function(g) return pct(g.change_failure_rate) end },
    { "RESTORE", function(g) return ms(g.time_to_restore_ms) .. (g.open_failures > 0 and " (failing now)" or "") end },
    { "LEAD TIME", function(g) return ms(g.lead_time_ms) end },
  }, { colour = colour_on() }))
end

function commands.version(db, opts)
  local rec = db:latest { service = opts.service, environment = opts.env, status = "success" }
  if not rec then
    local what = (opts.service or "any service") .. (opts.env and (" in " .. opts.env) or "")
    if opts.json then print_json { success = false, error = "no successful deployment of " .. what } end
    log.error("ledger: no successful deployment of %s", what)
    return 1
  end
  if opts.json then return print_json(api.version(rec)) end
  say(string.format("%s %s %s (%s%s, %s)\n", rec.service, rec.environment, rec.full_version,
                    rec.git_commit and ("commit " .. rec.git_commit:sub(1, 7)) or "no commit",
                    rec.deployed_by and (" by " .. rec.deployed_by) or "",
                    tab.ago(time.parse(rec.deployed_at), time.unix())))
end

commands["mark-rollback"] = function(db, opts, rest)
  local ref = need_ref(rest, "mark-rollback")
  if not db.h:resolve(ref) then
    log.error("ledger: no deployment with id or full version '%s'", ref)
    return 1
  end
  local rec = db:mark_rollback(ref, opts.reason)
  say(string.format("%s %s -> %s marked rollback%s\n", rec.service, rec.full_version, rec.environment,
                    opts.reason and (": " .. opts.reason) or ""))
end

function commands.export(db, _, rest)
  local f = rest[2] and assert(io.open(rest[2], "w"))
  local n = db:export(function(line) if f then f:write(line) else io.stdout:write(line) end end)
  if f then f:close() end
  log.info("exported %d deployment(s)", n)
end

function commands.import(db, _, rest)
  local f = io.stdin
  if rest[2] then
    local err
    f, err = io.open(rest[2], "r")
    if not f then
      log.error("ledger: import: %s", err)
      return 1
    end
  end
  local added = db:import(f:lines())
  log.info("imported %d new deployment(s)", added)
end

-- migrate --to ADDRESS: export piped into import, in one process; the
-- target's counters continue after what it received, so the next build
-- number on either side is the same
function commands.migrate(db, opts)
  if not opts.to then args.usage_error("migrate needs --to ADDRESS (%s)", ledger.ADDRESS_FORMS) end
  local _, bad = ledger.address(opts.to)
  if bad then args.usage_error("%s", bad) end
  local target <close> = ledger.open(opts.to)
  if target.path == db.path then args.usage_error("migrate --to names the ledger it reads (%s)", db.path) end
  local lines = {}
  local n = db:export(function(line) lines[#lines + 1] = line:gsub("\n$", "") end)
  local i = 0
  local added = target:import(function() i = i + 1; return lines[i] end)
  say(string.format("copied %d deployment(s) from %s to %s (%d new there, %d already there)\n", n, db.path,
                    target.path, added, n - added))
end

-- sync: opening the ledger for writing sent the journal (drun.ledger.open)
function commands.sync(db)
  local left = db:journal_waiting()
  if left > 0 then
    log.error("ledger: %d journaled write(s) could not be sent to %s yet", left, db.path)
    return 1
  end
  say(db.journal_sent > 0 and string.format("sent %d journaled write(s) to %s\n", db.journal_sent, db.path)
      or "no journal waiting for " .. db.path .. "\n")
end

function commands.locks(db, opts)
  local locks = db:locks()
  if opts.json then
    local list = json.array()
    for i, l in ipairs(locks) do
      list[i] = schema.api(schema.locks, l, json.null)
      list[i].holder = l.holder
    end
    return print_json { success = true, locks = list, count = #list }
  end
  if #locks == 0 then return say("no locks held\n") end
  local now = time.unix()
  say(tab.tabulate(locks, {
    { "SERVICE", "service" },
    { "ENV", "environment" },
    { "HOLDER", function(l) return l.pid .. "@" .. l.host end },
    { "RECIPE", "recipe" },
    { "SINCE", function(l) return tab.ago(time.parse(l.started_at), now) end },
    { "STATE", function(l)
      if l.holder == "alive" then return "running" end
      if l.holder == "gone" then return "gone (the next run takes it over)" end
      local left = l.expires_at and time.parse(l.expires_at) - now
      if not left or left <= 0 then return "another host, lease ran out (the next run takes it over)" end
      return "another host, lease for " .. tab.duration(left * 1000)
    end },
    { "RUN", function(l) return l.run_url or "" end },
  }, { colour = colour_on() }))
end

function commands.unlock(db, opts, rest)
  if not (rest[2] and rest[3]) or rest[4] then args.usage_error("unlock needs SERVICE and ENVIRONMENT") end
  local ok, held = pcall(db.release, db, rest[2], rest[3], { force = opts.force })
  if not ok then
    if getmetatable(held) ~= ledger.LockHeld then error(held, 0) end
    log.error("%s", held.message)
    return 1
  end
  if not held then
    log.error("ledger: no lock on %s/%s", rest[2], rest[3])
    return 1
  end
  say(string.format("released the lock on %s/%s, held by pid %d on %s (recipe %s, since %s)%s\n", rest[2], rest[3],
                    held.pid, held.host, held.recipe or "?", held.started_at,
                    held.holder == "gone" and ": that drun was gone" or ""))
end

-- commands that only read: they open the ledger read-only (a read-only file
-- works; a mistyped path is an error, never a new ledger)
local READ_ONLY = { list = true, show = true, version = true, stats = true, export = true, locks = true,
                    migrate = true }

-- res: what drun.cli.spec parsed (res.ledger_command, its options and
-- arguments by target name)
return function(res)
  return args.main("ledger " .. res.ledger_command, function()
    local name = res.ledger_command
    -- serve opens (and reopens) the ledger itself, for as long as it runs
    if name == "serve" then return require("drun.ledger.serve").main(res) end
    local cmd = commands[name]
    local rest = { name, res.ref or res.file or res.lock_service, res.lock_env }
    local _, bad_address = ledger.address(res.ledger or ledger.default_path())
    if bad_address then args.usage_error("%s", bad_address) end
    local db <close> = ledger.open(res.ledger, { read_only = READ_ONLY[name] })
    local waiting = name ~= "sync" and db:journal_waiting() or 0
    if waiting > 0 then
      log.warn("ledger: %d write(s) wait in .drun/journal/ for %s (a run could not send them): drun ledger sync",
               waiting, db.path)
    end
    return cmd(db, res, rest) or 0
  end, "drun: ")
end
