-- drun.fly against the sandbox's fly: the running image cross-checked with
-- every machine, a missing token, an unknown app.
local t = require "t"
local proc = require "drun.proc"

local function with_sandbox()
  local d = t.tmpdir()
  local repo = proc.output { (os.getenv("DRUN_ROOT") or ".") .. "/tests/sandbox/fixture", "fly", d }:match("^(%S+)")
  local env, sdir = t.sandbox()
  return env, sdir, repo
end

-- runs a Lua snippet in drun with the sandbox's environment; its stdout and exit code
local function lua(env, repo, code)
  local f = t.write(t.tmpdir() .. "/snippet.lua", code)
  return proc.run { t.DRUN, f, env = env, cwd = repo, check = false, timeout = 60 }
end

t.test("current_image: digest, tag, ref, labels; every machine checked; machines that differ named", function()
  local env, sdir, repo = with_sandbox()
  proc.run { "fly", "apps", "create", "app-staging", "-o", "personal", env = env } -- deploys go to apps that exist
  local digest = proc.run({ "sandbox-registry", "push", "app:v7", "--label", "commit=abc", env = env }).stdout:match("%S+")
  proc.run { "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. digest,
             env = env, cwd = repo }
  local r = lua(env, repo, [[
    local fly = require "drun.fly"
    local i = fly.current_image("app-staging")
    print(i.digest, i.tag, i.ref, i.labels.commit)
  ]])
  t.eq(r.code, 0, r.stderr)
  t.eq(r.stdout, table.concat({ digest, "v7", "registry.fly.io/app@" .. digest, "abc" }, "\t") .. "\n")
  proc.run { (os.getenv("DRUN_ROOT") or ".") .. "/tests/sandbox/fault", sdir, "mismatch:app-staging=1" }
  local d2 = proc.run({ "sandbox-registry", "push", "app:v8", env = env }).stdout:match("%S+")
  proc.run { "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d2,
             env = env, cwd = repo }
  r = lua(env, repo, 'print(pcall(require("drun.fly").current_image, "app-staging"))')
  t.match(r.stdout, "false\tfly: the machines of app%-staging run different images: sha256:%x+ on %x+; sha256:%x+ on %x+")
end)

t.test("no FLY_API_TOKEN: a clear error before fly runs; an unknown app: fly's own words", function()
  local env, sdir, repo = with_sandbox()
  env.FLY_API_TOKEN = false
  local r = lua(env, repo, 'print(pcall(require("drun.fly").status, "app-staging"))')
  t.match(r.stdout, "false\t.*FLY_API_TOKEN")
  t.eq(io.open(sdir .. "/calls.jsonl") and #require("drun.fs").read(sdir .. "/calls.jsonl") or 0, 0, "fly never ran")
  env.FLY_API_TOKEN = "x"
  r = lua(env, repo, 'print(pcall(require("drun.fly").current_image, "app-nowhere"))')
  t.match(r.stdout, 'false\tfly: status %-a app%-nowhere %-%-json: Could not find App "app%-nowhere"')
end)

-- Conformance: drun.fly fed flyctl's own shapes verbatim, no stand-in between.
-- image show: superfly/flyctl internal/command/image/show.go (map[string]string,
-- Labels = json.Marshal(labels) or "", Version "N/A"); status: status/machines.go
-- renderMachineJSONStatus with fly-go's Machine (machine_types.go); mpg backup
-- list: mpg/v2/run_backup.go (a text line when there is none, even with --json).
local function canned(outputs)
  local calls = {}
  return function(spec)
    local key = table.concat(spec, " ", 2)
    calls[#calls + 1] = key
    for pattern, out in pairs(outputs) do
      if key:find(pattern) then
        local o = type(out) == "function" and out() or out
        return { ok = true, code = 0, stdout = o, stderr = "" }
      end
    end
    error("unexpected call: " .. key)
  end, calls
end

local STATUS = [[{
  "ID": "app-staging", "Name": "app-staging", "Deployed": true, "Status": "deployed",
  "Hostname": "app-staging.fly.dev", "Version": 12, "AppURL": "", "PlatformVersion": "machines",
  "Organization": {"ID": "o1", "Slug": "personal"},
  "Machines": [
    {"id": "e784079b449483", "name": "ancient-glade-1", "state": "stopped", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "app", "tag": "deployment-01J",
                   "digest": "sha256:aaaa", "labels": {"commit": "c0ffee", "fly.version": "v1"}},
     "instance_id": "01J", "private_ip": "fdaa::3", "config": {"metadata": {"fly_platform_version": "v2"}},
     "host_status": "ok", "cordoned": false},
    {"id": "3d8d9d7bc74189", "state": "suspended", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "app", "tag": "deployment-01J", "digest": "sha256:aaaa"},
     "cordoned": false}
  ]
}]]
local IMAGES = [[[
  {"Digest": "sha256:aaaa", "Labels": "{\"commit\":\"c0ffee\",\"fly.version\":\"v1\"}", "MachineID": "e784079b449483",
   "Registry": "registry.fly.io", "Repository": "app", "Tag": "deployment-01J", "Version": "v1"},
  {"Digest": "sha256:aaaa", "Labels": "", "MachineID": "3d8d9d7bc74189",
   "Registry": "registry.fly.io", "Repository": "app", "Tag": "deployment-01J", "Version": "N/A"}
]
]]

t.test("conformance: flyctl's image show and status shapes, stopped machines, labels from a string", function()
  local env = require "drun.env"
  local saved = os.getenv("FLY_API_TOKEN")
  env.set("FLY_API_TOKEN", saved or "x")
  local fly = require "drun.fly"
  local run = canned { ["^status"] = STATUS, ["^image show"] = IMAGES }
  local img = fly.current_image("app-staging", { run = run })
  t.eq(img.digest, "sha256:aaaa")
  t.eq(img.labels.commit, "c0ffee")
  t.eq(img.version, "v1")
  t.eq(img.ref, "registry.fly.io/app@sha256:aaaa")
  t.eq(#img.machines, 2)
  -- labels only in image show's string (status without image_ref.labels)
  run = canned { ["^status"] = STATUS:gsub('"labels": {[^}]*}', '"labels": null'), ["^image show"] = IMAGES }
  t.eq(fly.current_image("app-staging", { run = run }).labels.commit, "c0ffee")
  t.same(fly.labels(""), {})
  t.raises(function() fly.labels("{not json") end, "image labels are not a JSON object")
  t.raises(function() fly.labels('{"a": 1}') end, "strings to strings")
  -- zero machines: runs nothing; a machine replacing: a deploy under way
  run = canned { ["^status"] = '{"ID": "a", "Machines": []}', ["^image show"] = "[]" }
  local none, why = fly.current_image("a", { run = run })
  t.eq(none, nil)
  t.eq(why, "has no machine")
  run = canned { ["^status"] = STATUS:gsub('"suspended"', '"replacing"'), ["^image show"] = IMAGES }
  t.raises(function() fly.current_image("app-staging", { run = run }) end, "a deploy of app%-staging is under way %(machine 3d8d9d7bc74189 replacing%)")
  run = canned { ["^status"] = "Error: not json" }
  t.raises(function() fly.status("x", { run = run }) end, "fly: status %-a x printed no JSON")
end)

t.test("conformance: mpg backup create prints no id; the id is the new backup of list --json", function()
  require("drun.env").set("FLY_API_TOKEN", os.getenv("FLY_API_TOKEN") or "x")
  local fly = require "drun.fly"
  t.same(fly.backups("c1", { run = canned { ["^mpg backup list"] = "No backups found for cluster c1\n" } }), {})
  local lists = {
    "No backups found for cluster c1\n",
    '[{"id": "b-1", "status": "in_progress", "type": "full", "start": "2026-11-22T10:00:00Z", "stop": ""}]',
    '[{"id": "b-1", "status": "completed", "type": "full", "start": "2026-11-22T10:00:00Z", "stop": "2026-11-22T10:05:00Z"}]',
  }
  local n = 0
  local run, calls = canned {
    ["^mpg backup list c1 %-%-json$"] = function() n = math.min(n + 1, #lists); return lists[n] end,
    ["^mpg backup create c1 %-%-type full$"] = "Creating full backup for cluster c1...\nBackup queued successfully!\n",
  }
  local proc = require "drun.proc"
  local real = proc.run
  proc.run = run -- the quiet polls go through drun.proc.run
  local ok, id = pcall(fly.backup, { cluster = "c1", run = run, interval = 0.01, timeout = 5 })
  proc.run = real
  t.ok(ok, id)
  t.eq(id, "b-1")
  t.eq(calls[2], "mpg backup create c1 --type full")
end)
