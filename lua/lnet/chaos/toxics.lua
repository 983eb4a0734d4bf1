-- lnet.chaos.toxics (private): the toxic types: their attributes (as
-- scripts name them and as Toxiproxy's API does), how a spec is checked, and
-- what each does to the stream.
--
-- A stream toxic is a stage of a link's chain (link.lua). The writer of a
-- link takes each chunk off the queue as a piece {data, due} (data false at
-- end of stream; due the lnet.now() time it may go out, first the time it
-- was read), and each stage's `stage(x, st, link, piece, out)` appends the
-- pieces it makes of it to out, setting their due times as Toxiproxy's
-- goroutine of that stage would have sent them (latency: later by the
-- delay; bandwidth: no earlier than the budget allows). A stage may return
-- an action: "close" (end the conn once what is out is written), "hold"
-- (keep the pieces until the chain changes), or a time at which to reset
-- the conn (reset_peer). `timer(x, st)` gives a time at which
-- `on_timer(x, st, link)` returns an action (timeout and limit_time close
-- conns with no data flowing). x is the toxic (x.a its attributes), st its
-- state on this link (kept across updates, as Toxiproxy keeps a stub's).
--
-- Other kinds act elsewhere: "reader" (stall_read: the link stops reading),
-- "accept" (per conn, before the upstream is dialed), "listener" (refuse
-- and syn_blackhole change what listens).

local cerr = require "lnet.chaos.errors"

local type, pairs, ipairs, tostring, error, pcall, select, unpack, setmetatable =
    type, pairs, ipairs, tostring, error, pcall, select, unpack, setmetatable
local floor, max, min, huge = math.floor, math.max, math.min, math.huge
local sub, char, byte, format = string.sub, string.char, string.byte, string.format
local concat = table.concat
local bxor, lshift = require("bit").bxor, require("bit").lshift

local _M = {}

local bad = function(msg)
    return nil, cerr.new("bad_value", msg)
end

---------------------------------------------------------------------------
-- attribute kinds: check(v) -> v, or nil and why

local function non_negative(v)
    if type(v) ~= "number" or v ~= v or v < 0 or v == huge then
        return nil, "a non-negative number"
    end
    return v
end

local function probability(v)
    if type(v) ~= "number" or v ~= v or v < 0 or v > 1 then
        return nil, "a number in [0, 1]"
    end
    return v
end

local function positive_int(v)
    if type(v) ~= "number" or v ~= v or v < 1 or v % 1 ~= 0 or v == huge then
        return nil, "a positive integer"
    end
    return v
end

local function dist(v)
    if v ~= "uniform" and v ~= "normal" then
        return nil, "\"uniform\" or \"normal\""
    end
    return v
end

local function key(v)
    if type(v) ~= "string" or v == "" then
        return nil, "a non-empty string"
    end
    return v
end

local function func(v)
    if type(v) ~= "function" then
        return nil, "a function"
    end
    return v
end

_M.non_negative, _M.probability, _M.positive_int = non_negative, probability, positive_int

-- An attribute: lua name, api name, check, default, and api = lua * scale
-- (bandwidth's rate is KB/s in Toxiproxy's API, slicer's delay µs).
local function attr(name, api, check, default, scale)
    return { name = name, api = api, check = check, default = default, scale = scale or 1 }
end
_M.attr = attr

---------------------------------------------------------------------------
-- stages

local function pass(out, p)
    out[#out + 1] = p
end

local latency = {
    kind = "stream",
    attrs = { attr("ms", "latency", non_negative, 0), attr("jitter", "jitter", non_negative, 0),
              attr("dist", "dist", dist, "uniform") },
    stage = function(x, _, link, p, out)
        if p.data then
            local a, d = x.a, x.a.ms
            if a.jitter > 0 then
                if a.dist == "normal" then
                    d = link:gen():normal(d, a.jitter)
                else
                    d = link:gen():uniform(d - a.jitter, d + a.jitter)
                end
                d = max(d, 0)
            end
            p.due = p.due + d / 1000
            link:event(x, "delay", #p.data, d)
        end
        pass(out, p)
    end,
}

-- Bandwidth: each piece leaves no earlier than the budget's next free time
-- plus its own length's worth; pieces over 100 ms's worth are cut, as
-- Toxiproxy cuts them, so a slow rate still trickles. `shared` makes conns
-- draw from one budget, kept by key on the proxy.
local bandwidth = {
    kind = "stream",
    attrs = { attr("rate", "rate", non_negative, 0, 1 / 1000), attr("shared", "shared", key, nil) },
    stage = function(x, st, link, p, out)
        local rate, data = x.a.rate, p.data
        if not data or rate <= 0 then
            return pass(out, p)
        end
        local budget = x.a.shared and link.proxy:budget(x.a.shared) or st
        local slice = max(1, floor(rate / 10))
        local t = max(p.due, budget.next or 0)
        local start = p.due
        for i = 1, #data, slice do
            local piece = sub(data, i, i + slice - 1)
            t = t + #piece / rate
            out[#out + 1] = { data = piece, due = t }
        end
        budget.next = t
        link:event(x, "delay", #data, (t - start) * 1000)
    end,
}

local slow_close = {
    kind = "stream",
    attrs = { attr("ms", "delay", non_negative, 0) },
    stage = function(x, _, link, p, out)
        if not p.data and not p.err then
            p.due = p.due + x.a.ms / 1000
            link:event(x, "slow_close", 0, x.a.ms)
        end
        pass(out, p)
    end,
}

-- timeout: data is dropped and the conn closed ms after the toxic began on
-- it; ms = 0 is a blackhole: nothing passes and nothing closes, the data is
-- held (up to the link's queue, then the reading stops) and goes on at once
-- when the toxic is removed. (Toxiproxy drops it, and closes the conn on
-- removal.)
local timeout = {
    kind = "stream",
    attrs = { attr("ms", "timeout", non_negative, 0) },
    stage = function(x, _, link, p, out)
        if x.a.ms == 0 then
            out[#out + 1] = p
            return "hold"
        end
        if p.data then
            link:event(x, "drop", #p.data)
            return
        end
        return "close"
    end,
    timer = function(x, st)
        if x.a.ms > 0 then
            return st.start + x.a.ms / 1000
        end
    end,
    on_timer = function(x, _, link)
        link:event(x, "timeout", 0, x.a.ms)
        return "close"
    end,
}

-- reset_peer: the first piece to reach it (data, or the end of the stream)
-- is dropped, and ms later the conn is reset; what went out before it is
-- delivered first (link.lua waits for the send queue to drain).
local reset_peer = {
    kind = "stream",
    attrs = { attr("ms", "timeout", non_negative, 0) },
    stage = function(x, _, link, p)
        link:event(x, "reset", p.data and #p.data or 0, x.a.ms)
        return p.due + x.a.ms / 1000
    end,
}

-- Toxiproxy's slicer: halves a chunk (moved by up to var) until every
-- piece is within var of avg; piece i goes out (i-1) * delay later.
local function cut(rng, avg, var, from, to, acc)
    if (to - from) - avg <= var then
        acc[#acc + 1] = to
        return
    end
    local mid = from + floor((to - from) / 2)
    if var > 0 then
        mid = mid + rng:int(2 * var) - var
    end
    mid = min(max(mid, from + 1), to - 1)
    cut(rng, avg, var, from, mid, acc)
    cut(rng, avg, var, mid, to, acc)
end

local slicer = {
    kind = "stream",
    attrs = { attr("avg", "average_size", positive_int, 1), attr("var", "size_variation", non_negative, 0),
              attr("delay", "delay", non_negative, 0, 1000) },
    check = function(a)
        if a.var >= a.avg and a.var > 0 then
            return "var must be less than avg"
        end
    end,
    stage = function(x, _, link, p, out)
        local data = p.data
        if not data or #data <= 1 then
            return pass(out, p)
        end
        local ends = {}
        cut(link:gen(), x.a.avg, floor(x.a.var), 0, #data, ends)
        local from, step = 0, x.a.delay / 1000
        for i, to in ipairs(ends) do
            out[#out + 1] = { data = sub(data, from + 1, to), due = p.due + (i - 1) * step }
            from = to
        end
        link:event(x, "slice", #data, nil, { pieces = #ends })
    end,
}

local limit_data = {
    kind = "stream",
    attrs = { attr("bytes", "bytes", non_negative, 0) },
    stage = function(x, st, link, p, out)
        local data = p.data
        if not data then
            return pass(out, p)
        end
        local sent = st.sent or 0
        local room = max(x.a.bytes - sent, 0)
        if room < #data then
            link:event(x, "drop", #data - room)
            data = sub(data, 1, room)
            p.data = data
        end
        if #data > 0 then
            out[#out + 1] = p
        end
        st.sent = sent + #data
        if st.sent >= x.a.bytes then
            link:event(x, "limit", st.sent)
            return "close"
        end
    end,
}

local stall_read = { kind = "reader", attrs = {} }

-- corrupt: each byte, with probability p, gets one random bit flipped (the
-- gaps between flips are drawn, not a draw per byte).
local corrupt = {
    kind = "stream",
    attrs = { attr("p", "p", probability, 0) },
    stage = function(x, _, link, p, out)
        local data, prob = p.data, x.a.p
        if data and prob > 0 then
            local rng, parts, from, n = link:gen(), {}, 1, 0
            local i = rng:skip(prob) + 1
            while i <= #data do
                parts[#parts + 1] = sub(data, from, i - 1)
                parts[#parts + 1] = char(bxor(byte(data, i), lshift(1, rng:int(8))))
                from, n = i + 1, n + 1
                i = i + 1 + rng:skip(prob)
            end
            if n > 0 then
                parts[#parts + 1] = sub(data, from)
                p.data = concat(parts)
                link:event(x, "corrupt", n)
            end
        end
        pass(out, p)
    end,
}

local limit_time = {
    kind = "stream",
    attrs = { attr("ms", "ms", non_negative, 0) },
    stage = function(_, _, _, p, out)
        pass(out, p)
    end,
    timer = function(x, st)
        return st.start + x.a.ms / 1000
    end,
    on_timer = function(x, _, link)
        link:event(x, "limit_time", 0, x.a.ms)
        return "close"
    end,
}

-- slow_open: nothing goes out before ms after the conn opened.
local slow_open = {
    kind = "stream",
    attrs = { attr("ms", "ms", non_negative, 0) },
    stage = function(x, _, link, p, out)
        local open = link.session.opened + x.a.ms / 1000
        if p.data and p.due < open then
            link:event(x, "delay", #p.data, (open - p.due) * 1000)
            p.due = open
        end
        pass(out, p)
    end,
}

-- A custom toxic: fn(chunk, ctl) returns the strings to send in its place
-- (none: the chunk is dropped), and may call ctl:delay(sec), ctl:emit(s
-- [, sec]), ctl:close(), ctl:reset([ms]); ctl.state is its table on this
-- link, ctl.conn and ctl.dir say where, ctl:random() draws from the link's
-- generator. It does not see the end of the stream.
local Ctl = {}
Ctl.__index = Ctl

function Ctl:delay(sec)
    self.due = self.due + sec
end

function Ctl:emit(data, sec)
    if type(data) ~= "string" then
        error("bad argument #1 to 'emit' (string expected, got " .. type(data) .. ")", 2)
    end
    self.out[#self.out + 1] = { data = data, due = self.due + (sec or 0) }
end

function Ctl:close()
    self.action = "close"
end

function Ctl:reset(ms)
    self.action = self.due + (ms or 0) / 1000
end

function Ctl:random()
    return self.link:gen():random()
end

local function emit_all(ctl, n, ...)
    for i = 1, n do
        local s = select(i, ...)
        if s ~= nil then
            ctl:emit(tostring(s))
        end
    end
end

local custom = {
    kind = "stream",
    attrs = { attr("fn", nil, func, nil) },
    stage = function(x, st, link, p, out)
        if not p.data then
            return pass(out, p)
        end
        local ctl = st.ctl
        if ctl == nil then
            ctl = setmetatable({ link = link, state = {}, conn = link.session.id, dir = link.dir }, Ctl)
            st.ctl = ctl
        end
        local before = #out
        ctl.out, ctl.due, ctl.action = out, p.due, nil
        local res = { pcall(x.a.fn, p.data, ctl) }
        if not res[1] then
            link:event(x, "error", #p.data, nil, { error = tostring(res[2]) })
            return "close"
        end
        emit_all(ctl, #res - 1, unpack(res, 2))
        local bytes = 0
        for i = before + 1, #out do
            bytes = bytes + #out[i].data
        end
        link:event(x, "custom", #p.data, (ctl.due - p.due) * 1000, { out = bytes })
        return ctl.action
    end,
}

-- Faults of a conn's opening, drawn per conn (toxicity, nth).
local accept_close = { kind = "accept", attrs = {} }
local accept_reset = { kind = "accept", attrs = {} }
local connect_delay = { kind = "accept", attrs = { attr("ms", "ms", non_negative, 0) } }

-- Faults of the listener, for as long as the toxic is there.
local refuse = { kind = "listener", attrs = {} }
local syn_blackhole = { kind = "listener", attrs = {} }

-- index(types): names each type and indexes its attributes.
function _M.index(types)
    for name, def in pairs(types) do
        def.name = name
        def.by_name, def.by_api = {}, {}
        for _, a in ipairs(def.attrs) do
            def.by_name[a.name] = a
            if a.api ~= nil then
                def.by_api[a.api] = a
            end
        end
    end
    return types
end

_M.types = _M.index {
    latency = latency, bandwidth = bandwidth, slow_close = slow_close, timeout = timeout,
    reset_peer = reset_peer, slicer = slicer, limit_data = limit_data,
    stall_read = stall_read, corrupt = corrupt, limit_time = limit_time, slow_open = slow_open,
    custom = custom,
    accept_close = accept_close, accept_reset = accept_reset, connect_delay = connect_delay,
    refuse = refuse, syn_blackhole = syn_blackhole,
}

---------------------------------------------------------------------------
-- specs

-- Streams as scripts and as Toxiproxy's API name them.
local STREAMS = { up = "up", down = "down", both = "both", upstream = "up", downstream = "down" }
_M.STREAMS = STREAMS
_M.API_STREAM = { up = "upstream", down = "downstream", both = "both" }

local COMMON = { type = true, name = true, stream = true, toxicity = true, scope = true, nth = true, framer = true }
local SCOPES = { conn = true, chunk = true, message = true }

-- check_common(spec, x): fills x's stream, toxicity, scope, nth and framer
-- from spec (those given), checked; nil or the error.
local function check_common(spec, x, framer_new)
    if spec.stream ~= nil then
        local s = STREAMS[spec.stream]
        if s == nil then
            return cerr.new("invalid_stream", "stream must be up, down or both (or upstream, downstream), got "
                .. tostring(spec.stream))
        end
        x.stream = s
    end
    if spec.toxicity ~= nil then
        local _, why = probability(spec.toxicity)
        if why ~= nil then
            return select(2, bad("toxicity must be " .. why .. ", got " .. tostring(spec.toxicity)))
        end
        x.toxicity = spec.toxicity
    end
    if spec.scope ~= nil then
        if not SCOPES[spec.scope] then
            return select(2, bad("scope must be conn, chunk or message, got " .. tostring(spec.scope)))
        end
        x.scope = spec.scope
    end
    if spec.nth ~= nil then
        local _, why = positive_int(spec.nth)
        if why ~= nil then
            return select(2, bad("nth must be " .. why .. ", got " .. tostring(spec.nth)))
        end
        x.nth = spec.nth
    end
    if spec.framer ~= nil then
        local ok, f = pcall(framer_new, spec.framer)
        if not ok then
            return select(2, bad(tostring(f):gsub("^.-: ", "", 1)))
        end
        x.framer = f
    end
    return nil
end

-- Checks attributes given in `given` (by lua name, or by api name when
-- api is true) into x.a; nil or the error.
local function check_attrs(def, given, a, api)
    for k, v in pairs(given) do
        local at
        if api then
            at = def.by_api[k]
        else
            at = def.by_name[k]
        end
        if at == nil then
            return select(2, bad(format("%s has no attribute %s", def.name, tostring(k))))
        end
        local value, why = at.check(v)
        if why ~= nil then
            return select(2, bad(format("%s: %s must be %s, got %s", def.name, api and at.api or at.name, why,
                tostring(v))))
        end
        a[at.name] = api and value / at.scale or value
    end
    if def.check ~= nil then
        local why = def.check(a)
        if why ~= nil then
            return select(2, bad(def.name .. ": " .. why))
        end
    end
    return nil
end
_M.check_attrs = check_attrs

-- spec_attrs(spec, common): the fields of a script's spec that are not
-- common (set on every toxic: type, name, stream...), its attributes.
local function spec_attrs(spec, common)
    local attrs = {}
    for k, v in pairs(spec) do
        if not common[k] then
            attrs[k] = v
        end
    end
    return attrs
end
_M.spec_attrs = spec_attrs

-- defaults(def): the attributes of a new toxic of type def.
local function defaults(def)
    local a = {}
    for _, at in ipairs(def.attrs) do
        a[at.name] = at.default
    end
    return a
end
_M.defaults = defaults

-- Checks the combination: kinds that act once per conn or on the
-- listener take no scope; a message scope needs a framer.
local function check_kind(x)
    local kind = x.def.kind
    if (kind == "listener" or kind == "accept" or kind == "reader") and x.scope ~= "conn" then
        return select(2, bad(x.type .. " acts on the " .. (kind == "reader" and "reading" or "conn")
            .. ", not per " .. x.scope))
    end
    if kind == "listener" and (x.toxicity ~= 1 or x.nth ~= nil) then
        return select(2, bad(x.type .. " acts on the listener: toxicity must be 1 and nth unset"))
    end
    if x.scope == "message" and x.framer == nil then
        return select(2, bad("scope message needs a framer"))
    end
    if x.scope ~= "message" and x.framer ~= nil then
        return select(2, bad("a framer is for scope message"))
    end
    if x.type == "custom" and x.a.fn == nil then
        return select(2, cerr.new("missing_field", "custom needs fn"))
    end
    return nil
end

-- new(spec, framer_new): a toxic from a script's spec ({type, name, stream,
-- toxicity, scope, nth, framer, <attributes>}; a spec with fn and no type
-- is a custom toxic), or nil and a ChaosError.
function _M.new(spec, framer_new)
    local tname = spec.type
    if tname == nil and spec.fn ~= nil then
        tname = "custom"
    end
    local def = _M.types[tname]
    if def == nil then
        return nil, cerr.new("invalid_type", "unknown toxic type " .. tostring(tname))
    end
    local x = { type = tname, def = def, stream = "down", toxicity = 1, scope = "conn", a = defaults(def), gen = 0 }
    local err = check_common(spec, x, framer_new)
    if err ~= nil then
        return nil, err
    end
    err = check_attrs(def, spec_attrs(spec, COMMON), x.a, false) or check_kind(x)
    if err ~= nil then
        return nil, err
    end
    if spec.name ~= nil then
        if type(spec.name) ~= "string" or spec.name == "" then
            return bad("name must be a non-empty string, got " .. tostring(spec.name))
        end
        x.name = spec.name
    else
        x.name = tname .. "_" .. _M.API_STREAM[x.stream]
    end
    return x
end

-- from_api(body): a toxic from Toxiproxy's JSON ({name, type, stream,
-- toxicity, attributes}), or nil and a ChaosError. As Toxiproxy: stream
-- "downstream" and toxicity 1 by default, name "<type>_<stream>".
function _M.from_api(body)
    local tname = body.type
    local def = _M.types[tname]
    if def == nil or def.name == "custom" then
        return nil, cerr.new("invalid_type", "invalid toxic type")
    end
    local spec = { type = tname, name = body.name, stream = body.stream or "downstream", toxicity = body.toxicity,
                   scope = body.scope, nth = body.nth }
    if spec.name == "" then
        spec.name = nil
    end
    local x, err = _M.new(spec)
    if x == nil then
        return nil, err
    end
    if type(body.attributes) == "table" then
        err = check_attrs(def, body.attributes, x.a, true)
        if err ~= nil then
            return nil, err
        end
    end
    return x
end

-- update(x, spec [, api]): the changes spec makes to x (attributes, and
-- toxicity), checked first and made all or none; nil or the error.
function _M.update(x, spec, api)
    local trial = { stream = x.stream, toxicity = x.toxicity, scope = x.scope, nth = x.nth, framer = x.framer }
    local a = {}
    for k, v in pairs(x.a) do
        a[k] = v
    end
    local attrs
    if api then
        attrs = type(spec.attributes) == "table" and spec.attributes or {}
        if spec.toxicity ~= nil then
            local err = check_common({ toxicity = spec.toxicity }, trial)
            if err ~= nil then
                return err
            end
        end
    else
        attrs = {}
        for k, v in pairs(spec) do
            if k == "stream" or k == "type" or k == "name" or k == "framer" or k == "scope" then
                if spec[k] ~= x[k] and not (k == "stream" and STREAMS[v] == x.stream) then
                    return select(2, bad(k .. " cannot be changed by an update"))
                end
            elseif COMMON[k] then
                local err = check_common({ [k] = v }, trial)
                if err ~= nil then
                    return err
                end
            else
                attrs[k] = v
            end
        end
    end
    local err = check_attrs(x.def, attrs, a, api)
    if err ~= nil then
        return err
    end
    local probe = { type = x.type, def = x.def, scope = trial.scope, toxicity = trial.toxicity, nth = trial.nth,
                    framer = trial.framer, a = a }
    err = check_kind(probe)
    if err ~= nil then
        return err
    end
    x.a, x.toxicity, x.nth = a, trial.toxicity, trial.nth
    x.gen = x.gen + 1
    return nil
end

-- The attributes in Toxiproxy's names and units, in the order of its
-- structs; the extra ones (dist, shared) only when set.
function _M.api_attributes(x, json)
    local keys, t = {}, {}
    for _, at in ipairs(x.def.attrs) do
        local v = x.a[at.name]
        if at.api ~= nil and v ~= nil and not (at.name == "dist" and v == "uniform") then
            keys[#keys + 1] = at.api
            t[at.api] = type(v) == "number" and v * at.scale or v
        end
    end
    return json.object(t, keys)
end

return _M
