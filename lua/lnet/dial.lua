-- lnet.dial (private): dial and the Dialer.
--
-- A dial resolves the address to a list through the dialer's resolver, then
-- tries each in order until one connects, as Go's dialSerial does: each try
-- gets an equal share of the time left, so a dead first address cannot eat a
-- later one's chance. A "tcp" dial to a name with addresses of both families
-- races them as Go's dialParallel (RFC 8305, Happy Eyeballs).

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local conn = require "lnet.conn"
local context = require "lnet.context"
local packet = require "lnet.packet"
local sockopts = require "lnet.sockopt"
local raw = require "lnet.raw"

local C, K = sys.C, sys.const
local ffi_new = ffi.new
local setmetatable, type, error, pairs, tostring = setmetatable, type, error, pairs, tostring
local huge, min = math.huge, math.min
local self_task, retry, ctx_err, check_ctx = sched.self_task, sched.retry, sched.ctx_err, sched.check_ctx

local WRITE = 2
local OpError, SyscallError, from_errno = errors.OpError, errors.SyscallError, errors.from_errno
local check_arg = errors.check_arg
local code_error = conn.code_error

local _M = {}

local Dialer = {}
Dialer.__index = Dialer

local OPTIONS = { timeout = true, deadline = true, local_addr = true, resolver = true, keepalive = true,
                  keepalive_config = true, control = true }

-- The options of dial and dialer, checked (raising at level, as error
-- counts it from the caller, on an unknown one or a wrong type); returns
-- the keepalive settings of the TCP conns (lnet.sockopt's settings).
local function check_opts(opts, level)
    if opts == nil then
        return sockopts.DEFAULT
    end
    if type(opts) ~= "table" then
        error("bad dial options (table expected, got " .. type(opts) .. ")", level + 1)
    end
    for k in pairs(opts) do
        if not OPTIONS[k] then
            error("bad dial option '" .. tostring(k) .. "' (unknown option)", level + 1)
        end
    end
    local timeout = opts.timeout
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
        error("bad dialer timeout (number expected, got " .. errors.what(timeout) .. ")", level + 1)
    end
    conn.deadline(opts.deadline, "dialer")
    raw.check_hook(opts.control, "dialer", level + 1)
    -- A tail call: settings's caller is ours, so the same level holds.
    return sockopts.settings(opts.keepalive, opts.keepalive_config, 1, "dialer", level + 1)
end

-- dialer{timeout, deadline, local_addr, resolver, keepalive,
-- keepalive_config, control}: a reusable dial configuration; resolver
-- (lnet.resolver{...}) resolves names, the default one when nil; keepalive
-- (seconds; -1: none) and keepalive_config ({enable, idle, interval,
-- count}) are Go's Dialer fields, for TCP conns; control(network,
-- address, raw) runs on each socket before it is bound or connected.
function _M.dialer(opts)
    local ka = check_opts(opts, 2)
    opts = opts or {}
    local r = opts.resolver
    if r ~= nil and (type(r) ~= "table" or r.resolve_ips == nil) then
        error("bad dialer resolver (resolver expected, got " .. type(r) .. ")", 2)
    end
    return setmetatable({ timeout = opts.timeout, deadline = opts.deadline, local_addr = opts.local_addr,
                          resolver = r, control = opts.control, ka = ka }, Dialer)
end

local sa = ffi_new("struct lnet_sockaddr")
local CONNECT_CALL = sched.rc_err(function(c, op)
    return C.lnet_conn_connect(c, op, sa)
end)

-- One connect attempt of dialer d to address object a, bounded by
-- deadline and ctx. Returns the conn, or nil and the error.
local function connect(d, spec, a, local_addr, deadline, ctx)
    local family = addr.dial_family(spec, a, local_addr)
    local fdp = ffi_new("int[1]", C.lnet_fd_socket(family, spec.socktype, 0))
    if fdp[0] < 0 then
        return nil, SyscallError("socket", from_errno(-fdp[0]))
    end
    local _, err = nil, nil
    if d.control ~= nil then
        err = raw.run_hook(d.control, raw.hook_network(spec, family), tostring(a), fdp[0])
    end
    if err == nil then
        _, err = addr.to_sockaddr(sa, local_addr or a, family, local_addr and "bind" or "connect")
    end
    if err == nil and local_addr ~= nil then
        local rc = C.lnet_fd_bind(fdp[0], sa)
        if rc < 0 then
            err = SyscallError("bind", from_errno(-rc))
        else
            _, err = addr.to_sockaddr(sa, a, family, "connect")
        end
    end
    if err ~= nil then
        C.lnet_fd_close(fdp)
        return nil, err
    end
    local c
    c, err = conn.open(fdp[0], spec.name)
    if c == nil then
        return nil, err
    end
    C.lnet_conn_set_deadline(c, WRITE, deadline)
    local rc
    rc, err = retry(CONNECT_CALL, c, ctx)
    if rc < 0 then
        C.lnet_conn_close(c)
        -- Go's mapErr: a dial its ctx ended is "operation was canceled" or
        -- "i/o timeout", not the context's own text.
        return nil, err and errors.map_ctx_err(err) or code_error(rc, "connect")
    end
    C.lnet_conn_set_deadline(c, WRITE, huge)
    -- Both ends as the kernel has them (a wildcard dial reached some local
    -- address), read now so that errors after the peer is gone name them.
    c:addrs()
    if spec.tcp then
        -- Go's newTCPConn: no Nagle, and keepalive as the dialer says
        -- (failures ignored, as there).
        local fd = C.lnet_conn_fd(c)
        C.lnet_fd_setsockopt_int(fd, K.IPPROTO_TCP, K.TCP_NODELAY, 1)
        if d.ka ~= nil then
            sockopts.apply(fd, d.ka)
        end
    end
    return c
end

local function self_connected(c)
    local l, r = c:addrs()
    return l ~= nil and r ~= nil and l.port == r.port and l.ip == r.ip
end

-- connect, as Go's dialTCP: from an ephemeral port a dial can meet itself
-- (TCP's simultaneous open, when the target is a free port in the local
-- range) or a spurious EADDRNOTAVAIL; then it tries again, twice at most.
local function connect_tcp(d, spec, a, local_addr, deadline, ctx)
    local c, err = connect(d, spec, a, local_addr, deadline, ctx)
    if local_addr ~= nil and local_addr.port ~= 0 then
        return c, err
    end
    for _ = 1, 2 do
        if c ~= nil and not self_connected(c) or c == nil and not errors.is(err, errors.errno.EADDRNOTAVAIL) then
            break
        end
        if c ~= nil then
            c:close()
        end
        c, err = connect(d, spec, a, local_addr, deadline, ctx)
    end
    return c, err
end

local function resolve_local(spec, local_addr)
    if local_addr == nil then
        return nil
    end
    if addr.is_addr(local_addr) then
        return addr.of_kind(spec, local_addr, "mismatched local address type")
    end
    local addrs, err = addr.resolve(spec, local_addr, true)
    if addrs == nil then
        return nil, err
    end
    return addrs[1]
end

-- The addresses of address, a name resolved within the dial's deadline and
-- ctx (which end it as Go's "i/o timeout" or "operation was canceled"); or
-- {err = e}.
local function resolve_bounded(spec, address, resolver, deadline, ctx)
    local rctx, cancel = ctx, nil
    if deadline ~= huge then
        rctx, cancel = context.with_deadline(ctx or context.background(), deadline)
    end
    local addrs, err = addr.resolve(spec, address, false, resolver, rctx)
    if cancel ~= nil then
        cancel()
    end
    return addrs or { err = errors.map_ctx_err(err) }
end

-- Go's dialSerial: each address in turn, each with an equal share of the
-- time left; the conn, or nil and the first address's OpError.
local function dial_serial(t, d, spec, network, addrs, la, deadline, ctx)
    local first_err
    for i = 1, #addrs do
        local a = addrs[i]
        local share = deadline
        if deadline ~= huge then
            share = C.lnet_now() + (deadline - C.lnet_now()) / (#addrs - i + 1)
        end
        -- Datagram networks connect without waiting and make packet conns.
        local c, err = (spec.packet and packet.connect or spec.tcp and connect_tcp or connect)(d, spec, a, la, share,
            ctx)
        if c ~= nil then
            return c
        end
        first_err = first_err or OpError("dial", network, la, a, err)
        if ctx_err(ctx) ~= nil or t.canceled then
            break
        end
    end
    return nil, first_err
end

-- RFC 8305's "Connection Attempt Delay", Go's default FallbackDelay.
local FALLBACK_DELAY = 0.3

local function is4(a)
    return a.ip:is4() or a.ip:is4in6()
end

-- Go's addrList.partition: the addresses of the first one's family, and the rest.
local function partition(addrs)
    local primaries, fallbacks = {}, {}
    local v4 = is4(addrs[1])
    for i = 1, #addrs do
        local list = is4(addrs[i]) == v4 and primaries or fallbacks
        list[#list + 1] = addrs[i]
    end
    return primaries, fallbacks
end

-- Go's dialParallel: the primaries start at once, the fallbacks after
-- FALLBACK_DELAY or as soon as the primaries fail; the first conn wins and
-- the other racer's is closed; if both fail, the primaries' error. Each
-- racer is a task of its own; neither outlives the dial by more than a loop
-- turn, since the race's ctx is cancelled on the way out.
local function dial_parallel(t, d, spec, network, primaries, fallbacks, la, deadline, ctx)
    if #fallbacks == 0 then
        return dial_serial(t, d, spec, network, primaries, la, deadline, ctx)
    end
    local results = sched.channel(2)
    local race_ctx, cancel_race = context.with_cancel(ctx or context.background())
    local timer, stop_timer = context.with_timeout(race_ctx, FALLBACK_DELAY)
    local over = false
    local function racer(addrs, primary)
        local c, err = dial_serial(self_task(1), d, spec, network, addrs, la, deadline, race_ctx)
        if over then
            if c ~= nil then
                c:close()
            end
            return
        end
        results:send({ c = c, err = err, primary = primary })
    end
    local function finish(c, err)
        over = true
        cancel_race()
        stop_timer()
        while results.count > 0 do
            local late = results:recv()
            if late.c ~= nil then
                late.c:close()
            end
        end
        return c, err
    end
    sched.go(racer, primaries, true)
    local racing, primary_err = 1, nil
    local fallback_started = false
    while racing > 0 do
        -- Bounded by the fallback timer until the fallbacks start; then, or
        -- once the race's ctx is done, the racers' own ends bound the wait.
        local res, _, err = results:recv(not fallback_started and race_ctx:err() == nil and timer or nil)
        if res ~= nil then
            racing = racing - 1
            if res.c ~= nil then
                return finish(res.c)
            end
            if res.primary then
                primary_err = res.err
            end
        elseif t.canceled then
            return finish(nil, OpError("dial", network, la, primaries[1], errors.map_ctx_err(err)))
        end
        -- The delay is over, or the primaries failed first: the fallbacks'
        -- turn (not when the dial's own ctx ended the wait: they would fail).
        if not fallback_started and (res ~= nil and res.primary or res == nil and race_ctx:err() == nil) then
            fallback_started = true
            racing = racing + 1
            sched.go(racer, fallbacks, false)
        end
    end
    return finish(nil, primary_err)
end

-- dial(network, address [, ctx]): a conn, or nil and an OpError. The ctx
-- bounds the resolution and the connects, with the dialer's own limits; one
-- it ends is Go's "operation was canceled" or "i/o timeout" (errors.is
-- finds the ctx's error).
function Dialer:dial(network, address, ctx)
    errors.check_self(self, Dialer, "dialer", "dial")
    check_arg(network, "string", 1, "dial")
    check_ctx(ctx, 3, "dial")
    local t = self_task(2)
    local spec, err = addr.network(network)
    if spec == nil then
        return nil, OpError("dial", network, nil, nil, err)
    end
    local la
    la, err = resolve_local(spec, self.local_addr)
    if err ~= nil then
        return nil, OpError("dial", network, nil, nil, err)
    end
    local deadline = self.deadline or huge
    if self.timeout ~= nil and self.timeout ~= 0 then -- Go: zero means none
        deadline = min(deadline, C.lnet_now() + self.timeout)
    end
    local addrs = resolve_bounded(spec, address, self.resolver, deadline, ctx)
    if addrs.err ~= nil then
        return nil, OpError("dial", network, nil, nil, addrs.err)
    end
    addrs, err = addr.dialable(addrs, la)
    if addrs == nil then
        return nil, OpError("dial", network, nil, nil, err)
    end
    local cerr = ctx_err(ctx)
    if cerr ~= nil then
        return nil, OpError("dial", network, la, addrs[1], errors.map_ctx_err(cerr))
    end
    if spec.name == "tcp" then
        local primaries, fallbacks = partition(addrs)
        return dial_parallel(t, self, spec, network, primaries, fallbacks, la, deadline, ctx)
    end
    return dial_serial(t, self, spec, network, addrs, la, deadline, ctx)
end

local default_dialer = _M.dialer()

-- dial(network, address [, opts | ctx]): opts as for dialer{}; the one slot
-- takes either, since a context is not a plain table.
function _M.dial(network, address, opts)
    if opts == nil or context.is_context(opts) then
        return default_dialer:dial(network, address, opts)
    end
    check_opts(opts, 2)
    return _M.dialer(opts):dial(network, address)
end

return _M
