-- bench/resolve.lua: lookups per second against a local DNS server with
-- 100 lookups in flight, lnet's "ares" path vs its "system" path (and Go's
-- pure resolver, bench/resolve.go, where `go` is installed).
--
--   build/lnet bench/resolve.lua [rounds [lookups]]
--
-- getaddrinfo reads only port 53 from resolv.conf, so the run happens in a
-- mount and network namespace of its own (`unshare -m -n`, as root): dnsmasq
-- on that namespace's 127.0.0.1:53, a private resolv.conf bind-mounted over
-- /etc's. Each round measures every implementation once, in a rotating
-- order; each lookup asks a fresh absolute name (A only: lookup_ip "ip4",
-- getaddrinfo AF_INET, Go's LookupIP "ip4"), so nothing is cached. Printed:
-- each round's rates, then the medians and the medians of the per-round
-- ratios, in two phases: "dnsmasq" (answers at once; the server's one core
-- bounds every column, so the client's CPU per lookup is the telling
-- figure) and "slow" (a server that answers each query after 2 ms, as a
-- real upstream would: the in-flight limit of each path then decides).
--
-- The slow server is this script too (`--serve ip delay`): it answers every
-- A query with 192.0.2.1 after the delay, echoing the question.

local lnet = require "lnet"

local INFLIGHT = 100
local SLOW_DELAY = 0.002

if arg[1] == "--serve" then
    local pc = assert(lnet.listen_packet("udp", arg[2] .. ":53"))
    local delay = tonumber(arg[3])
    io.stdout:write("ready\n")
    io.stdout:flush()
    while true do
        local q, from = pc:read_from(512)
        if q == nil or #q < 17 then
            break
        end
        -- The question alone (Go adds an EDNS record after it).
        local i = 13
        while i <= #q and q:byte(i) > 0 do
            i = i + q:byte(i) + 1
        end
        q = q:sub(1, i + 4)
        lnet.go(function()
            lnet.sleep(delay)
            -- QR RD RA, NOERROR, one answer: the question's name (a
            -- compression pointer to it), A, IN, TTL 60, 192.0.2.1.
            pc:write_to(q:sub(1, 2) .. "\129\128\0\1\0\1\0\0\0\0" .. q:sub(13)
                .. "\192\12\0\1\0\1\0\0\0\60\0\4\192\0\2\1", from)
        end)
    end
    return
end

local rounds = tonumber(arg[1]) or 5
local lookups = tonumber(arg[2]) or 20000
local inside = arg[3] == "--inside"

local function sh(cmd)
    local f = assert(io.popen(cmd))
    local out = f:read("*a")
    f:close()
    return out
end

local function median(t)
    local s = {}
    for i, v in ipairs(t) do
        s[i] = v
    end
    table.sort(s)
    local n = #s
    return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

if not inside then
    local dir = sh("mktemp -d"):gsub("%s+$", "")
    local function write(name, text)
        local f = assert(io.open(dir .. "/" .. name, "w"))
        f:write(text)
        f:close()
    end
    write("resolv.conf", "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
    write("dnsmasq.conf", table.concat({ "no-resolv", "no-hosts", "port=53", "listen-address=127.0.0.1",
        "bind-interfaces", "user=root", "pid-file=", "cache-size=0", "dns-forward-max=1000",
        "address=/bench.test/192.0.2.1", "" }, "\n"))
    local gobin = ""
    if sh("command -v go") ~= "" then
        gobin = dir .. "/resolve-go"
        local src = debug.getinfo(1, "S").source:sub(2):gsub("resolve%.lua$", "resolve.go")
        sh("cd " .. dir .. " && GOCACHE=" .. dir .. "/gocache go build -o " .. gobin .. " " .. src:gsub("^([^/])",
            os.getenv("PWD") .. "/%1") .. " 2>&1")
    end
    write("run.sh", table.concat({
        "ip link set lo up && mount --bind " .. dir .. "/resolv.conf /etc/resolv.conf || exit 97",
        "dnsmasq -k -C " .. dir .. "/dnsmasq.conf & dm=$!",
        arg[-1] .. " " .. arg[0] .. " --serve 127.0.0.2 " .. SLOW_DELAY .. " > " .. dir .. "/slow.out & slow=$!",
        "sleep 0.3",
        "RESOLV=" .. dir .. "/resolv.conf GOBIN_RESOLVE=" .. gobin .. " " .. arg[-1] .. " " .. arg[0] .. " " .. rounds
            .. " " .. lookups .. " --inside",
        "rc=$?", "{ kill $dm $slow; wait $dm $slow; } 2>/dev/null", "exit $rc", "" }, "\n"))
    local rc = os.execute("unshare -m -n sh " .. dir .. "/run.sh")
    sh("rm -rf " .. dir)
    os.exit(rc == 0 and 0 or 1)
end

local bg = lnet.context.background()
local seq = 0
local CLK_TCK = tonumber(sh("getconf CLK_TCK")) or 100

-- This process's CPU seconds, all threads (utime + stime).
local function cpu()
    local f = assert(io.open("/proc/self/stat"))
    local stat = f:read("*a")
    f:close()
    local fields = {}
    for w in stat:match("%) (.*)"):gmatch("%S+") do
        fields[#fields + 1] = w
    end
    return (tonumber(fields[12]) + tonumber(fields[13])) / CLK_TCK
end

-- n lookups, INFLIGHT at a time; lookups/s and CPU µs per lookup.
local function measure(r, n)
    n = n or lookups
    local t0, c0 = lnet.now(), cpu()
    local wg = lnet.wait_group()
    local left = n
    local failed = 0
    for _ = 1, INFLIGHT do
        wg:add(1)
        lnet.go(function()
            while left > 0 do
                left = left - 1
                seq = seq + 1
                if not r:lookup_ip(bg, "ip4", "h" .. seq .. ".bench.test.") then
                    failed = failed + 1
                end
            end
            wg:done()
        end)
    end
    wg:wait()
    assert(failed == 0, failed .. " lookups failed")
    return n / (lnet.now() - t0), (cpu() - c0) * 1e6 / n
end

local function measure_go(n, round)
    local out = sh(("%s %d %d %s"):format(os.getenv("GOBIN_RESOLVE"), n, INFLIGHT, round))
    local rate, us = out:match("([%d.]+) ([%d.]+)")
    return assert(tonumber(rate), "bench/resolve.go: " .. out), tonumber(us)
end

local impls = {
    { name = "ares", run = function(n) return measure(lnet.resolver({ prefer = "ares" }), n) end },
    { name = "system", run = function(n) return measure(lnet.resolver({ prefer = "system" }), n) end },
}
if (os.getenv("GOBIN_RESOLVE") or "") ~= "" then
    impls[#impls + 1] = { name = "go", run = measure_go }
end

local function set_server(ip)
    local f = assert(io.open(os.getenv("RESOLV"), "w"))
    f:write("nameserver " .. ip .. "\noptions timeout:2 attempts:2\n")
    f:close()
end

local function ratio(rates, a, b)
    local r = {}
    for i = 1, #rates[a] do
        r[i] = rates[a][i] / rates[b][i]
    end
    table.sort(r)
    return median(r), r[1], r[#r]
end

local function phase(name, server, n)
    set_server(server)
    measure(lnet.resolver({ prefer = "ares" }), 200) -- warm-up: the server up, the threads started
    local rates, cpus = {}, {}
    for _, im in ipairs(impls) do
        rates[im.name], cpus[im.name] = {}, {}
    end
    for round = 1, rounds do
        local line = {}
        for k = 0, #impls - 1 do
            local im = impls[(round + k - 1) % #impls + 1]
            local rate, us = im.run(n, name .. round)
            rates[im.name][round], cpus[im.name][round] = rate, us
            line[#line + 1] = ("%s %.0f/s %.1fus"):format(im.name, rate, us)
        end
        print(("%s round %d: %s"):format(name, round, table.concat(line, ", ")))
    end
    print(("%s: %d lookups a round, %d in flight, %d rounds; medians:"):format(name, n, INFLIGHT, rounds))
    for _, im in ipairs(impls) do
        print(("  %-6s %8.0f lookups/s %7.1f CPU us/lookup"):format(im.name, median(rates[im.name]),
            median(cpus[im.name])))
    end
    for _, other in ipairs({ "system", "go" }) do
        if rates[other] then
            local med, lo, hi = ratio(rates, "ares", other)
            print(("  ares/%-6s lookups/s %.2f (range %.2f..%.2f), CPU/lookup %.2f"):format(other, med, lo, hi,
                median(cpus.ares) / median(cpus[other])))
        end
    end
end

print("c-ares " .. require("lnet.resolver").ares_version .. ", " .. _VERSION .. " on " .. jit.version)
phase("dnsmasq", "127.0.0.1", lookups)
phase("slow", "127.0.0.2", math.floor(lookups / 10))
