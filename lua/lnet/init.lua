-- lnet: the public module. Everything a script can do is reachable from here
-- (lnet.core is private); the work is done in the modules it gathers.

local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local ip = require "lnet.ip"
local context = require "lnet.context"
local dial = require "lnet.dial"
local listener = require "lnet.listener"

local C = sys.C

local _M = {
    run = sched.run,
    go = sched.go,
    sleep = sched.sleep,
    channel = sched.channel,
    wait_group = sched.wait_group,

    dial = dial.dial,
    dialer = dial.dialer,
    listen = listener.listen,
    serve = listener.serve,

    errors = errors,
    ip = ip,
    context = context,
    EOF = errors.EOF,
    ErrClosed = errors.ErrClosed,
    ErrDeadlineExceeded = errors.ErrDeadlineExceeded,
}

-- lnet.errno.ECONNRESET etc.: one Errno per code of core/errors.h.
_M.errno = errors.errno

-- now(): monotonic seconds, the clock of every deadline.
function _M.now()
    return C.lnet_now()
end

-- time(): wall-clock seconds since the epoch.
function _M.time()
    return C.lnet_time()
end

return _M
