-- lnet.chaos.dns: names that fail as a script says, asked by lnet's own
-- resolver pointed at the server, and by dig; and chaos.timeline (issue 14).

local lnet = require "lnet"
local chaos = require "lnet.chaos"
local ds = require "dns_support"
local cs = require "chaos_support"

local errors = lnet.errors
local bg = lnet.context.background()

local ZONE = {
    ["ok.test."] = { A = { "192.0.2.1" } },
    ["flaky.test."] = { A = { "192.0.2.2" } },
    ["slow.test."] = { A = { "192.0.2.3" } },
    ["big.test."] = { A = { "192.0.2.4" } },
}

local function server()
    return assert(chaos.dns { zone = ZONE, seed = 1 })
end

local function hosts(list)
    local out = {}
    for i, a in ipairs(list or {}) do
        out[i] = tostring(a)
    end
    table.sort(out)
    return out
end

describe("chaos.dns", function()
    it("answers from the zone; NXDOMAIN and SERVFAIL faults reach the resolver as Go's errors", function()
        local d = server()
        local r = d:resolver()
        assert.are.same({ "192.0.2.1" }, hosts(r:lookup_host(bg, "ok.test")))
        assert.are.equal("ok.test/NXDOMAIN", d:fault { name = "ok.test", action = "NXDOMAIN" })
        local addrs, err = r:lookup_host(bg, "ok.test")
        assert.is_nil(addrs)
        local de = errors.as(err, "DNSError")
        assert.is_true(de.is_not_found, tostring(err))
        assert(d:clear("ok.test/NXDOMAIN"))
        assert(d:fault { name = "*.test", action = "SERVFAIL" })
        addrs, err = r:lookup_host(bg, "flaky.test")
        assert.is_nil(addrs)
        de = errors.as(err, "DNSError")
        assert.is_false(de.is_not_found)
        assert.is_true(de.is_temporary, tostring(err))
        local ev = d:events()
        assert.are.same({ "NXDOMAIN", "SERVFAIL" }, { ev[1].what, ev[#ev].what })
        d:close()
    end)

    it("timeout: no answer, so the lookup times out", function()
        local d = server()
        local r = d:resolver { timeout = 0.2 }
        assert(d:fault { name = "ok.test", action = "timeout" })
        local t = lnet.now()
        local addrs, err = r:lookup_host(bg, "ok.test")
        assert.is_nil(addrs)
        assert.is_true(errors.as(err, "DNSError").is_timeout, tostring(err))
        assert.is_true(lnet.now() - t >= 0.15)
        d:close()
    end)

    it("slow answers late; truncate makes the client ask again over TCP", function()
        local d = server()
        local r = d:resolver { timeout = 2 }
        assert(d:fault { name = "slow.test", action = "slow", ms = 200 })
        local t = lnet.now()
        assert.are.same({ "192.0.2.3" }, hosts(r:lookup_ip(bg, "ip4", "slow.test")))
        assert.is_true(lnet.now() - t >= 0.19)
        assert(d:fault { name = "big.test", action = "truncate", type = "A" })
        assert.are.same({ "192.0.2.4" }, hosts(r:lookup_ip(bg, "ip4", "big.test")))
        local protos = {}
        for _, q in ipairs(d:queries()) do
            if q.name == "big.test." then
                protos[#protos + 1] = q.proto
            end
        end
        assert.are.same({ "udp", "tcp" }, protos)
        d:close()
    end)

    it("answer gives a wrong answer; p draws per query, nth counts queries", function()
        local d = server()
        assert(d:fault { name = "ok.test", action = "answer", type = "A",
                         answers = { { name = "ok.test.", type = "A", ip = "198.51.100.7" } } })
        assert.are.same({ "ok.test. 0 IN A 198.51.100.7" }, ds.dig_answers(d:addr(), "ok.test", "A"))
        assert(d:clear())
        assert(d:fault { name = "flaky.test", action = "REFUSED", nth = 2 })
        local statuses = {}
        for i = 1, 4 do
            local _, out = ds.dig(d:addr(), "flaky.test", "A")
            statuses[i] = out:match("status: (%u+)")
        end
        assert.are.same({ "NOERROR", "REFUSED", "NOERROR", "REFUSED" }, statuses)
        d:close()
    end)

    it("rejects bad faults with ChaosErrors", function()
        local d = server()
        for _, case in ipairs {
            { { name = "x", action = "NOPE" }, "bad_value" },
            { { action = "timeout" }, "missing_field" },
            { { name = "x", action = "slow", ms = -1 }, "bad_value" },
            { { name = "x", action = "answer" }, "bad_value" },
            { { name = "x", action = "timeout", p = 3 }, "bad_value" },
            { { name = "x", action = "timeout", what = 1 }, "bad_value" },
        } do
            local id, err = d:fault(case[1])
            assert.is_nil(id)
            assert.are.equal(case[2], errors.as(err, "ChaosError").code)
        end
        local _, err = d:clear("nope")
        assert.are.equal("toxic_not_found", err.code)
        d:close()
    end)
end)

describe("chaos.timeline", function()
    it("runs steps at their times, on proxies and DNS servers, and records each", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local d = server()
        local c = cs.dial(p)
        local marks = {}
        local tl = chaos.timeline {
            { at = 0.1, proxy = p, add = { type = "latency", ms = 80 } },
            { at = 0, function()
                marks[#marks + 1] = "start"
            end },
            { at = 0.3, proxy = p, update = { "latency_downstream", { ms = 5 } } },
            { at = 0.35, dns = d, fault = { name = "ok.test", action = "NXDOMAIN" } },
            { at = 0.4, proxy = p, remove = "latency_downstream" },
            { at = 0.4, proxy = p, remove = "nope" },
        }
        assert.is_true(cs.rtt(c) < 50)
        lnet.sleep(0.15)
        assert.is_true(cs.rtt(c) >= 75)
        local ok, err, index = tl:wait()
        assert.is_nil(ok)
        assert.are.equal(6, index)
        assert.are.equal("toxic_not_found", err.code)
        assert.is_true(cs.rtt(c) < 50)
        local log = tl:log()
        assert.are.same({ 2, 1, 3, 4, 5, 6 }, { log[1].step, log[2].step, log[3].step, log[4].step, log[5].step,
                                                log[6].step })
        for _, r in ipairs(log) do
            assert.is_true(r.t >= r.at - 0.001 and r.t < r.at + 0.1, r.step .. " at " .. r.t)
        end
        assert.are.same({ "start" }, marks)
        assert.is_nil(d:resolver():lookup_host(bg, "ok.test"))
        c:close()
        p:close()
        d:close()
        up:close()
    end)

    it("cancel stops the steps not run yet; malformed steps raise", function()
        local hit = false
        local tl = chaos.timeline { { at = 5, function()
            hit = true
        end } }
        tl:cancel()
        local ok, err = tl:wait()
        assert.is_nil(ok)
        assert.is_truthy(err)
        assert.is_false(hit)
        assert.has_error(function()
            chaos.timeline { { at = -1, function() end } }
        end, "bad argument #1 to 'timeline' (step 1: at: non-negative number expected, got -1)")
        assert.has_error(function()
            chaos.timeline { { at = 1, proxy = {}, add = {}, remove = "x" } }
        end)
    end)
end)
