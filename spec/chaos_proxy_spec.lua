-- lnet.chaos.proxy: relaying, latency and bandwidth as measured by a
-- client, toxics changed on a live proxy, enable/disable, the event log,
-- and bad input (issue 14).

local lnet = require "lnet"
local chaos = require "lnet.chaos"
local json = require "lnet.json"
local support = require "support"
local cs = require "chaos_support"

local errors = lnet.errors
local MiB = support.MiB

describe("chaos.proxy relaying", function()
    it("passes bytes both ways intact and passes a half-close on", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local c = cs.dial(p)
        local data = support.pattern(3 * MiB)
        local writer = lnet.go(function()
            assert(c:write(data) == #data)
            c:close_write()
        end)
        local got, err = support.read_all(c)
        writer:join()
        assert.are.equal(lnet.EOF, err)
        assert.are.equal(#data, #got)
        assert.is_true(got == data)
        c:close()
        p:close()
        up:close()
        assert.are.equal(0, p:conns())
    end)

    it("names its conns in the event log and closes them when the client goes", function()
        local up = cs.echo()
        local p = cs.proxy(up, { name = "db" })
        local c = cs.dial(p)
        cs.rtt(c)
        c:close()
        local t = lnet.now()
        while p:conns() > 0 and lnet.now() - t < support.SLACK do
            lnet.sleep(0.01)
        end
        assert.are.equal(0, p:conns())
        assert.are.equal(1, #cs.events(p, { what = "open", conn = 1, proxy = "db" }))
        assert.are.equal(1, #cs.events(p, { what = "close", conn = 1 }))
        p:close()
        up:close()
    end)
end)

describe("chaos.proxy latency", function()
    local function samples(c, n)
        local list = {}
        for i = 1, n do
            list[i] = cs.rtt(c)
        end
        return list
    end

    it("ms = 50 down adds a median 50 ms to an echo round trip; both ways add 100", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local c = cs.dial(p)
        local base = cs.median(samples(c, 10))
        assert(p:add { type = "latency", ms = 50, stream = "down" })
        local down = cs.median(samples(c, 15)) - base
        assert.is_true(down >= 45 and down <= 55, "down: " .. down)
        assert(p:remove("latency_downstream"))
        assert(p:add(chaos.latency { ms = 50, stream = "both" }))
        local both = cs.median(samples(c, 15)) - base
        assert.is_true(both >= 90 and both <= 110, "both: " .. both)
        c:close()
        p:close()
        up:close()
    end)

    it("keeps every uniform jitter sample within [ms - jitter, ms + jitter]", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local c = cs.dial(p)
        assert(p:add { type = "latency", ms = 40, jitter = 20 })
        local rtts = samples(c, 30)
        for _, r in ipairs(rtts) do
            assert.is_true(r >= 20 and r <= 60 + 8, "rtt " .. r)
        end
        local delays = cs.events(p, { what = "delay" })
        assert.are.equal(30, #delays)
        local lo, hi = math.huge, -math.huge
        for _, e in ipairs(delays) do
            lo, hi = math.min(lo, e.ms), math.max(hi, e.ms)
        end
        assert.is_true(lo >= 20 and hi <= 60 and hi - lo > 10, lo .. ".." .. hi)
        c:close()
        p:close()
        up:close()
    end)

    it("draws the same delays from the same seed, and others from another", function()
        local up = cs.echo()
        local function run(seed)
            local p = cs.proxy(up, { seed = seed })
            assert(p:add { type = "latency", ms = 5, jitter = 4, dist = "normal" })
            local c = cs.dial(p)
            samples(c, 12)
            c:close()
            p:close()
            local ms = {}
            for i, e in ipairs(cs.events(p, { what = "delay" })) do
                ms[i] = e.ms
            end
            return ms
        end
        local a, b, other = run(7), run(7), run(8)
        assert.are.equal(12, #a)
        assert.are.same(a, b)
        assert.are_not.same(a, other)
        up:close()
    end)

    it("applies an update to conns already open", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local c = cs.dial(p)
        assert(p:add { type = "latency", ms = 200 })
        assert.is_true(cs.rtt(c) >= 190)
        local x = assert(p:update("latency_downstream", { ms = 10 }))
        assert.are.equal(10, x.ms)
        local r = cs.median(samples(c, 5))
        assert.is_true(r >= 9 and r < 60, "rtt " .. r)
        c:close()
        p:close()
        up:close()
    end)
end)

describe("chaos.proxy bandwidth", function()
    it("rate = 4 MiB/s moves 8 MiB in 2.0 s", function()
        local data = support.pattern(8 * MiB)
        local up = cs.source(data)
        local p = cs.proxy(up)
        assert(p:add { type = "bandwidth", rate = 4 * MiB })
        local t = lnet.now()
        local c = cs.dial(p)
        local got = support.read_all(c)
        local took = lnet.now() - t
        assert.is_true(got == data)
        assert.is_true(took >= 1.8 and took <= 2.2, "took " .. took)
        c:close()
        p:close()
        up:close()
    end)

    it("shared over 4 conns keeps the total, each conn getting about a quarter", function()
        local data = support.pattern(2 * MiB)
        local up = cs.source(data)
        local p = cs.proxy(up)
        assert(p:add { type = "bandwidth", rate = 4 * MiB, shared = "link" })
        local t = lnet.now()
        local took = cs.parallel(4, 4, function()
            local c = cs.dial(p)
            local got = support.read_all(c)
            c:close()
            assert(got == data)
            return lnet.now() - t
        end)
        local total = math.max(unpack(took))
        assert.is_true(total >= 1.8 and total <= 2.2, "total " .. total)
        for _, x in ipairs(took) do
            assert.is_true(x >= 0.8 * total, "one conn finished at " .. x .. " of " .. total)
        end
        p:close()
        up:close()
    end)
end)

describe("chaos.proxy control", function()
    it("disable refuses connects and closes the conns; enable listens again on the same address", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local address = tostring(p:addr())
        local c = cs.dial(p)
        cs.rtt(c)
        assert(p:disable())
        local _, err = c:read(1)
        assert.is_truthy(err)
        c:close()
        local c2, derr = lnet.dial("tcp", address)
        assert.is_nil(c2)
        assert.is_true(errors.is(derr, lnet.errno.ECONNREFUSED), tostring(derr))
        assert(p:enable())
        assert.are.equal(address, tostring(p:addr()))
        c = cs.dial(p)
        cs.rtt(c)
        c:close()
        assert.are.equal("done", p:down(function()
            assert.is_nil(lnet.dial("tcp", address))
            return "done"
        end))
        c = cs.dial(p)
        cs.rtt(c)
        c:close()
        p:close()
        up:close()
    end)

    it("reset removes every toxic and enables", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add { type = "latency", ms = 300 })
        assert(p:add { type = "refuse" })
        assert(p:disable())
        assert(p:reset())
        assert.are.same({}, p:toxics())
        local c = cs.dial(p)
        assert.is_true(cs.rtt(c) < 100)
        c:close()
        p:close()
        up:close()
    end)

    it("writes every event as a JSON line to its log file", function()
        local path = os.tmpname()
        local up = cs.echo()
        local p = cs.proxy(up, { log = path, name = "logged" })
        assert(p:add { type = "latency", ms = 1 })
        local c = cs.dial(p)
        cs.rtt(c)
        c:close()
        p:close()
        up:close()
        local lines = {}
        for line in io.lines(path) do
            lines[#lines + 1] = assert(json.decode(line))
        end
        os.remove(path)
        assert.are.equal(#p:events(), #lines)
        local delay
        for _, e in ipairs(lines) do
            assert.are.equal("logged", e.proxy)
            assert.is_number(e.t)
            if e.what == "delay" then
                delay = e
            end
        end
        assert.are.same({ "down", "latency_downstream", "latency", 4, 1, 1 },
            { delay.dir, delay.toxic, delay.type, delay.bytes, delay.ms, delay.conn })
    end)

    it("sums each toxic's effect for the report", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add { type = "latency", ms = 20 })
        local c = cs.dial(p)
        for _ = 1, 5 do
            cs.rtt(c, "abcd")
        end
        c:close()
        p:close()
        up:close()
        local s = p:stats()[1]
        assert.are.same({ "latency_downstream", "latency", 1, 20, 20, 20 },
            { s.toxic, s.type, s.conns, s.bytes_delayed, s.p50, s.p99 })
        local text = require("lnet.chaos.events").report({ s })
        assert.is_truthy(text:find("latency_downstream", 1, true))
        assert.is_truthy(text:find("p99 ms", 1, true))
    end)
end)

describe("chaos.proxy bad input", function()
    it("returns ChaosErrors for bad toxics and keeps serving its conns", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local c = cs.dial(p)
        local cases = {
            { { type = "nope" }, "invalid_type", "unknown toxic type nope" },
            { { type = "latency", nope = 1 }, "bad_value", "latency has no attribute nope" },
            { { type = "bandwidth", rate = -1 }, "bad_value", "bandwidth: rate must be a non-negative number, got -1" },
            { { type = "latency", toxicity = 1.5 }, "bad_value", "toxicity must be a number in [0, 1], got 1.5" },
            { { type = "latency", stream = "sideways" }, "invalid_stream" },
            { { type = "latency", scope = "message" }, "bad_value", "scope message needs a framer" },
            { { type = "latency", nth = 0 }, "bad_value" },
            { { type = "refuse", toxicity = 0.5 }, "bad_value" },
            { { type = "slicer", avg = 10, var = 10 }, "bad_value" },
        }
        for _, case in ipairs(cases) do
            local x, err = p:add(case[1])
            assert.is_nil(x)
            local ce = errors.as(err, "ChaosError")
            assert.is_truthy(ce, tostring(err))
            assert.are.equal(case[2], ce.code)
            if case[3] then
                assert.are.equal("chaos: " .. case[3], tostring(err))
            end
        end
        assert(p:add { type = "latency", ms = 1 })
        local _, err = p:add { type = "latency", ms = 2 }
        assert.are.equal("toxic_exists", err.code)
        _, err = p:remove("nope")
        assert.are.equal("toxic_not_found", err.code)
        _, err = p:update("latency_downstream", { ms = -5 })
        assert.are.equal("bad_value", err.code)
        _, err = p:update("latency_downstream", { stream = "up" })
        assert.are.equal("bad_value", err.code)
        assert.are.equal(1, p:toxic("latency_downstream").ms)
        cs.rtt(c)
        c:close()
        p:close()
        up:close()
    end)

    it("raises on misuse", function()
        assert.has_error(function()
            chaos.proxy()
        end, "bad argument #1 to 'proxy' (table expected, got nil)")
        assert.has_error(function()
            chaos.proxy { upstream = 5 }
        end, "bad argument #1 to 'proxy' (upstream: address expected, got number)")
        local up = cs.echo()
        local p = cs.proxy(up)
        assert.has_error(function()
            p:add("latency")
        end, "bad argument #1 to 'add' (table expected, got string)")
        assert.has_error(function()
            p.add({}, {})
        end, "bad argument #1 to 'add' (chaos proxy expected, got table)")
        p:close()
        up:close()
    end)

    it("fails to listen on an address in use with the listen error", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local p2, err = chaos.proxy { listen = tostring(p:addr()), upstream = up.addr }
        assert.is_nil(p2)
        assert.is_true(errors.is(err, lnet.errno.EADDRINUSE), tostring(err))
        local c = cs.dial(p)
        cs.rtt(c)
        c:close()
        p:close()
        up:close()
    end)

    it("closes the client promptly when the upstream refuses, and says why", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local dead = tostring(ln:addr())
        ln:close()
        local p = cs.proxy(dead)
        local c = cs.dial(p)
        c:set_read_deadline(lnet.now() + support.SLACK)
        local _, err = c:read(1)
        assert.are.equal(lnet.EOF, err)
        c:close()
        local e = cs.events(p, { what = "upstream_error" })[1]
        assert.is_truthy(e.error:find("connection refused", 1, true), e.error)
        p:close()
    end)

    it("closes the client after connect_timeout when the upstream is black-holed", function()
        local up = cs.echo()
        local hole = cs.proxy(up)
        assert(hole:add { type = "syn_blackhole" })
        local p = cs.proxy(tostring(hole:addr()), { connect_timeout = 0.2 })
        local t = lnet.now()
        local c = cs.dial(p)
        c:set_read_deadline(lnet.now() + support.SLACK)
        local _, err = c:read(1)
        assert.are.equal(lnet.EOF, err)
        local took = lnet.now() - t
        assert.is_true(took >= 0.15 and took < 1, "took " .. took)
        c:close()
        local e = cs.events(p, { what = "upstream_error" })[1]
        assert.is_truthy(e.error:find("i/o timeout", 1, true), e.error)
        p:close()
        hole:close()
        up:close()
    end)
end)
