-- lnet.dns.name (private): domain names between their text form and their
-- wire form (RFC 1035 section 3.1, compression in 4.1.4).
--
-- Text is what dig prints: labels joined by dots, absolute names ending in
-- ".", the root is "."; a byte that is not printable ASCII is \DDD (its
-- decimal value) and the characters that mean something in a zone file are
-- backslash-escaped (\. inside a label, \\, \", \(, \), \;, \@, \$). Letter
-- case is kept both ways. encode takes a name with or without its final dot:
-- a wire name is always absolute.
--
-- Special problem of a hostile message: a compression pointer can point
-- anywhere, so a name could loop or be read at great cost. A pointer here
-- must point below every byte the name has been read from so far (so each
-- jump goes strictly backwards and the walk ends), and a name follows at
-- most MAX_HOPS of them; together with the 255-byte limit, reading one name
-- costs a bounded amount whatever the message holds.

local ffi = require "ffi"
local const = require "lnet.dns.const"
local memo = require "lnet.memo"

local byte, sub, find, gsub, char, format = string.byte, string.sub, string.find, string.gsub, string.char,
    string.format
local concat = table.concat
local tonumber, pairs = tonumber, pairs
local cast = ffi.cast
local u8p = ffi.typeof("const uint8_t *")
local MessageError = const.MessageError

local _M = {}

local MAX_NAME = 255 -- wire bytes, the root's zero included
local MAX_LABEL = 63
local MAX_HOPS = 128 -- more than a 255-byte name has labels

-------------------------------------------------------------------------------
-- Wire to text.

-- The escape of every byte that needs one, as dig writes it; `escaped`
-- says which bytes those are, for a check the JIT compiles to a loop.
local ESCAPES = {}
local escaped = ffi.new("uint8_t[256]")
for c = 0, 255 do
    if c <= 0x20 or c >= 0x7f then
        ESCAPES[char(c)] = format("\\%03d", c)
    end
end
for c in ("\".;\\()@$"):gmatch(".") do
    ESCAPES[c] = "\\" .. c
end
for c in pairs(ESCAPES) do
    escaped[byte(c)] = 1
end
local NEEDS_ESCAPE = "[%z\1-\32\127-\255\".;\\()@$]"

-- The text of the label at bytes i..j (0-based) of s.
local function label_text(s, p, i, j)
    for k = i, j do
        if escaped[p[k]] ~= 0 then
            return (gsub(sub(s, i + 1, j + 1), NEEDS_ESCAPE, ESCAPES))
        end
    end
    return sub(s, i + 1, j + 1)
end

local labels = {} -- scratch: one name's label texts (read never yields)

-- read(s, p, start, lim, n, texts, lens): the name at byte start (0-based)
-- of the message s (p: its bytes), and the offset just past it; or nil and
-- a MessageError. Labels read in place must end by lim (the end of the
-- record data holding the name); those reached through a pointer, by n
-- (the message's end). texts and lens map an offset to a name read there
-- before, and its wire length, so a pointer to it costs one lookup.
function _M.read(s, p, start, lim, n, texts, lens)
    local off, floor, hops = start, start, 0
    local k, wire, after = 0, 0, nil
    local suffix
    while true do
        if off >= lim then
            return nil, MessageError("name runs past the end", off)
        end
        local c = p[off]
        if c == 0 then
            wire = wire + 1
            after = after or off + 1
            break
        elseif c <= MAX_LABEL then
            if off + c >= lim then
                return nil, MessageError("label runs past the end", off)
            end
            wire = wire + 1 + c
            if wire >= MAX_NAME then
                return nil, MessageError("name longer than 255 bytes", off)
            end
            k = k + 1
            labels[k] = label_text(s, p, off + 1, off + c)
            off = off + 1 + c
        elseif c >= 0xc0 then
            if off + 1 >= lim then
                return nil, MessageError("compression pointer runs past the end", off)
            end
            local target = (c - 0xc0) * 256 + p[off + 1]
            if target >= floor then
                return nil, MessageError("compression pointer does not point backwards", off)
            end
            hops = hops + 1
            if hops > MAX_HOPS then
                return nil, MessageError("too many compression pointers", off)
            end
            after = after or off + 2
            local known = texts[target]
            if known ~= nil then
                wire = wire + lens[target]
                if wire > MAX_NAME then
                    return nil, MessageError("name longer than 255 bytes", off)
                end
                suffix = known
                break
            end
            off, floor, lim = target, target, n
        else
            -- 0x40 and 0x80 mark label types RFC 6891 retired; as lengths
            -- they are over 63 either way.
            return nil, MessageError(format("label longer than 63 bytes (length byte 0x%02x)", c), off)
        end
    end
    local text
    if k == 0 then
        text = suffix or "."
    elseif suffix == nil or suffix == "." then
        text = concat(labels, ".", 1, k) .. "."
    else
        text = concat(labels, ".", 1, k) .. "." .. suffix
    end
    texts[start], lens[start] = text, wire
    return text, after
end

-------------------------------------------------------------------------------
-- Text to wire. A compiled name is {wire = the wire bytes, offs = {the
-- offset of each label in wire}, keys = {the wire bytes from each label
-- on}}: the keys are what compression matches suffixes by.

local ROOT = { wire = "\0", offs = {}, keys = {} }

local function bad(text, what)
    return nil, MessageError(format("%s in name %q", what, text))
end

-- The labels of text (escapes undone) into out; the count, or nil and the
-- error. Empty labels are refused except for the one final dot.
local function split_escaped(text, out)
    local k, n, i = 0, #text, 1
    local cur = {}
    while true do
        local c = byte(text, i)
        if c == nil or c == 46 then
            if #cur == 0 then
                if c == nil and k > 0 then
                    return k -- the final dot
                end
                return bad(text, "empty label")
            end
            k = k + 1
            out[k] = concat(cur)
            cur = {}
            if c == nil or i == n then
                return k
            end
            i = i + 1
        elseif c == 92 then
            local d1, d2, d3 = byte(text, i + 1, i + 3)
            if d1 == nil then
                return bad(text, "trailing backslash")
            elseif d1 >= 48 and d1 <= 57 then
                local v = d2 and d3 and tonumber(sub(text, i + 1, i + 3))
                if v == nil or v > 255 or d2 < 48 or d2 > 57 or d3 < 48 or d3 > 57 then
                    return bad(text, "bad \\DDD escape")
                end
                cur[#cur + 1] = char(v)
                i = i + 4
            else
                cur[#cur + 1] = char(d1)
                i = i + 2
            end
        else
            local j = find(text, "[.\\]", i) or n + 1
            cur[#cur + 1] = sub(text, i, j - 1)
            i = j
        end
    end
end

-- The same without escapes: a split on dots.
local function split_plain(text, out)
    local k, n, i = 0, #text, 1
    while true do
        local j = find(text, ".", i, true)
        local stop = j and j - 1 or n
        if stop < i then
            return bad(text, "empty label")
        end
        k = k + 1
        out[k] = sub(text, i, stop)
        if j == nil or j == n then
            return k
        end
        i = j + 1
    end
end

local function parse(text)
    if text == "" then
        return nil, MessageError("empty name")
    elseif text == "." then
        return ROOT
    end
    local parts = {}
    local k, err
    if find(text, "\\", 1, true) then
        k, err = split_escaped(text, parts)
    else
        k, err = split_plain(text, parts)
    end
    if k == nil then
        return nil, err
    end
    local size = 1
    for i = 1, k do
        local len = #parts[i]
        if len > MAX_LABEL then
            return bad(text, "label longer than 63 bytes")
        end
        size = size + 1 + len
        parts[i] = char(len) .. parts[i]
    end
    if size > MAX_NAME then
        return bad(text, "name longer than 255 bytes")
    end
    parts[k + 1] = "\0"
    local wire = concat(parts)
    local offs, keys, off = {}, {}, 0
    for i = 1, k do
        offs[i] = off
        keys[i] = sub(wire, off + 1)
        off = off + #parts[i]
    end
    return { wire = wire, offs = offs, keys = keys }
end

-- Compiled names are kept (lnet.memo): a server answers the same few names
-- over and over.
local CACHE_MAX = 4096

-- compile(text): the compiled name, or nil and a MessageError.
_M.compile = memo.new(CACHE_MAX, parse)

-- canonical(text): text as read back from its wire form (the final dot
-- added, escapes as dig writes them), or nil and a MessageError: two texts
-- of one name give the same canonical text.
function _M.canonical(text)
    local e, err = _M.compile(text)
    if e == nil then
        return nil, err
    end
    return (_M.read(e.wire, cast(u8p, e.wire), 0, #e.wire, #e.wire, {}, {}))
end

-- parent(text): the canonical name one label up ("b.c." for "a.b.c."; "."
-- for a top-level name), or nil for the root. Escaped dots are skipped.
function _M.parent(text)
    local i = 1
    while true do
        local c = byte(text, i)
        if c == nil then
            return nil
        elseif c == 92 then
            local d = byte(text, i + 1)
            i = i + ((d ~= nil and d >= 48 and d <= 57) and 4 or 2)
        elseif c == 46 then
            if i == 1 and #text == 1 then
                return nil
            end
            return i == #text and "." or sub(text, i + 1)
        else
            i = i + 1
        end
    end
end

return _M
