-- lnet.chaos.proxy (private): chaos.proxy{...}, a TCP proxy whose toxics a
-- script (or Toxiproxy's HTTP API, api.lua) adds, changes and removes
-- while conns flow through it.
--
-- The proxy keeps its toxics in the order they were added, and from them a
-- chain per direction (stream toxics and stall_read; a "both" toxic is in
-- both, with a state per direction), the opening faults (drawn per conn,
-- session.lua) and the listener faults. Each change bumps the version of
-- the directions it touches and cancels their copy context, so every open
-- conn sees it at once (link.lua). What listens follows from `enabled` and
-- the listener faults: lnet.serve on the listen address, nothing (refuse,
-- disabled: connects are refused), or a listener that never accepts, its
-- one-slot backlog filled by a conn of our own (syn_blackhole: the
-- kernel drops further SYNs, so connects time out). A proxy listens on
-- the port it first got for as long as it lives, as Toxiproxy's does.
--
-- Tasks: serve's task and the sessions' (serve's handler tasks), which
-- own the links' tasks. Disabling kills every session and joins their
-- tasks; close disables and closes the event log.

local sched = require "lnet.sched"
local sys = require "lnet.sys"
local errors = require "lnet.errors"
local context = require "lnet.context"
local listener = require "lnet.listener"
local dial = require "lnet.dial"
local base = require "lnet.chaos.proxy_base"
local toxics = require "lnet.chaos.toxics"
local framer = require "lnet.chaos.framer"
local events = require "lnet.chaos.events"
local session = require "lnet.chaos.session"
local rand = require "lnet.chaos.rand"

local C = sys.C
local type, pairs, ipairs, error, tostring, setmetatable, pcall =
    type, pairs, ipairs, error, tostring, setmetatable, pcall
local describe = base.describe
local floor = math.floor
local current = sched.current

local _M = {}

local DEFAULT_CONNECT_TIMEOUT = 5
local DIRS = base.DIRS

local Proxy = {}
Proxy.__index = Proxy
_M.Proxy = Proxy

local function check(self, fname)
    errors.check_self(self, Proxy, "chaos proxy", fname)
end

base.methods(Proxy, "chaos proxy")

function Proxy:event(what, extra)
    local e = extra or {}
    e.what = what
    self.log:add(e)
end

-- budget(key): the shared bandwidth budget of that key.
function Proxy:budget(key)
    local b = self.budgets[key]
    if b == nil then
        b = {}
        self.budgets[key] = b
    end
    return b
end

---------------------------------------------------------------------------
-- listening

function Proxy:wanted()
    if not self.enabled then
        return "off"
    end
    local want = "on"
    for _, x in ipairs(self.list) do
        if x.type == "refuse" then
            return "off"
        elseif x.type == "syn_blackhole" then
            want = "hole"
        end
    end
    return want
end

function Proxy:stop_listening()
    if self.lstate == "on" then
        self.ln:close()
        if self.serve_task ~= current() then
            self.serve_task:join()
        end
        self.ln, self.serve_task = nil, nil
    elseif self.lstate == "hole" then
        self.hole.ln:close()
        self.hole.filler:close()
        self.hole = nil
    end
    self.lstate = "off"
end

local function serve(self, ln)
    return listener.serve(ln, function(c)
        session.serve(self, c)
    end)
end

-- Makes what listens match what is wanted: true, or nil and the listen error.
function Proxy:listen_as_wanted()
    local want = self:wanted()
    if want == self.lstate then
        return true
    end
    self:stop_listening()
    if want == "off" then
        return true
    end
    local ln, err = listener.listen("tcp", self.listen, want == "hole" and { backlog = 0 } or nil)
    if ln == nil then
        return nil, err
    end
    self.laddr = ln:addr()
    self.listen = tostring(self.laddr)
    if want == "on" then
        self.ln = ln
        self.serve_task = self:spawn(serve, self, ln)
    else
        local filler
        filler, err = dial.dial("tcp", self.listen, { timeout = 1 })
        if filler == nil then
            ln:close()
            return nil, err
        end
        self.hole = { ln = ln, filler = filler }
    end
    self.lstate = want
    return true
end

-- Ends every session and waits for their tasks.
function Proxy:kill_sessions()
    local list, me = {}, current()
    for s in pairs(self.sessions) do
        s:kill()
        if s.task ~= me then
            list[#list + 1] = s.task
        end
    end
    for _, t in ipairs(list) do
        t:join()
    end
end

-- enable(): listens again (with the same address); true, or nil and the
-- listen error (an address taken meanwhile).
function Proxy:enable()
    check(self, "enable")
    if self.closed then
        return nil, errors.ErrClosed
    end
    if self.enabled then
        return true
    end
    self.enabled = true
    self.life_ctx, self.life_cancel = context.with_cancel(context.background())
    local ok, err = self:listen_as_wanted()
    if not ok then
        self.enabled = false
        self.life_cancel()
        return nil, err
    end
    self:event("enabled", { listen = self.listen })
    return true
end

-- disable(): stops listening (connects are refused) and closes every conn.
function Proxy:disable()
    check(self, "disable")
    if not self.enabled then
        return true
    end
    self.enabled = false
    self:listen_as_wanted()
    self.life_cancel()
    self:kill_sessions()
    self:event("disabled")
    return true
end

local function finish_down(self, was, ok, ...)
    if was then
        self:enable()
    end
    if not ok then
        error((...), 0)
    end
    return ...
end

-- down(fn, ...): fn's results, run while the proxy is disabled (Toxiproxy's
-- clients' `down`); enabled again after, also when fn raises.
function Proxy:down(fn, ...)
    check(self, "down")
    local was = self.enabled
    self:disable()
    return finish_down(self, was, pcall(fn, ...))
end

---------------------------------------------------------------------------
-- toxics

-- Rebuilds the chains and the opening faults from the list.
function Proxy:rebuild()
    local chains, accepts = { up = {}, down = {} }, {}
    for _, x in ipairs(self.list) do
        local kind = x.def.kind
        if kind == "stream" or kind == "reader" then
            for _, dir in ipairs(DIRS[x.stream]) do
                local chain = chains[dir]
                chain[#chain + 1] = x
            end
        elseif kind == "accept" then
            accepts[#accepts + 1] = x
        end
    end
    self.chains, self.accepts = chains, accepts
end

-- What x's change means for open conns: their direction's version moves,
-- copies are cut short, waits are woken; the listener follows its faults.
function Proxy:changed(x)
    self:rebuild()
    local kind = x.def.kind
    if kind == "listener" then
        return self:listen_as_wanted()
    elseif kind == "accept" then
        return true
    end
    for _, dir in ipairs(DIRS[x.stream]) do
        self.version[dir] = self.version[dir] + 1
        self.copy_cancel[dir]()
        self.copy_ctx[dir], self.copy_cancel[dir] = context.with_cancel(context.background())
    end
    for s in pairs(self.sessions) do
        for _, l in ipairs(s.links or {}) do
            l:wake()
        end
    end
    return true
end

_M.describe = describe

-- add_toxic(x): adds a toxic made by toxics.new or toxics.from_api.
function Proxy:add_toxic(x)
    local err
    x, err = base.append(self, x)
    if x == nil then
        return nil, err
    end
    x.counters = { up = {}, down = {}, open = {} }
    local ok
    ok, err = self:changed(x)
    if not ok then
        self:remove_toxic(x)
        return nil, err
    end
    self:event("added", { toxic = x.name, type = x.type })
    return x
end

-- add(spec): a toxic added at the end of its chain; its description, or
-- nil and a ChaosError (or the listen error of a listener fault).
function Proxy:add(spec)
    check(self, "add")
    if type(spec) ~= "table" then
        error("bad argument #1 to 'add' (table expected, got " .. type(spec) .. ")", 2)
    end
    local x, err = toxics.new(spec, framer.new)
    if x == nil then
        return nil, err
    end
    x, err = self:add_toxic(x)
    if x == nil then
        return nil, err
    end
    return describe(x)
end

Proxy.find = base.find

-- update_toxic(name, spec, api): changes attributes (and toxicity); open
-- conns draw again and restart the toxic's timers, as in Toxiproxy.
function Proxy:update_toxic(name, spec, api)
    local x, err = self:find(name)
    if x == nil then
        return nil, err
    end
    err = toxics.update(x, spec, api)
    if err ~= nil then
        return nil, err
    end
    local ok
    ok, err = self:changed(x)
    if not ok then
        return nil, err
    end
    self:event("updated", { toxic = x.name, type = x.type })
    return x
end

function Proxy:update(name, spec)
    check(self, "update")
    if type(spec) ~= "table" then
        error("bad argument #2 to 'update' (table expected, got " .. type(spec) .. ")", 2)
    end
    local x, err = self:update_toxic(name, spec, false)
    if x == nil then
        return nil, err
    end
    return describe(x)
end

function Proxy:remove_toxic(x)
    base.unlink(self, x)
    return self:changed(x)
end

-- remove(name): true, or nil and a ChaosError. What a blackhole held goes
-- on at once.
function Proxy:remove(name)
    check(self, "remove")
    local x, err = self:find(name)
    if x == nil then
        return nil, err
    end
    local ok
    ok, err = self:remove_toxic(x)
    self:event("removed", { toxic = x.name, type = x.type })
    if not ok then
        return nil, err
    end
    return true
end

function Proxy:toxic(name)
    check(self, "toxic")
    local x = self.by_name[name]
    return x and describe(x)
end

-- reset(): every toxic removed and the proxy enabled (Toxiproxy's /reset).
function Proxy:reset()
    check(self, "reset")
    while #self.list > 0 do
        self:remove_toxic(self.list[#self.list])
    end
    return self:enable()
end

---------------------------------------------------------------------------
-- the rest

-- addr(): the address it listens on (an address object; nil before it
-- first listened).
function Proxy:addr()
    check(self, "addr")
    return self.laddr
end

function Proxy:conns()
    check(self, "conns")
    return self.nsessions
end

-- configure{listen, upstream}: moves the proxy (Toxiproxy's proxy update):
-- when either differs, every conn is closed and it listens anew.
function Proxy:configure(opts)
    local listen, upstream = opts.listen or self.listen, opts.upstream or self.upstream
    if listen == self.listen and upstream == self.upstream then
        return true
    end
    local was = self.enabled
    self:disable()
    self.listen, self.upstream = listen, upstream
    if was then
        return self:enable()
    end
    return true
end

function Proxy:close()
    check(self, "close")
    if self.closed then
        return nil, errors.ErrClosed
    end
    self:disable()
    self.closed = true
    for _, dir in ipairs(DIRS.both) do
        self.copy_cancel[dir]()
    end
    self.log:close()
    return true
end

function Proxy:__tostring()
    return "chaos proxy " .. self.name .. " " .. self.listen .. " -> " .. self.upstream
end

local function opt_error(name, what, v)
    error(("bad argument #1 to 'proxy' (%s: %s expected, got %s)"):format(name, what, type(v)), 3)
end

-- proxy{listen, upstream, name, seed, connect_timeout, enabled, log,
-- on_event, events_max}: a proxy, listening unless enabled = false; or nil
-- and the listen error (or the log file's).
function _M.proxy(opts)
    if type(opts) ~= "table" then
        error("bad argument #1 to 'proxy' (table expected, got " .. type(opts) .. ")", 2)
    end
    local listen = base.address(opts.listen or "127.0.0.1:0", "listen", "proxy")
    local upstream = base.address(opts.upstream, "upstream", "proxy")
    local name = opts.name or "proxy"
    if type(name) ~= "string" then
        opt_error("name", "string", name)
    end
    rand.check_seed(opts.seed, "proxy")
    local ct = opts.connect_timeout or DEFAULT_CONNECT_TIMEOUT
    if type(ct) ~= "number" or ct <= 0 then
        opt_error("connect_timeout", "positive number", ct)
    end
    if opts.on_event ~= nil and type(opts.on_event) ~= "function" then
        opt_error("on_event", "function", opts.on_event)
    end
    local log, err = events.new { name = name, max = opts.events_max, file = opts.log, on_event = opts.on_event }
    if log == nil then
        return nil, err
    end
    local self = setmetatable({
        name = name, listen = listen, upstream = upstream,
        seed = opts.seed or floor(C.lnet_time() * 1000) % 2 ^ 31,
        dialer = dial.dialer { timeout = ct }, connect_timeout = ct,
        enabled = false, lstate = "off", log = log,
        list = {}, by_name = {}, chains = { up = {}, down = {} }, accepts = {},
        version = { up = 0, down = 0 }, copy_ctx = {}, copy_cancel = {},
        sessions = {}, nsessions = 0, next_id = 0, tasks = {}, budgets = {},
    }, Proxy)
    for _, dir in ipairs(DIRS.both) do
        self.copy_ctx[dir], self.copy_cancel[dir] = context.with_cancel(context.background())
    end
    if opts.enabled ~= false then
        local ok
        ok, err = self:enable()
        if not ok then
            self:close()
            return nil, err
        end
    end
    return self
end

return _M
