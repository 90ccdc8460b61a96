-- The Compose flow across a fleet: servers web1..webN, each its own sshd,
-- checkout and containers; the restart rolls in batches, the first a canary.
local t = require "t"
local proc = require "drun.proc"
local composefix = require "composefix"

t.test("four servers in batches of two: canary, migrate once, rollout; every gap recorded, lines labelled", function()
  local f = composefix.fleet(4)
  for i = 1, 4 do t.eq(f:version(i), "1.0.0") end
  local r = f:run_fleet(2)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local head = proc.output { "git", "-C", f.origin, "rev-parse", "main" }
  for i = 1, 4 do
    t.eq(f:version(i), "1.1.0", "web" .. i)
    t.eq(f:server_commit(i), head)
  end
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.metadata.server_commit, head)
  for i = 1, 4 do
    local s = rec.metadata.servers["web" .. i]
    t.eq(s.server_commit, head, "web" .. i)
    t.ok(s.restart_gap_ms > 0, "web" .. i .. " gap " .. tostring(s.restart_gap_ms))
    t.eq(s.services, "healthy")
  end
  t.match(r.stdout, "%[web1%] web1 now at")
  t.match(r.stdout, "%[web3%] web3: fetched")
  t.match(r.stdout, "batch 2/2: web3, web4")
  t.match(r.stdout, "\nrollout +success")
  t.match(r.stdout, "\n  web4 +success")
  -- one shared ssh connection per server (ControlMaster), closed with the run: no ssh left, no socket
  t.match(r.stdout, "restart gap")
  t.eq(proc.run({ "pgrep", "-f", f.servers[1].ssh_config .. ".*ControlMaster=yes", check = false }).stdout, "")
  -- migrations ran once, on the canary's first server (here each server has a database of its own)
  local h1 = require("drun.http").get(f.servers[1].health_url):json()
  t.eq(h1.migrations, 2)
end)

t.test("a canary that fails to build: the other servers are not touched, the failure names the server", function()
  local f = composefix.fleet(3)
  proc.run { composefix.ROOT .. "/tests/sandbox/fault", f.servers[1].dir:match("^(.*)/srv/app$"), "compose-build:app=fail" }
  local before = { f:server_commit(2), f:server_commit(3) }
  local r = f:run_fleet(1)
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ restart failed")
  t.match(r.stdout, "failed to solve")
  t.match(r.stdout, "web2, web3 still run the old code")
  t.eq(f:server_commit(2), before[1], "web2's files untouched")
  t.eq(f:server_commit(3), before[2], "web3's files untouched")
  for i = 1, 3 do t.eq(f:version(i), "1.0.0", "web" .. i .. " serves the old version") end
  t.match(r.stdout, "\nrollout +not run")
end)

t.test("a bad batch: bad input rejected before anything runs; a dirty server refuses the whole rollout", function()
  local f = composefix.fleet(2)
  local r = f:run_fleet(0)
  t.eq(r.code, 2, r.stdout .. r.stderr) -- the config's schema: a usage error, not a traceback
  t.match(r.stdout .. r.stderr, "the compose flow's config: batch must be at least 1, got 0")
  t.write(f.servers[2].dir .. "/scripts/migrate.py", "# edited on the server\n")
  r = f:run_fleet(2)
  t.eq(r.code, 1)
  t.match(r.stdout, "web2: the checkout on web2 has local changes")
  t.eq(f:version(1), "1.0.0", "nothing restarted anywhere")
end)
