-- lnet.resolver (issue 9; seed §6-§8, DESIGN "Resolver") on the "ares"
-- path, against real servers on loopback: dnsmasq for records, NXDOMAIN,
-- no-data and TC -> TCP; a small UDP responder for SERVFAIL, a partial
-- failure and a black hole. The system path and the choice run in children
-- under their own mount and network namespaces (resolver_system_spec.lua).

local lnet = require "lnet"
local support = require "support"
local errors = lnet.errors
local context = lnet.context
local ffi = require "ffi"

ffi.cdef [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]]

local bg = context.background()

local RECORDS = {
    "local=/2.0.192.in-addr.arpa/",
    "local=/only/",
    "host-record=both.test,192.0.2.2,2001:db8::2",
    "host-record=v4.test,192.0.2.4",
    "host-record=v4.test.sub.test,192.0.2.44",
    "host-record=only.sub.test,192.0.2.5",
    "cname=alias.test,both.test",
    "mx-host=mx.test,mail1.test,10",
    "mx-host=mx.test,mail2.test,5",
    "mx-host=mx.test,mail3.test,20",
    "srv-host=_sip._tcp.srv.test,t1.test,5060,10,60",
    "srv-host=_sip._tcp.srv.test,t2.test,5061,20,10",
    "srv-host=_sip._tcp.srv.test,t3.test,5062,10,40",
    'txt-record=txt.test,"hello","world"',
    'txt-record=txt.test,"second"',
    "txt-record=big.test," .. string.rep('"' .. string.rep("x", 200) .. '",', 4) .. '"end"',
    "ptr-record=2.2.0.192.in-addr.arpa,both.test",
    "host-record=he.test,127.0.0.1,::1",
}

local function with_dnsmasq(fn)
    local dm = support.dnsmasq(RECORDS)
    local ok, err = pcall(fn, dm)
    dm.stop()
    assert(ok, err)
end

local function ares(server, extra)
    local opts = { servers = { server }, prefer = "ares" }
    for k, v in pairs(extra or {}) do
        opts[k] = v
    end
    return assert(lnet.resolver(opts))
end

local function strings(list)
    local out = {}
    for i, v in ipairs(list) do
        out[i] = tostring(v)
    end
    table.sort(out)
    return table.concat(out, " ")
end

describe("resolver (ares) against dnsmasq", function()
    it("lookup_host gives both families' addresses, IPv6 first (RFC 6724 precedence)", function()
        with_dnsmasq(function(dm)
            local hosts = assert(ares(dm.server):lookup_host(bg, "both.test"))
            assert.same({ "2001:db8::2", "192.0.2.2" }, hosts)
        end)
    end)

    it("lookup_ip gives lnet.ip values, filtered by ip4 and ip6", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            local ips = assert(r:lookup_ip(bg, "ip4", "both.test"))
            assert.equal(1, #ips)
            assert.equal(lnet.ip.parse_addr("192.0.2.2"), ips[1])
            ips = assert(r:lookup_ip(bg, "ip6", "both.test"))
            assert.equal(lnet.ip.parse_addr("2001:db8::2"), ips[1])
            assert.equal("192.0.2.2 2001:db8::2", strings(assert(r:lookup_ip(bg, "ip", "both.test."))))
        end)
    end)

    it("NXDOMAIN is a DNSError with is_not_found and Go's text", function()
        with_dnsmasq(function(dm)
            local ips, err = ares(dm.server):lookup_ip(bg, "ip", "nosuch.test")
            assert.is_nil(ips)
            assert.equal("lookup nosuch.test on " .. dm.server .. ": no such host", tostring(err))
            local e = errors.as(err, "DNSError")
            assert.is_true(e.is_not_found)
            assert.is_false(e.is_temporary)
            assert.is_false(e.is_timeout)
            assert.is_false(err:timeout())
            assert.equal("nosuch.test", e.name)
            assert.equal(dm.server, e.server)
        end)
    end)

    it("no data of the type asked is is_not_found too", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            local ips, err = r:lookup_ip(bg, "ip6", "v4.test")
            assert.is_nil(ips)
            assert.is_true(err.is_not_found)
            assert.equal("lookup v4.test on " .. dm.server .. ": no such host", tostring(err))
            local mx, merr = r:lookup_mx(bg, "both.test")
            assert.is_nil(mx)
            assert.is_true(merr.is_not_found)
            local ns, nerr = r:lookup_ns(bg, "test")
            assert.is_nil(ns)
            assert.is_true(nerr.is_not_found)
        end)
    end)

    it("lookup_cname follows the chain to an absolute name; a name with no CNAME is its own", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            assert.equal("both.test.", r:lookup_cname(bg, "alias.test"))
            assert.equal("both.test.", r:lookup_cname(bg, "both.test"))
            local c, err = r:lookup_cname(bg, "nosuch.test")
            assert.is_nil(c)
            assert.is_true(err.is_not_found)
        end)
    end)

    it("lookup_mx sorts by preference, hosts absolute", function()
        with_dnsmasq(function(dm)
            local mx = assert(ares(dm.server):lookup_mx(bg, "mx.test"))
            assert.same({ { host = "mail2.test.", pref = 5 }, { host = "mail1.test.", pref = 10 },
                          { host = "mail3.test.", pref = 20 } }, mx)
        end)
    end)

    it("lookup_srv returns the owner name and records by priority, weighted within one (RFC 2782)", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            local firsts = {}
            for _ = 1, 40 do
                local cname, srv = r:lookup_srv(bg, "sip", "tcp", "srv.test")
                assert.equal("_sip._tcp.srv.test.", cname)
                assert.equal(3, #srv)
                assert.equal(10, srv[1].priority)
                assert.equal(10, srv[2].priority)
                assert.same({ target = "t2.test.", port = 5061, priority = 20, weight = 10 }, srv[3])
                firsts[srv[1].target] = (firsts[srv[1].target] or 0) + 1
            end
            -- Weights 60 and 40: both come first sometimes (p < 1e-8 otherwise).
            assert.is_true(firsts["t1.test."] > 0 and firsts["t3.test."] > 0)
            -- Empty service and proto ask the name itself.
            local cname, srv = r:lookup_srv(bg, "", "", "_sip._tcp.srv.test")
            assert.equal("_sip._tcp.srv.test.", cname)
            assert.equal(3, #srv)
        end)
    end)

    it("lookup_txt joins each record's strings; a long answer truncated over UDP comes again over TCP", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            local txt = assert(r:lookup_txt(bg, "txt.test"))
            table.sort(txt)
            assert.same({ "helloworld", "second" }, txt)
            local big = assert(r:lookup_txt(bg, "big.test"))
            assert.equal(string.rep("x", 800) .. "end", big[1])
        end)
    end)

    it("lookup_addr gives PTR names, absolute; /etc/hosts first", function()
        with_dnsmasq(function(dm)
            local r = ares(dm.server)
            assert.same({ "both.test." }, r:lookup_addr(bg, "192.0.2.2"))
            assert.equal("localhost", r:lookup_addr(bg, "127.0.0.1")[1])
            local names, err = r:lookup_addr(bg, "192.0.2.77")
            assert.is_nil(names)
            assert.is_true(err.is_not_found)
            assert.equal("lookup 192.0.2.77 on " .. dm.server .. ": no such host", tostring(err))
            names, err = r:lookup_addr(bg, "not an ip")
            assert.is_nil(names)
            assert.equal("lookup not an ip: unrecognized address", tostring(err))
        end)
    end)

    it("search domains and ndots (LOCALDOMAIN, RES_OPTIONS) as Go's nameList; a trailing dot is absolute", function()
        with_dnsmasq(function(dm)
            ffi.C.setenv("LOCALDOMAIN", "sub.test test", 1)
            ffi.C.setenv("RES_OPTIONS", "ndots:1", 1)
            local ok, err = pcall(function()
                local r = ares(dm.server)
                -- Enough dots: the name as given first.
                assert.same({ "192.0.2.4" }, r:lookup_host(bg, "v4.test"))
                -- Too few: the search list first.
                assert.same({ "192.0.2.5" }, r:lookup_host(bg, "only"))
                local both = r:lookup_host(bg, "both")
                table.sort(both)
                assert.same({ "192.0.2.2", "2001:db8::2" }, both)
                local h, e = r:lookup_host(bg, "only.")
                assert.is_nil(h)
                assert.is_true(e.is_not_found)
                assert.equal("lookup only. on " .. dm.server .. ": no such host", tostring(e))
                ffi.C.setenv("RES_OPTIONS", "ndots:2", 1)
                assert.same({ "192.0.2.44" }, ares(dm.server):lookup_host(bg, "v4.test"))
            end)
            ffi.C.unsetenv("LOCALDOMAIN")
            ffi.C.unsetenv("RES_OPTIONS")
            assert(ok, err)
        end)
    end)

    it("nameList is Go's: ndots, suffixes, the root dot, .onion and overlong names", function()
        local name_list = require("lnet.resolver").name_list
        local cfg = { ndots = 1, search = { "a.example.", "b.example." } }
        assert.same({ "x.a.example.", "x.b.example.", "x." }, name_list(cfg, "x"))
        assert.same({ "x.y.", "x.y.a.example.", "x.y.b.example." }, name_list(cfg, "x.y"))
        assert.same({ "x.y." }, name_list(cfg, "x.y."))
        assert.same({}, name_list(cfg, "hidden.onion"))
        assert.same({}, name_list(cfg, string.rep("a", 255)))
    end)
end)

describe("resolver (ares) errors", function()
    it("SERVFAIL is is_temporary, not is_not_found: Go's 'server misbehaving'", function()
        local srv = support.dns_responder(function()
            return 2
        end)
        local ips, err = ares(srv.server, { attempts = 1 }):lookup_ip(bg, "ip4", "fail.test")
        srv.stop()
        assert.is_nil(ips)
        assert.equal("lookup fail.test on " .. srv.server .. ": server misbehaving", tostring(err))
        assert.is_true(err.is_temporary)
        assert.is_false(err.is_not_found)
        assert.is_false(err.is_timeout)
    end)

    it("no answer in time is is_timeout and is_temporary, and err:timeout(); attempts are counted", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local t0 = lnet.now()
        local ips, err = ares(srv.server, { timeout = 0.1, attempts = 2 }):lookup_ip(bg, "ip4", "slow.test")
        local took = lnet.now() - t0
        srv.stop()
        assert.is_nil(ips)
        assert.equal("lookup slow.test on " .. srv.server .. ": i/o timeout", tostring(err))
        assert.is_true(err.is_timeout)
        assert.is_true(err.is_temporary)
        assert.is_true(err:timeout())
        assert.equal(2, srv.queries)
        assert.is_true(took >= 0.15 and took < support.SLACK, "took " .. took)
    end)

    it("a black-holed server: ctx ends the lookup within 50 ms, the queries destroyed, no fd left", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local r = ares(srv.server, { timeout = 5, attempts = 3 })
        for _, method in ipairs({ "lookup_host", "lookup_mx", "lookup_txt" }) do
            local ctx, cancel = context.with_timeout(bg, 0.03)
            local t0 = lnet.now()
            local res, err = r[method](r, ctx, "hole.test")
            local took = lnet.now() - t0
            cancel()
            assert.is_nil(res)
            assert.is_true(errors.is(err, errors.DeadlineExceeded))
            assert.is_true(err:timeout())
            assert.is_true(took < 0.03 + 0.05, method .. " took " .. took)
        end
        srv.stop()
    end)

    it("a task cancel ends a lookup at once", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local r = ares(srv.server, { timeout = 5 })
        local task = lnet.go(function()
            return r:lookup_ip(bg, "ip", "hole.test")
        end)
        lnet.sleep(0.02)
        local t0 = lnet.now()
        task:cancel()
        local ips, err = task:join()
        assert.is_true(lnet.now() - t0 < support.WAKE)
        assert.is_nil(ips)
        assert.is_true(errors.is(err, errors.Canceled))
        srv.stop()
    end)

    it("a done ctx fails a lookup before any query", function()
        local srv = support.dns_responder(function()
            return 0, { "\192\0\2\1" }
        end)
        local ips, err = ares(srv.server):lookup_ip(support.cancelled(), "ip", "x.test")
        assert.is_nil(ips)
        assert.is_true(errors.is(err, errors.Canceled))
        assert.equal("operation was canceled", tostring(err))
        assert.equal(0, srv.queries)
        srv.stop()
    end)

    it("strict_errors: AAAA's temporary failure comes back with the A records; without it, the A records", function()
        local srv = support.dns_responder(function(_, qtype)
            if qtype == 28 then
                return 2
            end
            return 0, { "\192\0\2\7" }
        end)
        local ips, err = ares(srv.server, { attempts = 1 }):lookup_ip(bg, "ip", "half.test")
        assert.same({ "192.0.2.7" }, { tostring(ips[1]) })
        assert.is_nil(err)
        ips, err = ares(srv.server, { attempts = 1, strict_errors = true }):lookup_ip(bg, "ip", "half.test")
        assert.same({ "192.0.2.7" }, { tostring(ips[1]) })
        assert.equal("lookup half.test on " .. srv.server .. ": server misbehaving", tostring(err))
        assert.is_true(err.is_temporary)
        local hosts
        hosts, err = ares(srv.server, { attempts = 1, strict_errors = true }):lookup_host(bg, "half.test")
        assert.same({ "192.0.2.7" }, hosts)
        assert.is_true(err.is_temporary)
        srv.stop()
    end)

    it("strict_errors: a temporary failure stops the search list; without it the next name is tried", function()
        ffi.C.setenv("LOCALDOMAIN", "bad.test good.test", 1)
        local ok, perr = pcall(function()
            local srv = support.dns_responder(function(qname)
                if qname:find("bad%.test$") then
                    return 2
                end
                return 0, { "\192\0\2\8" }
            end)
            local r = ares(srv.server, { attempts = 1 })
            assert.same({ "192.0.2.8" }, r:lookup_host(bg, "h"))
            local mx, err = ares(srv.server, { attempts = 1, strict_errors = true }):lookup_host(bg, "h")
            assert.is_nil(mx)
            assert.is_true(err.is_temporary)
            assert.equal("lookup h on " .. srv.server .. ": server misbehaving", tostring(err))
            srv.stop()
        end)
        ffi.C.unsetenv("LOCALDOMAIN")
        assert(ok, perr)
    end)

    it("literal IPs answer without a query", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local r = ares(srv.server, { timeout = 5 })
        assert.same({ "192.0.2.1" }, r:lookup_host(bg, "192.0.2.1"))
        assert.same({ "fe80::1%lo" }, r:lookup_host(bg, "fe80::1%lo"))
        assert.equal(lnet.ip.parse_addr("::1"), r:lookup_ip(bg, "ip6", "::1")[1])
        local ips, err = r:lookup_ip(bg, "ip4", "::1")
        assert.is_nil(ips)
        assert.equal("address ::1: no suitable address found", tostring(err))
        assert.equal(0, srv.queries)
        srv.stop()
    end)

    it("bad names are Go's 'no such host', no query: empty, > 253 bytes, a label > 63, NUL, all digits", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local r = ares(srv.server, { timeout = 5 })
        local long = string.rep("a", 60) .. "." .. string.rep("b", 60) .. "." .. string.rep("c", 60) .. "."
            .. string.rep("d", 60) .. ".eeeeeeeeee"
        assert.equal(254, #long)
        for _, name in ipairs({ "", long, string.rep("x", 64) .. ".test", "a\0b.test", "127.1", "1.2.3", "a..b",
                                "-a.test", "a b" }) do
            for _, method in ipairs({ "lookup_host", "lookup_cname", "lookup_mx", "lookup_txt", "lookup_ns" }) do
                local res, err = r[method](r, bg, name)
                assert.is_nil(res)
                local e = errors.as(err, "DNSError")
                assert.is_truthy(e, method .. " " .. name)
                assert.is_true(e.is_not_found)
                assert.equal("lookup " .. name .. ": no such host", tostring(err))
            end
        end
        -- inet_aton's shorthand is a name to Go, but one getaddrinfo would
        -- read as an address: no host has it, whichever path is chosen.
        assert.equal("lookup 0x7f000001: no such host", tostring(select(2, r:lookup_host(bg, "0x7f000001"))))
        assert.equal(0, srv.queries)
        srv.stop()
    end)

    it("lookup_ip with a network other than ip, ip4, ip6 is UnknownNetworkError", function()
        local _, err = lnet.default_resolver:lookup_ip(bg, "tcp", "localhost")
        assert.equal("unknown network tcp", tostring(err))
        assert.truthy(errors.as(err, "UnknownNetworkError"))
    end)

    it("servers that do not parse are an AddrError from lnet.resolver", function()
        for _, s in ipairs({ "nope", "127.0.0.1:99999", "127.0.0.1:x", "[::1", "example.com:53", "fe80::1%lo" }) do
            local r, err = lnet.resolver({ servers = { s } })
            assert.is_nil(r)
            assert.truthy(errors.as(err, "AddrError"), s)
        end
        assert.truthy(lnet.resolver({ servers = { "127.0.0.1", "[::1]:53", "::1" } }))
    end)

    it("misuse raises: a ctx that is not one, bad option types", function()
        local r = lnet.default_resolver
        assert.has_error(function()
            r:lookup_host("localhost")
        end, "bad argument #1 to 'lookup_host' (context expected, got string)")
        assert.has_error(function()
            r:lookup_ip(bg, "ip", 5)
        end, "bad argument #3 to 'lookup_ip' (string expected, got number)")
        assert.has_error(function()
            r.lookup_host(bg, "localhost")
        end, "bad argument #1 to 'lookup_host' (resolver expected, got table)")
        assert.has_error(function()
            lnet.resolver({ prefer = "go" })
        end)
        assert.has_error(function()
            lnet.resolver({ timeout = "1" })
        end)
        assert.has_error(function()
            lnet.resolver({ attempts = 0.5 })
        end)
    end)

    it("lookup_port: numbers, Go's table and /etc/services; errors as Go's", function()
        local r = lnet.default_resolver
        assert.equal(80, r:lookup_port(bg, "tcp", "http"))
        assert.equal(443, r:lookup_port(bg, "tcp4", "HTTPS"))
        assert.equal(53, r:lookup_port(bg, "udp", "domain"))
        assert.equal(8080, r:lookup_port(bg, "tcp", "8080"))
        assert.equal(22, r:lookup_port(bg, "", "ssh"))
        local p, err = r:lookup_port(bg, "tcp", "nosuchservice")
        assert.is_nil(p)
        assert.equal("lookup tcp/nosuchservice: unknown port", tostring(err))
        assert.is_true(err.is_not_found)
        p, err = r:lookup_port(bg, "ip4", "http")
        assert.is_nil(p)
        assert.equal("address ip4: unknown network", tostring(err))
        p, err = r:lookup_port(bg, "tcp", "70000")
        assert.is_nil(p)
        assert.equal("address 70000: invalid port", tostring(err))
    end)

    it("/etc/hosts answers without a query", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local r = ares(srv.server, { timeout = 5 })
        assert.same({ "127.0.0.1" }, r:lookup_host(bg, "localhost"))
        assert.same({ "127.0.0.1" }, r:lookup_host(bg, "LOCALHOST."))
        assert.equal(0, srv.queries)
        srv.stop()
    end)
end)

describe("dial, listen and write_to by name", function()
    it("dial goes through the dialer's resolver", function()
        with_dnsmasq(function(dm)
            local ln = assert(lnet.listen("tcp4", "127.0.0.1:0"))
            local port = ln:addr().port
            local d = lnet.dialer({ resolver = ares(dm.server) })
            local acc = lnet.go(function()
                return ln:accept()
            end)
            local c = assert(d:dial("tcp4", "he.test:" .. port))
            assert.equal("127.0.0.1:" .. port, tostring(c:remote_addr()))
            c:close()
            assert(acc:join()):close()
            local _, err = d:dial("tcp", "nosuch.test:" .. port)
            assert.equal("dial tcp: lookup nosuch.test on " .. dm.server .. ": no such host", tostring(err))
            ln:close()
        end)
    end)

    it("Happy Eyeballs: the IPv6 primary refused, the IPv4 fallback starts at once", function()
        if not support.ipv6_loopback() then
            print("skipped: no ::1 on this host")
            return
        end
        with_dnsmasq(function(dm)
            local ln = assert(lnet.listen("tcp4", "127.0.0.1:0"))
            local port = ln:addr().port
            local d = lnet.dialer({ resolver = ares(dm.server) })
            local acc = lnet.go(function()
                return ln:accept()
            end)
            local t0 = lnet.now()
            local c = assert(d:dial("tcp", "he.test:" .. port))
            assert.is_true(lnet.now() - t0 < 0.2)
            assert.equal("127.0.0.1:" .. port, tostring(c:remote_addr()))
            c:close()
            assert(acc:join()):close()
            ln:close()
        end)
    end)

    it("Happy Eyeballs: an IPv6 primary that hangs gives way to IPv4 after 300 ms; the loser is closed", function()
        if not support.ipv6_loopback() then
            print("skipped: no ::1 on this host")
            return
        end
        with_dnsmasq(function(dm)
            -- A listener whose accept queue is full drops SYNs: a connect
            -- to it hangs, as to a black-holed address.
            local ln6 = assert(lnet.listen("tcp6", "[::1]:0", { backlog = 0 }))
            local port = ln6:addr().port
            local ln4 = assert(lnet.listen("tcp4", "127.0.0.1:" .. port))
            local filler = assert(lnet.dial("tcp6", "[::1]:" .. port))
            local d = lnet.dialer({ resolver = ares(dm.server), timeout = 3 })
            local acc = lnet.go(function()
                return ln4:accept()
            end)
            local t0 = lnet.now()
            local c = assert(d:dial("tcp", "he.test:" .. port))
            local took = lnet.now() - t0
            assert.is_true(took >= 0.29 and took < 1, "took " .. took)
            assert.equal("127.0.0.1:" .. port, tostring(c:remote_addr()))
            c:close()
            assert(acc:join()):close()
            filler:close()
            ln4:close()
            ln6:close()
        end)
    end)

    it("Happy Eyeballs: both families refused is the primary's error", function()
        if not support.ipv6_loopback() then
            print("skipped: no ::1 on this host")
            return
        end
        with_dnsmasq(function(dm)
            local port = support.free_udp_port()
            local _, err = lnet.dialer({ resolver = ares(dm.server) }):dial("tcp", "he.test:" .. port)
            assert.equal("dial tcp [::1]:" .. port .. ": connect: connection refused", tostring(err))
        end)
    end)

    it("a dial by name to a black-holed server ends with its ctx, and with its timeout", function()
        local srv = support.dns_responder(function()
            return nil
        end)
        local d = lnet.dialer({ resolver = ares(srv.server, { timeout = 5 }) })
        local ctx, cancel = context.with_timeout(bg, 0.05)
        local t0 = lnet.now()
        local c, err = d:dial("tcp", "hole.test:80", ctx)
        cancel()
        assert.is_nil(c)
        assert.equal("dial tcp: i/o timeout", tostring(err))
        assert.is_true(errors.is(err, errors.DeadlineExceeded))
        assert.is_true(lnet.now() - t0 < 0.05 + 0.15)
        d = lnet.dialer({ resolver = ares(srv.server, { timeout = 5 }), timeout = 0.05 })
        t0 = lnet.now()
        c, err = d:dial("tcp", "hole.test:80")
        assert.is_nil(c)
        assert.equal("dial tcp: i/o timeout", tostring(err))
        assert.is_true(err:timeout())
        assert.is_true(lnet.now() - t0 < 0.05 + 0.15)
        srv.stop()
    end)

    it("listen, listen_packet and write_to resolve names with the default resolver", function()
        local ln = assert(lnet.listen("tcp", "localhost:0"))
        assert.equal("127.0.0.1", tostring(ln:addr().ip))
        ln:close()
        local pc = assert(lnet.listen_packet("udp", "localhost:0"))
        local port = pc:local_addr().port
        assert.equal(2, pc:write_to("hi", "localhost:" .. port))
        local data = pc:read_from(10)
        assert.equal("hi", data)
        local n, err = pc:write_to("hi", "127.1:" .. port)
        assert.is_nil(n)
        assert.equal("write udp 127.0.0.1:" .. port .. ": lookup 127.1: no such host", tostring(err))
        pc:close()
    end)
end)
