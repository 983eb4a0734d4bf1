-- lnet.chaos.dns (private): chaos.dns{...}, a DNS server (lnet.dns.server)
-- whose names fail as a script says: NXDOMAIN, SERVFAIL (any rcode), no
-- answer at all (timeout), a truncated reply over UDP (the client must come
-- back over TCP), garbage, a wrong answer, or the right one late. Names
-- with no fault are answered from a zone table (or a handler), else
-- NXDOMAIN. Faults match a name exactly (letter case and the final dot
-- aside), or every name under a suffix ("*.test."), or every name ("*");
-- the first fault added that matches and draws (p, nth) acts. Every fault
-- that acts is an event, as the proxies' are.

local dns = require "lnet.dns"
local resolver = require "lnet.resolver"
local errors = require "lnet.errors"
local events = require "lnet.chaos.events"
local cerr = require "lnet.chaos.errors"
local rand = require "lnet.chaos.rand"
local toxics = require "lnet.chaos.toxics"

local type, pairs, ipairs, tostring, setmetatable, error, select = type, pairs, ipairs, tostring, setmetatable, error, select
local lower, sub = string.lower, string.sub
local floor = math.floor

local _M = {}

local ACTIONS = { timeout = true, truncate = true, garbage = true, slow = true, answer = true }

local function canonical(name)
    name = lower(name)
    if sub(name, -1) ~= "." then
        name = name .. "."
    end
    return name
end

local function matches(pattern, name)
    if pattern == "*" then
        return true
    elseif sub(pattern, 1, 2) == "*." then
        local suffix = sub(pattern, 2)
        return #name > #suffix and sub(name, -#suffix) == suffix
    end
    return pattern == name
end

local DnsChaos = {}
DnsChaos.__index = DnsChaos

local function check(self, fname)
    errors.check_self(self, DnsChaos, "chaos dns", fname)
end

-- What the server does for req under fault f (the zone's answer in hand).
local function act(f, req, normal)
    local action, delay = f.action, f.ms / 1000
    if action == "timeout" then
        return "drop"
    elseif action == "garbage" then
        return { garbage = true, delay = delay }
    elseif action == "answer" then
        return { answers = f.answers(req), delay = delay, aa = true }
    elseif action == "truncate" or action == "slow" then
        local r = {}
        if type(normal) == "table" then
            for k, v in pairs(normal) do
                r[k] = v
            end
        else
            r.rcode = normal
        end
        r.truncate = action == "truncate" or nil
        r.delay = delay
        return r
    end
    return { rcode = action, delay = delay }
end

function DnsChaos:handle(req, info)
    local q = req.questions[1]
    local name = canonical(q.name)
    local normal = self.base and self.base(req, info) or "NXDOMAIN"
    for _, f in ipairs(self.faults) do
        if matches(f.pattern, name) and (f.qtype == nil or f.qtype == q.type) then
            f.n = f.n + 1
            if (f.nth == nil or f.n % f.nth == 0) and self.rng:chance(f.p) then
                self.log:add { toxic = f.name, type = f.action, what = f.action, name = q.name, qtype = q.type,
                               proto = info.proto, ms = f.ms > 0 and f.ms or nil }
                return act(f, req, normal)
            end
        end
    end
    return normal
end

-- fault{name, action, type, ms, answers, p, nth, id}: from now on, queries
-- for name (of type `type`, if given) get action: an rcode name
-- ("NXDOMAIN", "SERVFAIL", ...), "timeout", "truncate", "garbage", "slow"
-- (the normal answer, ms late) or "answer" (answers: a list of records, or
-- a function(req) returning one); ms delays any reply. Returns the fault's
-- id (id, else "<name>/<action>"), or nil and a ChaosError.
function DnsChaos:fault(spec)
    check(self, "fault")
    if type(spec) ~= "table" then
        error("bad argument #1 to 'fault' (table expected, got " .. type(spec) .. ")", 2)
    end
    local bad = function(msg)
        return nil, cerr.new("bad_value", msg)
    end
    for k in pairs(spec) do
        if not ({ name = true, action = true, type = true, ms = true, answers = true, p = true, nth = true,
                  id = true })[k] then
            return bad("dns fault has no field " .. tostring(k))
        end
    end
    if type(spec.name) ~= "string" or spec.name == "" then
        return nil, cerr.new("missing_field", "dns fault needs a name")
    end
    local action = spec.action
    if not (ACTIONS[action] or (type(action) == "string" and type(dns.rcode[action]) == "number")) then
        return bad("unknown dns fault action " .. tostring(action))
    end
    local ms, why = toxics.non_negative(spec.ms or 0)
    if why ~= nil then
        return bad("ms must be " .. why)
    end
    local p
    p, why = toxics.probability(spec.p or 1)
    if why ~= nil then
        return bad("p must be " .. why)
    end
    if spec.nth ~= nil and select(2, toxics.positive_int(spec.nth)) ~= nil then
        return bad("nth must be a positive integer")
    end
    local answers = spec.answers
    if action == "answer" then
        if type(answers) == "table" then
            local list = answers
            answers = function()
                return list
            end
        elseif type(answers) ~= "function" then
            return bad("action answer needs answers (a list of records or a function)")
        end
    end
    local pattern = spec.name == "*" and "*" or canonical(spec.name)
    local id = spec.id or spec.name .. "/" .. action
    for _, f in ipairs(self.faults) do
        if f.name == id then
            return nil, cerr.new("toxic_exists", "dns fault " .. id .. " already exists")
        end
    end
    self.faults[#self.faults + 1] = { name = id, pattern = pattern, action = action, ms = ms, p = p, nth = spec.nth,
                                      qtype = spec.type, answers = answers, n = 0 }
    return id
end

-- clear([id]): removes that fault (every one without an id); true, or nil
-- and a ChaosError for an unknown id.
function DnsChaos:clear(id)
    check(self, "clear")
    if id == nil then
        self.faults = {}
        return true
    end
    for i, f in ipairs(self.faults) do
        if f.name == id then
            table.remove(self.faults, i)
            return true
        end
    end
    return nil, cerr.new("toxic_not_found", "no dns fault " .. tostring(id))
end

function DnsChaos:addr()
    check(self, "addr")
    return self.server:addr()
end

-- resolver([opts]): an lnet.resolver asking only this server (c-ares, one
-- attempt unless opts say otherwise).
function DnsChaos:resolver(opts)
    check(self, "resolver")
    local o = { servers = { tostring(self.server:addr()) }, prefer = "ares", attempts = 1 }
    for k, v in pairs(opts or {}) do
        o[k] = v
    end
    return resolver.new(o)
end

function DnsChaos:events()
    check(self, "events")
    return self.log:events()
end

function DnsChaos:queries()
    check(self, "queries")
    return self.server:queries()
end

function DnsChaos:close()
    check(self, "close")
    local ok, err = self.server:close()
    self.log:close()
    return ok, err
end

-- dns{listen, zone | handler, seed, log, on_event}: a running server, or nil
-- and the error (the listen error; a DNSMessageError for a bad zone).
function _M.dns(opts)
    opts = opts or {}
    if type(opts) ~= "table" then
        error("bad argument #1 to 'dns' (table expected, got " .. type(opts) .. ")", 2)
    end
    rand.check_seed(opts.seed, "dns")
    local base = opts.handler
    if opts.zone ~= nil then
        local err
        base, err = dns.zone(opts.zone)
        if base == nil then
            return nil, err
        end
    end
    local log, err = events.new { name = opts.name or "dns", file = opts.log, on_event = opts.on_event }
    if log == nil then
        return nil, err
    end
    local self = setmetatable({ base = base, faults = {}, log = log,
                                rng = rand.new(opts.seed or floor(os.time()), 0, "dns") }, DnsChaos)
    local server
    server, err = dns.server { listen = opts.listen or "127.0.0.1:0", handler = function(req, info)
        return self:handle(req, info)
    end }
    if server == nil then
        log:close()
        return nil, err
    end
    self.server = server
    return self
end

return _M
