-- lnet.chaos.framer (private): where messages end in a byte stream, for
-- toxics whose scope is "message". A framer is made from a spec:
--   "line"                         up to and including "\n"
--   {delimiter = s}                up to and including s
--   {prefix = 1|2|4|8|"varint", order = "big"|"little", include = false}
--                                  a length prefix (of the body, as
--                                  lnet.bufio's read_frame reads it; include
--                                  = true: of the whole message, prefix too;
--                                  varint: LEB128, 7 bits a byte, low first)
--   {size = n}                     messages of n bytes each
--   function(buf) -> n | nil       the length of the first whole message at
--                                  the start of buf, nil when it is not all there
-- framer:split(buf) returns that length or nil. A message is at most MAX
-- bytes: past that, what is buffered goes on as one unit, so no peer can
-- make the proxy hold an unbounded message.

local type, error, tostring, setmetatable = type, error, tostring, setmetatable
local byte, find = string.byte, string.find
local floor, min = math.floor, math.min

local _M = { MAX = 1024 * 1024 }

local Framer = {}
Framer.__index = Framer

local function bad(msg)
    error("bad framer (" .. msg .. ")", 4)
end

local function delimited(delim)
    return function(buf)
        local _, e = find(buf, delim, 1, true)
        return e
    end
end

-- A varint at the start of buf: its value and size, or nil (not all
-- there; over 10 bytes it is taken as ended, and the unit cap applies).
local function varint(buf)
    local n, scale = 0, 1
    for i = 1, min(#buf, 10) do
        local b = byte(buf, i)
        n = n + (b % 128) * scale
        if b < 128 or i == 10 then
            return n, i
        end
        scale = scale * 128
    end
    return nil
end

local function prefixed(width, little, include)
    return function(buf)
        local n
        if width == "varint" then
            n, width = varint(buf)
            if n == nil then
                return nil
            end
        else
            if #buf < width then
                return nil
            end
            n = 0
            for i = 1, width do
                n = n * 256 + byte(buf, little and width - i + 1 or i)
            end
        end
        local total = include and n or n + width
        if total < width then
            total = width -- a length shorter than its own prefix: the prefix alone
        end
        if #buf < total then
            return nil
        end
        return total
    end
end

local function sized(n)
    return function(buf)
        if #buf >= n then
            return n
        end
    end
end

-- new(spec): a framer; misuse raises (a spec is the script's, not a peer's).
function _M.new(spec)
    local fn
    if spec == "line" then
        fn = delimited("\n")
    elseif type(spec) == "function" then
        fn = spec
    elseif type(spec) ~= "table" then
        bad("\"line\", table or function expected, got " .. type(spec))
    elseif spec.delimiter ~= nil then
        if type(spec.delimiter) ~= "string" or spec.delimiter == "" then
            bad("delimiter: non-empty string expected")
        end
        fn = delimited(spec.delimiter)
    elseif spec.prefix ~= nil then
        local w = spec.prefix
        if w ~= 1 and w ~= 2 and w ~= 4 and w ~= 8 and w ~= "varint" then
            bad("prefix: 1, 2, 4, 8 or \"varint\" expected, got " .. tostring(w))
        end
        local order = spec.order or "big"
        if order ~= "big" and order ~= "little" then
            bad("order: \"big\" or \"little\" expected, got " .. tostring(order))
        end
        fn = prefixed(w, order == "little", spec.include == true)
    elseif spec.size ~= nil then
        local n = spec.size
        if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
            bad("size: positive integer expected, got " .. tostring(n))
        end
        fn = sized(n)
    else
        bad("one of delimiter, prefix or size expected")
    end
    return setmetatable({ fn = fn, spec = spec }, Framer)
end

-- split(buf): the length of the first whole message at the start of buf, or
-- nil; a buffer of MAX bytes or more with no end in it is one unit.
function Framer:split(buf)
    local n = self.fn(buf)
    if n ~= nil then
        n = floor(n)
        if n >= 1 and n <= #buf then
            return n
        end
    end
    if #buf >= _M.MAX then
        return #buf
    end
    return nil
end

return _M
