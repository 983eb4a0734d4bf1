-- The resolver's system path and the choice between the paths (issue 9,
-- seed §7), each in a child lnet under its own mount and network namespace
-- (`unshare -m -n`): a private resolv.conf (and nsswitch.conf) bind-mounted
-- over /etc's, dnsmasq on that namespace's 127.0.0.1:53, so getaddrinfo
-- and c-ares both read files we wrote and reach only our server. Skipped,
-- with a message, only where unshare is refused.

local lnet = require "lnet"
local support = require "support"
local process = lnet.process

require("lnet.busted").limit = 30

local DNSMASQ = {
    "no-resolv", "no-hosts", "port=53", "listen-address=127.0.0.1", "bind-interfaces", "user=root", "pid-file=",
    "local=/test/", "local=/2.0.192.in-addr.arpa/", "host-record=ready.test,192.0.2.250",
    "host-record=both.test,192.0.2.2,2001:db8::2", "host-record=loop.test,127.0.0.1", "cname=alias.test,both.test",
    "mx-host=mx.test,mail.test,10", "ptr-record=2.2.0.192.in-addr.arpa,both.test",
}

local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
end

-- Runs fixtures/resolver_child.lua <mode> in a fresh namespace with these
-- files; returns its key=value lines as a table and its stderr, or nil
-- when unshare is refused here.
local function run_child(mode, files, env)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    write(dir .. "/resolv.conf", files.resolv)
    write(dir .. "/dnsmasq.conf", table.concat(DNSMASQ, "\n") .. "\n")
    local nss = ""
    if files.nsswitch then
        write(dir .. "/nsswitch.conf", files.nsswitch)
        nss = "mount --bind " .. dir .. "/nsswitch.conf /etc/nsswitch.conf || exit 97\n"
    end
    write(dir .. "/run.sh", table.concat({
        "ip link set lo up || exit 97",
        "mount --bind " .. dir .. "/resolv.conf /etc/resolv.conf || exit 97",
        nss .. "env -u LD_PRELOAD dnsmasq -k -C " .. dir .. "/dnsmasq.conf & dm=$!",
        support.host .. " spec/fixtures/resolver_child.lua " .. mode,
        "rc=$?", "kill $dm", "wait $dm", "exit $rc", "",
    }, "\n"))
    local environ = process.environ()
    for _, kv in ipairs(env or {}) do
        environ[#environ + 1] = kv
    end
    local proc = assert(process.spawn({ argv = { "unshare", "-m", "-n", "sh", dir .. "/run.sh" }, stdout = "pipe",
                                        stderr = "pipe", env = environ }))
    local errt = lnet.go(support.read_all, proc.stderr)
    local out = support.read_all(proc.stdout)
    local stderr = errt:join()
    local code = proc:wait()
    proc.stdout:close()
    proc.stderr:close()
    os.execute("rm -rf " .. dir)
    if code == 97 or code ~= 0 and stderr:find("unshare failed", 1, true) then
        print("skipped: unshare -m -n (or its mount) is refused here: " .. stderr)
        return nil
    end
    assert.equal(0, code, stderr)
    local res = {}
    for k, v in out:gmatch("([%w_]+)=([^\n]*)") do
        res[k] = v
    end
    return res, stderr
end

local RESOLV = "nameserver 127.0.0.1\nsearch test\noptions timeout:1 attempts:1\n"

describe("resolver (system) in a namespace of its own", function()
    it("getaddrinfo on worker threads: hosts, search, NXDOMAIN, the shorthand, CNAME, reverse, dial", function()
        local res = run_child("system", { resolv = RESOLV })
        if res == nil then
            return
        end
        assert.is_nil(res.ready)
        assert.equal("192.0.2.2,2001:db8::2", res.both)
        assert.equal("192.0.2.2", res.ip4)
        assert.equal("192.0.2.2,2001:db8::2", res.search)
        assert.equal("lookup nosuch.test: no such host", res.nosuch)
        assert.equal("true", res.nosuch_not_found)
        assert.equal("lookup 127.1: no such host", res.shorthand)
        assert.equal("both.test.", res.cname)
        assert.equal("both.test.", res.addr)
        assert.equal("127.0.0.1", res.hosts)
        assert.equal("mail.test.", res.mx)
        assert.matches("^127%.0%.0%.1:%d+$", res.dial)
    end)

    it("ares reads the same resolv.conf: nameserver, search", function()
        local res = run_child("ares", { resolv = RESOLV })
        if res == nil then
            return
        end
        assert.equal("192.0.2.2,2001:db8::2", res.both)
        assert.equal("192.0.2.2,2001:db8::2", res.search)
        assert.equal("lookup nosuch.test on 127.0.0.1:53: no such host", res.nosuch)
    end)

    it("a black-holed server: both paths return within 50 ms of the ctx and the loop keeps turning", function()
        local res = run_child("blackhole", { resolv = "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n" })
        if res == nil then
            return
        end
        for _, path in ipairs({ "system", "ares" }) do
            assert.equal("true", res[path .. "_err"])
            assert.is_true(tonumber(res[path .. "_took"]) < 0.03 + 0.05, path .. " took " .. res[path .. "_took"])
            -- 200 ms of 5 ms ticks while the thread is still in getaddrinfo.
            assert.is_true(tonumber(res[path .. "_ticks"]) >= 10, path .. " ticks " .. res[path .. "_ticks"])
        end
        assert.equal("300", res.flood_ended)
        assert.is_true(tonumber(res.flood_took) < 0.1 + 0.2, "flood took " .. res.flood_took)
        assert.equal("true", res.pending)
        assert.equal("0", res.pending_after)
    end)

    it("the choice is Go's: nsswitch sources other than files and dns, and .local names, go to system", function()
        local _, trace = run_child("choice", { resolv = RESOLV, nsswitch = "hosts: files dns\n" },
            { "LNET_DNS=+1" })
        if trace == nil then
            return
        end
        assert.matches("lnet: dns: lookup_host%(localhost%) = ares %(files,dns%)", trace)
        assert.matches("lnet: dns: lookup_host%(printer%.local%) = system", trace)
        -- mDNS alone sends only .local names to libc (no /etc/mdns.allow).
        local mdns = "hosts: files mdns4_minimal [NOTFOUND=return] dns\n"
        _, trace = run_child("choice", { resolv = RESOLV, nsswitch = mdns }, { "LNET_DNS=+1" })
        assert.matches("lookup_host%(localhost%) = ares %(files,dns%)", trace)
        assert.matches("lookup_host%(printer%.local%) = system", trace)
        _, trace = run_child("choice", { resolv = RESOLV, nsswitch = "hosts: files resolve dns\n" }, { "LNET_DNS=+1" })
        assert.matches("lookup_host%(localhost%) = system", trace)
        assert.matches("lookup_host%(printer%.local%) = system\n.*lookup_host%(printer%.local%) = ares", trace)
        _, trace = run_child("choice", { resolv = RESOLV, nsswitch = "hosts: files [NOTFOUND=return] dns\n" },
            { "LNET_DNS=+1" })
        assert.matches("lookup_host%(localhost%) = system", trace)
        _, trace = run_child("choice", { resolv = RESOLV, nsswitch = "hosts: dns files\n" }, { "LNET_DNS=+1" })
        assert.matches("lookup_host%(localhost%) = ares %(dns,files%)", trace)
    end)

    it("LNET_DNS forces a path and traces it (+1 the choice, +2 the queries too); prefer wins over it", function()
        local _, trace = run_child("choice", { resolv = RESOLV, nsswitch = "hosts: files myhostname dns\n" },
            { "LNET_DNS=ares+2" })
        if trace == nil then
            return
        end
        assert.matches("lookup_host%(printer%.local%) = ares", trace)
        assert.matches("ares query printer%.local%.", trace)
        _, trace = run_child("choice", { resolv = RESOLV }, { "LNET_DNS=system+2" })
        assert.matches("lookup_host%(localhost%) = system", trace)
        assert.matches("system getaddrinfo%(localhost%)", trace)
        -- The last lookup has prefer = "ares".
        local last
        for choice in trace:gmatch("lookup_host%(localhost%) = (%a+)") do
            last = choice
        end
        assert.equal("ares", last)
        _, trace = run_child("choice", { resolv = RESOLV }, { "LNET_DNS=system" })
        assert.is_nil(trace:find("lnet: dns:", 1, true), trace)
    end)
end)
