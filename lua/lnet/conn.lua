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

local C, K, codes = sys.C, sys.const, sys.codes
local rbuf = sys.rbuf
local ffi_string, ffi_gc, ffi_new = ffi.string, ffi.gc, ffi.new
local setmetatable, getmetatable, type, error, tonumber, tostring =
    setmetatable, getmetatable, type, error, tonumber, tostring
local floor, huge, min = math.floor, math.huge, math.min
local sub = string.sub
local self_task, retry, check_ctx = sched.self_task, sched.retry, sched.check_ctx
local check_self = errors.check_self

local ECLOSED, EDEADLINE = -codes.ECLOSED, -codes.EDEADLINE
local READ, WRITE = 1, 2
local ErrClosed, ErrDeadlineExceeded, EOF = errors.ErrClosed, errors.ErrDeadlineExceeded, errors.EOF
local OpError, SyscallError, from_errno = errors.OpError, errors.SyscallError, errors.from_errno

local _M = {}

-- The error a negative core code stands for; errnos name their syscall.
local function code_error(code, syscall)
    if code == ECLOSED then
        return ErrClosed
    elseif code == EDEADLINE then
        return ErrDeadlineExceeded
    end
    return SyscallError(syscall, from_errno(-code))
end
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

local Conn = {}
Conn.__index = Conn

-- Wraps a core conn; `laddr`/`raddr` may be given when already known.
function _M.new(c, net, laddr, raddr)
    local conn = setmetatable({ c = ffi_gc(c, C.lnet_conn_free), net = net }, Conn)
    -- Only when known: an accepted conn stays a two-field table until asked.
    if laddr ~= nil then
        conn.laddr = laddr
    end
    if raddr ~= nil then
        conn.raddr = raddr
    end
    return conn
end

-- Opens a conn over fd (owned from here on), or nil and an error.
function _M.open(fd, net, laddr, raddr)
    local c = C.lnet_conn_open(sys.loop, fd)
    if c == nil then
        return nil, SyscallError("malloc", errors.errno.ENOMEM)
    end
    return _M.new(c, net, laddr, raddr)
end

local sa = ffi_new("struct lnet_sockaddr")

-- Both addresses, read once and kept, so that errors after close still
-- name them: the peer as accept named it, else from the kernel.
function Conn:addrs()
    if self.laddr == nil then
        local c = self.c
        local fd = C.lnet_conn_fd(c)
        if fd >= 0 then
            if C.lnet_fd_sockname(fd, sa) == 0 then
                self.laddr = addr.from_sockaddr(sa, self.net)
            end
            if self.raddr == nil and (C.lnet_conn_peer(c, sa) == 0 or C.lnet_fd_peername(fd, sa) == 0) then
                self.raddr = addr.from_sockaddr(sa, self.net)
            end
        end
    end
    return self.laddr, self.raddr
end

function Conn:local_addr()
    check_self(self, Conn, "conn", "local_addr")
    return (self:addrs())
end

function Conn:remote_addr()
    check_self(self, Conn, "conn", "remote_addr")
    local _, raddr = self:addrs()
    return raddr
end

function Conn:op_error(op, err)
    local laddr, raddr = self:addrs()
    return OpError(op, self.net, laddr, raddr, err)
end

-- read([max [, ctx]]): a string of 1..max bytes as soon as any are there;
-- nil, EOF at end of stream. A ctx ends the wait for data (a cancelled ctx
-- fails the call once it would have to wait) and leaves the conn usable: a
-- call that fails consumed no byte.
function Conn:read(max, ctx)
    check_self(self, Conn, "conn", "read")
    max = _M.read_max(max, "read", RBUF_SIZE)
    check_ctx(ctx, 2, "read")
    local c = self.c
    if max < 1 then
        if C.lnet_conn_fd(c) < 0 then
            return nil, self:op_error("read", ErrClosed)
        end
        return ""
    end
    local t = self_task(2)
    local n, err = retry(t, ctx, C.lnet_conn_read, c, t.op, rbuf, max)
    if n > 0 then
        return ffi_string(rbuf, n)
    elseif n == 0 then
        return nil, EOF
    end
    return nil, self:op_error("read", err or code_error(n, "read"))
end

-- write(s [, ctx]): #s once all of s went out; n, err after n bytes
-- otherwise (also when ctx is cancelled part way).
function Conn:write(s, ctx)
    check_self(self, Conn, "conn", "write")
    if type(s) ~= "string" then
        error("bad argument #1 to 'write' (string expected, got " .. type(s) .. ")", 2)
    end
    check_ctx(ctx, 2, "write")
    local t = self_task(2)
    local op = t.op
    local len = #s
    op.progress = 0
    local rc, err = retry(t, ctx, C.lnet_conn_write, self.c, op, s, len)
    if rc == 0 then
        return len
    end
    return tonumber(op.progress), self:op_error("write", err or code_error(rc, "write"))
end

function Conn:close()
    check_self(self, Conn, "conn", "close")
    self:addrs()
    local rc = C.lnet_conn_close(self.c)
    if rc < 0 then
        return nil, self:op_error("close", code_error(rc, "close"))
    end
    return true
end

local function shutdown(self, dir, fname)
    check_self(self, Conn, "conn", fname)
    local rc = C.lnet_conn_shutdown(self.c, dir)
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

-- add_setters(Class, what): the setters, on objects of Class only (what
-- names the class in a bad self's error).
function _M.add_setters(Class, what)
    function Class:set_deadline(t)
        check_self(self, Class, what, "set_deadline")
        return set_deadline(self, READ + WRITE, t, "set_deadline")
    end

    function Class:set_read_deadline(t)
        check_self(self, Class, what, "set_read_deadline")
        return set_deadline(self, READ, t, "set_read_deadline")
    end

    function Class:set_write_deadline(t)
        check_self(self, Class, what, "set_write_deadline")
        return set_deadline(self, WRITE, t, "set_write_deadline")
    end

    function Class:set_read_buffer(n)
        check_self(self, Class, what, "set_read_buffer")
        return sockopt(self, self.set_error, C.lnet_fd_setsockopt_int, K.SOL_SOCKET, K.SO_RCVBUF,
                       int_arg(n, "set_read_buffer"))
    end

    function Class:set_write_buffer(n)
        check_self(self, Class, what, "set_write_buffer")
        return sockopt(self, self.set_error, C.lnet_fd_setsockopt_int, K.SOL_SOCKET, K.SO_SNDBUF,
                       int_arg(n, "set_write_buffer"))
    end
end

function Conn:fd()
    return C.lnet_conn_fd(self.c)
end

function Conn:core_set_deadline(dirs, t)
    return C.lnet_conn_set_deadline(self.c, dirs, t)
end

function Conn:set_error(err)
    local laddr = self:addrs()
    return nil, OpError("set", self.net, nil, laddr, err)
end

_M.add_setters(Conn, "conn")

-- Go's TCPConn setters name both ends in their errors.
local function tcp_set_error(self, err)
    local laddr, raddr = self:addrs()
    return nil, OpError("set", self.net, laddr, raddr, err)
end

function Conn:set_nodelay(on)
    check_self(self, Conn, "conn", "set_nodelay")
    return sockopt(self, tcp_set_error, C.lnet_fd_setsockopt_int, K.IPPROTO_TCP, K.TCP_NODELAY,
                   bool_arg(on, "set_nodelay"))
end

-- set_linger(sec): sec < 0 is the default (close returns at once, the kernel
-- sends the rest); 0 discards unsent data and resets; > 0 lingers.
function Conn:set_linger(sec)
    check_self(self, Conn, "conn", "set_linger")
    return sockopt(self, tcp_set_error, C.lnet_sockopt_linger, int_arg(sec, "set_linger"))
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

-- The outcome of a copy between conns that ended with rc (0, or an error
-- code; or AGAIN with err, when the task's cancel or ctx ended the wait).
-- Bytes left in the copy mean it was writing them when it ended.
local function copy_result(dst, src, cp, rc, err)
    local rest = cp.left_len > 0 and ffi_string(cp.left, cp.left_len) or nil
    local written = cp.written
    C.lnet_copy_release(cp)
    if rc == 0 then
        return written
    elseif err == nil then
        if cp.failed == READ then
            return written, src:op_error("read", code_error(rc, "read"))
        end
        err = code_error(rc, "write")
    elseif rest == nil then
        return written, src:op_error("read", err)
    end
    return written, dst:op_error("write", err), rest
end

local copy_ct = ffi.typeof("struct lnet_copy")

-- copy(dst, src [, ctx]): Go's io.Copy. Writes to dst everything read from
-- src until its end of stream; returns the byte count, or the count and the
-- error (an OpError of the side that failed). A copy that ends on the
-- write side (its ctx, a write deadline, a failed write) returns what it
-- had read but not written as a third result, so no byte read is lost.
-- Between two conns the bytes never become Lua strings (core/copy.h); the
-- copy's state is an object of its own, released when the copy ends (or,
-- for a copy its task was dropped in, by its finalizer).
function _M.copy(dst, src, ctx)
    check_ctx(ctx, 3, "copy")
    if getmetatable(dst) ~= Conn or getmetatable(src) ~= Conn then
        return copy_any(dst, src, ctx)
    end
    local t = self_task(2)
    local cp = ffi_gc(ffi_new(copy_ct), C.lnet_copy_release)
    local rc, err = retry(t, ctx, C.lnet_copy_step, cp, t.op, dst.c, src.c)
    return copy_result(dst, src, cp, rc, err)
end

function Conn:__tostring()
    check_self(self, Conn, "conn", "tostring")
    local laddr, raddr = self:addrs()
    return "conn " .. self.net .. " " .. tostring(laddr) .. "->" .. tostring(raddr)
end

return _M
