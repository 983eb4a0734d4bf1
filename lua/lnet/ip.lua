-- lnet.ip: Go's net/netip for LuaJIT: addresses (Addr), address-port pairs
-- (AddrPort) and CIDR prefixes (Prefix).
--
-- An address is an immutable table interned by family, bytes and zone: the
-- same address is always the same table, so `==` compares addresses and they
-- work as table keys, as Go's comparable netip.Addr does. The interning caches
-- are weak-valued: an address nobody holds is collected, and the table made
-- for it later is never compared with the dead one, which nothing holds.
-- Prefixes are interned the same way.
--
-- The parsers are ports of netip.go (Go 1.24): they accept and reject exactly
-- what Go does, and every failure is `nil, err` with an lnet.errors.ParseError
-- whose text is Go's error text, byte for byte.
--
-- Addresses are stored as their bytes (4 for IPv4, 16 for IPv6), which is
-- what the kernel hands over: `addr_from_bytes` on an address already live is
-- one table lookup, and `parse_addr` on text already parsed is one too.

local bit = require "bit"
local errors = require "lnet.errors"

local band = bit.band
local byte, char, sub, rep, find, match, format = string.byte, string.char, string.sub, string.rep, string.find,
    string.match, string.format
local concat = table.concat
local floor = math.floor
local type, tostring, tonumber, error = type, tostring, tonumber, error
local setmetatable, getmetatable, rawget, rawset = setmetatable, getmetatable, rawget, rawset
local ParseError = errors.ParseError

local _M = {}

local weak_values = { __mode = "v" }

-- Raises Lua's usual argument error at the caller of the API function that
-- called this (level 3: past bad_argument and the API function).
local function bad_argument(n, fname, want, got)
    error(format("bad argument #%d to '%s' (%s expected, got %s)", n, fname, want, type(got)), 3)
end

-------------------------------------------------------------------------------
-- Go's strconv.Quote, which every netip error message uses on its input.

local simple_escapes = {
    [7] = "\\a", [8] = "\\b", [9] = "\\t", [10] = "\\n", [11] = "\\v", [12] = "\\f", [13] = "\\r",
    [34] = '\\"', [92] = "\\\\",
}

-- Code points past ASCII that Go's unicode.IsPrint rejects and Quote escapes,
-- as sorted [first, last] pairs: controls, spaces other than U+0020, format
-- characters, private use, noncharacters, the unassigned planes 4 to 13.
-- Scattered unassigned code points in the other planes are the one gap: Go
-- escapes them too, this list does not know them, so they print as they are.
local non_printable = {
    0x0080, 0x00a0, 0x00ad, 0x00ad, 0x0600, 0x0605, 0x061c, 0x061c, 0x06dd, 0x06dd,
    0x070f, 0x070f, 0x0890, 0x0891, 0x08e2, 0x08e2, 0x1680, 0x1680, 0x180e, 0x180e,
    0x2000, 0x200f, 0x2028, 0x202f, 0x205f, 0x206f, 0x3000, 0x3000, 0xd800, 0xf8ff,
    0xfdd0, 0xfdef, 0xfeff, 0xfeff, 0xfff0, 0xfffb, 0xfffe, 0xffff, 0x110bd, 0x110bd,
    0x110cd, 0x110cd, 0x13430, 0x1343f, 0x1bca0, 0x1bca3, 0x1d173, 0x1d17a,
    0x323b0, 0xe00ff, 0xe01f0, 0x10ffff,
}

local function is_printable(r)
    for i = 1, #non_printable, 2 do
        if r < non_printable[i] then
            return true
        end
        if r <= non_printable[i + 1] then
            return false
        end
    end
    return true
end

-- Go's utf8.DecodeRuneInString at byte i: the code point and its length, or
-- nil where Go sees an invalid byte (RuneError of width 1): bad lead bytes,
-- overlong forms, surrogates, truncated sequences.
local function decode_rune(s, i)
    local c = byte(s, i)
    if c < 0x80 then
        return c, 1
    end
    local n, lo, hi -- sequence length and the range allowed for the 2nd byte
    if c >= 0xc2 and c <= 0xdf then
        n, lo, hi = 2, 0x80, 0xbf
    elseif c == 0xe0 then
        n, lo, hi = 3, 0xa0, 0xbf
    elseif c == 0xed then
        n, lo, hi = 3, 0x80, 0x9f
    elseif c >= 0xe1 and c <= 0xef then
        n, lo, hi = 3, 0x80, 0xbf
    elseif c == 0xf0 then
        n, lo, hi = 4, 0x90, 0xbf
    elseif c >= 0xf1 and c <= 0xf3 then
        n, lo, hi = 4, 0x80, 0xbf
    elseif c == 0xf4 then
        n, lo, hi = 4, 0x80, 0x8f
    else
        return nil
    end
    local r = c % 2 ^ (7 - n) -- the lead byte's payload bits
    for k = 1, n - 1 do
        local b = byte(s, i + k)
        if b == nil or b < lo or b > hi then
            return nil
        end
        lo, hi = 0x80, 0xbf
        r = r * 64 + b % 64
    end
    return r, n
end

local function quote(s)
    -- Printable ASCII without quote or backslash goes through untouched.
    if not find(s, "[^ -~]") and not find(s, '["\\]') then
        return '"' .. s .. '"'
    end
    local out, i, n = { '"' }, 1, #s
    while i <= n do
        local r, w = decode_rune(s, i)
        local piece
        if r == nil then
            piece, w = format("\\x%02x", byte(s, i)), 1
        elseif simple_escapes[r] then
            piece = simple_escapes[r]
        elseif r < 0x20 or r == 0x7f then
            piece = format("\\x%02x", r)
        elseif r < 0x80 or is_printable(r) then
            piece = sub(s, i, i + w - 1)
        elseif r < 0x10000 then
            piece = format("\\u%04x", r)
        else
            piece = format("\\U%08x", r)
        end
        out[#out + 1] = piece
        i = i + w
    end
    out[#out + 1] = '"'
    return concat(out)
end
_M._quote = quote -- for the spec

-------------------------------------------------------------------------------
-- Addr: fields _b (the bytes), _bits (32 or 128), _z (zone, "" for none),
-- _4in6 (an IPv4-mapped IPv6 address); _s caches the text once asked for.

local Addr = {}

-- < and <= from a type's compare: Go's ordering, for table.sort and friends.
local function ordered(T)
    T.__lt = function(a, b)
        return T.compare(a, b) < 0
    end
    T.__le = function(a, b)
        return T.compare(a, b) <= 0
    end
end
Addr.__index = Addr

-- Interned values are shared by every holder, so nothing may be stashed on
-- them; the lazily cached fields are written with rawset.
local function immutable()
    error("lnet.ip values are immutable", 2)
end
Addr.__newindex = immutable

local V4IN6_PREFIX = rep("\0", 10) .. "\255\255"

local v4_cache = setmetatable({}, weak_values) -- 4 bytes -> addr
local v6_cache = setmetatable({}, weak_values) -- 16 bytes .. zone -> addr

local function addr4(b)
    local a = v4_cache[b]
    if a == nil then
        a = setmetatable({ _b = b, _bits = 32, _z = "", _4in6 = false }, Addr)
        v4_cache[b] = a
    end
    return a
end

-- The key is the bytes and the zone; the bytes are always 16 long, so the
-- key is unambiguous and, without a zone, is the bytes string itself.
local function addr6(b, zone)
    local key = zone == "" and b or b .. zone
    local a = v6_cache[key]
    if a == nil then
        a = setmetatable({ _b = b, _bits = 128, _z = zone, _4in6 = sub(b, 1, 12) == V4IN6_PREFIX }, Addr)
        v6_cache[key] = a
    end
    return a
end

local function intern(bits, b, zone)
    if bits == 32 then
        return addr4(b)
    end
    return addr6(b, zone)
end

-- Held here for good, so the identity tests below (is_unspecified) always
-- compare against the one live table for these addresses.
local V4_UNSPECIFIED = addr4("\0\0\0\0")
local V4_BROADCAST = addr4("\255\255\255\255")
local V6_UNSPECIFIED = addr6(rep("\0", 16), "")
local V6_LOOPBACK = addr6(rep("\0", 15) .. "\1", "")

-------------------------------------------------------------------------------
-- Parsing text, as netip.ParseAddr. The parsers return an addr, or nil, the
-- message and the optional "at" part of Go's parseAddrError.

local function addr_error_text(input, msg, at)
    if at ~= nil and at ~= "" then
        return "ParseAddr(" .. quote(input) .. "): " .. msg .. " (at " .. quote(at) .. ")"
    end
    return "ParseAddr(" .. quote(input) .. "): " .. msg
end

-- Go's parseIPv4Fields over s[i..j]: the four octets, or nil, msg, at.
-- Strict dotted quad: no leading zeros, no short forms, octets up to 255.
local function ipv4_fields(s, i, j)
    local val, ndigits, pos = 0, 0, 0
    local o1, o2, o3
    for k = i, j do
        local c = byte(s, k)
        if c >= 48 and c <= 57 then
            if ndigits == 1 and val == 0 then
                return nil, "IPv4 field has octet with leading zero"
            end
            val = val * 10 + c - 48
            ndigits = ndigits + 1
            if val > 255 then
                return nil, "IPv4 field has value >255"
            end
        elseif c == 46 then
            if k == i or k == j or byte(s, k - 1) == 46 then
                return nil, "IPv4 field must have at least one digit", sub(s, k, j)
            end
            if pos == 3 then
                return nil, "IPv4 address too long"
            end
            pos = pos + 1
            if pos == 1 then
                o1 = val
            elseif pos == 2 then
                o2 = val
            else
                o3 = val
            end
            val, ndigits = 0, 0
        else
            return nil, "unexpected character", sub(s, k, j)
        end
    end
    if pos < 3 then
        return nil, "IPv4 address too short"
    end
    return o1, o2, o3, val
end

local function parse_ipv4(s)
    local o1, o2, o3, o4 = ipv4_fields(s, 1, #s)
    if o1 == nil then
        return nil, o2, o3
    end
    return addr4(char(o1, o2, o3, o4))
end

local function hex_value(c)
    if c >= 48 and c <= 57 then
        return c - 48
    elseif c >= 97 and c <= 102 then
        return c - 87
    elseif c >= 65 and c <= 70 then
        return c - 55
    end
    return nil
end

local ip6 = {} -- scratch bytes for parse_ipv6 (it never yields, so one is enough)

-- Go's parseIPv6: the address part is s[p..e] (the zone split off first);
-- i counts the bytes filled in ip6, as Go's i does.
local function parse_ipv6(s)
    local e, zone = #s, ""
    local pct = find(s, "%", 1, true)
    if pct then
        e, zone = pct - 1, sub(s, pct + 1)
        if zone == "" then
            return nil, "zone must be a non-empty string"
        end
    end
    for k = 1, 16 do
        ip6[k] = 0
    end
    local ellipsis = -1 -- byte position of the "::", as in Go
    local p = 1
    if e >= 2 and byte(s, 1) == 58 and byte(s, 2) == 58 then
        ellipsis, p = 0, 3
        if p > e then
            return addr6(V6_UNSPECIFIED._b, zone)
        end
    end
    local i = 0
    while i < 16 do
        -- One group of hex digits. Go also checks the group against 2^16,
        -- which four digits can never reach: the digit count suffices.
        local off, acc = 0, 0
        while p + off <= e do
            local d = hex_value(byte(s, p + off))
            if d == nil then
                break
            end
            if off > 3 then
                return nil, "each group must have 4 or less digits", sub(s, p, e)
            end
            acc = acc * 16 + d
            off = off + 1
        end
        if off == 0 then
            return nil, "each colon-separated field must have at least one digit", sub(s, p, e)
        end
        if p + off <= e and byte(s, p + off) == 46 then
            -- A trailing dotted quad fills the last four bytes.
            if ellipsis < 0 and i ~= 12 then
                return nil, "embedded IPv4 address must replace the final 2 fields of the address", sub(s, p, e)
            end
            if i + 4 > 16 then
                return nil, "too many hex fields to fit an embedded IPv4 at the end of the address", sub(s, p, e)
            end
            local o1, o2, o3, o4 = ipv4_fields(s, p, e)
            if o1 == nil then
                return nil, o2, o3
            end
            ip6[i + 1], ip6[i + 2], ip6[i + 3], ip6[i + 4] = o1, o2, o3, o4
            p, i = e + 1, i + 4
            break
        end
        ip6[i + 1], ip6[i + 2] = floor(acc / 256), acc % 256
        i = i + 2
        p = p + off
        if p > e then
            break
        end
        if byte(s, p) ~= 58 then
            return nil, "unexpected character, want colon", sub(s, p, e)
        elseif p == e then
            return nil, "colon must be followed by more characters", sub(s, p, e)
        end
        p = p + 1
        if byte(s, p) == 58 then
            if ellipsis >= 0 then
                return nil, "multiple :: in address", sub(s, p, e)
            end
            ellipsis, p = i, p + 1
            if p > e then
                break
            end
        end
    end
    if p <= e then
        return nil, "trailing garbage after address", sub(s, p, e)
    end
    if i < 16 then
        if ellipsis < 0 then
            return nil, "address string too short"
        end
        -- Slide the groups after the "::" to the end, zero the gap.
        local n = 16 - i
        for j = i, ellipsis + 1, -1 do
            ip6[j + n] = ip6[j]
        end
        for j = ellipsis + 1, ellipsis + n do
            ip6[j] = 0
        end
    elseif ellipsis >= 0 then
        return nil, "the :: must expand to at least one field of zeros"
    end
    local t = ip6
    return addr6(char(t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8],
        t[9], t[10], t[11], t[12], t[13], t[14], t[15], t[16]), zone)
end

-- Go's ParseAddr: the first '.', ':' or '%' decides what the text is.
local function parse_text(s)
    for i = 1, #s do
        local c = byte(s, i)
        if c == 46 then
            return parse_ipv4(s)
        elseif c == 58 then
            return parse_ipv6(s)
        elseif c == 37 then
            return nil, "missing IPv6 address"
        end
    end
    return nil, "unable to parse IP"
end

-- Text already parsed maps to its address; parsing is pure, so the answer
-- cannot change, and the entry lives exactly as long as the address.
local by_text = setmetatable({}, weak_values)

local function lookup(s)
    local a = by_text[s]
    if a ~= nil then
        return a
    end
    local msg, at
    a, msg, at = parse_text(s)
    if a ~= nil then
        by_text[s] = a
    end
    return a, msg, at
end

function _M.parse_addr(s)
    if type(s) ~= "string" then
        bad_argument(1, "parse_addr", "string", s)
    end
    local a, msg, at = lookup(s)
    if a == nil then
        return nil, ParseError { type = "IP address", text = s, msg = addr_error_text(s, msg, at) }
    end
    return a
end

-- Go's AddrFromSlice: 4 bytes are IPv4, 16 are IPv6 (a mapped IPv4 stays
-- IPv6, as in Go; unmap() turns it into IPv4).
function _M.addr_from_bytes(b)
    if type(b) ~= "string" then
        bad_argument(1, "addr_from_bytes", "string", b)
    end
    local n = #b
    if n == 4 then
        return addr4(b)
    elseif n == 16 then
        return addr6(b, "")
    end
    -- Go's AddrFromSlice only says false; this is its UnmarshalBinary's text.
    return nil, ParseError { type = "IP address", text = b, msg = "unexpected slice size" }
end

function _M.ipv4_unspecified()
    return V4_UNSPECIFIED
end

function _M.ipv6_unspecified()
    return V6_UNSPECIFIED
end

function _M.ipv6_loopback()
    return V6_LOOPBACK
end

local function is_addr(v)
    return getmetatable(v) == Addr
end
_M.is_addr = is_addr

-------------------------------------------------------------------------------
-- Addr methods.

function Addr.is4(a)
    return a._bits == 32
end

function Addr.is6(a)
    return a._bits == 128
end

function Addr.is4in6(a)
    return a._4in6
end

function Addr.unmap(a)
    if a._4in6 then
        return addr4(sub(a._b, 13, 16))
    end
    return a
end

function Addr.zone(a)
    return a._z
end

-- As Go: a no-op on IPv4; "" removes the zone.
function Addr.with_zone(a, zone)
    if type(zone) ~= "string" then
        bad_argument(1, "with_zone", "string", zone)
    end
    if a._bits == 32 then
        return a
    end
    return addr6(a._b, zone)
end

function Addr.bytes(a)
    return a._b
end

function Addr.bit_len(a)
    return a._bits
end

-- Where the IPv4 bytes start for the classifying predicates, or nil for a
-- true IPv6 address: Go unmaps an IPv4-mapped address before classifying.
local function ipv4_offset(a)
    if a._bits == 32 then
        return 0
    elseif a._4in6 then
        return 12
    end
    return nil
end

function Addr.is_loopback(a)
    local o = ipv4_offset(a)
    if o then
        return byte(a._b, o + 1) == 127
    end
    return a._b == V6_LOOPBACK._b
end

function Addr.is_multicast(a)
    local o = ipv4_offset(a)
    if o then
        return band(byte(a._b, o + 1), 0xf0) == 0xe0
    end
    return byte(a._b, 1) == 0xff
end

function Addr.is_link_local_unicast(a)
    local o = ipv4_offset(a)
    if o then
        local b1, b2 = byte(a._b, o + 1, o + 2)
        return b1 == 169 and b2 == 254
    end
    local b1, b2 = byte(a._b, 1, 2)
    return b1 == 0xfe and band(b2, 0xc0) == 0x80
end

function Addr.is_link_local_multicast(a)
    local o = ipv4_offset(a)
    if o then
        local b1, b2, b3 = byte(a._b, o + 1, o + 3)
        return b1 == 224 and b2 == 0 and b3 == 0
    end
    local b1, b2 = byte(a._b, 1, 2)
    return b1 == 0xff and band(b2, 0x0f) == 0x02
end

-- IPv6 only (Go does not unmap here; a mapped address starts with zeros).
function Addr.is_interface_local_multicast(a)
    if a._bits == 32 then
        return false
    end
    local b1, b2 = byte(a._b, 1, 2)
    return b1 == 0xff and band(b2, 0x0f) == 0x01
end

-- RFC 1918 and RFC 4193: 10/8, 172.16/12, 192.168/16, fc00::/7.
function Addr.is_private(a)
    local o = ipv4_offset(a)
    if o then
        local b1, b2 = byte(a._b, o + 1, o + 2)
        return b1 == 10 or (b1 == 172 and band(b2, 0xf0) == 16) or (b1 == 192 and b2 == 168)
    end
    return band(byte(a._b, 1), 0xfe) == 0xfc
end

-- Go compares whole addresses here, zone included: "::%eth0" is not
-- unspecified, and neither is "::ffff:0.0.0.0".
function Addr.is_unspecified(a)
    return a == V4_UNSPECIFIED or a == V6_UNSPECIFIED
end

-- Go's rule (and net.IP's): anything but unspecified, broadcast, loopback,
-- multicast and link-local unicast; private ranges count as global.
function Addr.is_global_unicast(a)
    local u = a:unmap()
    if u == V4_UNSPECIFIED or u == V4_BROADCAST or u == V6_UNSPECIFIED then
        return false
    end
    return not (u:is_loopback() or u:is_multicast() or u:is_link_local_unicast())
end

-- Adds delta (+1 or -1) to the address read as one big-endian number, zone
-- kept; nil when that leaves the family's range (Go's invalid zero Addr).
local function step(a, delta)
    local b = a._b
    local edge = delta > 0 and 255 or 0 -- the byte value that carries or borrows
    for k = #b, 1, -1 do
        local c = byte(b, k)
        if c ~= edge then
            local tail = rep(char(255 - edge), #b - k)
            return intern(a._bits, sub(b, 1, k - 1) .. char(c + delta) .. tail, a._z)
        end
    end
    return nil
end

function Addr.next(a)
    return step(a, 1)
end

function Addr.prev(a)
    return step(a, -1)
end

-- Go's order: IPv4 before IPv6, then by bytes, then (IPv6) by zone, so an
-- address without a zone sorts just before the same one with a zone.
function Addr.compare(a, o)
    if not is_addr(o) then
        bad_argument(1, "compare", "lnet.ip address", o)
    end
    if a == o then
        return 0
    end
    if a._bits ~= o._bits then
        return a._bits < o._bits and -1 or 1
    end
    -- LuaJIT compares strings bytewise (memcmp, not strcoll), as Go does.
    local x, y = a._b, o._b
    if x ~= y then
        return x < y and -1 or 1
    end
    -- Interned: equal bytes in two tables means two different zones.
    return a._z < o._z and -1 or 1
end

function Addr.less(a, o)
    return Addr.compare(a, o) < 0
end

ordered(Addr)

local function string4(b, o)
    local b1, b2, b3, b4 = byte(b, o + 1, o + 4)
    return b1 .. "." .. b2 .. "." .. b3 .. "." .. b4
end

local function groups(b)
    local g = {}
    for k = 1, 8 do
        local hi, lo = byte(b, 2 * k - 1, 2 * k)
        g[k] = hi * 256 + lo
    end
    return g
end

-- RFC 5952 as Go's appendTo6: lowercase hex without leading zeros; "::"
-- replaces the longest run of two or more zero groups, the first on a tie.
local function string6(b)
    local g = groups(b)
    local zstart, zend = 0, 0 -- the run to elide, as groups [zstart, zend)
    for i = 1, 8 do
        local j = i
        while j <= 8 and g[j] == 0 do
            j = j + 1
        end
        if j - i >= 2 and j - i > zend - zstart then
            zstart, zend = i, j
        end
    end
    local out = {}
    local i = 1
    while i <= 8 do
        if i == zstart then
            out[#out + 1] = "::"
            i = zend
            if i > 8 then
                break
            end
        elseif i > 1 then
            out[#out + 1] = ":"
        end
        out[#out + 1] = format("%x", g[i])
        i = i + 1
    end
    return concat(out)
end

-- Go's Addr.String, computed once per address.
function Addr.__tostring(a)
    local s = rawget(a, "_s")
    if s == nil then
        if a._bits == 32 then
            s = string4(a._b, 0)
        elseif a._4in6 then
            s = "::ffff:" .. string4(a._b, 12)
        else
            s = string6(a._b)
        end
        if a._z ~= "" then
            s = s .. "%" .. a._z
        end
        rawset(a, "_s", s)
    end
    return s
end

-- Go's StringExpanded: IPv6 as eight 4-digit groups, no "::".
function Addr.string_expanded(a)
    if a._bits == 32 then
        return tostring(a)
    end
    local g = groups(a._b)
    for k = 1, 8 do
        g[k] = format("%04x", g[k])
    end
    local s = concat(g, ":")
    if a._z ~= "" then
        s = s .. "%" .. a._z
    end
    return s
end

-------------------------------------------------------------------------------
-- Prefix: fields _ip (the address, zone stripped, host bits as given) and
-- _bits. Only valid prefixes exist: Go's invalid Prefix values are errors here.

local Prefix = {}
Prefix.__index = Prefix
Prefix.__newindex = immutable

local prefix_cache = setmetatable({}, weak_values) -- char(bits) .. bytes -> prefix

local function prefix_of(ip, bits)
    local key = char(bits) .. ip._b
    local p = prefix_cache[key]
    if p == nil then
        p = setmetatable({ _ip = ip, _bits = bits }, Prefix)
        prefix_cache[key] = p
    end
    return p
end

local function is_prefix(v)
    return getmetatable(v) == Prefix
end
_M.is_prefix = is_prefix

local PARTIAL_MASK = { 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe }

-- b with all but its first `bits` bits cleared.
local function masked_bytes(b, bits)
    local n, full, rem = #b, floor(bits / 8), bits % 8
    if full == n then
        return b
    end
    local head = sub(b, 1, full)
    if rem == 0 then
        return head .. rep("\0", n - full)
    end
    return head .. char(band(byte(b, full + 1), PARTIAL_MASK[rem])) .. rep("\0", n - full - 1)
end

-- Whether x and y agree in their first `bits` bits.
local function same_leading_bits(x, y, bits)
    local full, rem = floor(bits / 8), bits % 8
    for k = 1, full do
        if byte(x, k) ~= byte(y, k) then
            return false
        end
    end
    if rem == 0 then
        return true
    end
    local m = PARTIAL_MASK[rem]
    return band(byte(x, full + 1), m) == band(byte(y, full + 1), m)
end

local function is_integer(v)
    return type(v) == "number" and v == floor(v)
end

-- Go's error for a length the family cannot have, or nil.
local function bits_error(a, bits)
    local msg
    if bits < 0 then
        msg = "negative Prefix bits"
    elseif bits > a._bits then
        msg = "prefix length " .. bits .. (a._bits == 32 and " too large for IPv4" or " too large for IPv6")
    else
        return nil
    end
    return ParseError { type = "IP prefix", text = tostring(bits), msg = msg }
end

-- Go's Addr.Prefix: the prefix of the top `bits` bits, host bits cleared.
function Addr.prefix(a, bits)
    if not is_integer(bits) then
        bad_argument(1, "prefix", "integer", bits)
    end
    local err = bits_error(a, bits)
    if err then
        return nil, err
    end
    return prefix_of(intern(a._bits, masked_bytes(a._b, bits), ""), bits)
end

-- Go's PrefixFrom: host bits kept, zone dropped.
function _M.prefix_from(ip, bits)
    if not is_addr(ip) then
        bad_argument(1, "prefix_from", "lnet.ip address", ip)
    end
    if not is_integer(bits) then
        bad_argument(2, "prefix_from", "integer", bits)
    end
    local err = bits_error(ip, bits)
    if err then
        return nil, err
    end
    return prefix_of(ip:with_zone(""), bits)
end

function Prefix.addr(p)
    return p._ip
end

function Prefix.bits(p)
    return p._bits
end

function Prefix.is_single_ip(p)
    return p._bits == p._ip._bits
end

function Prefix.masked(p)
    return p._ip:prefix(p._bits)
end

-- An IPv4 address is never in an IPv6 prefix (mapped or not), nor the other
-- way round; an address with a zone is in none, as prefixes have no zones.
function Prefix.contains(p, a)
    if not is_addr(a) then
        bad_argument(1, "contains", "lnet.ip address", a)
    end
    local ip = p._ip
    if a._z ~= "" or a._bits ~= ip._bits then
        return false
    end
    return same_leading_bits(ip._b, a._b, p._bits)
end

function Prefix.overlaps(p, o)
    if not is_prefix(o) then
        bad_argument(1, "overlaps", "lnet.ip prefix", o)
    end
    if p == o then
        return true
    end
    if p._ip._bits ~= o._ip._bits then
        return false
    end
    local bits = p._bits < o._bits and p._bits or o._bits
    return same_leading_bits(p._ip._b, o._ip._b, bits)
end

-- Go's Prefix.Compare: masked address, then length, then the address itself.
function Prefix.compare(p, o)
    if not is_prefix(o) then
        bad_argument(1, "compare", "lnet.ip prefix", o)
    end
    local c = p:masked()._ip:compare(o:masked()._ip)
    if c ~= 0 then
        return c
    end
    if p._bits ~= o._bits then
        return p._bits < o._bits and -1 or 1
    end
    return p._ip:compare(o._ip)
end

ordered(Prefix)

function Prefix.__tostring(p)
    local s = rawget(p, "_s")
    if s == nil then
        s = tostring(p._ip) .. "/" .. p._bits
        rawset(p, "_s", s)
    end
    return s
end

-- Go's strconv.Atoi without the sign and leading zeros ParsePrefix refuses:
-- nil where Go says "bad bits", as Atoi does past int64. Below that, a long
-- number loses precision as a double, but stays far out of range either way.
local INT64_MAX = "9223372036854775807"

local function parse_prefix_bits(s)
    local n = #s
    if n == 0 or (n > 1 and byte(s, 1) == 48) then
        return nil
    end
    for i = 1, n do
        local c = byte(s, i)
        if c < 48 or c > 57 then
            return nil
        end
    end
    if n > #INT64_MAX or (n == #INT64_MAX and s > INT64_MAX) then
        return nil
    end
    return tonumber(s)
end

local function last_index(s, c)
    for i = #s, 1, -1 do
        if byte(s, i) == c then
            return i
        end
    end
    return nil
end

local function prefix_error(s, msg)
    return nil, ParseError { type = "IP prefix", text = s, msg = "netip.ParsePrefix(" .. quote(s) .. "): " .. msg }
end

-- Go's ParsePrefix: the host bits stay as written (masked() clears them);
-- zones are refused.
function _M.parse_prefix(s)
    if type(s) ~= "string" then
        bad_argument(1, "parse_prefix", "string", s)
    end
    local slash = last_index(s, 47)
    if slash == nil then
        return prefix_error(s, "no '/'")
    end
    local host = sub(s, 1, slash - 1)
    local ip, msg, at = lookup(host)
    if ip == nil then
        return prefix_error(s, addr_error_text(host, msg, at))
    end
    if ip._z ~= "" then
        return prefix_error(s, "IPv6 zones cannot be present in a prefix")
    end
    local bits_text = sub(s, slash + 1)
    local bits = parse_prefix_bits(bits_text)
    if bits == nil then
        return prefix_error(s, "bad bits after slash: " .. quote(bits_text))
    end
    if bits > ip._bits then
        return prefix_error(s, "prefix length out of range")
    end
    return prefix_of(ip, bits)
end

-- Go's net.ParseCIDR: the IP as written and the network it is in (the
-- prefix, masked), or nil and ParseError "invalid CIDR address: s". Laxer
-- than parse_prefix where Go's is (leading zeros in the length), stricter
-- where it is (no zone); a 4-in-6 address with a length of 96 or more is
-- IPv4 to Go, and so here.
function _M.parse_cidr(s)
    if type(s) ~= "string" then
        bad_argument(1, "parse_cidr", "string", s)
    end
    local slash = find(s, "/", 1, true)
    local ip = slash and _M.parse_addr(sub(s, 1, slash - 1))
    local len = slash and match(sub(s, slash + 1), "^%d+$")
    local bits = len and tonumber(len)
    if ip == nil or ip._z ~= "" or bits == nil or bits > ip._bits then
        return nil, ParseError { type = "CIDR address", text = s }
    end
    if ip:is4in6() and bits >= 96 then
        ip, bits = ip:unmap(), bits - 96
    end
    return ip, ip:prefix(bits)
end

-------------------------------------------------------------------------------
-- AddrPort: fields ip and port. Not interned (ports make too many); __eq
-- compares them, so == works, but two equal ones are two table keys.

local AddrPort = {}
AddrPort.__index = AddrPort
AddrPort.__newindex = immutable

local function new_addr_port(ip, port)
    return setmetatable({ ip = ip, port = port }, AddrPort)
end

local function is_addr_port(v)
    return getmetatable(v) == AddrPort
end
_M.is_addr_port = is_addr_port

-- Go's AddrPortFrom.
function _M.addr_port(ip, port)
    if not is_addr(ip) then
        bad_argument(1, "addr_port", "lnet.ip address", ip)
    end
    if not is_integer(port) or port < 0 or port > 65535 then
        bad_argument(2, "addr_port", "port number (0-65535)", port)
    end
    return new_addr_port(ip, port)
end

-- Go's strconv.ParseUint(s, 10, 16): digits only, leading zeros allowed.
local function parse_port(s)
    if s == "" then
        return nil
    end
    local v = 0
    for i = 1, #s do
        local c = byte(s, i)
        if c < 48 or c > 57 then
            return nil
        end
        v = v * 10 + c - 48
        if v > 65535 then
            return nil
        end
    end
    return v
end

local function addr_port_error(s, msg)
    return nil, ParseError { type = "IP address and port", text = s, msg = msg }
end

-- Go's ParseAddrPort: "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80";
-- brackets exactly when the address is IPv6. No names, no service ports.
function _M.parse_addr_port(s)
    if type(s) ~= "string" then
        bad_argument(1, "parse_addr_port", "string", s)
    end
    local colon = last_index(s, 58)
    if colon == nil then
        return addr_port_error(s, "not an ip:port")
    end
    local host, port_text = sub(s, 1, colon - 1), sub(s, colon + 1)
    if host == "" then
        return addr_port_error(s, "no IP")
    end
    if port_text == "" then
        return addr_port_error(s, "no port")
    end
    local bracketed = byte(host, 1) == 91
    if bracketed then
        if #host < 2 or byte(host, -1) ~= 93 then
            return addr_port_error(s, "missing ]")
        end
        host = sub(host, 2, -2)
    end
    local port = parse_port(port_text)
    if port == nil then
        return addr_port_error(s, "invalid port " .. quote(port_text) .. " parsing " .. quote(s))
    end
    local ip, msg, at = lookup(host)
    if ip == nil then
        return addr_port_error(s, addr_error_text(host, msg, at))
    end
    if bracketed and ip._bits == 32 then
        return addr_port_error(s, "invalid ip:port " .. quote(s) .. ", square brackets can only be used with IPv6 addresses")
    elseif not bracketed and ip._bits == 128 then
        return addr_port_error(s, "invalid ip:port " .. quote(s) .. ", IPv6 addresses must be surrounded by square brackets")
    end
    return new_addr_port(ip, port)
end

function AddrPort.__eq(p, o)
    return p.ip == o.ip and p.port == o.port
end

-- Go's AddrPort.Compare: by address, then port.
function AddrPort.compare(p, o)
    if not is_addr_port(o) then
        bad_argument(1, "compare", "lnet.ip address and port", o)
    end
    local c = p.ip:compare(o.ip)
    if c ~= 0 then
        return c
    end
    if p.port ~= o.port then
        return p.port < o.port and -1 or 1
    end
    return 0
end

ordered(AddrPort)

function AddrPort.__tostring(p)
    local s = rawget(p, "_s")
    if s == nil then
        local ip = p.ip
        if ip._bits == 32 then
            s = tostring(ip) .. ":" .. p.port
        else
            s = "[" .. tostring(ip) .. "]:" .. p.port
        end
        rawset(p, "_s", s)
    end
    return s
end

return _M
