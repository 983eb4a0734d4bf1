-- lnet.raw (private): the raw socket of a conn, listener or packet conn
-- (Go's syscall.RawConn, from syscall_conn()), and the Control hooks of
-- dialers and listen configs, which get one for the socket being set up.
--
--   raw:control(fn)                  fn(fd) with the socket's fd
--   raw:setsockopt(level, name, v)   true | nil, err
--   raw:getsockopt(level, name [, size])   value | nil, err
--   raw:read(fn [, ctx]), raw:write(fn [, ctx])   true | nil, err
--
-- read and write are Go's RawConn.Read and Write: fn(fd) makes the syscall
-- itself and returns true when done, false when the socket was not ready;
-- then the task waits for readiness on the side's own machinery (the FIFO,
-- the deadline set on the object, close, the ctx) and calls fn again.

local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local sockopt = require "lnet.sockopt"

local C = sys.C
local setmetatable, type, tostring, xpcall, error = setmetatable, type, tostring, xpcall, error
local traceback = debug.traceback
local retry, check_ctx = sched.retry, sched.check_ctx
local check_self, check_arg = errors.check_self, errors.check_arg
local OpError, ErrClosed, code_error = errors.OpError, errors.ErrClosed, sys.code_error

local READ, WRITE = 1, 2

-- Go's error for a wait on an fd its poller does not watch.
local ErrUnpollable = errors.sentinel("waiting for unsupported file type")

local _M = {}

local Raw = {}
Raw.__index = Raw

-- new(owner, sock, net, laddr, raddr): the raw socket of a live object;
-- owner keeps the core object (and so sock) alive.
function _M.new(owner, sock, net, laddr, raddr)
    return setmetatable({ owner = owner, sock = sock, net = net, laddr = laddr, raddr = raddr }, Raw)
end

-- The fd, or -1 once the object is closed (or the hook is over). Not a
-- method: as in Go, a script reaches the fd through control.
local function fd_of(self)
    if self.sock ~= nil then
        return C.lnet_sock_fd(self.sock)
    end
    return self.hook_fd
end

local function fail(self, op, err)
    return nil, OpError(op, self.net, self.laddr, self.raddr, err)
end

-- control(fn): fn(fd) while the socket is open (Go's RawConn.Control);
-- what fn raises goes to the caller. true, or nil and an OpError
-- ("raw-control", ErrClosed) once closed.
function Raw:control(fn)
    check_self(self, Raw, "raw conn", "control")
    check_arg(fn, "function", 1, "control")
    local fd = fd_of(self)
    if fd < 0 then
        return fail(self, "raw-control", ErrClosed)
    end
    fn(fd)
    return true
end

-- setsockopt(level, name, value): level and name by name ("SOL_SOCKET",
-- "SO_REUSEPORT") or number. true, or nil and the SyscallError.
function Raw:setsockopt(level, name, value)
    check_self(self, Raw, "raw conn", "setsockopt")
    local fd = fd_of(self)
    if fd < 0 then
        sockopt.check(level, name, "setsockopt", 3)
        return fail(self, "raw-control", ErrClosed)
    end
    local ok, err = sockopt.set(fd, level, name, value, 3)
    return ok, err -- not a tail call: the frame is the level misuse is raised at
end

-- getsockopt(level, name [, size]): the option's value (lnet.sockopt says
-- how each kind reads), or nil and the SyscallError.
function Raw:getsockopt(level, name, size)
    check_self(self, Raw, "raw conn", "getsockopt")
    local fd = fd_of(self)
    if fd < 0 then
        sockopt.check(level, name, "getsockopt", 3)
        return fail(self, "raw-control", ErrClosed)
    end
    local v, err = sockopt.get(fd, level, name, size, 3)
    return v, err -- not a tail call, as in setsockopt
end

-- Waiting for readiness: a call kind for sched.retry per direction and
-- try (lnet_sock_ready's `tried`): the first asks whether the fd may be
-- ready, the next ones say fn found it was not. Their done calls fn, and
-- waits again (a tail call) while fn says "not yet".
local CALLS = { [READ] = {}, [WRITE] = {} }

local function call_kind(dir, tried, op)
    return { function(self, core_op)
        return C.lnet_sock_ready(self.sock, core_op, dir, tried)
    end, function(self, rc, err, fn, ctx)
        if rc < 0 then
            return fail(self, op, err or code_error(rc, "epoll_wait"))
        end
        if fn(fd_of(self)) then
            return true
        end
        return retry(CALLS[dir][1], self, ctx, fn, ctx)
    end }
end

for tried = 0, 1 do
    CALLS[READ][tried] = call_kind(READ, tried, "raw-read")
    CALLS[WRITE][tried] = call_kind(WRITE, tried, "raw-write")
end

local function wait(self, dir, op, fn, ctx, fname)
    check_self(self, Raw, "raw conn", fname)
    check_arg(fn, "function", 1, fname)
    check_ctx(ctx, 2, fname)
    if self.sock == nil then
        -- A hook's socket is on no loop yet: Go's rawConn says the same.
        return fail(self, op, ErrUnpollable)
    end
    return retry(CALLS[dir][0], self, ctx, fn, ctx)
end

-- read(fn [, ctx]): Go's RawConn.Read: fn(fd) until it returns true,
-- waiting for the socket to be readable in between. true, or nil and an
-- OpError ("raw-read": ErrClosed, ErrDeadlineExceeded for the read
-- deadline, or the ctx's error). fn must not block.
function Raw:read(fn, ctx)
    return wait(self, READ, "raw-read", fn, ctx, "read")
end

-- write(fn [, ctx]): the same for writability and the write deadline.
function Raw:write(fn, ctx)
    return wait(self, WRITE, "raw-write", fn, ctx, "write")
end

function Raw:__tostring()
    return "raw conn " .. tostring(self.net) .. " fd " .. fd_of(self)
end

-- Control hooks --------------------------------------------------------------

-- ControlError{msg, value, traceback}: what a control hook raised, or a
-- string it returned as its error.
local ControlError = errors.kind("ControlError", function(self)
    return self.msg
end)

local function control_error(value, trace)
    return setmetatable({ msg = tostring(value), value = value, traceback = trace }, ControlError)
end

local function catch(value)
    return control_error(value, traceback("", 2):sub(2)) -- LuaJIT's traceback(nil) is nil
end

-- The error a hook's results mean, or nil: (nil | true) is success;
-- (nil | false, err) and an error value of its own are failures.
local function hook_result(ok, r1, r2)
    if not ok then
        return r1
    end
    if r2 ~= nil and not r1 then
        return errors.is_error(r2) and r2 or control_error(r2)
    end
    if errors.is_error(r1) then
        return r1
    end
    if r1 ~= nil and r1 ~= true then
        return control_error(r1)
    end
    return nil
end

-- The network a hook is told, as Go's ctrlNetwork: unix networks as they
-- are, IP ones with their family ("tcp4", "udp6", "ip4").
function _M.hook_network(spec, family)
    if spec.kind == "unix" then
        return spec.name
    end
    local net = spec.afnet
    local last = net:sub(-1)
    if last == "4" or last == "6" then
        return net
    end
    return net .. (family == sys.const.AF_INET and "4" or "6")
end

-- run_hook(hook, network, address, fd): calls hook(network, address, raw)
-- for the socket fd, which is not yet bound or connected; returns nil, or
-- the error that must abort the dial or listen (what the hook returned or
-- raised). The raw object works only during the call.
function _M.run_hook(hook, network, address, fd)
    local raw = setmetatable({ hook_fd = fd, net = network }, Raw)
    local err = hook_result(xpcall(hook, catch, network, address, raw))
    raw.hook_fd = -1
    return err
end

-- check_hook(v, fname, lvl): v, when it is nil or a function; else raises
-- at lvl (as error counts it from the caller).
function _M.check_hook(v, fname, lvl)
    if v ~= nil and type(v) ~= "function" then
        error("bad option 'control' to '" .. fname .. "' (function expected, got " .. type(v) .. ")", lvl + 1)
    end
    return v
end

_M.Raw = Raw

return _M
