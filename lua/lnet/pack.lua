-- lnet.pack: Lua 5.3's string.pack, string.unpack and string.packsize, which
-- LuaJIT lacks, with 5.3's format language, results and error wording.
--
--   pack(fmt, v1, v2, ...) -> string
--   unpack(fmt, s [, pos]) -> v1, v2, ..., next_pos
--   packsize(fmt) -> bytes
--
-- Integers: LuaJIT numbers are doubles, so a value 5.3 would give as an
-- integer comes back as a number when its magnitude is at most 2^53 (every
-- such integer is exact), else as an int64_t cdata (signed options) or a
-- uint64_t cdata (unsigned ones): the same 64 bits 5.3 would hold, so an
-- 'I8' of eight 0xff bytes is 0xffffffffffffffffULL where 5.3 says -1.
-- pack takes integral numbers in [-2^63, 2^63), int64_t and uint64_t cdata
-- (as 5.3 takes the integer with their 64 bits), and numeric strings.
--
-- Speed: a format is parsed once (lnet.packfmt) and compiled into a Lua
-- function of its own (the generated source holds only numbers chosen here,
-- never text of the format), kept per format string; a hot
-- unpack(">I4", s, pos) is one table lookup and straight-line string.byte
-- arithmetic the JIT compiles whole. pack writes into one reused FFI buffer
-- and makes one string at the end.

local ffi = require "ffi"
local bit = require "bit"
local clear = require "table.clear"
local packfmt = require "lnet.packfmt"

local byte, sub, find, format = string.byte, string.sub, string.find, string.format
local concat, sort = table.concat, table.sort
local band, rshift, bswap, tobit = bit.band, bit.rshift, bit.bswap, bit.tobit
local floor = math.floor
local type, tostring, tonumber, select, error, loadstring = type, tostring, tonumber, select, error, loadstring
local pairs, ipairs = pairs, ipairs
local cast, istype, ffi_new, ffi_string = ffi.cast, ffi.istype, ffi.new, ffi.string
local ffi_copy, ffi_fill = ffi.copy, ffi.fill
local getinfo = debug.getinfo

local INT, UINT, FLOAT, CHAR = packfmt.INT, packfmt.UINT, packfmt.FLOAT, packfmt.CHAR
local STRING, ZSTR, PAD, PADALIGN = packfmt.STRING, packfmt.ZSTR, packfmt.PAD, packfmt.PADALIGN
local NATIVE_LITTLE = ffi.abi("le")

local I64, U64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")
local I32P = ffi.typeof("int32_t *")
local FP, DP = ffi.typeof("float *"), ffi.typeof("double *")
local B32, B53, B63 = 2 ^ 32, 2 ^ 53, 2 ^ 63

local _M = {}

-- Errors -------------------------------------------------------------------

-- Where generated code comes from, and this file: frames raise skips, so an
-- error names the line that called pack/unpack/packsize, as 5.3's does.
local GENERATED = "=lnet.pack"
local SELF = getinfo(1, "S").source

local function raise(msg)
    local level = 2
    while true do
        local info = getinfo(level, "S")
        if info == nil or (info.source ~= SELF and info.source ~= GENERATED) then
            break
        end
        level = level + 1
    end
    error(msg, level)
end

local function argerr(fname, k, msg)
    raise(format("bad argument #%d to '%s' (%s)", k, fname, msg))
end

-- Argument k's type for "expected, got ...", of n arguments given.
local function typename(v, k, n)
    return k > n and "no value" or type(v)
end

-- Arguments, as 5.3's luaL_check* take them ---------------------------------

-- integer(v): lua_tointegerx over our values: the 64 bits of v as lo (0 to
-- 2^32-1) and hi (signed, -2^31 to 2^31-1); or nil and whether v was a
-- number at least (a fraction, NaN, an infinity, beyond int64).
local function integer(v)
    local t = type(v)
    if t == "string" then
        v = tonumber(v)
        if v == nil then
            return nil, false
        end
        t = "number"
    end
    if t == "number" then
        if v ~= floor(v) or v < -B63 or v >= B63 then
            return nil, true
        end
        local lo = v % B32
        return lo, (v - lo) / B32
    elseif t == "cdata" and (istype(I64, v) or istype(U64, v)) then
        return tonumber(band(v, 0xffffffff)), tobit(tonumber(rshift(v, 32)))
    end
    return nil, false
end

local function integer_arg(v, fname, k, n)
    local lo, hi = integer(v)
    if lo == nil then
        argerr(fname, k, hi and "number has no integer representation" or "number expected, got " .. typename(v, k, n))
    end
    return lo, hi
end

-- The span of an unsigned integer of 1 to 7 bytes.
local SPAN = {}
for size = 1, 7 do
    SPAN[size] = 2 ^ (8 * size)
end

-- intarg(v, k, n, size, signed): pack's integer argument k as lo, hi (see
-- integer), checked to fit `size` bytes as 5.3 checks it (not at all from
-- 8 bytes up: the bits are written, sign-extended past 8 for signed).
local function intarg(v, k, n, size, signed)
    local lo, hi
    if type(v) == "number" and v >= -B53 and v <= B53 and v == floor(v) then
        lo = v % B32
        hi = (v - lo) / B32
    else
        lo, hi = integer_arg(v, "pack", k, n)
    end
    if size < 8 then
        local ok
        if size <= 4 then
            local span = SPAN[size]
            if signed then
                ok = (hi == 0 and lo < span / 2) or (hi == -1 and lo >= B32 - span / 2)
            else
                ok = hi == 0 and lo < span
            end
        else
            local span = SPAN[size] / B32
            if signed then
                ok = hi >= -span / 2 and hi < span / 2
            else
                ok = hi >= 0 and hi < span
            end
        end
        if not ok then
            argerr("pack", k, signed and "integer overflow" or "unsigned overflow")
        end
    end
    return lo, hi
end

local function numarg(v, k, n)
    local t = type(v)
    local x = (t == "string" or (t == "cdata" and (istype(I64, v) or istype(U64, v)))) and tonumber(v) or nil
    if x == nil then
        argerr("pack", k, "number expected, got " .. typename(v, k, n))
    end
    return x
end

local function string_arg(v, fname, k, n)
    if type(v) == "number" then
        return tostring(v)
    end
    argerr(fname, k, "string expected, got " .. typename(v, k, n))
end

local function strarg(v, k, n)
    return string_arg(v, "pack", k, n)
end

-- Runtime of generated code -----------------------------------------------

-- pack's output: one buffer, reused. pack never yields or calls out to a
-- script, so no two packs share it at once.
local KEEP = 65536
local buf_cap = 4096
local buf = ffi_new("uint8_t[?]", buf_cap)

local function grow(t, need)
    local cap = buf_cap * 2
    while cap < need do
        cap = cap * 2
    end
    local nb = ffi_new("uint8_t[?]", cap)
    ffi_copy(nb, buf, t)
    buf, buf_cap = nb, cap
end

-- room(t, size): the buffer, with room for size more bytes after t.
local function room(t, size)
    if t + size > buf_cap then
        grow(t, t + size)
    end
    return buf
end

-- done(t): the t bytes packed, as a string; a buffer grown past KEEP for a
-- big pack is let go.
local function done(t)
    local s = ffi_string(buf, t)
    if buf_cap > KEEP then
        buf_cap = 4096
        buf = ffi_new("uint8_t[?]", buf_cap)
    end
    return s
end

-- Floats go through memory as C stores and loads them, never arithmetic; a
-- byte order other than ours swaps the bytes. Two special problems of this
-- LuaJIT (2.1.0-beta3, 2022): it folds a pointer cast of a constant string
-- wrongly in compiled code (the load then reads near address 0), so unpack
-- copies bytes with string.byte rather than reading the string through a
-- pointer; and a double loaded from FFI memory is not made a canonical NaN,
-- so a NaN whose high bits look like one of LuaJIT's type tags would come
-- back as nil or worse. A NaN is therefore spotted in its bytes (exponent
-- all ones, a fraction not 0) and returned as LuaJIT's own NaN: its payload
-- is lost, as it would be in any Lua number here.
local NAN = 0 / 0
local scratch = ffi_new("union { float f; double d; int32_t i[2]; uint8_t b[8]; }")

-- rdfloat(s, p, size, little): the float or double at p, stored little- or
-- big-endian.
local function rdfloat(s, p, size, little)
    local b = scratch.b
    if size == 4 then
        local c0, c1, c2, c3 = byte(s, p + 1, p + 4)
        if not little then -- least significant first from here on
            c0, c1, c2, c3 = c3, c2, c1, c0
        end
        if c3 % 128 == 127 and c2 >= 128 and (c2 ~= 128 or c1 + c0 ~= 0) then
            return NAN
        end
        if NATIVE_LITTLE then
            b[0], b[1], b[2], b[3] = c0, c1, c2, c3
        else
            b[0], b[1], b[2], b[3] = c3, c2, c1, c0
        end
        return scratch.f
    end
    local c0, c1, c2, c3, c4, c5, c6, c7 = byte(s, p + 1, p + 8)
    if not little then
        c0, c1, c2, c3, c4, c5, c6, c7 = c7, c6, c5, c4, c3, c2, c1, c0
    end
    if c7 % 128 == 127 and c6 >= 240 and (c6 ~= 240 or c5 + c4 + c3 + c2 + c1 + c0 ~= 0) then
        return NAN
    end
    if NATIVE_LITTLE then
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7] = c0, c1, c2, c3, c4, c5, c6, c7
    else
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7] = c7, c6, c5, c4, c3, c2, c1, c0
    end
    return scratch.d
end

-- wrfloat(b, t, v, size, little): v as a float or double at b + t.
local function wrfloat(b, t, v, size, little)
    local q, native = b + t, little == NATIVE_LITTLE
    if size == 4 then
        if native then
            cast(FP, q)[0] = v
        else
            scratch.f = v
            cast(I32P, q)[0] = bswap(scratch.i[0])
        end
    elseif native then
        cast(DP, q)[0] = v
    else
        scratch.d = v
        cast(I32P, q)[0] = bswap(scratch.i[1])
        cast(I32P, q + 4)[0] = bswap(scratch.i[0])
    end
end

-- mk64(hi, lo, signed): an unpacked 64-bit integer (hi signed for signed
-- options) as a number when it is within 2^53 of 0, else as cdata.
local function mk64(hi, lo, signed)
    if (hi < 2097152 and hi >= -2097152) or (hi == 2097152 and lo == 0) then
        return hi * B32 + lo
    end
    return (signed and I64 or U64)(hi) * B32 + lo
end

local function short()
    argerr("unpack", 2, "data string too short")
end

local function unfinished()
    argerr("unpack", 2, "unfinished string for format 'z'")
end

local function toobig(size)
    raise(format("%d-byte integer does not fit into Lua Integer", size))
end

local function pack_argerr(k, msg)
    argerr("pack", k, msg)
end

local runtime = {
    type = type,
    floor = floor,
    byte = byte,
    sub = sub,
    find = find,
    band = band,
    rshift = rshift,
    copy = ffi_copy,
    fill = ffi_fill,
    raise = raise,
    argerr = pack_argerr,
    intarg = intarg,
    numarg = numarg,
    strarg = strarg,
    room = room,
    done = done,
    rdfloat = rdfloat,
    wrfloat = wrfloat,
    mk64 = mk64,
    short = short,
    unfinished = unfinished,
    toobig = toobig,
}

-- Code generation ------------------------------------------------------------

-- Generated functions take this many ops each and pass the rest on, so a
-- long format stays within LuaJIT's limits on locals and registers.
local CHUNK = 32

local PROLOGUE
do
    local names = {}
    for name in pairs(runtime) do
        names[#names + 1] = name
    end
    sort(names)
    local from = {}
    for i, name in ipairs(names) do
        from[i] = "R." .. name
    end
    PROLOGUE = "local R, E = ...\nlocal " .. concat(names, ", ") .. " = " .. concat(from, ", ") .. "\nlocal F = {}\n"
end

-- The source of a generated chunk, line by line.
local function emitter()
    local lines = {}
    return lines, function(fmt, ...)
        lines[#lines + 1] = format(fmt, ...)
    end
end

-- Which byte of an integer field holds the byte of weight 256^j.
local function offset(size, little, j)
    return little and j or size - 1 - j
end

-- The value of bytes `from` to `to` (weights 256^from ...) read into the
-- locals c0, c1, ... (named by offset in the field).
local function weighed(size, little, from, to)
    local terms = {}
    for j = from, to do
        local c = "c" .. offset(size, little, j)
        terms[#terms + 1] = j == from and c or format("%s * %.0f", c, 256 ^ (j - from))
    end
    return concat(terms, " + ")
end

-- unpack: an integer of `size` bytes at p into `into`.
local function read_int(emit, op, into)
    local size, little, signed = op.size, op.little, op.kind == INT
    local names = {}
    for i = 0, size - 1 do
        names[#names + 1] = "c" .. i
    end
    emit("do local %s = byte(s, p + 1, p + %d)", concat(names, ", "), size)
    if size <= 6 then -- exact in a double
        emit("%s = %s", into, weighed(size, little, 0, size - 1))
        if signed then
            emit("if %s >= %.0f then %s = %s - %.0f end", into, 2 ^ (8 * size - 1), into, into, 2 ^ (8 * size))
        end
    else
        local width = size < 8 and size or 8
        emit("local lo, hi = %s, %s", weighed(size, little, 0, 3), weighed(size, little, 4, width - 1))
        if signed then
            local hibits = 8 * (width - 4)
            emit("if hi >= %.0f then hi = hi - %.0f end", 2 ^ (hibits - 1), 2 ^ hibits)
        end
        if size > 8 then -- the bytes past 8 only extend the sign, as 5.3 checks
            local extra = {}
            for j = 8, size - 1 do
                extra[#extra + 1] = format("c%d ~= m", offset(size, little, j))
            end
            emit("local m = %s", signed and "hi < 0 and 255 or 0" or "0")
            emit("if %s then toobig(%d) end", concat(extra, " or "), size)
        end
        emit("%s = mk64(hi, lo, %s)", into, tostring(signed))
    end
    emit("end")
end

-- pack: an integer of op's size from lo, hi (expressions) and, past 8
-- bytes, the sign-extension byte ext.
local function write_int(emit, op, lo, hi, ext)
    local size, little = op.size, op.little
    for j = 0, (size < 8 and size or 8) - 1 do
        local word, shift = j < 4 and lo or hi, 8 * (j % 4)
        local value = shift == 0 and word or format("rshift(%s, %d)", word, shift)
        emit("b[t + %d] = band(%s, 255)", offset(size, little, j), value)
    end
    if size > 8 then
        emit("fill(b + t + %d, %d, %s)", little and 8 or 0, size - 8, ext)
    end
end

local function unpack_op(emit, op, into)
    local kind, size = op.kind, op.size
    if op.align ~= 0 then
        emit("do local k = band(-p, %d) if k + %d > ld - p then short() end p = p + k end", op.align - 1, size)
    elseif size > 0 then
        emit("if %d > ld - p then short() end", size)
    end
    if kind == INT or kind == UINT then
        read_int(emit, op, into)
    elseif kind == FLOAT then
        emit("%s = rdfloat(s, p, %d, %s)", into, size, tostring(op.little))
    elseif kind == CHAR then
        emit("%s = sub(s, p + 1, p + %d)", into, size)
    elseif kind == STRING then
        emit("do local l")
        read_int(emit, { kind = UINT, size = size, little = op.little }, "l")
        emit("if type(l) ~= 'number' or l > ld - p - %d then short() end", size)
        emit("%s = sub(s, p + %d, p + %d + l) p = p + l end", into, size + 1, size)
    elseif kind == ZSTR then
        emit("do local e = find(s, '\\0', p + 1, true) if e == nil then unfinished() end")
        emit("%s = sub(s, p + 1, e - 1) p = e end", into)
    end
    if size > 0 then
        emit("p = p + %d", size)
    end
end

local function pack_op(emit, op, k)
    local kind, size = op.kind, op.size
    if op.align ~= 0 then
        emit("do local k = band(-t, %d) if k > 0 then b = room(t, k) fill(b + t, k) t = t + k end end", op.align - 1)
    end
    local a = k and "a" .. k
    if kind == INT or kind == UINT then
        local signed = kind == INT
        if size <= 4 then -- in range, a number is its own low word
            local min = signed and -2 ^ (8 * size - 1) or 0
            local max = signed and 2 ^ (8 * size - 1) or 2 ^ (8 * size)
            emit("local v = %s", a)
            emit("if type(v) ~= 'number' or v < %.0f or v >= %.0f or v ~= floor(v) then", min, max)
            emit("v = intarg(v, %d, n, %d, %s) end", k, size, tostring(signed))
            emit("b = room(t, %d)", size)
            write_int(emit, op, "v")
        else
            emit("local lo, hi = intarg(%s, %d, n, %d, %s)", a, k, size, tostring(signed))
            emit("b = room(t, %d)", size)
            write_int(emit, op, "lo", "hi", signed and "hi < 0 and 255 or 0" or "0")
        end
        emit("t = t + %d", size)
    elseif kind == FLOAT then
        emit("local v = %s if type(v) ~= 'number' then v = numarg(v, %d, n) end", a, k)
        emit("b = room(t, %d) wrfloat(b, t, v, %d, %s) t = t + %d", size, size, tostring(op.little), size)
    elseif kind == PAD then
        emit("b = room(t, 1) b[t] = 0 t = t + 1")
    elseif kind ~= PADALIGN then -- the strings
        emit("local v = %s if type(v) ~= 'string' then v = strarg(v, %d, n) end", a, k)
        emit("local l = #v")
        if kind == CHAR then
            emit("if l > %d then argerr(%d, 'string longer than given size') end", size, k)
            emit("b = room(t, %d) copy(b + t, v, l) fill(b + t + l, %d - l) t = t + %d", size, size, size)
        elseif kind == STRING then
            if size < 8 then
                emit("if l >= %.0f then argerr(%d, 'string length does not fit in given size') end", 2 ^ (8 * size), k)
            end
            emit("b = room(t, %d + l)", size)
            write_int(emit, op, "l", "0", "0")
            emit("copy(b + t + %d, v, l) t = t + %d + l", size, size)
        else
            emit("if find(v, '\\0', 1, true) then argerr(%d, 'string contains zeros') end", k)
            emit("b = room(t, l + 1) copy(b + t, v, l) b[t + l] = 0 t = t + l + 1")
        end
    end
end

local function takes_value(op)
    return op.kind ~= PAD and op.kind ~= PADALIGN
end

-- compile(ops, err, head, gen, tail): the generated function. Each chunk of
-- CHUNK ops is F[i]: head(emit, i, first, last) opens it (first and last
-- number the values it packs or unpacks), gen(emit, op, value) does an op
-- (value nil for padding), tail(emit, i, first, last, final) closes it; the
-- last chunk raises err instead, if the format ends in one.
local function compile(ops, err, head, gen, tail)
    local lines, emit = emitter()
    lines[1] = PROLOGUE
    local nchunks = floor((#ops + CHUNK - 1) / CHUNK)
    if nchunks == 0 then
        nchunks = 1
    end
    local value = 0
    for c = 1, nchunks do
        local first = value + 1
        local from, to = (c - 1) * CHUNK + 1, c * CHUNK < #ops and c * CHUNK or #ops
        for i = from, to do
            if takes_value(ops[i]) then
                value = value + 1
            end
        end
        head(emit, c, first, value)
        value = first - 1
        for i = from, to do
            local op = ops[i]
            if takes_value(op) then
                value = value + 1
                gen(emit, op, value)
            else
                gen(emit, op)
            end
        end
        local final = c == nchunks
        if final and err ~= nil then
            emit("raise(E)")
        else
            tail(emit, c, first, value, final)
        end
        emit("end")
    end
    emit("return F[1]")
    return loadstring(concat(lines, "\n"), GENERATED)(runtime, err)
end

-- {prefix .. (first + shift), ..., prefix .. (last + shift)}
local function numbered(prefix, first, last, shift)
    local t = {}
    for i = first, last do
        t[#t + 1] = prefix .. (i + shift)
    end
    return t
end

-- unpack's chunk i: F[i](s, p, ld) with p the 0-based offset, returning its
-- values, then the next chunk's or the next position.
local function unpack_head(emit, c, first, last)
    emit("F[%d] = function(s, p, ld)", c)
    if last >= first then
        emit("local %s", concat(numbered("v", first, last, 0), ", "))
    end
end

local function unpack_tail(emit, c, first, last, final)
    local vals = numbered("v", first, last, 0)
    vals[#vals + 1] = final and "p + 1" or format("F[%d](s, p, ld)", c + 1)
    emit("return %s", concat(vals, ", "))
end

local function unpack_gen(emit, op, value)
    unpack_op(emit, op, value and "v" .. value or nil)
end

-- pack's chunk i: F[i](n, t, a..., ...) with n the number of arguments
-- (the format's included, and 5.3's nil mark: see _M.pack), t the bytes
-- packed so far, a<k> argument k (a1 is the format), the rest passed on.
local function pack_head(emit, c, first, last)
    local params = { "n", "t" }
    if c == 1 then
        params[3] = "a1"
    end
    for _, name in ipairs(numbered("a", first, last, 1)) do
        params[#params + 1] = name
    end
    params[#params + 1] = "..."
    emit("F[%d] = function(%s)", c, concat(params, ", "))
    emit("local b")
end

local function pack_tail(emit, c, _, _, final)
    emit(final and "return done(t)" or format("return F[%d](n, t, ...)", c + 1))
end

local function pack_gen(emit, op, value)
    emit("do")
    pack_op(emit, op, value and value + 1)
    emit("end")
end

-- Plans ----------------------------------------------------------------------

-- Compiled formats, per function, by format; a table past MAX entries starts
-- over, so formats made on the fly cannot grow it without bound.
local MAX = 256
local counts = {}

local function remember(plans, fmt, plan)
    local n = (counts[plans] or 0) + 1
    if n > MAX then
        clear(plans)
        n = 1
    end
    counts[plans] = n
    plans[fmt] = plan
    return plan
end

local function format_arg(fmt, fname, n)
    if type(fmt) == "string" then
        return fmt
    end
    return string_arg(fmt, fname, 1, n)
end

local function parse(fmt, fname, n)
    local ops, err = packfmt.parse(format_arg(fmt, fname, n))
    local msg = err and (err.arg1 and format("bad argument #1 to '%s' (%s)", fname, err.msg) or err.msg)
    return ops, msg
end

local pack_plans, unpack_plans, size_plans = {}, {}, {}

local function pack_plan(fmt, n)
    local ops, err = parse(fmt, "pack", n)
    return remember(pack_plans, fmt, compile(ops, err, pack_head, pack_gen, pack_tail))
end

local function unpack_plan(fmt, n)
    local ops, err = parse(fmt, "unpack", n)
    return remember(unpack_plans, fmt, compile(ops, err, unpack_head, unpack_gen, unpack_tail))
end

-- packsize's plan is its answer: the size, or the message it raises.
local function size_plan(fmt, n)
    local size, msg, arg1 = packfmt.packsize(packfmt.parse(format_arg(fmt, "packsize", n)))
    if size == nil then
        size = arg1 and format("bad argument #1 to 'packsize' (%s)", msg) or msg
    end
    return remember(size_plans, fmt, size)
end

-- API ------------------------------------------------------------------------

-- 5.3's pack pushes a nil after its arguments (to mark where its buffer
-- starts), so the first one missing reads as nil, not "no value": the
-- generated code is told there is one argument more than given.
function _M.pack(...)
    local fmt = ...
    local f = pack_plans[fmt] or pack_plan(fmt, select("#", ...))
    return f(select("#", ...) + 1, 0, ...)
end

-- unpack's initial position: posrelat's rule, then 0-based.
local function position(pos, ld, n)
    if type(pos) ~= "number" or pos ~= floor(pos) or pos < -B63 or pos >= B63 then
        local lo, hi = integer_arg(pos, "unpack", 3, n)
        pos = hi * B32 + lo
    end
    if pos < 0 then
        pos = -pos > ld and 0 or ld + pos + 1
    end
    if pos < 1 or pos > ld + 1 then
        argerr("unpack", 3, "initial position out of string")
    end
    return pos - 1
end

function _M.unpack(...)
    local fmt, s, pos = ...
    local f = unpack_plans[fmt] or unpack_plan(fmt, select("#", ...))
    if type(s) ~= "string" then
        s = string_arg(s, "unpack", 2, select("#", ...))
    end
    local ld = #s
    if type(pos) == "number" and pos >= 1 and pos <= ld + 1 and pos == floor(pos) then
        return f(s, pos - 1, ld)
    end
    return f(s, pos == nil and 0 or position(pos, ld, select("#", ...)), ld)
end

function _M.packsize(...)
    local fmt = ...
    local size = size_plans[fmt] or size_plan(fmt, select("#", ...))
    if type(size) == "string" then
        raise(size)
    end
    return size
end

return _M
