-- lnet.dns.reply (private): the bytes a server sends for a query, from
-- what its handler returned (the actions lnet.dns.server documents).
--
-- Special problem of a reply too big for UDP: a real server sends what fits
-- with TC set and the client asks again over TCP. So does this one: over
-- UDP a reply longer than the client's limit (512 bytes, or the size its
-- OPT record gives) goes out as the header and question only, TC set.

local bit = require "bit"
local const = require "lnet.dns.const"
local encode = require "lnet.dns.encode"

local band, bor = bit.band, bit.bor
local byte, char, sub, format = string.byte, string.char, string.sub, string.format
local concat = table.concat
local type, pcall, tostring = type, pcall, tostring
local random, max = math.random, math.max
local encode_msg = encode.encode
local RCODE = const.rcode

local _M = {}

local UDP_MIN = 512 -- RFC 1035's limit, for clients without EDNS
local GARBAGE_SIZE = 32
local MAX_MESSAGE = 65535

-- The server's own OPT record, in replies to queries that had one.
local SERVER_OPT = { name = ".", type = "OPT", udp_size = 1232 }

local function client_opt(req)
    local additional = req.additional
    for i = 1, #additional do
        if additional[i].type == "OPT" then
            return additional[i]
        end
    end
    return nil
end

local function has_opt(list)
    for i = 1, #list do
        local r = list[i]
        if type(r) == "table" and (r.type == "OPT" or r.type == 41) then
            return true
        end
    end
    return false
end

-- The reply message for req from spec (a handler's table, or one made for
-- a string action).
local function message(req, spec, opt)
    local additional = spec.additional
    if opt ~= nil and (additional == nil or (type(additional) == "table" and not has_opt(additional))) then
        local list, n = {}, additional and #additional or 0
        for i = 1, n do
            list[i] = additional[i]
        end
        list[n + 1] = SERVER_OPT
        additional = list
    end
    local rd, cd = spec.rd, spec.cd
    if rd == nil then
        rd = req.rd
    end
    if cd == nil then
        cd = req.cd
    end
    return {
        id = spec.id or req.id,
        qr = spec.qr ~= false,
        opcode = spec.opcode or req.opcode,
        aa = spec.aa,
        tc = spec.tc,
        rd = rd,
        ra = spec.ra ~= false,
        ad = spec.ad,
        cd = cd,
        rcode = spec.rcode,
        questions = spec.questions or req.questions,
        answers = spec.answers,
        authority = spec.authority,
        additional = additional,
    }
end

-- The message cut down to its header and question, TC set.
local function truncated(msg, opt)
    msg.tc, msg.answers, msg.authority = true, nil, nil
    msg.additional = opt and { SERVER_OPT } or nil
    return msg
end

-- The bytes of the reply spec asks for, or nil and the error (a handler's
-- table may hold anything: a wrong type is its error, not the server's).
local function reply_bytes(req, spec, proto)
    local opt = client_opt(req)
    local msg = message(req, spec, opt)
    if spec.truncate and proto == "udp" then
        truncated(msg, opt)
    end
    local ok, bytes, err = pcall(encode_msg, msg)
    if not ok then
        return nil, bytes
    elseif bytes == nil then
        return nil, err
    end
    if proto == "udp" and #bytes > max(UDP_MIN, opt and opt.udp_size or 0) then
        bytes = encode_msg(truncated(msg, opt))
    end
    return bytes
end

-- SERVFAIL, for a handler that raised or returned what cannot be sent.
local function servfail(req)
    return encode_msg {
        id = req.id, qr = true, opcode = req.opcode, rd = req.rd, ra = true, rcode = "SERVFAIL",
        questions = req.questions,
    }
end

local function garbage(n)
    local t = {}
    for i = 1, n do
        t[i] = char(random(0, 255))
    end
    return concat(t)
end

-- How the request failed, for the log: a string, or an error object.
local function failure(req, why)
    return servfail(req), nil, why
end

-- build(req, result, proto): what to send for the decoded query req whose
-- handler returned result, over proto ("udp" or "tcp"): the bytes (nil:
-- send nothing), the delay before sending them (nil: none), and what went
-- wrong (nil, or why a SERVFAIL is sent instead).
function _M.build(req, result, proto)
    local kind = type(result)
    if result == nil or result == "drop" then
        return nil
    elseif kind == "string" then
        if result == "truncate" then
            return reply_bytes(req, { truncate = true }, proto)
        elseif result == "garbage" then
            return garbage(GARBAGE_SIZE)
        elseif type(RCODE[result]) == "number" then
            return reply_bytes(req, { rcode = result }, proto)
        end
        return failure(req, format("unknown action %q", result))
    elseif kind ~= "table" then
        return failure(req, "handler returned a " .. kind)
    end
    local delay = result.delay
    if delay ~= nil and not (type(delay) == "number" and delay >= 0) then
        return failure(req, "delay: a number of seconds expected, got " .. tostring(delay))
    end
    if result.drop then
        return nil, delay
    end
    local raw, junk = result.raw, result.garbage
    if raw ~= nil then
        if type(raw) ~= "string" then
            return failure(req, "raw: a string expected, got " .. type(raw))
        end
        return raw, delay
    elseif junk ~= nil then
        local n = junk == true and GARBAGE_SIZE or junk
        if type(n) ~= "number" or not (n >= 0 and n <= MAX_MESSAGE) then
            return failure(req, "garbage: true or a byte count expected, got " .. tostring(junk))
        end
        return garbage(n), delay
    end
    local bytes, err = reply_bytes(req, result, proto)
    if bytes == nil then
        return failure(req, err)
    end
    return bytes, delay
end

-- formerr(data): the FORMERR reply to a query that does not decode: its
-- header with QR and the rcode set and nothing else; nil when data has no
-- header or is itself a reply (answering those could start a loop).
function _M.formerr(data)
    if #data < 12 then
        return nil
    end
    local b2 = byte(data, 3)
    if b2 >= 0x80 then
        return nil
    end
    return sub(data, 1, 2) .. char(bor(0x80, band(b2, 0x79)), const.rcode.FORMERR) .. "\0\0\0\0\0\0\0\0"
end

-- error_reply(req, rcode, proto): the reply with req's questions and
-- rcode, nothing else.
function _M.error_reply(req, rcode, proto)
    return reply_bytes(req, { rcode = rcode }, proto)
end

_M.servfail = servfail

return _M
