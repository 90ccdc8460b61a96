-- drun.env and redaction: no secret in any output path.
local t = require "t"
local env = require "drun.env"

t.test("get with default", function()
  t.eq(env.get("DRUN_SURELY_UNSET_VAR"), nil)
  t.eq(env.get("DRUN_SURELY_UNSET_VAR", "fallback"), "fallback")
  env.set("DRUN_TEST_X", "1")
  t.eq(env.get("DRUN_TEST_X"), "1")
  env.set("DRUN_TEST_X", nil)
  t.eq(env.get("DRUN_TEST_X"), nil)
end)

t.test("secret of an unset or empty variable names it", function()
  t.raises(function() env.secret("CLOUDFLARE_API_TOKEN_UNSET") end, "env: secret CLOUDFLARE_API_TOKEN_UNSET is not set; export it before running drun")
  env.set("DRUN_EMPTY_SECRET", "")
  t.raises(function() env.secret("DRUN_EMPTY_SECRET") end, "is empty")
end)

local SECRET = "s3cr3t-Value-9f8e7d"

-- Runs a drun child with the secret in its environment and returns both outputs.
local function leak_check(code, envvars)
  local r = t.drun({ "-e", code }, { env = envvars })
  local all = r.stdout .. r.stderr
  t.no_match(all, SECRET:gsub("%p", "%%%0"), "secret leaked")
  return r
end

t.test("env.secret values are masked in print, log, child output and errors", function()
  local r = leak_check([[
    local env, log, proc = require 'drun.env', require 'drun.log', require 'drun.proc'
    local v = env.secret('MY_DEPLOY_CREDENTIAL')
    print('print:', v)
    log.info('log: %s', v)
    proc.run { 'sh', '-c', 'echo "child: $MY_DEPLOY_CREDENTIAL"', stream = true, prefix = '  ' }
    error('failed with ' .. v)
  ]], { MY_DEPLOY_CREDENTIAL = SECRET })
  t.match(r.stdout, "print:\t%*%*%*")
  t.match(r.stdout, "  child: %*%*%*")
  t.match(r.stderr, "log: %*%*%*")
  t.match(r.stderr, "drun: %(command line%):6: failed with %*%*%*")
end)

t.test("variables named *_TOKEN, *_SECRET, *_KEY, *PASSWORD* are masked without asking", function()
  for _, name in ipairs { "CLOUDFLARE_API_TOKEN", "APP_SECRET", "STRIPE_KEY", "DB_PASSWORD" } do
    local r = leak_check(([[print(os.getenv('%s'))
      require('drun.proc').run { 'sh', '-c', 'echo $%s >&2; exit 1' }]]):format(name, name), { [name] = SECRET })
    t.match(r.stdout, "^%*%*%*\n$", name)
    t.match(r.stderr, "exited with 1:\n%*%*%*", name)
  end
end)

t.test("a secret passed in a child's env is masked too", function()
  local r = leak_check([[
    local out = require('drun.proc').run { 'printenv', 'GH_TOKEN', env = { GH_TOKEN = ']] .. SECRET .. [[' } }.stdout
    print(out)
  ]], {})
  t.match(r.stdout, "%*%*%*")
end)

t.test("short values are not treated as secrets", function()
  local r = t.drun({ "-e", "print(os.getenv('TINY_TOKEN'), 'abc')" }, { env = { TINY_TOKEN = "abc" } })
  t.eq(r.stdout, "abc\tabc\n")
end)

t.test("a secret split across reads of a streamed child is still masked", function()
  local r = leak_check([[
    require('drun.proc').run { 'sh', '-c', 'printf "%s" s3cr3t-Va; sleep 0.2; printf "lue-9f8e7d done\n"', stream = true }
  ]], { API_TOKEN = SECRET })
  t.eq(r.stdout, "*** done\n")
end)
