-- recipes/sample.lua — the recipe engine on the local machine only, until
-- the platform flows land: ship the drun that runs it as a Capistrano-style
-- release (releases/<stamp>-<version>, an atomically switched `current`
-- link, old releases pruned), smoke-check it, and roll back on failure.
--
--   drun recipes/sample.lua                  deploy
--   drun recipes/sample.lua fail_smoke=true  watch the smoke check fail and the undo run
--   drun plan recipes/sample.lua             what it would do
local recipe = require "drun.recipe"
local proc = require "drun.proc"
local fs = require "drun.fs"
local time = require "drun.time"

local drun_binary = proc.which(arg[-1]) -- the drun running this recipe is the one shipped

local r = recipe.new {
  name = "sample-release", service = "drun", environment = "local",
  description = "ship this drun binary as a local release",
  version = function() return proc.output({ drun_binary, "--version" }):match("^drun (%S+)") end,
  params = {
    target = { default = ".drun/sample-deploy", description = "where releases/ and current live" },
    keep = { default = 3, description = "releases kept after pruning" },
    fail_smoke = { default = false, description = "make the smoke check fail, to see the undo" },
  },
  auto_rollback = true,
  rollback_hint = "nothing: the undo put the previous release back; fix and deploy again",
}

local function releases(ctx) return fs.join(ctx.params.target, "releases") end

-- Points `current` at a release by renaming a new link over it: there is
-- never a moment without `current`.
local function point_current(ctx, release)
  local link, tmp = fs.join(ctx.params.target, "current"), fs.join(ctx.params.target, ".current.tmp")
  ctx.run { "ln", "-sfn", "releases/" .. release, tmp }
  ctx.run { "mv", "-T", tmp, link }
end

r:step("inspect", { read_only = true, description = "what is shipped and what runs now" }, function(ctx)
  local current = fs.try.realpath(fs.join(ctx.params.target, "current"))
  ctx.set("previous_release", current and fs.basename(current) or nil)
  ctx.log.info("shipping %s (%s)", drun_binary, ctx.version)
  ctx.log.info("current release: %s", current and fs.basename(current) or "none yet")
end)

r:step("upload", {
  description = "copy the binary into releases/<stamp>",
  undo = function(ctx) fs.remove(fs.join(releases(ctx), ctx.get("release")), true) end,
}, function(ctx)
  local now = time.unix() -- milliseconds too: two deploys in one second must not collide
  local release = string.format("%s.%03d-%s", time.utc(now):gsub("[-:Z]", ""), math.floor(now % 1 * 1000), ctx.version)
  ctx.set("release", release)
  fs.mkdir(fs.join(releases(ctx), release, "bin"))
  ctx.run { "install", "-m", "755", drun_binary, fs.join(releases(ctx), release, "bin/drun") }
end)

r:step("switch", {
  description = "point current at the new release",
  on_failure = "current still points at the previous release",
  undo = function(ctx)
    local previous = ctx.get("previous_release")
    if previous then point_current(ctx, previous) else fs.remove(fs.join(ctx.params.target, "current")) end
  end,
}, function(ctx) point_current(ctx, ctx.get("release")) end)

r:step("smoke-check", {
  description = "run the new current release",
  on_failure = "release ${release} is current and does not work",
  verifies = true, -- under --dry-run there is no new release to run
}, function(ctx)
  local bin = fs.join(ctx.params.target, "current/bin/drun")
  local got = ctx.run { bin, "-e", "print(require('drun.json').encode({ ok = true }))", read_only = true }.stdout
  if ctx.params.fail_smoke or got ~= '{"ok":true}\n' then
    error("smoke check failed: the new release answered " .. (ctx.params.fail_smoke and "(forced to fail)" or got))
  end
end)

r:step("prune", { description = "keep the newest releases" }, function(ctx)
  local all = fs.try.list(releases(ctx)) or {} -- none yet under --dry-run
  for i = 1, #all - ctx.params.keep do
    fs.remove(fs.join(releases(ctx), all[i]), true)
    ctx.log.info("removed %s", all[i])
  end
end)

return r
