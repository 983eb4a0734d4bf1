-- scripts/ping.lua run as a child of lnet.process: replies, loss and
-- privilege, as ping(8) reports them. Loopback only; every wait is bounded
-- by a ctx or a deadline.

local lnet = require "lnet"
local process = lnet.process
local icmp = lnet.icmp

local support = require "support"

local ffi = require "ffi"
pcall(ffi.cdef, "unsigned int geteuid(void);")

local LIMIT = 8 -- seconds a child may run (the body's own limit is 10)
local COUNT, INTERVAL = 3, 0.1

-- Runs scripts/ping.lua with args under the lnet host, after prefix (a
-- command that execs the rest, such as setpriv). Returns its exit code,
-- stdout and stderr, or nil and the spawn error. With `from` (a copy made
-- by readable_copy) the host, the script and lnet's modules are that copy's.
local function ping(args, prefix, from)
    local argv, env = {}, nil
    for _, a in ipairs(prefix or {}) do
        argv[#argv + 1] = a
    end
    argv[#argv + 1] = from and from.host or support.host
    argv[#argv + 1] = from and from.script or "scripts/ping.lua"
    for _, a in ipairs(args) do
        argv[#argv + 1] = a
    end
    if from ~= nil then
        env = process.environ()
        env[#env + 1] = "LNET_PATH=" .. from.path
    end
    local code, out, errout, why = support.run(argv, { env = env, limit = LIMIT })
    if code == nil and why == nil then
        return nil, out -- the spawn failed
    end
    assert(code, "ping ended by " .. tostring(why))
    return code, out, errout
end

-- Where the host lets this process open some ICMP socket, as ping.lua
-- would: "raw", "datagram" or nil.
local function icmp_access(v6)
    local c = icmp.listen_packet(v6 and "ip6:ipv6-icmp" or "ip4:icmp", v6 and "::" or "0.0.0.0")
    local kind = "raw"
    if c == nil then
        c = icmp.listen_packet(v6 and "udp6" or "udp4", v6 and "::" or "0.0.0.0")
        kind = "datagram"
    end
    if c == nil then
        return nil
    end
    c:close()
    return kind
end

local function read_file(path)
    local f = io.open(path)
    if f == nil then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

local function lines(s)
    local t = {}
    for line in s:gmatch("([^\n]*)\n") do
        t[#t + 1] = line
    end
    return t
end

-- The reply lines of out: seq -> { bytes, from, ms }, and how many there were.
local function replies(out)
    local got, n = {}, 0
    for _, line in ipairs(lines(out)) do
        local bytes, from, seq, ms = line:match("^(%d+) bytes from (%S+): icmp_seq=(%d+)[^\n]* time=([%d.]+) ms$")
        if bytes then
            seq = tonumber(seq)
            assert.is_nil(got[seq], "two replies for icmp_seq=" .. seq .. ":\n" .. out)
            got[seq], n = { bytes = tonumber(bytes), from = from, ms = tonumber(ms) }, n + 1
        end
    end
    return got, n
end

-- Pings ip (v6 or not) COUNT times and checks ping(8)'s report of a clean run.
local function clean_run(ip, v6)
    if v6 and not support.ipv6_loopback() then
        pending("no IPv6 on this host")
        return
    end
    if icmp_access(v6) == nil then
        pending("no ICMP socket: needs CAP_NET_RAW, or a group in net.ipv4.ping_group_range")
        return
    end
    local t0 = lnet.now()
    local code, out, errout = ping({ "-c", tostring(COUNT), "-i", tostring(INTERVAL), "-W", "5", ip })
    -- every reply came, so the 5 s wait for stragglers ended at once
    assert.is_true(lnet.now() - t0 < (COUNT - 1) * INTERVAL + support.SLACK, "took " .. (lnet.now() - t0))
    assert.are.equal("", errout)
    assert.are.equal(0, code, out)
    local header = v6 and ("PING %s(%s) 56 data bytes"):format(ip, ip)
        or ("PING %s (%s) 56(84) bytes of data."):format(ip, ip)
    assert.are.equal(header, lines(out)[1])
    local got, n = replies(out)
    assert.are.equal(COUNT, n, out)
    for seq = 1, COUNT do
        local r = got[seq]
        assert.is_not_nil(r, "no reply line for icmp_seq=" .. seq .. ":\n" .. out)
        assert.are.equal(64, r.bytes)
        assert.are.equal(ip, r.from)
        assert.is_true(r.ms >= 0 and r.ms < 1000 * support.SLACK, out)
    end
    local sent, received = out:match("\n(%d+) packets transmitted, (%d+) received, 0%% packet loss, time %d+ms\n")
    assert.are.equal(tostring(COUNT), sent, out)
    assert.are.equal(tostring(COUNT), received, out)
    assert.is_not_nil(out:find("\n--- " .. ip .. " ping statistics ---\n", 1, true), out)
    local lo, avg, hi = out:match("\nrtt min/avg/max/mdev = ([%d.]+)/([%d.]+)/([%d.]+)/[%d.]+ ms\n$")
    assert.is_not_nil(lo, out)
    assert.is_true(tonumber(lo) <= tonumber(avg) and tonumber(avg) <= tonumber(hi), out)
end

describe("scripts/ping.lua", function()
    it("pings 127.0.0.1: a reply line with its RTT per icmp_seq, 0% packet loss, exit 0", function()
        clean_run("127.0.0.1", false)
    end)

    it("pings ::1: a reply line with its RTT per icmp_seq, 0% packet loss, exit 0", function()
        clean_run("::1", true)
    end)

    it("bad arguments are the usage line and exit 2, before any socket", function()
        for _, args in ipairs({ { "-c", "1.5", "127.0.0.1" }, { "-c", "0", "127.0.0.1" }, { "-x" }, {} }) do
            local code, out, errout = ping(args)
            assert.are.equal(2, code)
            assert.are.equal("", out)
            assert.is_truthy(errout:find("^ping: usage: ping"), errout)
        end
    end)

    it("a target that never answers (lo's broadcast 127.255.255.255) is 100% packet loss after -W, exit 1", function()
        -- The loopback broadcast stays on lo, and the kernel answers no
        -- echo to a broadcast address while icmp_echo_ignore_broadcasts is 1.
        if (read_file("/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts") or ""):match("^%d+") ~= "1" then
            pending("icmp_echo_ignore_broadcasts is off: the broadcast would be answered")
            return
        end
        local access = icmp_access(false)
        if access == nil then
            pending("no ICMP socket: needs CAP_NET_RAW, or a group in net.ipv4.ping_group_range")
            return
        end
        local t0 = lnet.now()
        local code, out, errout = ping({ "-c", "2", "-i", tostring(INTERVAL), "-W", "0.3", "127.255.255.255" })
        local took = lnet.now() - t0
        assert.are.equal(1, code, out .. errout)
        assert.is_true(took >= INTERVAL + 0.3, "did not wait -W: took " .. took)
        assert.is_true(took < INTERVAL + 0.3 + support.SLACK, "took " .. took)
        if access == "raw" then -- (a datagram socket may refuse to send to a broadcast)
            assert.are.equal("", errout)
        end
        local _, n = replies(out)
        assert.are.equal(0, n, out)
        assert.is_not_nil(out:find("\n2 packets transmitted, 0 received, 100%% packet loss, time %d+ms\n$"), out)
        assert.is_nil(out:find("rtt min/avg/max/mdev", 1, true), out)
    end)

    -- A copy of the host, scripts/ping.lua and lnet's modules that any user
    -- can read: the checkout may be where uid 65534 cannot (a clone in
    -- /root, mode 0700). Returns {dir, host, script, path} and a remover.
    local function readable_copy()
        local function run(argv)
            local proc = assert(process.spawn({ argv = argv, stdout = "pipe" }))
            local out = support.read_all(proc.stdout)
            proc.stdout:close()
            assert.are.equal(0, proc:wait(), table.concat(argv, " "))
            return out
        end
        local dir = run({ "mktemp", "-d" }):match("^(%S+)")
        run({ "mkdir", dir .. "/scripts" })
        run({ "cp", support.host, dir .. "/lnet" })
        run({ "cp", "-r", "lua", dir .. "/lua" })
        run({ "cp", "scripts/ping.lua", dir .. "/scripts/ping.lua" })
        run({ "chmod", "-R", "a+rX", dir })
        return { host = dir .. "/lnet", script = dir .. "/scripts/ping.lua",
                 path = dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua" }, function()
            run({ "rm", "-rf", dir })
        end
    end

    it("without CAP_NET_RAW and outside ping_group_range it fails to open a socket: EPERM/EACCES text, exit 2", function()
        if ffi.C.geteuid() ~= 0 then
            pending("needs root, to drop to uid 65534 with setpriv")
            return
        end
        local range = read_file("/proc/sys/net/ipv4/ping_group_range") or ""
        local lo, hi = range:match("^(%d+)%s+(%d+)")
        if lo == nil or (tonumber(lo) <= 65534 and 65534 <= tonumber(hi)) then
            pending("net.ipv4.ping_group_range admits gid 65534: its datagram socket would work")
            return
        end
        local setpriv = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" }
        local targets = { { "127.0.0.1", "listen ip4:icmp 0.0.0.0: socket: ", "listen udp4:icmp 0.0.0.0: socket: " } }
        if support.ipv6_loopback() then
            targets[2] = { "::1", "listen ip6:ipv6-icmp ::: socket: ", "listen udp6:ipv6-icmp ::: socket: " }
        end
        local copy, remove = readable_copy()
        local ok, err = pcall(function()
            for _, t in ipairs(targets) do
                local code, out, errout = ping({ "-c", "1", "-W", "1", t[1] }, setpriv, copy)
                if code == nil then
                    assert.is_true(lnet.errors.is(out, lnet.errno.ENOENT), tostring(out))
                    pending("no setpriv on this host")
                    return
                end
                assert.are.equal(2, code, out .. errout)
                assert.are.equal("", out)
                local msg = errout:match("^ping: cannot open an ICMP socket: ([^\n]*)\n$")
                assert.is_not_nil(msg, errout)
                -- both sockets were tried, and each refusal is EPERM's or EACCES's text
                for i = 2, 3 do
                    local at = msg:find(t[i], 1, true)
                    assert.is_not_nil(at, errout)
                    local why = msg:sub(at + #t[i])
                    assert.is_true(why:find("^operation not permitted") ~= nil or why:find("^permission denied") ~= nil,
                        errout)
                end
                assert.is_not_nil(msg:find("needs CAP_NET_RAW", 1, true), errout)
            end
        end)
        remove() -- here, in the task: busted's finally runs outside it
        if not ok then
            error(err, 0)
        end
    end)
end)
