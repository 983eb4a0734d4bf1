-- lnet.stdio: the process's standard streams as conns (net "pipe"), for
-- scripts that move stdin and stdout through the loop (scripts/nc.lua).
--
--   stdin() -> conn | nil, err;  stdout() -> conn | nil, err
--
-- Each call opens a new conn over an fd of its own (core/stdfd.h: a fresh
-- open file description where possible, so making it non-blocking leaves
-- the shell's terminal alone); closing it leaves fds 0 and 1 open, and
-- Lua's io.stdin/io.stdout work as before (mixing them with the conn on
-- one stream interleaves as two writers would). A regular file behind a
-- stream is always ready: the loop polls it as such.

local sys = require "lnet.sys"
local errors = require "lnet.errors"
local conn = require "lnet.conn"

local C = sys.C

local _M = {}

local function open(fd, name)
    local own = C.lnet_stdfd_open(fd)
    if own < 0 then
        return nil, errors.OpError("open", "pipe", nil, nil, conn.code_error(own, name))
    end
    return conn.open(own, "pipe")
end

function _M.stdin()
    return open(0, "stdin")
end

function _M.stdout()
    return open(1, "stdout")
end

return _M
