-- Stream conns: seed §1 (the net.Conn contract), §10 (half-close), §11
-- (linger 0 resets) and DESIGN "Concurrency on one conn".

local lnet = require "lnet"
local errors = lnet.errors

local support = require "support"
local MiB, pair, pattern = support.MiB, support.pair, support.pattern
local read_full, read_all, small_buffers = support.read_full, support.read_all, support.small_buffers

describe("conn (seed §1)", function()
    it("a reader and a writer may be in flight at once in different tasks", function()
        local c, s = pair()
        local size = 4 * MiB
        local data = pattern(size)
        small_buffers(c, s)
        -- Echo everything back; c's reader and writer both park often.
        local echo = lnet.go(function()
            while true do
                local chunk = s:read(65536)
                if chunk == nil then
                    break
                end
                assert(s:write(chunk) == #chunk)
            end
            s:close_write()
        end)
        local reader = lnet.go(function()
            return read_all(c)
        end)
        local writer = lnet.go(function()
            local n, err = c:write(data)
            c:close_write()
            return n, err
        end)
        local n, werr = writer:join()
        assert.are.equal(size, n, tostring(werr))
        local got, rerr = reader:join()
        assert.is_true(rawequal(rerr, lnet.EOF), tostring(rerr))
        assert.are.equal(#data, #got)
        assert.is_true(got == data, "echoed bytes differ")
        echo:join()
        c:close()
        s:close()
    end)

    it("a second reader queues FIFO behind the first", function()
        local c, s = pair()
        local order = {}
        local function reader(name)
            local data, err = c:read(100)
            order[#order + 1] = name .. ":" .. tostring(data or err)
            return data
        end
        local a = lnet.go(reader, "A")
        lnet.sleep(0.02) -- A is parked in read
        local b = lnet.go(reader, "B")
        lnet.sleep(0.02) -- B is parked behind it
        assert.are.same({}, order)
        assert.are.equal(5, s:write("first"))
        assert.are.equal("first", a:join())
        lnet.sleep(0.02)
        assert.are.same({ "A:first" }, order) -- B still waits for its own bytes
        assert.are.equal(6, s:write("second"))
        assert.are.equal("second", b:join())
        assert.are.same({ "A:first", "B:second" }, order)
        c:close()
        s:close()
    end)

    it("a second writer queues FIFO behind the first and each write's bytes are contiguous", function()
        local c, s = pair()
        small_buffers(c, s)
        local wa = lnet.go(function()
            return c:write(string.rep("a", MiB))
        end)
        lnet.sleep(0.02) -- A fills the buffers and parks
        assert.are.equal("running", wa.status)
        local wb = lnet.go(function()
            return c:write(string.rep("b", MiB))
        end)
        local got, err = read_full(s, 2 * MiB)
        assert.are.equal(2 * MiB, #got, tostring(err))
        assert.are.equal(MiB, wa:join())
        assert.are.equal(MiB, wb:join())
        -- Un-interleaved, and in the order the writers queued.
        assert.are.equal(string.rep("a", MiB), got:sub(1, MiB))
        assert.are.equal(string.rep("b", MiB), got:sub(MiB + 1))
        c:close()
        s:close()
    end)

    it("close from another task wakes a parked read and a parked write with ErrClosed", function()
        local c, s = pair()
        small_buffers(c, s)
        local size = 8 * MiB
        local reader = lnet.go(function()
            local t0 = lnet.now()
            local data, err = c:read(10)
            return data, err, lnet.now() - t0
        end)
        local writer = lnet.go(function()
            local n, err = c:write(string.rep("x", size))
            return n, err
        end)
        lnet.sleep(0.05) -- both parked: nobody sends to c, s does not read
        assert.are.equal("running", reader.status)
        assert.are.equal("running", writer.status)
        assert.is_true(c:close())

        local data, rerr, waited = reader:join()
        assert.is_nil(data)
        assert.is_true(errors.is(rerr, lnet.ErrClosed), tostring(rerr))
        assert.is_not_nil(errors.as(rerr, "OpError"))
        assert.are.equal("read", errors.as(rerr, "OpError").op)
        assert.is_true(waited < 2)

        local n, werr = writer:join()
        assert.are.equal("number", type(n))
        assert.is_true(n < size)
        assert.is_true(errors.is(werr, lnet.ErrClosed), tostring(werr))
        assert.is_not_nil(errors.as(werr, "OpError"))
        assert.are.equal("write", errors.as(werr, "OpError").op)
        s:close()
    end)

    it("every call after close returns ErrClosed", function()
        local c, s = pair()
        assert.is_true(c:close())
        local data, err = c:read(10)
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        assert.is_not_nil(errors.as(err, "OpError"))

        local n, werr = c:write("x")
        assert.are.equal(0, n)
        assert.is_true(errors.is(werr, lnet.ErrClosed), tostring(werr))
        assert.is_not_nil(errors.as(werr, "OpError"))

        for _, call in ipairs({
            function() return c:close_write() end,
            function() return c:close_read() end,
            function() return c:set_deadline(lnet.now() + 1) end,
            function() return c:set_read_deadline(nil) end,
            function() return c:set_write_deadline(nil) end,
            function() return c:set_nodelay(true) end,
            function() return c:set_read_buffer(4096) end,
            function() return c:set_write_buffer(4096) end,
        }) do
            local ok, cerr = call()
            assert.is_nil(ok)
            assert.is_true(errors.is(cerr, lnet.ErrClosed), tostring(cerr))
        end
        -- Go's texts: a conn's setters name the local address; TCP's own
        -- (nodelay, linger) both ends.
        local l, r = tostring(c:local_addr()), tostring(c:remote_addr())
        local _, derr = c:set_deadline(nil)
        assert.are.equal("set tcp " .. l .. ": use of closed network connection", tostring(derr))
        local _, nerr = c:set_nodelay(true)
        assert.are.equal("set tcp " .. l .. "->" .. r .. ": use of closed network connection", tostring(nerr))
        local _, lerr = c:set_linger(0)
        assert.are.equal(tostring(nerr), tostring(lerr))
        s:close()
    end)

    it("a second close returns nil and ErrClosed: use of closed network connection", function()
        local c, s = pair()
        assert.is_true(c:close())
        local ok, err = c:close()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        assert.is_not_nil(errors.as(err, "OpError"))
        assert.is_truthy(tostring(err):find("use of closed network connection", 1, true), tostring(err))
        assert.are.equal(("close tcp %s->%s: use of closed network connection"):format(
            tostring(c:local_addr()), tostring(c:remote_addr())), tostring(err))
        s:close()
    end)

    it("read(0) returns an empty string at once", function()
        local c, s = pair()
        local t0 = lnet.now()
        assert.are.equal("", c:read(0))
        assert.is_true(lnet.now() - t0 < 0.5)
        -- and takes nothing from the stream
        assert.are.equal(3, s:write("abc"))
        assert.are.equal("abc", read_full(c, 3))
        c:close()
        s:close()
    end)

    it("read returns what is available, at most max bytes", function()
        local c, s = pair()
        assert.are.equal(10, s:write("0123456789"))
        lnet.sleep(0.02)
        assert.are.equal("0123", c:read(4))
        local rest = read_full(c, 6)
        assert.are.equal("456789", rest)
        c:close()
        s:close()
    end)

    it("read at EOF returns nil, lnet.EOF itself, every time", function()
        local c, s = pair()
        assert.are.equal(2, s:write("hi"))
        assert.is_true(s:close())
        assert.are.equal("hi", read_full(c, 2))
        for _ = 1, 3 do
            local data, err = c:read(10)
            assert.is_nil(data)
            assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        end
        c:close()
    end)

    it("write returns #s", function()
        local c, s = pair()
        assert.are.equal(5, c:write("hello"))
        assert.are.equal(0, c:write(""))
        assert.are.equal(1, c:write("\0"))
        assert.are.equal("hello\0", read_full(s, 6))
        c:close()
        s:close()
    end)

    it("close_write gives the peer EOF while our reads still work (seed §10)", function()
        local c, s = pair()
        assert.are.equal(4, c:write("last"))
        assert.is_true(c:close_write())
        local got, err = read_all(s)
        assert.are.equal("last", got)
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        -- The other half is still open: the peer can answer.
        assert.are.equal(5, s:write("reply"))
        assert.are.equal("reply", read_full(c, 5))
        assert.is_true(s:close())
        local data, eof = c:read(10)
        assert.is_nil(data)
        assert.is_true(rawequal(eof, lnet.EOF))
        c:close()
    end)

    it("a write after close_write fails with EPIPE", function()
        local c, s = pair()
        assert.is_true(c:close_write())
        local n, err = c:write("late")
        assert.are.equal(0, n)
        assert.is_true(errors.is(err, lnet.errno.EPIPE), tostring(err))
        assert.are.equal("write", errors.as(err, "OpError").op)
        c:close()
        s:close()
    end)

    it("close_read makes our reads return EOF and sends nothing to the peer", function()
        local c, s = pair()
        assert.is_true(c:close_read())
        local data, err = c:read(10)
        assert.is_nil(data)
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        -- Our write half still works, and the peer sees no EOF or reset.
        assert.are.equal(2, c:write("up"))
        assert.are.equal("up", read_full(s, 2))
        assert.are.equal(4, s:write("down"))
        assert.is_true(s:set_read_deadline(lnet.now() + 0.05))
        local none, terr = s:read(10)
        assert.is_nil(none)
        assert.is_true(errors.is(terr, lnet.ErrDeadlineExceeded), tostring(terr))
        c:close()
        s:close()
    end)

    it("a dial to the wildcard (\":port\") reaches the local system, and remote_addr is the peer it reached", function()
        local ln = assert(lnet.listen("tcp", ":0"))
        local c = assert(lnet.dial("tcp", ":" .. ln:addr().port))
        local s = assert(ln:accept())
        ln:close()
        assert.is_false(c:remote_addr().ip:is_unspecified(), tostring(c:remote_addr()))
        assert.are.equal(tostring(s:local_addr()), tostring(c:remote_addr()))
        assert.are.equal(tostring(c:local_addr()), tostring(s:remote_addr()))
        c:close()
        s:close()
    end)

    it("a wildcard dial is IPv4, as Go's; its errors name the address as given (\":port\")", function()
        local ln = assert(lnet.listen("tcp", ":0"))
        local port = ln:addr().port
        local c = assert(lnet.dial("tcp", ":" .. port))
        local s = assert(ln:accept())
        assert.are.equal("127.0.0.1:" .. port, tostring(c:remote_addr()))
        c:close()
        s:close()
        ln:close()
        local none, err = lnet.dial("tcp", ":" .. port)
        assert.is_nil(none)
        assert.are.equal(("dial tcp :%d: connect: connection refused"):format(port), tostring(err))
    end)

    it("a local_addr with no host takes the family of the address dialed", function()
        local ln = assert(lnet.listen("tcp", ":0"))
        local port = ln:addr().port
        local cases = { { "127.0.0.1", "127.0.0.1" }, { "", "127.0.0.1" } }
        if support.ipv6_loopback() then
            cases[#cases + 1] = { "[::1]", "::1" }
        end
        for _, case in ipairs(cases) do
            local c, err = lnet.dialer({ local_addr = ":0" }):dial("tcp", case[1] .. ":" .. port)
            assert.is_not_nil(c, tostring(err))
            local s = assert(ln:accept())
            assert.are.equal(case[2], tostring(c:local_addr().ip))
            c:close()
            s:close()
        end
        ln:close()
    end)

    it("local_addr and remote_addr are address objects", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local lport = ln:addr().port
        local c, s = support.dial_accept(ln, "tcp", "127.0.0.1:" .. lport)
        ln:close()
        local loopback = lnet.ip.parse_addr("127.0.0.1")

        local cl, cr = c:local_addr(), c:remote_addr()
        local sl, sr = s:local_addr(), s:remote_addr()
        for _, a in ipairs({ cl, cr, sl, sr }) do
            assert.are.equal("tcp", a:network())
            assert.is_true(a.ip == loopback)
            assert.are.equal("number", type(a.port))
            assert.are.equal("127.0.0.1:" .. a.port, tostring(a))
        end
        assert.are.equal(lport, cr.port)
        assert.are.equal(lport, sl.port)
        assert.are.equal(cl.port, sr.port)
        assert.are_not.equal(lport, cl.port)
        c:close()
        s:close()
        -- still known after close
        assert.are.equal("127.0.0.1:" .. lport, tostring(c:remote_addr()))
    end)

    it("unix conns carry data and name their path", function()
        local path = support.free_path()
        local ln = assert(lnet.listen("unix", path))
        assert.are.equal(path, ln:addr().name)
        assert.are.equal("unix", ln:addr():network())
        assert.are.equal(path, tostring(ln:addr()))
        local c, s = support.dial_accept(ln, "unix", path)
        ln:close()
        assert.are.equal(path, c:remote_addr().name)
        assert.are.equal("unix", c:remote_addr():network())
        assert.are.equal(path, tostring(c:remote_addr()))
        assert.are.equal(path, s:local_addr().name)
        -- The dialing end is unnamed, which Go shows as "@" on Linux.
        assert.are.equal("@", c:local_addr().name)
        assert.are.equal("@", s:remote_addr().name)
        assert.are.equal(4, c:write("ping"))
        assert.are.equal("ping", read_full(s, 4))
        assert.are.equal(4, s:write("pong"))
        assert.are.equal("pong", read_full(c, 4))
        assert.is_true(c:close())
        local data, err = s:read(1)
        assert.is_nil(data)
        assert.is_true(rawequal(err, lnet.EOF))
        s:close()
        os.remove(path)
    end)

    it("set_nodelay, set_read_buffer and set_write_buffer set the socket options", function()
        local sys = require "lnet.sys"
        local K = sys.const
        local v = require("ffi").new("int[1]")
        local function opt(c, level, name)
            assert.are.equal(0, sys.C.lnet_fd_getsockopt_int(c:fd(), level, name, v))
            return v[0]
        end
        local c, s = pair()
        assert.are_not.equal(0, opt(c, K.IPPROTO_TCP, K.TCP_NODELAY)) -- Go's default for TCP
        assert.is_true(c:set_nodelay(false))
        assert.are.equal(0, opt(c, K.IPPROTO_TCP, K.TCP_NODELAY))
        assert.is_true(c:set_nodelay(true))
        assert.are_not.equal(0, opt(c, K.IPPROTO_TCP, K.TCP_NODELAY))
        -- Linux doubles what is asked (for its bookkeeping) and reports that
        for _, size in ipairs({ 8192, 65536 }) do
            assert.is_true(c:set_read_buffer(size))
            assert.are.equal(2 * size, opt(c, K.SOL_SOCKET, K.SO_RCVBUF))
            assert.is_true(c:set_write_buffer(size))
            assert.are.equal(2 * size, opt(c, K.SOL_SOCKET, K.SO_SNDBUF))
        end
        assert.are.equal(2, c:write("ok"))
        assert.are.equal("ok", read_full(s, 2))
        c:close()
        s:close()
    end)

    it("set_nodelay, set_read_buffer and set_write_buffer raise on wrong argument types", function()
        local c, s = pair()
        assert.has_error(function() c:set_nodelay("yes") end)
        assert.has_error(function() c:set_nodelay(1) end)
        assert.has_error(function() c:set_nodelay() end)
        assert.has_error(function() c:set_read_buffer("big") end)
        assert.has_error(function() c:set_read_buffer() end)
        assert.has_error(function() c:set_write_buffer({}) end)
        assert.has_error(function() c:set_write_buffer(nil) end)
        c:close()
        s:close()
    end)

    it("read and write raise on wrong argument types", function()
        local c, s = pair()
        assert.has_error(function() c:read("10") end)
        assert.has_error(function() c:read(-1) end)
        assert.has_error(function() c:write(42) end)
        assert.has_error(function() c:write(nil) end)
        assert.has_error(function() c:write({}) end)
        assert.has_error(function() c:read(0 / 0) end, "bad argument #1 to 'read' (non-negative number expected, got nan)")
        assert.has_error(function() c:set_deadline(0 / 0) end, "bad argument #1 to 'set_deadline' (number or nil expected, got nan)")
        c:close()
        s:close()
    end)

    it("a read's max is capped at the loop's read buffer: math.huge or 2^40 reads what there is", function()
        local c, s = pair()
        for _, max in ipairs({ math.huge, 2 ^ 40 }) do
            assert.are.equal(5, c:write("hello"))
            s:set_read_deadline(lnet.now() + support.SLACK)
            assert.are.equal("hello", s:read(max))
        end
        c:close()
        s:close()
    end)

    it("a write of 8 MiB fully arrives, in order", function()
        local c, s = pair()
        local size = 8 * MiB
        local data = pattern(size)
        local writer = lnet.go(function()
            local n, err = c:write(data)
            c:close()
            return n, err
        end)
        local got, err = read_all(s)
        local n, werr = writer:join()
        assert.are.equal(size, n, tostring(werr))
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        assert.are.equal(size, #got)
        assert.is_true(got == data, "received bytes differ")
        s:close()
    end)

    it("a peer reset (linger 0 then close) gives ECONNRESET", function()
        local c, s = pair()
        assert.is_true(s:set_linger(0))
        assert.is_true(s:close())
        local data, err = c:read(10)
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.errno.ECONNRESET), tostring(err))
        local oe = errors.as(err, "OpError")
        assert.is_not_nil(oe)
        assert.are.equal("read", oe.op)
        assert.are.equal(("read tcp %s->%s: read: connection reset by peer"):format(
            tostring(c:local_addr()), tostring(c:remote_addr())), tostring(err))
        assert.is_nil(err.temporary)
        c:close()
    end)

    it("an empty write is a real send, as Go's: it reports a reset, and is an empty record on unixpacket", function()
        local c, s = pair()
        assert.are.equal(0, c:write(""))
        assert.is_true(s:set_linger(0))
        assert.is_true(s:close())
        local n, err
        for _ = 1, 100 do -- until the reset has arrived
            n, err = c:write("")
            if err ~= nil then
                break
            end
            lnet.sleep(0.005)
        end
        assert.are.equal(0, n)
        assert.is_true(errors.is(err, lnet.errno.ECONNRESET), tostring(err))
        c:close()

        local path = support.abstract_unix()
        local ln = assert(lnet.listen("unixpacket", path))
        local pc, ps = support.dial_accept(ln, "unixpacket", path)
        ln:close()
        assert.are.equal(0, pc:write(""))
        assert.are.equal(3, pc:write("abc"))
        ps:set_read_deadline(lnet.now() + support.SLACK)
        local data, rerr = ps:read()
        assert.is_nil(data) -- an empty record reads as EOF, as in Go
        assert.is_true(rawequal(rerr, lnet.EOF))
        assert.are.equal("abc", ps:read())
        pc:close()
        ps:close()
    end)

    it("a conn reset before it was accepted still names its peer, as accept named it", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        local caddr = tostring(c:local_addr())
        assert.is_true(c:set_linger(0))
        assert.is_true(c:close())
        lnet.sleep(0.05) -- the reset arrives before the accept
        local s = assert(ln:accept())
        ln:close()
        assert.are.equal(caddr, tostring(s:remote_addr()))
        local data, err = s:read(1)
        assert.is_nil(data)
        assert.are.equal(("read tcp %s->%s: read: connection reset by peer"):format(tostring(s:local_addr()), caddr),
            tostring(err))
        s:close()
    end)

    it("a peer reset wakes a parked read", function()
        local c, s = pair()
        local reader = lnet.go(function()
            return c:read(10)
        end)
        lnet.sleep(0.02)
        assert.are.equal("running", reader.status)
        assert.is_true(s:set_linger(0))
        assert.is_true(s:close())
        local data, err = reader:join()
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.errno.ECONNRESET), tostring(err))
        c:close()
    end)
end)
