-- lnet.dns.encode (private): the wire bytes of a DNS message given as the
-- table lnet.dns documents, names compressed (RFC 1035 section 4.1.4).
--
-- The message is written into one preallocated buffer of the largest size a
-- message can have (65,535 bytes, what TCP's length prefix allows) and
-- copied out once; encode never yields, so one buffer serves every call.
-- Compression remembers where each name suffix was written, keyed by the
-- suffix's exact wire bytes (so case is never changed by a pointer), and
-- the wire form of each name comes from lnet.dns.name's cache.
--
-- Failures are raised inside and sorted out at the one pcall in encode: a
-- DNSMessageError (a value that cannot be encoded: a bad name, a number out
-- of range, a message too big) is returned as `nil, err`; anything else is
-- misuse (a field of the wrong type) and is raised at the caller.

local ffi = require "ffi"
local bit = require "bit"
local clear = require "table.clear"
local ip = require "lnet.ip"
local errors = require "lnet.errors"
local const = require "lnet.dns.const"
local name = require "lnet.dns.name"

local copy, ffi_string = ffi.copy, ffi.string
local band, rshift, bor, lshift = bit.band, bit.rshift, bit.bor, bit.lshift
local format, sub = string.format, string.sub
local type, error, pcall, getmetatable, tostring = type, error, pcall, getmetatable, tostring
local min = math.min
local compile = name.compile
local parse_addr, is_addr = ip.parse_addr, ip.is_addr
local TYPE, CLASS, RCODE, OPCODE = const.type, const.class, const.rcode, const.opcode
local MessageError = const.MessageError
local what = errors.what

local _M = {}

local MAX = 65535
local MAX_POINTER = 0x3fff -- the largest offset a 14-bit pointer reaches
local T_OPT = TYPE.OPT
local DEFAULT_UDP_SIZE = 1232 -- the DNS flag day 2020 figure

local buf = ffi.new("uint8_t[?]", MAX)
local pos = 0 -- the next byte of buf to write
local suffixes = {} -- wire bytes of a name suffix -> its offset in buf
local ext_rcode = 0 -- the rcode bits above the header's four, for OPT; -1 once written

local MessageErrorKind = getmetatable(MessageError(""))

-------------------------------------------------------------------------------
-- Failing. `sec`, `i`, `field` say where: "answers", 2, "ttl" is
-- answers[2].ttl; a nil sec is a header field. The text is built only on
-- failure.

local function where(sec, i, field)
    if sec == nil then
        return field
    elseif field == nil then
        return format("%s[%d]", sec, i)
    end
    return format("%s[%d].%s", sec, i, field)
end

local function bad_value(msg)
    error(MessageError(msg), 0)
end

local function bad_type(want, v, sec, i, field)
    error(format("bad argument #1 to 'encode' (%s: %s expected, got %s)", where(sec, i, field), want, what(v)), 0)
end

-------------------------------------------------------------------------------
-- Writing.

local function room(n)
    if pos + n > MAX then
        bad_value("message longer than 65535 bytes")
    end
end

local function put8(v)
    room(1)
    buf[pos] = v
    pos = pos + 1
end

local function put16(v)
    room(2)
    buf[pos], buf[pos + 1] = rshift(v, 8), band(v, 0xff)
    pos = pos + 2
end

local function put32(v)
    room(4)
    buf[pos], buf[pos + 1] = band(rshift(v, 24), 0xff), band(rshift(v, 16), 0xff)
    buf[pos + 2], buf[pos + 3] = band(rshift(v, 8), 0xff), band(v, 0xff)
    pos = pos + 4
end

local function put_bytes(s, n)
    room(n)
    copy(buf + pos, s, n)
    pos = pos + n
end

-- A whole number in 0..max, else a failure naming the field.
local function uint(v, max, sec, i, field)
    if type(v) ~= "number" then
        bad_type("number", v, sec, i, field)
    end
    if not (v >= 0 and v <= max and v % 1 == 0) then
        bad_value(format("%s: %s out of range 0..%d", where(sec, i, field), tostring(v), max))
    end
    return v
end

local function string_field(v, sec, i, field)
    if type(v) ~= "string" then
        bad_type("string", v, sec, i, field)
    end
    return v
end

-- A number, or a name from one of the const tables.
local function code(v, names, max, kind, sec, i, field)
    if type(v) == "string" then
        local n = names[v]
        if type(n) ~= "number" then
            bad_value(format("%s: unknown %s %q", where(sec, i, field), kind, v))
        end
        return n
    end
    return uint(v, max, sec, i, field)
end

-- Remembers the suffixes of the name just written at `at` (labels 1..upto),
-- where a 14-bit pointer can reach them.
local function remember(e, at, upto)
    local keys, offs = e.keys, e.offs
    for j = 1, upto do
        local off = at + offs[j]
        if off > MAX_POINTER then
            return
        end
        suffixes[keys[j]] = off
    end
end

-- A name; compressed unless `plain` (RFC 2782 asks that of SRV targets),
-- but remembered for later names either way.
local function put_name(text, plain, sec, i, field)
    local e, err = compile(string_field(text, sec, i, field))
    if e == nil then
        err.msg = where(sec, i, field) .. ": " .. err.msg
        error(err, 0)
    end
    local keys, wire = e.keys, e.wire
    local at = pos
    if not plain then
        for j = 1, #keys do
            local target = suffixes[keys[j]]
            if target ~= nil then
                local len = e.offs[j]
                room(len + 2)
                copy(buf + pos, wire, len)
                buf[pos + len], buf[pos + len + 1] = 0xc0 + rshift(target, 8), band(target, 0xff)
                pos = pos + len + 2
                remember(e, at, j - 1)
                return
            end
        end
    end
    put_bytes(wire, #wire)
    remember(e, at, #keys)
end

-------------------------------------------------------------------------------
-- Record data writers, by type.

local function address(family, size)
    return function(rec, sec, i)
        local a = rec.ip
        if type(a) == "string" then
            local parsed, err = parse_addr(a)
            if parsed == nil then
                bad_value(where(sec, i, "ip") .. ": " .. tostring(err))
            end
            a = parsed
        elseif not is_addr(a) then
            bad_type("lnet.ip address or string", a, sec, i, "ip")
        end
        if a:bit_len() ~= size * 8 then
            bad_value(format("%s: %s record needs an %s address, got %s", where(sec, i, "ip"), rec.type, family,
                tostring(a)))
        end
        put_bytes(a:bytes(), size)
    end
end

local function host_only(rec, sec, i)
    put_name(rec.host, false, sec, i, "host")
end

local rdata = {
    [TYPE.A] = address("IPv4", 4),
    [TYPE.AAAA] = address("IPv6", 16),
    [TYPE.CNAME] = host_only,
    [TYPE.NS] = host_only,
    [TYPE.PTR] = host_only,
}

rdata[TYPE.MX] = function(rec, sec, i)
    put16(uint(rec.pref, 65535, sec, i, "pref"))
    put_name(rec.host, false, sec, i, "host")
end

rdata[TYPE.SRV] = function(rec, sec, i)
    put16(uint(rec.priority, 65535, sec, i, "priority"))
    put16(uint(rec.weight, 65535, sec, i, "weight"))
    put16(uint(rec.port, 65535, sec, i, "port"))
    put_name(rec.target, true, sec, i, "target")
end

-- Each text as <character-string>s of at most 255 bytes: a longer one is
-- split, an empty one is one empty string.
rdata[TYPE.TXT] = function(rec, sec, i)
    local texts = rec.texts
    if type(texts) ~= "table" then
        bad_type("table", texts, sec, i, "texts")
    end
    for k = 1, #texts do
        local t = texts[k]
        if type(t) ~= "string" then
            bad_type("string", t, sec, i, "texts[" .. k .. "]")
        end
        local at, n = 1, #t
        repeat
            local len = min(255, n - at + 1)
            put8(len)
            put_bytes(sub(t, at, at + len - 1), len)
            at = at + len
        until at > n
    end
end

rdata[TYPE.SOA] = function(rec, sec, i)
    put_name(rec.mname, false, sec, i, "mname")
    put_name(rec.rname, false, sec, i, "rname")
    put32(uint(rec.serial, 0xffffffff, sec, i, "serial"))
    put32(uint(rec.refresh, 0xffffffff, sec, i, "refresh"))
    put32(uint(rec.retry, 0xffffffff, sec, i, "retry"))
    put32(uint(rec.expire, 0xffffffff, sec, i, "expire"))
    put32(uint(rec.minimum, 0xffffffff, sec, i, "minimum"))
end

-------------------------------------------------------------------------------
-- Records, questions, the message.

-- OPT's class is the UDP payload size and its ttl the extended rcode,
-- version and DO bit (RFC 6891 section 6.1.3). The first OPT record of the
-- additional section is the message's: it carries the rcode's upper bits
-- (so its own ext_rcode is not used); any other keeps its ext_rcode.
local function put_opt_header(rec, sec, i)
    put16(uint(rec.udp_size or DEFAULT_UDP_SIZE, 65535, sec, i, "udp_size"))
    local version = uint(rec.version or 0, 255, sec, i, "version")
    local ext
    if sec == "additional" and ext_rcode >= 0 then
        ext, ext_rcode = ext_rcode, -1
    else
        ext = uint(rec.ext_rcode or 0, 255, sec, i, "ext_rcode")
    end
    put32(bor(lshift(ext, 24), lshift(version, 16), rec.dnssec_ok and 0x8000 or 0))
end

local function put_record(rec, sec, i)
    if type(rec) ~= "table" then
        bad_type("table", rec, sec, i)
    end
    local t = code(rec.type, TYPE, 65535, "record type", sec, i, "type")
    put_name(rec.name or (t == T_OPT and "." or nil), false, sec, i, "name")
    put16(t)
    if t == T_OPT then
        put_opt_header(rec, sec, i)
    else
        put16(code(rec.class or 1, CLASS, 65535, "class", sec, i, "class"))
        put32(uint(rec.ttl or 0, 0xffffffff, sec, i, "ttl"))
    end
    room(2)
    local len_at = pos
    pos = pos + 2
    local data = rec.data
    local write = rdata[t]
    if data ~= nil then
        put_bytes(string_field(data, sec, i, "data"), #data)
    elseif write ~= nil then
        write(rec, sec, i)
    elseif t ~= T_OPT then
        bad_value(format("%s: no data for a record of type %s", where(sec, i), tostring(rec.type)))
    end
    local len = pos - len_at - 2
    buf[len_at], buf[len_at + 1] = rshift(len, 8), band(len, 0xff)
end

local function list_field(v, field)
    if v == nil then
        return 0
    elseif type(v) ~= "table" then
        bad_type("table", v, nil, nil, field)
    end
    return #v
end

local function put_questions(qs, n)
    for i = 1, n do
        local q = qs[i]
        if type(q) ~= "table" then
            bad_type("table", q, "questions", i)
        end
        put_name(q.name, false, "questions", i, "name")
        put16(code(q.type, TYPE, 65535, "record type", "questions", i, "type"))
        put16(code(q.class or 1, CLASS, 65535, "class", "questions", i, "class"))
    end
end

local function flag(v, bitv)
    return v and bitv or 0
end

local function put_message(msg)
    if type(msg) ~= "table" then
        error(format("bad argument #1 to 'encode' (table expected, got %s)", what(msg)), 0)
    end
    local nq = list_field(msg.questions, "questions")
    local na = list_field(msg.answers, "answers")
    local ns = list_field(msg.authority, "authority")
    local nr = list_field(msg.additional, "additional")
    local rcode = code(msg.rcode or 0, RCODE, 4095, "rcode", nil, nil, "rcode")
    local opcode = code(msg.opcode or 0, OPCODE, 15, "opcode", nil, nil, "opcode")
    pos, ext_rcode = 0, rshift(rcode, 4)
    put16(uint(msg.id or 0, 65535, nil, nil, "id"))
    put8(bor(flag(msg.qr, 0x80), lshift(opcode, 3), flag(msg.aa, 0x04), flag(msg.tc, 0x02), flag(msg.rd, 0x01)))
    put8(bor(flag(msg.ra, 0x80), flag(msg.ad, 0x20), flag(msg.cd, 0x10), band(rcode, 0x0f)))
    put16(nq)
    put16(na)
    put16(ns)
    put16(nr)
    put_questions(msg.questions, nq)
    for i = 1, na do
        put_record(msg.answers[i], "answers", i)
    end
    for i = 1, ns do
        put_record(msg.authority[i], "authority", i)
    end
    for i = 1, nr do
        put_record(msg.additional[i], "additional", i)
    end
    if ext_rcode > 0 then
        bad_value(format("rcode %s needs an OPT record to carry it", tostring(msg.rcode)))
    end
    return ffi_string(buf, pos)
end

-- encode(msg): the wire bytes, or nil and a DNSMessageError; raises on a
-- field of the wrong type.
function _M.encode(msg)
    local ok, s = pcall(put_message, msg)
    clear(suffixes)
    if ok then
        return s
    elseif getmetatable(s) == MessageErrorKind then
        return nil, s
    end
    error(s, 2)
end

return _M
