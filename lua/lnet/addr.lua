-- lnet.addr (private): networks, the address objects conns and listeners
-- hand out, and the parsing of Go's address strings ("127.0.0.1:80",
-- "[::1]:8080", ":0", "localhost:http", "/tmp/sock", "@abstract") into the
-- socket addresses the core takes.

local ffi = require "ffi"
local sys = require "lnet.sys"
local ip = require "lnet.ip"
local errors = require "lnet.errors"

local C, K = sys.C, sys.const
local ffi_string, ffi_new = ffi.string, ffi.new
local setmetatable, getmetatable, tostring, tonumber, type, error, pairs =
    setmetatable, getmetatable, tostring, tonumber, type, error, pairs
local byte, sub, find, match = string.byte, string.sub, string.find, string.match
local open = io.open

local _M = {}

ffi.cdef [[
unsigned int if_nametoindex(const char *ifname);
char *if_indextoname(unsigned int ifindex, char *ifname);
]]

-- What each network name means. `v` restricts IP networks to one family;
-- `packet` marks datagram networks (listen_packet; dial gives a packet
-- conn); `bare` marks networks whose addresses are IPs with no port (Go's
-- IPAddr); `proto` is the socket's protocol.
local networks = {
    tcp = { kind = "ip", socktype = K.SOCK_STREAM, tcp = true },
    tcp4 = { kind = "ip", socktype = K.SOCK_STREAM, tcp = true, v = 4 },
    tcp6 = { kind = "ip", socktype = K.SOCK_STREAM, tcp = true, v = 6 },
    unix = { kind = "unix", socktype = K.SOCK_STREAM },
    unixpacket = { kind = "unix", socktype = K.SOCK_SEQPACKET },
    udp = { kind = "ip", socktype = K.SOCK_DGRAM, udp = true, packet = true },
    udp4 = { kind = "ip", socktype = K.SOCK_DGRAM, udp = true, packet = true, v = 4 },
    udp6 = { kind = "ip", socktype = K.SOCK_DGRAM, udp = true, packet = true, v = 6 },
    unixgram = { kind = "unix", socktype = K.SOCK_DGRAM, packet = true },
}
-- name is the network as given; afnet what a socket's own errors name
-- (Go's fd.net: "ip4" for "ip4:icmp").
for name, spec in pairs(networks) do
    spec.name, spec.afnet = name, name
end

-- IP protocol numbers by name, as Go's lookupProtocol: its own few, then
-- /etc/protocols (which adds names but changes none), any letter case.
local protocols
local function lookup_protocol(name)
    if protocols == nil then
        protocols = { icmp = 1, igmp = 2, tcp = 6, udp = 17, ["ipv6-icmp"] = 58 }
        local f = open("/etc/protocols")
        if f ~= nil then
            for line in f:lines() do
                -- "tcp 6 TCP # transmission control protocol"
                local name, num, aliases = match(match(line, "^[^#]*"), "^%s*(%S+)%s+(%d+)%S*(.*)$")
                if name ~= nil then
                    num = tonumber(num)
                    protocols[name] = protocols[name] or num
                    for alias in aliases:gmatch("%S+") do
                        protocols[alias] = protocols[alias] or num
                    end
                end
            end
            f:close()
        end
    end
    return protocols[name:lower()]
end

-- Go's parseNetwork for "ip4:icmp", "ip6:58", "ip:tcp": raw IP, as Go's
-- IPConn (plain "ip" takes its family from the address). "udp4:icmp" and
-- "udp6:ipv6-icmp": the ICMP datagram ("ping") socket, which needs no
-- privilege where net.ipv4.ping_group_range allows it. Made on first use;
-- nil and the error for a name that is none of these.
local function proto_network(name)
    local afnet, protostr = match(name, "^(.*):([^:]*)$")
    local base, v = match(afnet or "", "^(%a+)([46]?)$")
    if base ~= "ip" and not (base == "udp" and v ~= "") then
        return nil, errors.UnknownNetworkError(name)
    end
    local proto = match(protostr, "^%d+$") and tonumber(protostr) or lookup_protocol(protostr)
    if proto == nil then
        return nil, errors.AddrError("unknown IP protocol specified", protostr)
    end
    local socktype = K.SOCK_RAW
    if base == "udp" then
        if proto ~= (v == "4" and 1 or 58) then
            return nil, errors.UnknownNetworkError(name)
        end
        socktype = K.SOCK_DGRAM
    end
    local spec = { kind = "ip", socktype = socktype, proto = proto, v = tonumber(v), packet = true, bare = true,
                   name = name, afnet = afnet }
    networks[name] = spec
    return spec
end

-- The spec of a network, or nil and UnknownNetworkError (or AddrError for
-- an IP protocol no one knows).
function _M.network(name)
    if type(name) ~= "string" then
        return nil, errors.UnknownNetworkError(tostring(name))
    end
    local spec = networks[name]
    if spec == nil then
        return proto_network(name)
    end
    return spec
end

-- Whether this host can make IPv6 sockets (decides the wildcard listen).
local ipv6_ok
function _M.supports_ipv6()
    if ipv6_ok == nil then
        local fd = ffi_new("int[1]", C.lnet_fd_socket(K.AF_INET6, K.SOCK_STREAM, 0))
        ipv6_ok = fd[0] >= 0
        C.lnet_fd_close(fd)
    end
    return ipv6_ok
end

-- Address objects -------------------------------------------------------

-- IP addresses: .ip (an lnet.ip value), .port, .zone. Printed as Go's
-- TCPAddr is: an IPv4-mapped IPv6 address prints as IPv4. The address of an
-- empty host (":80") has .noip set: Go's address with no IP, the wildcard
-- of whichever family the socket has, printed with an empty host.
local IPAddr = {}
IPAddr.__index = IPAddr

-- As Go's TCPAddr, UDPAddr and IPAddr: "tcp", "udp" or "ip", whichever
-- network of the family made the address.
function IPAddr:network()
    return match(self.net, "^%a+")
end

function IPAddr:__tostring()
    local s = self.text
    if s == nil then
        local host = self.noip and "" or tostring(self.ip:unmap():with_zone(""))
        if self.zone ~= "" then
            host = host .. "%" .. self.zone
        end
        s = self.port and _M.join_host_port(host, self.port) or host
        self.text = s
    end
    return s
end

function _M.ip_addr(net, ipv, port, zone)
    return setmetatable({ net = net, ip = ipv, port = port, zone = zone or ipv:zone() }, IPAddr)
end

-- Unix addresses: .name, the path ("@name" for the abstract namespace).
local UnixAddr = {}
UnixAddr.__index = UnixAddr

function UnixAddr:network()
    return self.net
end

function UnixAddr:__tostring()
    return self.name
end

function _M.unix_addr(net, name)
    return setmetatable({ net = net, name = name }, UnixAddr)
end

function _M.is_addr(v)
    local mt = getmetatable(v)
    return mt == IPAddr or mt == UnixAddr
end

local lenp = ffi_new("size_t[1]")
local ifname = ffi_new("char[64]")

local function zone_of(scope)
    if scope == 0 then
        return ""
    end
    if C.if_indextoname(scope, ifname) ~= nil then
        return ffi_string(ifname)
    end
    return tostring(scope)
end

-- The address object for a socket address the kernel filled in.
function _M.from_sockaddr(sa, net)
    local family = C.lnet_sockaddr_family(sa)
    if family == K.AF_UNIX then
        local p = C.lnet_sockaddr_path(sa, lenp)
        local name = ffi_string(p, lenp[0])
        if name == "" or byte(name, 1) == 0 then
            -- Abstract, or unnamed (as a dialing socket is): Go shows "@",
            -- and the name up to a NUL in it.
            local nul = find(name, "\0", 2, true)
            name = "@" .. sub(name, 2, nul and nul - 1)
        end
        return _M.unix_addr(net, name)
    end
    local b = C.lnet_sockaddr_ip_bytes(sa, lenp)
    if b == nil then
        return nil
    end
    local zone = zone_of(C.lnet_sockaddr_scope(sa))
    local ipv = ip.addr_from_bytes(ffi_string(b, lenp[0]))
    if zone ~= "" then
        ipv = ipv:with_zone(zone)
    end
    local spec, port = networks[net], nil
    if not (spec and spec.bare) then
        port = C.lnet_sockaddr_port(sa)
    end
    return _M.ip_addr(net, ipv, port, zone)
end

-- Fills sa for an address object, for the syscall named (an address the
-- kernel cannot take is that syscall's EINVAL, as Go reports it); returns
-- sa, or nil and an error.
function _M.to_sockaddr(sa, a, family, syscall)
    local rc
    if a.name ~= nil then
        rc = C.lnet_sockaddr_unix(sa, a.name, #a.name)
    else
        local ipv = a.ip
        if family == K.AF_INET then
            ipv = a.noip and ip.ipv4_unspecified() or ipv:unmap()
            if not ipv:is4() then
                return nil, errors.AddrError("non-IPv4 address", tostring(ipv))
            end
        elseif a.noip or ipv:unmap() == ip.ipv4_unspecified() then
            -- The IPv4 wildcard on an IPv6 socket means "::", as in Go.
            ipv = ip.ipv6_unspecified()
        end
        local b = ipv:bytes()
        if family == K.AF_INET6 and #b == 4 then
            -- An IPv4 target on an IPv6 socket: the mapped form, as Go does.
            b = "\0\0\0\0\0\0\0\0\0\0\255\255" .. b
        end
        local scope = 0
        if a.zone ~= "" then
            scope = tonumber(a.zone) or C.if_nametoindex(a.zone)
        end
        rc = C.lnet_sockaddr_ip(sa, b, #b, a.port or 0, scope)
    end
    if rc < 0 then
        return nil, errors.SyscallError(syscall, errors.from_errno(-rc))
    end
    return sa
end

-- Go's address strings --------------------------------------------------

local function addr_error(msg, addr)
    return nil, errors.AddrError(msg, addr)
end

-- JoinHostPort: brackets for hosts with a colon (IPv6 literals). The port
-- is a string, as Go's, or a number.
function _M.join_host_port(host, port)
    errors.check_arg(host, "string", 1, "join_host_port")
    if type(port) ~= "string" and type(port) ~= "number" then
        error("bad argument #2 to 'join_host_port' (string or number expected, got " .. type(port) .. ")", 2)
    end
    if find(host, ":", 1, true) then
        return "[" .. host .. "]:" .. port
    end
    return host .. ":" .. port
end

-- SplitHostPort, with Go's errors and their texts: host, port (strings), or
-- nil and an AddrError.
function _M.split_host_port(hostport)
    errors.check_arg(hostport, "string", 1, "split_host_port")
    local missing_port, too_many = "missing port in address", "too many colons in address"
    local last = match(hostport, "^.*():")
    if last == nil then
        return addr_error(missing_port, hostport)
    end
    local host
    -- From where on a '[' or a ']' is out of place, port included.
    local no_open, no_close = 1, 1
    if byte(hostport, 1) == 91 then -- '['
        local close = find(hostport, "]", 1, true)
        if close == nil then
            return addr_error("missing ']' in address", hostport)
        end
        if close == #hostport then
            return addr_error(missing_port, hostport)
        elseif close + 1 ~= last then
            if byte(hostport, close + 1) == 58 then
                return addr_error(too_many, hostport)
            end
            return addr_error(missing_port, hostport)
        end
        host = sub(hostport, 2, close - 1)
        no_open, no_close = 2, close + 1
    else
        host = sub(hostport, 1, last - 1)
        if find(host, ":", 1, true) then
            return addr_error(too_many, hostport)
        end
    end
    if find(hostport, "[", no_open, true) then
        return addr_error("unexpected '[' in address", hostport)
    end
    if find(hostport, "]", no_close, true) then
        return addr_error("unexpected ']' in address", hostport)
    end
    return host, sub(hostport, last + 1)
end

-- Service names: Go's own few, then /etc/services over them (a later line
-- wins, as in Go), read once when a port is first given by name.
local services
local function load_services()
    services = {
        tcp = { ftp = 21, ftps = 990, gopher = 70, http = 80, https = 443, imap2 = 143, imap3 = 220,
                imaps = 993, pop3 = 110, pop3s = 995, smtp = 25, ssh = 22, telnet = 23 },
        udp = { domain = 53 },
    }
    local f = open("/etc/services")
    if f == nil then
        return
    end
    for line in f:lines() do
        line = match(line, "^[^#]*")
        local name, port, proto, aliases = match(line, "^(%S+)%s+(%d+)/(%a+)(.*)$")
        local t = services[proto]
        port = tonumber(port)
        if t ~= nil and port > 0 then
            t[name] = port
            for alias in aliases:gmatch("%S+") do
                t[alias] = port
            end
        end
    end
    f:close()
end

-- A port: decimal with an optional sign (Go parses one, then rejects
-- what is out of 0..65535), or a service name for the network's protocol.
-- An empty port is 0, as in Go.
function _M.parse_port(net, service)
    if service == "" then
        return 0
    end
    if match(service, "^[+-]?%d*$") then
        local port = tonumber(match(service, "^[+-]?(%d*)$")) or 0
        if port > 65535 or (port ~= 0 and byte(service, 1) == 45) then -- '-'
            return addr_error("invalid port", service)
        end
        return port
    end
    if services == nil then
        load_services()
    end
    -- Go's lookupPortMap: by family ("tcp4" is "tcp"), any letter case.
    local proto = match(net, "^%a+")
    local port = services[proto] and services[proto][service:lower()]
    if port == nil then
        return nil,
            errors.DNSError({ err = "unknown port", name = proto .. "/" .. service, is_not_found = true })
    end
    return port
end

local function family_fits(spec, ipv)
    if spec.v == 4 then
        return ipv:is4() or ipv:is4in6()
    elseif spec.v == 6 then
        return ipv:is6() and not ipv:is4in6()
    end
    return true
end

-- The resolver of names no caller chose: lnet.resolver sets it when it
-- loads (it needs this module, so this one cannot require it).
_M.default_resolver = nil

-- The IPs of host (a literal or a name), filtered to the network's family
-- as Go's filterAddrList does, so a name of the other family only is "no
-- suitable address found".
local function lookup(spec, host, resolver, ctx)
    local ips, err
    local literal = ip.parse_addr(host)
    if literal ~= nil then
        ips = { literal }
        if literal == ip.ipv6_unspecified() then
            -- Go's issue 18806: where "::" binds but cannot be connected
            -- back to, 0.0.0.0 comes next (and is all a "tcp4" has).
            ips[2] = ip.ipv4_unspecified()
        end
    else
        ips, err = (resolver or _M.default_resolver):resolve_ips(ctx, spec.v, host)
        if ips == nil then
            return nil, err
        end
    end
    local fit = {}
    for i = 1, #ips do
        if family_fits(spec, ips[i]) then
            fit[#fit + 1] = ips[i]
        end
    end
    if #fit == 0 then
        return addr_error("no suitable address found", host)
    end
    return fit
end

-- The network() of the network's own address objects: "tcp", "udp", "ip",
-- or the unix network's name.
function _M.addr_network(spec)
    return spec.kind == "unix" and spec.name or match(spec.name, "^%a+")
end

-- of_kind(spec, a, why): a, if an address object of the network's kind (Go's
-- types see to that); else nil and an AddrError saying why.
function _M.of_kind(spec, a, why)
    if a:network() ~= _M.addr_network(spec) then
        return addr_error(why, tostring(a))
    end
    return a
end

-- resolve(spec, address, for_listen [, resolver, ctx]): the list of address
-- objects to dial, or the one to listen on; nil and an AddrError or
-- DNSError. An empty host means the wildcard (listen) or the local system
-- (dial); an empty address to listen on is the wildcard with port 0, as in
-- Go. A name goes to resolver (the default one if nil), bounded by ctx.
function _M.resolve(spec, address, for_listen, resolver, ctx)
    if type(address) ~= "string" then
        if not _M.is_addr(address) then
            error("bad address (string or address object expected, got " .. type(address) .. ")", 3)
        end
        local a, err = _M.of_kind(spec, address, "unexpected address type")
        return a and { a }, err
    end
    if address == "" and not for_listen then
        return nil, errors.ErrMissingAddress
    end
    if spec.kind == "unix" then
        return { _M.unix_addr(spec.name, address) }
    end
    local host, portnum = address, nil
    if not spec.bare then
        local port, perr = "", nil
        if address ~= "" then
            host, port = _M.split_host_port(address)
        end
        if host == nil then
            return nil, port
        end
        portnum, perr = _M.parse_port(spec.name, port)
        if portnum == nil then
            return nil, perr
        end
    end
    local ips, err
    if host == "" then
        -- The wildcard: dual-stack [::] to listen on; to dial, IPv4's, as Go
        -- picks the family of an address with no IP.
        local v6 = spec.v == 6 or spec.v == nil and for_listen and _M.supports_ipv6()
        ips = { v6 and ip.ipv6_unspecified() or ip.ipv4_unspecified() }
    else
        ips, err = lookup(spec, host, resolver, ctx)
        if ips == nil then
            return nil, err
        end
    end
    if for_listen and #ips > 1 and spec.v == nil then
        -- A name for "tcp" listens on its first IPv4 address, as Go does.
        for i = 1, #ips do
            if ips[i]:is4() then
                ips = { ips[i] }
                break
            end
        end
    end
    local addrs = {}
    for i = 1, #ips do
        addrs[i] = _M.ip_addr(spec.name, ips[i], portnum)
    end
    addrs[1].noip = host == "" or nil
    return addrs
end

-- listen_target(network, address, packet): what listen (packet false) or
-- listen_packet (packet true) binds: the network's spec and the address
-- object; or nil and the OpError to return. Each refuses the other kind of
-- network, as Go's Listen and ListenPacket do for tcp and udp.
function _M.listen_target(network, address, packet)
    local spec, err = _M.network(network)
    if spec == nil then
        return nil, errors.OpError("listen", network, nil, nil, err)
    end
    local addrs
    addrs, err = _M.resolve(spec, address, true)
    if addrs == nil then
        return nil, errors.OpError("listen", network, nil, nil, err)
    end
    local a = addrs[1]
    if (spec.packet or false) ~= packet then
        return nil,
            errors.OpError("listen", network, nil, a, errors.AddrError("unexpected address type", tostring(address)))
    end
    return spec, a
end

local function is_ipv4(a)
    return a.noip or a.ip:is4() or a.ip:is4in6()
end

-- Go's isWildcard: no IP, "::", or 0.0.0.0 in either form.
local function is_wildcard(a)
    return a.noip or a.ip:unmap():is_unspecified()
end

-- The addresses a dial from local address la may try: those of la's family,
-- unless either end is a wildcard (Go's resolveAddrList); nil and an
-- AddrError when none is left.
function _M.dialable(addrs, la)
    if la == nil or la.name ~= nil or is_wildcard(la) then
        return addrs
    end
    local kept = {}
    for i = 1, #addrs do
        local a = addrs[i]
        if a.name ~= nil or is_wildcard(a) or is_ipv4(a) == is_ipv4(la) then
            kept[#kept + 1] = a
        end
    end
    if #kept == 0 then
        return addr_error("no suitable address found", tostring(la))
    end
    return kept
end

-- The socket family, and IPV6_V6ONLY, for Go's favoriteAddrFamily: "tcp4"
-- and "tcp6" have theirs. Otherwise a wildcard to listen on is a dual-stack
-- IPv6 socket (Go does this for 0.0.0.0 too); a dial is IPv4 when both its
-- ends are (la, the local address, may be nil); else IPv6.
local function family(spec, ipv4)
    if spec.v == 4 or spec.v == nil and ipv4 then
        return K.AF_INET
    end
    return K.AF_INET6, spec.v == 6
end

function _M.listen_family(spec, a)
    if a.name ~= nil then
        return K.AF_UNIX
    end
    return family(spec, is_ipv4(a) and not (is_wildcard(a) and _M.supports_ipv6()))
end

function _M.dial_family(spec, a, la)
    if a.name ~= nil then
        return K.AF_UNIX
    end
    return family(spec, is_ipv4(a) and (la == nil or is_ipv4(la)))
end

return _M
