-- lnet.packet (private): packet conns. listen_packet for udp, udp4, udp6,
-- unixgram, raw IP (ip4:icmp, ip4:<n>, ip6:ipv6-icmp) and the ICMP datagram
-- socket (udp4:icmp, udp6:ipv6-icmp); and the connected packet conn that
-- lnet.dial makes for those networks.
--
-- As lnet.conn: each call is a fast path and a park, and errors are wrapped
-- once, here, into Go's OpError. The core moves one whole datagram per call
-- and reports its real length, so truncation is never silent
-- (core/packet.h).

local ffi = require "ffi"
local bit = require "bit"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local conn = require "lnet.conn"
local raw = require "lnet.raw"
local file = require "lnet.file"
local worker = require "lnet.worker"

ffi.cdef [[
struct lnet_packet;
struct lnet_packet *lnet_packet_open(struct lnet_loop *loop, int fd);
void lnet_packet_free(struct lnet_packet *p);
int lnet_packet_close(struct lnet_packet *p);
int lnet_packet_recvfrom(struct lnet_packet *p, struct lnet_op *op, char *buf, size_t max,
                         struct lnet_sockaddr *from, int *size);
int lnet_packet_sendto(struct lnet_packet *p, struct lnet_op *op, const char *buf, size_t len,
                       const struct lnet_sockaddr *to);
int lnet_packet_connect(struct lnet_packet *p, const struct lnet_sockaddr *a);
int lnet_packet_set_deadline(struct lnet_packet *p, int dirs, double t);
int lnet_packet_fd(const struct lnet_packet *p);
struct lnet_sock *lnet_packet_sock(struct lnet_packet *p);
]]

local C, K = sys.C, sys.const
local rbuf = sys.rbuf
local ffi_string, ffi_gc, ffi_new = ffi.string, ffi.gc, ffi.new
local band = bit.band
local setmetatable, type, error, tostring, pairs = setmetatable, type, error, tostring, pairs
local min = math.min
local retry, check_ctx = sched.retry, sched.check_ctx
local check_self, check_arg = errors.check_self, errors.check_arg

local DEFAULT_MAX = 65535
local IPV4_HEADER_MAX = 60
local OpError, SyscallError, from_errno = errors.OpError, errors.SyscallError, errors.from_errno
local ErrClosed = errors.ErrClosed
local code_error = conn.code_error

local _M = {}

-- Go's net.ErrWriteToConnected: write_to on a conn that dial connected.
_M.ErrWriteToConnected = errors.sentinel("use of WriteTo with pre-connected connection")

local sa = ffi_new("struct lnet_sockaddr") -- what a read fills in
local to = ffi_new("struct lnet_sockaddr") -- what a write sends to; refilled per try
local sizep = ffi_new("int[1]")

-- The address object for a kernel address; nil where the kernel named no
-- sender (an unbound unixgram socket), as Go has it.
local function addr_of(s, net)
    if s.len == 0 then
        return nil
    end
    return addr.from_sockaddr(s, net)
end

local PacketConn = {}
PacketConn.__index = PacketConn

-- Wraps fd (owned from here on); raddr is the peer of a connected conn.
local function open(fd, spec, family, raddr)
    local p = C.lnet_packet_open(sys.loop, fd)
    if p == nil then
        return nil, SyscallError("malloc", errors.errno.ENOMEM)
    end
    local self = setmetatable({
        p = ffi_gc(p, C.lnet_packet_free),
        net = spec.afnet,
        spec = spec,
        family = family,
        raddr = raddr,
        -- Raw IPv4 reads carry the IP header: Go strips it, and so do we.
        ip4hdr = spec.socktype == K.SOCK_RAW and family == K.AF_INET,
    }, PacketConn)
    if C.lnet_fd_sockname(fd, sa) == 0 then
        self.laddr = addr_of(sa, spec.name)
    end
    return self
end

-- A socket for spec in family, with Go's options (and SO_REUSEPORT for a
-- `lnet --workers` copy's UDP listener), then the control hook, if any,
-- told address; returns the fd in an int[1] (so it can be closed), or nil
-- and the error.
local function new_socket(spec, family, v6only, control, address, listening)
    local fdp = ffi_new("int[1]", C.lnet_fd_socket(family, spec.socktype, spec.proto or 0))
    local fd = fdp[0]
    if fd < 0 then
        return nil, SyscallError("socket", from_errno(-fd))
    end
    local rc = 0
    if family == K.AF_INET6 and spec.socktype ~= K.SOCK_RAW then
        rc = C.lnet_fd_setsockopt_int(fd, K.IPPROTO_IPV6, K.IPV6_V6ONLY, v6only and 1 or 0)
    end
    if rc == 0 and family ~= K.AF_UNIX then
        rc = C.lnet_fd_setsockopt_int(fd, K.SOL_SOCKET, K.SO_BROADCAST, 1)
    end
    if rc == 0 and listening and spec.udp and worker.id ~= nil then
        rc = C.lnet_fd_setsockopt_int(fd, K.SOL_SOCKET, K.SO_REUSEPORT, 1)
    end
    local err = rc < 0 and SyscallError("setsockopt", from_errno(-rc)) or nil
    if err == nil and control ~= nil then
        err = raw.run_hook(control, raw.hook_network(spec, family), tostring(address), fd)
    end
    if err ~= nil then
        C.lnet_fd_close(fdp)
        return nil, err
    end
    return fdp
end

-- Binds the socket in fdp to a, closing it on failure.
local function bind(fdp, a, family)
    local _, err = addr.to_sockaddr(sa, a, family, "bind")
    if err == nil then
        local rc = C.lnet_fd_bind(fdp[0], sa)
        if rc < 0 then
            err = SyscallError("bind", from_errno(-rc))
        end
    end
    if err ~= nil then
        C.lnet_fd_close(fdp)
    end
    return err
end

-- The options of listen_packet: {control = fn} (the hook, as a listen
-- config's); anything else raises.
local function control_of(opts)
    if opts == nil then
        return nil
    end
    check_arg(opts, "table", 3, "listen_packet", 2)
    for k in pairs(opts) do
        if k ~= "control" then
            error(("bad option '%s' to 'listen_packet' (unknown option)"):format(tostring(k)), 3)
        end
    end
    return raw.check_hook(opts.control, "listen_packet", 2) -- a tail call: listen_packet is next
end

-- listen_packet(network, address [, opts]): a PacketConn bound to address,
-- or nil and an OpError. A wildcard "udp" address is a dual-stack [::]
-- socket. opts: {control = fn}.
function _M.listen_packet(network, address, opts)
    check_arg(network, "string", 1, "listen_packet")
    local control = control_of(opts)
    local spec, a = addr.listen_target(network, address, true)
    if spec == nil then
        return nil, a
    end
    local family, v6only = addr.listen_family(spec, a)
    local fdp, err = new_socket(spec, family, v6only, control, a, true)
    err = err or bind(fdp, a, family)
    if err ~= nil then
        return nil, OpError("listen", network, nil, a, err)
    end
    local c
    c, err = open(fdp[0], spec, family)
    if c == nil then
        return nil, OpError("listen", network, nil, a, err)
    end
    return c
end

-- dial's hook for packet networks, with dial.lua's connect signature (d
-- the dialer, whose control hook runs before the bind and the connect): a
-- connected PacketConn, or nil and the error. connect(2) on a datagram
-- socket only fixes the peer, so there is nothing to wait for and the
-- deadline and ctx that bound a stream connect have nothing to bound.
function _M.connect(d, spec, a, local_addr)
    local family = addr.dial_family(spec, a, local_addr)
    local fdp, err = new_socket(spec, family, spec.v == 6, d.control, a, false)
    if fdp == nil then
        return nil, err
    end
    if local_addr ~= nil then
        err = bind(fdp, local_addr, family)
        if err ~= nil then
            return nil, err
        end
    end
    local _
    _, err = addr.to_sockaddr(to, a, family, "connect")
    if err ~= nil then
        C.lnet_fd_close(fdp)
        return nil, err
    end
    local c
    c, err = open(fdp[0], spec, family, a)
    if c == nil then
        return nil, err
    end
    local rc = C.lnet_packet_connect(c.p, to)
    if rc < 0 then
        C.lnet_packet_close(c.p)
        return nil, SyscallError("connect", from_errno(-rc))
    end
    -- Both ends as the kernel has them, as Go reads them after connect: a
    -- wildcard dial reached some local address.
    local fd = C.lnet_packet_fd(c.p)
    if C.lnet_fd_sockname(fd, sa) == 0 then
        c.laddr = addr_of(sa, spec.name)
    end
    if C.lnet_fd_peername(fd, sa) == 0 then
        c.raddr = addr_of(sa, spec.name)
    end
    return c
end

function PacketConn:op_error(op, err, raddr)
    return OpError(op, self.net, self.laddr, raddr or self.raddr, err)
end

-- Reads one datagram into rbuf: at most max bytes of it (raw IPv4: more,
-- by the header read_from strips), the sender into sa when `from`, the
-- real size into sizep.
local function recvfrom(self, op, max, from)
    local room = max
    if from and self.ip4hdr then
        room = min(max + IPV4_HEADER_MAX, conn.RBUF_SIZE)
    end
    return C.lnet_packet_recvfrom(self.p, op, rbuf, room, from and sa or nil, sizep)
end

-- read_from's result: the datagram in rbuf (n bytes, or n < 0: the error),
-- at most max bytes of it; the IP header of a raw IPv4 datagram stripped
-- (Go's ReadFrom does, its Read does not), its TTL kept; info.size the real
-- length, nil where the kernel did not say (it was cut).
local function read_from_done(self, n, err, max)
    if n < 0 then
        return nil, self:op_error("read", err or code_error(n, "recvfrom"))
    end
    local size, off, ttl = sizep[0], 0, nil
    if self.ip4hdr and n >= 20 then
        local hl = band(rbuf[0], 0x0f) * 4
        if band(rbuf[0], 0xf0) == 0x40 and hl >= 20 and hl <= n then
            off, ttl = hl, band(rbuf[8], 0xff)
        end
    end
    local data = ffi_string(rbuf + off, min(n - off, max))
    if size < 0 then
        size = nil
    else
        size = size - off
    end
    return data, addr_of(sa, self.spec.name), { truncated = size == nil or size > #data, size = size, ttl = ttl }
end

local READ_FROM_CALL = { recvfrom, read_from_done }

-- read_from([max [, ctx]]): data, addr, info for the next datagram, where
-- info.truncated says it was longer than max and info.size is its real
-- length (nil where the kernel does not say: ICMP datagram sockets);
-- info.ttl is the IPv4 TTL on raw ip4 networks. max defaults to 65,535 and
-- is capped at 64 KiB; a max of 0 takes the datagram and returns "".
function PacketConn:read_from(max, ctx)
    check_self(self, PacketConn, "packet conn", "read_from")
    max = conn.read_max(max, "read_from", DEFAULT_MAX)
    check_ctx(ctx, 2, "read_from")
    return retry(READ_FROM_CALL, self, ctx, max, true)
end

local function read_done(self, n, err)
    if n < 0 then
        return nil, self:op_error("read", err or code_error(n, "read"))
    end
    return ffi_string(rbuf, n)
end

local READ_CALL = { recvfrom, read_done }

-- read([max [, ctx]]): the next datagram's data (at most max bytes; "" for
-- an empty datagram; a raw IPv4 one with its header). read_from says
-- whether it was cut. read(0) is "" at once and takes nothing, as Go's.
function PacketConn:read(max, ctx)
    check_self(self, PacketConn, "packet conn", "read")
    max = conn.read_max(max, "read", DEFAULT_MAX)
    check_ctx(ctx, 2, "read")
    if max < 1 then
        if C.lnet_packet_fd(self.p) < 0 then
            return nil, self:op_error("read", ErrClosed)
        end
        return ""
    end
    return retry(READ_CALL, self, ctx, max, false)
end

-- One try of a send of s: the destination (nil: the connected peer) is
-- filled in again on every try, as another task's write may have used the
-- shared `to` while this one waited.
local function send_try(self, op, s, dest)
    local target = nil
    if dest ~= nil then
        target = to
        addr.to_sockaddr(to, dest, self.family, "sendto")
    end
    return C.lnet_packet_sendto(self.p, op, s, #s, target)
end

local WRITE_TO_CALL = { send_try, function(self, rc, err, s, dest)
    if rc < 0 then
        return nil, OpError("write", self.net, self.laddr, dest, err or code_error(rc, "sendto"))
    end
    return #s
end }

local WRITE_CALL = { send_try, function(self, rc, err, s)
    if rc < 0 then
        return 0, self:op_error("write", err or code_error(rc, "write"))
    end
    return #s
end }

local function string_arg(s, name)
    if type(s) ~= "string" then
        error("bad argument #1 to '" .. name .. "' (string expected, got " .. type(s) .. ")", 3)
    end
end

-- write_to(data, addr [, ctx]): #data once the datagram went out whole, or
-- nil and an OpError (EMSGSIZE when it is too big: nothing is split). addr
-- is an address object or a string; a host name is resolved on each call.
function PacketConn:write_to(s, address, ctx)
    check_self(self, PacketConn, "packet conn", "write_to")
    string_arg(s, "write_to")
    check_ctx(ctx, 3, "write_to")
    local dest = address
    if type(address) == "string" then
        local addrs, err = addr.resolve(self.spec, address, false, nil, ctx)
        if addrs == nil then
            return nil, self:op_error("write", err)
        end
        dest = addrs[1]
    elseif not addr.is_addr(address) then
        error("bad argument #2 to 'write_to' (address expected, got " .. type(address) .. ")", 2)
    elseif address:network() ~= addr.addr_network(self.spec) then
        -- Go's WriteTo takes only its own kind of address (a UDPAddr on a
        -- UDPConn): any other is EINVAL, before anything is sent.
        return nil, OpError("write", self.net, self.laddr, address, errors.errno.EINVAL)
    end
    if self.raddr ~= nil then
        return nil, OpError("write", self.net, self.laddr, dest, _M.ErrWriteToConnected)
    end
    local _, err = addr.to_sockaddr(to, dest, self.family, "sendto")
    if err ~= nil then
        return nil, OpError("write", self.net, self.laddr, dest, err)
    end
    return retry(WRITE_TO_CALL, self, ctx, s, dest)
end

-- write(s [, ctx]): s as one datagram to the connected peer: #s, or 0 and
-- an OpError (a conn's write contract; a datagram goes whole or not at all).
function PacketConn:write(s, ctx)
    check_self(self, PacketConn, "packet conn", "write")
    string_arg(s, "write")
    check_ctx(ctx, 2, "write")
    return retry(WRITE_CALL, self, ctx, s, nil)
end

function PacketConn:close()
    check_self(self, PacketConn, "packet conn", "close")
    local rc = C.lnet_packet_close(self.p)
    if rc < 0 then
        return nil, self:op_error("close", code_error(rc, "close"))
    end
    return true
end

-- local_addr(), remote_addr(): kept from open, so they work after close;
-- remote_addr is nil unless dial connected the conn.
function PacketConn:local_addr()
    check_self(self, PacketConn, "packet conn", "local_addr")
    return self.laddr
end

function PacketConn:remote_addr()
    check_self(self, PacketConn, "packet conn", "remote_addr")
    return self.raddr
end

function PacketConn:fd()
    return C.lnet_packet_fd(self.p)
end

function PacketConn:core_set_deadline(dirs, t)
    return C.lnet_packet_set_deadline(self.p, dirs, t)
end

function PacketConn:set_error(err)
    return nil, OpError("set", self.net, nil, self.laddr, err)
end

-- Deadlines and buffer sizes, as on conns.
conn.add_setters(PacketConn, function(self, fname)
    check_self(self, PacketConn, "packet conn", fname)
end)

-- syscall_conn(): the raw socket (lnet.raw), Go's SyscallConn.
function PacketConn:syscall_conn()
    check_self(self, PacketConn, "packet conn", "syscall_conn")
    return raw.new(self, C.lnet_packet_sock(self.p), self.net, self.laddr, self.raddr)
end

-- file(): a file object holding a dup of the socket (Go's File), or nil
-- and an OpError ("file").
function PacketConn:file()
    check_self(self, PacketConn, "packet conn", "file")
    local fd = C.lnet_packet_fd(self.p)
    local f, err = nil, ErrClosed
    if fd >= 0 then
        f, err = file.dup(fd, file.name_of(self.net, self.laddr, self.raddr))
    end
    if f == nil then
        return nil, self:op_error("file", err)
    end
    return f
end

-- from_fd(fd, spec, family): a PacketConn over a datagram or raw socket
-- that came from elsewhere (lnet.file_packet_conn), connected or not as
-- the kernel says; nil and the error if the core cannot take it.
function _M.from_fd(fd, spec, family)
    local c, err = open(fd, spec, family)
    if c ~= nil and C.lnet_fd_peername(fd, sa) == 0 then
        c.raddr = addr_of(sa, spec.name)
    end
    return c, err
end

function PacketConn:__tostring()
    check_self(self, PacketConn, "packet conn", "tostring")
    local s = "packet conn " .. self.net .. " " .. tostring(self.laddr)
    if self.raddr ~= nil then
        s = s .. "->" .. tostring(self.raddr)
    end
    return s
end

_M.PacketConn = PacketConn

return _M
