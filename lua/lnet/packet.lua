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
]]

local C, K = sys.C, sys.const
local rbuf = sys.rbuf
local ffi_string, ffi_gc, ffi_new = ffi.string, ffi.gc, ffi.new
local band = bit.band
local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local min = math.min
local self_task, retry, check_ctx = sched.self_task, sched.retry, sched.check_ctx
local check_self = errors.check_self

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

-- A socket for spec in family, with Go's options; returns the fd in an
-- int[1] (so it can be closed), or nil and the error.
local function new_socket(spec, family, v6only)
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
    if rc < 0 then
        C.lnet_fd_close(fdp)
        return nil, SyscallError("setsockopt", from_errno(-rc))
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

-- listen_packet(network, address): a PacketConn bound to address, or nil
-- and an OpError. A wildcard "udp" address is a dual-stack [::] socket.
function _M.listen_packet(network, address)
    if type(network) ~= "string" then
        error("bad argument #1 to 'listen_packet' (string expected, got " .. type(network) .. ")", 2)
    end
    local spec, a = addr.listen_target(network, address, true)
    if spec == nil then
        return nil, a
    end
    local family, v6only = addr.listen_family(spec, a)
    local fdp, err = new_socket(spec, family, v6only)
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

-- dial's hook for packet networks, with dial.lua's connect signature: a
-- connected PacketConn, or nil and the error. connect(2) on a datagram
-- socket only fixes the peer, so there is nothing to wait for and the
-- deadline and ctx that bound a stream connect have nothing to bound.
function _M.connect(_, spec, a, local_addr)
    local family = addr.dial_family(spec, a, local_addr)
    local fdp, err = new_socket(spec, family, spec.v == 6)
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

-- One datagram: data, size (nil: cut, length unknown), ttl (raw IPv4 only),
-- or nil and the unwrapped error. from, unless nil, gets the sender, and
-- the IP header of a raw IPv4 datagram is stripped (Go's ReadFrom does,
-- its Read does not).
local function recv(self, max, from, ctx, syscall)
    local t = self_task(3)
    local op, p = t.op, self.p
    local strip = self.ip4hdr and from ~= nil
    local room = max
    if strip then
        room = min(max + IPV4_HEADER_MAX, conn.RBUF_SIZE)
    end
    local n, err = retry(t, ctx, C.lnet_packet_recvfrom, p, op, rbuf, room, from, sizep)
    if n < 0 then
        return nil, err or code_error(n, syscall)
    end
    local size, off, ttl = sizep[0], 0, nil
    if strip and n >= 20 then
        local hl = band(rbuf[0], 0x0f) * 4
        if band(rbuf[0], 0xf0) == 0x40 and hl >= 20 and hl <= n then
            off, ttl = hl, band(rbuf[8], 0xff)
        end
    end
    local len = min(n - off, max)
    if size < 0 then
        size = nil
    else
        size = size - off
    end
    return ffi_string(rbuf + off, len), size, ttl
end

-- read_from([max [, ctx]]): data, addr, info for the next datagram, where
-- info.truncated says it was longer than max and info.size is its real
-- length (nil where the kernel does not say: ICMP datagram sockets);
-- info.ttl is the IPv4 TTL on raw ip4 networks. max defaults to 65,535 and
-- is capped at 64 KiB; a max of 0 takes the datagram and returns "".
function PacketConn:read_from(max, ctx)
    check_self(self, PacketConn, "packet conn", "read_from")
    max = conn.read_max(max, "read_from", DEFAULT_MAX)
    check_ctx(ctx, 2, "read_from")
    local data, size, ttl = recv(self, max, sa, ctx, "recvfrom")
    if data == nil then
        return nil, self:op_error("read", size)
    end
    return data, addr_of(sa, self.spec.name), { truncated = size == nil or size > #data, size = size, ttl = ttl }
end

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
    local data, err = recv(self, max, nil, ctx, "read")
    if data == nil then
        return nil, self:op_error("read", err)
    end
    return data
end

-- One try of a send: the destination is filled in again on every try, as
-- another task's write may have used the shared `to` while this one waited.
local function send_try(p, op, s, len, dest, family)
    local target = nil
    if dest ~= nil then
        target = to
        addr.to_sockaddr(to, dest, family, "sendto")
    end
    return C.lnet_packet_sendto(p, op, s, len, target)
end

-- One send of s to `dest` (an address object, or nil: the connected peer):
-- nil on success, else the unwrapped error.
local function send(self, s, dest, ctx, syscall)
    local t = self_task(3)
    if dest ~= nil then
        local _, err = addr.to_sockaddr(to, dest, self.family, syscall)
        if err ~= nil then
            return err
        end
    end
    local rc, err = retry(t, ctx, send_try, self.p, t.op, s, #s, dest, self.family)
    if rc < 0 then
        return err or code_error(rc, syscall)
    end
    return nil
end

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
    local err = send(self, s, dest, ctx, "sendto")
    if err ~= nil then
        return nil, OpError("write", self.net, self.laddr, dest, err)
    end
    return #s
end

-- write(s [, ctx]): s as one datagram to the connected peer: #s, or 0 and
-- an OpError (a conn's write contract; a datagram goes whole or not at all).
function PacketConn:write(s, ctx)
    check_self(self, PacketConn, "packet conn", "write")
    string_arg(s, "write")
    check_ctx(ctx, 2, "write")
    local err = send(self, s, nil, ctx, "write")
    if err ~= nil then
        return 0, self:op_error("write", err)
    end
    return #s
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
conn.add_setters(PacketConn, "packet conn")

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
