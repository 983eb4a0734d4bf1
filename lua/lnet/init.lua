-- lnet: the public module. Everything a script can do is reachable from here
-- (lnet.core is private); the work is done in the modules it gathers.

local core = require "lnet.core"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local ip = require "lnet.ip"
local context = require "lnet.context"
local conn = require "lnet.conn"
local dial = require "lnet.dial"
local listener = require "lnet.listener"
local packet = require "lnet.packet"
local pipe = require "lnet.pipe"
local signal = require "lnet.signal"
local process = require "lnet.process"
local icmp = require "lnet.icmp"
local addr = require "lnet.addr"
local pack = require "lnet.pack"
local hexdump = require "lnet.hexdump"
local resolver = require "lnet.resolver"
local tls = require "lnet.tls"

local C = sys.C

local _M = {
    _VERSION = core.version, -- CMakeLists.txt's project(lnet VERSION ...)

    run = sched.run,
    go = sched.go,
    sleep = sched.sleep,
    channel = sched.channel,
    wait_group = sched.wait_group,

    copy = conn.copy,
    dial = dial.dial,
    dialer = dial.dialer,
    listen = listener.listen,
    serve = listener.serve,
    pipe = pipe.pipe,
    listen_packet = packet.listen_packet,
    resolver = resolver.new,
    default_resolver = resolver.default,

    -- Go's SplitHostPort, JoinHostPort and ParseCIDR.
    split_host_port = addr.split_host_port,
    join_host_port = addr.join_host_port,
    parse_cidr = ip.parse_cidr,

    pack = pack.pack,
    unpack = pack.unpack,
    packsize = pack.packsize,
    hexdump = hexdump.hexdump,

    errors = errors,
    ip = ip,
    icmp = icmp,
    context = context,
    signal = signal,
    process = process,
    EOF = errors.EOF,
    ErrClosed = errors.ErrClosed,
    ErrDeadlineExceeded = errors.ErrDeadlineExceeded,
    ErrClosedPipe = errors.ErrClosedPipe,
    ErrWriteToConnected = packet.ErrWriteToConnected,

    -- The protocol toolkit: buffered reading and writing (Go's bufio).
    bufio = require "lnet.bufio",
    -- stdin() and stdout() as conns (lnet.stdio).
    stdin = require("lnet.stdio").stdin,
    stdout = require("lnet.stdio").stdout,
    -- TLS over conns (Go's crypto/tls).
    tls = tls,
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

-- Socket control, fd handover and all the cores (issue 10).
local file = require "lnet.file"
local handover = require "lnet.handover"
local worker = require "lnet.worker"

_M.listen_config = listener.listen_config
_M.new_file = file.new_file
_M.file_conn = handover.file_conn
_M.file_listener = handover.file_listener
_M.file_packet_conn = handover.file_packet_conn
_M.listeners_from_env = handover.listeners_from_env

-- worker_id(): this copy's number (1..N) under `lnet --workers N`, else nil.
function _M.worker_id()
    return worker.id
end

return _M
