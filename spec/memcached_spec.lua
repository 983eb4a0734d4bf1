-- lnet.proto.memcached against a real memcached, and against a server of
-- the spec's own that sends malformed replies.
local lnet = require "lnet"
local memcached = require "lnet.proto.memcached"
local errors = lnet.errors

local support = require "support"
local peers = require "peers"

local function with_memcached(fn)
    local srv = peers.memcached()
    local mc = assert(memcached.connect(srv.addr))
    local ok, err = pcall(fn, mc, srv)
    mc:close()
    srv.stop()
    assert(ok, err)
end

describe("memcached client against memcached", function()
    it("sets, gets (with flags and cas), misses, deletes", function()
        with_memcached(function(mc)
            assert.is_true(mc:set("k", "v\r\nbinary\0", 0, 42))
            local v, flags, cas = mc:get("k")
            assert.are.equal("v\r\nbinary\0", v)
            assert.are.equal(42, flags)
            assert.are.equal("number", type(cas))
            assert.is_nil(mc:get("missing"))
            assert.is_nil(select(2, mc:get("missing")))
            assert.is_true(mc:delete("k"))
            assert.are.same({ false, "NOT_FOUND" }, { mc:delete("k") })
            local big = support.pattern(900000)
            assert.is_true(mc:set("big", big))
            assert.is_true(mc:get("big") == big)
        end)
    end)

    it("add, replace, append, prepend, cas and their refusals", function()
        with_memcached(function(mc)
            assert.is_true(mc:add("a", "1"))
            assert.are.same({ false, "NOT_STORED" }, { mc:add("a", "2") })
            assert.are.same({ false, "NOT_STORED" }, { mc:replace("nope", "x") })
            assert.is_true(mc:append("a", "2"))
            assert.is_true(mc:prepend("a", "0"))
            local v, _, cas = mc:get("a")
            assert.are.equal("012", v)
            assert.is_true(mc:cas("a", "new", cas))
            assert.are.same({ false, "EXISTS" }, { mc:cas("a", "newer", cas) })
            assert.are.equal("new", mc:get("a"))
        end)
    end)

    it("incr, decr, touch, get_multi, version, stats, flush_all", function()
        with_memcached(function(mc)
            assert.is_true(mc:set("n", "10"))
            assert.are.equal(15, mc:incr("n", 5))
            assert.are.equal(12, mc:decr("n", 3))
            assert.are.same({ false, "NOT_FOUND" }, { mc:incr("none", 1) })
            assert.is_true(mc:touch("n", 100))
            mc:set("x", "1")
            local got = mc:get_multi({ "n", "x", "none" })
            assert.are.equal("12", got.n[1])
            assert.are.equal("1", got.x[1])
            assert.is_nil(got.none)
            assert.is_truthy(mc:version():find("^1%.6"))
            assert.is_truthy(tonumber(mc:stats().pid))
            assert.is_true(mc:flush_all())
            assert.is_nil(mc:get("n"))
        end)
    end)

    it("returns the server's errors as MemcachedError and stays usable", function()
        with_memcached(function(mc)
            local v, err = mc:incr("k" .. "", 1) -- a miss, not an error
            assert.is_false(v)
            mc:set("s", "text")
            v, err = mc:incr("s", 1)
            assert.is_nil(v)
            assert.are.equal("CLIENT_ERROR", err.kind)
            assert.are.equal("CLIENT_ERROR cannot increment or decrement non-numeric value", tostring(err))
            assert.are.equal("text", mc:get("s"))
        end)
    end)

    it("raises on a bad key", function()
        with_memcached(function(mc)
            assert.has_error(function()
                mc:get("has space")
            end, "bad argument #1 to 'get' (key of 1 to 250 bytes with no space or control byte expected)")
            assert.has_error(function()
                mc:set(("k"):rep(251), "v")
            end, "bad argument #1 to 'set' (key of 1 to 250 bytes with no space or control byte expected)")
        end)
    end)
end)

describe("scripts/memcached.lua", function()
    it("sets, gets and misses", function()
        with_memcached(function(_, srv)
            local function run(...)
                return support.run({ support.host, "scripts/memcached.lua", "-s", srv.addr, ... })
            end
            assert.are.equal(0, (run("set", "greeting", "hello")))
            local code, out = run("get", "greeting", "other")
            assert.are.equal(0, code)
            assert.are.equal("greeting hello\n", out)
            assert.are.equal(1, (run("get", "other")))
        end)
    end)
end)

describe("memcached client against malformed replies", function()
    local cases = {
        { "a value length over max_value", "VALUE k 0 99999999999\r\n", "memcached: value of 99999999999 bytes over max_value 16777216" },
        { "a value without its CR LF", "VALUE k 0 3\r\nabcXY", "memcached: value of 3 bytes not followed by CR LF" },
        { "an unexpected line", "HELLO\r\n", "memcached: unexpected line \"HELLO\"" },
        { "a negative length", "VALUE k 0 -1\r\n", "memcached: unexpected line \"VALUE k 0 -1\"" },
    }
    for _, case in ipairs(cases) do
        it("returns a ProtocolError for " .. case[1] .. " and is broken after", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local t = lnet.go(function()
                local c = ln:accept()
                c:read(1000)
                c:write(case[2])
                c:read(1000)
                c:close()
            end)
            local mc = memcached.client(assert(lnet.dial("tcp", tostring(ln:addr()))))
            local v, err = mc:get("k")
            assert.is_nil(v)
            assert.are.equal(case[3], tostring(err))
            assert.is_not_nil(errors.as(err, "ProtocolError"))
            assert.are.equal(err, select(2, mc:get("k")))
            mc:close()
            ln:close()
            t:join()
        end)
    end
end)
