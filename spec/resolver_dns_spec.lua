-- lnet.resolver (issue 9) against lnet.dns.server on loopback: a zone for
-- every method, and handlers for every DNSError flag, strict and not, the
-- search list and ndots, TC -> TCP, slow answers and a server that never
-- answers (bounded by ctx and by `timeout`). resolver_spec.lua covers the
-- same ground against dnsmasq, a real server.

local lnet = require "lnet"
local dns = require "lnet.dns"
local support = require "support"
local errors = lnet.errors
local context = lnet.context
local ffi = require "ffi"

pcall(ffi.cdef, [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]])

local bg = context.background()

local ZONE = {
    ["host.test."] = { A = { "192.0.2.10", "192.0.2.11" }, AAAA = { "2001:db8::10" } },
    ["alias.test."] = { CNAME = { "host.test." } },
    ["alias2.test."] = { CNAME = { "alias.test." } },
    ["mx.test."] = { MX = { { pref = 20, host = "b.mx.test." }, { pref = 10, host = "a.mx.test." } } },
    ["_xmpp._tcp.srv.test."] = {
        SRV = { { priority = 2, weight = 0, port = 5270, target = "c.test." },
                { priority = 1, weight = 100, port = 5269, target = "a.test." },
                { priority = 1, weight = 0, port = 5268, target = "b.test." } },
    },
    ["txt.test."] = { TXT = { "one", { texts = { "two-", "parts" } } } },
    ["test."] = { NS = { "ns1.test.", "ns2.test." } },
    ["10.2.0.192.in-addr.arpa."] = { PTR = { "host.test." } },
    ["0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."] = { PTR = { "host.test." } },
    ["v4only.test."] = { A = { "192.0.2.4" } },
    ["here.sub.test."] = { A = { "192.0.2.20" } },
    ["a.b.test."] = { A = { "192.0.2.30" } },
    ["a.b.test.sub.test."] = { A = { "192.0.2.31" } },
    ["bad.mx.test."] = { MX = { { pref = 1, host = "ok.test." } } },
}

local function with_server(opts, fn)
    local srv = assert(dns.server(opts))
    local ok, err = pcall(fn, srv, tostring(srv:addr()))
    srv:close()
    assert(ok, err)
end

local function resolver(server, extra)
    local opts = { servers = { server }, prefer = "ares", attempts = 1 }
    for k, v in pairs(extra or {}) do
        opts[k] = v
    end
    return assert(lnet.resolver(opts))
end

local function sorted(list)
    local out = {}
    for i, v in ipairs(list) do
        out[i] = tostring(v)
    end
    table.sort(out)
    return out
end

local function with_env(vars, fn)
    for k, v in pairs(vars) do
        ffi.C.setenv(k, v, 1)
    end
    local ok, err = pcall(fn)
    for k in pairs(vars) do
        ffi.C.unsetenv(k)
    end
    assert(ok, err)
end

describe("resolver against lnet.dns.server: every method", function()
    it("lookup_host, lookup_ip: A and AAAA together, ip4/ip6 filters", function()
        with_server({ zone = ZONE }, function(_, server)
            local r = resolver(server)
            assert.same({ "192.0.2.10", "192.0.2.11", "2001:db8::10" }, sorted(r:lookup_host(bg, "host.test")))
            assert.same({ "192.0.2.10", "192.0.2.11" }, sorted(r:lookup_ip(bg, "ip4", "host.test")))
            assert.same({ "2001:db8::10" }, sorted(r:lookup_ip(bg, "ip6", "host.test")))
            -- A CNAME chain is followed by the server; the addresses are the target's.
            assert.same({ "192.0.2.10", "192.0.2.11", "2001:db8::10" }, sorted(r:lookup_host(bg, "alias2.test")))
        end)
    end)

    it("lookup_cname: the end of the chain, absolute", function()
        with_server({ zone = ZONE }, function(_, server)
            local r = resolver(server)
            assert.equal("host.test.", r:lookup_cname(bg, "alias2.test"))
            assert.equal("host.test.", r:lookup_cname(bg, "alias.test."))
            assert.equal("host.test.", r:lookup_cname(bg, "host.test"))
        end)
    end)

    it("lookup_mx, lookup_srv, lookup_txt, lookup_ns, lookup_addr", function()
        with_server({ zone = ZONE }, function(_, server)
            local r = resolver(server)
            assert.same({ { host = "a.mx.test.", pref = 10 }, { host = "b.mx.test.", pref = 20 } },
                r:lookup_mx(bg, "mx.test"))
            local cname, srv = r:lookup_srv(bg, "xmpp", "tcp", "srv.test")
            assert.equal("_xmpp._tcp.srv.test.", cname)
            -- Priority 1 first; weight 100 against 0 always wins the draw.
            assert.same({ target = "a.test.", port = 5269, priority = 1, weight = 100 }, srv[1])
            assert.same({ target = "b.test.", port = 5268, priority = 1, weight = 0 }, srv[2])
            assert.same({ target = "c.test.", port = 5270, priority = 2, weight = 0 }, srv[3])
            assert.same({ "one", "two-parts" }, sorted(r:lookup_txt(bg, "txt.test")))
            assert.same({ { host = "ns1.test." }, { host = "ns2.test." } }, r:lookup_ns(bg, "test"))
            assert.same({ "host.test." }, r:lookup_addr(bg, "192.0.2.10"))
            assert.same({ "host.test." }, r:lookup_addr(bg, "2001:db8::10"))
        end)
    end)

    it("records with names that are no domain names are dropped, with Go's error beside the rest", function()
        with_server({
            handler = function(req)
                local q = req.questions[1]
                if q.type == "MX" then
                    return { answers = { { name = q.name, type = "MX", pref = 1, host = "ok.test." },
                                         { name = q.name, type = "MX", pref = 2, host = "bad_name!.test." } } }
                end
                return "NXDOMAIN"
            end,
        }, function(_, server)
            local mx, err = resolver(server):lookup_mx(bg, "m.test")
            assert.same({ { host = "ok.test.", pref = 1 } }, mx)
            assert.equal("lookup m.test: DNS response contained records which contain invalid names", tostring(err))
        end)
    end)
end)

describe("resolver against lnet.dns.server: DNSError", function()
    it("NXDOMAIN: is_not_found only, Go's text naming the server", function()
        with_server({ zone = ZONE }, function(_, server)
            for _, method in ipairs({ "lookup_host", "lookup_cname", "lookup_mx", "lookup_txt", "lookup_ns" }) do
                local r = resolver(server)
                local res, err = r[method](r, bg, "nosuch.test")
                assert.is_nil(res)
                assert.equal("lookup nosuch.test on " .. server .. ": no such host", tostring(err))
                assert.is_true(err.is_not_found)
                assert.is_false(err.is_temporary)
                assert.is_false(err.is_timeout)
            end
        end)
    end)

    it("no data of the type (NOERROR, no answer): is_not_found", function()
        with_server({ zone = ZONE }, function(_, server)
            local r = resolver(server)
            local ips, err = r:lookup_ip(bg, "ip6", "v4only.test")
            assert.is_nil(ips)
            assert.is_true(err.is_not_found)
            assert.equal("lookup v4only.test on " .. server .. ": no such host", tostring(err))
            local _, srv, serr = r:lookup_srv(bg, "", "", "host.test")
            assert.is_nil(srv)
            assert.is_true(serr.is_not_found)
        end)
    end)

    it("SERVFAIL: is_temporary, 'server misbehaving'; REFUSED: neither flag", function()
        with_server({
            handler = function(req)
                return req.questions[1].name == "refused.test." and "REFUSED" or "SERVFAIL"
            end,
        }, function(_, server)
            local r = resolver(server)
            local _, err = r:lookup_mx(bg, "fail.test")
            assert.equal("lookup fail.test on " .. server .. ": server misbehaving", tostring(err))
            assert.is_true(err.is_temporary)
            assert.is_false(err.is_not_found)
            assert.is_false(err:timeout())
            _, err = r:lookup_mx(bg, "refused.test")
            assert.equal("lookup refused.test on " .. server .. ": server misbehaving", tostring(err))
            assert.is_false(err.is_temporary)
            assert.is_false(err.is_not_found)
        end)
    end)

    it("no answer in time (drop, wrong id, garbage): is_timeout, is_temporary, err:timeout()", function()
        for _, action in ipairs({ "drop", "garbage" }) do
            with_server({ handler = function()
                return action
            end }, function(_, server)
                local t0 = lnet.now()
                local ips, err = resolver(server, { timeout = 0.1 }):lookup_ip(bg, "ip4", "x.test")
                assert.is_nil(ips)
                assert.equal("lookup x.test on " .. server .. ": i/o timeout", tostring(err), action)
                assert.is_true(err.is_timeout)
                assert.is_true(err.is_temporary)
                assert.is_true(err:timeout())
                assert.is_true(lnet.now() - t0 < support.SLACK)
            end)
        end
        with_server({ handler = function(req)
            return { id = (req.id + 1) % 65536, answers = {} }
        end }, function(_, server)
            local _, err = resolver(server, { timeout = 0.1 }):lookup_ip(bg, "ip4", "x.test")
            assert.is_true(err.is_timeout)
        end)
    end)

    it("strict_errors: AAAA's SERVFAIL beside A's records; without it, the records alone", function()
        with_server({
            handler = function(req)
                local q = req.questions[1]
                if q.type == "AAAA" then
                    return "SERVFAIL"
                end
                return { answers = { { name = q.name, type = "A", ip = "192.0.2.77" } } }
            end,
        }, function(_, server)
            local ips, err = resolver(server):lookup_ip(bg, "ip", "half.test")
            assert.same({ "192.0.2.77" }, sorted(ips))
            assert.is_nil(err)
            ips, err = resolver(server, { strict_errors = true }):lookup_ip(bg, "ip", "half.test")
            assert.same({ "192.0.2.77" }, sorted(ips))
            assert.equal("lookup half.test on " .. server .. ": server misbehaving", tostring(err))
            assert.is_true(err.is_temporary)
            -- A permanent failure is not strict's business.
            ips, err = resolver(server, { strict_errors = true }):lookup_ip(bg, "ip4", "half.test")
            assert.same({ "192.0.2.77" }, sorted(ips))
            assert.is_nil(err)
        end)
    end)
end)

describe("resolver against lnet.dns.server: transport and time", function()
    it("a truncated UDP answer is asked again over TCP", function()
        with_server({
            handler = function(req, info)
                if info.proto == "udp" then
                    return "truncate"
                end
                local q = req.questions[1]
                return { answers = { { name = q.name, type = "TXT", texts = { string.rep("t", 200) } } } }
            end,
        }, function(srv, server)
            local txt = assert(resolver(server):lookup_txt(bg, "tc.test"))
            assert.same({ string.rep("t", 200) }, txt)
            local log = srv:queries()
            assert.equal("udp", log[1].proto)
            assert.equal("tcp", log[#log].proto)
        end)
    end)

    it("slow answers: within `timeout` they come; past it, is_timeout after each attempt", function()
        with_server({
            handler = function(req)
                local q = req.questions[1]
                -- slower.test answers after every attempt is over (c-ares
                -- takes a late answer to an earlier attempt as the answer).
                local delay = q.name == "slower.test." and 1 or 0.15
                return { delay = delay, answers = { { name = q.name, type = "A", ip = "192.0.2.5" } } }
            end,
        }, function(srv, server)
            local t0 = lnet.now()
            local ips = assert(resolver(server, { timeout = 1 }):lookup_ip(bg, "ip4", "slow.test"))
            assert.equal("192.0.2.5", tostring(ips[1]))
            assert.is_true(lnet.now() - t0 >= 0.15)
            local before = #srv:queries()
            local _, err = resolver(server, { timeout = 0.05, attempts = 2 }):lookup_ip(bg, "ip4", "slower.test")
            assert.is_true(err:timeout())
            assert.equal(2, #srv:queries() - before)
        end)
    end)

    it("a server that never answers: ctx ends the lookup within 50 ms, and so does a task cancel", function()
        with_server({ handler = function()
            return "drop"
        end }, function(_, server)
            local r = resolver(server, { timeout = 10, attempts = 3 })
            for _, method in ipairs({ "lookup_ip", "lookup_srv", "lookup_addr", "lookup_ns" }) do
                local ctx, cancel = context.with_timeout(bg, 0.02)
                local t0 = lnet.now()
                local res, err
                if method == "lookup_ip" then
                    res, err = r:lookup_ip(ctx, "ip", "hole.test")
                elseif method == "lookup_srv" then
                    res, _, err = r:lookup_srv(ctx, "a", "tcp", "hole.test")
                elseif method == "lookup_addr" then
                    res, err = r:lookup_addr(ctx, "192.0.2.99")
                else
                    res, err = r:lookup_ns(ctx, "hole.test")
                end
                local took = lnet.now() - t0
                cancel()
                assert.is_nil(res)
                -- Go's mapErr: "i/o timeout", which errors.is finds the ctx's error in.
                assert.equal("i/o timeout", tostring(err), method)
                assert.is_true(errors.is(err, errors.DeadlineExceeded), method)
                assert.is_true(took < 0.02 + 0.05, method .. " took " .. took)
            end
            local task = lnet.go(function()
                return r:lookup_txt(bg, "hole.test")
            end)
            lnet.sleep(0.02)
            local t0 = lnet.now()
            task:cancel()
            local txt, err = task:join()
            assert.is_nil(txt)
            assert.is_true(errors.is(err, errors.Canceled))
            assert.is_true(lnet.now() - t0 < 0.05)
        end)
    end)

    it("many lookups at once on one resolver, each answered (channels reused, no fd left)", function()
        with_server({ zone = ZONE }, function(_, server)
            -- 100 in flight, 2 queries each: within the server's socket buffer.
            local r = resolver(server, { timeout = 1, attempts = 2 })
            local wg = lnet.wait_group()
            local got = 0
            for _ = 1, 100 do
                wg:add(1)
                lnet.go(function()
                    local ips = r:lookup_ip(bg, "ip", "host.test")
                    if ips and #ips == 3 then
                        got = got + 1
                    end
                    wg:done()
                end)
            end
            wg:wait()
            assert.equal(100, got)
        end)
    end)
end)

describe("resolver against lnet.dns.server: search list and ndots", function()
    it("too few dots: the search list first; enough: the name first; a trailing dot: only it", function()
        with_server({ zone = ZONE }, function(_, server)
            with_env({ LOCALDOMAIN = "sub.test test", RES_OPTIONS = "ndots:1" }, function()
                local r = resolver(server)
                assert.same({ "192.0.2.20" }, sorted(r:lookup_ip(bg, "ip4", "here")))
                -- "a.b" has 1 dot: a.b. first (NXDOMAIN), then a.b.sub.test., then a.b.test.
                assert.same({ "192.0.2.30" }, sorted(r:lookup_ip(bg, "ip4", "a.b")))
                assert.same({ "192.0.2.30" }, sorted(r:lookup_ip(bg, "ip4", "a.b.test")))
                local ips, err = r:lookup_ip(bg, "ip4", "here.")
                assert.is_nil(ips)
                assert.equal("lookup here. on " .. server .. ": no such host", tostring(err))
            end)
            with_env({ LOCALDOMAIN = "sub.test", RES_OPTIONS = "ndots:3" }, function()
                -- Two dots < 3: a.b.test.sub.test. is asked before a.b.test.
                assert.same({ "192.0.2.31" }, sorted(resolver(server):lookup_ip(bg, "ip4", "a.b.test")))
            end)
        end)
    end)

    it("the error shown is the name asked, not a suffixed one", function()
        with_server({ zone = ZONE }, function(_, server)
            with_env({ LOCALDOMAIN = "sub.test test" }, function()
                local _, err = resolver(server):lookup_mx(bg, "nothere")
                assert.equal("lookup nothere on " .. server .. ": no such host", tostring(err))
                assert.equal("nothere", err.name)
            end)
        end)
    end)

    it("strict_errors: a SERVFAIL on one search name stops the list; without it, the next name answers", function()
        with_server({
            handler = function(req)
                local q = req.questions[1]
                if q.name:find("sub%.test%.$") then
                    return "SERVFAIL"
                end
                if q.type == "A" then
                    return { answers = { { name = q.name, type = "A", ip = "192.0.2.88" } } }
                end
                return { answers = {} }
            end,
        }, function(_, server)
            with_env({ LOCALDOMAIN = "sub.test test" }, function()
                assert.same({ "192.0.2.88" }, sorted(resolver(server):lookup_ip(bg, "ip", "h")))
                local ips, err = resolver(server, { strict_errors = true }):lookup_ip(bg, "ip", "h")
                assert.is_nil(ips)
                assert.is_true(err.is_temporary)
                local txt, terr = resolver(server, { strict_errors = true }):lookup_txt(bg, "h")
                assert.is_nil(txt)
                assert.is_true(terr.is_temporary)
            end)
        end)
    end)
end)

describe("Happy Eyeballs against lnet.dns.server", function()
    it("a ctx that ends during the race ends the dial, both racers gone", function()
        if not support.ipv6_loopback() then
            print("skipped: no ::1 on this host")
            return
        end
        with_server({ zone = { ["he.test."] = { A = { "127.0.0.1" }, AAAA = { "::1" } } } }, function(_, server)
            -- Both families hang: full accept queues drop SYNs.
            local ln6 = assert(lnet.listen("tcp6", "[::1]:0", { backlog = 0 }))
            local port = ln6:addr().port
            local ln4 = assert(lnet.listen("tcp4", "127.0.0.1:" .. port, { backlog = 0 }))
            local f6 = assert(lnet.dial("tcp6", "[::1]:" .. port))
            local f4 = assert(lnet.dial("tcp4", "127.0.0.1:" .. port))
            local d = lnet.dialer({ resolver = resolver(server) })
            for _, wait in ipairs({ 0.1, 0.5 }) do -- before and after the fallback starts
                local ctx, cancel = context.with_timeout(bg, wait)
                local t0 = lnet.now()
                local c, err = d:dial("tcp", "he.test:" .. port, ctx)
                cancel()
                assert.is_nil(c)
                assert.is_true(errors.is(err, context.DeadlineExceeded), tostring(err))
                assert.matches("^dial tcp %[::1%]:%d+: ", tostring(err))
                assert.is_true(lnet.now() - t0 < wait + 0.2)
            end
            f6:close()
            f4:close()
            ln4:close()
            ln6:close()
        end)
    end)
end)
