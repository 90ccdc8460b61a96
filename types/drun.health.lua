---@meta drun.health
-- The module: stdlib/drun/health.lua.

---@class drun.health.Options
---@field url string
---@field expect_status? integer|integer[] (200)
---@field attempts? integer (5)
---@field interval? number seconds between attempts (5)
---@field timeout? number per attempt (10)
---@field expect_json? table<string, any> field (or "build.version" path) = value
---@field body_contains? string
---@field max_body? integer (1 MiB)
---@field headers? table<string, string>

local health = {}

health.MAX_BODY = 1048576
health.stats = { waits = 0, seconds = 0 }

---Until the URL answers as expected; raises with what it last saw when it gives up.
---@param opts drun.health.Options
---@return { ok: boolean, attempts: integer, elapsed: number, last_status: integer?, log: string[] }
function health.wait(opts) end

---One attempt.
---@param url string
---@param opts? drun.health.Options
---@return { ok: boolean, status: integer?, reason: string?, time_ms: number, json: any }
function health.probe(url, opts) end

return health
