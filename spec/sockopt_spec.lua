-- Socket options (issue 10, items 1-2): seed §11 (SO_LINGER: RST vs FIN),
-- §12 (keepalive: Go's defaults and every knob, read back through
-- getsockopt), the raw socket's setsockopt/getsockopt by name and number,
-- and raw:read/raw:write waiting for readiness as Go's RawConn does.

local lnet = require "lnet"
local errors = lnet.errors
local ffi = require "ffi"
local sys = require "lnet.sys"

local support = require "support"
local pair, pattern, read_all = support.pair, support.pattern, support.read_all

ffi.cdef [[
long lnet_spec_recv(int fd, void *buf, size_t len, int flags) __asm__("recv");
long lnet_spec_send(int fd, const void *buf, size_t len, int flags) __asm__("send");
]]
local MSG_DONTWAIT = 0x40

-- The option through the conn's raw socket; raises on failure.
local function get(obj, level, name, size)
    local v, err = obj:syscall_conn():getsockopt(level, name, size)
    assert(v ~= nil, tostring(err))
    return v
end

local function keepalive_of(obj)
    return {
        on = get(obj, "SOL_SOCKET", "SO_KEEPALIVE"),
        idle = get(obj, "IPPROTO_TCP", "TCP_KEEPIDLE"),
        interval = get(obj, "IPPROTO_TCP", "TCP_KEEPINTVL"),
        count = get(obj, "IPPROTO_TCP", "TCP_KEEPCNT"),
    }
end

-- A conn dialed with dialer d to a listener made by cfg, and the conn
-- that listener accepted.
local function pair_with(d, cfg)
    local ln = assert(cfg:listen("tcp", "127.0.0.1:0"))
    local acc = lnet.go(function()
        return ln:accept()
    end)
    local c = assert(d:dial("tcp", tostring(ln:addr())))
    local s = assert(acc:join())
    ln:close()
    return c, s
end

describe("SO_LINGER (seed §11)", function()
    -- The peer's receive buffer is small and ours large, and the peer reads
    -- nothing until s is closed, so most of what s writes is still in its
    -- send queue, unsent, at the close.
    local function close_with_unsent(linger)
        local c, s = pair()
        -- (A receive buffer far below the loopback MSS would stall TCP on
        -- zero-window probes: support.small_buffers.)
        assert.is_true(c:set_read_buffer(65536))
        assert.is_true(s:set_write_buffer(support.MiB))
        local data = pattern(512 * 1024)
        assert.are.equal(#data, s:write(data))
        if linger ~= nil then
            assert.is_true(s:set_linger(linger))
        end
        assert.are.equal(linger or -1, get(s, "SOL_SOCKET", "SO_LINGER"))
        assert.is_true(s:close())
        c:set_read_deadline(lnet.now() + 5)
        local got, err = read_all(c)
        c:close()
        assert.is_true(got == data:sub(1, #got), "the bytes that came are not the ones sent")
        return #data, #got, err
    end

    it("by default close sends the unsent data, then FIN: the peer reads all of it, then EOF", function()
        local sent, got, err = close_with_unsent(nil)
        assert.are.equal(sent, got, tostring(err))
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
    end)

    it("with linger 0 close discards the unsent data and sends RST: the peer gets ECONNRESET", function()
        local sent, got, err = close_with_unsent(0)
        assert.is_true(got < sent, ("all %d bytes arrived"):format(got))
        assert.is_true(errors.is(err, lnet.errno.ECONNRESET), tostring(err))
        assert.are.equal("read", errors.as(err, "OpError").op)
    end)
end)

describe("keepalive (seed §12)", function()
    it("dialed and accepted TCP conns get Go's keepalive: on, 15 s idle, 15 s interval, 9 probes", function()
        local c, s = pair()
        for _, x in ipairs({ c, s }) do
            assert.are.same({ on = true, idle = 15, interval = 15, count = 9 }, keepalive_of(x))
            assert.is_true(get(x, "IPPROTO_TCP", "TCP_NODELAY"))
        end
        -- The kernel runs the keepalive timer on the accepted conn (set on
        -- the listening socket and inherited): ss shows it.
        local port = s:local_addr().port
        local out = support.sh_ok(("ss -tnoH state established '( sport = :%d )'"):format(port))
        assert.is_truthy(out:find("timer:(keepalive,", 1, true), out)
        c:close()
        s:close()
    end)

    it("keepalive = -1 in a dialer or a listen config leaves keepalive off", function()
        local c, s = pair_with(lnet.dialer({ keepalive = -1 }), lnet.listen_config({ keepalive = -1 }))
        assert.is_false(get(c, "SOL_SOCKET", "SO_KEEPALIVE"))
        assert.is_false(get(s, "SOL_SOCKET", "SO_KEEPALIVE"))
        assert.is_true(get(s, "IPPROTO_TCP", "TCP_NODELAY"))
        c:close()
        s:close()
    end)

    it("keepalive = sec is Go's: sec idle (rounded up), the interval and count at their defaults", function()
        local c, s = pair_with(lnet.dialer({ keepalive = 29.2 }), lnet.listen_config({ keepalive = 40 }))
        assert.are.same({ on = true, idle = 30, interval = 15, count = 9 }, keepalive_of(c))
        assert.are.same({ on = true, idle = 40, interval = 15, count = 9 }, keepalive_of(s))
        c:close()
        s:close()
    end)

    it("keepalive_config sets idle, interval and count; 0 means Go's default; it wins over keepalive", function()
        local d = lnet.dialer({ keepalive = -1, keepalive_config = { idle = 5, interval = 3, count = 2 } })
        local cfg = lnet.listen_config({ keepalive_config = { idle = 7, interval = 0, count = 4 } })
        local c, s = pair_with(d, cfg)
        assert.are.same({ on = true, idle = 5, interval = 3, count = 2 }, keepalive_of(c))
        assert.are.same({ on = true, idle = 7, interval = 15, count = 4 }, keepalive_of(s))
        c:close()
        s:close()
        -- enable = false: keepalive decides again, as Go's Enable does.
        c, s = pair_with(lnet.dialer({ keepalive = -1, keepalive_config = { enable = false, idle = 5 } }),
            lnet.listen_config({ keepalive_config = { enable = false } }))
        assert.is_false(get(c, "SOL_SOCKET", "SO_KEEPALIVE"))
        assert.are.same({ on = true, idle = 15, interval = 15, count = 9 }, keepalive_of(s))
        c:close()
        s:close()
    end)

    it("set_keepalive, set_keepalive_period, set_keepalive_config and set_user_timeout, read back", function()
        local c, s = pair()
        assert.is_true(c:set_keepalive(false))
        assert.is_false(get(c, "SOL_SOCKET", "SO_KEEPALIVE"))
        assert.is_true(c:set_keepalive(true))
        assert.is_true(get(c, "SOL_SOCKET", "SO_KEEPALIVE"))
        assert.is_true(c:set_keepalive_period(7.2)) -- idle and interval, rounded up
        assert.are.same({ on = true, idle = 8, interval = 8, count = 9 }, keepalive_of(c))
        assert.is_true(c:set_keepalive_period(0)) -- Go's default
        assert.are.same({ on = true, idle = 15, interval = 15, count = 9 }, keepalive_of(c))
        assert.is_true(c:set_keepalive_config({ idle = 60, interval = 10, count = 3 }))
        assert.are.same({ on = true, idle = 60, interval = 10, count = 3 }, keepalive_of(c))
        -- A negative field is left as it is.
        assert.is_true(c:set_keepalive_config({ idle = -1, interval = 20, count = -1 }))
        assert.are.same({ on = true, idle = 60, interval = 20, count = 3 }, keepalive_of(c))
        assert.is_true(c:set_keepalive_config({ enable = false, idle = 9 }))
        assert.are.same({ on = false, idle = 9, interval = 15, count = 9 }, keepalive_of(c))
        assert.are.equal(0, get(c, "IPPROTO_TCP", "TCP_USER_TIMEOUT"))
        assert.is_true(c:set_user_timeout(1.5))
        assert.are.equal(1500, get(c, "IPPROTO_TCP", "TCP_USER_TIMEOUT"))
        assert.is_true(c:set_user_timeout(0.0004)) -- rounded up to a whole ms
        assert.are.equal(1, get(c, "IPPROTO_TCP", "TCP_USER_TIMEOUT"))
        assert.is_true(c:set_user_timeout(0))
        assert.are.equal(0, get(c, "IPPROTO_TCP", "TCP_USER_TIMEOUT"))
        c:close()
        s:close()
    end)

    it("the keepalive setters fail on a closed conn and raise on wrong arguments", function()
        local c, s = pair()
        s:close()
        for _, call in ipairs({
            function() return c:set_keepalive("yes") end,
            function() return c:set_keepalive_period("15s") end,
            function() return c:set_keepalive_period(0 / 0) end,
            function() return c:set_keepalive_config(15) end,
            function() return c:set_keepalive_config({ idel = 5 }) end,
            function() return c:set_keepalive_config({ count = 1.5 }) end,
            function() return c:set_keepalive_config({ enable = 1 }) end,
            function() return c:set_user_timeout(-1) end,
            function() return c:set_user_timeout("1") end,
            function() return lnet.dialer({ keepalive = "15" }) end,
            function() return lnet.dialer({ keepalive_config = { interval = {} } }) end,
            function() return lnet.dialer({ keepalve = 15 }) end,
            function() return lnet.listen_config({ keepalive = true }) end,
            function() return lnet.listen_config({ backlog = 5, keep_alive = 1 }) end,
            function() return lnet.listen("tcp", "127.0.0.1:0", { keepalive_config = "on" }) end,
        }) do
            assert.has_error(call)
        end
        assert.has_error(function() lnet.dialer({ keepalve = 15 }) end, "bad dial option 'keepalve' (unknown option)")
        assert.has_error(function() c:set_keepalive_config({ idel = 5 }) end,
            "bad argument #1 to 'set_keepalive_config' (unknown keepalive config field 'idel')")
        c:close()
        for _, call in ipairs({
            function() return c:set_keepalive(true) end,
            function() return c:set_keepalive_period(5) end,
            function() return c:set_keepalive_config({}) end,
            function() return c:set_user_timeout(1) end,
        }) do
            local ok, err = call()
            assert.is_nil(ok)
            assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
            assert.are.equal("set", errors.as(err, "OpError").op)
        end
    end)
end)

describe("raw:setsockopt and raw:getsockopt", function()
    it("set and read back each option the issue names, by name", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local r = ln:syscall_conn()
        local cases = {
            { "SOL_SOCKET", "SO_REUSEADDR", false, false },
            { "SOL_SOCKET", "SO_REUSEPORT", true, true },
            { "SOL_SOCKET", "SO_MARK", 42, 42 }, -- needs CAP_NET_ADMIN: the specs run as root
            { "SOL_SOCKET", "SO_BINDTODEVICE", "lo", "lo" },
            { "SOL_SOCKET", "SO_RCVBUF", 65536, 131072 }, -- Linux doubles what is asked
            { "SOL_SOCKET", "SO_SNDBUF", 65536, 131072 },
            { "IPPROTO_IP", "IP_BIND_ADDRESS_NO_PORT", true, true },
            { "IPPROTO_IP", "IP_TOS", 0x10, 0x10 },
            { "IPPROTO_IP", "IP_TTL", 17, 17 },
            { "IPPROTO_IP", "IP_FREEBIND", true, true },
            { "IPPROTO_TCP", "TCP_NODELAY", false, false },
            { "IPPROTO_TCP", "TCP_FASTOPEN", 16, 16 },
            { "IPPROTO_TCP", "TCP_CONGESTION", "reno", "reno" },
            { "IPPROTO_TCP", "TCP_CONGESTION", "cubic", "cubic" },
            { "IPPROTO_TCP", "TCP_USER_TIMEOUT", 2500, 2500 },
            { "SOL_SOCKET", "SO_LINGER", 3, 3 },
            { "SOL_SOCKET", "SO_LINGER", -1, -1 },
            { "SOL_SOCKET", "SO_KEEPALIVE", 1, true }, -- a number does for a bool option
        }
        for _, case in ipairs(cases) do
            local level, name, value, back = case[1], case[2], case[3], case[4]
            local ok, err = r:setsockopt(level, name, value)
            if not ok then
                error(name .. ": " .. tostring(err))
            end
            assert.are.equal(back, r:getsockopt(level, name), name)
        end
        -- What only an open socket can say.
        assert.is_true(r:getsockopt("SOL_SOCKET", "SO_ACCEPTCONN"))
        assert.are.equal(sys.const.SOCK_STREAM, r:getsockopt("SOL_SOCKET", "SO_TYPE"))
        assert.are.equal(sys.const.AF_INET, r:getsockopt("SOL_SOCKET", "SO_DOMAIN"))
        assert.are.equal(0, r:getsockopt("SOL_SOCKET", "SO_ERROR"))
        ln:close()
        -- IPV6_V6ONLY holds from the bind on: a control hook sets it.
        local ln6 = lnet.listen("tcp6", "[::]:0")
        if ln6 ~= nil then -- a wildcard needs no ::1, only IPv6
            assert.is_true(ln6:syscall_conn():getsockopt("IPPROTO_IPV6", "IPV6_V6ONLY")) -- tcp6: v6 only
            ln6:close()
            ln6 = assert(lnet.listen_config({ control = function(_, _, raw)
                return raw:setsockopt("IPPROTO_IPV6", "IPV6_V6ONLY", false)
            end }):listen("tcp6", "[::]:0"))
            assert.is_false(ln6:syscall_conn():getsockopt("IPPROTO_IPV6", "IPV6_V6ONLY"))
            ln6:close()
        end
    end)

    it("take levels and options by number: an int, or bytes given a size", function()
        local c, s = pair()
        local r = c:syscall_conn()
        local K = sys.const
        assert.is_true(r:setsockopt(K.IPPROTO_TCP, K.TCP_NODELAY, 0))
        assert.are.equal(0, r:getsockopt(K.IPPROTO_TCP, K.TCP_NODELAY))
        assert.is_false(r:getsockopt("IPPROTO_TCP", "TCP_NODELAY"))
        assert.is_true(r:setsockopt("IPPROTO_TCP", K.TCP_NODELAY, true))
        assert.are.equal(1, r:getsockopt(6, 1))
        -- TCP_CONGESTION (13) as raw bytes: the name, NUL-padded.
        local bytes = r:getsockopt(6, 13, 16)
        assert.are.equal(16, #bytes)
        assert.are.equal(r:getsockopt("IPPROTO_TCP", "TCP_CONGESTION"), bytes:match("^[^%z]*"))
        assert.is_true(r:setsockopt(6, 13, "reno"))
        assert.are.equal("reno", r:getsockopt("IPPROTO_TCP", "TCP_CONGESTION"))
        c:close()
        s:close()
    end)

    it("a kernel refusal is a SyscallError; a closed object an OpError with ErrClosed", function()
        local c, s = pair()
        local r = c:syscall_conn()
        local ok, err = r:setsockopt("IPPROTO_TCP", "TCP_CONGESTION", "no-such-algorithm")
        assert.is_nil(ok)
        assert.are.equal("setsockopt: no such file or directory", tostring(err))
        assert.is_true(errors.is(err, lnet.errno.ENOENT))
        local v, gerr = r:getsockopt("IPPROTO_IPV6", "IPV6_V6ONLY") -- an IPv4 socket
        assert.is_nil(v)
        assert.are.equal("getsockopt", errors.as(gerr, "SyscallError").syscall)
        c:close()
        s:close()
        ok, err = r:setsockopt("SOL_SOCKET", "SO_KEEPALIVE", true)
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        assert.are.equal("raw-control", errors.as(err, "OpError").op)
        v, err = r:getsockopt("SOL_SOCKET", "SO_KEEPALIVE")
        assert.is_nil(v)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        ok, err = r:control(function() error("not called") end)
        assert.is_nil(ok)
        assert.are.equal("raw-control", errors.as(err, "OpError").op)
    end)

    it("raise on unknown names, a wrong level, a wrong value type, a bad size", function()
        local c, s = pair()
        local r = c:syscall_conn()
        local raises = {
            { function() r:setsockopt("SOL_SOCKET", "SO_REUSEPROT", true) end,
              "bad argument #2 to 'setsockopt' (unknown socket option 'SO_REUSEPROT')" },
            { function() r:getsockopt("SOL_SOKET", "SO_REUSEPORT") end,
              "bad argument #1 to 'getsockopt' (unknown socket option level 'SOL_SOKET')" },
            { function() r:setsockopt("IPPROTO_TCP", "SO_REUSEPORT", true) end,
              "bad argument #1 to 'setsockopt' (SO_REUSEPORT is an option of SOL_SOCKET, not IPPROTO_TCP)" },
            { function() r:setsockopt("SOL_SOCKET", "SO_REUSEPORT", "yes") end,
              "bad argument #3 to 'setsockopt' (boolean expected, got string)" },
            { function() r:setsockopt("SOL_SOCKET", "SO_RCVBUF", true) end,
              "bad argument #3 to 'setsockopt' (integer expected, got boolean)" },
            { function() r:setsockopt("SOL_SOCKET", "SO_RCVBUF", 1.5) end,
              "bad argument #3 to 'setsockopt' (integer expected, got 1.5)" },
            { function() r:setsockopt("IPPROTO_TCP", "TCP_CONGESTION", 1) end,
              "bad argument #3 to 'setsockopt' (string expected, got number)" },
            { function() r:setsockopt(6, 1, nil) end, "bad argument #3 to 'setsockopt' (integer expected, got nil)" },
            { function() r:getsockopt(6, 13, 0) end, "bad argument #3 to 'getsockopt' (size of 1 to 256 expected, got 0)" },
            { function() r:getsockopt({}, 1) end,
              "bad argument #1 to 'getsockopt' (level name or number expected, got table)" },
            { function() r:getsockopt("SOL_SOCKET", 1.5) end,
              "bad argument #2 to 'getsockopt' (option name or number expected, got number)" },
            { function() r:control("fd") end, "bad argument #1 to 'control' (function expected, got string)" },
            { function() r.setsockopt({}, "SOL_SOCKET", "SO_KEEPALIVE", true) end,
              "bad argument #1 to 'setsockopt' (raw conn expected, got table)" },
        }
        for _, case in ipairs(raises) do
            local ok, err = pcall(case[1])
            assert.is_false(ok)
            assert.are.equal(case[2], tostring(err):gsub("^[^:]*:%d+: ", ""))
            -- The message points at the caller, this file.
            assert.is_truthy(tostring(err):find("sockopt_spec.lua", 1, true), tostring(err))
        end
        c:close()
        s:close()
        -- A closed socket still checks its names first.
        assert.has_error(function() r:setsockopt("SOL_SOCKET", "SO_NOPE", 1) end)
    end)
end)

describe("raw:read and raw:write (Go's RawConn)", function()
    -- recv in non-blocking mode: the bytes, or nil when none are there.
    local function try_recv(fd, max)
        local buf = ffi.new("char[?]", max)
        local n = ffi.C.lnet_spec_recv(fd, buf, max, MSG_DONTWAIT)
        if n < 0 then
            return nil
        end
        return ffi.string(buf, n)
    end

    it("read calls fn at once, and again each time the socket becomes readable, until it is done", function()
        local c, s = pair()
        local r = c:syscall_conn()
        local calls, got = 0, {}
        local writer = lnet.go(function()
            for i = 1, 3 do
                lnet.sleep(0.02)
                s:write("part" .. i)
            end
        end)
        local t0 = lnet.now()
        assert.is_true(r:read(function(fd)
            calls = calls + 1
            local data = try_recv(fd, 100)
            got[#got + 1] = data
            return data ~= nil and table.concat(got):find("part3", 1, true) ~= nil
        end))
        assert.is_true(lnet.now() - t0 >= 0.05)
        assert.are.equal("part1part2part3", table.concat(got))
        -- One call at once (nothing there), then about one per write: it
        -- waited for readiness instead of spinning.
        assert.is_true(calls >= 2 and calls <= 8, "calls: " .. calls)
        writer:join()
        c:close()
        s:close()
    end)

    it("read honours the read deadline, the ctx and close; its errors are raw-read OpErrors", function()
        local c, s = pair()
        local r = c:syscall_conn()
        local never = function(fd)
            return try_recv(fd, 10) ~= nil
        end
        c:set_read_deadline(lnet.now() + 0.05)
        local ok, err = r:read(never)
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
        assert.are.equal("raw-read", errors.as(err, "OpError").op)
        c:set_read_deadline(nil)
        local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 0.05)
        ok, err = r:read(never, ctx)
        cancel()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.context.DeadlineExceeded), tostring(err))
        local reader = lnet.go(function()
            return r:read(never)
        end)
        lnet.sleep(0.02)
        c:close()
        ok, err = reader:join()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        s:close()
    end)

    it("write calls fn when the socket is writable: a full send buffer waits for the reader", function()
        local c, s = pair()
        support.small_buffers(c, s)
        local r = c:syscall_conn()
        local chunk = string.rep("x", 65536)
        local sent, calls = 0, 0
        local reader = lnet.go(function()
            lnet.sleep(0.05)
            return #read_all(s)
        end)
        local t0 = lnet.now()
        assert.is_true(r:write(function(fd)
            calls = calls + 1
            local n = ffi.C.lnet_spec_send(fd, chunk, #chunk, MSG_DONTWAIT)
            if n > 0 then
                sent = sent + n
            end
            return sent >= 4 * support.MiB
        end))
        -- 4 MiB do not fit the buffers: the write went on once the reader
        -- started, and fn ran only when there was room (no spinning).
        assert.is_true(lnet.now() - t0 >= 0.04)
        assert.is_true(calls < 2000, "calls: " .. calls)
        c:close_write()
        assert.are.equal(sent, reader:join())
        c:close()
        s:close()
    end)

    it("a listener's read waits for a conn to accept; a packet conn's for a datagram", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local dialer = lnet.go(function()
            lnet.sleep(0.02)
            return lnet.dial("tcp", tostring(ln:addr()))
        end)
        local calls = 0
        assert.is_true(ln:syscall_conn():read(function()
            calls = calls + 1
            return calls > 1 -- the second call comes with a conn waiting
        end))
        local s = assert(ln:accept())
        assert.are.equal(2, calls)
        dialer:join():close()
        s:close()
        ln:close()

        local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
        local got
        lnet.go(function()
            lnet.sleep(0.02)
            local u = assert(lnet.dial("udp", tostring(pc:local_addr())))
            u:write("datagram")
            u:close()
        end)
        assert.is_true(pc:syscall_conn():read(function(fd)
            got = try_recv(fd, 100)
            return got ~= nil
        end))
        assert.are.equal("datagram", got)
        pc:close()
    end)

    it("raise on a wrong fn or ctx", function()
        local c, s = pair()
        local r = c:syscall_conn()
        assert.has_error(function() r:read() end, "bad argument #1 to 'read' (function expected, got nil)")
        assert.has_error(function() r:write(function() return true end, {}) end,
            "bad argument #2 to 'write' (context expected, got table)")
        c:close()
        s:close()
    end)
end)
