-- lnet.errors: the error taxonomy of Go's net package, as Lua values.
--
-- Every error is a table whose metatable is its kind. Kinds wrap one another
-- (an OpError wraps a SyscallError wraps an Errno), and `is`/`as` walk that
-- chain the way Go's errors.Is/errors.As do. Text exists only in __tostring,
-- built when printed, so failing paths allocate one small table and no string.
-- Sentinels (EOF, ErrClosed, ErrDeadlineExceeded, every Errno) are singletons:
-- identity is equality.

local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local tostring, type, error, pairs = tostring, type, error, pairs
local format = string.format

local _M = {}

local kinds = {}

local function no_timeout()
    return false
end

-- A kind is a metatable: `name` says what it is (errors.as takes it),
-- `unwrap` returns the wrapped error, `timeout` says whether a deadline
-- caused it.
local function kind(name, tostr, methods)
    local k = { name = name, __tostring = tostr }
    k.__index = k
    k.unwrap = function()
        return nil
    end
    k.timeout = no_timeout
    for m, fn in pairs(methods or {}) do
        k[m] = fn
    end
    kinds[name] = k
    return k
end
_M.kind = kind

local function wrapped_timeout(self)
    local inner = self:unwrap()
    return inner ~= nil and inner.timeout ~= nil and inner:timeout() or false
end

local function unwrap_err(self)
    return self.err
end

-- Sentinel: a named singleton with fixed text.
local Sentinel = kind("Sentinel", function(self)
    return self.msg
end, {
    timeout = function(self)
        return self.is_timeout == true
    end,
})

local function sentinel(msg, is_timeout)
    return setmetatable({ msg = msg, is_timeout = is_timeout }, Sentinel)
end
_M.sentinel = sentinel

_M.EOF = sentinel("EOF")
_M.ErrClosed = sentinel("use of closed network connection")
_M.ErrDeadlineExceeded = sentinel("i/o timeout", true)
_M.ErrMissingAddress = sentinel("missing address")
-- Go's io.ErrClosedPipe: a pipe write whose other end is closed.
_M.ErrClosedPipe = sentinel("io: read/write on closed pipe")
-- Context errors live here so every module can return them; lnet.context
-- exports them as context.Canceled and context.DeadlineExceeded.
_M.Canceled = sentinel("context canceled")
_M.DeadlineExceeded = sentinel("context deadline exceeded", true)

-- Go's net errCanceled and errTimeout: what a dial (or a lookup) ended by
-- its context reports (Go's mapErr), "operation was canceled" and "i/o
-- timeout", while errors.is still finds the context's error behind them.
local function is_target(self, target)
    return target == self.target
end

local CtxMapped = kind("CtxMapped", function(self)
    return self.msg
end, {
    is = is_target,
    timeout = function(self)
        return self.is_timeout == true
    end,
    unwrap = function()
        return nil
    end,
})

_M.ErrCanceled = setmetatable({ msg = "operation was canceled", target = _M.Canceled }, CtxMapped)
_M.ErrTimeout = setmetatable({ msg = "i/o timeout", target = _M.DeadlineExceeded, is_timeout = true }, CtxMapped)

-- map_ctx_err(err): Go's mapErr: a context's errors become errCanceled and
-- errTimeout; any other error is itself.
function _M.map_ctx_err(err)
    if err == _M.Canceled then
        return _M.ErrCanceled
    elseif err == _M.DeadlineExceeded then
        return _M.ErrTimeout
    end
    return err
end

-- Errno: one singleton per errno the core can return, built by the binding
-- from core/errors.h. Go's syscall.Errno says Timeout() for these three.
local errno_timeouts = { EAGAIN = true, EWOULDBLOCK = true, ETIMEDOUT = true }
local Errno = kind("Errno", function(self)
    return self.msg
end, {
    timeout = function(self)
        return errno_timeouts[self.name] == true
    end,
})

_M.errno = {} -- name -> Errno
local by_code = {} -- positive errno -> Errno

function _M.define_errno(name, code, msg)
    local e = setmetatable({ name = name, code = code, msg = msg }, Errno)
    _M.errno[name] = e
    by_code[code] = e
    return e
end

-- The Errno for a positive code; codes outside the table still get a value,
-- so no failure is ever reported as nil.
function _M.from_errno(code)
    return by_code[code] or _M.define_errno("errno " .. code, code, "errno " .. code)
end

-- SyscallError{syscall, errno}: Go's os.SyscallError ("connect: connection refused").
local SyscallError = kind("SyscallError", function(self)
    return self.syscall .. ": " .. tostring(self.errno)
end, {
    unwrap = function(self)
        return self.errno
    end,
})
SyscallError.timeout = wrapped_timeout

function _M.SyscallError(syscall, errno)
    return setmetatable({ syscall = syscall, errno = errno }, SyscallError)
end

-- OpError{op, net, source, addr, err}: what every failed conn, listener and
-- dial operation returns. The text is Go's OpError.Error().
local OpError = kind("OpError", function(self)
    local s = self.op
    if self.net and self.net ~= "" then
        s = s .. " " .. self.net
    end
    if self.source ~= nil then
        s = s .. " " .. tostring(self.source)
    end
    if self.addr ~= nil then
        s = s .. (self.source ~= nil and "->" or " ") .. tostring(self.addr)
    end
    return s .. ": " .. tostring(self.err)
end, { unwrap = unwrap_err })
OpError.timeout = wrapped_timeout

function _M.OpError(op, net, source, addr, err)
    return setmetatable({ op = op, net = net, source = source, addr = addr, err = err }, OpError)
end

-- PathError{op, path, err}: Go's os.PathError ("fork/exec /nonexistent: no
-- such file or directory", "close fd 3: file already closed").
local PathError = kind("PathError", function(self)
    return self.op .. " " .. self.path .. ": " .. tostring(self.err)
end, { unwrap = unwrap_err })
PathError.timeout = wrapped_timeout

function _M.PathError(op, path, err)
    return setmetatable({ op = op, path = path, err = err }, PathError)
end

-- Go's os.ErrClosed: a call on a file already closed.
_M.ErrFileClosed = sentinel("file already closed")

-- AddrError{err, addr}: a malformed address ("address 1.2.3.4: missing port in address").
local AddrError = kind("AddrError", function(self)
    if self.addr and self.addr ~= "" then
        return "address " .. self.addr .. ": " .. self.err
    end
    return self.err
end)

function _M.AddrError(err, addr)
    return setmetatable({ err = err, addr = addr }, AddrError)
end

-- UnknownNetworkError{net}: ("unknown network foo").
local UnknownNetworkError = kind("UnknownNetworkError", function(self)
    return "unknown network " .. self.net
end)

function _M.UnknownNetworkError(net)
    return setmetatable({ net = net }, UnknownNetworkError)
end

-- ParseError{type, text, msg}: bad text given to a parser. `msg` carries
-- parsers' own wording (netip's); without it, Go's net.ParseError text.
local ParseError = kind("ParseError", function(self)
    return self.msg or ("invalid " .. self.type .. ": " .. self.text)
end)

function _M.ParseError(t)
    return setmetatable({ type = t.type, text = t.text, msg = t.msg }, ParseError)
end

-- DNSError{err, name, server, is_timeout, is_temporary, is_not_found}:
-- Go's net.DNSError ("lookup nosuch.invalid: no such host").
local DNSError = kind("DNSError", function(self)
    local s = "lookup " .. self.name
    if self.server and self.server ~= "" then
        s = s .. " on " .. self.server
    end
    return s .. ": " .. self.err
end, {
    timeout = function(self)
        return self.is_timeout == true
    end,
})

function _M.DNSError(t)
    return setmetatable({
        err = t.err,
        name = t.name,
        server = t.server,
        is_timeout = t.is_timeout == true,
        is_temporary = t.is_temporary == true,
        is_not_found = t.is_not_found == true,
    }, DNSError)
end

-- TaskError{msg, traceback}: what join returns for a task that raised.
-- `value` is the raised value itself, for scripts that raise tables.
local TaskError = kind("TaskError", function(self)
    return self.msg .. "\n" .. self.traceback
end)

function _M.TaskError(value, traceback)
    return setmetatable({ value = value, msg = tostring(value), traceback = traceback }, TaskError)
end

-- is(err, target): Go's errors.Is. Walks the unwrap chain; a link may also
-- answer for itself through an `is` method.
function _M.is(err, target)
    local e = err
    while e ~= nil do
        if e == target then
            return true
        end
        local mt = getmetatable(e)
        if mt == nil or mt.unwrap == nil then
            return false
        end
        if mt.is ~= nil and mt.is(e, target) then
            return true
        end
        e = e:unwrap()
    end
    return false
end

-- as(err, name): Go's errors.As by kind name: the first error in the chain of
-- that kind, or nil.
function _M.as(err, name)
    if type(name) ~= "string" then
        error(format("bad argument #2 to 'as' (kind name expected, got %s)", type(name)), 2)
    end
    local e = err
    while e ~= nil do
        local mt = getmetatable(e)
        if mt == nil or mt.unwrap == nil then
            return nil
        end
        if rawget(mt, "name") == name then
            return e
        end
        e = e:unwrap()
    end
    return nil
end

-- What a bad argument was, for "bad argument" messages: its type, or "nan".
function _M.what(v)
    return v ~= v and "nan" or type(v)
end

-- number_arg(v, n, fname, level): v, when it is a number and not NaN; else
-- raises "bad argument #n to 'fname' (number expected, got ...)" at level,
-- counted from the function that calls number_arg (as error's own level).
function _M.number_arg(v, n, fname, level)
    if type(v) ~= "number" or v ~= v then
        error(("bad argument #%d to '%s' (number expected, got %s)"):format(n, fname, _M.what(v)), level + 1)
    end
    return v
end

-- check_arg(v, want, n, fname [, level]): v, when its type is want; else
-- raises "bad argument #n to 'fname' (want expected, got <type>)" at the
-- caller of the function that checks (level: how many frames further out).
function _M.check_arg(v, want, n, fname, level)
    if type(v) ~= want then
        error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, want, type(v)), (level or 1) + 2)
    end
    return v
end

-- check_self(v, mt, what, fname): a method's self must be an object of its
-- class (a core object behind the wrong table would crash the host); else
-- raises "bad argument #1 to 'fname' (what expected, got ...)" at the
-- method's caller.
function _M.check_self(v, mt, what, fname)
    if getmetatable(v) ~= mt then
        error(("bad argument #1 to '%s' (%s expected, got %s)"):format(fname, what, type(v)), 3)
    end
end

-- is_error(v): true for any value of an lnet error kind.
function _M.is_error(v)
    local mt = getmetatable(v)
    return mt ~= nil and kinds[rawget(mt, "name") or false] == mt
end

return _M
