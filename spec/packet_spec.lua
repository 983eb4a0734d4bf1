-- Packet conns: seed §13 (UDP), §14 (raw IP), §18 (truncation), and the
-- ICMP codec. Loopback only; every wait is bounded by a deadline.

local lnet = require "lnet"
local errors = lnet.errors
local context = lnet.context
local icmp = lnet.icmp

local SLACK = 2 -- "at once" / "promptly": well under this many seconds

local function udp(address)
    return assert(lnet.listen_packet("udp4", address or "127.0.0.1:0"))
end

local function port_of(c)
    return "127.0.0.1:" .. c:local_addr().port
end

-- Reads one datagram, failing the test rather than waiting forever.
local function read_from(c, max)
    c:set_read_deadline(lnet.now() + SLACK)
    local data, from, info = c:read_from(max)
    assert(data, tostring(from))
    c:set_read_deadline(nil)
    return data, from, info
end

local function ipv6_loopback()
    local c = lnet.listen_packet("udp6", "[::1]:0")
    if c == nil then
        return false
    end
    c:close()
    return true
end

local function tmp_path(tag)
    local p = os.tmpname()
    os.remove(p)
    return p .. "." .. tag .. ".sock"
end

describe("packet conns: UDP (seed §13)", function()
    it("a datagram longer than max is cut to max, with truncated set and the real size", function()
        local a, b = udp(), udp()
        for _, size in ipairs({ 100, 1500, 9000 }) do
            local sent = ("%05d"):format(size) .. ("x"):rep(size - 5)
            assert.are.equal(size, a:write_to(sent, port_of(b)))
            local data, from, info = read_from(b, 64)
            assert.are.equal(sent:sub(1, 64), data)
            assert.is_true(info.truncated)
            assert.are.equal(size, info.size)
            assert.are.equal(tostring(a:local_addr()), tostring(from))
        end
        a:close()
        b:close()
    end)

    it("a datagram that fits is whole and not truncated; read_from without max takes 9000 bytes", function()
        local a, b = udp(), udp()
        a:write_to(("y"):rep(1500), port_of(b))
        local data, _, info = read_from(b, 1500)
        assert.are.equal(1500, #data)
        assert.is_false(info.truncated)
        assert.are.equal(1500, info.size)
        a:write_to(("z"):rep(9000), port_of(b))
        data, _, info = read_from(b)
        assert.are.equal(("z"):rep(9000), data)
        assert.is_false(info.truncated)
        a:close()
        b:close()
    end)

    it("an empty datagram reads as an empty string, and max 0 takes a datagram", function()
        local a, b = udp(), udp()
        assert.are.equal(0, a:write_to("", port_of(b)))
        local data, _, info = read_from(b)
        assert.are.equal("", data)
        assert.is_false(info.truncated)
        assert.are.equal(0, info.size)
        a:write_to("gone", port_of(b))
        a:write_to("next", port_of(b))
        data, _, info = read_from(b, 0)
        assert.are.equal("", data)
        assert.is_true(info.truncated)
        assert.are.equal(4, info.size)
        assert.are.equal("next", (read_from(b)))
        a:close()
        b:close()
    end)

    it("write_to of 65,508 bytes over IPv4 fails with EMSGSIZE; 65,507 goes whole", function()
        local a, b = udp(), udp()
        local n, err = a:write_to(("m"):rep(65508), port_of(b))
        assert.is_nil(n)
        assert.is_true(errors.is(err, lnet.errno.EMSGSIZE), tostring(err))
        assert.are.equal(("write udp4 %s->%s: sendto: message too long"):format(port_of(a), port_of(b)), tostring(err))
        assert.are.equal(65507, a:write_to(("m"):rep(65507), port_of(b)))
        local data, _, info = read_from(b)
        assert.are.equal(65507, #data)
        assert.is_false(info.truncated)
        -- nothing of the refused datagram was sent
        b:set_read_deadline(lnet.now() + 0.05)
        assert.is_true(errors.is(select(2, b:read_from()), lnet.ErrDeadlineExceeded))
        a:close()
        b:close()
    end)

    it("on a dual-stack udp socket an IPv4 sender is 4-in-6, and write_to reaches it", function()
        if not ipv6_loopback() then
            pending("no IPv6 on this host")
            return
        end
        local s = assert(lnet.listen_packet("udp", ":0"))
        assert.are.equal("[::]:" .. s:local_addr().port, tostring(s:local_addr()))
        local c = udp()
        c:write_to("ping", "127.0.0.1:" .. s:local_addr().port)
        local data, from = read_from(s)
        assert.are.equal("ping", data)
        assert.is_true(from.ip:is4in6())
        assert.is_true(from.ip:unmap() == lnet.ip.parse_addr("127.0.0.1"))
        assert.are.equal(c:local_addr().port, from.port)
        assert.are.equal(4, s:write_to("pong", from))
        local reply, rfrom = read_from(c)
        assert.are.equal("pong", reply)
        assert.are.equal("127.0.0.1:" .. s:local_addr().port, tostring(rfrom))
        s:close()
        c:close()
    end)

    it("udp6 on [::1] carries datagrams both ways, addresses printed as Go's \"[::1]:port\"", function()
        local a = lnet.listen_packet("udp6", "[::1]:0")
        if a == nil then
            pending("no IPv6 on this host")
            return
        end
        local b = assert(lnet.listen_packet("udp6", "[::1]:0"))
        local aaddr, baddr = "[::1]:" .. a:local_addr().port, "[::1]:" .. b:local_addr().port
        assert.are.equal(aaddr, tostring(a:local_addr()))
        assert.are.equal(baddr, tostring(b:local_addr()))
        assert.are.equal("udp", a:local_addr():network())
        assert.is_true(a:local_addr().ip:is6())
        assert.are.equal(5, a:write_to("there", baddr))
        local data, from, info = read_from(b)
        assert.are.equal("there", data)
        assert.is_false(info.truncated)
        assert.are.equal(5, info.size)
        assert.are.equal(aaddr, tostring(from))
        assert.are.equal(a:local_addr().port, from.port)
        assert.is_true(from.ip:is6())
        assert.is_false(from.ip:is4in6())
        assert.is_true(from.ip == lnet.ip.parse_addr("::1"))
        -- back to the address read_from gave, and to the address object
        assert.are.equal(4, b:write_to("back", from))
        assert.are.equal(5, b:write_to("again", a:local_addr()))
        local reply, rfrom = read_from(a)
        assert.are.equal("back", reply)
        assert.are.equal(baddr, tostring(rfrom))
        assert.is_true(rfrom.ip:is6())
        local again, afrom = read_from(a)
        assert.are.equal("again", again)
        assert.are.equal(baddr, tostring(afrom))
        a:close()
        b:close()
    end)

    it("several tasks reading at once get disjoint datagrams whose union is everything sent", function()
        local s, c = udp(), udp()
        assert.is_true(s:set_read_buffer(1024 * 1024))
        local N, READERS = 200, 4
        local readers = {}
        for r = 1, READERS do
            readers[r] = lnet.go(function()
                local got = {}
                s:set_read_deadline(lnet.now() + SLACK)
                while true do
                    local data, err = s:read_from(100)
                    assert(data, tostring(err))
                    if data == "stop" then
                        return got
                    end
                    got[#got + 1] = tonumber(data)
                end
            end)
        end
        lnet.sleep(0) -- every reader is parked before the first datagram
        for i = 1, N do
            c:write_to(tostring(i), port_of(s))
        end
        for _ = 1, READERS do
            c:write_to("stop", port_of(s))
        end
        local seen, busy = {}, 0
        for r = 1, READERS do
            local got = assert(readers[r]:join())
            busy = busy + (#got > 0 and 1 or 0)
            for _, i in ipairs(got) do
                assert.is_nil(seen[i], "datagram " .. i .. " read twice")
                seen[i] = true
            end
        end
        for i = 1, N do
            assert.is_true(seen[i], "datagram " .. i .. " lost")
        end
        assert.is_true(busy >= 2, "one reader took everything")
        s:close()
        c:close()
    end)

    it("a burst read by one task arrives whole and in order", function()
        local s, c = udp(), udp()
        assert.is_true(s:set_read_buffer(1024 * 1024))
        for i = 1, 300 do
            c:write_to(("%d:"):format(i) .. ("b"):rep(i), port_of(s))
        end
        for i = 1, 300 do
            local data, _, info = read_from(s, 200)
            local want = ("%d:"):format(i) .. ("b"):rep(i)
            assert.are.equal(want:sub(1, 200), data)
            assert.are.equal(#want, info.size)
            assert.are.equal(#want > 200, info.truncated)
        end
        s:close()
        c:close()
    end)

    it("close wakes a parked read_from with ErrClosed; a second close fails", function()
        local s = udp()
        local reader = lnet.go(function()
            return s:read_from()
        end)
        lnet.sleep(0.01)
        assert.is_true(s:close())
        local data, err = reader:join()
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.ErrClosed), tostring(err))
        local ok, err2 = s:close()
        assert.is_nil(ok)
        assert.are.equal("close udp4 " .. tostring(s:local_addr()) .. ": use of closed network connection",
            tostring(err2))
        assert.is_true(errors.is(select(2, s:write_to("x", "127.0.0.1:9")), lnet.ErrClosed))
    end)

    it("listen_packet refuses stream networks and bad addresses", function()
        local c, err = lnet.listen_packet("tcp", "127.0.0.1:0")
        assert.is_nil(c)
        assert.are.equal("listen tcp 127.0.0.1:0: address 127.0.0.1:0: unexpected address type", tostring(err))
        c, err = lnet.listen("udp", "127.0.0.1:0")
        assert.is_nil(c)
        assert.are.equal("listen udp 127.0.0.1:0: address 127.0.0.1:0: unexpected address type", tostring(err))
        c, err = lnet.listen_packet("udp", "127.0.0.1")
        assert.is_nil(c)
        assert.is_not_nil(errors.as(err, "AddrError"), tostring(err))
        assert.has_error(function()
            lnet.listen_packet(4, "x")
        end)
    end)
end)

describe("packet conns: deadlines and contexts", function()
    it("a deadline in the past fails read_from at once, even with a datagram waiting", function()
        local a, b = udp(), udp()
        a:write_to("waiting", port_of(b))
        lnet.sleep(0.01)
        assert.is_true(b:set_read_deadline(lnet.now() - 1))
        local t0 = lnet.now()
        local data, err = b:read_from()
        assert.is_nil(data)
        assert.is_true(lnet.now() - t0 < SLACK)
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded))
        assert.is_true(err:timeout())
        assert.are.equal("read udp4 " .. port_of(b) .. ": i/o timeout", tostring(err))
        -- nil clears it, and the datagram was not consumed
        assert.is_true(b:set_read_deadline(nil))
        assert.are.equal("waiting", (read_from(b)))
        a:close()
        b:close()
    end)

    it("a deadline moved later while read_from waits lets it finish", function()
        local a, b = udp(), udp()
        assert.is_true(b:set_read_deadline(lnet.now() + 0.3))
        local reader = lnet.go(function()
            return b:read_from()
        end)
        lnet.sleep(0.01)
        assert.is_true(b:set_read_deadline(lnet.now() + SLACK))
        lnet.sleep(0.4) -- past the first deadline
        a:write_to("late", port_of(b))
        local data, err = reader:join()
        assert.are.equal("late", data, tostring(err))
        a:close()
        b:close()
    end)

    it("a deadline moved into the past while read_from waits fails it promptly", function()
        local b = udp()
        local reader = lnet.go(function()
            return b:read_from()
        end)
        lnet.sleep(0.01)
        local t0 = lnet.now()
        b:set_deadline(lnet.now())
        local data, err = reader:join()
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded))
        assert.is_true(lnet.now() - t0 < SLACK)
        b:close()
    end)

    it("a write deadline in the past fails write_to at once", function()
        local a = udp()
        a:set_write_deadline(lnet.now())
        local n, err = a:write_to("x", "127.0.0.1:9")
        assert.is_nil(n)
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
        a:close()
    end)

    it("cancelling the ctx of a waiting read_from fails it and leaves the conn usable", function()
        local a, b = udp(), udp()
        local ctx, cancel = context.with_cancel(context.background())
        local reader = lnet.go(function()
            return b:read_from(100, ctx)
        end)
        lnet.sleep(0.01)
        cancel()
        local data, err = reader:join()
        assert.is_nil(data)
        assert.is_true(errors.is(err, context.Canceled), tostring(err))
        assert.is_not_nil(errors.as(err, "OpError"))
        -- a done ctx fails the call before it starts
        local d2, err2 = b:read_from(100, ctx)
        assert.is_nil(d2)
        assert.is_true(errors.is(err2, context.Canceled))
        a:write_to("after", port_of(b))
        assert.are.equal("after", (read_from(b)))
        a:close()
        b:close()
    end)

    it("write_to with a ctx already cancelled still sends, once, as it need not wait; a live ctx lets it through", function()
        -- A ctx ends waiting only (README, Contexts), and on loopback a UDP
        -- datagram leaves the send buffer as it is sent, so write_to never
        -- waits here. (Where it would wait, a done ctx fails it at once:
        -- context_spec's unixgram write_to cases.)
        local a, b = udp(), udp()
        local done, cancel = context.with_cancel(context.background())
        cancel()
        local t0 = lnet.now()
        assert.are.equal(4, a:write_to("done", port_of(b), done))
        assert.is_true(lnet.now() - t0 < SLACK)
        local data, from = read_from(b)
        assert.are.equal("done", data)
        assert.are.equal(tostring(a:local_addr()), tostring(from))
        -- and it went out once
        b:set_read_deadline(lnet.now() + 0.05)
        assert.is_true(errors.is(select(2, b:read_from()), lnet.ErrDeadlineExceeded))
        b:set_read_deadline(nil)
        local live, stop = context.with_cancel(context.background())
        local timed, stop_timed = context.with_timeout(context.background(), SLACK)
        assert.are.equal(4, a:write_to("live", b:local_addr(), live))
        assert.are.equal(5, a:write_to("timed", port_of(b), timed))
        assert.are.equal("live", (read_from(b)))
        assert.are.equal("timed", (read_from(b)))
        assert.is_nil(live:err())
        stop()
        stop_timed()
        a:close()
        b:close()
    end)
end)

describe("packet conns: connected UDP", function()
    it("read(0) is \"\" at once and leaves the datagram queued; read_from(0) takes one", function()
        local s = udp()
        local c = assert(lnet.dial("udp", port_of(s)))
        assert.are.equal("", c:read(0)) -- nothing queued: still at once
        s:write_to("A", c:local_addr())
        s:write_to("B", c:local_addr())
        lnet.sleep(0.01)
        assert.are.equal("", c:read(0))
        c:set_read_deadline(lnet.now() + SLACK)
        assert.are.equal("A", c:read())
        local none, _, info = c:read_from(0)
        assert.are.equal("", none)
        assert.are.equal(1, info.size)
        c:close()
        s:close()
    end)

    it("dial udp gives read, write, local_addr and remote_addr", function()
        local s = udp()
        local c = assert(lnet.dial("udp", port_of(s)))
        assert.are.equal(port_of(s), tostring(c:remote_addr()))
        assert.are.equal(2, c:write("hi"))
        local data, from = read_from(s)
        assert.are.equal("hi", data)
        assert.are.equal(tostring(c:local_addr()), tostring(from))
        s:write_to("back", from)
        c:set_read_deadline(lnet.now() + SLACK)
        assert.are.equal("back", c:read())
        c:close()
        s:close()
    end)

    it("a dial to the wildcard (\":port\") is IPv4 and its remote_addr is the peer the kernel chose", function()
        local s = udp()
        local c = assert(lnet.dial("udp", ":" .. s:local_addr().port))
        assert.are.equal(port_of(s), tostring(c:remote_addr()))
        assert.are.equal(4, c:write("wild"))
        assert.are.equal("wild", (read_from(s)))
        c:close()
        s:close()
    end)

    it("datagrams from any source but the peer are filtered out", function()
        local peer, other = udp(), udp()
        local c = assert(lnet.dial("udp", port_of(peer)))
        local caddr = "127.0.0.1:" .. c:local_addr().port
        assert.are.equal(5, other:write_to("other", caddr))
        assert.are.equal(4, peer:write_to("peer", caddr))
        c:set_read_deadline(lnet.now() + 0.2)
        assert.are.equal("peer", c:read())
        local data, err = c:read()
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
        c:close()
        peer:close()
        other:close()
    end)

    it("a datagram to a port with no listener surfaces ECONNREFUSED on the next read", function()
        local gone = udp()
        local target = port_of(gone)
        gone:close()
        local c = assert(lnet.dial("udp", target))
        assert.are.equal(1, c:write("x"))
        c:set_read_deadline(lnet.now() + SLACK)
        local data, err = c:read()
        assert.is_nil(data)
        assert.is_true(errors.is(err, lnet.errno.ECONNREFUSED), tostring(err))
        assert.are.equal(("read udp %s->%s: read: connection refused"):format(tostring(c:local_addr()), target),
            tostring(err))
        c:close()
    end)

    it("write_to on a connected conn is ErrWriteToConnected", function()
        local s = udp()
        local c = assert(lnet.dial("udp", port_of(s)))
        local n, err = c:write_to("x", port_of(s))
        assert.is_nil(n)
        assert.is_true(errors.is(err, lnet.ErrWriteToConnected), tostring(err))
        c:close()
        s:close()
    end)
end)

describe("packet conns: unixgram", function()
    it("carries datagrams both ways, addresses named by .name", function()
        local sp, cp = tmp_path("s"), tmp_path("c")
        local s = assert(lnet.listen_packet("unixgram", sp))
        local c = assert(lnet.listen_packet("unixgram", cp))
        assert.are.equal(sp, s:local_addr().name)
        assert.are.equal("unixgram", s:local_addr():network())
        assert.are.equal(5, c:write_to("hello", sp))
        local data, from = read_from(s)
        assert.are.equal("hello", data)
        assert.are.equal(cp, from.name)
        assert.are.equal(cp, tostring(from))
        s:write_to("world", from)
        local reply, rfrom = read_from(c)
        assert.are.equal("world", reply)
        assert.are.equal(sp, rfrom.name)
        -- dial connects; an unbound client's datagrams come from no name
        local d = assert(lnet.dial("unixgram", sp))
        assert.are.equal(sp, d:remote_addr().name)
        assert.are.equal("@", d:local_addr().name)
        d:write("anon")
        local anon, afrom = read_from(s)
        assert.are.equal("anon", anon)
        assert.is_nil(afrom)
        s:close()
        c:close()
        d:close()
        os.remove(sp)
        os.remove(cp)
    end)
end)

-- Raw sockets need CAP_NET_RAW; returns the conn or calls pending.
local function raw(network, address)
    local c, err = icmp.listen_packet(network, address)
    if c == nil then
        assert.is_true(errors.is(err, lnet.errno.EPERM) or errors.is(err, lnet.errno.EACCES), tostring(err))
        pending("needs CAP_NET_RAW")
    end
    return c
end

-- Sends one echo request to dst over c and waits for its reply.
local function echo(c, dst, v6, id)
    local types = v6 and icmp.v6 or icmp.v4
    local req = icmp.encode({ type = types.echo_request, id = id, seq = 7, data = "lnet-ping", v6 = v6 })
    assert.are.equal(#req, c:write_to(req, dst))
    c:set_read_deadline(lnet.now() + SLACK)
    while true do -- a raw socket also sees our own request, and anyone's ICMP
        local data, from, info = c:read_from()
        assert(data, tostring(from))
        local m = assert(icmp.decode(data, v6))
        if m.type == types.echo_reply and m.seq == 7 and m.data == "lnet-ping" then
            return m, from, info
        end
    end
end

describe("packet conns: raw IP and ICMP (seed §14)", function()
    it("an ICMP echo to 127.0.0.1 over ip4:icmp comes back, IP header stripped", function()
        local c = raw("ip4:icmp", "0.0.0.0")
        if c == nil then
            return
        end
        assert.are.equal("0.0.0.0", tostring(c:local_addr()))
        local m, from, info = echo(c, "127.0.0.1", false, 0x4c4e)
        assert.are.equal(0x4c4e, m.id)
        assert.are.equal("127.0.0.1", tostring(from))
        assert.is_nil(from.port)
        assert.is_true(info.ttl > 0)
        c:close()
    end)

    it("an ICMPv6 echo to ::1 over ip6:ipv6-icmp comes back", function()
        if not ipv6_loopback() then
            pending("no IPv6 on this host")
            return
        end
        local c = raw("ip6:ipv6-icmp", "::")
        if c == nil then
            return
        end
        local m, from = echo(c, "::1", true, 0x4c4f)
        assert.are.equal(0x4c4f, m.id)
        assert.are.equal("::1", tostring(from))
        c:close()
    end)

    it("the ICMP datagram socket (x/net/icmp's udp4) echoes, or fails with EACCES/EPERM", function()
        local c, err = icmp.listen_packet("udp4", "0.0.0.0")
        if c == nil then
            assert.is_true(errors.is(err, lnet.errno.EACCES) or errors.is(err, lnet.errno.EPERM), tostring(err))
            assert.is_not_nil(tostring(err):find("^listen udp4:icmp 0.0.0.0: socket: "), tostring(err))
            return
        end
        local m = echo(c, "127.0.0.1", false, 1)
        assert.are.equal(icmp.v4.echo_reply, m.type)
        c:close()
    end)

    it("ip4:<number> carries that IP protocol", function()
        local c = raw("ip4:253", "127.0.0.1")
        if c == nil then
            return
        end
        local d = assert(lnet.listen_packet("ip4:253", "127.0.0.1"))
        assert.are.equal(3, c:write_to("raw", "127.0.0.1"))
        local data, from = read_from(d)
        assert.are.equal("raw", data)
        assert.are.equal("127.0.0.1", tostring(from))
        c:close()
        d:close()
    end)

    it("network names parse as Go's: unknown protocols and unknown networks have Go's errors", function()
        for _, case in ipairs({
            { "ip4:nosuchproto", "address nosuchproto: unknown IP protocol specified" },
            { "ip4:-1", "address -1: unknown IP protocol specified" },
            { "ip4:", "unknown IP protocol specified" },
            { "ip", "unknown network ip" },
            { "tcp:6", "unknown network tcp:6" },
            { "udp4:tcp", "unknown network udp4:tcp" },
            { "udp6:icmp", "unknown network udp6:icmp" },
        }) do
            local none, err = lnet.listen_packet(case[1], "127.0.0.1")
            assert.is_nil(none)
            assert.are.equal("listen " .. case[1] .. ": " .. case[2], tostring(err))
        end
    end)

    it("\"ip:<proto>\" takes its family from the address; names are any case; errors name the family", function()
        local c = raw("ip:TCP", "127.0.0.1")
        assert.are.equal("ip", c:local_addr():network())
        assert.are.equal("127.0.0.1", tostring(c:local_addr()))
        c:set_read_deadline(lnet.now())
        local _, err = c:read_from(10)
        assert.are.equal("read ip 127.0.0.1: i/o timeout", tostring(err))
        c:close()
    end)

    it("read on a connected ip4 conn keeps the IP header, as Go's Read; read(0) takes nothing", function()
        local l = raw("ip4:icmp", "127.0.0.1")
        local d = assert(lnet.dial("ip4:icmp", "127.0.0.1"))
        local req = icmp.encode({ type = icmp.v4.echo_request, id = 99, seq = 1, data = "hdr" })
        assert.are.equal(#req, d:write(req))
        d:set_read_deadline(lnet.now() + SLACK)
        assert.are.equal("", d:read(0))
        local got = assert(d:read(1500)) -- the request itself, or the kernel's reply
        assert.are.equal(0x45, got:byte(1))
        assert.are.equal(20 + #req, #got)
        l:close()
        d:close()
    end)
end)

describe("lnet.icmp codec", function()
    it("checksum matches RFC 1071's example and known echo vectors", function()
        -- RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded)
        assert.are.equal(0x220d, icmp.checksum("\x00\x01\xf2\x03\xf4\xf5\xf6\xf7"))
        -- an echo request with id 0, seq 0 and no data
        assert.are.equal(0xf7ff, icmp.checksum("\x08\x00\x00\x00\x00\x00\x00\x00"))
        -- an odd length pads with a zero byte
        assert.are.equal(icmp.checksum("\x01\x02\x03\x00"), icmp.checksum("\x01\x02\x03"))
        assert.are.equal(0xffff, icmp.checksum(""))
    end)

    it("encode puts a checksum that verifies; decode reads back what was encoded", function()
        local s = icmp.encode({ type = icmp.v4.echo_request, id = 0x1234, seq = 0xabcd, data = "hello" })
        assert.are.equal("\x08\x00", s:sub(1, 2))
        assert.are.equal("\x12\x34\xab\xcdhello", s:sub(5))
        assert.are.equal(0, icmp.checksum(s))
        local m = assert(icmp.decode(s))
        assert.are.equal(8, m.type)
        assert.are.equal(0, m.code)
        assert.are.equal(0x1234, m.id)
        assert.are.equal(0xabcd, m.seq)
        assert.are.equal("hello", m.data)
        assert.are.equal(s:byte(3) * 256 + s:byte(4), m.checksum)
    end)

    it("ICMPv6 leaves the checksum to the kernel; other types carry a body", function()
        local s = icmp.encode({ type = icmp.v6.echo_request, id = 1, seq = 2, v6 = true })
        assert.are.equal("\x80\x00\x00\x00\x00\x01\x00\x02", s)
        local m = assert(icmp.decode(s, true))
        assert.are.equal(1, m.id)
        assert.are.equal(2, m.seq)
        local u = assert(icmp.decode(icmp.encode({ type = icmp.v4.destination_unreachable, code = 3, body = "\0\0\0\0abc" })))
        assert.are.equal(3, u.type)
        assert.are.equal(3, u.code)
        assert.are.equal("\0\0\0\0abc", u.body)
        assert.is_nil(u.id)
    end)

    it("decode refuses short messages; encode raises on bad fields", function()
        local m, err = icmp.decode("\x08\x00")
        assert.is_nil(m)
        assert.is_not_nil(errors.as(err, "ParseError"))
        m, err = icmp.decode("\x08\x00\x00\x00\x00")
        assert.is_nil(m)
        assert.is_not_nil(err)
        assert.has_error(function()
            icmp.encode({ type = 8, id = 70000 })
        end)
        assert.has_error(function()
            icmp.encode({ type = 300 })
        end)
    end)
end)
