-- Listeners: seed §4 (the net.Listener contract), listen addresses and errors,
-- and lnet.serve.

local ffi = require "ffi"
local lnet = require "lnet"
local errors = lnet.errors

pcall(ffi.cdef, "int access(const char *path, int mode);")
local function exists(path)
    return ffi.C.access(path, 0) == 0
end

local support = require "support"
local read_full, ipv6_loopback = support.read_full, support.ipv6_loopback

describe("listener (seed §4)", function()
    it("accept blocks until a conn arrives", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local acc = lnet.go(function()
            local c, err = ln:accept()
            return c, err, lnet.now()
        end)
        lnet.sleep(0.05)
        assert.are.equal("running", acc.status)
        local t_dial = lnet.now()
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        local s, err, t = acc:join()
        assert.is_not_nil(s, tostring(err))
        assert.is_true(t >= t_dial)
        assert.are.equal(tostring(c:local_addr()), tostring(s:remote_addr()))
        assert.are.equal(2, c:write("hi"))
        assert.are.equal("hi", read_full(s, 2))
        c:close()
        s:close()
        ln:close()
    end)

    it("accept blocks until the listener is closed, then returns ErrClosed", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local acc = lnet.go(function()
            return ln:accept()
        end)
        lnet.sleep(0.05)
        assert.are.equal("running", acc.status)
        assert.is_true(ln:close())
        local c, err = acc:join()
        assert.is_nil(c)
        assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        local oe = errors.as(err, "OpError")
        assert.is_not_nil(oe)
        assert.are.equal("accept", oe.op)
        assert.are.equal(("accept tcp %s: use of closed network connection"):format(tostring(ln:addr())),
            tostring(err))
    end)

    it("after close every pending accept is woken and every later accept returns ErrClosed", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local tasks = {}
        for i = 1, 5 do
            tasks[i] = lnet.go(function()
                return ln:accept()
            end)
        end
        lnet.sleep(0.05)
        for i = 1, 5 do
            assert.are.equal("running", tasks[i].status)
        end
        assert.is_true(ln:close())
        for i = 1, 5 do
            local c, err = tasks[i]:join()
            assert.is_nil(c)
            assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        end
        for _ = 1, 3 do
            local c, err = ln:accept()
            assert.is_nil(c)
            assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
            assert.is_not_nil(errors.as(err, "OpError"))
        end
    end)

    it("a second close returns nil and ErrClosed", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        assert.is_true(ln:close())
        local ok, err = ln:close()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        assert.is_truthy(tostring(err):find("use of closed network connection", 1, true))
    end)

    it("several tasks may accept at once and each conn goes to exactly one", function()
        local N = 20
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local accepted = {} -- client local port -> count
        local acceptors = {}
        for i = 1, N do
            acceptors[i] = lnet.go(function()
                local s, err = ln:accept()
                if s == nil then
                    return nil, err
                end
                local port = s:remote_addr().port
                accepted[port] = (accepted[port] or 0) + 1
                return s
            end)
        end
        lnet.sleep(0.02)
        local clients = {}
        for i = 1, N do
            clients[i] = assert(lnet.dial("tcp", tostring(ln:addr())))
        end
        local servers = {}
        for i = 1, N do
            local s, err = acceptors[i]:join()
            assert.is_not_nil(s, tostring(err))
            servers[i] = s
        end
        for i = 1, N do
            assert.are.equal(1, accepted[clients[i]:local_addr().port])
        end
        local count = 0
        for _ in pairs(accepted) do
            count = count + 1
        end
        assert.are.equal(N, count)
        for i = 1, N do
            clients[i]:close()
            servers[i]:close()
        end
        ln:close()
    end)

    it("closing the listener leaves accepted conns working", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local c, s = support.dial_accept(ln)
        assert.is_true(ln:close())
        assert.are.equal(4, c:write("ping"))
        assert.are.equal("ping", read_full(s, 4))
        assert.are.equal(4, s:write("pong"))
        assert.are.equal("pong", read_full(c, 4))
        c:close()
        s:close()
    end)

    it("addr() works after close", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local a = ln:addr()
        assert.are.equal("tcp", a:network())
        assert.is_true(a.ip == lnet.ip.parse_addr("127.0.0.1"))
        assert.is_true(a.port > 0)
        assert.are.equal("127.0.0.1:" .. a.port, tostring(a))
        assert.is_true(ln:close())
        local b = ln:addr()
        assert.is_not_nil(b)
        assert.are.equal(tostring(a), tostring(b))
        assert.are.equal(a.port, b.port)
    end)

    it("serve runs handlers concurrently and returns true once the listener is closed", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local N = 5
        local inside, max_inside = 0, 0
        local release = lnet.channel()
        local server = lnet.go(function()
            return lnet.serve(ln, function(c)
                inside = inside + 1
                max_inside = math.max(max_inside, inside)
                local line = c:read(100)
                release:recv() -- every handler waits here at once
                c:write("echo:" .. line)
                inside = inside - 1
            end)
        end)
        local clients = {}
        for i = 1, N do
            clients[i] = assert(lnet.dial("tcp", tostring(ln:addr())))
            assert.are.equal(1, clients[i]:write(tostring(i % 10)))
        end
        -- all N handlers are in flight at once
        local deadline = lnet.now() + 5
        while inside < N and lnet.now() < deadline do
            lnet.sleep(0.01)
        end
        assert.are.equal(N, max_inside)
        for _ = 1, N do
            release:send(true)
        end
        for i = 1, N do
            assert.are.equal("echo:" .. (i % 10), read_full(clients[i], 6))
            -- serve closes the conn when the handler returns
            local none, err = clients[i]:read(1)
            assert.is_nil(none)
            assert.is_true(rawequal(err, lnet.EOF), tostring(err))
            clients[i]:close()
        end
        assert.are.equal("running", server.status)
        assert.is_true(ln:close())
        local ok, err = server:join()
        assert.is_true(ok, tostring(err))
    end)

    it("listening on tcp :0 gives the dual-stack wildcard [::]:port", function()
        if not ipv6_loopback() then
            pending("no IPv6 on this host")
            return
        end
        local ln = assert(lnet.listen("tcp", ":0"))
        local a = ln:addr()
        assert.is_true(a.port > 0)
        assert.are.equal("[::]:" .. a.port, tostring(a))
        assert.is_true(a.ip == lnet.ip.parse_addr("::"))
        -- IPv4 clients reach it, and are seen as IPv4
        local c, s = support.dial_accept(ln, "tcp", "127.0.0.1:" .. a.port)
        assert.are.equal(tostring(c:local_addr()), tostring(s:remote_addr()))
        assert.are.equal("127.0.0.1:" .. c:local_addr().port, tostring(s:remote_addr()))
        c:close()
        s:close()
        ln:close()
    end)

    it("0.0.0.0 in either form is the wildcard too: tcp listens dual-stack on it, as Go does", function()
        if not ipv6_loopback() then
            pending("no IPv6 on this host")
            return
        end
        for _, host in ipairs({ "0.0.0.0", "[::ffff:0.0.0.0]" }) do
            local ln = assert(lnet.listen("tcp", host .. ":0"))
            local port = ln:addr().port
            assert.are.equal("[::]:" .. port, tostring(ln:addr()))
            for _, target in ipairs({ "127.0.0.1", "[::1]" }) do
                local c, s = support.dial_accept(ln, "tcp", target .. ":" .. port)
                c:close()
                s:close()
            end
            ln:close()
        end
        local ln4 = assert(lnet.listen("tcp4", "[::ffff:0.0.0.0]:0"))
        assert.are.equal("0.0.0.0:" .. ln4:addr().port, tostring(ln4:addr()))
        ln4:close()
    end)

    it("\"::\" is followed by 0.0.0.0, as in Go: all tcp4 has of it, and a dial's fallback", function()
        local ln4 = assert(lnet.listen("tcp4", "[::]:0"))
        local port = ln4:addr().port
        assert.are.equal("0.0.0.0:" .. port, tostring(ln4:addr()))
        local c, s = support.dial_accept(ln4, "tcp4", "[::]:" .. port)
        c:close()
        s:close()
        ln4:close()
        -- "tcp" tries [::] first; an IPv4-only listener is reached by 0.0.0.0.
        local lo = assert(lnet.listen("tcp4", "127.0.0.1:0"))
        c, s = support.dial_accept(lo, "tcp", "[::]:" .. lo:addr().port)
        assert.are.equal(tostring(lo:addr()), tostring(c:remote_addr()))
        c:close()
        s:close()
        lo:close()
    end)

    it("an empty address listens on the wildcard with a fresh port; on unix, a fresh abstract name", function()
        local ln = assert(lnet.listen("tcp", ""))
        assert.is_true(ln:addr().port > 0)
        assert.is_true(ln:addr().ip:unmap():is_unspecified())
        local pc = assert(lnet.listen_packet("udp", ""))
        assert.is_true(pc:local_addr().port > 0)
        local u1, u2 = assert(lnet.listen("unix", "")), assert(lnet.listen("unix", ""))
        local n1, n2 = u1:addr().name, u2:addr().name
        assert.are.equal("@", n1:sub(1, 1))
        assert.is_true(#n1 > 1)
        assert.are_not.equal(n1, n2)
        local c, s = support.dial_accept(u1, "unix", n1)
        c:close()
        s:close()
        for _, x in ipairs({ ln, pc, u1, u2 }) do
            x:close()
        end
    end)

    it("an address object of another kind is refused with Go's AddrError", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local a = ln:addr()
        for _, call in ipairs({
            { "listen udp", lnet.listen_packet, "udp" },
            { "listen unix", lnet.listen, "unix" },
        }) do
            local x, err = call[2](call[3], a)
            assert.is_nil(x)
            assert.are.equal(call[1] .. ": address " .. tostring(a) .. ": unexpected address type", tostring(err))
        end
        local u = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
        local c, err = lnet.dial("tcp", tostring(a), { local_addr = u:local_addr() })
        assert.is_nil(c)
        assert.are.equal("dial tcp: address " .. tostring(u:local_addr()) .. ": mismatched local address type", tostring(err))
        u:close()
        ln:close()
    end)

    it("listening on tcp4 :0 gives 0.0.0.0:port", function()
        local ln = assert(lnet.listen("tcp4", ":0"))
        local a = ln:addr()
        assert.is_true(a.port > 0)
        assert.are.equal("0.0.0.0:" .. a.port, tostring(a))
        assert.are.equal("tcp", a:network()) -- as Go's TCPAddr, whatever the family
        ln:close()
    end)

    it("listening on tcp6 [::1]:0 gives [::1]:port", function()
        if not ipv6_loopback() then
            pending("no IPv6 on this host")
            return
        end
        local ln = assert(lnet.listen("tcp6", "[::1]:0"))
        local a = ln:addr()
        assert.are.equal("[::1]:" .. a.port, tostring(a))
        local c, s = support.dial_accept(ln, "tcp6", tostring(a))
        assert.are.equal("[::1]:" .. a.port, tostring(c:remote_addr()))
        c:close()
        s:close()
        ln:close()
    end)

    it("listen on a port in use returns an OpError: bind: address already in use", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local addr = tostring(ln:addr())
        local ln2, err = lnet.listen("tcp", addr)
        assert.is_nil(ln2)
        assert.is_not_nil(errors.as(err, "OpError"))
        assert.are.equal("listen", errors.as(err, "OpError").op)
        assert.is_truthy(tostring(err):find("bind: address already in use", 1, true), tostring(err))
        assert.are.equal("listen tcp " .. addr .. ": bind: address already in use", tostring(err))
        assert.is_true(errors.is(err, lnet.errno.EADDRINUSE))
        assert.are.equal("bind", errors.as(err, "SyscallError").syscall)
        ln:close()
    end)

    it("a unix listener removes its socket file on close", function()
        local path = support.free_path()
        local ln = assert(lnet.listen("unix", path))
        assert.is_true(exists(path))
        assert.are.equal(path, ln:addr().name)
        assert.is_true(ln:close())
        assert.is_false(exists(path))
        -- so the same path can be listened on again
        local ln2 = assert(lnet.listen("unix", path))
        assert.is_true(ln2:close())
        assert.is_false(exists(path))
    end)

    it("listen on a unix path already bound fails with EADDRINUSE", function()
        local path = support.free_path()
        local ln = assert(lnet.listen("unix", path))
        local ln2, err = lnet.listen("unix", path)
        assert.is_nil(ln2)
        assert.is_true(errors.is(err, lnet.errno.EADDRINUSE), tostring(err))
        assert.are.equal("listen unix " .. path .. ": bind: address already in use", tostring(err))
        -- the failed listen left the live listener's file alone
        assert.is_true(exists(path))
        ln:close()
        assert.is_false(exists(path))
    end)

    it("listen and serve raise on misuse", function()
        assert.has_error(function() lnet.listen(42, ":0") end)
        assert.has_error(function() lnet.listen("tcp", ":0", "opts") end)
        assert.has_error(function() lnet.listen("tcp", 80) end)
        assert.has_error(function() lnet.serve("not a listener", function() end) end)
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        assert.has_error(function() lnet.serve(ln, "not a function") end)
        ln:close()
    end)
end)
