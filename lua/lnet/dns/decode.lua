-- lnet.dns.decode (private): a DNS message from its wire bytes (RFC 1035
-- section 4), as the table lnet.dns documents.
--
-- The message is read in place through a byte pointer into the Lua string;
-- every read is checked against the message's (or the record data's) end
-- first, so a message can only ever make decode read its own bytes. Tables
-- are made only for what was actually read, and the counts in the header are
-- checked against what the bytes could hold before any is believed, so no
-- allocation is sized by a number from the message.

local ffi = require "ffi"
local bit = require "bit"
local clear = require "table.clear"
local ip = require "lnet.ip"
local const = require "lnet.dns.const"
local name = require "lnet.dns.name"
local check_arg = require("lnet.errors").check_arg

local cast = ffi.cast
local band, rshift = bit.band, bit.rshift
local sub, format = string.sub, string.format
local type, error = type, error
local read_name = name.read
local addr_from_bytes = ip.addr_from_bytes
local TYPE, CLASS, RCODE, OPCODE = const.type, const.class, const.rcode, const.opcode
local MessageError = const.MessageError

local u8p = ffi.typeof("const uint8_t *")

local _M = {}

local HEADER = 12
local QUESTION_MIN = 5 -- the root name and type and class
local RECORD_MIN = 11 -- the root name, type, class, ttl, rdlength
local T_OPT = TYPE.OPT

-- The names read so far in the message being decoded, by offset (see
-- name.read); decode never yields, so one pair serves every call.
local texts, lens = {}, {}

local function u16(p, i)
    return p[i] * 256 + p[i + 1]
end

local function u32(p, i)
    return ((p[i] * 256 + p[i + 1]) * 256 + p[i + 2]) * 256 + p[i + 3]
end

-- Record data readers, by type: each fills rec from the bytes rs..re-1 of
-- the message (n long) and returns nil, or returns a MessageError.

local function fixed(size, tname, field)
    local msg = format("%s record data is not %d bytes", tname, size)
    return function(s, _, rs, re, _, rec)
        if re - rs ~= size then
            return MessageError(msg, rs)
        end
        rec[field] = addr_from_bytes(sub(s, rs + 1, re))
    end
end

-- A name that must fill the data from `at` to re; nil and the error if not.
local function name_to_end(s, p, at, re, n)
    local text, after = read_name(s, p, at, re, n, texts, lens)
    if text == nil then
        return nil, after
    end
    if after ~= re then
        return nil, MessageError("record data longer than its fields", after)
    end
    return text
end

local function too_short(rs)
    return MessageError("record data shorter than its fields", rs)
end

local function host_only(s, p, rs, re, n, rec)
    local host, err = name_to_end(s, p, rs, re, n)
    if host == nil then
        return err
    end
    rec.host = host
end

local rdata = {
    [TYPE.A] = fixed(4, "A", "ip"),
    [TYPE.AAAA] = fixed(16, "AAAA", "ip"),
    [TYPE.CNAME] = host_only,
    [TYPE.NS] = host_only,
    [TYPE.PTR] = host_only,
}

rdata[TYPE.MX] = function(s, p, rs, re, n, rec)
    if re - rs < 3 then
        return too_short(rs)
    end
    local host, err = name_to_end(s, p, rs + 2, re, n)
    if host == nil then
        return err
    end
    rec.pref, rec.host = u16(p, rs), host
end

rdata[TYPE.SRV] = function(s, p, rs, re, n, rec)
    if re - rs < 7 then
        return too_short(rs)
    end
    local target, err = name_to_end(s, p, rs + 6, re, n)
    if target == nil then
        return err
    end
    rec.priority, rec.weight, rec.port, rec.target = u16(p, rs), u16(p, rs + 2), u16(p, rs + 4), target
end

-- One or more <character-string>s: a length byte, then that many bytes.
rdata[TYPE.TXT] = function(s, p, rs, re, _, rec)
    local texts_, k, i = {}, 0, rs
    while i < re do
        local len = p[i]
        if i + 1 + len > re then
            return MessageError("TXT string runs past the record data", i)
        end
        k = k + 1
        texts_[k] = sub(s, i + 2, i + 1 + len)
        i = i + 1 + len
    end
    rec.texts = texts_
end

rdata[TYPE.SOA] = function(s, p, rs, re, n, rec)
    local mname, after = read_name(s, p, rs, re, n, texts, lens)
    if mname == nil then
        return after
    end
    local rname
    rname, after = read_name(s, p, after, re, n, texts, lens)
    if rname == nil then
        return after
    end
    if re - after ~= 20 then
        return MessageError("SOA record data is not two names and 20 bytes", after)
    end
    rec.mname, rec.rname = mname, rname
    rec.serial, rec.refresh, rec.retry = u32(p, after), u32(p, after + 4), u32(p, after + 8)
    rec.expire, rec.minimum = u32(p, after + 12), u32(p, after + 16)
end

-- OPT (RFC 6891) reuses class and ttl for its own fields; its options stay
-- raw bytes.
local function opt(s, rs, re, rec, class, ttl)
    rec.udp_size = class
    rec.ext_rcode = rshift(ttl, 24) -- ttl is below 2^32: rshift sees it as int32, the top byte intact
    rec.version = band(rshift(ttl, 16), 0xff)
    rec.dnssec_ok = band(ttl, 0x8000) ~= 0
    rec.data = sub(s, rs + 1, re)
end

-- One resource record at off: the record and the offset after it, or nil
-- and the error.
local function read_record(s, p, off, n)
    local owner, after = read_name(s, p, off, n, n, texts, lens)
    if owner == nil then
        return nil, after
    end
    off = after
    if off + 10 > n then
        return nil, MessageError("record header runs past the end", off)
    end
    local t, class, ttl, rs = u16(p, off), u16(p, off + 2), u32(p, off + 4), off + 10
    local re = rs + u16(p, off + 8)
    if re > n then
        return nil, MessageError("record data runs past the end", rs)
    end
    local rec = { name = owner, type = TYPE[t] or t }
    if t == T_OPT then
        opt(s, rs, re, rec, class, ttl)
        return rec, re
    end
    rec.class, rec.ttl = CLASS[class] or class, ttl
    local read = rdata[t]
    if read == nil then
        rec.data = sub(s, rs + 1, re)
    else
        local err = read(s, p, rs, re, n, rec)
        if err ~= nil then
            return nil, err
        end
    end
    return rec, re
end

local function read_section(s, p, off, n, count)
    local list = {}
    for i = 1, count do
        local rec, after = read_record(s, p, off, n)
        if rec == nil then
            return nil, after
        end
        list[i] = rec
        off = after
    end
    return list, off
end

local function read_questions(s, p, off, n, count)
    local list = {}
    for i = 1, count do
        local qname, after = read_name(s, p, off, n, n, texts, lens)
        if qname == nil then
            return nil, after
        end
        if after + 4 > n then
            return nil, MessageError("question runs past the end", after)
        end
        local t, class = u16(p, after), u16(p, after + 2)
        list[i] = { name = qname, type = TYPE[t] or t, class = CLASS[class] or class }
        off = after + 4
    end
    return list, off
end

-- The message's one OPT record, false for none, or nil and the error for
-- more than one (RFC 6891 section 6.1.1).
local function find_opt(additional)
    local found = false
    for i = 1, #additional do
        if additional[i].type == "OPT" then
            if found then
                return nil, MessageError("more than one OPT record")
            end
            found = additional[i]
        end
    end
    return found
end

local function decode(s)
    local n = #s
    if n < HEADER then
        return nil, MessageError(format("message of %d bytes is shorter than its header", n), 0)
    end
    local p = cast(u8p, s)
    local qd, an, ns, ar = u16(p, 4), u16(p, 6), u16(p, 8), u16(p, 10)
    if qd * QUESTION_MIN + (an + ns + ar) * RECORD_MIN > n - HEADER then
        return nil, MessageError(format("header counts %d/%d/%d/%d more than %d bytes can hold", qd, an, ns, ar, n), 4)
    end
    local b2, b3 = p[2], p[3]
    local rcode = band(b3, 0x0f)
    local opcode = rshift(band(b2, 0x78), 3)
    local msg = {
        id = u16(p, 0),
        qr = b2 >= 0x80,
        opcode = OPCODE[opcode] or opcode,
        aa = band(b2, 0x04) ~= 0,
        tc = band(b2, 0x02) ~= 0,
        rd = band(b2, 0x01) ~= 0,
        ra = band(b3, 0x80) ~= 0,
        ad = band(b3, 0x20) ~= 0,
        cd = band(b3, 0x10) ~= 0,
    }
    local questions, answers, authority, additional
    local off = HEADER
    questions, off = read_questions(s, p, off, n, qd)
    if questions == nil then
        return nil, off
    end
    answers, off = read_section(s, p, off, n, an)
    if answers == nil then
        return nil, off
    end
    authority, off = read_section(s, p, off, n, ns)
    if authority == nil then
        return nil, off
    end
    additional, off = read_section(s, p, off, n, ar)
    if additional == nil then
        return nil, off
    end
    msg.questions, msg.answers, msg.authority, msg.additional = questions, answers, authority, additional
    if off ~= n then
        return nil, MessageError(format("%d bytes after the last record", n - off), off)
    end
    local o, err = find_opt(additional)
    if o == nil then
        return nil, err
    end
    if o then
        rcode = o.ext_rcode * 16 + rcode
    end
    msg.rcode = RCODE[rcode] or rcode
    return msg
end

-- decode(s): the message, or nil and a DNSMessageError.
function _M.decode(s)
    check_arg(s, "string", 1, "decode")
    local msg, err = decode(s)
    clear(texts)
    clear(lens)
    return msg, err
end

return _M
