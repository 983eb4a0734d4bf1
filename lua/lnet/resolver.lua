-- lnet.resolver: Go's net.Resolver, on two implementations as Go's split.
--
-- "ares" (core/resolver_ares.c) is Go's pure resolver: c-ares reads
-- resolv.conf (nameserver, search, ndots, timeout, attempts, rotate,
-- LOCALDOMAIN, RES_OPTIONS) and /etc/hosts, and sends the queries on the
-- loop, so a ctx or a task cancel ends a lookup at any point. The policy is
-- Go's and lives here: the search list walked name by name (nameList), A and
-- AAAA asked together, the error that wins, strict_errors, name rules.
-- "system" (core/resolver_system.c) is Go's cgo resolver: getaddrinfo and
-- getnameinfo on worker threads, so nsswitch applies; a cancelled lookup
-- returns at once while its thread finishes and its result is dropped.
--
-- As in Go, only host, IP, CNAME and reverse lookups may go to "system";
-- MX, SRV, TXT and NS always go to "ares", and ports come from Go's table
-- and /etc/services.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local ip = require "lnet.ip"
local addr = require "lnet.addr"
local context = require "lnet.context"

local C, K, loop, codes = sys.C, sys.const, sys.loop, sys.codes
local ffi_string, ffi_new, ffi_gc = ffi.string, ffi.new, ffi.gc
local setmetatable, type, error, tostring, tonumber, ipairs = setmetatable, type, error, tostring, tonumber, ipairs
local byte, sub, find, match, lower, format = string.byte, string.sub, string.find, string.match, string.lower,
    string.format
local concat, sort = table.concat, table.sort
local random, floor = math.random, math.floor
local getenv, open, stderr = os.getenv, io.open, io.stderr
local self_task, ctx_err, retry = sched.self_task, sched.ctx_err, sched.retry
local AGAIN = sched.AGAIN

-- A wait for a job the core finishes on its own (a lookup, a thread's
-- call): done(job) says whether it has; the core wakes the op when it is.
-- The shape sched.retry takes, so a cancel or a ctx ends it the same way.
local function finished(done)
    return sched.rc_err(function(job, op)
        if done(job) ~= 0 then
            return 0
        end
        C.lnet_op_park(op)
        return AGAIN
    end)
end
local DNSError, map_ctx_err, check_self = errors.DNSError, errors.map_ctx_err, errors.check_self
local check_arg = errors.check_arg

local _M = {}

ffi.cdef [[
int inet_aton(const char *cp, void *inp);
]]

-- c-ares's status codes (ares.h, stable across versions) as Go words them.
local ARES_EBASE = K.LNET_ARES_EBASE
local ares_errors = {
    [1] = { "no such host", not_found = true }, -- ENODATA: no record of the type
    [2] = { "server misbehaving" }, -- EFORMERR
    [3] = { "server misbehaving", temporary = true }, -- ESERVFAIL
    [4] = { "no such host", not_found = true }, -- ENOTFOUND: NXDOMAIN
    [5] = { "server misbehaving" }, -- ENOTIMP
    [6] = { "server misbehaving" }, -- EREFUSED
    [8] = { "no such host", not_found = true }, -- EBADNAME
    [10] = { "cannot unmarshal DNS message" }, -- EBADRESP
    [11] = { "connection refused", temporary = true }, -- ECONNREFUSED
    [12] = { "i/o timeout", timeout = true, temporary = true }, -- ETIMEOUT
    [13] = { "connection refused", temporary = true }, -- EOF: every server gone
    [15] = { "cannot allocate memory", temporary = true }, -- ENOMEM
}
local NO_SUCH_HOST = { "no such host", not_found = true }

local function dns_error(how, name, server)
    return DNSError({
        err = how[1],
        name = name,
        server = server,
        is_not_found = how.not_found,
        is_temporary = how.temporary,
        is_timeout = how.timeout,
    })
end

local function no_such_host(name)
    return dns_error(NO_SUCH_HOST, name)
end

local function ares_error(code, name, server)
    return dns_error(ares_errors[-code - ARES_EBASE] or { "server misbehaving" }, name, server)
end

-- Names ------------------------------------------------------------------

-- Go's isDomainName: letters, digits, '_' and '-' in labels of 1..63
-- bytes, at most 253 bytes (254 with the root dot), not all numeric.
local function is_domain_name(s)
    if s == "." then
        return true
    end
    local l = #s
    if l == 0 or l > 254 or l == 254 and byte(s, l) ~= 46 then
        return false
    end
    local last, non_numeric, partlen = 46, false, 0
    for i = 1, l do
        local c = byte(s, i)
        if c >= 97 and c <= 122 or c >= 65 and c <= 90 or c == 95 then
            non_numeric = true
            partlen = partlen + 1
        elseif c >= 48 and c <= 57 then
            partlen = partlen + 1
        elseif c == 45 then -- '-'
            if last == 46 then
                return false
            end
            partlen = partlen + 1
            non_numeric = true
        elseif c == 46 then -- '.'
            if last == 46 or last == 45 or partlen > 63 or partlen == 0 then
                return false
            end
            partlen = 0
        else
            return false
        end
        last = c
    end
    return last ~= 45 and partlen <= 63 and non_numeric
end
_M.is_domain_name = is_domain_name

-- inet_aton's shorthand ("127.1", "0x7f000001"): to Go a name, but one
-- that getaddrinfo would take for an address, so no implementation asks
-- for it (the same answer whichever is chosen, and no query leaves).
local in_addr = ffi_new("uint32_t[1]")
local function is_numeric_shorthand(s)
    return ffi.C.inet_aton(s, in_addr) ~= 0
end

-- Go's absDomainName: a name with a dot gets the root dot.
local function abs_name(s)
    if find(s, ".", 1, true) and byte(s, #s) ~= 46 then
        return s .. "."
    end
    return s
end

local function has_suffix_fold(s, suffix)
    return #s >= #suffix and lower(sub(s, -#suffix)) == suffix
end

local function strip_dot(s)
    return byte(s, #s) == 46 and sub(s, 1, -2) or s
end

-- Go's nameList: the absolute names to ask for name, in order.
local function name_list(cfg, name)
    if name == "" or has_suffix_fold(strip_dot(name), ".onion") then
        return {}
    end
    local l = #name
    local rooted = byte(name, l) == 46
    if l > 254 or l == 254 and rooted then
        return {}
    end
    if rooted then
        return { name }
    end
    local _, dots = name:gsub("%.", "")
    local has_ndots = dots >= cfg.ndots
    name = name .. "."
    local names = {}
    if has_ndots then
        names[1] = name
    end
    for _, suffix in ipairs(cfg.search) do
        if #name + #suffix <= 254 then
            names[#names + 1] = name .. suffix
        end
    end
    if not has_ndots then
        names[#names + 1] = name
    end
    return names
end

-- The choice (seed §7) -----------------------------------------------------

-- LNET_DNS=ares|system[+1|+2], or just +1/+2: Go's GODEBUG=netdns.
local env_mode, debug_level
do
    local v = getenv("LNET_DNS") or ""
    local mode, level = match(v, "^(%a*)%+?(%d*)$")
    if mode == "ares" or mode == "system" then
        env_mode = mode
    end
    debug_level = tonumber(level) or 0
end

-- Callers test debug_level first, so a lookup builds no trace text
-- unless it is asked for.
local function trace(fmt, ...)
    stderr:write("lnet: dns: ", format(fmt, ...), "\n")
end

-- nsswitch.conf's hosts line, read once: its sources, and whether one has
-- criteria that are not the default (Go then leaves it to libc).
local nss
local function read_nss()
    local f, err = open("/etc/nsswitch.conf")
    if f == nil then
        -- Missing: glibc's default is "dns files", Go's files,dns.
        return { missing = find(err or "", "No such file", 1, true) ~= nil, sources = {} }
    end
    local sources = {}
    for line in f:lines() do
        local rest = match(match(line, "^[^#]*"), "^%s*hosts%s*:(.*)$")
        if rest ~= nil then
            -- "files [NOTFOUND=return] dns": criteria follow their source.
            rest = rest:gsub("%s*(%b[])", function(b)
                return (b:gsub("%s+", ","))
            end)
            for token in rest:gmatch("%S+") do
                local src = { name = lower(match(token, "^[^%[]*")) }
                local criteria = match(token, "%b[]") or ""
                for neg, status, action in criteria:gmatch("(!?)(%a+)=(%a+)") do
                    status, action = lower(status), lower(action)
                    -- Go's standardStatusAction: what the default does anyway.
                    if neg ~= "" or (status == "success") ~= (action == "return") then
                        src.criteria = true
                    end
                end
                sources[#sources + 1] = src
            end
        end
    end
    f:close()
    return { sources = sources }
end

local hostname
local function get_hostname()
    if hostname == nil then
        local f = open("/proc/sys/kernel/hostname")
        hostname = f and (f:read("*l") or "") or ""
        if f then
            f:close()
        end
    end
    return hostname
end

local function file_exists(path)
    local f = open(path)
    if f then
        f:close()
    end
    return f ~= nil
end

-- Go's hostLookupOrder, reduced to our two implementations: "ares" with the
-- order of files and dns, or "system" where only libc can answer as the
-- host is configured (nsswitch sources other than files and dns, criteria,
-- mDNS names).
local function host_order(host)
    if find(host, "[\\%%]") then
        return "system"
    end
    host = strip_dot(host)
    if has_suffix_fold(host, ".local") then
        return "system"
    end
    nss = nss or read_nss()
    local srcs = nss.sources
    if #srcs == 0 then
        return nss.missing == false and "system" or "ares", "files,dns"
    end
    local files, dns, mdns, first = false, false, false, nil
    for _, src in ipairs(srcs) do
        local name = src.name
        if name == "myhostname" then
            local h = lower(host)
            if h == "localhost" or has_suffix_fold(h, ".localhost") or h == "_gateway"
                or h == lower(get_hostname()) then
                return "system"
            end
        elseif name == "files" or name == "dns" then
            if src.criteria then
                return "system"
            end
            files = files or name == "files"
            dns = dns or name == "dns"
            first = first or name
        elseif sub(name, 1, 4) == "mdns" then
            mdns = true
        else
            return "system"
        end
    end
    if mdns and file_exists("/etc/mdns.allow") then
        return "system"
    end
    if files and dns then
        return "ares", first == "files" and "files,dns" or "dns,files"
    elseif files then
        return "ares", "files"
    elseif dns then
        return "ares", "dns"
    end
    return "system"
end

-- Which implementation a lookup of host uses, and the files/dns order.
local function choose(r, what, host)
    local impl, order
    if r.prefer ~= nil then
        impl, order = r.prefer, "files,dns"
    elseif r.servers_csv ~= nil then
        -- Servers given are servers to ask: only c-ares can (Go's cgo path
        -- would ignore its Dial).
        impl, order = "ares", "files,dns"
    elseif env_mode ~= nil then
        impl, order = env_mode, "files,dns"
    else
        impl, order = host_order(host)
    end
    if debug_level >= 1 then
        trace("%s(%s) = %s%s", what, host, impl, order and impl == "ares" and " (" .. order .. ")" or "")
    end
    return impl, order or "files,dns"
end

-- The ares side ------------------------------------------------------------

local Resolver = {}
Resolver.__index = Resolver

local errp = ffi_new("int[1]")
local textbuf = ffi_new("char[4096]")
local lenp = ffi_new("size_t[1]")

-- resolv.conf's text, read again at most every RESOLV_MAX_AGE seconds (Go
-- checks its mtime as often).
local RESOLV_MAX_AGE = 5
local resolv = { expire = -1 }

local function resolv_text()
    if C.lnet_now() >= resolv.expire then
        local f = open("/etc/resolv.conf")
        resolv = { text = f and f:read("*a") or "", expire = C.lnet_now() + RESOLV_MAX_AGE }
        if f then
            f:close()
        end
    end
    return resolv.text
end

-- The c-ares configuration: the template channel and what Lua needs of it
-- (ndots, search list, servers for messages). Made on first use, and again
-- when resolv.conf has changed since (lookups in flight keep theirs).
local function ares_cfg(r)
    local cfg, text = r.cfg, resolv_text()
    if cfg ~= nil and cfg.resolv == text then
        return cfg
    end
    local timeout_ms = r.timeout and floor(r.timeout * 1000 + 0.5) or 0
    local a = C.lnet_ares_new(loop, r.servers_csv, timeout_ms, r.attempts or 0, errp)
    if a == nil then
        return nil, ares_error(errp[0], "resolver")
    end
    a = ffi_gc(a, C.lnet_ares_free)
    cfg = { ares = a, ndots = C.lnet_ares_ndots(a), search = {}, resolv = text }
    for i = 0, C.lnet_ares_ndomains(a) - 1 do
        local d = ffi_string(C.lnet_ares_domain(a, i))
        cfg.search[#cfg.search + 1] = byte(d, #d) == 46 and d or d .. "."
    end
    local n = C.lnet_ares_servers(a, textbuf, 4096)
    cfg.servers = ffi_string(textbuf, n)
    r.cfg = cfg
    return cfg
end

local qnames = { [1] = "A", [2] = "NS", [5] = "CNAME", [12] = "PTR", [15] = "MX", [16] = "TXT", [28] = "AAAA",
                 [33] = "SRV" }

local LOOKUP_DONE = finished(C.lnet_ares_lookup_done)

-- One exchange on c-ares: fqdn for qtype (and qtype2); a list of answers
-- {status, records, cname} and the server, or nil and ctx's or the
-- cancel's error (the lookup is then destroyed, its queries with it).
local function exchange(cfg, t, ctx, fqdn, qtype, qtype2)
    if debug_level >= 2 then
        trace("ares query %s %s%s on %s", fqdn, qnames[qtype], qtype2 and "," .. qnames[qtype2] or "", cfg.servers)
    end
    local l = C.lnet_ares_lookup_start(cfg.ares, t.op, fqdn, qtype, qtype2 or 0)
    if l == nil then
        return nil, ares_error(-(ARES_EBASE + 15), fqdn)
    end
    local _, err = retry(LOOKUP_DONE, l, ctx)
    if err ~= nil then
        C.lnet_ares_lookup_cancel(l)
        if debug_level >= 2 then
            trace("ares query %s ended: %s", fqdn, tostring(err))
        end
        return nil, map_ctx_err(err)
    end
    local out = { server = ffi_string(C.lnet_ares_lookup_server(l)) }
    for i = 0, qtype2 and 1 or 0 do
        local recs = {}
        local status = C.lnet_ares_lookup_status(l, i)
        for j = 0, C.lnet_ares_lookup_count(l, i) - 1 do
            local p = C.lnet_ares_lookup_text(l, i, j, lenp)
            recs[j + 1] = {
                text = ffi_string(p, lenp[0]),
                C.lnet_ares_lookup_num(l, i, j, 0),
                C.lnet_ares_lookup_num(l, i, j, 1),
                C.lnet_ares_lookup_num(l, i, j, 2),
            }
        end
        local cn = C.lnet_ares_lookup_cname(l, i)
        out[i + 1] = { status = status, records = recs, cname = cn ~= nil and ffi_string(cn) or nil }
        if debug_level >= 2 then
            trace("ares answer %s %s: %s", fqdn, qnames[i == 0 and qtype or qtype2],
                status == 0 and #recs .. " record(s)" or tostring(ares_error(status, fqdn, out.server)))
        end
    end
    C.lnet_ares_lookup_free(l)
    return out
end

local function is_temporary(err)
    return err.is_temporary or err.is_timeout
end

-- Go's lookup: the first name of the search list with an answer of qtype;
-- the records and the absolute name they are for, or nil and the error
-- (named by the name asked, not a suffixed one, as Go shows it).
local function ares_lookup(r, t, ctx, name, qtype)
    if not is_domain_name(name) then
        return nil, nil, no_such_host(name)
    end
    local cfg, err = ares_cfg(r)
    if cfg == nil then
        return nil, nil, err
    end
    for _, fqdn in ipairs(name_list(cfg, name)) do
        local res, xerr = exchange(cfg, t, ctx, fqdn, qtype)
        if res == nil then
            return nil, nil, xerr
        end
        local a = res[1]
        if a.status == 0 then
            return a.records, a.cname and a.cname .. "." or fqdn
        end
        err = ares_error(a.status, name, res.server)
        if is_temporary(err) and r.strict_errors then
            break
        end
    end
    return nil, nil, err or no_such_host(name)
end

-- /etc/hosts, read as Go reads it (hosts.go): names any letter case, keys
-- absolute, kept for 5 seconds before the file is read again (Go's
-- cacheMaxAge), so a lookup costs no file read. c-ares would read the file
-- on every lookup.
local HOSTS_MAX_AGE = 5
local hosts = { expire = -1 }

local function read_hosts()
    local by_name, by_addr = {}, {}
    local f = open("/etc/hosts")
    if f ~= nil then
        for line in f:lines() do
            local fields = {}
            for w in match(line, "^[^#]*"):gmatch("%S+") do
                fields[#fields + 1] = w
            end
            local a = fields[1] and ip.parse_addr(fields[1])
            if a ~= nil and #fields >= 2 then
                local text = tostring(a)
                for i = 2, #fields do
                    local key = abs_name(lower(fields[i]))
                    local list = by_name[key] or {}
                    list[#list + 1] = a
                    by_name[key] = list
                    local names = by_addr[text] or {}
                    names[#names + 1] = abs_name(fields[i])
                    by_addr[text] = names
                end
            end
        end
        f:close()
    end
    hosts = { by_name = by_name, by_addr = by_addr, expire = C.lnet_now() + HOSTS_MAX_AGE }
    return hosts
end

local function hosts_table()
    return C.lnet_now() < hosts.expire and hosts or read_hosts()
end

-- The addresses /etc/hosts gives name (a copy: callers filter it); a
-- trailing dot is ignored, as c-ares does.
local function hosts_ips(name)
    local list = hosts_table().by_name[abs_name(lower(strip_dot(name)))]
    local ips = {}
    for i = 1, list and #list or 0 do
        ips[i] = list[i]
    end
    return ips
end

-- Go's sortByRFC6724, by precedence only (rule 6, Go's policy table): no
-- source addresses are probed, so ::1 comes before 127.0.0.1 and a global
-- IPv6 address before an IPv4 one, as Go orders them on a dual-stack host.
local function precedence(a)
    if a:is_loopback() and a:is6() and not a:is4in6() then
        return 50
    end
    if a:is4() or a:is4in6() then
        return 35
    end
    local b = a:bytes()
    local b1, b2 = byte(b, 1), byte(b, 2)
    if b1 == 0x20 and b2 == 0x02 then
        return 30 -- 2002::/16
    elseif b1 == 0x20 and b2 == 0x01 and byte(b, 3) == 0 and byte(b, 4) == 0 then
        return 5 -- 2001::/32
    elseif b1 == 0xfc or b1 == 0xfd then
        return 3 -- fc00::/7
    elseif b1 == 0x3f and b2 == 0xfe or b1 == 0xfe and b2 >= 0xc0 then
        return 1 -- 3ffe::/16, fec0::/10
    end
    return 40
end

local function sort_rfc6724(ips)
    local keyed = {}
    for i, a in ipairs(ips) do
        keyed[i] = { a = a, p = precedence(a), i = i }
    end
    sort(keyed, function(x, y)
        if x.p ~= y.p then
            return x.p > y.p
        end
        return x.i < y.i
    end)
    for i, k in ipairs(keyed) do
        ips[i] = k.a
    end
    return ips
end

-- Go's goLookupIPCNAMEOrder: the addresses of name for network (ip, ip4,
-- ip6, or CNAME), its canonical name, and an error. With strict_errors a
-- temporary failure of one family ends the search and comes back with
-- what the other family found (seed §8); otherwise it is dropped.
local function ares_ip(r, t, ctx, network, name, order)
    local cfg, err = ares_cfg(r)
    if cfg == nil then
        return nil, nil, err
    end
    if order ~= "dns" and order ~= "dns,files" then
        local ips = hosts_ips(name)
        if #ips > 0 or order == "files" then
            return sort_rfc6724(ips)
        end
    end
    if not is_domain_name(name) then
        return nil, nil, no_such_host(name)
    end
    local q1, q2 = 1, 28
    if network == "ip4" then
        q2 = nil
    elseif network == "ip6" then
        q1, q2 = 28, nil
    end
    local ips, cname, last = {}, nil, nil
    for _, fqdn in ipairs(name_list(cfg, name)) do
        local res, xerr = exchange(cfg, t, ctx, fqdn, q1, q2)
        if res == nil then
            return nil, nil, xerr
        end
        local strict_hit = false
        for i = 1, q2 and 2 or 1 do
            local a = res[i]
            if a.status ~= 0 then
                local e = ares_error(a.status, name, res.server)
                if is_temporary(e) and r.strict_errors then
                    strict_hit, last = true, e
                elseif last == nil or fqdn == name .. "." then
                    last = e
                end
            else
                for _, rec in ipairs(a.records) do
                    ips[#ips + 1] = ip.addr_from_bytes(rec.text)
                end
                cname = cname or a.cname and a.cname .. "."
            end
        end
        if #ips > 0 or strict_hit then
            break
        end
    end
    if #ips == 0 then
        if order == "dns,files" then
            local hips = hosts_ips(name)
            if #hips > 0 then
                return sort_rfc6724(hips)
            end
        end
        if network == "CNAME" and cname ~= nil then
            return ips, cname
        end
        return nil, nil, last or no_such_host(name)
    end
    return sort_rfc6724(ips), cname, r.strict_errors and last or nil
end

-- The system side ----------------------------------------------------------

-- Tasks waiting for a slot of the thread pool (it holds a bounded number of
-- calls); the core wakes slot_event when one frees.
local slot_waiters = sched.queue()
local slot_event

local function wait_slot(t, ctx)
    if slot_event == nil then
        slot_event = sched.event(function()
            slot_waiters:wake_all()
        end)
        C.lnet_sysres_slot_event(slot_event)
    end
    return slot_waiters:wait(t, ctx)
end

local sysaddrs = ffi_new("struct lnet_sockaddr[?]", K.LNET_SYSRES_ADDRS)

local function eai_error(n, name)
    if n == -codes.EAI_NONAME then
        return no_such_host(name)
    end
    return DNSError({ err = n == -codes.EAI_AGAIN and "temporary failure in name resolution"
                         or "server misbehaving", name = name, is_temporary = n == -codes.EAI_AGAIN })
end

local JOB_DONE = finished(C.lnet_sysres_done)

-- One call on the pool (start is lnet_sysres_start or _reverse with its
-- arguments); the done job, or nil and an error. A cancel abandons it.
local function system_call(t, ctx, start, a, b, c)
    local j
    repeat
        j = start(loop, t.op, a, b, c, errp)
        if j == nil and errp[0] == -codes.EAGAIN then
            local err = wait_slot(t, ctx)
            if err ~= nil then
                return nil, map_ctx_err(err)
            end
        elseif j == nil then
            return nil, DNSError({ err = tostring(errors.from_errno(-errp[0])), name = a, is_temporary = true })
        end
    until j ~= nil
    local _, err = retry(JOB_DONE, j, ctx)
    if err ~= nil then
        C.lnet_sysres_free(j)
        return nil, map_ctx_err(err)
    end
    return j
end

local function system_start(loop_, op, host, family, canon, err)
    return C.lnet_sysres_start(loop_, op, host, family, canon, err)
end

local function system_start_reverse(loop_, op, raw, len, _, err)
    return C.lnet_sysres_start_reverse(loop_, op, raw, len, err)
end

-- getaddrinfo: the addresses of name for network, and its canonical name.
local function system_ip(t, ctx, network, name)
    if find(name, "[%%:]") or find(name, "\0", 1, true) then
        return nil, nil, no_such_host(name)
    end
    local family = network == "ip4" and K.AF_INET or network == "ip6" and K.AF_INET6 or K.AF_UNSPEC
    if debug_level >= 2 then
        trace("system getaddrinfo(%s)", name)
    end
    local j, err = system_call(t, ctx, system_start, name, family, network == "CNAME" and 1 or 0)
    if j == nil then
        return nil, nil, err
    end
    local n = C.lnet_sysres_result(j, sysaddrs, K.LNET_SYSRES_ADDRS)
    local canon = ffi_string(C.lnet_sysres_name(j))
    C.lnet_sysres_free(j)
    if n < 0 then
        return nil, nil, eai_error(n, name)
    end
    local ips = {}
    for i = 0, n - 1 do
        ips[#ips + 1] = addr.from_sockaddr(sysaddrs[i], "ip").ip
    end
    if debug_level >= 2 then
        trace("system answer %s: %d address(es)", name, n)
    end
    -- Go's cgo lookup makes the canonical name absolute, dot or not.
    return ips, canon ~= "" and (byte(canon, #canon) == 46 and canon or canon .. ".") or nil
end

-- The methods --------------------------------------------------------------

local function check_ctx(ctx, n, fname)
    if not context.is_context(ctx) then
        error(format("bad argument #%d to '%s' (context expected, got %s)", n, fname, type(ctx)), 3)
    end
end

local function check_string(v, n, fname)
    if type(v) ~= "string" then
        error(format("bad argument #%d to '%s' (string expected, got %s)", n, fname, type(v)), 3)
    end
end

local function lookup_ip_list(r, ctx, network, host, what)
    local t = self_task(3)
    local cerr = ctx_err(ctx)
    if cerr ~= nil then
        return nil, nil, map_ctx_err(cerr)
    end
    if is_numeric_shorthand(host) then
        return nil, nil, no_such_host(host)
    end
    local impl, order = choose(r, what, host)
    if impl == "system" then
        return system_ip(t, ctx, network, host)
    end
    return ares_ip(r, t, ctx, network, host, order)
end

-- lookup_ip(ctx, network, host): lnet.ip values of host for "ip", "ip4" or
-- "ip6"; a literal answers itself (filtered by the network, as Go's
-- internetAddrList: "no suitable address found").
function Resolver:lookup_ip(ctx, network, host)
    check_self(self, Resolver, "resolver", "lookup_ip")
    check_ctx(ctx, 1, "lookup_ip")
    check_string(network, 2, "lookup_ip")
    check_string(host, 3, "lookup_ip")
    if network ~= "ip" and network ~= "ip4" and network ~= "ip6" then
        return nil, errors.UnknownNetworkError(network)
    end
    if host == "" then
        return nil, no_such_host(host)
    end
    local ips, err, _
    local literal = ip.parse_addr(host)
    if literal ~= nil then
        ips = { literal }
    else
        ips, _, err = lookup_ip_list(self, ctx, network, host, "lookup_ip")
        if ips == nil then
            return nil, err
        end
    end
    local fit = {}
    for _, a in ipairs(ips) do
        local v4 = a:is4() or a:is4in6()
        if network == "ip" or (network == "ip4") == v4 then
            fit[#fit + 1] = network == "ip4" and a:unmap() or a
        end
    end
    if #fit == 0 then
        return nil, errors.AddrError("no suitable address found", host)
    end
    return fit, err
end

-- lookup_host(ctx, host): the addresses as strings; a literal is itself.
function Resolver:lookup_host(ctx, host)
    check_self(self, Resolver, "resolver", "lookup_host")
    check_ctx(ctx, 1, "lookup_host")
    check_string(host, 2, "lookup_host")
    if host == "" then
        return nil, no_such_host(host)
    end
    if ip.parse_addr(host) ~= nil then
        return { host }
    end
    local ips, _, err = lookup_ip_list(self, ctx, "ip", host, "lookup_host")
    if ips == nil then
        return nil, err
    end
    local out = {}
    for i, a in ipairs(ips) do
        out[i] = tostring(a)
    end
    return out, err
end

-- lookup_cname(ctx, host): the canonical name, absolute (the end of the
-- CNAME chain, or host itself when it has addresses and no CNAME).
function Resolver:lookup_cname(ctx, host)
    check_self(self, Resolver, "resolver", "lookup_cname")
    check_ctx(ctx, 1, "lookup_cname")
    check_string(host, 2, "lookup_cname")
    local ips, cname, err = lookup_ip_list(self, ctx, "CNAME", host, "lookup_cname")
    if ips == nil then
        return nil, err
    end
    if cname == nil or not is_domain_name(cname) then
        return nil, DNSError({ err = "DNS response contained records which contain invalid names", name = host })
    end
    return cname
end

-- Go's reverseaddr: the arpa name of an lnet.ip value.
local function reverse_name(a)
    local b = a:unmap():bytes()
    local parts = {}
    if #b == 4 then
        for i = 4, 1, -1 do
            parts[#parts + 1] = tostring(byte(b, i))
        end
        return concat(parts, ".") .. ".in-addr.arpa."
    end
    for i = 16, 1, -1 do
        local v = byte(b, i)
        parts[#parts + 1] = format("%x.%x", v % 16, floor(v / 16))
    end
    return concat(parts, ".") .. ".ip6.arpa."
end

-- lookup_addr(ctx, address): the names of an address (/etc/hosts first,
-- then PTR records), absolute as Go gives them.
function Resolver:lookup_addr(ctx, address)
    check_self(self, Resolver, "resolver", "lookup_addr")
    check_ctx(ctx, 1, "lookup_addr")
    check_string(address, 2, "lookup_addr")
    local a = ip.parse_addr(address)
    if a == nil then
        return nil, DNSError({ err = "unrecognized address", name = address })
    end
    local t = self_task(2)
    local cerr = ctx_err(ctx)
    if cerr ~= nil then
        return nil, map_ctx_err(cerr)
    end
    local raw = a:unmap():bytes()
    if choose(self, "lookup_addr", address) == "system" then
        local j, err = system_call(t, ctx, system_start_reverse, raw, #raw)
        if j == nil then
            return nil, err
        end
        local n = C.lnet_sysres_result(j, sysaddrs, 0)
        local name = ffi_string(C.lnet_sysres_name(j))
        C.lnet_sysres_free(j)
        if n < 0 then
            return nil, eai_error(n, address)
        end
        return { abs_name(name) }
    end
    local known = hosts_table().by_addr[tostring(a)]
    if known ~= nil then
        local copy = {}
        for i, n in ipairs(known) do
            copy[i] = n
        end
        return copy
    end
    local recs, _, err = ares_lookup(self, t, ctx, reverse_name(a), 12)
    if recs == nil then
        -- Named by the address asked, not its arpa name (a ctx's error is
        -- a shared sentinel: left alone).
        local dnserr = errors.as(err, "DNSError")
        if dnserr ~= nil then
            dnserr.name = address
        end
        return nil, err
    end
    local names, bad = {}, false
    for _, rec in ipairs(recs) do
        local name = rec.text .. "."
        if is_domain_name(name) then
            names[#names + 1] = name
        else
            bad = true
        end
    end
    if bad then
        return names, DNSError({ err = "DNS response contained records which contain invalid names", name = address })
    end
    return names
end

local function malformed(name)
    return DNSError({ err = "DNS response contained records which contain invalid names", name = name })
end

-- A record query through ares: the records, their absolute owner, or nil
-- and the error.
local function query(r, ctx, name, qtype)
    local t = self_task(3)
    local cerr = ctx_err(ctx)
    if cerr ~= nil then
        return nil, nil, map_ctx_err(cerr)
    end
    if debug_level >= 1 then
        trace("%s(%s) = ares", qnames[qtype], name)
    end
    return ares_lookup(r, t, ctx, name, qtype)
end

-- Go's byPref.sort: shuffled, then stably by preference.
local function shuffle(list)
    for i = #list, 2, -1 do
        local j = random(i)
        list[i], list[j] = list[j], list[i]
    end
end

-- The start of a lookup method taking (ctx, name): self, ctx and name
-- checked, then the query of qtype: the records, the owner name, or nil
-- and the error.
local function records(self, ctx, name, qtype, fname)
    check_self(self, Resolver, "resolver", fname)
    check_ctx(ctx, 1, fname)
    check_string(name, 2, fname)
    return query(self, ctx, name, qtype)
end

-- The records whose host name (their text, absolute) is a domain name,
-- each made by make(host, rec); and whether any was not: Go drops those
-- and reports the answer malformed.
local function named(recs, make)
    local out, bad = {}, false
    for _, rec in ipairs(recs) do
        local host = rec.text == "" and "." or rec.text .. "."
        if is_domain_name(host) then
            out[#out + 1] = make(host, rec)
        else
            bad = true
        end
    end
    return out, bad
end

-- lookup_mx(ctx, name): {host, pref} records, by preference.
function Resolver:lookup_mx(ctx, name)
    local recs, _, err = records(self, ctx, name, 15, "lookup_mx")
    if recs == nil then
        return nil, err
    end
    local mx, bad = named(recs, function(host, rec)
        return { host = host, pref = rec[1] }
    end)
    shuffle(mx)
    for i, m in ipairs(mx) do
        m.i = i
    end
    sort(mx, function(a, b)
        return a.pref < b.pref or a.pref == b.pref and a.i < b.i
    end)
    for _, m in ipairs(mx) do
        m.i = nil
    end
    return mx, bad and malformed(name) or nil
end

-- RFC 2782's weighted order within one priority, as Go's shuffleByWeight.
local function shuffle_by_weight(list, first, last)
    local sum = 0
    for i = first, last do
        sum = sum + list[i].weight
    end
    while sum > 0 and first < last do
        local s, n = 0, random(0, sum - 1)
        for i = first, last do
            s = s + list[i].weight
            if s > n then
                if i > first then
                    list[first], list[i] = list[i], list[first]
                end
                break
            end
        end
        sum = sum - list[first].weight
        first = first + 1
    end
end

-- lookup_srv(ctx, service, proto, name): the owner name of the records
-- and {target, port, priority, weight} records in RFC 2782 order. Empty
-- service and proto ask name itself, as Go does.
function Resolver:lookup_srv(ctx, service, proto, name)
    check_self(self, Resolver, "resolver", "lookup_srv")
    check_ctx(ctx, 1, "lookup_srv")
    check_string(service, 2, "lookup_srv")
    check_string(proto, 3, "lookup_srv")
    check_string(name, 4, "lookup_srv")
    local target = name
    if service ~= "" or proto ~= "" then
        target = "_" .. service .. "._" .. proto .. "." .. name
    end
    local recs, owner, err = query(self, ctx, target, 33)
    if recs == nil then
        return nil, nil, err
    end
    local srv, bad = named(recs, function(host, rec)
        return { target = host, priority = rec[1], weight = rec[2], port = rec[3] }
    end)
    sort(srv, function(a, b)
        return a.priority < b.priority or a.priority == b.priority and a.weight < b.weight
    end)
    local i = 1
    while i <= #srv do
        local j = i
        while j < #srv and srv[j + 1].priority == srv[i].priority do
            j = j + 1
        end
        shuffle_by_weight(srv, i, j)
        i = j + 1
    end
    return owner, srv, bad and malformed(name) or nil
end

-- lookup_txt(ctx, name): each record's strings joined, as Go gives them.
function Resolver:lookup_txt(ctx, name)
    local recs, _, err = records(self, ctx, name, 16, "lookup_txt")
    if recs == nil then
        return nil, err
    end
    local out = {}
    for i, rec in ipairs(recs) do
        out[i] = rec.text
    end
    return out
end

-- lookup_ns(ctx, name): {host} records.
function Resolver:lookup_ns(ctx, name)
    local recs, _, err = records(self, ctx, name, 2, "lookup_ns")
    if recs == nil then
        return nil, err
    end
    local ns, bad = named(recs, function(host)
        return { host = host }
    end)
    return ns, bad and malformed(name) or nil
end

-- lookup_port(ctx, network, service): Go's LookupPort over Go's table and
-- /etc/services (no query).
function Resolver:lookup_port(ctx, network, service)
    check_self(self, Resolver, "resolver", "lookup_port")
    check_ctx(ctx, 1, "lookup_port")
    check_string(network, 2, "lookup_port")
    check_string(service, 3, "lookup_port")
    if match(service, "^[+-]?%d*$") then
        return addr.parse_port("tcp", service)
    end
    if network == "" or network == "ip" then
        local port = addr.parse_port("tcp", service)
        if port ~= nil then
            return port
        end
        port = addr.parse_port("udp", service)
        if port ~= nil then
            return port
        end
        return nil, DNSError({ err = "unknown port", name = "ip/" .. service, is_not_found = true })
    end
    local net = match(network, "^(%a+)[46]?$")
    if net ~= "tcp" and net ~= "udp" then
        return nil, errors.AddrError("unknown network", network)
    end
    return addr.parse_port(network, service)
end

-- The name lookup dial, listen and write_to use (addr.resolve): the IPs
-- of host for a network of family v (4, 6 or nil), in Go's order.
function Resolver:resolve_ips(ctx, v, host)
    local ips, _, err = lookup_ip_list(self, ctx, v == 4 and "ip4" or v == 6 and "ip6" or "ip", host, "dial")
    if ips == nil then
        return nil, err
    end
    return ips
end

-- Construction ---------------------------------------------------------------

-- A server given as "ip:port", "[ip6]:port" or a bare IP (port 53), in
-- c-ares's CSV form; nil and an AddrError when it does not parse.
local function server_csv(s)
    local a = ip.parse_addr(s)
    local port = 53
    if a == nil then
        local host, p = addr.split_host_port(s)
        if host == nil then
            return nil, p
        end
        a = ip.parse_addr(host)
        port = tonumber(match(p, "^%d+$") or "")
        if a == nil or a:zone() ~= "" then
            return nil, errors.AddrError("invalid DNS server address", s)
        end
        if port == nil or port < 1 or port > 65535 then
            return nil, errors.AddrError("invalid port", s)
        end
    elseif a:zone() ~= "" then
        return nil, errors.AddrError("invalid DNS server address", s)
    end
    a = a:unmap()
    return a:is4() and tostring(a) .. ":" .. port or "[" .. tostring(a) .. "]:" .. port
end

local function opt_error(name, want, v)
    error(format("bad resolver %s (%s expected, got %s)", name, want, errors.what(v)), 3)
end

-- resolver{prefer, strict_errors, servers, timeout, attempts}: a Resolver,
-- or nil and an AddrError for a server that does not parse.
function _M.new(opts)
    opts = opts or {}
    check_arg(opts, "table", 1, "resolver")
    local prefer, servers, timeout, attempts = opts.prefer, opts.servers, opts.timeout, opts.attempts
    if prefer ~= nil and prefer ~= "ares" and prefer ~= "system" then
        opt_error("prefer", '"ares" or "system"', prefer)
    end
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
        opt_error("timeout", "positive number", timeout)
    end
    if attempts ~= nil and (type(attempts) ~= "number" or attempts < 1 or attempts % 1 ~= 0) then
        opt_error("attempts", "positive integer", attempts)
    end
    local csv
    if servers ~= nil then
        if type(servers) ~= "table" then
            opt_error("servers", "table", servers)
        end
        local list = {}
        for i, s in ipairs(servers) do
            if type(s) ~= "string" then
                opt_error("servers[" .. i .. "]", "string", s)
            end
            local entry, err = server_csv(s)
            if entry == nil then
                return nil, err
            end
            list[i] = entry
        end
        if #list == 0 then
            return nil, errors.AddrError("no DNS servers", "")
        end
        csv = concat(list, ",")
    end
    return setmetatable({
        prefer = prefer,
        strict_errors = opts.strict_errors == true,
        servers_csv = csv,
        timeout = timeout,
        attempts = attempts,
    }, Resolver)
end

function Resolver:__tostring()
    return "resolver (" .. (self.prefer or env_mode or "auto") .. ")"
end

_M.default = _M.new()
addr.default_resolver = _M.default
_M.ares_version = ffi_string(C.lnet_ares_version())
_M.name_list = name_list
_M.pending_system = function()
    return C.lnet_sysres_pending()
end

return _M
