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
  t.match(r.stdout, 'false\tfly: image show %-a app%-nowhere %-%-json: Could not find App "app%-nowhere"')
end)
