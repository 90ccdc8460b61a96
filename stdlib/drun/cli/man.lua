-- The man page drun.1 (troff, man macros) from drun.cli.spec's tree: the
-- same commands, arguments and flags as the parser, the help and the
-- completions. `drun man > drun.1`; make install puts it in man1/.
--   require("drun.cli.man")(require "drun.cli.spec") -> the page's text

-- troff: a backslash is \e, a hyphen \-, and a line must not start with . or '
local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

local function paragraph(text)
  return esc(text):gsub("\n\n", "\n.PP\n")
end

local function elements(p, lines)
  for _, a in ipairs(p._arguments) do
    lines[#lines + 1] = ".TP"
    lines[#lines + 1] = "\\fI" .. esc(a:_get_label_lines()[1]) .. "\\fR"
    lines[#lines + 1] = esc(a:_get_description() or "")
  end
  for _, o in ipairs(p._options) do
    if not o._hidden then
      local names = {}
      for i, alias in ipairs(o._public_aliases) do names[i] = "\\fB" .. esc(alias) .. "\\fR" end
      local argnames = o:_get_argument_list()
      lines[#lines + 1] = ".TP"
      lines[#lines + 1] = table.concat(names, ", ") .. (#argnames > 0 and (" \\fI" .. esc(table.concat(argnames, " ")) .. "\\fR") or "")
      lines[#lines + 1] = esc(o:_get_description() or "")
    end
  end
end

return function(spec)
  local root = spec.parser()
  local build = require "drun.core.build"
  local lines = {
    string.format('.TH DRUN 1 "" "drun %s" "User Commands"', esc(build.version)),
    ".SH NAME",
    "drun \\- " .. esc(root._description:gsub(":.*", "")),
    ".SH SYNOPSIS",
  }
  lines[#lines + 1] = ".nf"
  lines[#lines + 1] = "\\fBdrun\\fR \\fIFILE.lua\\fR [\\fIargs\\fR...]"
  for _, c in ipairs(spec.commands()) do
    if #c.path == 1 or #c.parser._commands == 0 then
      lines[#lines + 1] = esc(c.parser:get_usage():gsub("^Usage: ", ""):gsub("\n%s+", " "))
    end
  end
  lines[#lines + 1] = ".fi"
  lines[#lines + 1] = ".SH DESCRIPTION"
  lines[#lines + 1] = paragraph(root._description)
  lines[#lines + 1] = ".SH OPTIONS"
  elements(root, lines)
  lines[#lines + 1] = ".SH COMMANDS"
  for _, c in ipairs(spec.commands()) do
    lines[#lines + 1] = ".SS " .. esc(table.concat(c.path, " "))
    lines[#lines + 1] = paragraph(c.parser._description or "")
    elements(c.parser, lines)
  end
  lines[#lines + 1] = ".SH NOTES"
  lines[#lines + 1] = paragraph(root._epilog)
  lines[#lines + 1] = ".SH SEE ALSO"
  lines[#lines + 1] = "The README of drun's repository: recipes, flows, the ledger and the platform modules."
  return table.concat(lines, "\n") .. "\n"
end
