-- drun.json: decode/encode fidelity and every bad input.
local t = require "t"
local json = require "drun.json"

t.test("[] and {} round-trip distinctly", function()
  t.eq(json.encode(json.decode("[]")), "[]")
  t.eq(json.encode(json.decode("{}")), "{}")
  t.eq(json.encode(json.decode('{"a":[],"b":{}}')), '{"a":[],"b":{}}')
  t.eq(json.kind(json.decode("[]")), "array")
  t.eq(json.kind(json.decode("{}")), "object")
  t.eq(json.encode(json.array()), "[]")
  t.eq(json.encode(json.object()), "{}")
  t.eq(json.encode({}), "{}")
end)

t.test("integers stay integers, floats stay floats", function()
  t.eq(math.type(json.decode("42")), "integer")
  t.eq(math.type(json.decode("-7")), "integer")
  t.eq(json.decode("9007199254740993"), 9007199254740993) -- 2^53 + 1, exact
  t.eq(json.decode("9223372036854775807"), math.maxinteger)
  t.eq(json.decode("-9223372036854775808"), math.mininteger)
  t.eq(math.type(json.decode("1.0")), "float")
  t.eq(math.type(json.decode("1e3")), "float")
  t.eq(math.type(json.decode("9223372036854775808")), "float") -- beyond 64 bits
  t.eq(json.encode(9007199254740993), "9007199254740993")
  t.eq(json.encode(1.0), "1.0")
  t.eq(json.encode(-0.5), "-0.5")
end)

t.test("floats round-trip exactly", function()
  for _, v in ipairs { 0.1, 1 / 3, 1e300, -2.5e-300, 123456.789, 5e-324, 1.7976931348623157e308 } do
    local back = json.decode(json.encode(v))
    t.eq(back, v, "round trip of " .. string.format("%.17g", v))
    t.eq(math.type(back), "float")
  end
  t.eq(json.encode(0.1), "0.1")
end)

t.test("null, booleans, strings, nesting", function()
  local v = json.decode('{"n": null, "t": true, "f": false, "s": "caf\\u00e9 \\ud83d\\ude80 \\"q\\" \\n", "a": [1, [2, {"x": null}]]}')
  t.eq(v.n, json.null)
  t.eq(v.t, true)
  t.eq(v.f, false)
  t.eq(v.s, "café 🚀 \"q\" \n")
  t.eq(v.a[2][2].x, json.null)
  t.eq(json.encode(v), '{"a":[1,[2,{"x":null}]],"f":false,"n":null,"s":"café 🚀 \\"q\\" \\n","t":true}')
  t.eq(json.encode({ json.null, 1 }), "[null,1]")
end)

t.test("control characters are escaped", function()
  t.eq(json.encode("a\tb\1\127"), '"a\\tb\\u0001\127"')
end)

t.test("indent and sorted keys give reproducible output", function()
  local s = json.encode({ b = 1, a = { 1, 2 }, c = {} }, { indent = 2 })
  t.eq(s, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1,\n  "c": {}\n}')
  t.eq(json.encode({ b = 1, a = 2 }, { indent = "\t" }), '{\n\t"a": 2,\n\t"b": 1\n}')
  t.eq(json.encode({ z = 1, a = 2, m = 3 }), '{"a":2,"m":3,"z":1}')
  t.raises(function() json.encode({}, { indent = 99 }) end, "indent must be")
end)

t.test("invalid JSON: error with line and column", function()
  t.raises(function() json.decode('{\n  "a": tru\n}') end, "json: invalid JSON at line 2, column 8")
  t.raises(function() json.decode("") end, "json: empty input")
  t.raises(function() json.decode("[1, 2") end, "json: unexpected end of input")
  t.raises(function() json.decode("{} x") end, "json: trailing data at line 1, column 4")
  t.raises(function() json.decode("[1,]") end, "json: invalid JSON")
  t.raises(function() json.decode('"\\ud800"') end, "json: invalid JSON") -- lone surrogate escape
  t.raises(function() json.decode("<html>502 Bad Gateway</html>") end, "json: invalid JSON at line 1, column 1")
end)

t.test("duplicate keys are an error", function()
  t.raises(function() json.decode('{"version": "1.0.0", "version": "2.0.0"}') end, 'json: duplicate key "version"')
  t.raises(function() json.decode('[{"a": 1, "b": {"c": 1, "c": 2}}]') end, 'duplicate key "c"')
end)

t.test("10,000 levels of nesting: an error, not a crash", function()
  local deep = string.rep("[", 10000) .. string.rep("]", 10000)
  t.raises(function() json.decode(deep) end, "json: nesting deeper than 1000 levels at line 1, column 1001")
  local v = {}
  local cur = v
  for _ = 1, 10000 do cur[1] = {}; cur = cur[1] end
  t.raises(function() json.encode(v) end, "nested deeper than 1000 levels")
  local cycle = {}
  cycle.self = cycle
  t.raises(function() json.encode(cycle) end, "a cycle%?")
  local ok_depth = string.rep("[", 999) .. string.rep("]", 999)
  t.eq(json.encode(json.decode(ok_depth)), ok_depth)
end)

t.test("invalid UTF-8 is an error both ways", function()
  t.raises(function() json.decode('"abc\255"') end, "json: invalid UTF%-8 at line 1, column 5")
  t.raises(function() json.decode('"\192\175"') end, "invalid UTF%-8") -- overlong
  t.raises(function() json.encode({ name = "bad\255" }) end, "json: cannot encode a string with invalid UTF%-8 %(byte 4%) at %$%.name")
end)

t.test("unencodable values name where they are", function()
  t.raises(function() json.encode({ a = { 1, print } }) end, "cannot encode a function at %$%.a%[2%]")
  t.raises(function() json.encode(0 / 0) end, "cannot encode NaN")
  t.raises(function() json.encode(math.huge) end, "infinite")
  t.raises(function() json.encode({ [1] = 1, [3] = 3 }) end, "sparse array")
  t.raises(function() json.encode({ 1, x = 2 }) end, "mixes array and object keys")
  t.raises(function() json.encode(json.object { [1.5] = 1 }) end, "key that is not a string")
end)

t.test("decode errors on non-string input", function()
  t.raises(function() json.decode(nil) end, "string expected")
end)

t.test("a truncated document says so", function()
  t.raises(function() json.decode('{"a": "abc') end, "json: unexpected end of input")
  t.raises(function() json.decode('{"deploy": {"id": 1') end, "json: unexpected end of input")
  t.raises(function() json.decode('{"a": "b" x}') end, "json: invalid JSON at line 1, column 11")
end)

t.test("encoding survives garbage collection in the middle (options table given)", function()
  local big = {}
  for i = 1, 3000 do big[i] = { name = "step" .. i, result = string.rep("x", i % 50), ok = true } end
  local want = json.encode(big, { indent = 2 })
  local pause = collectgarbage("setpause", 0) -- collect constantly while encoding
  local got = json.encode(big, { indent = 2 })
  local got2 = json.encode(big, { indent = "\t", sort_keys = false })
  collectgarbage("setpause", pause)
  t.eq(#got, #want)
  t.eq(got, want)
  t.eq(#json.decode(got2), 3000)
end)

t.test("RFC 8259 exactly: what it forbids is refused", function()
  for _, bad in ipairs {
    "01", "-01", "00", "-.1", ".1", "1.", "2.e3", "1e", "1e+", "-", "+1", "0x10", "1.5e", "Infinity", "NaN",
    '"a\nb"', '"tab\there"', '"\1"', "[1]\0", "\0[1]", "[1,\0 2]", "[1,\f2]", "\f1", '"\\x41"', '"\\u12"', '"\\u12G4"',
    '"\\udc00"', '"\\ud800\\u0041"', "[1 2]", '{"a" 1}', "{a: 1}", "[tru]", "nul", "'s'", "[1,]", '{"a":1,}',
  } do
    t.raises(function() json.decode(bad) end, ":%d+: json: ", string.format("%q", bad))
  end
  t.raises(function() json.decode('"a\nb"') end, "control character in a string")
  t.raises(function() json.decode("01") end, "leading zero")
  t.raises(function() json.decode("[1,\f2]") end, "invalid JSON at line 1, column 4 %(byte 4%): invalid JSON near '\\x0C2%]'")
  t.raises(function() json.decode('"\\u12G4"') end, "invalid \\u escape")
end)

t.test("\\u0000 is kept, in strings and keys, and encodes back", function()
  local v = json.decode('{"a\\u0000b": "x\\u0000y", "n": "\\u0000"}')
  t.eq(v["a\0b"], "x\0y")
  t.eq(#v["a\0b"], 3)
  t.eq(v.n, "\0")
  t.eq(v.a, nil, "the key was not cut at the NUL")
  t.eq(json.encode(v), '{"a\\u0000b":"x\\u0000y","n":"\\u0000"}')
  t.eq(json.encode(json.decode('"\\ud83d\\ude80"')), '"🚀"', "surrogate pair")
end)

t.test("numbers beyond a double are refused at decode, never inf", function()
  t.raises(function() json.decode("1e400") end, "too large for a double")
  t.raises(function() json.decode("[-1e400]") end, "too large for a double")
  t.raises(function() json.decode(string.rep("9", 400)) end, "too large for a double")
  t.eq(json.decode("1e-400"), 0.0, "underflow is a tiny number, not an error")
  t.eq(json.decode("9223372036854775807"), math.maxinteger)
  t.eq(math.type(json.decode("9223372036854775808")), "float", "beyond 64 bits: a float, as documented")
  t.eq(json.decode("-0.0"), -0.0)
end)

t.test("columns count bytes, the same for every error", function()
  -- é is two bytes: the error after it is at byte (and column) 7
  t.raises(function() json.decode('["é" x]') end, "line 1, column 7 %(byte 7%)")
  t.raises(function() json.decode('["é", "\255"]') end, "invalid UTF%-8 at line 1, column 9 %(byte 9%)")
end)

t.test("base64: RFC 4648's test vectors", function()
  local b64 = require "drun.base64"
  for plain, want in pairs { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
                             foobar = "Zm9vYmFy", ["\0\255"] = "AP8=" } do
    t.eq(b64.encode(plain), want, plain)
  end
end)
