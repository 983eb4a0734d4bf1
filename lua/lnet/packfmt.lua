-- lnet.packfmt (private): Lua 5.3's string.pack format language, parsed once
-- into a plan that lnet.pack compiles.
--
--   parse(fmt) -> ops, err
--   packsize(ops, err) -> size | nil, msg, arg1
--
-- An op is {kind, size, align, little}: `kind` one of the constants below,
-- `size` its bytes (the length prefix's for STRING, 0 for ZSTR and
-- PADALIGN), `align` the power of two its start is rounded up to (0: none),
-- `little` its byte order. Options that only set state (' ', '<', '>', '=',
-- '!n') and an 'X' that aligns to 1 leave no op.
--
-- Lua 5.3 parses a format as it packs, so an error at the k-th option comes
-- only after the options before it did their work (and raised their own
-- errors). `err` keeps that order: it is the error the option after the
-- last op raises, {msg, arg1}, where `arg1` says whether 5.3 words it as a
-- bad argument #1 (luaL_argerror) or plainly (luaL_error). The rules and
-- their wording are lstrlib.c's (5.3.6): getnum, getnumlimit, getoption,
-- getdetails, str_packsize.

local ffi = require "ffi"
local bit = require "bit"

local byte, format, char, find, sub = string.byte, string.format, string.char, string.find, string.sub
local band = bit.band
local floor = math.floor
local error, pcall, type = error, pcall, type

local _M = {}

local INT, UINT, FLOAT, CHAR, STRING, ZSTR, PAD, PADALIGN = 1, 2, 3, 4, 5, 6, 7, 8
_M.INT, _M.UINT, _M.FLOAT, _M.CHAR = INT, UINT, FLOAT, CHAR
_M.STRING, _M.ZSTR, _M.PAD, _M.PADALIGN = STRING, ZSTR, PAD, PADALIGN

-- The C sizes 5.3 takes from its platform; here, LuaJIT's.
local NATIVE_LITTLE = ffi.abi("le")
local SIZEOF_SHORT, SIZEOF_INT = ffi.sizeof("short"), ffi.sizeof("int")
local SIZEOF_LONG, SIZEOF_SIZE_T = ffi.sizeof("long"), ffi.sizeof("size_t")
-- lua_Integer and lua_Number of a stock 5.3: int64_t and double.
local SIZEOF_INTEGER, SIZEOF_NUMBER = 8, 8
-- MAXALIGN: offsetof(struct {char c; union {double; void *; int64_t} u}, u).
local MAXALIGN = ffi.offsetof("struct { char c; union { double d; void *p; int64_t i; } u; }", "u")
local MAXINTSIZE = 16
-- MAXSIZE: 5.3 caps sizes at INT_MAX where size_t is wider.
local MAXSIZE = 0x7fffffff
_M.MAXINTSIZE = MAXINTSIZE

local DIGIT_0, DIGIT_9 = 48, 57
-- getnum takes no more digits once its value passes this.
local GETNUM_MAX = floor((MAXSIZE - 9) / 10)

-- Options with a fixed size: byte -> {kind, size}.
local fixed = {
    [byte "b"] = { INT, 1 },
    [byte "B"] = { UINT, 1 },
    [byte "h"] = { INT, SIZEOF_SHORT },
    [byte "H"] = { UINT, SIZEOF_SHORT },
    [byte "l"] = { INT, SIZEOF_LONG },
    [byte "L"] = { UINT, SIZEOF_LONG },
    [byte "j"] = { INT, SIZEOF_INTEGER },
    [byte "J"] = { UINT, SIZEOF_INTEGER },
    [byte "T"] = { UINT, SIZEOF_SIZE_T },
    [byte "f"] = { FLOAT, 4 },
    [byte "d"] = { FLOAT, 8 },
    [byte "n"] = { FLOAT, SIZEOF_NUMBER },
    [byte "z"] = { ZSTR, 0 },
    [byte "x"] = { PAD, 1 },
    [byte "X"] = { PADALIGN, 0 },
}
local OPT_i, OPT_I, OPT_s, OPT_c = byte "i", byte "I", byte "s", byte "c"
local OPT_SPACE, OPT_LT, OPT_GT, OPT_EQ, OPT_BANG = byte " ", byte "<", byte ">", byte "=", byte "!"

-- A byte as 5.3's "%c" writes it in a message: itself if printable, else
-- "<\ddd>".
local function printable(c)
    return (c >= 32 and c <= 126) and char(c) or format("<\\%d>", c)
end

-- Raised inside parse, caught by its pcall: the error 5.3 would raise here.
local function fail(msg, arg1)
    error({ msg = msg, arg1 = arg1 }, 0)
end

-- The parser's state over one format: position, byte order, max alignment.
local function parser(fmt)
    local st = { fmt = fmt, i = 1, little = NATIVE_LITTLE, maxalign = 1 }

    -- getnum: a numeral, or df if none. Like 5.3 it stops taking digits once
    -- the value passes (MAXSIZE - 9) / 10, so the rest are the next options.
    local function getnum(df)
        local c = byte(fmt, st.i)
        if c == nil or c < DIGIT_0 or c > DIGIT_9 then
            return df
        end
        local a = 0
        repeat
            a = a * 10 + (c - DIGIT_0)
            st.i = st.i + 1
            c = byte(fmt, st.i)
        until c == nil or c < DIGIT_0 or c > DIGIT_9 or a > GETNUM_MAX
        return a
    end

    local function getnumlimit(df)
        local sz = getnum(df)
        if sz > MAXINTSIZE or sz <= 0 then
            fail(format("integral size (%d) out of limits [1,%d]", sz, MAXINTSIZE))
        end
        return sz
    end

    -- getoption: the next option's kind (nil for one that only sets state)
    -- and size.
    function st.option()
        local c = byte(fmt, st.i)
        st.i = st.i + 1
        local f = fixed[c]
        if f ~= nil then
            return f[1], f[2]
        elseif c == OPT_i or c == OPT_I then
            return c == OPT_i and INT or UINT, getnumlimit(SIZEOF_INT)
        elseif c == OPT_s then
            return STRING, getnumlimit(SIZEOF_SIZE_T)
        elseif c == OPT_c then
            local size = getnum(-1)
            if size == -1 then
                fail("missing size for format option 'c'")
            end
            return CHAR, size
        elseif c == OPT_LT or c == OPT_GT then
            st.little = c == OPT_LT
        elseif c == OPT_EQ then
            st.little = NATIVE_LITTLE
        elseif c == OPT_BANG then
            st.maxalign = getnumlimit(MAXALIGN)
        elseif c ~= OPT_SPACE then
            fail(format("invalid format option '%s'", printable(c)))
        end
        return nil, 0
    end

    return st
end

-- getdetails: the next op, or nil for an option that leaves none.
local function next_op(st)
    local kind, size = st.option()
    local align = size
    if kind == PADALIGN then -- 'X' aligns to the option after it, which it consumes
        local next_kind
        if st.i > #st.fmt then
            align = 0
        else
            next_kind, align = st.option()
        end
        if next_kind == CHAR or align == 0 then
            fail("invalid next option for option 'X'", true)
        end
    end
    if align <= 1 or kind == CHAR then
        align = 0
    else
        if align > st.maxalign then
            align = st.maxalign
        end
        if band(align, align - 1) ~= 0 then
            fail("format asks for alignment not power of 2", true)
        end
        if align == 1 then
            align = 0
        end
    end
    if kind == nil or (kind == PADALIGN and align == 0) then
        return nil
    end
    return { kind = kind, size = size, align = align, little = st.little }
end

-- parse(fmt): fmt's ops, and the error (or nil) that ends it. fmt is read
-- up to its first NUL, as 5.3 reads a C string.
function _M.parse(fmt)
    local nul = find(fmt, "\0", 1, true)
    if nul ~= nil then
        fmt = sub(fmt, 1, nul - 1)
    end
    local st = parser(fmt)
    local ops = {}
    local ok, err = pcall(function()
        while st.i <= #fmt do
            local op = next_op(st)
            if op ~= nil then
                ops[#ops + 1] = op
            end
        end
    end)
    if not ok and type(err) ~= "table" then
        error(err, 0) -- a bug here, not a format error
    end
    return ops, not ok and err or nil
end

-- The bytes that align offset `at` to `align` (a power of two, or 0).
local function padding(at, align)
    if align == 0 then
        return 0
    end
    return band(-at, align - 1)
end

-- packsize(ops, err): str_packsize over a parsed format: the size, or nil
-- and the error 5.3 raises (its message, and whether it is argument #1's).
function _M.packsize(ops, err)
    local total = 0
    for i = 1, #ops do
        local op = ops[i]
        local size = op.size + padding(total, op.align)
        if total > MAXSIZE - size then
            return nil, "format result too large", true
        end
        total = total + size
        if op.kind == STRING or op.kind == ZSTR then
            return nil, "variable-length format", true
        end
    end
    if err ~= nil then
        return nil, err.msg, err.arg1
    end
    return total
end

return _M
