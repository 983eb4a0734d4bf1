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
-- ratios.

local lnet = require "lnet"

local INFLIGHT = 100
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
        "dnsmasq -k -C " .. dir .. "/dnsmasq.conf & dm=$!", "sleep 0.3",
        "GOBIN_RESOLVE=" .. gobin .. " " .. arg[-1] .. " " .. arg[0] .. " " .. rounds .. " " .. lookups .. " --inside",
        "rc=$?", "kill $dm", "wait $dm", "exit $rc", "" }, "\n"))
    local rc = os.execute("unshare -m -n sh " .. dir .. "/run.sh")
    sh("rm -rf " .. dir)
    os.exit(rc == 0 and 0 or 1)
end

local bg = lnet.context.background()
local seq = 0

-- n lookups, INFLIGHT at a time; lookups/s.
local function measure(r)
    local t0 = lnet.now()
    local wg = lnet.wait_group()
    local left = lookups
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
    return lookups / (lnet.now() - t0)
end

local function measure_go(round)
    local out = sh(("%s %d %d %d"):format(os.getenv("GOBIN_RESOLVE"), lookups, INFLIGHT, round))
    return assert(tonumber(out:match("([%d.]+)")), "bench/resolve.go: " .. out)
end

local impls = {
    { name = "ares", run = function() return measure(lnet.resolver({ prefer = "ares" })) end },
    { name = "system", run = function() return measure(lnet.resolver({ prefer = "system" })) end },
}
if (os.getenv("GOBIN_RESOLVE") or "") ~= "" then
    impls[#impls + 1] = { name = "go", run = measure_go }
end

-- A warm-up lookup each: dnsmasq up, threads started.
measure(lnet.resolver({ prefer = "ares" }))

local rates = {}
for _, im in ipairs(impls) do
    rates[im.name] = {}
end
for round = 1, rounds do
    local line = {}
    for k = 0, #impls - 1 do
        local im = impls[(round + k - 1) % #impls + 1]
        local rate = im.run(round)
        rates[im.name][round] = rate
        line[#line + 1] = ("%s %.0f/s"):format(im.name, rate)
    end
    print(("round %d: %s"):format(round, table.concat(line, ", ")))
end

local function ratios(a, b)
    local r = {}
    for i = 1, rounds do
        r[i] = rates[a][i] / rates[b][i]
    end
    table.sort(r)
    return median(r), r[1], r[#r]
end

print(("%d lookups a round, %d in flight, %d rounds; medians:"):format(lookups, INFLIGHT, rounds))
for _, im in ipairs(impls) do
    print(("  %-6s %8.0f lookups/s"):format(im.name, median(rates[im.name])))
end
print(("  ares/system %.2f (range %.2f..%.2f)"):format(ratios("ares", "system")))
if rates.go then
    print(("  ares/go     %.2f (range %.2f..%.2f)"):format(ratios("ares", "go")))
end
