---@meta drun.steps
-- The building blocks the shipped flows are made of (stdlib/drun/steps.lua):
-- the deploy message stamp, a package.json bump, the release commit + tag +
-- push, the GitHub release. Each *_step adds one step to a recipe, with what
-- it needs checked before the first change (preflight).

---@alias drun.steps.Text string|fun(ctx: drun.Context): string?

local steps = {}

---The version_bump parameter next_version reads: patch, minor or major.
---@type drun.recipe.Param
steps.VERSION_BUMP = {}

---"<prefix>deploy by <actor> @ <sha> (<run url>)"; without a prefix
---"GitHub Actions deploy by ..." on a runner, "drun deploy by ..." elsewhere.
---@param ctx drun.Context
---@param prefix? string "web@1.5.0 prod "
---@return string
function steps.stamp(ctx, prefix) end

---A recipe's version: package.json's, bumped by the version_bump parameter.
---@param package_json string
---@return fun(ctx: drun.Context): string
function steps.next_version(package_json) end

---function(ctx) -> "<prefix><version>" ("web-v1.5.0")
---@param prefix string
---@return fun(ctx: drun.Context): string
function steps.tag_of(prefix) end

---package.json's "version" set to ctx.version, put back when a later step fails.
---@param r drun.recipe.Recipe
---@param o { package_json: string, name?: string }
---@return drun.recipe.Recipe
function steps.bump_version_step(r, o) end

---Commit paths, annotated tag, push HEAD to the branch with the tag; identity and push checked first.
---@param r drun.recipe.Recipe
---@param o { tag: drun.steps.Text, paths?: string[], remote?: string, branch?: drun.steps.Text, default_branch?: string, message?: drun.steps.Text, github_repo?: string, name?: string, description?: string, on_failure?: string, after?: fun(ctx: drun.Context, tag: string) }
---@return drun.recipe.Recipe
function steps.tag_step(r, o) end

---function(ctx) -> the highest "<prefix><version>" tag below ctx.version, or nil (the release before this one)
---@param prefix string
---@return fun(ctx: drun.Context): string?
function steps.previous_tag(prefix) end

---The GitHub release of the tag with generated notes; the token and the tag checked first.
---since (a revision, or previous_tag(prefix)): drun.changelog's grouped changes above GitHub's notes.
---@param r drun.recipe.Recipe
---@param o { repo: string, tag: drun.steps.Text, name?: drun.steps.Text, since?: drun.steps.Text, step?: string }
---@return drun.recipe.Recipe
function steps.release_step(r, o) end

return steps
