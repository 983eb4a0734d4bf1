-- bench/pack.lua: lnet.pack and lnet.unpack against the same work written
-- by hand with string.byte/string.char (and the FFI for doubles), the way a
-- LuaJIT script does it without them.
--
--   build/lnet bench/pack.lua [seconds per figure]     (default 0.5)
--
-- Prints, per format, the calls per second of lnet's and of the hand-written
-- code and their ratio. Each loop's result feeds a checksum that is compared
-- between the two, so neither side can be optimised away or be wrong.

local ffi = require "ffi"
local bit = require "bit"
local lnet = require "lnet"

local pack, unpack = lnet.pack, lnet.unpack
local byte, char, sub = string.byte, string.char, string.sub
local band, rshift = bit.band, bit.rshift
local clock = os.clock

local SECONDS = tonumber((...)) or 0.5
local N = 100000 -- calls per timed round

-- 64 KiB of data to read from, at offsets that walk it.
local DATA
do
    local t = {}
    for i = 1, 65536 do
        t[i] = char((i * 7919) % 256)
    end
    DATA = table.concat(t)
end
local LAST = #DATA - 16

-- Calls per second of fn(n), which makes n calls and returns a checksum.
local function rate(fn)
    fn(N) -- warm up: let the JIT compile it
    local calls, sum = 0, 0
    local t0 = clock()
    repeat
        sum = sum + fn(N)
        calls = calls + N
    until clock() - t0 >= SECONDS
    return calls / (clock() - t0), fn(N)
end

local dbl = ffi.new("union { double d; uint8_t b[8]; }")

local cases = {
    {
        "unpack('>I4', s, pos)",
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local v, next = unpack(">I4", DATA, pos)
                sum = sum + v
                pos = next < LAST and next or 1
            end
            return sum
        end,
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local a, b, c, d = byte(DATA, pos, pos + 3)
                sum = sum + ((a * 256 + b) * 256 + c) * 256 + d
                pos = pos + 4 < LAST and pos + 4 or 1
            end
            return sum
        end,
    },
    {
        "unpack('<i2', s, pos)",
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local v, next = unpack("<i2", DATA, pos)
                sum = sum + v
                pos = next < LAST and next or 1
            end
            return sum
        end,
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local a, b = byte(DATA, pos, pos + 1)
                local v = b * 256 + a
                sum = sum + (v >= 32768 and v - 65536 or v)
                pos = pos + 2 < LAST and pos + 2 or 1
            end
            return sum
        end,
    },
    {
        "unpack('>B H I4', s, pos)",
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local a, b, c, next = unpack(">B H I4", DATA, pos)
                sum = sum + a + b + c
                pos = next < LAST and next or 1
            end
            return sum
        end,
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local a, b1, b2, c1, c2, c3, c4 = byte(DATA, pos, pos + 6)
                sum = sum + a + (b1 * 256 + b2) + ((c1 * 256 + c2) * 256 + c3) * 256 + c4
                pos = pos + 7 < LAST and pos + 7 or 1
            end
            return sum
        end,
    },
    {
        "unpack('<d', s, pos)",
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                local v, next = unpack("<d", DATA, pos)
                sum = sum + (v == v and v > -1 and v < 1 and v or 0)
                pos = next < LAST and next or 1
            end
            return sum
        end,
        function(n)
            local sum, pos = 0, 1
            for _ = 1, n do
                ffi.copy(dbl.b, sub(DATA, pos, pos + 7), 8)
                local v = dbl.d
                sum = sum + (v == v and v > -1 and v < 1 and v or 0)
                pos = pos + 8 < LAST and pos + 8 or 1
            end
            return sum
        end,
    },
    {
        "pack('>I4', v)",
        function(n)
            local sum = 0
            for i = 1, n do
                sum = sum + #pack(">I4", i)
            end
            return sum
        end,
        function(n)
            local sum = 0
            for i = 1, n do
                local s = char(rshift(i, 24), band(rshift(i, 16), 255), band(rshift(i, 8), 255), band(i, 255))
                sum = sum + #s
            end
            return sum
        end,
    },
    {
        "pack('>B H I4', a, b, c)",
        function(n)
            local sum = 0
            for i = 1, n do
                sum = sum + #pack(">B H I4", band(i, 255), band(i, 65535), i)
            end
            return sum
        end,
        function(n)
            local sum = 0
            for i = 1, n do
                local s = char(band(i, 255), band(rshift(i, 8), 255), band(i, 255), band(rshift(i, 24), 255),
                    band(rshift(i, 16), 255), band(rshift(i, 8), 255), band(i, 255))
                sum = sum + #s
            end
            return sum
        end,
    },
    {
        "pack('>s2', str)",
        function(n)
            local sum = 0
            for i = 1, n do
                sum = sum + #pack(">s2", sub(DATA, 1, band(i, 63)))
            end
            return sum
        end,
        function(n)
            local sum = 0
            for i = 1, n do
                local s = sub(DATA, 1, band(i, 63))
                sum = sum + #(char(rshift(#s, 8), band(#s, 255)) .. s)
            end
            return sum
        end,
    },
    {
        "pack('<d', x)",
        function(n)
            local sum = 0
            for i = 1, n do
                sum = sum + #pack("<d", i * 0.5)
            end
            return sum
        end,
        function(n)
            local sum = 0
            for i = 1, n do
                dbl.d = i * 0.5
                sum = sum + #ffi.string(dbl.b, 8)
            end
            return sum
        end,
    },
}

print(("%-28s %14s %14s %8s"):format("format", "lnet calls/s", "by hand", "ratio"))
local failed = false
for _, case in ipairs(cases) do
    local name, ours, theirs = case[1], case[2], case[3]
    local r1, sum1 = rate(ours)
    local r2, sum2 = rate(theirs)
    if sum1 ~= sum2 then
        print(("%s: checksums differ: %s vs %s"):format(name, sum1, sum2))
        failed = true
    end
    print(("%-28s %14.0f %14.0f %8.2f"):format(name, r1, r2, r1 / r2))
end
if failed then
    os.exit(1)
end
