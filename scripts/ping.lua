-- ping: ICMP echo, printed as ping(8) prints it.
--   lnet scripts/ping.lua [-4|-6] [-c count] [-i interval] [-W wait] [-s size] host
-- count defaults to 4, interval to 1 s, size (bytes of data) to 56; after
-- the last request, replies are awaited for up to `wait` seconds (10).
-- Uses a raw socket when it may (CAP_NET_RAW), else the ICMP datagram
-- socket (net.ipv4.ping_group_range must admit the user's group).
-- Exit status: 0 if any reply came, 1 if none, 2 on errors.

local lnet = require "lnet"
local icmp = lnet.icmp
local errors = lnet.errors

local stderr = io.stderr
local format = string.format

local function fail(msg)
    stderr:write("ping: ", msg, "\n")
    os.exit(2)
end

local function usage()
    fail("usage: ping [-4|-6] [-c count] [-i interval] [-W wait] [-s size] host")
end

local opts = { count = 4, interval = 1, wait = 10, size = 56 }
local flags = { ["-c"] = "count", ["-i"] = "interval", ["-W"] = "wait", ["-s"] = "size" }
local args, host = { ... }, nil
local i = 1
while i <= #args do
    local a = args[i]
    if a == "-4" or a == "-6" then
        opts.family = a:sub(2)
    elseif flags[a] then
        local v = tonumber(args[i + 1])
        if v == nil or v < 0 then
            usage()
        end
        opts[flags[a]] = v
        i = i + 1
    elseif host == nil and a:sub(1, 1) ~= "-" then
        host = a
    else
        usage()
    end
    i = i + 1
end
-- A count or a size is whole (ping(8) refuses "1.5" too).
if host == nil or opts.count < 1 or opts.count % 1 ~= 0 or opts.size % 1 ~= 0 or opts.size > 65000 then
    usage()
end

-- The address to ping: a UDP "dial" resolves the name and sends nothing.
local function resolve(name)
    local literal = lnet.ip.parse_addr(name)
    local target = literal and literal:is6() and "[" .. name .. "]:9" or name .. ":9"
    local c, err = lnet.dial("udp" .. (opts.family or ""), target)
    if c == nil then
        fail(format("%s: %s", name, tostring(err)))
    end
    local ip = c:remote_addr().ip
    c:close()
    return ip:is4in6() and ip:unmap() or ip
end

-- A raw socket if we may, else the unprivileged ICMP datagram socket.
local function open(v6)
    local raw_net, dgram_net = "ip4:icmp", "udp4"
    local any = "0.0.0.0"
    if v6 then
        raw_net, dgram_net, any = "ip6:ipv6-icmp", "udp6", "::"
    end
    local c, err = icmp.listen_packet(raw_net, any)
    if c ~= nil then
        return c, true
    end
    local c2, err2 = icmp.listen_packet(dgram_net, any)
    if c2 ~= nil then
        return c2, false
    end
    fail(format("cannot open an ICMP socket: %s; %s (needs CAP_NET_RAW, or a group in net.ipv4.ping_group_range)",
        tostring(err), tostring(err2)))
end

local function main()
    local ip = resolve(host)
    local v6 = ip:is6()
    local c, raw = open(v6)
    local types = v6 and icmp.v6 or icmp.v4
    math.randomseed(math.floor(lnet.time() * 1e6) % 2147483647)
    -- The kernel sets the id of a datagram socket's requests and hands it
    -- only its own replies; a raw socket sees every ICMP message.
    local id = math.random(0, 0xffff)
    local payload = ("lnet-ping "):rep(math.ceil(opts.size / 10)):sub(1, opts.size)
    local dst = tostring(ip)
    if v6 then
        io.write(format("PING %s(%s) %d data bytes\n", host, dst, opts.size))
    else
        io.write(format("PING %s (%s) %d(%d) bytes of data.\n", host, dst, opts.size, opts.size + 28))
    end
    io.stdout:flush()

    local sent, got, dups = {}, {}, 0
    local transmitted, received = 0, 0
    local rtts = {}
    local start = lnet.now()

    local receiver = lnet.go(function()
        while received < opts.count do
            local data, from, info = c:read_from()
            if data == nil then
                if not errors.is(from, lnet.ErrDeadlineExceeded) then
                    stderr:write("ping: ", tostring(from), "\n")
                end
                return
            end
            local m = icmp.decode(data, v6)
            local seq = m and m.seq
            if m and m.type == types.echo_reply and (not raw or m.id == id) and sent[seq] then
                local ms = (lnet.now() - sent[seq]) * 1000
                local dup = got[seq]
                if dup then
                    dups = dups + 1
                else
                    got[seq] = true
                    received = received + 1
                    rtts[#rtts + 1] = ms
                end
                local ttl = info.ttl and format(" ttl=%d", info.ttl) or ""
                io.write(format("%d bytes from %s: icmp_seq=%d%s time=%.3f ms%s\n", #data, tostring(from), seq, ttl,
                    ms, dup and " (DUP!)" or ""))
                io.stdout:flush()
            end
        end
    end)

    for seq = 1, opts.count do
        local msg = icmp.encode({ type = types.echo_request, id = id, seq = seq % 65536, data = payload, v6 = v6 })
        sent[seq % 65536] = lnet.now()
        local n, err = c:write_to(msg, dst)
        if n == nil then
            stderr:write("ping: ", tostring(err), "\n")
        end
        transmitted = transmitted + 1
        if seq < opts.count then
            lnet.sleep(opts.interval)
        end
    end
    -- Replies still on their way get `wait` seconds; a reply that comes
    -- ends the wait as soon as none is missing.
    c:set_read_deadline(lnet.now() + opts.wait)
    receiver:join()
    c:close()

    local elapsed = math.floor((lnet.now() - start) * 1000)
    io.write(format("\n--- %s ping statistics ---\n", host))
    io.write(format("%d packets transmitted, %d received,%s %g%% packet loss, time %dms\n", transmitted, received,
        dups > 0 and format(" +%d duplicates,", dups) or "", (transmitted - received) * 100 / transmitted, elapsed))
    if received > 0 then
        local lo, hi, sum, sq = math.huge, 0, 0, 0
        for _, r in ipairs(rtts) do
            lo, hi, sum, sq = math.min(lo, r), math.max(hi, r), sum + r, sq + r * r
        end
        local avg = sum / #rtts
        local mdev = math.sqrt(math.max(sq / #rtts - avg * avg, 0))
        io.write(format("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", lo, avg, hi, mdev))
    end
    return received > 0
end

if not main() then
    os.exit(1)
end
