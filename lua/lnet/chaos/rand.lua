-- lnet.chaos.rand (private): the seeded generators behind every random
-- choice chaos makes, so that the same seed gives the same faults.
--
-- xoshiro128** (Blackman and Vigna) on 32-bit words, which LuaJIT's bit
-- library computes inside traces; its state is seeded through splitmix32
-- from the seed and a stream number. Each conn and direction draws from a
-- stream of its own (new(seed, conn, dir)), so the choices one conn sees do
-- not depend on how the scheduler interleaved it with the others.

local bit = require "bit"

local band, bxor, rshift, lshift, rol, tobit = bit.band, bit.bxor, bit.rshift, bit.lshift, bit.rol, bit.tobit
local setmetatable, type, error = setmetatable, type, error
local floor, log, sqrt, cos, pi = math.floor, math.log, math.sqrt, math.cos, math.pi

local _M = {}

local TWO32 = 2 ^ 32

-- a * b mod 2^32 for 32-bit words, exact in doubles (split b in halves).
local function mul32(a, b)
    a = a % TWO32
    local lo = band(b, 0xffff)
    local hi = rshift(b, 16)
    return tobit((a * lo + ((a * hi) % 65536) * 65536) % TWO32)
end

-- splitmix32: a good scrambler of consecutive numbers.
local function splitmix(x)
    x = tobit(x + 0x9e3779b9)
    local z = x
    z = mul32(bxor(z, rshift(z, 16)), 0x85ebca6b)
    z = mul32(bxor(z, rshift(z, 13)), 0xc2b2ae35)
    return x, bxor(z, rshift(z, 16))
end

local Rand = {}
Rand.__index = Rand

-- new(seed [, a [, b]]): a generator for the stream (a, b) of seed (whole
-- numbers; strings are hashed).
local function hash(v)
    if type(v) == "string" then
        local h = 0x811c9dc5
        for i = 1, #v do
            h = mul32(bxor(h, v:byte(i)), 0x01000193)
        end
        return h
    end
    return tobit(floor(v or 0) % TWO32)
end

function _M.new(seed, a, b)
    local x = bxor(hash(seed), mul32(hash(a), 0x27d4eb2f), mul32(hash(b), 0x165667b1))
    local s = {}
    for i = 1, 4 do
        x, s[i] = splitmix(x)
    end
    if s[1] == 0 and s[2] == 0 and s[3] == 0 and s[4] == 0 then
        s[1] = 1 -- the one state xoshiro cannot leave
    end
    return setmetatable({ s[1], s[2], s[3], s[4] }, Rand)
end

-- next32(): the next 32-bit word, as a number in [0, 2^32).
function Rand:next32()
    local s0, s1, s2, s3 = self[1], self[2], self[3], self[4]
    local result = mul32(rol(mul32(s1, 5), 7), 9)
    local t = lshift(s1, 9)
    s2 = bxor(s2, s0)
    s3 = bxor(s3, s1)
    s1 = bxor(s1, s2)
    s0 = bxor(s0, s3)
    s2 = bxor(s2, t)
    s3 = rol(s3, 11)
    self[1], self[2], self[3], self[4] = s0, s1, s2, s3
    return result % TWO32
end

-- random(): a number in [0, 1).
function Rand:random()
    return self:next32() / TWO32
end

-- chance(p): true with probability p.
function Rand:chance(p)
    return p >= 1 or (p > 0 and self:next32() < p * TWO32)
end

-- int(n): a whole number in [0, n).
function Rand:int(n)
    return floor(self:next32() / TWO32 * n)
end

-- uniform(a, b): a number in [a, b].
function Rand:uniform(a, b)
    return a + (b - a) * self:random()
end

-- normal(mean, sd): Box-Muller (one of the pair: the stream stays simple).
function Rand:normal(mean, sd)
    local u = 1 - self:random() -- (0, 1]: log is finite
    return mean + sd * sqrt(-2 * log(u)) * cos(2 * pi * self:random())
end

-- skip(p): how many trials before the next success of probability p
-- (geometric), for spreading rare per-byte events without a draw per byte.
function Rand:skip(p)
    if p >= 1 then
        return 0
    elseif p <= 0 then
        return math.huge
    end
    return floor(log(1 - self:random()) / log(1 - p))
end

function _M.check_seed(v, fname)
    if v ~= nil and type(v) ~= "number" and type(v) ~= "string" then
        error("bad argument #1 to '" .. fname .. "' (seed: number or string expected, got " .. type(v) .. ")", 3)
    end
end

return _M
