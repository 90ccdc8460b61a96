---@meta drun.task
-- The module: stdlib/drun/task.lua, the tasks under ctx.parallel (one
-- thread, an event loop: a task yields while it waits for a child or a request).

---@class drun.task.Options
---@field limit? integer at most this many at once (task.DEFAULT_LIMIT)
---@field keep_going? boolean every item runs; the failures are raised together at the end
---@field timeout? number seconds, per item
---@field label? fun(item: any, i: integer): string
---@field on_item? fun(status: { index: integer, label: string, status: "success"|"failed"|"cancelled"|"timed out"|"not run", seconds: number, error: string? })

local task = {}

task.DEFAULT_LIMIT = 8
task.SLICE = 0.05

---Results in the items' order; the first failure cancels the others and raises "<label>: <error>".
---@param items any[]
---@param fn fun(item: any, i: integer): any
---@param opts? drun.task.Options
---@return any[] results, table[] statuses
function task.parallel(items, fn, opts) end
---What parallel would refuse in its arguments, or nil.
---@return string?
function task.check(items, fn, opts) end
---The running task, or nil outside ctx.parallel.
---@return table?
function task.current() end
---"web1" or, nested, "web1/migrate": the running task's label.
---@return string?
function task.label() end
---A sleep in which the other tasks run; raises "interrupted" and at the step's deadline.
---@param seconds number
function task.sleep(seconds) end
---Until ready() is true or the monotonic deadline.
---@param ready fun(): boolean
---@param deadline? number
---@return boolean
function task.wait(ready, deadline) end
---A handle (a child, a request) started by the running task: cancelling the task stops it.
---@generic H
---@param h H
---@return H
function task.adopt(h) end
---Until h:done(); then the task no longer owns it.
---@param h table
function task.await(h) end
---How many event sources (children, requests) are on the loop now: for tests.
---@return integer
function task.sources() end

return task
