-- lnet.dns.zone: a handler that answers from a table of names, as an
-- authoritative server for all of them would (RFC 1034 section 4.3.2,
-- without delegation or wildcards):
--
--   dns.zone{ ["a.test."] = { A = {"127.0.0.1"}, MX = {{pref = 10, host = "mx.test."}} }, ... }
--
-- A known name and type: the records (AA set). A known name without that
-- type: NODATA, that is NOERROR, no answer and an SOA in the authority
-- section; so is a name that only has names below it (an empty
-- non-terminal). Any other name: NXDOMAIN with the SOA. A CNAME is followed
-- inside the table, the chain going into the answer. The SOA is the nearest
-- one at or above the name, else one made up for its top-level domain.
--
-- The table is checked and compiled once, here: every record is encoded
-- once to prove it can be, and lookups are one table index per name.

local const = require "lnet.dns.const"
local encode = require "lnet.dns.encode"
local name = require "lnet.dns.name"
local ip = require "lnet.ip"
local check_arg = require("lnet.errors").check_arg

local lower, format = string.lower, string.format
local type, pairs, tostring, setmetatable = type, pairs, tostring, setmetatable
local TYPE = const.type
local MessageError = const.MessageError
local canonical, parent = name.canonical, name.parent
local is_addr = ip.is_addr

local _M = {}

local DEFAULT_TTL = 60
local MAX_CHAIN = 16
local T_CNAME, T_SOA, T_ANY = TYPE.CNAME, TYPE.SOA, TYPE.ANY

-- What a bare value (a string, an lnet.ip address) in a type's list stands
-- for; types whose records have several fields take tables only; any other
-- type takes its raw record data.
local SHORT = { A = "ip", AAAA = "ip", CNAME = "host", NS = "host", PTR = "host" }
local FIELDS = { MX = true, SRV = true, SOA = true }

local function bad(owner, msg)
    return nil, MessageError(format("zone %q: %s", owner, msg))
end

-- One record of type t (tname: its name, if it has one) at owner, from an
-- element of the type's list; or nil and the error.
local function record(owner, tname, t, ttl, v)
    local rec
    if type(v) == "table" and not is_addr(v) and (tname ~= "TXT" or v.texts ~= nil) then
        rec = {}
        for k, x in pairs(v) do
            rec[k] = x
        end
        rec.ttl = v.ttl or ttl
    elseif FIELDS[tname] then
        return bad(owner, tname .. " records are tables, got " .. type(v))
    else
        rec = { ttl = ttl }
        if tname == "TXT" then
            rec.texts = type(v) == "table" and v or { v }
        else
            rec[SHORT[tname] or "data"] = v
        end
    end
    rec.name, rec.type, rec.class = owner, tname or t, "IN"
    return rec
end

-- The records of one name: {rrsets = {[type number] = {records}}, all =
-- {every record}, cname = the CNAME target}, or nil and the error.
local function compile_node(owner, spec)
    if type(spec) ~= "table" then
        return bad(owner, "records must be a table, got " .. type(spec))
    end
    local ttl = spec.ttl or DEFAULT_TTL
    local node = { rrsets = {}, all = {} }
    for k, list in pairs(spec) do
        if k ~= "ttl" then
            local t = type(k) == "number" and k or TYPE[k]
            if type(t) ~= "number" then
                return bad(owner, "unknown record type " .. tostring(k))
            end
            local tname = TYPE[t]
            if type(list) ~= "table" or is_addr(list) or list[1] == nil then
                list = { list } -- one record given alone
            end
            local set = {}
            for i = 1, #list do
                local rec, err = record(owner, tname, t, ttl, list[i])
                if rec == nil then
                    return nil, err
                end
                set[i] = rec
                node.all[#node.all + 1] = rec
            end
            node.rrsets[t] = set
            if t == T_CNAME then
                local target, err = canonical(type(set[1].host) == "string" and set[1].host or "")
                if target == nil then
                    return bad(owner, "CNAME: " .. err.msg)
                end
                node.cname = target
            end
        end
    end
    -- Encoding every record once proves each can be sent.
    local ok, wire, err = pcall(encode.encode, { answers = node.all })
    if not ok then
        return bad(owner, tostring(wire))
    elseif wire == nil then
        return bad(owner, err.msg)
    end
    return node
end

local Zone = {}
Zone.__index = Zone

-- zone(tbl): a handler function(req, info) answering from tbl, or nil and
-- a DNSMessageError saying what in tbl is wrong.
function _M.zone(tbl)
    check_arg(tbl, "table", 1, "zone")
    local self = setmetatable({ nodes = {}, enclosers = {}, soas = {} }, Zone)
    for owner, spec in pairs(tbl) do
        if type(owner) ~= "string" then
            return nil, MessageError("zone: names must be strings, got " .. type(owner))
        end
        local text, err = canonical(owner)
        if text == nil then
            return bad(owner, err.msg)
        end
        local node
        node, err = compile_node(text, spec)
        if node == nil then
            return nil, err
        end
        local key = lower(text)
        self.nodes[key] = node
        local up = parent(key)
        while up ~= nil do
            self.enclosers[up] = true
            up = parent(up)
        end
    end
    return function(req)
        return self:answer(req)
    end
end

-- The SOA record for negative answers about key: the nearest one at or
-- above it, else one made for its top-level domain (kept per domain).
function Zone:soa(key)
    local at = key
    while at ~= nil do
        local node = self.nodes[at]
        local set = node and node.rrsets[T_SOA]
        if set and set[1] then
            return set[1]
        end
        local up = parent(at)
        if up == "." or up == nil then
            break
        end
        at = up
    end
    local made = self.soas[at]
    if made == nil then
        local base = at == "." and "" or at
        made = {
            name = at, type = "SOA", class = "IN", ttl = DEFAULT_TTL,
            mname = "ns." .. base, rname = "hostmaster." .. base,
            serial = 1, refresh = 3600, retry = 600, expire = 86400, minimum = DEFAULT_TTL,
        }
        self.soas[at] = made
    end
    return made
end

-- Adds the records of set to answers, owned by `owner` (the name as the
-- query spelled it: the compiled records are copied only if its case differs).
local function add(answers, set, owner)
    local n = #answers
    for i = 1, #set do
        local rec = set[i]
        if rec.name ~= owner then
            local copy = {}
            for k, v in pairs(rec) do
                copy[k] = v
            end
            copy.name = owner
            rec = copy
        end
        answers[n + i] = rec
    end
end

function Zone:negative(rcode, answers, key)
    return { aa = true, rcode = rcode, answers = answers, authority = { self:soa(key) } }
end

-- The reply to req (a decoded query) as a server action table.
function Zone:answer(req)
    local q = req.questions[1]
    local qtype = q.type
    if type(qtype) == "string" then
        qtype = TYPE[qtype]
    end
    local answers, owner = {}, q.name
    local key = lower(owner)
    local seen
    for hop = 1, MAX_CHAIN do
        local node = self.nodes[key]
        if node == nil then
            if self.enclosers[key] then
                return self:negative("NOERROR", answers, key)
            end
            return self:negative("NXDOMAIN", answers, key)
        end
        local set = qtype == T_ANY and node.all or node.rrsets[qtype]
        if set ~= nil and set[1] ~= nil then
            add(answers, set, owner)
            break
        end
        if node.cname == nil or qtype == T_CNAME then
            return self:negative("NOERROR", answers, key)
        end
        add(answers, node.rrsets[T_CNAME], owner)
        seen = seen or {}
        seen[key] = true
        owner, key = node.cname, lower(node.cname)
        if seen[key] or hop == MAX_CHAIN then
            break -- a loop: the chain as far as it goes
        end
    end
    return { aa = true, answers = answers }
end

return _M
