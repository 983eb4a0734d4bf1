-- lnet.dial (private): dial and the Dialer.
--
-- A dial resolves the address to a list, then tries each in order until one
-- connects, as Go's dialSerial does: each try gets an equal share of the
-- time left, so a dead first address cannot eat a later one's chance.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local conn = require "lnet.conn"
local context = require "lnet.context"
local packet = require "lnet.packet"

local C, K = sys.C, sys.const
local ffi_new = ffi.new
local setmetatable, type, error = setmetatable, type, error
local huge, min = math.huge, math.min
local self_task, retry, ctx_err, check_ctx = sched.self_task, sched.retry, sched.ctx_err, sched.check_ctx

local WRITE = 2
local OpError, SyscallError, from_errno = errors.OpError, errors.SyscallError, errors.from_errno
local code_error = conn.code_error

local _M = {}

local Dialer = {}
Dialer.__index = Dialer

local function check_opts(opts, level)
    if opts == nil then
        return
    end
    if type(opts) ~= "table" then
        error("bad dial options (table expected, got " .. type(opts) .. ")", level + 1)
    end
    local timeout = opts.timeout
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
        error("bad dialer timeout (number expected, got " .. errors.what(timeout) .. ")", level + 1)
    end
    conn.deadline(opts.deadline, "dialer")
end

-- dialer{timeout, deadline, local_addr}: a reusable dial configuration.
function _M.dialer(opts)
    opts = opts or {}
    check_opts(opts, 2)
    return setmetatable({ timeout = opts.timeout, deadline = opts.deadline, local_addr = opts.local_addr }, Dialer)
end

local sa = ffi_new("struct lnet_sockaddr")
local CONNECT_CALL = sched.rc_err(function(c, op)
    return C.lnet_conn_connect(c, op, sa)
end)

-- One connect attempt to address object a, bounded by deadline and ctx.
-- Returns the conn, or nil and the error.
local function connect(t, spec, a, local_addr, deadline, ctx)
    local family = addr.dial_family(spec, a, local_addr)
    local fdp = ffi_new("int[1]", C.lnet_fd_socket(family, spec.socktype, 0))
    if fdp[0] < 0 then
        return nil, SyscallError("socket", from_errno(-fdp[0]))
    end
    local _, err = addr.to_sockaddr(sa, local_addr or a, family, local_addr and "bind" or "connect")
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
        C.lnet_fd_setsockopt_int(C.lnet_conn_fd(c), K.IPPROTO_TCP, K.TCP_NODELAY, 1)
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
local function connect_tcp(t, spec, a, local_addr, deadline, ctx)
    local c, err = connect(t, spec, a, local_addr, deadline, ctx)
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
        c, err = connect(t, spec, a, local_addr, deadline, ctx)
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

-- dial(network, address [, ctx]): a conn, or nil and an OpError. The ctx
-- bounds the connects, with the dialer's own limits; one it ends is Go's
-- "operation was canceled" or "i/o timeout" (errors.is finds the ctx's
-- error). A name is resolved first, by getaddrinfo, which nothing
-- interrupts (the c-ares resolver of a later issue will be cancellable).
function Dialer:dial(network, address, ctx)
    errors.check_self(self, Dialer, "dialer", "dial")
    if type(network) ~= "string" then
        error("bad argument #1 to 'dial' (string expected, got " .. type(network) .. ")", 2)
    end
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
    local addrs
    addrs, err = addr.resolve(spec, address, false)
    if addrs ~= nil then
        addrs, err = addr.dialable(addrs, la)
    end
    if addrs == nil then
        return nil, OpError("dial", network, nil, nil, err)
    end
    local cerr = ctx_err(ctx)
    if cerr ~= nil then
        return nil, OpError("dial", network, la, addrs[1], errors.map_ctx_err(cerr))
    end
    local deadline = self.deadline or huge
    if self.timeout ~= nil and self.timeout ~= 0 then -- Go: zero means none
        deadline = min(deadline, C.lnet_now() + self.timeout)
    end
    local first_err
    for i = 1, #addrs do
        local a = addrs[i]
        local share = deadline
        if deadline ~= huge then
            share = C.lnet_now() + (deadline - C.lnet_now()) / (#addrs - i + 1)
        end
        local c
        -- Datagram networks connect without waiting and make packet conns.
        c, err = (spec.packet and packet.connect or spec.tcp and connect_tcp or connect)(t, spec, a, la, share, ctx)
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
