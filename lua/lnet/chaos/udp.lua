-- lnet.chaos.udp (private): chaos.udp_proxy{...}, a UDP relay that
-- impairs datagrams as netem would, without root.
--
-- Each client address is a session: a socket connected to the upstream
-- (so replies come back to the session that asked), idle sessions closed
-- after session_timeout. A datagram goes through the toxics of its
-- direction in order, each a stage over {data, due} items as in the TCP
-- proxy: it may be dropped (loss, loss_ge), doubled (duplicate), held back
-- behind later ones (reorder), delayed (delay, rate), cut (truncate) or
-- damaged (corrupt). Items due now are sent at once; later ones wait in
-- the direction's heap, sent by a task that lives while the heap has any.
-- Every draw comes from the session's generator for that direction.

local sched = require "lnet.sched"
local sys = require "lnet.sys"
local errors = require "lnet.errors"
local packet = require "lnet.packet"
local dial = require "lnet.dial"
local base = require "lnet.chaos.proxy_base"
local toxics = require "lnet.chaos.toxics"
local events = require "lnet.chaos.events"
local cerr = require "lnet.chaos.errors"
local rand = require "lnet.chaos.rand"
local link = require "lnet.chaos.link"

local C = sys.C
local type, pairs, ipairs, error, tostring, setmetatable = type, pairs, ipairs, error, tostring, setmetatable
local floor, max, min, huge = math.floor, math.max, math.min, math.huge
local sub, char, byte = string.sub, string.char, string.byte
local bxor, lshift = require("bit").bxor, require("bit").lshift
local wait = link.wait
local describe, DIRS = base.describe, base.DIRS

local _M = {}

local attr, non_negative, probability, positive_int = toxics.attr, toxics.non_negative, toxics.probability,
    toxics.positive_int

local SESSION_TIMEOUT = 60
local MAX_SESSIONS = 1024
local READ_MAX = 65535

---------------------------------------------------------------------------
-- the toxics

local function pass(out, d)
    out[#out + 1] = d
end

local types = toxics.index {
    loss = {
        attrs = { attr("p", "p", probability, 0) },
        stage = function(x, _, pipe, d, out)
            if pipe.rng:chance(x.a.p) then
                return pipe:event(x, "drop", #d.data)
            end
            pass(out, d)
        end,
    },
    -- Gilbert-Elliott: a good and a bad state; each datagram first moves
    -- good -> bad with probability p or bad -> good with r, then is lost
    -- with probability 1 - h in the bad state and 1 - k in the good one
    -- (netem's gemodel).
    loss_ge = {
        attrs = { attr("p", "p", probability, 0), attr("r", "r", probability, 1), attr("h", "h", probability, 0),
                  attr("k", "k", probability, 1) },
        stage = function(x, st, pipe, d, out)
            local a, rng = x.a, pipe.rng
            if st.bad then
                st.bad = not rng:chance(a.r)
            else
                st.bad = rng:chance(a.p)
            end
            if rng:chance(1 - (st.bad and a.h or a.k)) then
                return pipe:event(x, "drop", #d.data, nil, { state = st.bad and "bad" or "good" })
            end
            pass(out, d)
        end,
    },
    duplicate = {
        attrs = { attr("p", "p", probability, 0) },
        stage = function(x, _, pipe, d, out)
            pass(out, d)
            if pipe.rng:chance(x.a.p) then
                out[#out + 1] = { data = d.data, due = d.due }
                pipe:event(x, "duplicate", #d.data)
            end
        end,
    },
    -- reorder: with probability p a datagram is held until gap later ones
    -- have passed, or ms at most.
    reorder = {
        attrs = { attr("p", "p", probability, 0), attr("gap", "gap", positive_int, 1),
                  attr("ms", "ms", non_negative, 50) },
        stage = function(x, st, pipe, d, out)
            local held = st.held or {}
            st.held = held
            if pipe.rng:chance(x.a.p) then
                held[#held + 1] = { item = d, left = x.a.gap, deadline = d.due + x.a.ms / 1000 }
                return pipe:event(x, "reorder", #d.data)
            end
            pass(out, d)
            local keep = {}
            for _, h in ipairs(held) do
                h.left = h.left - 1
                if h.left <= 0 then
                    h.item.due = d.due
                    pass(out, h.item)
                else
                    keep[#keep + 1] = h
                end
            end
            st.held = keep
        end,
        -- held datagrams whose time is up, sent on
        flush = function(_, st, now, out)
            local keep = {}
            for _, h in ipairs(st.held or {}) do
                if h.deadline <= now then
                    h.item.due = now
                    pass(out, h.item)
                else
                    keep[#keep + 1] = h
                end
            end
            st.held = keep
        end,
        deadline = function(_, st)
            local at
            for _, h in ipairs(st.held or {}) do
                at = min(at or huge, h.deadline)
            end
            return at
        end,
    },
    delay = {
        attrs = { attr("ms", "ms", non_negative, 0), attr("jitter", "jitter", non_negative, 0) },
        stage = function(x, _, pipe, d, out)
            local ms = x.a.ms
            if x.a.jitter > 0 then
                ms = max(0, pipe.rng:uniform(ms - x.a.jitter, ms + x.a.jitter))
            end
            d.due = d.due + ms / 1000
            pipe:event(x, "delay", #d.data, ms)
            pass(out, d)
        end,
    },
    -- rate: datagrams leave one after another at bytes_per_s; one that
    -- would wait more than queue_ms is dropped, as a full router queue does.
    rate = {
        attrs = { attr("bytes_per_s", "bytes_per_s", non_negative, 0), attr("queue_ms", "queue_ms", non_negative, 1000) },
        stage = function(x, st, pipe, d, out)
            local rate = x.a.bytes_per_s
            if rate <= 0 then
                return pass(out, d)
            end
            local start = max(d.due, st.next or 0)
            if start - d.due > x.a.queue_ms / 1000 then
                return pipe:event(x, "drop", #d.data)
            end
            st.next = start + #d.data / rate
            pipe:event(x, "delay", #d.data, (st.next - d.due) * 1000)
            d.due = st.next
            pass(out, d)
        end,
    },
    truncate = {
        attrs = { attr("max", "max", non_negative, 0) },
        stage = function(x, _, pipe, d, out)
            if #d.data > x.a.max then
                pipe:event(x, "truncate", #d.data - x.a.max)
                d.data = sub(d.data, 1, floor(x.a.max))
            end
            pass(out, d)
        end,
    },
    -- corrupt: with probability p, one random bit of the datagram flipped.
    corrupt = {
        attrs = { attr("p", "p", probability, 0) },
        stage = function(x, _, pipe, d, out)
            local data = d.data
            if #data > 0 and pipe.rng:chance(x.a.p) then
                local i = pipe.rng:int(#data) + 1
                d.data = sub(data, 1, i - 1) .. char(bxor(byte(data, i), lshift(1, pipe.rng:int(8)))) .. sub(data, i + 1)
                pipe:event(x, "corrupt", 1)
            end
            pass(out, d)
        end,
    },
}
_M.types = types

local COMMON = { type = true, name = true, stream = true }

-- A toxic from a script's spec, or nil and a ChaosError.
local function new_toxic(spec)
    local def = types[spec.type]
    if def == nil then
        return nil, cerr.new("invalid_type", "unknown udp toxic type " .. tostring(spec.type))
    end
    local x = { type = spec.type, def = def, stream = "up", a = toxics.defaults(def) }
    if spec.stream ~= nil then
        x.stream = toxics.STREAMS[spec.stream]
        if x.stream == nil then
            return nil, cerr.new("invalid_stream", "stream must be up, down or both, got " .. tostring(spec.stream))
        end
    end
    local err = toxics.check_attrs(def, toxics.spec_attrs(spec, COMMON), x.a, false)
    if err ~= nil then
        return nil, err
    end
    if spec.name ~= nil and (type(spec.name) ~= "string" or spec.name == "") then
        return nil, cerr.new("bad_value", "name must be a non-empty string, got " .. tostring(spec.name))
    end
    x.name = spec.name or spec.type .. "_" .. toxics.API_STREAM[x.stream]
    return x
end

---------------------------------------------------------------------------
-- a direction of a session

-- A binary heap of items by (due, seq).
local function before(a, b)
    return a.due < b.due or (a.due == b.due and a.seq < b.seq)
end

local function heap_push(h, item)
    local i = #h + 1
    h[i] = item
    while i > 1 do
        local parent = floor(i / 2)
        if not before(h[i], h[parent]) then
            break
        end
        h[i], h[parent] = h[parent], h[i]
        i = parent
    end
end

local function heap_pop(h)
    local top, n = h[1], #h
    h[1] = h[n]
    h[n] = nil
    n = n - 1
    local i = 1
    while true do
        local l, r, m = 2 * i, 2 * i + 1, i
        if l <= n and before(h[l], h[m]) then
            m = l
        end
        if r <= n and before(h[r], h[m]) then
            m = r
        end
        if m == i then
            return top
        end
        h[i], h[m] = h[m], h[i]
        i = m
    end
end

local Pipe = {}
Pipe.__index = Pipe

local function new_pipe(s, dir, send)
    local proxy = s.proxy
    return setmetatable({ proxy = proxy, session = s, dir = dir, send = send, states = {}, heap = {}, seq = 0,
                          rng = rand.new(proxy.seed, s.id, dir), q = sched.queue() }, Pipe)
end

function Pipe:event(x, what, bytes, ms, extra)
    local e = extra or {}
    e.conn, e.dir, e.toxic, e.type, e.what, e.bytes, e.ms = self.session.id, self.dir, x.name, x.type, what, bytes, ms
    self.proxy.log:add(e)
end

function Pipe:state(x)
    local st = self.states[x]
    if st == nil then
        st = {}
        self.states[x] = st
    end
    return st
end

-- Runs items through the chain from stage `from` on, then sends or queues
-- what comes out.
function Pipe:run(list, from)
    local chain = self.proxy.chains[self.dir]
    for i = from, #chain do
        local x, out = chain[i], {}
        local st = self:state(x)
        for j = 1, #list do
            x.def.stage(x, st, self, list[j], out)
        end
        list = out
    end
    local now = C.lnet_now()
    for _, d in ipairs(list) do
        if d.due <= now then
            self:send(d.data)
        else
            self.seq = self.seq + 1
            d.seq = self.seq
            heap_push(self.heap, d)
            self:schedule()
        end
    end
end

-- The time the scheduler must next wake: the heap's first item, or a held
-- datagram's deadline.
function Pipe:next_due()
    local at = self.heap[1] and self.heap[1].due
    for _, x in ipairs(self.proxy.chains[self.dir]) do
        local deadline = x.def.deadline
        if deadline ~= nil and self.states[x] ~= nil then
            local t = deadline(x, self.states[x])
            if t ~= nil and (at == nil or t < at) then
                at = t
            end
        end
    end
    return at
end

-- The scheduler: sends items as they fall due and flushes held ones,
-- while there are any.
local function scheduler(self)
    while not self.session.dead do
        local at = self:next_due()
        if at == nil then
            break
        end
        local now = C.lnet_now()
        if at > now then
            wait(self.q, at)
        else
            while self.heap[1] ~= nil and self.heap[1].due <= now do
                self:send(heap_pop(self.heap).data)
            end
            local chain = self.proxy.chains[self.dir]
            for i, x in ipairs(chain) do
                if x.def.flush ~= nil and self.states[x] ~= nil then
                    local out = {}
                    x.def.flush(x, self.states[x], now, out)
                    if #out > 0 then
                        self:run(out, i + 1)
                    end
                end
            end
        end
    end
    self.task = nil
end

function Pipe:schedule()
    if self.task == nil then
        self.task = self.proxy:spawn(scheduler, self)
    else
        self.q:wake_all()
    end
end

function Pipe:input(data)
    self:run({ { data = data, due = C.lnet_now() } }, 1)
    if self.task == nil and self:next_due() ~= nil then
        self:schedule()
    end
end

---------------------------------------------------------------------------
-- sessions

local Session = {}
Session.__index = Session

function Session:close()
    if self.dead then
        return
    end
    self.dead = true
    self.back:close()
    for _, pipe in pairs(self.pipes) do
        pipe.q:wake_all()
    end
    local p = self.proxy
    p.clients[self.key] = nil
    p.nsessions = p.nsessions - 1
    p.log:add { conn = self.id, what = "close" }
end

-- The session's reader of the upstream's replies; it also ends the session
-- once idle for session_timeout.
local function back_reader(self)
    local p, back = self.proxy, self.back
    while not self.dead do
        back:set_read_deadline(self.last + p.session_timeout)
        local data, err = back:read(READ_MAX)
        if data ~= nil then
            self.last = C.lnet_now()
            self.pipes.down:input(data)
        elseif not (err:timeout() and C.lnet_now() < self.last + p.session_timeout)
            and not errors.is(err, errors.errno.ECONNREFUSED) then
            break
        end
    end
    self:close()
end

-- The session of client address `from` (made on its first datagram), or
-- nil when there can be no more.
local UdpProxy = {}
UdpProxy.__index = UdpProxy

function UdpProxy:session(from)
    local key = tostring(from)
    local s = self.clients[key]
    if s ~= nil then
        return s
    end
    if self.nsessions >= self.max_sessions then
        self.log:add { what = "session_limit", client = key }
        return nil
    end
    local back, err = dial.dial("udp", self.upstream)
    if back == nil then
        self.log:add { what = "upstream_error", client = key, error = tostring(err) }
        return nil
    end
    local id = self.next_id + 1
    self.next_id = id
    s = setmetatable({ proxy = self, id = id, key = key, client = from, back = back, last = C.lnet_now() }, Session)
    local front = self.front
    s.pipes = {
        up = new_pipe(s, "up", function(_, data)
            back:write(data)
        end),
        down = new_pipe(s, "down", function(_, data)
            front:write_to(data, from)
        end),
    }
    self.clients[key] = s
    self.nsessions = self.nsessions + 1
    self.log:add { conn = id, what = "open", client = key }
    self:spawn(back_reader, s)
    return s
end

local function front_reader(self)
    local front = self.front
    while true do
        local data, from = front:read_from(READ_MAX)
        if data == nil then
            return
        end
        local s = self:session(from)
        if s ~= nil then
            s.last = C.lnet_now()
            s.pipes.up:input(data)
        end
    end
end

local function check(self, fname)
    errors.check_self(self, UdpProxy, "chaos udp proxy", fname)
end

base.methods(UdpProxy, "chaos udp proxy")

function UdpProxy:rebuild()
    local chains = { up = {}, down = {} }
    for _, x in ipairs(self.list) do
        for _, dir in ipairs(DIRS[x.stream]) do
            chains[dir][#chains[dir] + 1] = x
        end
    end
    self.chains = chains
end

function UdpProxy:add(spec)
    check(self, "add")
    if type(spec) ~= "table" then
        error("bad argument #1 to 'add' (table expected, got " .. type(spec) .. ")", 2)
    end
    local x, err = new_toxic(spec)
    if x == nil then
        return nil, err
    end
    x, err = base.append(self, x)
    if x == nil then
        return nil, err
    end
    self:rebuild()
    return describe(x)
end

function UdpProxy:update(name, spec)
    check(self, "update")
    local x, err = base.find(self, name)
    if x == nil then
        return nil, err
    end
    local a = {}
    for k, v in pairs(x.a) do
        a[k] = v
    end
    local attrs = {}
    for k, v in pairs(spec) do
        if COMMON[k] then
            if v ~= x[k] and toxics.STREAMS[v] ~= x[k] then
                return nil, cerr.new("bad_value", k .. " cannot be changed by an update")
            end
        else
            attrs[k] = v
        end
    end
    err = toxics.check_attrs(x.def, attrs, a, false)
    if err ~= nil then
        return nil, err
    end
    x.a = a
    return describe(x)
end

-- remove(name): true; what reorder held goes on at once.
function UdpProxy:remove(name)
    check(self, "remove")
    local x, err = base.find(self, name)
    if x == nil then
        return nil, err
    end
    base.unlink(self, x)
    self:rebuild()
    for _, s in pairs(self.clients) do
        for _, pipe in pairs(s.pipes) do
            local st = pipe.states[x]
            pipe.states[x] = nil
            for _, h in ipairs(st and st.held or {}) do
                pipe:send(h.item.data)
            end
        end
    end
    return true
end

function UdpProxy:addr()
    check(self, "addr")
    return self.front:local_addr()
end

-- sessions(): how many clients have a session now.
function UdpProxy:sessions()
    check(self, "sessions")
    return self.nsessions
end

function UdpProxy:close()
    check(self, "close")
    if self.closed then
        return nil, errors.ErrClosed
    end
    self.closed = true
    self.front:close()
    for _, s in pairs(self.clients) do
        s:close()
    end
    local me, list = sched.current(), {}
    for t in pairs(self.tasks) do
        if t ~= me then
            list[#list + 1] = t
        end
    end
    for _, t in ipairs(list) do
        t:join()
    end
    self.log:close()
    return true
end

function UdpProxy:__tostring()
    return "chaos udp proxy " .. self.name .. " " .. tostring(self.front:local_addr()) .. " -> " .. self.upstream
end

-- udp_proxy{listen, upstream, name, seed, session_timeout, max_sessions,
-- log, on_event, events_max}: a relay, or nil and the listen error.
function _M.udp_proxy(opts)
    if type(opts) ~= "table" then
        error("bad argument #1 to 'udp_proxy' (table expected, got " .. type(opts) .. ")", 2)
    end
    local upstream = base.address(opts.upstream, "upstream", "udp_proxy")
    local listen = base.address(opts.listen or "127.0.0.1:0", "listen", "udp_proxy")
    rand.check_seed(opts.seed, "udp_proxy")
    local log, err = events.new { name = opts.name or "udp", max = opts.events_max, file = opts.log,
                                  on_event = opts.on_event }
    if log == nil then
        return nil, err
    end
    local front
    front, err = packet.listen_packet("udp", listen)
    if front == nil then
        log:close()
        return nil, err
    end
    local self = setmetatable({
        name = opts.name or "udp", upstream = upstream, front = front, log = log,
        seed = opts.seed or floor(C.lnet_time() * 1000) % 2 ^ 31,
        session_timeout = opts.session_timeout or SESSION_TIMEOUT, max_sessions = opts.max_sessions or MAX_SESSIONS,
        list = {}, by_name = {}, chains = { up = {}, down = {} },
        clients = {}, nsessions = 0, next_id = 0, tasks = {},
    }, UdpProxy)
    self:spawn(front_reader, self)
    return self
end

return _M
