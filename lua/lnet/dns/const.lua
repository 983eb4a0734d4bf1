-- lnet.dns.const (private): the numbers of the DNS wire format and their
-- names, both ways in one table (type.A == 1, type[1] == "A"), and the error
-- every malformed message or unencodable value turns into.

local errors = require "lnet.errors"

local setmetatable, pairs, tostring = setmetatable, pairs, tostring

local _M = {}

local function both_ways(t)
    local names = {}
    for name, n in pairs(t) do
        names[n] = name
    end
    for n, name in pairs(names) do
        t[n] = name
    end
    return t
end

-- RFC 1035, 3596 (AAAA), 2782 (SRV), 6891 (OPT), and the IANA registry for
-- the rest: named here so decode reports them by name; only the types
-- lnet.dns.decode/encode have fields for are taken apart, the others keep
-- their RDATA as raw `data`.
_M.type = both_ways {
    A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15, TXT = 16,
    AAAA = 28, SRV = 33, NAPTR = 35, DS = 43, OPT = 41, RRSIG = 46, NSEC = 47,
    DNSKEY = 48, SVCB = 64, HTTPS = 65, IXFR = 251, AXFR = 252, ANY = 255, CAA = 257,
}

_M.class = both_ways { IN = 1, CH = 3, HS = 4, NONE = 254, ANY = 255 }

-- Response codes up to 15 fit the header; BADVERS and above need the
-- extended bits an OPT record carries (RFC 6891).
_M.rcode = both_ways {
    NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5,
    YXDOMAIN = 6, YXRRSET = 7, NXRRSET = 8, NOTAUTH = 9, NOTZONE = 10, BADVERS = 16,
}

_M.opcode = both_ways { QUERY = 0, IQUERY = 1, STATUS = 2, NOTIFY = 4, UPDATE = 5 }

-- DNSMessageError{msg, offset}: a message that does not decode (offset is
-- the byte where the problem was found) or a value that does not encode
-- (no offset; msg names the field at fault).
local MessageError = errors.kind("DNSMessageError", function(self)
    local s = "dns: " .. self.msg
    if self.offset ~= nil then
        s = s .. " at byte " .. tostring(self.offset)
    end
    return s
end)

function _M.MessageError(msg, offset)
    return setmetatable({ msg = msg, offset = offset }, MessageError)
end

return _M
