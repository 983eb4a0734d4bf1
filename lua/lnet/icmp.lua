-- lnet.icmp: ICMP messages and the sockets that carry them, after Go's
-- golang.org/x/net/icmp.
--
-- Messages are plain tables: {type, code, checksum, id, seq, data} for echo
-- requests and replies, {type, code, checksum, body} for the rest (body is
-- everything after the 4-byte header). `encode` computes the ICMPv4
-- checksum; for ICMPv6 the checksum covers a pseudo-header of addresses only
-- the kernel knows, and Linux fills it in on every ICMPv6 socket, so
-- `encode{..., v6 = true}` leaves it 0.

local bit = require "bit"
local errors = require "lnet.errors"
local packet = require "lnet.packet"

local band, bor, bnot, rshift, lshift = bit.band, bit.bor, bit.bnot, bit.rshift, bit.lshift
local byte, char, sub = string.byte, string.char, string.sub
local type, error = type, error

local _M = {}

-- Message types (IANA "ICMP Type Numbers" and "ICMPv6 Parameters").
_M.v4 = {
    echo_reply = 0,
    destination_unreachable = 3,
    redirect = 5,
    echo_request = 8,
    router_advertisement = 9,
    router_solicitation = 10,
    time_exceeded = 11,
    parameter_problem = 12,
    timestamp = 13,
    timestamp_reply = 14,
    extended_echo_request = 42,
    extended_echo_reply = 43,
}
_M.v6 = {
    destination_unreachable = 1,
    packet_too_big = 2,
    time_exceeded = 3,
    parameter_problem = 4,
    echo_request = 128,
    echo_reply = 129,
    multicast_listener_query = 130,
    multicast_listener_report = 131,
    multicast_listener_done = 132,
    router_solicitation = 133,
    router_advertisement = 134,
    neighbor_solicitation = 135,
    neighbor_advertisement = 136,
    redirect = 137,
    extended_echo_request = 160,
    extended_echo_reply = 161,
}

local echo = {
    [false] = { [_M.v4.echo_request] = true, [_M.v4.echo_reply] = true },
    [true] = { [_M.v6.echo_request] = true, [_M.v6.echo_reply] = true },
}

-- checksum(s): the Internet checksum (RFC 1071) of s: the ones' complement
-- of the ones' complement sum of its 16-bit big-endian words, an odd last
-- byte padded with zero.
function _M.checksum(s)
    local sum, n = 0, #s
    for i = 1, n - 1, 2 do
        local hi, lo = byte(s, i, i + 1)
        sum = sum + hi * 256 + lo
    end
    if n % 2 == 1 then
        sum = sum + byte(s, n) * 256
    end
    while sum > 0xffff do
        sum = band(sum, 0xffff) + rshift(sum, 16)
    end
    return band(bnot(sum), 0xffff)
end

local function u16(v)
    return char(band(rshift(v, 8), 0xff), band(v, 0xff))
end

local function field(msg, name, default)
    local v = msg[name]
    if v == nil then
        return default
    end
    if type(v) ~= "number" or v ~= v or v < 0 or v > 0xffff or v % 1 ~= 0 then
        error("bad ICMP field '" .. name .. "' (integer in 0..65535 expected)", 3)
    end
    return v
end

-- encode{type, code, id, seq, data, body, v6}: the message's bytes. Echo
-- types take id, seq and data; others take body. Raises on misuse.
function _M.encode(msg)
    errors.check_arg(msg, "table", 1, "encode")
    local v6 = msg.v6 == true
    local t, code = field(msg, "type"), field(msg, "code", 0)
    if t == nil or t > 255 or code > 255 then
        error("bad ICMP type or code (integers in 0..255 expected)", 2)
    end
    local rest
    if echo[v6][t] then
        rest = u16(field(msg, "id", 0)) .. u16(field(msg, "seq", 0)) .. (msg.data or "")
    else
        rest = msg.body or ""
    end
    if type(rest) ~= "string" then
        error("bad ICMP data or body (string expected)", 2)
    end
    local head = char(t, code)
    if v6 then
        return head .. "\0\0" .. rest
    end
    return head .. u16(_M.checksum(head .. "\0\0" .. rest)) .. rest
end

-- decode(s [, v6]): the message in s, or nil and an error when s is too
-- short for its type. Checksums are not verified: the kernel has.
function _M.decode(s, v6)
    errors.check_arg(s, "string", 1, "decode")
    v6 = v6 == true
    local t, code, c1, c2 = byte(s, 1, 4)
    if c2 == nil then
        return nil, errors.ParseError({ msg = "icmp: message too short" })
    end
    local msg = { type = t, code = code, checksum = bor(lshift(c1, 8), c2), v6 = v6 }
    if echo[v6][t] then
        local i1, i2, s1, s2 = byte(s, 5, 8)
        if s2 == nil then
            return nil, errors.ParseError({ msg = "icmp: echo message too short" })
        end
        msg.id, msg.seq, msg.data = bor(lshift(i1, 8), i2), bor(lshift(s1, 8), s2), sub(s, 9)
    else
        msg.body = sub(s, 5)
    end
    return msg
end

-- x/net/icmp's network names, and lnet's for the ICMP datagram socket.
local networks = {
    ["ip4:icmp"] = "ip4:icmp",
    ["ip4:1"] = "ip4:icmp",
    ["ip6:ipv6-icmp"] = "ip6:ipv6-icmp",
    ["ip6:58"] = "ip6:ipv6-icmp",
    udp4 = "udp4:icmp",
    udp6 = "udp6:ipv6-icmp",
}

-- listen_packet(network, address): an ICMP packet conn, named as
-- golang.org/x/net/icmp's ListenPacket names them: "ip4:icmp" and
-- "ip6:ipv6-icmp" are raw sockets (CAP_NET_RAW); "udp4" and "udp6" are the
-- unprivileged ICMP datagram sockets (lnet networks "udp4:icmp" and
-- "udp6:ipv6-icmp"; net.ipv4.ping_group_range must admit the caller's
-- group). address is a bare IP ("0.0.0.0", "::"). Without privilege the
-- error is an OpError wrapping EPERM or EACCES.
function _M.listen_packet(network, address)
    errors.check_arg(network, "string", 1, "listen_packet")
    return packet.listen_packet(networks[network] or network, address)
end

return _M
