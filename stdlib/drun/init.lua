-- require "drun" gives every module by name, loaded on first use:
--   local drun = require "drun"; drun.proc.run { "git", "status" }
return setmetatable({}, {
  __index = function(t, name)
    local m = require("drun." .. name)
    rawset(t, name, m)
    return m
  end,
})
