---@meta drun.image
-- The module: stdlib/drun/image.lua, docker build and push.

local image = {}

---@param o { dir: string, tag: string, labels?: table<string, string>, dockerfile?: string, build_args?: table<string, string>, run?: function }
---@return string tag
function image.build(o) end
---@param o { ref: string, run?: function }
---@return string digest "sha256:..."
function image.push(o) end
---The digest in docker push's output: the line for this tag.
---@param output string
---@param tag string
---@return string?
function image.pushed_digest(output, tag) end
---A reference docker accepts: [host[:port]/]path[:tag], lowercase (the tag may have capitals).
---@param ref string
---@return boolean
function image.valid_ref(ref) end

return image
