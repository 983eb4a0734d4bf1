-- lnet.handover (private): live objects from sockets that came from
-- elsewhere: a file object (Go's FileConn, FileListener, FilePacketConn)
-- or the fds systemd's socket activation hands over (sd_listen_fds).
--
-- The network is read from the socket itself, as Go's newFileFD does:
-- SO_DOMAIN, SO_TYPE and SO_PROTOCOL say what it is, SO_ACCEPTCONN
-- whether it listens, getsockname where.

local ffi = require "ffi"
local sys = require "lnet.sys"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local conn = require "lnet.conn"
local listener = require "lnet.listener"
local packet = require "lnet.packet"
local sockopts = require "lnet.sockopt"
local file = require "lnet.file"

ffi.cdef [[
int lnet_handover_getpid(void) __asm__("getpid");
int lnet_handover_unsetenv(const char *name) __asm__("unsetenv");
]]

local C, K = sys.C, sys.const
local ffi_new = ffi.new
local setmetatable, type, error, tostring, tonumber, ipairs = setmetatable, type, error, tostring, tonumber, ipairs
local getenv = os.getenv
local gmatch = string.gmatch
local SyscallError, OpError, from_errno, errno = errors.SyscallError, errors.OpError, errors.from_errno, errors.errno

local _M = {}

local intp = ffi_new("int[1]")

local function sockopt_int(fd, name)
    local rc = C.lnet_fd_getsockopt_int(fd, K.SOL_SOCKET, name, intp)
    if rc < 0 then
        return nil, SyscallError("getsockopt", from_errno(-rc))
    end
    return intp[0]
end

-- What the socket fd is: {net, kind, family}, kind one of "listener",
-- "conn" (a stream socket that does not listen) and "packet"; net the
-- network lnet names it by (Go's laddr.Network(): "tcp", "unix",
-- "unixpacket", "udp", "unixgram"; "ip4:<proto>" for raw IP, "udp4:icmp"
-- for the ping socket). nil and the error: a SyscallError for what is no
-- socket (ENOTSOCK), EPROTONOSUPPORT for a family lnet has no network of.
local ASKED = { K.SO_DOMAIN, K.SO_TYPE, K.SO_PROTOCOL, K.SO_ACCEPTCONN }

local function inspect(fd)
    local got = {}
    for i = 1, #ASKED do
        local v, err = sockopt_int(fd, ASKED[i])
        if v == nil then
            return nil, err
        end
        got[i] = v
    end
    local family, socktype, proto, accepting = got[1], got[2], got[3], got[4]
    local net
    if family == K.AF_UNIX then
        net = socktype == K.SOCK_STREAM and "unix" or socktype == K.SOCK_SEQPACKET and "unixpacket"
            or socktype == K.SOCK_DGRAM and "unixgram"
    elseif family == K.AF_INET or family == K.AF_INET6 then
        local v = family == K.AF_INET and "4" or "6"
        if socktype == K.SOCK_STREAM and proto == K.IPPROTO_TCP then
            net = "tcp"
        elseif socktype == K.SOCK_DGRAM and proto == K.IPPROTO_UDP then
            net = "udp"
        elseif socktype == K.SOCK_DGRAM and (proto == K.IPPROTO_ICMP or proto == K.IPPROTO_ICMPV6) then
            net = v == "4" and "udp4:icmp" or "udp6:ipv6-icmp"
        elseif socktype == K.SOCK_RAW then
            net = "ip" .. v .. ":" .. proto
        end
    end
    if not net then
        return nil, errno.EPROTONOSUPPORT
    end
    local kind = (socktype == K.SOCK_DGRAM or socktype == K.SOCK_RAW) and "packet"
        or accepting ~= 0 and "listener" or "conn"
    return { net = net, kind = kind, family = family }
end

-- Makes the live object of kind for fd (owned from here on, already in
-- lnet's mode), as info describes it; nil and the error (fd closed).
local function open(fd, info)
    if info.kind == "listener" then
        return listener.from_fd(fd, info.net)
    elseif info.kind == "packet" then
        return packet.from_fd(fd, addr.network(info.net), info.family)
    end
    if info.net == "tcp" then
        -- Go's newTCPConn for a FileConn: no Nagle, keepalive at 15 s.
        C.lnet_fd_setsockopt_int(fd, K.IPPROTO_TCP, K.TCP_NODELAY, 1)
        sockopts.apply(fd, sockopts.DEFAULT)
    end
    return conn.open(fd, info.net)
end

-- What each of file_conn, file_listener and file_packet_conn takes: Go's
-- FileConn gives a UDP conn too (a Conn), FileListener only listeners.
local ACCEPTS = {
    file_conn = { conn = true, packet = true },
    file_listener = { listener = true },
    file_packet_conn = { packet = true },
}

-- from_file(f, fname): the live object for a dup of f's socket (f stays
-- the caller's to close), or nil and Go's OpError("file", "file+net", f's
-- name): the step that failed, or EINVAL for a socket of another kind.
local function from_file(f, fname)
    if not file.is_file(f) then
        -- (the file_* functions tail-call this one: their caller is next)
        error("bad argument #1 to '" .. fname .. "' (file expected, got " .. type(f) .. ")", 2)
    end
    local function fail(err)
        return nil, OpError("file", "file+net", nil, f:name(), err)
    end
    local fd = C.lnet_fd_dup(f:fd())
    if fd < 0 then
        return fail(SyscallError("fcntl", from_errno(-fd)))
    end
    local fdp = ffi_new("int[1]", fd)
    local info, err = inspect(fd)
    if info ~= nil and not ACCEPTS[fname][info.kind] then
        info, err = nil, errno.EINVAL
    end
    if info ~= nil then
        local rc = C.lnet_fd_adopt(fd)
        if rc < 0 then
            info, err = nil, SyscallError("fcntl", from_errno(-rc))
        end
    end
    if info == nil then
        C.lnet_fd_close(fdp)
        return fail(err)
    end
    local obj
    obj, err = open(fd, info)
    if obj == nil then
        return fail(err)
    end
    return obj
end

-- file_conn(f): a conn (or, for a datagram socket, a packet conn) over a
-- dup of f's socket, which must not be listening.
function _M.file_conn(f)
    return from_file(f, "file_conn")
end

-- file_listener(f): a listener over a dup of f's listening socket.
function _M.file_listener(f)
    return from_file(f, "file_listener")
end

-- file_packet_conn(f): a packet conn over a dup of f's datagram or raw
-- socket.
function _M.file_packet_conn(f)
    return from_file(f, "file_packet_conn")
end

-- Socket activation ---------------------------------------------------------

-- sd_listen_fds: the first fd passed, and the variables that pass them.
local LISTEN_FDS_START = 3
local ENV = { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" }
-- More fds than any service is handed: a bound on what LISTEN_FDS may make
-- us touch.
local LISTEN_FDS_MAX = 4096

-- ActivationError{msg}: socket-activation variables that do not hold.
local ActivationError = errors.kind("ActivationError", function(self)
    return "socket activation: " .. self.msg
end)

local function activation_error(msg)
    return nil, setmetatable({ msg = msg }, ActivationError)
end

-- listeners_from_env(): the sockets systemd (or anything speaking its
-- protocol: systemd-socket-activate, a supervisor) handed this process, as
-- sd_listen_fds(1) takes them: LISTEN_FDS fds from 3 on, meant for the
-- process LISTEN_PID names, with LISTEN_FDNAMES their names (colon
-- separated; "unknown" where none is given). The three variables are
-- unset, whatever the outcome, so children do not take them for their own.
-- Returns the live objects (a listener for a listening socket, a packet
-- conn for a datagram one, a conn for one systemd accepted) and their
-- names, two arrays, both empty when LISTEN_FDS is not set; or nil and an
-- error (ActivationError for variables that do not hold, LISTEN_PID of
-- another process included; the OpError of an fd that is no usable
-- socket), and then none of the fds is touched.
function _M.listeners_from_env()
    local pid, count, names = getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES")
    for _, name in ipairs(ENV) do
        C.lnet_handover_unsetenv(name)
    end
    if count == nil then
        return {}, {}
    end
    local n = count:match("^%d+$") and tonumber(count)
    if n == nil or n > LISTEN_FDS_MAX then
        return activation_error("LISTEN_FDS is not a count of fds: '" .. count .. "'")
    end
    local own = C.lnet_handover_getpid()
    if pid == nil or tonumber(pid:match("^%d+$")) ~= own then
        return activation_error(("LISTEN_PID %s is not this process (%d)"):format(tostring(pid), own))
    end
    local list = {}
    if names ~= nil then
        for name in gmatch(names .. ":", "([^:]*):") do
            list[#list + 1] = name
        end
        if #list ~= n then
            return activation_error(("LISTEN_FDNAMES names %d fds, LISTEN_FDS says %d"):format(#list, n))
        end
    end
    local infos = {}
    for i = 1, n do
        local fd = LISTEN_FDS_START + i - 1
        local info, err = inspect(fd)
        if info == nil then
            return nil, OpError("file", "file+net", nil, "fd " .. fd, err)
        end
        infos[i] = info
        list[i] = list[i] or "unknown"
    end
    local objs = {}
    for i = 1, n do
        local fd = LISTEN_FDS_START + i - 1
        local rc = C.lnet_fd_adopt(fd)
        local obj, err
        if rc < 0 then
            err = SyscallError("fcntl", from_errno(-rc))
        else
            obj, err = open(fd, infos[i])
        end
        if obj == nil then
            for j = 1, i - 1 do
                objs[j]:close()
            end
            return nil, OpError("file", "file+net", nil, "fd " .. fd, err)
        end
        objs[i] = obj
    end
    return objs, list
end

return _M
