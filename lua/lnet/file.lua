-- lnet.file (private): file objects, what ln:file(), conn:file() and
-- pc:file() return and lnet.file_listener and friends take (Go's
-- *os.File, as far as fd handover needs one):
--
--   f:fd()      the descriptor (-1 once closed)
--   f:name()    Go's name for it: "tcp:127.0.0.1:80->", or new_file's
--   f:close()   true | nil, PathError("close", name, ErrFileClosed)
--
-- A file owns its fd: closing it (or the collector, for one dropped
-- unclosed) closes that fd and nothing else.

local ffi = require "ffi"
local sys = require "lnet.sys"
local errors = require "lnet.errors"

local C = sys.C
local ffi_gc, ffi_new = ffi.gc, ffi.new
local setmetatable, getmetatable, type, error, tostring = setmetatable, getmetatable, type, error, tostring
local check_self = errors.check_self

local _M = {}

local File = {}
File.__index = File

local function new(fd, name)
    return setmetatable({ box = ffi_gc(ffi_new("int[1]", fd), C.lnet_fd_close), fname = name }, File)
end

-- new_file(fd [, name]): Go's os.NewFile: a file object that owns fd (one
-- inherited from a parent: spawn's extra_files are 3, 4, ...). name
-- defaults to "/dev/fd/N".
function _M.new_file(fd, name)
    if type(fd) ~= "number" or fd < 0 or fd % 1 ~= 0 or fd >= 2 ^ 31 then
        error("bad argument #1 to 'new_file' (non-negative integer expected, got " .. tostring(fd) .. ")", 2)
    end
    if name ~= nil and type(name) ~= "string" then
        error("bad argument #2 to 'new_file' (string expected, got " .. type(name) .. ")", 2)
    end
    return new(fd, name or "/dev/fd/" .. fd)
end

-- dup(fd, name): a file holding a close-on-exec dup of fd; nil and the
-- SyscallError when there is none to be had (EMFILE).
function _M.dup(fd, name)
    local d = C.lnet_fd_dup(fd)
    if d < 0 then
        return nil, errors.SyscallError("fcntl", errors.from_errno(-d))
    end
    return new(d, name)
end

-- is_file(v): v is a file object.
function _M.is_file(v)
    return type(v) == "table" and getmetatable(v) == File
end

function File:fd()
    check_self(self, File, "file", "fd")
    return self.box[0]
end

function File:name()
    check_self(self, File, "file", "name")
    return self.fname
end

function File:close()
    check_self(self, File, "file", "close")
    if self.box[0] < 0 then
        return nil, errors.PathError("close", self.fname, errors.ErrFileClosed)
    end
    C.lnet_fd_close(self.box)
    return true
end

function File:__tostring()
    return "file " .. self.fname
end

-- name_of(net, laddr, raddr): Go's netFD.name(): "tcp:127.0.0.1:80->".
function _M.name_of(net, laddr, raddr)
    return net .. ":" .. (laddr and tostring(laddr) or "") .. "->" .. (raddr and tostring(raddr) or "")
end

return _M
