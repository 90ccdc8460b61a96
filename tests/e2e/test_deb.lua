-- make deb (tools/deb): a package apt installs with what drun needs, the
-- libraries it dlopen()s on first use included (they are not in ldd's list).
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()
local B = t.DRUN:match("^(.*)/drun$")

t.test("the .deb: Depends has libcurl, libgit2 and libpq beside the linked libraries; apt would install it; the binary runs", function()
  local out = t.tmpdir()
  local r = proc.run { ROOT .. "/tools/deb", B, out, cwd = ROOT, check = false, timeout = 300 }
  t.eq(r.code, 0, r.stderr)
  local deb = r.stdout:match("(%S+%.deb)\n$")
  t.ok(deb and fs.exists(deb), "the package: " .. r.stdout)
  t.match(deb, "/drun_[%w%.%+~]+_%w+%.deb$", "drun_<version>_<arch>.deb")
  local depends = proc.output { "dpkg-deb", "--field", deb, "Depends" }
  for _, pkg in ipairs { "libcurl", "libgit2", "libpq", "liblua5%.4", "libsqlite3", "libc6" } do
    t.match(depends, pkg, "Depends names " .. pkg)
  end
  t.match(proc.output { "dpkg-deb", "--field", deb, "Version" }, "^%d+%.%d+")
  local root = t.tmpdir()
  proc.run { "dpkg-deb", "-x", deb, root }
  t.match(proc.output { root .. "/usr/bin/drun", "--version" }, "^drun ")
  -- the man page and completions, made from the CLI's specification, where man and the shells look
  for _, f in ipairs { "man/man1/drun.1", "bash-completion/completions/drun", "zsh/site-functions/_drun",
                       "fish/vendor_completions.d/drun.fish" } do
    t.ok(fs.exists(root .. "/usr/share/" .. f), f .. " is in the package")
  end
  local sim = proc.run { "apt-get", "install", "-s", "-q", deb, check = false, timeout = 120 }
  t.eq(sim.code, 0, sim.stdout .. sim.stderr)
  t.match(sim.stdout, "Inst drun ", "apt resolves every dependency")
end)
