-- drun.fs: files for recipes.
local t = require "t"
local fs = require "drun.fs"

t.test("write is atomic and read returns the bytes", function()
  local d = t.tmpdir()
  local p = d .. "/package.json"
  fs.write(p, "{\r\n\t\"version\": \"1.0.0\"\r\n}\0tail")
  t.eq(fs.read(p), "{\r\n\t\"version\": \"1.0.0\"\r\n}\0tail")
  fs.write(p, "new")
  t.eq(fs.read(p), "new")
  t.eq(#fs.glob(d .. "/.*"), 0, "temp files left")
end)

t.test("write keeps an existing file's mode; mode for new files", function()
  local d = t.tmpdir()
  local p = d .. "/run.sh"
  fs.write(p, "#!/bin/sh\n", tonumber("750", 8))
  t.eq(fs.stat(p).mode, tonumber("750", 8))
  fs.write(p, "#!/bin/sh\necho\n")
  t.eq(fs.stat(p).mode, tonumber("750", 8))
end)

t.test("errors name the path and the reason", function()
  local d = t.tmpdir()
  t.raises(function() fs.read(d .. "/absent") end, "fs: cannot read '.*/absent': No such file or directory")
  t.raises(function() fs.write(d .. "/no/dir/x", "a") end, "fs: cannot write '.*/no/dir/x': No such file or directory")
  local f = t.write(d .. "/file", "x")
  t.raises(function() fs.write(f .. "/child", "a") end, "Not a directory")
  t.raises(function() fs.mkdir(f .. "/sub") end, "fs: cannot create directory")
  local r, err = fs.try.read(d .. "/absent")
  t.eq(r, nil)
  t.match(err, "No such file")
end)

t.test("errors point at the caller's line", function()
  local msg = t.raises(function() fs.read("/definitely/absent") end)
  t.match(msg, "^tests/lua/test_fs%.lua:%d+: fs: cannot read")
  t.match(t.raises(function() fs.read() end), "bad argument #1 to 'fs.read'")
end)

t.test("exists, stat, mkdir -p, list, remove", function()
  local d = t.tmpdir()
  fs.mkdir(d .. "/a/b/c")
  fs.mkdir(d .. "/a/b/c") -- again: fine
  t.eq(fs.exists(d .. "/a/b/c"), "directory")
  t.eq(fs.exists(d .. "/nope"), false)
  t.write(d .. "/a/z.txt", "z")
  t.write(d .. "/a/m.txt", "m")
  t.eq(fs.exists(d .. "/a/z.txt"), "file")
  t.eq(table.concat(fs.list(d .. "/a"), ","), "b,m.txt,z.txt")
  t.eq(fs.stat(d .. "/a/z.txt").size, 1)
  fs.remove(d .. "/a/z.txt")
  fs.remove(d .. "/a/z.txt") -- missing: fine
  t.raises(function() fs.remove(d .. "/a") end, "Directory not empty")
  fs.remove(d .. "/a", true)
  t.eq(fs.exists(d .. "/a"), false)
  t.raises(function() fs.remove("/", true) end, "refusing to remove")
end)

t.test("glob with * and **, paths with spaces and unicode", function()
  local d = t.tmpdir()
  for _, p in ipairs { "docs/usage-docs/index.md", "docs/usage-docs/guide/deep.md", "docs/dev-docs/a.md",
                       "docs/dev-docs/b.txt", "my docs/ünï cödé.md" } do
    t.write(d .. "/" .. p, "")
  end
  local function rel(list)
    local out = {}
    for i, p in ipairs(list) do out[i] = p:sub(#d + 2) end
    return table.concat(out, ",")
  end
  t.eq(rel(fs.glob(d .. "/docs/usage-docs/**")), "docs/usage-docs/guide,docs/usage-docs/guide/deep.md,docs/usage-docs/index.md")
  t.eq(rel(fs.glob(d .. "/docs/*/*.md")), "docs/dev-docs/a.md,docs/usage-docs/index.md")
  t.eq(rel(fs.glob(d .. "/**/*.md")), "docs/dev-docs/a.md,docs/usage-docs/guide/deep.md,docs/usage-docs/index.md,my docs/ünï cödé.md")
  t.eq(rel(fs.glob(d .. "/my docs/*")), "my docs/ünï cödé.md")
  t.eq(#fs.glob(d .. "/nothing/*.md"), 0)
  t.eq(rel(fs.glob(d .. "/docs/dev-docs/a.md")), "docs/dev-docs/a.md")
end)

t.test("glob: **/* leaves .git out unless named; unsupported syntax is an error naming the pattern", function()
  local d = t.tmpdir()
  t.write(d .. "/.git/HEAD", "ref: refs/heads/main\n")
  t.write(d .. "/.git/objects/ab/cdef", "")
  t.write(d .. "/src/a.c", "")
  t.write(d .. "/.github/workflows/ci.yml", "")
  local all = table.concat(fs.glob(d .. "/**/*"), ","):gsub(d:gsub("%p", "%%%0") .. "/", "")
  t.eq(all, ".github,.github/workflows,.github/workflows/ci.yml,src,src/a.c")
  t.eq(#fs.glob(d .. "/.git/*"), 2, "named: listed")
  for _, bad in ipairs { "/src/{a,b}.c", "/src/*.@(c|h)", "/src/+(a).c", "/[a/b]" } do
    t.raises(function() fs.glob(d .. bad) end, "pattern '.*': ")
    t.raises(function() fs.match(bad, "x") end, "fs.match: pattern")
  end
  t.raises(function() fs.glob(d .. "/src/{a,b}.c") end, "braces")
  t.eq(fs.match("docs/**", "docs/a/b.md"), true)
  t.eq(fs.match("docs/*", "docs/a/b.md"), false)
end)

t.test("relative glob from the current directory", function()
  local d = t.tmpdir()
  t.write(d .. "/x/1.sql", "")
  local r = t.drun({ "-e", "print(table.concat(require('drun.fs').glob('x/*.sql'), ','))" }, { cwd = d })
  t.eq(r.stdout, "x/1.sql\n")
end)

t.test("tmpdir is new and private each time", function()
  local a, b = t.tmpdir(), t.tmpdir()
  t.ok(a ~= b)
  t.eq(fs.stat(a).mode, tonumber("700", 8))
  t.raises(function() fs.tmpdir("a/b") end, "must not contain")
end)

t.test("join, dirname, basename", function()
  t.eq(fs.join("a", "b/", "c"), "a/b/c")
  t.eq(fs.join("a", "/abs", "c"), "/abs/c")
  t.eq(fs.dirname("apps/cms/package.json"), "apps/cms")
  t.eq(fs.dirname("file"), ".")
  t.eq(fs.dirname("/file"), "/")
  t.eq(fs.basename("apps/cms/package.json"), "package.json")
  t.eq(fs.basename("apps/cms/"), "cms")
end)
