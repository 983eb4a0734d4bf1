-- lnet.conn (private): stream conns (tcp, unix, unixpacket).
--
-- Each method is one core call through sched.retry: the core answers at
-- once (the fast path, one FFI call), or parks the task's op and the task
-- waits, then asks again. Errors are made only on failure, wrapped once
-- here into Go's OpError. Every method checks its self: a core conn behind
-- the wrong table would be a crash, not an error.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local sockopts = require "lnet.sockopt"
local raw = require "lnet.raw"
local file = require "lnet.file"

local C, K = sys.C, sys.const
local rbuf = sys.rbuf
local ffi_string, ffi_gc, ffi_new, istype = ffi.string, ffi.gc, ffi.new, ffi.istype
local setmetatable, getmetatable, type, error, tonumber, tostring, ipairs =
    setmetatable, getmetatable, type, error, tonumber, tostring, ipairs
local floor, huge, min = math.floor, math.huge, math.min
local sub = string.sub
local self_task, retry, check_ctx = sched.self_task, sched.retry, sched.check_ctx

local READ, WRITE = 1, 2
local ErrClosed, EOF = errors.ErrClosed, errors.EOF
local OpError, SyscallError = errors.OpError, errors.SyscallError

local _M = {}

-- The error a negative core code stands for (lnet.sys): errnos name their
-- syscall.
local code_error = sys.code_error
_M.code_error = code_error

-- deadline(t): an absolute lnet.now() time, nil for none; misuse raises.
local function deadline(t, name)
    if t == nil then
        return huge
    end
    if type(t) ~= "number" or t ~= t then
        error("bad argument #1 to '" .. name .. "' (number or nil expected, got " .. errors.what(t) .. ")", 3)
    end
    return t
end
_M.deadline = deadline

-- The most one read returns: LNET_RBUF_SIZE, the loop's read buffer.
local RBUF_SIZE = 65536
_M.RBUF_SIZE = RBUF_SIZE

-- read_max(max, name, default [, cap]): a read's byte limit, whole and at
-- most cap (RBUF_SIZE unless given; math.huge asks for what there is);
-- misuse raises.
function _M.read_max(max, name, default, cap)
    if max == nil then
        return default
    end
    if type(max) ~= "number" or max < 0 or max ~= max then
        error("bad argument #1 to '" .. name .. "' (non-negative number expected, got " .. tostring(max) .. ")", 3)
    end
    return min(floor(max), cap or RBUF_SIZE)
end

-- A conn is the core conn itself: the `struct lnet_conn *` the core gave,
-- with the methods below as its FFI metatype and the core's free as its
-- finalizer. No Lua table stands beside it: an idle conn is a pointer's
-- worth of Lua memory. What a conn knows beyond the core's struct is kept
-- elsewhere: its network as an index the core stores (NETS), its
-- addresses in a weak table, made when first asked.
local Conn = {}
Conn.__index = Conn
ffi.metatype("struct lnet_conn", Conn)
local conn_ct = ffi.typeof("struct lnet_conn *")
_M.ctype = conn_ct

-- The networks of conns, by the index the core keeps.
local NETS = { "tcp", "tcp4", "tcp6", "unix", "unixpacket", "pipe" }
local NET_INDEX = {}
for i, name in ipairs(NETS) do
    NET_INDEX[name] = i
end

local function is_conn(v)
    return istype(conn_ct, v)
end
_M.is_conn = is_conn

-- A method's self must be a conn: a core conn behind the wrong value would
-- crash the host, not raise.
local function check_conn(self, fname)
    if not istype(conn_ct, self) then
        error(("bad argument #1 to '%s' (conn expected, got %s)"):format(fname, type(self)), 3)
    end
end

-- Opens a conn over fd (owned from here on) on network net (a name of
-- NETS), or nil and an error.
function _M.open(fd, net)
    local c = C.lnet_conn_open(sys.loop, fd, NET_INDEX[net])
    if c == nil then
        return nil, SyscallError("malloc", errors.errno.ENOMEM)
    end
    return ffi_gc(c, C.lnet_conn_free)
end

function Conn:network()
    return NETS[C.lnet_conn_net(self)]
end

local sa = ffi_new("struct lnet_sockaddr")
local addr_cache = setmetatable({}, { __mode = "k" }) -- conn -> { laddr, raddr }

-- Both addresses, read once and kept, so that errors after close still
-- name them: the peer as accept named it, else from the kernel.
function Conn:addrs()
    local known = addr_cache[self]
    if known == nil then
        known = {}
        local fd, net = C.lnet_conn_fd(self), self:network()
        if fd >= 0 then
            if C.lnet_fd_sockname(fd, sa) == 0 then
                known[1] = addr.from_sockaddr(sa, net)
            end
            if C.lnet_conn_peer(self, sa) == 0 or C.lnet_fd_peername(fd, sa) == 0 then
                known[2] = addr.from_sockaddr(sa, net)
            end
        end
        addr_cache[self] = known
    end
    return known[1], known[2]
end

function Conn:local_addr()
    check_conn(self, "local_addr")
    return (self:addrs())
end

function Conn:remote_addr()
    check_conn(self, "remote_addr")
    local _, raddr = self:addrs()
    return raddr
end

function Conn:op_error(op, err)
    local laddr, raddr = self:addrs()
    return OpError(op, self:network(), laddr, raddr, err)
end

-- read([max [, ctx]]): a string of 1..max bytes as soon as any are there;
-- nil, EOF at end of stream. A ctx ends the wait for data (a cancelled ctx
-- fails the call once it would have to wait) and leaves the conn usable: a
-- call that fails consumed no byte.
local function read_done(self, n, err)
    if n > 0 then
        return ffi_string(rbuf, n)
    elseif n == 0 then
        return nil, EOF
    end
    return nil, self:op_error("read", err or code_error(n, "read"))
end

local READ_CALL = { function(self, op, max)
    return C.lnet_conn_read(self, op, rbuf, max)
end, read_done }

function Conn:read(max, ctx)
    check_conn(self, "read")
    max = _M.read_max(max, "read", RBUF_SIZE)
    check_ctx(ctx, 2, "read")
    if max < 1 then
        if C.lnet_conn_fd(self) < 0 then
            return nil, self:op_error("read", ErrClosed)
        end
        return ""
    end
    return retry(READ_CALL, self, ctx, max)
end

-- write(s [, ctx]): #s once all of s went out; n, err after n bytes
-- otherwise (also when ctx is cancelled part way). Both write calls are
-- given the length n that the write began with.
local function written(self, rc, err, _, n)
    if rc == 0 then
        return n
    end
    return tonumber(self_task(1).op.progress), self:op_error("write", err or code_error(rc, "write"))
end

local WRITE_CALL = { function(self, op, s, n)
    return C.lnet_conn_write(self, op, s, n)
end, written }

-- A string.buffer is sent from its own memory (no string is made) and left
-- as it is: the caller skips what went out. Its bytes are looked up again
-- on every attempt (its memory may move while the write waits), and a
-- buffer cut below n by someone else in the meantime fails the write
-- rather than sending freed memory.
local BUF_WRITE_CALL = { function(self, op, b, n)
    local p, len = b:ref()
    if len < n then
        return -errors.errno.EINVAL.code
    end
    return C.lnet_conn_write(self, op, p, n)
end, written }

-- is_buffer(v): whether v is a string.buffer (its __metatable is
-- "buffer"). The JIT does not compile getmetatable on a userdata, so
-- buffers seen once are remembered (a weak set), and a hot loop writing
-- one buffer stays compiled.
local buffers = setmetatable({}, { __mode = "k" })
local function is_buffer(v)
    if buffers[v] then
        return true
    elseif type(v) == "userdata" and getmetatable(v) == "buffer" then
        buffers[v] = true
        return true
    end
    return false
end
_M.is_buffer = is_buffer

function Conn:write(s, ctx)
    check_conn(self, "write")
    if type(s) ~= "string" then
        if is_buffer(s) then
            check_ctx(ctx, 2, "write")
            return retry(BUF_WRITE_CALL, self, ctx, s, #s)
        end
        error("bad argument #1 to 'write' (string or buffer expected, got " .. type(s) .. ")", 2)
    end
    check_ctx(ctx, 2, "write")
    return retry(WRITE_CALL, self, ctx, s, #s)
end

function Conn:close()
    check_conn(self, "close")
    self:addrs()
    local rc = C.lnet_conn_close(self)
    if rc < 0 then
        return nil, self:op_error("close", code_error(rc, "close"))
    end
    return true
end

local function shutdown(self, dir, fname)
    check_conn(self, fname)
    if C.lnet_conn_net(self) == NET_INDEX.pipe then
        -- A process's pipe has one direction: closing it is the half-close
        -- (how a child's stdin sees end of file).
        return self:close()
    end
    local rc = C.lnet_conn_shutdown(self, dir)
    if rc < 0 then
        return nil, self:op_error("close", code_error(rc, "shutdown"))
    end
    return true
end

function Conn:close_write()
    return shutdown(self, WRITE, "close_write")
end

function Conn:close_read()
    return shutdown(self, READ, "close_read")
end

-- The setters conns and packet conns share: deadlines and socket options.
-- A class provides fd() (-1 once closed), core_set_deadline(dirs, t) (< 0
-- once closed) and set_error(err) (Go's "set" OpError: no source, the
-- local address).

local function set_deadline(self, dirs, t, name)
    if self:core_set_deadline(dirs, deadline(t, name)) < 0 then
        return self:set_error(ErrClosed)
    end
    return true
end

-- Applies fn(fd, ...) -> code; an error is the "set" OpError fail(self, err)
-- makes, naming setsockopt.
local function sockopt(self, fail, fn, ...)
    local fd = self:fd()
    if fd < 0 then
        return fail(self, ErrClosed)
    end
    local rc = fn(fd, ...)
    if rc < 0 then
        return fail(self, code_error(rc, "setsockopt"))
    end
    return true
end

local function int_arg(v, name)
    return floor(errors.number_arg(v, 1, name, 3))
end

local function bool_arg(v, name)
    if type(v) ~= "boolean" then
        error("bad argument #1 to '" .. name .. "' (boolean expected, got " .. type(v) .. ")", 3)
    end
    return v and 1 or 0
end

-- add_setters(Class, check): the setters, each calling check(self, name)
-- first (it raises on a self that is not of the class).
function _M.add_setters(Class, check)
    function Class:set_deadline(t)
        check(self, "set_deadline")
        return set_deadline(self, READ + WRITE, t, "set_deadline")
    end

    function Class:set_read_deadline(t)
        check(self, "set_read_deadline")
        return set_deadline(self, READ, t, "set_read_deadline")
    end

    function Class:set_write_deadline(t)
        check(self, "set_write_deadline")
        return set_deadline(self, WRITE, t, "set_write_deadline")
    end

    function Class:set_read_buffer(n)
        check(self, "set_read_buffer")
        return sockopt(self, self.set_error, C.lnet_fd_setsockopt_int, K.SOL_SOCKET, K.SO_RCVBUF,
                       int_arg(n, "set_read_buffer"))
    end

    function Class:set_write_buffer(n)
        check(self, "set_write_buffer")
        return sockopt(self, self.set_error, C.lnet_fd_setsockopt_int, K.SOL_SOCKET, K.SO_SNDBUF,
                       int_arg(n, "set_write_buffer"))
    end
end

Conn.fd = C.lnet_conn_fd
Conn.core_set_deadline = C.lnet_conn_set_deadline

function Conn:set_error(err)
    local laddr = self:addrs()
    return nil, OpError("set", self:network(), nil, laddr, err)
end

_M.add_setters(Conn, check_conn)

-- Go's TCPConn setters name both ends in their errors.
local function tcp_set_error(self, err)
    local laddr, raddr = self:addrs()
    return nil, OpError("set", self:network(), laddr, raddr, err)
end

function Conn:set_nodelay(on)
    check_conn(self, "set_nodelay")
    return sockopt(self, tcp_set_error, C.lnet_fd_setsockopt_int, K.IPPROTO_TCP, K.TCP_NODELAY,
                   bool_arg(on, "set_nodelay"))
end

-- set_linger(sec): sec < 0 is the default (close returns at once, the kernel
-- sends the rest); 0 discards unsent data and resets; > 0 lingers.
function Conn:set_linger(sec)
    check_conn(self, "set_linger")
    return sockopt(self, tcp_set_error, C.lnet_sockopt_linger, int_arg(sec, "set_linger"))
end

-- Socket control and fd handover (issue 10) ----------------------------------

-- set_keepalive(on): SO_KEEPALIVE.
function Conn:set_keepalive(on)
    check_conn(self, "set_keepalive")
    return sockopt(self, tcp_set_error, C.lnet_fd_setsockopt_int, K.SOL_SOCKET, K.SO_KEEPALIVE,
                   bool_arg(on, "set_keepalive"))
end

-- set_keepalive_period(sec): the idle time before the first probe and the
-- time between probes (Go's SetKeepAlivePeriod), whole seconds rounded up;
-- 0 is Go's default, 15 s.
function Conn:set_keepalive_period(sec)
    check_conn(self, "set_keepalive_period")
    return sockopt(self, tcp_set_error, sockopts.apply, sockopts.period(sec, "set_keepalive_period", 3))
end

-- set_keepalive_config{enable, idle, interval, count}: Go's
-- SetKeepAliveConfig (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT): a field
-- left out or 0 is Go's default (15 s, 15 s, 9), a negative one is left as
-- it is; enable defaults to true.
function Conn:set_keepalive_config(cfg)
    check_conn(self, "set_keepalive_config")
    return sockopt(self, tcp_set_error, sockopts.apply, sockopts.config(cfg, 1, "set_keepalive_config", 3))
end

-- set_user_timeout(sec): TCP_USER_TIMEOUT, how long sent data may stay
-- unacknowledged before the conn is dropped (ms, rounded up; 0: the
-- kernel's own rules).
function Conn:set_user_timeout(sec)
    check_conn(self, "set_user_timeout")
    return sockopt(self, tcp_set_error, C.lnet_fd_setsockopt_int, K.IPPROTO_TCP, K.TCP_USER_TIMEOUT,
                   sockopts.user_timeout_ms(sec, "set_user_timeout", 3))
end

-- syscall_conn(): the raw socket (lnet.raw), Go's SyscallConn.
function Conn:syscall_conn()
    check_conn(self, "syscall_conn")
    local laddr, raddr = self:addrs()
    return raw.new(self, C.lnet_conn_sock(self), self:network(), laddr, raddr)
end

-- file(): a file object holding a dup of the socket (Go's File), or nil
-- and an OpError ("file"). The conn goes on as it was: closing either
-- leaves the other open.
function Conn:file()
    check_conn(self, "file")
    local laddr, raddr = self:addrs()
    local fd = C.lnet_conn_fd(self)
    local f, err = nil, ErrClosed
    if fd >= 0 then
        f, err = file.dup(fd, file.name_of(self:network(), laddr, raddr))
    end
    if f == nil then
        return nil, OpError("file", self:network(), laddr, raddr, err)
    end
    return f
end

-- The general copy, for anything with read and write (a pipe, a bufio
-- reader): one string per chunk.
local function copy_any(dst, src, ctx)
    local total = 0
    while true do
        local data, err = src:read(65536, ctx)
        if data == nil then
            if err == EOF then
                return total
            end
            return total, err
        end
        local n, werr = dst:write(data, ctx)
        total = total + n
        if werr ~= nil then
            return total, werr, sub(data, n + 1)
        end
    end
end

-- The kinds of ends lnet.copy moves bytes between in the core, without
-- strings: conns, and what registers here (TLS conns). Each is its ctype,
-- the core's read and write called as copy.h calls them (nil: a conn's),
-- and fail(end, op, rc), the error a failed read or write of it returns.
local copy_ends = {}

function _M.copy_end(ct, read, write, fail)
    copy_ends[#copy_ends + 1] = { ct = ct, read = read, write = write, fail = fail }
end

local function copy_end_of(v)
    for i = 1, #copy_ends do
        local e = copy_ends[i]
        if istype(e.ct, v) then
            return e
        end
    end
end

_M.copy_end(conn_ct, nil, nil, function(c, op, rc)
    return c:op_error(op, code_error(rc, op))
end)

-- The outcome of a copy between core ends that ended with rc (0, or an
-- error code; or AGAIN with err, when the task's cancel or ctx ended the
-- wait). Bytes left in the copy, or a write still going, mean it was
-- writing when it ended.
local function copy_done(cp, rc, err, dst, src)
    local rest = cp.left_len > 0 and ffi_string(cp.left, cp.left_len) or nil
    local written, writing = cp.written, cp.writing ~= 0
    C.lnet_copy_release(cp)
    if rc == 0 then
        return written
    elseif err == nil then
        if cp.failed == READ then
            return written, copy_end_of(src).fail(src, "read", rc)
        end
        return written, copy_end_of(dst).fail(dst, "write", rc), rest
    elseif rest == nil and not writing then
        return written, src:op_error("read", err)
    end
    return written, dst:op_error("write", err), rest
end

local copy_ct = ffi.typeof("struct lnet_copy")
local COPY_CALL = { function(cp, op, dst, src)
    return C.lnet_copy_step(cp, op, dst, src)
end, copy_done }

-- copy(dst, src [, ctx]): Go's io.Copy. Writes to dst everything read from
-- src until its end of stream; returns the byte count, or the count and the
-- error (an OpError of the side that failed). A copy that ends on the
-- write side (its ctx, a write deadline, a failed write) returns what it
-- had read but not written as a third result, so no byte read is lost.
-- Between two core ends (conns, TLS conns) the bytes never become Lua
-- strings (core/copy.h); the copy's state is an object of its own, released
-- when the copy ends (or, for a copy its task was dropped in, by its
-- finalizer).
function _M.copy(dst, src, ctx)
    check_ctx(ctx, 3, "copy")
    local dst_end, src_end = copy_end_of(dst), copy_end_of(src)
    if dst_end == nil or src_end == nil then
        return copy_any(dst, src, ctx)
    end
    local cp = ffi_gc(ffi_new(copy_ct), C.lnet_copy_release)
    cp.read, cp.write = src_end.read, dst_end.write
    return retry(COPY_CALL, cp, ctx, dst, src)
end

function Conn:__tostring()
    local laddr, raddr = self:addrs()
    return "conn " .. self:network() .. " " .. tostring(laddr) .. "->" .. tostring(raddr)
end

return _M
