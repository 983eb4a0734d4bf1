-- Errors: seed §5 (net.Error, no Temporary on conn errors), §6 (the wrap
-- chain), §18 (pitfalls), and the bad-input list: every failure is an error
-- object with Go's text; misuse raises.

local lnet = require "lnet"
local errors = lnet.errors

local support = require "support"
local pair = support.pair

-- A loopback port nothing listens on (just freed).
local function dead_port()
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local port = ln:addr().port
    ln:close()
    return port
end

-- Dials and expects failure with the exact text; returns the error.
local function dial_fails(network, address, text)
    local c, err = lnet.dial(network, address)
    if c ~= nil then
        c:close()
    end
    assert.is_nil(c, "dial " .. network .. " " .. tostring(address) .. " succeeded")
    assert.is_true(errors.is_error(err), "not an error object: " .. tostring(err))
    local oe = errors.as(err, "OpError")
    assert.is_not_nil(oe)
    assert.are.equal("dial", oe.op)
    assert.are.equal(network, oe.net)
    if text then
        assert.are.equal(text, tostring(err))
    end
    return err
end

describe("errors (seed §5, §6, §18)", function()
    describe("bad input", function()
        it("an unknown network: dial foo: unknown network foo", function()
            local err = dial_fails("foo", "127.0.0.1:80", "dial foo: unknown network foo")
            local une = errors.as(err, "UnknownNetworkError")
            assert.is_not_nil(une)
            assert.are.equal("foo", une.net)
            assert.are.equal("unknown network foo", tostring(une))
            local ln, lerr = lnet.listen("foo", ":0")
            assert.is_nil(ln)
            assert.are.equal("listen foo: unknown network foo", tostring(lerr))
            assert.is_not_nil(errors.as(lerr, "UnknownNetworkError"))
        end)

        it("a missing port: address 127.0.0.1: missing port in address", function()
            local err = dial_fails("tcp", "127.0.0.1", "dial tcp: address 127.0.0.1: missing port in address")
            local ae = errors.as(err, "AddrError")
            assert.is_not_nil(ae)
            assert.are.equal("missing port in address", ae.err)
            assert.are.equal("127.0.0.1", ae.addr)
            dial_fails("tcp", "[::1]", "dial tcp: address [::1]: missing port in address")
            local ln, lerr = lnet.listen("tcp", "127.0.0.1")
            assert.is_nil(ln)
            assert.are.equal("listen tcp: address 127.0.0.1: missing port in address", tostring(lerr))
        end)

        it("too many colons: address 1:2:3: too many colons in address", function()
            local err = dial_fails("tcp", "1:2:3", "dial tcp: address 1:2:3: too many colons in address")
            assert.is_not_nil(errors.as(err, "AddrError"))
            dial_fails("tcp", "[::1]:80:1", "dial tcp: address [::1]:80:1: too many colons in address")
        end)

        it("a malformed IPv6 literal is a name no host has, as in Go", function()
            for _, host in ipairs { ":::1", "1::2::3", "fe80::1%" } do
                dial_fails("tcp", "[" .. host .. "]:80", ("dial tcp: lookup %s: no such host"):format(host))
            end
        end)

        it("a missing ']': address [::1: missing ']' in address", function()
            dial_fails("tcp", "[::1", "dial tcp: address [::1: missing ']' in address")
        end)

        it("a stray '[' or ']', port included, as Go's SplitHostPort", function()
            for _, case in ipairs({
                { "127.0.0.1:80]", "]" },
                { "foo:[bar", "[" },
                { "x:[", "[" },
                { "[::1]:8]0", "]" },
                { "[::1]:[80", "[" },
            }) do
                dial_fails("tcp", case[1], ("dial tcp: address %s: unexpected '%s' in address"):format(case[1], case[2]))
            end
        end)

        it("a port out of range: invalid port", function()
            local err = dial_fails("tcp", "127.0.0.1:70000", "dial tcp: address 70000: invalid port")
            local ae = errors.as(err, "AddrError")
            assert.is_not_nil(ae)
            assert.are.equal("invalid port", ae.err)
            dial_fails("tcp", "127.0.0.1:65536", "dial tcp: address 65536: invalid port")
            dial_fails("tcp", "127.0.0.1:99999999999999999999",
                "dial tcp: address 99999999999999999999: invalid port")
        end)

        it("a negative port: invalid port (Go parses the sign)", function()
            local err = dial_fails("tcp", "127.0.0.1:-1", "dial tcp: address -1: invalid port")
            assert.is_not_nil(errors.as(err, "AddrError"))
        end)

        it("an empty address: dial tcp: missing address", function()
            dial_fails("tcp", "", "dial tcp: missing address")
            dial_fails("unix", "", "dial unix: missing address")
        end)

        it("an unknown service name: lookup tcp/nosuchsvc: unknown port", function()
            local err = dial_fails("tcp", "127.0.0.1:nosuchsvc", "dial tcp: lookup tcp/nosuchsvc: unknown port")
            local de = errors.as(err, "DNSError")
            assert.is_not_nil(de)
            assert.is_true(de.is_not_found)
        end)

        it("service names: any letter case, Go's own table under /etc/services, named by family", function()
            -- A past deadline fails the dial before any connect; the error
            -- names the port the service resolved to.
            local expired = lnet.dialer({ deadline = lnet.now() - 1 })
            for _, case in ipairs({ { "HTTP", 80 }, { "Https", 443 }, { "imap3", 220 }, { "gopher", 70 } }) do
                local c, err = expired:dial("tcp4", "127.0.0.1:" .. case[1])
                assert.is_nil(c)
                assert.are.equal(("dial tcp4 127.0.0.1:%d: i/o timeout"):format(case[2]), tostring(err))
            end
            dial_fails("udp6", "[::1]:nosuchsvc", "dial udp6: lookup udp/nosuchsvc: unknown port")
        end)

        it("an address of the wrong family: no suitable address found", function()
            dial_fails("tcp4", "[::1]:80", "dial tcp4: address ::1: no suitable address found")
            dial_fails("tcp6", "127.0.0.1:80", "dial tcp6: address 127.0.0.1: no suitable address found")
        end)

        it("a local_addr keeps only the addresses of its family, unless either is a wildcard", function()
            local v4 = lnet.dialer({ local_addr = "127.0.0.1:0" })
            local c, err = v4:dial("tcp", "[::1]:1")
            assert.is_nil(c)
            assert.are.equal("dial tcp: address 127.0.0.1:0: no suitable address found", tostring(err))
            c, err = v4:dial("tcp", "bad")
            assert.is_nil(c)
            assert.are.equal("dial tcp: address bad: missing port in address", tostring(err))
            c, err = lnet.dialer({ local_addr = "[::1]:0" }):dial("tcp", "127.0.0.1:1")
            assert.is_nil(c)
            assert.are.equal("dial tcp: address [::1]:0: no suitable address found", tostring(err))
            c, err = v4:dial("tcp", "[::]:1")
            assert.is_nil(c)
            assert.are.equal("dial tcp 127.0.0.1:0->[::]:1: connect: connection refused", tostring(err))
        end)

        it("write_to an IPv6 address from an IPv4 socket: address ::1: non-IPv4 address", function()
            local u = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
            local n, err = u:write_to("x", "[::1]:9")
            assert.is_nil(n)
            assert.are.equal(
                ("write udp %s->[::1]:9: address ::1: non-IPv4 address"):format(tostring(u:local_addr())),
                tostring(err)
            )
            assert.is_not_nil(errors.as(err, "AddrError"))
            u:close()
        end)

        it("a unix name too long for the kernel is its syscall's EINVAL; an abstract name may fill sun_path", function()
            local long = "/tmp/" .. ("a"):rep(103) -- 108 bytes: no room for the NUL
            local c, err = lnet.dial("unix", long)
            assert.is_nil(c)
            assert.are.equal("dial unix " .. long .. ": connect: invalid argument", tostring(err))
            assert.is_true(errors.is(err, lnet.errno.EINVAL))
            local ln, lerr = lnet.listen("unix", long)
            assert.is_nil(ln)
            assert.are.equal("listen unix " .. long .. ": bind: invalid argument", tostring(lerr))
            -- 108 bytes of abstract name; Go shows it up to its first NUL
            local name = support.abstract_unix()
            local p = assert(lnet.listen_packet("unixgram", name .. ("\0"):rep(108 - #name)))
            assert.are.equal(name, p:local_addr().name)
            p:close()
        end)

        it("misuse raises instead of returning an error", function()
            assert.has_error(function() lnet.dial(nil, "127.0.0.1:1") end)
            assert.has_error(function() lnet.dial(42, "127.0.0.1:1") end)
            assert.has_error(function() lnet.dial("tcp", 80) end)
            assert.has_error(function() lnet.dial("tcp", "127.0.0.1:1", "opts") end)
            assert.has_error(function() lnet.dial("tcp", "127.0.0.1:1", { timeout = "1s" }) end)
            assert.has_error(function() lnet.dial("tcp", "127.0.0.1:1", { deadline = "soon" }) end)
            assert.has_error(function() lnet.dialer({ timeout = {} }) end)
            assert.has_error(function() lnet.listen(nil, ":0") end)
            assert.has_error(function() errors.as(lnet.EOF, {}) end)
        end)

        it("a non-number deadline raises", function()
            local c, s = pair()
            assert.has_error(function() c:set_deadline("1") end)
            assert.has_error(function() c:set_read_deadline({}) end)
            assert.has_error(function() c:set_write_deadline(true) end)
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            assert.has_error(function() ln:set_deadline("later") end)
            ln:close()
            c:close()
            s:close()
        end)
    end)

    describe("dial", function()
        it("a refused dial: dial tcp 127.0.0.1:P: connect: connection refused", function()
            local port = dead_port()
            local err = dial_fails("tcp", "127.0.0.1:" .. port,
                "dial tcp 127.0.0.1:" .. port .. ": connect: connection refused")
            assert.is_true(errors.is(err, lnet.errno.ECONNREFUSED))
            local se = errors.as(err, "SyscallError")
            assert.is_not_nil(se)
            assert.are.equal("connect", se.syscall)
            assert.is_true(rawequal(se.errno, lnet.errno.ECONNREFUSED))
            assert.is_false(err:timeout())
            local oe = errors.as(err, "OpError")
            assert.are.equal("127.0.0.1:" .. port, tostring(oe.addr))
        end)

        it("a dial whose deadline has passed fails at once with a timeout", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local addr = tostring(ln:addr())
            for _, opts in ipairs({ { deadline = lnet.now() }, { deadline = 1 }, { timeout = -5 } }) do
                local t0 = lnet.now()
                local c, err = lnet.dialer(opts):dial("tcp", addr)
                if c then
                    c:close()
                end
                assert.is_nil(c, "dialed past the deadline")
                assert.is_true(lnet.now() - t0 < 1)
                assert.is_true(err:timeout())
                assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
                assert.are.equal("dial tcp " .. addr .. ": i/o timeout", tostring(err))
                local c2, err2 = lnet.dial("tcp", addr, opts)
                if c2 then
                    c2:close()
                end
                assert.is_nil(c2)
                assert.is_true(errors.is(err2, lnet.ErrDeadlineExceeded), tostring(err2))
            end
            ln:close()
        end)

        it("a timeout, a deadline and a ctx each end a connect in progress (a full backlog drops the SYN)", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0", { backlog = 0 }))
            local addr = tostring(ln:addr())
            local held, err = {}, nil
            for _ = 1, 32 do -- fill the accept queue until a connect has to wait
                local c
                c, err = lnet.dialer({ timeout = 0.2 }):dial("tcp", addr)
                if c == nil then
                    break
                end
                held[#held + 1] = c
            end
            assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
            for _, dial in ipairs({
                function() return lnet.dialer({ timeout = 0.1 }):dial("tcp", addr) end,
                function() return lnet.dialer({ deadline = lnet.now() + 0.1 }):dial("tcp", addr) end,
                function()
                    local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 0.1)
                    local c, derr = lnet.dial("tcp", addr, ctx)
                    cancel()
                    return c, derr
                end,
            }) do
                local t0 = lnet.now()
                local c, derr = dial()
                local took = lnet.now() - t0
                assert.is_nil(c)
                assert.is_true(took >= 0.05 and took < support.SLACK, "the dial took " .. took .. " s")
                assert.is_true(derr:timeout(), tostring(derr))
                assert.are.equal("dial tcp " .. addr .. ": ", tostring(derr):sub(1, #addr + 11))
            end
            for _, c in ipairs(held) do
                c:close()
            end
            ln:close()
        end)

        it("a zero timeout is no timeout, as in Go; the deadline still bounds the dial", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local addr = tostring(ln:addr())
            for _, opts in ipairs({ { timeout = 0 }, { timeout = 0, deadline = lnet.now() + 5 } }) do
                local c, err = lnet.dialer(opts):dial("tcp", addr)
                assert.is_not_nil(c, tostring(err))
                local s = assert(ln:accept())
                c:close()
                s:close()
            end
            local c, err = lnet.dialer({ timeout = 0, deadline = lnet.now() - 1 }):dial("tcp", addr)
            assert.is_nil(c)
            assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
            ln:close()
        end)

        it("dial resolves localhost", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local acc = lnet.go(function()
                return ln:accept()
            end)
            local c, err = lnet.dial("tcp", "localhost:" .. ln:addr().port)
            assert.is_not_nil(c, tostring(err))
            local s = assert(acc:join())
            assert.are.equal("127.0.0.1:" .. ln:addr().port, tostring(c:remote_addr()))
            assert.are.equal(3, c:write("abc"))
            assert.are.equal("abc", s:read(3))
            c:close()
            s:close()
            ln:close()
        end)

        it("inet_aton shorthand is a name, as in Go, and no host has it", function()
            for _, host in ipairs { "127.1", "1.2.3", "0x7f000001", "0177.0.0.1", "2130706433" } do
                local c, err = lnet.dial("tcp", host .. ":80")
                assert.is_nil(c)
                assert.are.equal(("dial tcp: lookup %s: no such host"):format(host), tostring(err))
                assert.is_true(errors.as(err, "DNSError").is_not_found, tostring(err))
            end
        end)
    end)

    describe("conn errors", function()
        it("a read on a closed conn: read tcp L->R: use of closed network connection", function()
            local c, s = pair()
            local laddr, raddr = tostring(c:local_addr()), tostring(c:remote_addr())
            c:close()
            local data, err = c:read(1)
            assert.is_nil(data)
            assert.is_true(errors.is(err, lnet.ErrClosed))
            local oe = errors.as(err, "OpError")
            assert.are.equal("read", oe.op)
            assert.are.equal("tcp", oe.net)
            assert.is_true(rawequal(oe.err, lnet.ErrClosed))
            assert.are.equal("read tcp " .. laddr .. "->" .. raddr .. ": use of closed network connection",
                tostring(err))
            s:close()
        end)

        it("conn errors have no temporary method (deprecated in Go, seed §5)", function()
            local c, s = pair()
            assert.is_true(c:set_read_deadline(1))
            local _, terr = c:read(1)
            assert.is_true(terr:timeout())
            assert.is_nil(terr.temporary)
            assert.is_true(c:set_read_deadline(nil))
            assert.is_true(c:close())
            local _, cerr = c:read(1)
            assert.is_nil(cerr.temporary)
            local _, cerr2 = c:close()
            assert.is_nil(cerr2.temporary)
            local _, werr = c:write("x")
            assert.is_nil(werr.temporary)
            s:close()
        end)

        it("timeout() is true only for deadline errors", function()
            local c, s = pair()
            assert.is_true(c:close())
            local _, cerr = c:read(1)
            assert.is_false(cerr:timeout())
            assert.is_true(lnet.ErrDeadlineExceeded:timeout())
            assert.is_false(lnet.ErrClosed:timeout())
            assert.is_false(lnet.EOF:timeout())
            s:close()
        end)
    end)

    describe("the wrap chain", function()
        local function chain()
            local se = errors.SyscallError("read", lnet.errno.ECONNRESET)
            return errors.OpError("read", "tcp", nil, nil, se), se
        end

        it("errors.is walks OpError -> SyscallError -> Errno", function()
            local e, se = chain()
            assert.is_true(errors.is(e, lnet.errno.ECONNRESET))
            assert.is_true(errors.is(e, se))
            assert.is_true(errors.is(e, e))
            assert.is_false(errors.is(e, lnet.errno.ECONNREFUSED))
            assert.is_false(errors.is(e, lnet.EOF))
            assert.is_false(errors.is(e, lnet.ErrClosed))
            assert.is_false(errors.is(nil, lnet.EOF))
            assert.is_true(errors.is(lnet.EOF, lnet.EOF))
        end)

        it("errors.as returns the first error of a kind in the chain, or nil", function()
            local e, se = chain()
            assert.is_true(rawequal(e, errors.as(e, "OpError")))
            assert.is_true(rawequal(se, errors.as(e, "SyscallError")))
            assert.are.equal("read", errors.as(e, "SyscallError").syscall)
            assert.is_true(rawequal(lnet.errno.ECONNRESET, errors.as(e, "Errno")))
            assert.is_nil(errors.as(e, "DNSError"))
            assert.is_nil(errors.as(e, "AddrError"))
            assert.is_nil(errors.as(nil, "OpError"))
            assert.is_nil(errors.as("a string", "OpError"))
            -- the outermost of two OpErrors
            local outer = errors.OpError("dial", "tcp", nil, nil, e)
            assert.is_true(rawequal(outer, errors.as(outer, "OpError")))
            assert.is_true(errors.is(outer, lnet.errno.ECONNRESET))
        end)

        it("OpError's text is Go's: op net source->addr: err", function()
            local e = chain()
            assert.are.equal("read tcp: read: connection reset by peer", tostring(e))
            local c, s = pair()
            local l, r = c:local_addr(), c:remote_addr()
            assert.are.equal(("write tcp %s->%s: use of closed network connection"):format(tostring(l), tostring(r)),
                tostring(errors.OpError("write", "tcp", l, r, lnet.ErrClosed)))
            assert.are.equal(("dial tcp %s: i/o timeout"):format(tostring(r)),
                tostring(errors.OpError("dial", "tcp", nil, r, lnet.ErrDeadlineExceeded)))
            c:close()
            s:close()
        end)

        it("a real reset is OpError -> SyscallError -> ECONNRESET", function()
            local c, s = pair()
            assert.is_true(s:set_linger(0))
            assert.is_true(s:close())
            local data, err = c:read(10)
            assert.is_nil(data)
            assert.is_not_nil(errors.as(err, "OpError"))
            assert.are.equal("read", errors.as(err, "SyscallError").syscall)
            assert.is_true(errors.is(err, lnet.errno.ECONNRESET), tostring(err))
            c:close()
        end)
    end)

    describe("sentinels", function()
        it("are singletons: the same object wherever they come from", function()
            assert.is_true(rawequal(lnet.EOF, errors.EOF))
            assert.is_true(rawequal(lnet.ErrClosed, errors.ErrClosed))
            assert.is_true(rawequal(lnet.ErrDeadlineExceeded, errors.ErrDeadlineExceeded))
            assert.is_true(rawequal(lnet.errno.ECONNRESET, errors.errno.ECONNRESET))
            assert.is_true(rawequal(require("lnet").EOF, lnet.EOF))
            local c, s = pair()
            assert.is_true(s:close())
            local _, eof1 = c:read(1)
            local _, eof2 = c:read(1)
            assert.is_true(rawequal(eof1, lnet.EOF))
            assert.is_true(rawequal(eof2, lnet.EOF))
            assert.is_true(c:close())
            local _, e1 = c:read(1)
            local _, e2 = c:write("x")
            assert.is_true(rawequal(errors.as(e1, "OpError").err, lnet.ErrClosed))
            assert.is_true(rawequal(errors.as(e2, "OpError").err, lnet.ErrClosed))
        end)

        it("read as Go's", function()
            assert.are.equal("EOF", tostring(lnet.EOF))
            assert.are.equal("use of closed network connection", tostring(lnet.ErrClosed))
            assert.are.equal("i/o timeout", tostring(lnet.ErrDeadlineExceeded))
            assert.are.equal("connection reset by peer", tostring(lnet.errno.ECONNRESET))
            assert.are.equal("connection refused", tostring(lnet.errno.ECONNREFUSED))
            assert.are.equal("address already in use", tostring(lnet.errno.EADDRINUSE))
            assert.are.equal("broken pipe", tostring(lnet.errno.EPIPE))
            assert.are.equal("context canceled", tostring(errors.Canceled))
            assert.are.equal("context deadline exceeded", tostring(errors.DeadlineExceeded))
        end)

        it("are error objects, never bare strings", function()
            for _, e in ipairs({ lnet.EOF, lnet.ErrClosed, lnet.ErrDeadlineExceeded, lnet.errno.ECONNRESET }) do
                assert.are.equal("table", type(e))
                assert.is_true(errors.is_error(e))
            end
            assert.is_false(errors.is_error("EOF"))
        end)
    end)
end)
