-- recipes/sample.lua — drun's runtime on the local machine, until the
-- platform flows land: ship the drun that runs it as a Capistrano-style
-- release (releases/<stamp>-<sha>, a `current` link switched atomically, old
-- releases pruned), smoke-check it, and print a JSON report.
--
--   drun recipes/sample.lua [target_dir]
local drun = require "drun"
local proc, fs, json, time, log = drun.proc, drun.fs, drun.json, drun.time, drun.log

local config = {
  target = arg[1] or os.getenv("SAMPLE_TARGET") or ".drun/sample-deploy",
  binary = proc.which(arg[-1]), -- the drun running this recipe is the one shipped
  keep_releases = 3,
}

local report = { recipe = "sample", target = config.target, steps = json.array(), status = "running" }
local started = time.now()
local steps = {}

local function step(name, fn)
  steps[#steps + 1] = { name = name, fn = fn }
end

step("inspect", function()
  report.commit = proc.output { "git", "rev-parse", "--short", "HEAD", check = false } or "unknown"
  if report.commit == "" then report.commit = "unknown" end
  report.built = proc.output { config.binary, "--version" }
  return report.built
end)

step("upload", function()
  local now = time.unix() -- milliseconds too: two deploys in one second must not collide
  report.release = string.format("%s.%03d-%s", time.utc(now):gsub("[-:Z]", ""), math.floor(now % 1 * 1000), report.commit)
  local dir = fs.join(config.target, "releases", report.release)
  fs.mkdir(dir .. "/bin")
  proc.run { "install", "-m", "755", config.binary, dir .. "/bin/drun" }
  return dir
end)

step("smoke-check", function()
  local dir = fs.join(config.target, "releases", report.release)
  local got = proc.output { dir .. "/bin/drun", "-e", "print(require('drun.json').encode({ok = true}))" }
  assert(json.decode(got).ok == true, "release does not run: " .. got)
  return got
end)

step("switch-current", function()
  -- a new link beside the old one, then rename(2) over it: never a moment without `current`
  local link, tmp = fs.join(config.target, "current"), fs.join(config.target, ".current.tmp")
  proc.run { "ln", "-sfn", "releases/" .. report.release, tmp }
  proc.run { "mv", "-T", tmp, link }
  return "current -> releases/" .. report.release
end)

step("prune", function()
  local releases = fs.list(fs.join(config.target, "releases"))
  local removed = {}
  for i = 1, #releases - config.keep_releases do
    fs.remove(fs.join(config.target, "releases", releases[i]), true)
    removed[#removed + 1] = releases[i]
  end
  report.kept = #releases - #removed
  return #removed .. " old release(s) removed"
end)

for i, s in ipairs(steps) do
  local t0 = time.now()
  log.info("[%d/%d] %s", i, #steps, s.name)
  local ok, result = pcall(s.fn)
  local entry = { name = s.name, ok = ok, ms = math.floor((time.now() - t0) * 1000 + 0.5) }
  entry[ok and "result" or "error"] = tostring(result)
  report.steps[#report.steps + 1] = entry
  if not ok then
    report.status = "failed"
    break
  end
end
if report.status == "running" then report.status = "success" end
report.duration_ms = math.floor((time.now() - started) * 1000 + 0.5)
print(json.encode(report, { indent = 2 }))
os.exit(report.status == "success" and 0 or 1)
