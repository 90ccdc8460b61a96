---@meta drun.fly
-- The module: stdlib/drun/fly.lua, flyctl for recipes (FLOWS.md §2).
-- FLY_API_TOKEN through env.secret. Every call takes `run` (ctx.run in a recipe).

---@class drun.fly.Machine
---@field id string
---@field state string
---@field region string
---@field digest string?
---@field labels table<string, string>
---@field registry string?
---@field repository string?
---@field tag string?

---@alias drun.fly.Opt { run?: fun(spec: drun.proc.Spec): drun.proc.Result }

local fly = {}

---The image the app runs on every machine, or nil and why; raises mid-deploy or on mixed images.
---@param app string
---@param o? drun.fly.Opt
---@return { digest: string, tag: string?, ref: string, version: string?, labels: table, machines: integer }?, string?
function fly.current_image(app, o) end
---Every machine, any state.
---@param app string
---@param o? drun.fly.Opt
---@return drun.fly.Machine[]
function fly.machines(app, o) end
---fly image show: {MachineID = {version, labels, tag, registry, repository, digest}}
---@param app string
---@param o? drun.fly.Opt
---@return table<string, table>
function fly.images(app, o) end
---@param app string
---@param o? drun.fly.Opt
---@return table
function fly.status(app, o) end
---@param app string
---@param o? drun.fly.Opt
---@return table[]
function fly.releases(app, o) end
---Labels as flyctl gives them (a map, a JSON-encoded map or "").
---@param v any
---@return table<string, string>
function fly.labels(v) end
---@param o { app: string, config?: string, image: string, strategy?: string, wait_timeout?: string, dir?: string, run?: function }
function fly.deploy(o) end
---Waits for the backup to complete; raises on failure or timeout.
---@param o { cluster: string, type?: string, timeout?: number, interval?: number, run?: function }
---@return string id
function fly.backup(o) end
---@param cluster string
---@param o? drun.fly.Opt
---@return { id: string, status: string, type: string, start: string, stop: string }[]
function fly.backups(cluster, o) end
---The organization's Managed Postgres clusters.
---@param o? drun.fly.Opt
---@return table[]
function fly.clusters(o) end
---@param o { name: string, org: string, region: string, plan?: string, run?: function }
---@return string id
function fly.create_cluster(o) end
---@param o { cluster: string, run?: function }
function fly.destroy_cluster(o) end
---@param o { cluster: string, app: string, variable?: string, run?: function }
function fly.attach_cluster(o) end
---registry.fly.io's credentials into docker's config.
---@param o? drun.fly.Opt
function fly.auth_docker(o) end
---@param app string
---@param o? drun.fly.Opt
---@return boolean
function fly.app_exists(app, o) end
---nil, or why flyctl would refuse the name.
---@param name string
---@return string?
function fly.app_name_problem(name) end
---@param o { app: string, org: string, run?: function }
function fly.create_app(o) end
---@param o { app: string, run?: function }
---@return boolean # false when there was no such app
function fly.destroy_app(o) end
---Staged for the next deploy; each value on stdin, never in an argv.
---@param o { app: string, secrets: table<string, string>, run?: function }
function fly.stage_secrets(o) end
---@param o { app: string, names: string[], run?: function }
function fly.unset_secrets(o) end

return fly
