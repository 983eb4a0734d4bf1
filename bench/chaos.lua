-- The cost of a chaos proxy with no toxics (issue 14):
--   build/lnet bench/chaos.lua [rounds]
-- - bulk: bench/loadgen streams through the proxy to bench/echo_ev and
--   back, against loadgen straight to echo_ev; MB/s and their ratio per
--   round (target >= 0.8). With no toxic the proxy relays with lnet.copy.
-- - latency: 64-byte round trips, one at a time, from this process through
--   the proxy and straight; the p50 the proxy adds (target < 50 us).
-- - latency, one process: the same, with echo server, proxy and client on
--   one loop here: the proxy's own work, without other processes' wake-ups.
-- - idle: loadgen holds 5,000 conns through the proxy; the proxy process's
--   RSS growth per proxied conn (each is two conns, two tasks, two links).
-- The proxy runs in a process of its own (this script with "serve"),
-- pinned to CPU 0; echo_ev and loadgen share CPU 1 in both setups, so the
-- direct run is not given a core the proxied one lacks; this process (the
-- latency client) is not pinned. PIN=0 pins nothing. The machine is
-- shared: each figure is a median over rounds, with the range shown.
--   build/lnet bench/chaos.lua serve UPSTREAM   (the proxy process)
local lnet = require "lnet"

local args = { ... }
local BUILD = os.getenv("BUILD") or "build"

if args[1] == "serve" then
    local chaos = require "lnet.chaos"
    local p = assert(chaos.proxy { upstream = args[2], seed = 1, events_max = 16 })
    local stop = lnet.main_context()
    io.stdout:write("listening ", tostring(p:addr()), "\n")
    io.stdout:flush()
    stop:done()
    p:close()
    return
end

local ROUNDS = tonumber(args[1]) or 5
local BULK_MB = tonumber(os.getenv("BULK_MB")) or 256
local RTTS = tonumber(os.getenv("RTTS")) or 5000
local IDLE_CONNS = tonumber(os.getenv("IDLE_CONNS")) or 5000

-- PIN=0 leaves every process to the kernel's scheduler. NICE (default
-- -20, as bench/run; root only, 0 = off) is the priority of the processes
-- measured and of this one.
local PIN = os.getenv("PIN") ~= "0"
local NICE = tonumber(os.getenv("NICE")) or -20
do
    local ffi = require "ffi"
    ffi.cdef "int setpriority(int which, unsigned who, int prio);"
    if NICE ~= 0 and ffi.C.setpriority(0, 0, NICE) ~= 0 then
        NICE = 0 -- not root: everyone at the default
    end
end

local function pinned(cpu, argv)
    local out = {}
    if NICE ~= 0 then
        out = { "nice", "-n", tostring(NICE) }
    end
    if PIN then
        out[#out + 1], out[#out + 2], out[#out + 3] = "taskset", "-c", tostring(cpu)
    end
    for _, a in ipairs(argv) do
        out[#out + 1] = a
    end
    return out
end

-- Starts a server that prints "listening ADDR": the process and ADDR.
local function server(argv)
    local proc = assert(lnet.process.spawn { argv = argv, stdout = "pipe" })
    local seen = ""
    while not seen:find("listening %S+\n") do
        local s = proc.stdout:read()
        if s == nil then
            error("server " .. table.concat(argv, " ") .. " printed no listening line")
        end
        seen = seen .. s
    end
    return proc, seen:match("listening (%S+)")
end

local function stop(proc)
    proc:kill("SIGTERM")
    proc.stdout:close()
    proc:wait()
end

-- Runs loadgen with args; its "key value" lines.
local function loadgen(...)
    local proc = assert(lnet.process.spawn { argv = pinned(1, { BUILD .. "/bench/loadgen", ... }), stdout = "pipe" })
    local out = {}
    while true do
        local s = proc.stdout:read()
        if s == nil then
            break
        end
        out[#out + 1] = s
    end
    proc.stdout:close()
    proc:wait()
    local kv = {}
    for k, v in table.concat(out):gmatch("(%S+) (%S+)") do
        kv[k] = tonumber(v) or v
    end
    return kv
end

local function sorted(list)
    local s = {}
    for i, v in ipairs(list) do
        s[i] = v
    end
    table.sort(s)
    return s
end

local function pct(list, p)
    local s = sorted(list)
    return s[math.max(1, math.floor(p * #s + 0.5))]
end

local function rss_kb(pid)
    for line in io.lines("/proc/" .. pid .. "/status") do
        local kb = line:match("^VmRSS:%s+(%d+)")
        if kb then
            return tonumber(kb)
        end
    end
end

-- One echo round trip of a 64-byte message per call: microseconds each.
local function rtts(address, n)
    local c = assert(lnet.dial("tcp", address))
    local msg = string.rep("r", 64)
    local out = {}
    for i = 1, n + 500 do
        local t = lnet.now()
        c:write(msg)
        local got = 0
        while got < 64 do
            got = got + #assert(c:read(64 - got))
        end
        if i > 500 then
            out[#out + 1] = (lnet.now() - t) * 1e6
        end
    end
    c:close()
    return out
end

local echo, echo_addr = server(pinned(1, { BUILD .. "/bench/echo_ev", "127.0.0.1:0" }))
local proxy, proxy_addr = server(pinned(0, { BUILD .. "/lnet", "bench/chaos.lua", "serve", echo_addr }))

print(("bulk: %d MiB each way per round, %d rounds"):format(BULK_MB, ROUNDS))
local ratios, direct_mbps, proxied_mbps = {}, {}, {}
for r = 1, ROUNDS do
    local d = loadgen("bulk", echo_addr, "-c", "1", "-m", tostring(BULK_MB)).mbps
    local p = loadgen("bulk", proxy_addr, "-c", "1", "-m", tostring(BULK_MB)).mbps
    direct_mbps[r], proxied_mbps[r], ratios[r] = d, p, p / d
    print(("  round %d: direct %.0f MB/s, proxied %.0f MB/s, ratio %.2f"):format(r, d, p, p / d))
end
print(("bulk: direct %.0f MB/s, proxied %.0f MB/s (medians); ratio median %.2f, range %.2f..%.2f (target >= 0.8)")
    :format(pct(direct_mbps, 0.5), pct(proxied_mbps, 0.5), pct(ratios, 0.5), sorted(ratios)[1], sorted(ratios)[#ratios]))

local added = {}
for r = 1, ROUNDS do
    local d, p = rtts(echo_addr, RTTS), rtts(proxy_addr, RTTS)
    added[r] = pct(p, 0.5) - pct(d, 0.5)
    print(("  round %d: p50 direct %.1f us, proxied %.1f us (p99 %.1f / %.1f): added %.1f us"):format(r,
        pct(d, 0.5), pct(p, 0.5), pct(d, 0.99), pct(p, 0.99), added[r]))
end
print(("latency: added p50 median %.1f us, range %.1f..%.1f (target < 50 us)"):format(pct(added, 0.5),
    sorted(added)[1], sorted(added)[#added]))

-- The same round trips with the echo server, the proxy and the client in
-- this one process, on one loop: what the proxy's own work adds, without
-- the wake-ups of other processes.
do
    local chaos = require "lnet.chaos"
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local echo_task = lnet.go(lnet.serve, ln, function(c)
        lnet.copy(c, c)
    end)
    local p = assert(chaos.proxy { upstream = tostring(ln:addr()), seed = 1, events_max = 16 })
    local inproc = {}
    for r = 1, ROUNDS do
        local d, q = rtts(tostring(ln:addr()), RTTS), rtts(tostring(p:addr()), RTTS)
        inproc[r] = pct(q, 0.5) - pct(d, 0.5)
    end
    p:close()
    ln:close()
    echo_task:join()
    print(("latency, one process: added p50 median %.1f us, range %.1f..%.1f"):format(pct(inproc, 0.5),
        sorted(inproc)[1], sorted(inproc)[#inproc]))
end

local rss0 = rss_kb(proxy:pid())
local holder = assert(lnet.process.spawn { argv = pinned(1, { BUILD .. "/bench/loadgen", "idle", proxy_addr, "-n",
    tostring(IDLE_CONNS), "-hold", "120" }), stdout = "pipe" })
local seen = ""
local deadline = lnet.now() + 60
while not seen:find("idle %d+ held") and lnet.now() < deadline do
    local s = holder.stdout:read()
    if s == nil then
        break
    end
    seen = seen .. s
end
local held = tonumber(seen:match("idle (%d+) held")) or 0
lnet.sleep(0.5)
local rss1 = rss_kb(proxy:pid())
holder:kill("SIGTERM")
holder.stdout:close()
holder:wait()
print(("idle: %d proxied conns held; proxy RSS %d -> %d KiB: %.0f bytes per proxied conn"):format(held, rss0, rss1,
    held > 0 and (rss1 - rss0) * 1024 / held or 0))

stop(proxy)
stop(echo)
