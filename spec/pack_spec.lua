-- lnet.pack, lnet.unpack, lnet.packsize (issue 11, item 3) against the real
-- Lua 5.3: every case below is also written out as a Lua chunk, run by
-- `lua5.3` (and `lua5.4`) at test time, and lnet must give what it gives:
-- the same bytes, the same values (an integer beyond 2^53 as int64_t or
-- uint64_t cdata with the same 64 bits), the same error wording. Nothing
-- here is an expected value written by hand. Then a seeded fuzz of unpack
-- (LNET_FUZZ_SECS, default 5; LNET_FUZZ_SEED), compared with lua5.4 too,
-- and lnet.hexdump against `xxd`.

local ffi = require "ffi"
local bit = require "bit"
local lnet = require "lnet"
local packfmt = require "lnet.packfmt"
local busted_helper = require "lnet.busted"

local process = lnet.process
local byte, char, format, rep = string.byte, string.char, string.format, string.rep
local concat = table.concat
local floor = math.floor

local I64, U64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")
local TWO53 = 2 ^ 53

local FUZZ_SECS = tonumber(os.getenv("LNET_FUZZ_SECS")) or 5
local FUZZ_SEED = tonumber(os.getenv("LNET_FUZZ_SEED")) or 20240611

-- Running the reference Lua --------------------------------------------------

-- interp's stdout for the chunk source, fed on its stdin.
local function run_lua(interp, source)
    local proc = assert(process.spawn({ argv = { interp, "-" }, stdin = "pipe", stdout = "pipe", stderr = "inherit" }))
    local writer = lnet.go(function()
        assert(proc.stdin:write(source) == #source)
        proc.stdin:close()
    end)
    local out = {}
    while true do
        local data = proc.stdout:read(65536)
        if data == nil then
            break
        end
        out[#out + 1] = data
    end
    proc.stdout:close()
    writer:join()
    assert.are.equal(0, proc:wait())
    return concat(out)
end

local function hex(s)
    return (s:gsub(".", function(c)
        return format("%02x", byte(c))
    end))
end

local function unhex(h)
    return (h:gsub("%x%x", function(x)
        return char(tonumber(x, 16))
    end))
end

-- Results as one line a case: "E <hex of the message, position stripped>",
-- or "R" and a token per value: i<64 bits in hex> (an integer), f<the
-- double's bytes, little-endian> or fnan (a float), s<hex> (a string).
local PRELUDE = [[
local function hex(s)
    return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local function enc(ok, ...)
    if not ok then
        return "E " .. hex((tostring((...)):gsub("^[^\n]-:%d+: ", "")))
    end
    local t = { "R" }
    for i = 1, select("#", ...) do
        local v = select(i, ...)
        if math.type(v) == "integer" then
            t[#t + 1] = string.format("i%016x", v)
        elseif math.type(v) == "float" then
            t[#t + 1] = v ~= v and "fnan" or "f" .. hex(string.pack("<d", v))
        else
            t[#t + 1] = "s" .. hex(v)
        end
    end
    return table.concat(t, " ")
end
]]

-- A Lua literal that 5.3 reads as the value lnet is given: an int64_t or
-- uint64_t as the integer of the same 64 bits (5.3's hex literals wrap).
local function literal(v)
    local t = type(v)
    if t == "string" then
        return '"' .. v:gsub("[^%w ]", function(c)
            return format("\\%03d", byte(c))
        end) .. '"'
    elseif t == "number" then
        if v ~= v then
            return "(0/0)"
        elseif v == 1 / 0 or v == -1 / 0 then
            return v > 0 and "(1/0)" or "(-1/0)"
        elseif v == 0 and 1 / v < 0 then
            return "(-0.0)"
        elseif v == floor(v) and v >= -TWO53 and v <= TWO53 then
            return format("%d", v)
        end
        return format("%a", v)
    elseif t == "cdata" then
        return "0x" .. bit.tohex(v, 16)
    elseif t == "table" then
        return "{}"
    end
    return tostring(v)
end

-- Past this many arguments a call passes them through table.unpack, as
-- 5.3 has 255 registers for a call's arguments.
local MANY_ARGS = 100

local function call_text(case)
    local args = {}
    for i = 1, case.n do
        args[i] = literal(case.args[i])
    end
    if case.n > MANY_ARGS then
        return format("string.%s(table.unpack({%s}, 1, %d))", case.fn, concat(args, ", "), case.n)
    end
    return format("string.%s(%s)", case.fn, concat(args, ", "))
end

-- What interp answers for each case, a line each.
local function reference(interp, cases)
    local lines = { PRELUDE }
    for i, case in ipairs(cases) do
        lines[i + 1] = format("print(enc(pcall(function() return %s end)))", call_text(case))
    end
    local out = run_lua(interp, concat(lines, "\n"))
    local results = {}
    for line in out:gmatch("([^\n]*)\n") do
        results[#results + 1] = line
    end
    assert.are.equal(#cases, #results)
    return results
end

-- Comparing lnet's answers ---------------------------------------------------

local dbits = ffi.new("union { double d; uint8_t b[8]; }")
local function double_hex(v)
    dbits.d = v
    local s = ffi.string(dbits.b, 8)
    return hex(ffi.abi("le") and s or s:reverse())
end

-- Does lnet's value v stand for the reference's token? An integer must be a
-- number if it is within 2^53 of 0, else cdata of the signedness the
-- magnitude needs, with the same bits.
local function matches(token, v)
    local tag, body = token:sub(1, 1), token:sub(2)
    if tag == "s" then
        return type(v) == "string" and hex(v) == body
    elseif token == "fnan" then
        return type(v) == "number" and v ~= v
    elseif tag == "f" then
        return type(v) == "number" and double_hex(v) == body
    elseif tag == "i" then
        if type(v) == "number" then
            return v == floor(v) and v >= -TWO53 and v <= TWO53 and bit.tohex(I64(v), 16) == body
        elseif ffi.istype(I64, v) then
            return (v > TWO53 or v < -TWO53) and bit.tohex(v, 16) == body
        elseif ffi.istype(U64, v) then
            return v > TWO53 and bit.tohex(v, 16) == body
        end
    end
    return false
end

-- An error message without the "file:line: " where it was raised.
local function strip(msg)
    return (tostring(msg):gsub("^[^\n]-:%d+: ", ""))
end

local function show(ok, res)
    local t = { ok and "returned" or "raised" }
    for i = 1, res.n do
        t[#t + 1] = type(res[i]) == "string" and format("%q", res[i]) or tostring(res[i])
    end
    return concat(t, " ")
end

local function values(...)
    return { n = select("#", ...), ... }
end

-- nil, or what differs between lnet's answer to case and the reference line.
local function differs(case, line)
    local res
    local ok, err = pcall(function()
        res = values(lnet[case.fn](unpack(case.args, 1, case.n)))
    end)
    if not ok then
        res = { n = 1, err }
    end
    local why
    if line:sub(1, 1) == "E" then
        local want = unhex(line:sub(3))
        if ok or strip(res[1]) ~= want then
            why = "want error " .. format("%q", want)
        end
    else
        local tokens = {}
        for tok in line:gmatch("%S+") do
            tokens[#tokens + 1] = tok
        end
        table.remove(tokens, 1)
        if not ok or res.n ~= #tokens then
            why = "want " .. #tokens .. " values: " .. concat(tokens, " ")
        else
            for i, tok in ipairs(tokens) do
                if not matches(tok, res[i]) then
                    why = format("value %d: want %s", i, tok)
                    break
                end
            end
        end
    end
    return why and format("%s: lnet %s; %s", call_text(case), show(ok, res), why)
end

-- Checks every case against interp (cases with ref = "5.4" against lua5.4:
-- where 5.3 has a bug 5.4 fixed, lnet does as 5.4 does). Returns the
-- reference lines.
local function check_all(cases)
    local r53 = reference("lua5.3", cases)
    local r54 = reference("lua5.4", cases)
    local bad = {}
    for i, case in ipairs(cases) do
        local why = differs(case, case.ref == "5.4" and r54[i] or r53[i])
        if why ~= nil and #bad < 25 then
            bad[#bad + 1] = why
        end
    end
    assert.are.same({}, bad)
    return r53
end

-- Cases ----------------------------------------------------------------------

local function case(fn, ...)
    return { fn = fn, n = select("#", ...), args = { ... } }
end

local function add(cases, fn, ...)
    cases[#cases + 1] = case(fn, ...)
    return cases[#cases]
end

local INT_FORMATS = { "b", "B", "h", "H", "i", "I", "l", "L", "j", "J", "T" }
for n = 1, packfmt.MAXINTSIZE do
    INT_FORMATS[#INT_FORMATS + 1] = "i" .. n
    INT_FORMATS[#INT_FORMATS + 1] = "I" .. n
end

local INT_VALUES = {
    0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 65535, 65536,
    2 ^ 24 - 1, 2 ^ 24, -2 ^ 23 - 1, 2 ^ 31 - 1, 2 ^ 31, -2 ^ 31, -2 ^ 31 - 1, 2 ^ 32 - 1, 2 ^ 32,
    2 ^ 40 + 3, -2 ^ 40 - 3, 2 ^ 48, -2 ^ 47 - 1, 2 ^ 55, -2 ^ 55 - 1, 2 ^ 53 - 1, 2 ^ 53, -2 ^ 53,
    -2 ^ 53 + 1, I64(2 ^ 53) + 1, -I64(2 ^ 53) - 1, 0x7fffffffffffffffLL, -0x7fffffffffffffffLL - 1,
    0xffffffffffffffffULL, 0x8000000000000000ULL, 2 ^ 63, -2 ^ 63, 2 ^ 62 + 2 ^ 40, 1.5, -0.5, 0 / 0,
    1 / 0, -1 / 0, 1e300, "12", " 0x10 ", "1e2", "1.5", "abc", true, {}, -0.0,
}

local FLOAT_VALUES = {
    0, -0.0, 1, -1, 1.5, 0.1, 1 / 3, -2.5e-300, 1e300, 3.4028234663852886e38, 3.4028235677973366e38,
    1e39, 2 ^ -149, 2 ^ -150, 2 ^ -126, 2 ^ -1074, 2.2250738585072014e-308, 1 / 0, -1 / 0, 0 / 0,
    2 ^ 53 + 2, I64(2 ^ 53) + 1, -0x7fffffffffffffffLL, 16777217, "1.5", "0x10", "abc", true,
}

local STRINGS = { "", "a", "abc", "a\0b\0", rep("x", 255), rep("y", 256), rep("z", 300), 12, 1.5, true }

-- 16-byte patterns for unpack: edges of every width in either byte order.
local PATTERNS = {
    rep("\0", 16), rep("\255", 16), "\128" .. rep("\0", 15), rep("\0", 15) .. "\128",
    "\127" .. rep("\255", 15), rep("\255", 15) .. "\127", "\1\2\3\4\5\6\7\8\9\10\11\12\13\14\15\16",
    "\0\0\0\0\0\0\32\0" .. rep("\0", 8), "\1\0\0\0\0\0\32\0" .. rep("\0", 8),
    "\0\0\0\0\0\0\224\255" .. rep("\255", 8), "\255\255\255\255\255\255\223\255" .. rep("\255", 8),
    rep("\255", 8) .. rep("\0", 8), rep("\0", 8) .. rep("\255", 8), "\0\32\0\0\0\0\0\0\0\0\0\0\0\0\0\1",
    "\255\255\255\255\255\255\255\127\0\0\0\0\0\0\0\0", "\0\0\0\0\0\0\0\128" .. rep("\255", 8),
    "\3\199\42\250\17\0\128\201\64\1\2\254\99\37\85\170",
}

local function pack_cases()
    local cases = {}
    for _, f in ipairs(INT_FORMATS) do
        for _, e in ipairs({ "<", ">" }) do
            for _, v in ipairs(INT_VALUES) do
                add(cases, "pack", e .. f, v)
            end
            add(cases, "pack", e .. f)
            add(cases, "pack", e .. f, nil)
        end
    end
    for _, f in ipairs({ "f", "d", "n" }) do
        for _, e in ipairs({ "<", ">", "=" }) do
            for _, v in ipairs(FLOAT_VALUES) do
                add(cases, "pack", e .. f, v)
            end
            add(cases, "pack", e .. f)
        end
    end
    for _, f in ipairs({ "s1", "s2", "s3", "s4", "s8", "s", "s16", "z", "c0", "c1", "c3", "c10", "c300" }) do
        for _, e in ipairs({ "<", ">" }) do
            for _, v in ipairs(STRINGS) do
                add(cases, "pack", e .. f, v)
            end
            add(cases, "pack", e .. f)
        end
    end
    add(cases, "pack", "s2", rep("w", 65536))
    add(cases, "pack", "s3", rep("w", 65536))
    add(cases, "pack", "z", "a\0b")
    add(cases, "pack", "z", "\0")
    -- alignment, padding and state options
    local mixed = {
        { "!4 b i4", 1, 2 }, { "!8 b d", 1, 1.5 }, { "!2 b i8", 1, 2 }, { "! b h i j", 1, 2, 3, 4 },
        { "!16 b i16", 1, -2 }, { "!4 b Xi4 b", 1, 2 }, { "!8 bXd", 1 }, { "!4 b X", 1 }, { "!4 bXc4", 1 },
        { "!4 bX<", 1 }, { "!3 b i4", 1, 2 }, { "!3 b h", 1, 2 }, { "!4 i3", 1 }, { "!4 s4 b i4", "ab", 1, 2 },
        { "!8 z i8", "abc", 5 }, { "! b x i4", 1, 2 }, { "<!4 b h >i4", 1, 2, 3 }, { "!4 bXh", 1 },
        { "!1 b i8", 1, 2 }, { "! bXj b", 1, 2 }, { "!8 b Xi16", 1 }, { "!16 b Xi16", 1 }, { "xXi4" },
        { "bx", 1 }, { "xxb", 1 }, { "Xx" }, { "bXx b", 1, 2 }, { " < > = ! b", 1 }, { "!8 b !2 d", 1, 2 },
        { "!4 z Xi4 z", "ab", "c" }, { "!8 s1 d", "abc", 0.5 }, { "i4 i4", 1 }, { "b b b", 1, 2, 3, 4 },
        { "=I4 <I4 >I4", 1, 2, 3 }, { "!4 b Xs2 b", 1, 2 }, { "!4 b Xz", 1 }, { "!4 b Xx b", 1, 2 },
        { "!4 b X X", 1 }, { "!4 b XX", 1 }, { "!2 b Xi4 b", 1, 2 }, { "!8 b i3", 1, 2 },
    }
    for _, m in ipairs(mixed) do
        add(cases, "pack", unpack(m, 1, table.maxn(m)))
    end
    -- bad formats, in the order 5.3 meets them
    for _, fmt in ipairs({
        "y", "\200", "\n", "[", "c", "i0", "i17", "i99999999999", "I0", "s0", "s17", "!17", "!0", "X", "Xc1",
        "Xz", "X ", "X!4", "Xb y", "b y", "b i17", "i4\0y", "j%", "b\0", "", "   ", "<>=!",
    }) do
        add(cases, "pack", fmt, 1, 2)
    end
    add(cases, "pack")
    add(cases, "pack", nil)
    add(cases, "pack", 12)
    add(cases, "pack", true)
    add(cases, "pack", {})
    -- long formats: more values than one generated function holds
    local many = {}
    for i = 1, 300 do
        many[i] = i % 200 - 100
    end
    add(cases, "pack", rep("b", 300), unpack(many))
    add(cases, "pack", rep("<i3 d", 100), unpack(many))
    add(cases, "pack", rep("b", 300), unpack(many, 1, 299))
    return cases
end

local function unpack_cases()
    local cases = {}
    for _, f in ipairs(INT_FORMATS) do
        for _, e in ipairs({ "<", ">" }) do
            for _, data in ipairs(PATTERNS) do
                add(cases, "unpack", e .. f, data)
            end
            add(cases, "unpack", e .. f, "")
            add(cases, "unpack", e .. f, "\1")
            add(cases, "unpack", e .. f, "\1\2\3\4\5\6\7")
        end
    end
    for _, f in ipairs({ "f", "d", "n" }) do
        for _, e in ipairs({ "<", ">" }) do
            for _, data in ipairs({
                rep("\0", 8), "\0\0\0\0\0\0\0\128", "\128\0\0\0\0\0\0\0", "\0\0\128\127\0\0\0\0",
                "\127\128\0\0\0\0\0\0",
                "\1\0\192\127\0\0\0\0", "\0\0\128\63\0\0\240\63", "\63\240\0\0\0\0\0\0", "\1\0\0\0\0\0\240\127",
                "\0\0\0\0\0\0\240\255", "\1\0\0\0\0\0\0\0", rep("\255", 8), "\87\20\139\10\191\5\64\45", "abc",
            }) do
                add(cases, "unpack", e .. f, data)
            end
        end
    end
    local data = "abcdef"
    for _, pos in ipairs({ 1, 2, 6, 7, 8, 0, -1, -6, -7, -100, 1.5, "2", " 3 ", "x", true, {}, 2LL, 2 ^ 53, 2 ^ 63,
        1 / 0, 0 / 0, -0.0 }) do
        add(cases, "unpack", "b", data, pos)
        add(cases, "unpack", "<i2", data, pos)
    end
    add(cases, "unpack", "b", data)
    add(cases, "unpack", "b", data, nil)
    add(cases, "unpack", "b")
    add(cases, "unpack", "b", nil)
    add(cases, "unpack", "b", 12)
    add(cases, "unpack", "b", true)
    add(cases, "unpack", "b", {})
    add(cases, "unpack")
    add(cases, "unpack", 12, "abc")
    add(cases, "unpack", nil, "abc")
    local strings = {
        { "s1", "\3abc" }, { "s1", "\4abc" }, { "s1", "" }, { "s1", "\0" }, { "<s8", "\0\0\0\0\0\0\0\16" },
        { ">s8", "\16\0\0\0\0\0\0\0" }, { ">s2", "\0\3abcd" }, { "<s16", "\3" .. rep("\0", 15) .. "abc" },
        { "<s16", "\3" .. rep("\0", 7) .. "\1" .. rep("\0", 7) .. "abc" }, { "<s4 s4", "\1\0\0\0a\2\0\0\0bc" },
        { "z", "abc\0def" }, { "zz", "a\0b\0" }, { "z", "\0" }, { "z b", "ab\0\5" }, { "c0", "" }, { "c3", "abc" },
        { "c4", "abc" }, { "c3 c3", "abcdef" }, { "c2147483647", "abc" }, { "<s3", "\255\255\255" },
        { "<I3 s1", "\1\2\3\2ab" }, { "<s", "\2\0\0\0\0\0\0\0hi" }, { "c1 c0 c1", "ab" },
    }
    for _, s in ipairs(strings) do
        add(cases, "unpack", s[1], s[2])
    end
    -- where 5.3 reads past the string or asks for 2^64 bytes, lnet does as 5.4
    add(cases, "unpack", "z", "abc").ref = "5.4"
    add(cases, "unpack", "z", "").ref = "5.4"
    add(cases, "unpack", "<s8", rep("\255", 8)).ref = "5.4"
    add(cases, "unpack", ">s8", rep("\255", 8) .. "abc").ref = "5.4"
    local aligned = {
        { "!4 b i4", "\1\0\0\0\2\0\0\0" }, { "!4 b i4", "\1\0\0\0\2\0\0\0", 2 }, { "!4 b i4", "\1\0\0\0\2\0\0" },
        { "!8 b Xd b", "\1\0\0\0\0\0\0\0\2" }, { "!4 bXi4", "\1" }, { "!4 bXi4", "\1\2\3\4" },
        { "!2 b h", "\1\0\2\0" }, { "!3 b h", "\1\0\2\0" }, { "!4 i3", "\1\2\3\4" }, { "x", "" }, { "xb", "\1\2" },
        { "!8 b d", rep("\0", 16), 3 }, { "!8 b d", rep("\0", 16), 9 }, { "!4 z i4", "ab\0\0\1\0\0\0" },
        { "!4 b X", "\1" }, { "b Xi4", "\1" }, { "!4 b Xi4 b", "\1\0\0\0\2", 1 }, { "!4 b Xi4 b", "\1\0\0\0\2", 4 },
    }
    for _, a in ipairs(aligned) do
        add(cases, "unpack", a[1], a[2], a[3])
    end
    for _, fmt in ipairs({ "b y", "i4 y", "y", "bi17", "b c", "bX", "b!17", "Xc1", "b\0y", "" }) do
        add(cases, "unpack", fmt, "\1")
    end
    local bytes = {}
    for i = 1, 600 do
        bytes[i] = char(i * 37 % 256)
    end
    bytes = concat(bytes)
    add(cases, "unpack", rep("b", 300), bytes)
    add(cases, "unpack", rep(">i2", 70), bytes)
    add(cases, "unpack", rep("<I3 f", 90), bytes)
    add(cases, "unpack", rep("b", 300) .. "y", bytes)
    add(cases, "unpack", rep("z", 40), rep("ab\0", 40))
    return cases
end

local function packsize_cases()
    local cases = {}
    for _, fmt in ipairs({
        "b", "B", "h", "H", "i", "I", "l", "L", "j", "J", "T", "f", "d", "n", "i1", "I16", "i7", "c0", "c10", "x",
        "!8 b d", "!4 b h i4 j", "i3", "!4 i3", "c10 c20", "s", "z", "b s", "s1", "!8 b Xd", "X", "y", "c",
        rep("c214748364", 10), rep("c214748364", 11), rep("c214748364", 10) .. "c7 b", "c2147483647",
        rep("c214748364", 11) .. "s", "s" .. rep("c214748364", 11), "!16 b Xi16 j", "", "i17", "<>!2 h b",
        rep("c100000000", 21) .. "i17", "!8 c2147483 Xj",
    }) do
        add(cases, "packsize", fmt)
    end
    add(cases, "packsize")
    add(cases, "packsize", nil)
    add(cases, "packsize", 12)
    add(cases, "packsize", {})
    return cases
end

-- unpack of the bytes 5.3 packed, for every pack case that packed.
local function round_trip_cases(pack, results)
    local cases = {}
    for i, c in ipairs(pack) do
        local line = results[i]
        if line:sub(1, 2) == "R " then
            add(cases, "unpack", c.args[1], unhex(line:sub(4)))
        end
    end
    return cases
end

describe("lnet.pack, unpack and packsize against lua5.3", function()
    local saved

    before_each(function()
        saved = busted_helper.limit
        busted_helper.limit = 60 + FUZZ_SECS
    end)
    after_each(function()
        busted_helper.limit = saved
    end)

    it("packs as string.pack does, and unpacks 5.3's bytes back as 5.3 does", function()
        local cases = pack_cases()
        assert.is_true(#cases > 4000)
        local results = check_all(cases)
        local trips = round_trip_cases(cases, results)
        assert.is_true(#trips > 2000)
        check_all(trips)
    end)

    it("unpacks as string.unpack does: every width, order, position and error", function()
        local cases = unpack_cases()
        assert.is_true(#cases > 1500)
        check_all(cases)
    end)

    it("sizes formats as string.packsize does", function()
        check_all(packsize_cases())
    end)
end)

describe("lnet.unpack's 64-bit integers", function()
    local function le(v)
        local s = {}
        for i = 0, 7 do
            s[#s + 1] = char(tonumber(bit.band(bit.rshift(v, 8 * i), 0xff)))
        end
        return concat(s)
    end

    it("are numbers up to 2^53 in magnitude, int64_t cdata past it for signed options", function()
        for _, f in ipairs({ "<j", "<i8", "<l", "<i9", "<i16" }) do
            local pad = f == "<i9" and 1 or f == "<i16" and 8 or 0
            local function get(v)
                return (lnet.unpack(f, le(v) .. rep(v < 0 and "\255" or "\0", pad)))
            end
            assert.are.equal(TWO53, get(I64(2 ^ 53)))
            assert.are.equal(-TWO53, get(-I64(2 ^ 53)))
            assert.are.equal("number", type(get(I64(-1))))
            assert.is_true(ffi.istype(I64, get(I64(2 ^ 53) + 1)))
            assert.are.equal(I64(2 ^ 53) + 1, get(I64(2 ^ 53) + 1))
            assert.is_true(ffi.istype(I64, get(-I64(2 ^ 53) - 1)))
            assert.are.equal(-0x7fffffffffffffffLL - 1, get(-0x7fffffffffffffffLL - 1))
        end
    end)

    it("are uint64_t cdata past 2^53 for unsigned options, 2^64-1 included", function()
        for _, f in ipairs({ "<J", "<I8", "<L", "<T", "<I12" }) do
            local pad = f == "<I12" and 4 or 0
            local function get(v)
                return (lnet.unpack(f, le(v) .. rep("\0", pad)))
            end
            assert.are.equal(TWO53, get(U64(2 ^ 53)))
            assert.is_true(ffi.istype(U64, get(U64(2 ^ 53) + 1)))
            assert.are.equal(0xffffffffffffffffULL, get(0xffffffffffffffffULL))
        end
        -- 7 bytes: 2^56 - 1 at most, past 2^53 already
        assert.is_true(ffi.istype(U64, (lnet.unpack("<I7", rep("\255", 7)))))
        assert.are.equal(-1, (lnet.unpack("<i7", rep("\255", 7))))
    end)

    it("pack back to the same bytes, as cdata or as numbers", function()
        local edges = { 0x7fffffffffffffffLL, -0x7fffffffffffffffLL - 1, 0xffffffffffffffffULL, I64(2 ^ 53) + 1 }
        for _, v in ipairs(edges) do
            local s = lnet.pack("<j", v)
            assert.are.equal(le(v), s)
            assert.are.equal(s, lnet.pack("<j", (lnet.unpack("<j", s))))
            assert.are.equal(s, lnet.pack("<J", (lnet.unpack("<J", s))))
        end
        assert.are.equal(le(I64(2 ^ 53)), lnet.pack("<j", 2 ^ 53))
    end)
end)

describe("lnet.pack's errors", function()
    it("name the caller's line, as 5.3's do", function()
        local line = debug.getinfo(1, "l").currentline + 2
        local ok, err = pcall(function()
            local s = lnet.pack("i4", 1.5)
            return s
        end)
        assert.is_false(ok)
        local want = "spec/pack_spec.lua:%d: bad argument #2 to 'pack' (number has no integer representation)"
        assert.are.equal(format(want, line), err)
        line = debug.getinfo(1, "l").currentline + 2
        ok, err = pcall(function()
            local v = lnet.unpack(rep("b", 100) .. "y", rep("\0", 100))
            return v
        end)
        assert.is_false(ok)
        assert.are.equal(format("spec/pack_spec.lua:%d: invalid format option 'y'", line), err)
    end)
end)

describe("lnet.pack's compiled formats", function()
    it("are parsed once, however often used, and a stream of new formats stays bounded", function()
        local parse = packfmt.parse
        local parses = 0
        packfmt.parse = function(...)
            parses = parses + 1
            return parse(...)
        end
        local ok, err = pcall(function()
            local s = lnet.pack("> I4 I2", 1, 2)
            for i = 1, 10000 do
                local a, b, pos = lnet.unpack("> I4 I2", s)
                assert(a == 1 and b == 2 and pos == 7 and #lnet.pack("> I4 I2", i, 3) == 6)
            end
            assert.are.equal(2, parses)
            for i = 1, 2000 do -- each a new format: the caches start over, not grow
                assert.are.equal(i, lnet.packsize("c" .. i))
            end
            collectgarbage()
            local before = collectgarbage("count")
            for i = 2001, 4000 do
                lnet.unpack("c" .. i, rep("x", i))
            end
            collectgarbage()
            assert.is_true(collectgarbage("count") - before < 4096)
        end)
        packfmt.parse = parse
        assert(ok, err)
    end)
end)

-- The fuzz --------------------------------------------------------------------

-- What unpack may raise (position stripped): 5.3's words, nothing else.
local FUZZ_ERRORS = {
    "^bad argument #2 to 'unpack' %(data string too short%)$",
    "^bad argument #2 to 'unpack' %(unfinished string for format 'z'%)$",
    "^bad argument #3 to 'unpack' %(initial position out of string%)$",
    "^bad argument #1 to 'unpack' %(invalid next option for option 'X'%)$",
    "^bad argument #1 to 'unpack' %(format asks for alignment not power of 2%)$",
    "^invalid format option '[ -~]'$",
    "^invalid format option '<\\%d+>'$",
    "^integral size %(%-?%d+%) out of limits %[1,16%]$",
    "^missing size for format option 'c'$",
    "^%d+%-byte integer does not fit into Lua Integer$",
}
local FUZZ_SIZE_ERRORS = {
    "^bad argument #1 to 'packsize' %(variable%-length format%)$",
    "^bad argument #1 to 'packsize' %(format result too large%)$",
    "^bad argument #1 to 'packsize' %(invalid next option for option 'X'%)$",
    "^bad argument #1 to 'packsize' %(format asks for alignment not power of 2%)$",
    "^invalid format option '[ -~]'$",
    "^invalid format option '<\\%d+>'$",
    "^integral size %(%-?%d+%) out of limits %[1,16%]$",
    "^missing size for format option 'c'$",
}

local function clean(msg, patterns)
    if type(msg) ~= "string" then
        return false
    end
    msg = strip(msg)
    for _, p in ipairs(patterns) do
        if msg:find(p) then
            return true
        end
    end
    return false
end

local OPTIONS = { "b", "B", "h", "H", "i", "I", "l", "L", "j", "J", "T", "f", "d", "n", "s", "z", "x", "X", "c",
    "<", ">", "=", "!", " " }
local NUMBERS = { "", "", "", "1", "2", "3", "4", "7", "8", "9", "16", "17", "0", "99999999999", "2147483648" }

local function random_format(random)
    local t = {}
    for i = 1, random(1, 10) do
        if random(40) == 1 then
            t[i] = char(random(0, 255))
        else
            t[i] = OPTIONS[random(#OPTIONS)] .. NUMBERS[random(#NUMBERS)]
        end
    end
    return concat(t)
end

local FILL = { "\0", "\255", "\128", "\127" }

local function random_data(random)
    local n = random(0, 48)
    if random(4) == 1 then -- runs of one byte: huge length prefixes, long sign extensions
        return rep(FILL[random(#FILL)], n)
    end
    local t = {}
    for i = 1, n do
        t[i] = char(random(0, 255))
    end
    return concat(t)
end

describe("lnet.unpack under fuzz", function()
    local saved

    before_each(function()
        saved = busted_helper.limit
        busted_helper.limit = 60 + 2 * FUZZ_SECS
    end)
    after_each(function()
        busted_helper.limit = saved
    end)

    it(format("returns values or raises 5.3's words, never a crash, hang or big allocation (%gs, seed %d)",
        FUZZ_SECS, FUZZ_SEED), function()
        math.randomseed(FUZZ_SEED)
        local random = math.random
        local clock = os.clock
        local start = clock()
        collectgarbage()
        local heap = collectgarbage("count")
        local runs, slowest = 0, 0
        local bad = {}
        local sample = {} -- some inputs, to compare with lua5.4 after
        while clock() - start < FUZZ_SECS and #bad < 10 do
            local fmt, data = random_format(random), random_data(random)
            local pos = random(3) == 1 and random(-4, #data + 3) or nil
            local t0 = clock()
            local res = { pcall(lnet.unpack, fmt, data, pos) }
            local took = clock() - t0
            slowest = took > slowest and took or slowest
            if res[1] then
                local last = res[#res]
                if type(last) ~= "number" or last < 1 or last > #data + 1 then
                    bad[#bad + 1] = format("%q %q: next position %s", fmt, data, tostring(last))
                end
            elseif not clean(res[2], FUZZ_ERRORS) then
                bad[#bad + 1] = format("%q %q %s: %s", fmt, data, tostring(pos), tostring(res[2]))
            end
            local ok, size = pcall(lnet.packsize, fmt)
            if not ok and not clean(size, FUZZ_SIZE_ERRORS) then
                bad[#bad + 1] = format("packsize %q: %s", fmt, tostring(size))
            end
            runs = runs + 1
            if runs % 1000 == 0 and collectgarbage("count") - heap > 64 * 1024 then
                bad[#bad + 1] = format("heap grew by %d KiB", collectgarbage("count") - heap)
            end
            -- (5.4 writes a bad option byte raw where 5.3 writes "<\ddd>")
            if #sample < 3000 and runs % 7 == 0 and not fmt:find("[^ -~]") then
                sample[#sample + 1] = case("unpack", fmt, data, pos ~= nil and pos > 0 and pos or nil)
            end
        end
        assert.are.same({}, bad)
        assert.is_true(runs > 1000, "only " .. runs .. " runs")
        assert.is_true(slowest < 1, "one call took " .. slowest .. " s")
        -- the same inputs in lua5.4 (positions 1 and up and printable
        -- formats, where 5.4 answers as 5.3)
        local r54 = reference("lua5.4", sample)
        local diffs = {}
        for i, c in ipairs(sample) do
            local why = differs(c, r54[i])
            if why ~= nil and #diffs < 10 then
                diffs[#diffs + 1] = why
            end
        end
        assert.are.same({}, diffs)
    end)

    it("answers a length prefix of 2^60 with 'data string too short', allocating nothing", function()
        collectgarbage()
        local heap = collectgarbage("count")
        for _, fmt in ipairs({ "<s8", "<s16" }) do
            local data = lnet.pack("<J", I64(2) ^ 60) .. rep("\0", fmt == "<s16" and 8 or 0) .. "abc"
            local ok, err = pcall(lnet.unpack, fmt, data)
            assert.is_false(ok)
            assert.are.equal("bad argument #2 to 'unpack' (data string too short)", err)
        end
        assert.is_true(collectgarbage("count") - heap < 1024)
    end)
end)

-- hexdump ----------------------------------------------------------------------

describe("lnet.hexdump", function()
    local function xxd(s)
        local proc = assert(process.spawn({ argv = { "xxd" }, stdin = "pipe", stdout = "pipe" }))
        local writer = lnet.go(function()
            assert(proc.stdin:write(s) == #s)
            proc.stdin:close()
        end)
        local out = {}
        while true do
            local data = proc.stdout:read(65536)
            if data == nil then
                break
            end
            out[#out + 1] = data
        end
        proc.stdout:close()
        writer:join()
        assert.are.equal(0, proc:wait())
        return concat(out)
    end

    it("prints what xxd prints, for every length of line and every byte", function()
        local all = {}
        for i = 0, 255 do
            all[#all + 1] = char(i)
        end
        all = concat(all)
        local inputs = { "", "a", "\0", "hello\n", all, all .. all:reverse() .. "x" }
        math.randomseed(7)
        for n = 1, 40 do
            local t = {}
            for i = 1, n do
                t[i] = char(math.random(0, 255))
            end
            inputs[#inputs + 1] = concat(t)
        end
        local bad = {}
        for _, s in ipairs(inputs) do
            local want = xxd(s)
            if lnet.hexdump(s) ~= want then
                bad[#bad + 1] = format("%q:\n%s\nxxd:\n%s", s, lnet.hexdump(s), want)
            end
        end
        assert.are.same({}, bad)
    end)

    it("raises on a non-string", function()
        assert.has_error(function()
            lnet.hexdump(nil)
        end, "bad argument #1 to 'hexdump' (string expected, got nil)")
    end)
end)
