-- A flow's config is checked against its schema (drun.schema,
-- drun.flows.schema.*) before anything runs: a misspelt key, a wrong type, a
-- missing key or a config that is not a table is exit 2 naming the key, not
-- a traceback from inside the flow.
local t = require "t"
local fs = require "drun.fs"
local schema = require "drun.schema"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

local S = { type = "record", fields = {
  service = { type = "string", required = true },
  batch = { type = "integer", min = 1 },
  test = { type = "array", elements = { type = "string" } },
  scheme = { type = "string", one_of = { "https", "http" } },
  health_url = { type = { "string", "map" }, values = { type = "string" } },
  server = { type = "record", fields = { host = { type = "string" }, port = { type = "integer" } } },
} }

t.test("problems: unknown keys with the nearest known one, types, choices, minimums, nested paths", function()
  t.same(schema.problems({ service = "app" }, S), {})
  local p = schema.problems({ servce = "app", batch = 0, test = { "npm", 3 }, scheme = "ftp",
                              server = { hots = "web1", port = "22" }, health_url = { staging = 5 } }, S)
  t.same(p, {
    "servce is not a key drun knows (did you mean service?)",
    "batch must be at least 1, got 0",
    "health_url.staging must be a string, got 5",
    "scheme must be one of \"https\", \"http\", got \"ftp\"",
    "server.hots is not a key drun knows (did you mean host?)",
    "server.port must be a whole number, got \"22\"",
    "service is required",
    "test[2] must be a string, got 3",
  })
  t.same(schema.problems({ service = "a", batch = 1.5, test = { x = "y" }, health_url = true }, S), {
    "batch must be a whole number, got 1.5",
    "health_url must be a string or a table { name = ... }, got true",
    "test must be a list { ... }, got a table",
  })
  t.same(schema.problems(true, S), { "the config must be a table (the config file must end with `return { ... }`), got true" })
  t.eq(schema.nearest("zzzz", { "service", "batch" }), nil, "nothing near")
end)

-- a repository's copy of a shipped config, edited, with the shipped recipe beside it
local function adapted(config, edit, recipe)
  local d = t.tmpdir()
  t.write(d .. "/deploy/" .. config .. ".lua", edit(fs.read(ROOT .. "/recipes/" .. config .. ".lua")))
  t.write(d .. "/deploy/" .. recipe .. ".lua", fs.read(ROOT .. "/recipes/" .. recipe .. ".lua"))
  return t.drun({ "plan", "deploy/" .. recipe .. ".lua" }, { cwd = d })
end

t.test("a misspelt key in a shipped config: exit 2 naming it and the key meant, before anything runs", function()
  local r = adapted("cms-config", function(s) return (s:gsub("  health_url = {", "  healthurl = {")) end, "cms-staging")
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stderr, "drun: the cms flow's config has 2 problems:\n  healthurl is not a key drun knows %(did you mean health_url%?%)\n"
                    .. "  health_url is required")
  t.no_match(r.stderr, "traceback")
  t.eq(r.stdout, "")
end)

t.test("a wrong type, a missing key, a config that is not a table: each named", function()
  local r = adapted("compose-config", function(s) return (s:gsub("batch = 1,", 'batch = "2",')) end, "compose-restart")
  t.eq(r.code, 2, r.stderr)
  t.match(r.stderr, "the compose flow's config: batch must be a whole number, got \"2\"")
  r = adapted("fly-config", function(s) return (s:gsub('  service = "app",\n', "")) end, "fly-promote")
  t.eq(r.code, 2, r.stderr)
  t.match(r.stderr, "the fly flow's config: service is required")
  r = adapted("docs-config", function(s) return (s:gsub("\nreturn {", "\nlocal _ = {")) end, "docs-pages")
  t.eq(r.code, 2, r.stderr)
  t.match(r.stderr, "the pages flow's config: the config must be a table %(the config file must end with `return { ... }`%), got true")
  r = adapted("compose-config", function(s) return (s:gsub('scheme = env%("PREVIEW_SCHEME"%) or "https"', 'scheme = "ftp"')) end, "compose-preview")
  t.eq(r.code, 2, r.stderr)
  t.match(r.stderr, 'preview.scheme must be one of "https", "http", got "ftp"')
end)

t.test("every shipped config passes its schema; a recipe that returns nothing is named", function()
  for _, recipe in ipairs { "cms-staging", "cms-prod", "cms-rollback", "cms-hotfix", "compose-restart", "compose-rollback",
                            "compose-preview", "fly-deploy", "fly-promote", "fly-rollback", "fly-preview", "docs-pages" } do
    local r = t.drun({ "plan", "recipes/" .. recipe .. ".lua" }, { cwd = ROOT })
    t.no_match(r.stderr, "flow's config", recipe)
  end
  local d = t.tmpdir()
  t.write(d .. "/compose-config.lua", fs.read(ROOT .. "/recipes/compose-config.lua"))
  t.write(d .. "/r.lua", 'require("drun.flows.compose").restart(require "compose-config")\n')
  local r = t.drun({ "plan", d .. "/r.lua" })
  t.eq(r.code, 3)
  t.match(r.stderr, "created recipe 'compose%-restart' but returned nothing: end the file with `return r`")
end)

t.test("needs and conflicts: keys that only go together, and keys that say one thing two ways", function()
  local schema = require "drun.schema"
  local S = { type = "record", fields = {
    a = { type = "string", needs = { "b" } }, b = { type = "string" },
    list = { type = "array", conflicts = { "one" } }, one = { type = "string" },
  } }
  t.eq(table.concat(schema.problems({ a = "x" }, S), "; "), "a needs b too")
  t.eq(table.concat(schema.problems({ list = {}, one = "x" }, S), "; "), "list and one cannot both be set: keep one")
  t.eq(#schema.problems({ a = "x", b = "y", list = {} }, S), 0)
  local rows = {}
  for _, row in ipairs(schema.reference(S)) do rows[row.key] = schema.about(row) end
  t.eq(rows.a, "string, with b")
  t.eq(rows.list, "array, not with one")
end)
