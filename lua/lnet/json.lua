-- lnet.json: JSON (RFC 8259) to Lua values and back, for control APIs and
-- event logs.
--
-- decode is strict (no comments, trailing commas, leading zeros or bare
-- control characters) and bounded: the text's length and the nesting depth
-- are capped before anything is built, so no peer's document can grow the
-- stack or the heap without limit. Failures are JSONError values (text
-- `json: unexpected character 'x' at byte 7`), never raises.
--
-- Values: objects are tables with the metatable json.Object, arrays tables
-- with json.Array (so an empty one encodes back as what it was), null is
-- the sentinel json.null (so a key given as null is still there), numbers
-- are Lua numbers. encode takes those, and plain tables too: one with only
-- the keys 1..n (n > 0) is an array, any other an object with its keys
-- sorted (as Go writes maps); an object whose metatable has `order` (see
-- json.object) writes those keys first, in that order.

local errors = require "lnet.errors"

local byte, char, sub, find, format, gsub = string.byte, string.char, string.sub, string.find, string.format, string.gsub
local concat, sort = table.concat, table.sort
local type, pairs, tostring, tonumber, setmetatable, getmetatable, error, pcall, select =
    type, pairs, tostring, tonumber, setmetatable, getmetatable, error, pcall, select
local floor, huge = math.floor, math.huge

local _M = {}

local MAX_DEPTH = 64 -- nesting allowed by default
local MAX_SIZE = 1024 * 1024 -- bytes of text decode takes by default

-- JSONError{msg, offset}: offset is the 1-based byte where decode found the
-- problem (nil from encode, whose msg names the value at fault).
local JSONError = errors.kind("JSONError", function(self)
    local s = "json: " .. self.msg
    if self.offset ~= nil then
        s = s .. " at byte " .. tostring(self.offset)
    end
    return s
end)

local function json_error(msg, offset)
    return setmetatable({ msg = msg, offset = offset }, JSONError)
end
_M.error = json_error

_M.null = setmetatable({}, { __tostring = function()
    return "json.null"
end })
local null = _M.null

local Object = { __name = "json.Object" }
local Array = { __name = "json.Array" }
_M.Object, _M.Array = Object, Array

-- object(t [, order]): t marked as an object; order lists the keys to write
-- first, in that order (the rest follow sorted).
function _M.object(t, order)
    if order == nil then
        return setmetatable(t or {}, Object)
    end
    return setmetatable(t or {}, { __name = "json.Object", order = order })
end

function _M.array(t)
    return setmetatable(t or {}, Array)
end

function _M.is_object(v)
    local mt = type(v) == "table" and getmetatable(v)
    return mt ~= nil and mt ~= false and mt.__name == "json.Object"
end

function _M.is_array(v)
    return type(v) == "table" and getmetatable(v) == Array
end

---------------------------------------------------------------------------
-- decode

-- The decoder's state for one call: the text, its length, the depth cap.
local text, len, max_depth

local function fail(msg, pos)
    error(json_error(msg, pos), 0)
end

local function describe(pos)
    if pos > len then
        return "unexpected end of input"
    end
    local c = sub(text, pos, pos)
    if byte(c) < 32 or byte(c) > 126 then
        return format("unexpected byte 0x%02x", byte(c))
    end
    return "unexpected character '" .. c .. "'"
end

local function skip_ws(pos)
    return find(text, "[^ \t\r\n]", pos) or len + 1
end

local decode_value

local ESCAPES = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t" }

-- The UTF-8 bytes of code point cp.
local function utf8(cp)
    if cp < 0x80 then
        return char(cp)
    elseif cp < 0x800 then
        return char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
    elseif cp < 0x10000 then
        return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function hex4(pos)
    local h = sub(text, pos, pos + 3)
    if not find(h, "^%x%x%x%x$") then
        fail("bad \\u escape", pos - 2)
    end
    return tonumber(h, 16)
end

-- A \u escape at pos (the backslash): its UTF-8, and where the text goes on.
-- A surrogate pair is one code point; a lone surrogate is U+FFFD, as Go
-- decodes it.
local function unicode_escape(pos)
    local cp = hex4(pos + 2)
    local nextpos = pos + 6
    if cp >= 0xD800 and cp < 0xDC00 and sub(text, nextpos, nextpos + 1) == "\\u" then
        local lo = hex4(nextpos + 2)
        if lo >= 0xDC00 and lo < 0xE000 then
            return utf8(0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)), nextpos + 6
        end
    end
    if cp >= 0xD800 and cp < 0xE000 then
        cp = 0xFFFD
    end
    return utf8(cp), nextpos
end

-- The string whose opening quote is at pos, and the position after it.
local function decode_string(pos)
    local start = pos + 1
    local stop = find(text, '["\\%z\1-\31]', start)
    if stop ~= nil and byte(text, stop) == 34 then
        return sub(text, start, stop - 1), stop + 1 -- no escapes: the common case
    end
    local parts, n = {}, 0
    local i = start
    while true do
        stop = find(text, '["\\%z\1-\31]', i)
        if stop == nil then
            fail("unterminated string", start - 1)
        end
        n = n + 1
        parts[n] = sub(text, i, stop - 1)
        local c = byte(text, stop)
        if c == 34 then
            return concat(parts, "", 1, n), stop + 1
        elseif c ~= 92 then
            fail(format("control character 0x%02x in string", c), stop)
        end
        local e = byte(text, stop + 1)
        if e == 117 then
            n = n + 1
            parts[n], i = unicode_escape(stop)
        elseif ESCAPES[e] ~= nil then
            n = n + 1
            parts[n], i = ESCAPES[e], stop + 2
        else
            fail("bad escape in string", stop)
        end
    end
end

local function decode_number(pos)
    local s, e = find(text, "^-?%d+", pos)
    if s == nil then
        fail(describe(pos), pos)
    end
    local int = sub(text, byte(text, s) == 45 and s + 1 or s, e)
    if #int > 1 and byte(int) == 48 then
        fail("leading zero in number", pos)
    end
    local fe = select(2, find(text, "^%.%d+", e + 1))
    if fe == nil and byte(text, e + 1) == 46 then
        fail("bad fraction in number", e + 1)
    end
    e = fe or e
    local xe = select(2, find(text, "^[eE][-+]?%d+", e + 1))
    if xe == nil and find(text, "^[eE]", e + 1) then
        fail("bad exponent in number", e + 1)
    end
    e = xe or e
    local v = tonumber(sub(text, pos, e))
    if v == huge or v == -huge then
        fail("number out of range", pos)
    end
    return v, e + 1
end

local function decode_array(pos, depth)
    local t, n = setmetatable({}, Array), 0
    pos = skip_ws(pos + 1)
    if byte(text, pos) == 93 then
        return t, pos + 1
    end
    while true do
        local v
        v, pos = decode_value(pos, depth)
        n = n + 1
        t[n] = v
        pos = skip_ws(pos)
        local c = byte(text, pos)
        if c == 93 then
            return t, pos + 1
        elseif c ~= 44 then
            fail(describe(pos) .. " after array element", pos)
        end
        pos = skip_ws(pos + 1)
    end
end

local function decode_object(pos, depth)
    local t = setmetatable({}, Object)
    pos = skip_ws(pos + 1)
    if byte(text, pos) == 125 then
        return t, pos + 1
    end
    while true do
        if byte(text, pos) ~= 34 then
            fail(describe(pos) .. " looking for an object key", pos)
        end
        local k
        k, pos = decode_string(pos)
        pos = skip_ws(pos)
        if byte(text, pos) ~= 58 then
            fail(describe(pos) .. " after object key", pos)
        end
        local v
        v, pos = decode_value(skip_ws(pos + 1), depth)
        t[k] = v
        pos = skip_ws(pos)
        local c = byte(text, pos)
        if c == 125 then
            return t, pos + 1
        elseif c ~= 44 then
            fail(describe(pos) .. " after object value", pos)
        end
        pos = skip_ws(pos + 1)
    end
end

local LITERALS = { t = { "true", true }, f = { "false", false }, n = { "null", null } }

function decode_value(pos, depth)
    local c = byte(text, pos)
    if c == 34 then
        return decode_string(pos)
    elseif c == 123 or c == 91 then
        if depth >= max_depth then
            fail("nesting deeper than " .. max_depth, pos)
        end
        if c == 123 then
            return decode_object(pos, depth + 1)
        end
        return decode_array(pos, depth + 1)
    end
    local lit = c and LITERALS[char(c)]
    if lit ~= nil then
        if sub(text, pos, pos + #lit[1] - 1) ~= lit[1] then
            fail(describe(pos), pos)
        end
        return lit[2], pos + #lit[1]
    end
    return decode_number(pos)
end

local function decode_all()
    local v, pos = decode_value(skip_ws(1), 0)
    pos = skip_ws(pos)
    if pos <= len then
        fail(describe(pos) .. " after the value", pos)
    end
    return v
end

local function count_arg(v, name, fname)
    if v ~= nil and (type(v) ~= "number" or v < 0 or v % 1 ~= 0) then
        error(("bad argument #2 to '%s' (%s: non-negative integer expected, got %s)"):format(fname, name, tostring(v)), 3)
    end
    return v
end

-- decode(s [, {max_depth = 64, max_size = 1 MiB}]): the value, or nil and
-- a JSONError. Text longer than max_size is refused before it is read.
function _M.decode(s, opts)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 2)
    end
    if opts ~= nil and type(opts) ~= "table" then
        error("bad argument #2 to 'decode' (table expected, got " .. type(opts) .. ")", 2)
    end
    local depth = count_arg(opts and opts.max_depth, "max_depth", "decode") or MAX_DEPTH
    local size = count_arg(opts and opts.max_size, "max_size", "decode") or MAX_SIZE
    if #s > size then
        return nil, json_error("text of " .. #s .. " bytes is over the limit of " .. size)
    end
    text, len, max_depth = s, #s, depth
    local ok, v = pcall(decode_all)
    text = nil
    if not ok then
        if getmetatable(v) ~= JSONError then
            error(v, 0) -- a bug, not bad input
        end
        return nil, v
    end
    return v
end

---------------------------------------------------------------------------
-- encode

local ESCAPE_OUT = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
    local c = char(i)
    ESCAPE_OUT[c] = ESCAPE_OUT[c] or format("\\u%04x", i)
end
-- Go's json.Marshal escapes these too, so text is safe inside HTML.
local ESCAPE_HTML = { ["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026" }
for k, v in pairs(ESCAPE_OUT) do
    ESCAPE_HTML[k] = v
end

local function quote(s, html)
    if html then
        return '"' .. gsub(s, '[%c"\\<>&]', ESCAPE_HTML) .. '"'
    end
    return '"' .. gsub(s, '[%c"\\]', ESCAPE_OUT) .. '"'
end

-- The shortest text that reads back as the same double.
local function number_text(v)
    if v ~= v or v == huge or v == -huge then
        return nil
    end
    if v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then
        return format("%d", v)
    end
    for digits = 15, 17 do
        local s = format("%." .. digits .. "g", v)
        if tonumber(s) == v then
            return s
        end
    end
end

local function is_sequence(t)
    local n = #t
    if n == 0 then
        return false
    end
    local count = 0
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
            return false
        end
        count = count + 1
    end
    return count == n
end

local encode_value

local function encode_object(t, out, depth, path, html, mt)
    local keys, seen = {}, {}
    local order = mt and mt.order
    if order ~= nil then
        for i = 1, #order do
            local k = order[i]
            if t[k] ~= nil then
                keys[#keys + 1] = k
                seen[k] = true
            end
        end
    end
    local rest = {}
    for k in pairs(t) do
        if type(k) ~= "string" then
            return json_error(path .. ": object key of type " .. type(k))
        end
        if not seen[k] then
            rest[#rest + 1] = k
        end
    end
    sort(rest)
    for i = 1, #rest do
        keys[#keys + 1] = rest[i]
    end
    out[#out + 1] = "{"
    for i = 1, #keys do
        local k = keys[i]
        if i > 1 then
            out[#out + 1] = ","
        end
        out[#out + 1] = quote(k, html)
        out[#out + 1] = ":"
        local err = encode_value(t[k], out, depth, path .. "." .. k, html)
        if err ~= nil then
            return err
        end
    end
    out[#out + 1] = "}"
end

local function encode_array(t, out, depth, path, html)
    out[#out + 1] = "["
    for i = 1, #t do
        if i > 1 then
            out[#out + 1] = ","
        end
        local err = encode_value(t[i], out, depth, path .. "[" .. i .. "]", html)
        if err ~= nil then
            return err
        end
    end
    out[#out + 1] = "]"
end

function encode_value(v, out, depth, path, html)
    local tv = type(v)
    if tv == "string" then
        out[#out + 1] = quote(v, html)
    elseif tv == "number" then
        local s = number_text(v)
        if s == nil then
            return json_error(path .. ": " .. tostring(v) .. " has no JSON form")
        end
        out[#out + 1] = s
    elseif tv == "boolean" then
        out[#out + 1] = v and "true" or "false"
    elseif v == null or v == nil then
        out[#out + 1] = "null"
    elseif tv == "table" then
        if depth >= MAX_DEPTH then
            return json_error(path .. ": nesting deeper than " .. MAX_DEPTH .. " (a cycle?)")
        end
        local mt = getmetatable(v)
        if mt == Array or (mt == nil and is_sequence(v)) then
            return encode_array(v, out, depth + 1, path, html)
        end
        return encode_object(v, out, depth + 1, path, html, mt)
    else
        return json_error(path .. ": a " .. tv .. " has no JSON form")
    end
end

-- encode(v [, {html = bool}]): the JSON text, or nil and a JSONError (a NaN
-- or infinity, a key that is not a string, a function, a table nested
-- deeper than 64, as a cycle would be). html = true escapes < > & as Go's
-- json.Marshal does.
function _M.encode(v, opts)
    if opts ~= nil and type(opts) ~= "table" then
        error("bad argument #2 to 'encode' (table expected, got " .. type(opts) .. ")", 2)
    end
    local out = {}
    local err = encode_value(v, out, 0, "value", opts ~= nil and opts.html == true)
    if err ~= nil then
        return nil, err
    end
    return concat(out)
end

return _M
