-- lnet: the public module. Everything a script can do is reachable from here
-- (lnet.core is private); the work is done in the modules it gathers.

local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local ip = require "lnet.ip"
local context = require "lnet.context"
local dial = require "lnet.dial"
local listener = require "lnet.listener"
local signal = require "lnet.signal"

local C = sys.C

local _M = {
    run = sched.run,
    go = sched.go,
    sleep = sched.sleep,
    channel = sched.channel,
    wait_group = sched.wait_group,

    copy = require("lnet.conn").copy,
    dial = dial.dial,
    dialer = dial.dialer,
    listen = listener.listen,
    serve = listener.serve,
    pipe = require("lnet.pipe").pipe,
    listen_packet = require("lnet.packet").listen_packet,
    icmp = require "lnet.icmp",

    errors = errors,
    ip = ip,
    context = context,
    signal = signal,
    process = require "lnet.process",
    EOF = errors.EOF,
    ErrClosed = errors.ErrClosed,
    ErrDeadlineExceeded = errors.ErrDeadlineExceeded,
    ErrClosedPipe = errors.ErrClosedPipe,
    ErrWriteToConnected = require("lnet.packet").ErrWriteToConnected,
}

-- lnet.errno.ECONNRESET etc.: one Errno per code of core/errors.h.
_M.errno = errors.errno

-- main_context(): the run's root context, cancelled on SIGINT or SIGTERM
-- (made on first use, so a script that never asks keeps the default
-- dispositions; dropped when the run ends).
local main_ctx
sched.at_teardown(function()
    main_ctx = nil
end)

function _M.main_context()
    if main_ctx == nil then
        main_ctx = signal.notify_context(context.background(), "SIGINT", "SIGTERM")
    end
    return main_ctx
end

-- now(): monotonic seconds, the clock of every deadline.
function _M.now()
    return C.lnet_now()
end

-- time(): wall-clock seconds since the epoch.
function _M.time()
    return C.lnet_time()
end

return _M
