-- lnet.chaos.session (private): one proxied conn: the client's conn, the
-- conn to the upstream, and a link each way (link.lua).
--
-- A session runs in the task lnet.serve gave the client's conn: it draws
-- the opening faults, dials the upstream (bounded by the proxy's
-- connect_timeout, cut short when the proxy is disabled), then runs the up
-- link itself and the down link in a task of its own, and ends once both
-- have. An end of stream is passed on as a half-close; a failure, a close
-- or a reset ends the whole session. Killing a session closes both conns
-- and wakes every wait of its links, so each of its tasks ends promptly;
-- the session task joins them before it returns, so a proxy that has
-- joined its sessions' tasks has nothing left running.

local sched = require "lnet.sched"
local sys = require "lnet.sys"
local link = require "lnet.chaos.link"
local rand = require "lnet.chaos.rand"

local C = sys.C
local ipairs, setmetatable, tostring, pcall, error = ipairs, setmetatable, tostring, pcall, error

local _M = {}

local DRAIN_MAX = 2 -- seconds a reset waits for sent bytes to be taken

local Session = {}
Session.__index = Session

function Session:spawn(fn, ...)
    return self.proxy:spawn(fn, ...)
end

function Session:event(what, extra)
    local e = extra or {}
    e.conn, e.what = self.id, what
    self.proxy.log:add(e)
end

-- kill(): ends the session: both conns closed, every wait woken.
function Session:kill()
    if self.dead then
        return
    end
    self.dead = true
    self.client:close()
    if self.upstream ~= nil then
        self.upstream:close()
    end
    for _, l in ipairs(self.links or {}) do
        l:wake()
    end
end

-- The link has passed on its end of stream: a half-close of its dst.
function Session.half_close(_, l)
    l.dst:close_write()
end

function Session:fail(l, err)
    if not self.dead then
        self:event("error", { dir = l.dir, error = tostring(err) })
    end
    self:kill()
end

-- reset(): once what was written has been taken by both peers (at most
-- DRAIN_MAX), both conns close with an RST (linger 0).
function Session:reset()
    local deadline = C.lnet_now() + DRAIN_MAX
    for _, c in ipairs({ self.client, self.upstream }) do
        while not self.dead and C.lnet_sockopt_unsent(c:fd()) > 0 and C.lnet_now() < deadline do
            sched.sleep(0.001)
        end
    end
    if self.dead then
        return
    end
    self.client:set_linger(0)
    self.upstream:set_linger(0)
    self:event("reset")
    self:kill()
end

-- Whether the opening fault x acts on this conn (every nth conn, then
-- with probability toxicity).
function Session:draw(x)
    local counter = x.counters.open
    local n = (counter.n or 0) + 1
    counter.n = n
    if x.nth ~= nil and n % x.nth ~= 0 then
        return false
    end
    if self.rng == nil then
        self.rng = rand.new(self.proxy.seed, self.id, "open")
    end
    return self.rng:chance(x.toxicity)
end

-- The opening: faults drawn in the order the toxics were added, then the
-- dial. true once the upstream is there.
function Session:open()
    local p = self.proxy
    for _, x in ipairs(p.accepts) do
        if self:draw(x) then
            self:event(x.type, { toxic = x.name, type = x.type, ms = x.a.ms })
            if x.type == "accept_close" then
                return false
            elseif x.type == "accept_reset" then
                self.client:set_linger(0)
                return false
            elseif not sched.sleep(x.a.ms / 1000, p.life_ctx) or self.dead then
                return false
            end
        end
    end
    local up, err = p.dialer:dial("tcp", p.upstream, p.life_ctx)
    if up == nil then
        self:event("upstream_error", { error = tostring(err) })
        return false
    end
    if self.dead then
        up:close()
        return false
    end
    self.upstream = up
    return true
end

local function run(self)
    if self:open() then
        local up = link.new(self, "up", self.client, self.upstream)
        local down = link.new(self, "down", self.upstream, self.client)
        self.links = { up, down }
        local t = self:spawn(link.run, down)
        link.run(up)
        t:join()
    end
    self:kill()
end

-- serve(proxy, c): the session of the client's conn c, run to its end (the
-- handler lnet.serve calls; it closes c after).
function _M.serve(p, c)
    local id = p.next_id + 1
    p.next_id = id
    local self = setmetatable({ proxy = p, id = id, client = c, opened = C.lnet_now(), task = sched.current() },
        Session)
    p.sessions[self] = true
    p.nsessions = p.nsessions + 1
    self:event("open", { client = tostring(c:remote_addr()) })
    local ok, err = pcall(run, self)
    self:kill()
    p.sessions[self] = nil
    p.nsessions = p.nsessions - 1
    self:event("close")
    if not ok then
        error(err, 0)
    end
end

return _M
