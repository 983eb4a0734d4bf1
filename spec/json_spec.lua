-- lnet.json: decode and encode, strictness, the caps on what a peer can
-- make it build, error values.

local lnet = require "lnet"
local json = require "lnet.json"

local errors = lnet.errors

local function fails(text, msg, opts)
    local v, err = json.decode(text, opts)
    assert.is_nil(v)
    assert.is_truthy(errors.as(err, "JSONError"), tostring(err))
    assert.are.equal(msg, tostring(err))
end

describe("lnet.json decode", function()
    it("reads every kind of value, marking objects and arrays", function()
        local v = assert(json.decode(' {"a": [1, -2.5e3, true, false, null, "x"], "b": {}, "c": []} '))
        assert.is_true(json.is_object(v))
        assert.is_true(json.is_array(v.a))
        assert.are.same({ 1, -2500, true, false, json.null, "x" }, { unpack(v.a, 1, 6) })
        assert.is_true(json.is_object(v.b))
        assert.is_true(json.is_array(v.c))
        assert.are.equal('{"a":[1,-2500,true,false,null,"x"],"b":{},"c":[]}', json.encode(v))
    end)

    it("decodes escapes and surrogate pairs to UTF-8, a lone surrogate to U+FFFD", function()
        assert.are.equal('"' .. "\\" .. "/\b\f\n\r\t", json.decode([["\"\\\/\b\f\n\r\t"]]))
        assert.are.equal("é€😀", json.decode('"\\u00e9\\u20ac\\ud83d\\ude00"'))
        assert.are.equal("\239\191\189x", json.decode('"\\ud800x"'))
    end)

    it("refuses what RFC 8259 does not allow, saying where", function()
        fails("01", "json: leading zero in number at byte 1")
        fails("[1,]", "json: unexpected character ']' at byte 4")
        fails('{"a":1,}', "json: unexpected character '}' looking for an object key at byte 8")
        fails("// c\n1", "json: unexpected character '/' at byte 1")
        fails('"a\nb"', "json: control character 0x0a in string at byte 3")
        fails('"\\x"', "json: bad escape in string at byte 2")
        fails('"\\u12"', "json: bad \\u escape at byte 2")
        fails("1.", "json: bad fraction in number at byte 2")
        fails("1e+", "json: bad exponent in number at byte 2")
        fails("1e999", "json: number out of range at byte 1")
        fails("nul", "json: unexpected character 'n' at byte 1")
        fails("", "json: unexpected end of input at byte 1")
        fails("[1 2]", "json: unexpected character '2' after array element at byte 4")
        fails("1 2", "json: unexpected character '2' after the value at byte 3")
        fails('"abc', "json: unterminated string at byte 1")
        fails("\1", "json: unexpected byte 0x01 at byte 1")
    end)

    it("caps nesting and size before building anything", function()
        fails(string.rep("[", 65) .. string.rep("]", 65), "json: nesting deeper than 64 at byte 65")
        assert.is_truthy(json.decode(string.rep("[", 64) .. string.rep("]", 64)))
        fails("[[[1]]]", "json: nesting deeper than 2 at byte 3", { max_depth = 2 })
        fails(string.rep(" ", 11) .. "1", "json: text of 12 bytes is over the limit of 10", { max_size = 10 })
        fails(string.rep("[", 100000), "json: nesting deeper than 64 at byte 65")
    end)

    it("never raises on bytes from a peer", function()
        local seed = 12345
        local function rnd(n)
            seed = (seed * 1103515245 + 12345) % 2147483648
            return seed % n
        end
        local alphabet = '{}[]:,"\\u0123456789.eE+-truefalsn \t\n\1\255'
        for _ = 1, 2000 do
            local parts = {}
            for i = 1, rnd(40) do
                local k = rnd(#alphabet) + 1
                parts[i] = alphabet:sub(k, k)
            end
            local ok, v, err = pcall(json.decode, table.concat(parts))
            assert.is_true(ok, v)
            assert.is_true(v ~= nil or errors.as(err, "JSONError") ~= nil)
        end
    end)

    it("raises on misuse", function()
        assert.has_error(function()
            json.decode(5)
        end, "bad argument #1 to 'decode' (string expected, got number)")
        assert.has_error(function()
            json.decode("1", { max_depth = -1 })
        end, "bad argument #2 to 'decode' (max_depth: non-negative integer expected, got -1)")
    end)
end)

describe("lnet.json encode", function()
    it("writes sequences as arrays, other tables as objects with sorted keys, or in the order given", function()
        assert.are.equal('[1,2,3]', json.encode({ 1, 2, 3 }))
        assert.are.equal('{"a":1,"b":{"c":"d"}}', json.encode({ b = { c = "d" }, a = 1 }))
        assert.are.equal("{}", json.encode({}))
        assert.are.equal("[]", json.encode(json.array()))
        assert.are.equal('{"z":1,"a":2,"m":3}', json.encode(json.object({ a = 2, m = 3, z = 1 }, { "z", "a" })))
    end)

    it("writes numbers shortest first and strings escaped (html: as Go does)", function()
        assert.are.equal("[0.1,1,-3,1e+300,0.30000000000000004]", json.encode({ 0.1, 1, -3, 1e300, 0.1 + 0.2 }))
        assert.are.equal('"a\\"\\\\\\n\\u0001<&>"', json.encode('a"\\\n\1<&>'))
        assert.are.equal('"\\u003c\\u0026\\u003e"', json.encode("<&>", { html = true }))
        assert.are.equal(0.1 + 0.2, json.decode(json.encode(0.1 + 0.2)))
    end)

    it("returns JSONErrors for what JSON cannot hold", function()
        local function bad(v, msg)
            local s, err = json.encode(v)
            assert.is_nil(s)
            assert.are.equal(msg, tostring(err))
        end
        bad({ a = { 0 / 0 } }, "json: value.a[1]: nan has no JSON form")
        bad({ [true] = 1 }, "json: value: object key of type boolean")
        bad({ f = print }, "json: value.f: a function has no JSON form")
        local cycle = {}
        cycle.self = cycle
        local _, err = json.encode(cycle)
        assert.is_truthy(tostring(err):find("nesting deeper than 64", 1, true))
    end)
end)
