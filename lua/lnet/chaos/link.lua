-- lnet.chaos.link (private): one direction of a proxied conn, from src to
-- dst, through the toxics of its direction.
--
-- With no toxic acting on it the link is lnet.copy between the two conns:
-- the bytes never become Lua strings. The copy waits under the proxy's
-- context of its direction, which the proxy cancels whenever the toxics of
-- that direction change; the link then looks again, handing on the bytes
-- the copy had read and not written.
--
-- With toxics it reads chunks (the link's task) into a queue, each stamped
-- with the time it was read, and a writer task of its own takes them off,
-- runs each through the chain (toxics.lua says how a stage works) and
-- writes the pieces when they are due. Reading ahead is what keeps the
-- timing of Toxiproxy's pipeline (a chunk read while an earlier one is
-- delayed is delayed from its own arrival), and the queue's cap is what
-- turns a held or slowed stream into backpressure on the sender. When the
-- chain stops acting on the link and the writer has sent what it had, the
-- writer ends and the link copies again.
--
-- A change of the chain (proxy.version[dir]) reaches the writer wherever it
-- waits: what it was about to send goes out at once (Toxiproxy's interrupt
-- does the same), what a removed blackhole held goes out at once, and the
-- next chunk meets the new chain.

local sched = require "lnet.sched"
local sys = require "lnet.sys"
local conn = require "lnet.conn"
local errors = require "lnet.errors"
local rand = require "lnet.chaos.rand"

local C = sys.C
local ipairs, setmetatable, error = ipairs, setmetatable, error
local huge = math.huge
local self_task, park = sched.self_task, sched.park
local copy = conn.copy

local _M = {}

local QUEUE_MAX = 1024 * 1024 -- bytes read ahead of the writer
local READ_MAX = 65536

-- wait(q [, at]): parks the running task in q until woken, or until the
-- lnet.now() time at; returns the error that cut it short (the task was
-- cancelled), or nil.
local function wait(q, at)
    local t = self_task(2)
    local op = t.op
    C.lnet_waitq_push(q, op)
    C.lnet_op_park(op)
    if at ~= nil and at < huge and C.lnet_op_wake_at(op, at) < 0 then
        C.lnet_op_abandon(op)
        error("lnet: out of memory", 2)
    end
    local err = park(t, nil)
    if err ~= nil then
        C.lnet_op_abandon(op)
        return err
    end
    C.lnet_waitq_remove(op)
    return nil
end
_M.wait = wait

local Link = {}
Link.__index = Link

-- What a link holds while it only copies is kept small (an idle proxied
-- conn is two of them): its queue, wait queues and generator are made when
-- a toxic first acts on it; until then states and active are one shared
-- empty table.
local NONE = setmetatable({}, { __newindex = function()
    error("lnet: chaos link: write to the shared empty table", 2)
end })

function _M.new(session, dir, src, dst)
    return setmetatable({ proxy = session.proxy, session = session, dir = dir, src = src, dst = dst, version = -1,
                          states = NONE, active = NONE }, Link)
end

-- The link's generator: its conn's and direction's stream of the seed.
function Link:gen()
    local rng = self.rng
    if rng == nil then
        rng = rand.new(self.proxy.seed, self.session.id, self.dir)
        self.rng = rng
    end
    return rng
end

-- Makes what reading chunks needs.
function Link:chunked()
    if self.wq == nil then
        self.qd, self.qt, self.qhead, self.qtail, self.qbytes = {}, {}, 1, 0, 0
        self.wq, self.rq = sched.queue(), sched.queue()
    end
end

function Link:event(x, what, bytes, ms, extra)
    local e = extra or {}
    e.conn, e.dir, e.toxic, e.type, e.what, e.bytes, e.ms = self.session.id, self.dir, x.name, x.type, what, bytes, ms
    self.proxy.log:add(e)
end

-- Whether toxic x acts on the next unit (a conn, a chunk, a message): every
-- nth one, and then with probability toxicity.
function Link:draw(x, counter)
    local n = (counter.n or 0) + 1
    counter.n = n
    if x.nth ~= nil and n % x.nth ~= 0 then
        return false
    end
    return self:gen():chance(x.toxicity)
end

-- Brings the link's view of its chain up to date: the state of each toxic
-- (new toxics get one; an updated toxic draws again, as Toxiproxy's
-- restarted stub does, and its timers restart), and which of them act.
function Link:refresh()
    local p = self.proxy
    local v = p.version[self.dir]
    if self.version == v then
        return
    end
    self.version = v
    local chain = p.chains[self.dir]
    if #chain == 0 and self.states == NONE then
        return -- never had a toxic: nothing to keep
    end
    local now = C.lnet_now()
    local old, states, active, stall = self.states, {}, {}, false
    for _, x in ipairs(chain) do
        local st = old[x]
        if st == nil or st.gen ~= x.gen then
            st = st or {}
            st.gen, st.start = x.gen, now
            if x.scope == "conn" then
                st.on = self:draw(x, x.counters[self.dir])
            else
                st.on = true
            end
            if st.on and x.scope == "conn" then
                self:event(x, "applied", nil)
            end
        end
        states[x] = st
        if st.on then
            active[#active + 1] = x
            stall = stall or x.def.kind == "reader"
        end
    end
    self.states, self.active, self.stall = states, active, stall
end

function Link:push(data, err)
    local i = self.qtail + 1
    self.qtail = i
    self.qd[i], self.qt[i] = data, C.lnet_now()
    if err ~= nil then
        self.qerr = err
    end
    if data then
        self.qbytes = self.qbytes + #data
    end
    self.wq:wake_all()
end

function Link:shift()
    local i = self.qhead
    local data = self.qd[i]
    local p = { data = data, due = self.qt[i] }
    if data == false and self.qerr ~= nil then
        p.err = self.qerr
    end
    self.qd[i], self.qt[i] = nil, nil
    self.qhead = i + 1
    if data then
        self.qbytes = self.qbytes - #data
    end
    self.rq:wake_all()
    return p
end

-- One stage for a toxic whose scope is chunk: the draw per piece.
local function chunk_stage(self, x, st, p, out)
    if self:draw(x, st) then
        return x.def.stage(x, st, self, p, out)
    end
    out[#out + 1] = p
end

-- One stage for a toxic whose scope is message: pieces are gathered into
-- messages (x.framer), each drawn for; a partial message waits for the
-- rest, and the end of the stream sends it on as it is.
local function message_stage(self, x, st, p, out)
    local buf = (st.buf or "") .. (p.data or "")
    local framer = x.framer
    local action
    while action == nil do
        local n = #buf > 0 and framer:split(buf)
        if not n then
            break
        end
        local m = { data = buf:sub(1, n), due = p.due }
        buf = buf:sub(n + 1)
        action = chunk_stage(self, x, st, m, out)
    end
    if not p.data then
        if #buf > 0 and action == nil then
            action = chunk_stage(self, x, st, { data = buf, due = p.due }, out)
        end
        buf = ""
        if action == nil then
            out[#out + 1] = p
        end
    end
    st.buf = buf
    return action
end

-- Runs piece p through the chain: the pieces to send, and the action that
-- ended the run early (with the pieces made so far, and for "hold" the
-- toxic that holds them).
function Link:run_chain(p)
    local list = { p }
    for _, x in ipairs(self.active) do
        local stage = x.def.stage
        if stage ~= nil then
            local st, out = self.states[x], {}
            for j = 1, #list do
                local action
                if x.scope == "conn" then
                    action = stage(x, st, self, list[j], out)
                elseif x.scope == "chunk" then
                    action = chunk_stage(self, x, st, list[j], out)
                else
                    action = message_stage(self, x, st, list[j], out)
                end
                if action ~= nil then
                    if action == "hold" then
                        for k = j + 1, #list do
                            out[#out + 1] = list[k]
                        end
                    end
                    return out, action, x
                end
            end
            list = out
        end
    end
    return list
end

-- The earliest timer of the acting toxics (timeout, limit_time), and its toxic.
function Link:next_timer()
    local at, tx = nil, nil
    for _, x in ipairs(self.active) do
        local timer = x.def.timer
        if timer ~= nil then
            local t = timer(x, self.states[x])
            if t ~= nil and (at == nil or t < at) then
                at, tx = t, x
            end
        end
    end
    return at, tx
end

-- Whether the toxic holding the link's pieces still holds them.
function Link:holding()
    local x = self.held_by
    return self.states[x] ~= nil and self.states[x].on and x.type == "timeout" and x.a.ms == 0
end

-- Sends piece p once it is due (at once if the chain changes while it
-- waits, or flush is set): true to go on, false when the link is over
-- (its end was sent, or the conn failed). Returns the flush state too.
function Link:send(p, flush)
    local s = self.session
    local v = self.version
    while not flush and p.due > C.lnet_now() do
        wait(self.wq, p.due)
        if s.dead then
            return false
        end
        if self.proxy.version[self.dir] ~= v then
            flush = true
        end
    end
    if s.dead then
        return false
    end
    if p.data == false then
        if p.err ~= nil then
            s:kill()
        else
            s:half_close(self)
        end
        return false
    end
    local _, err = self.dst:write(p.data)
    if err ~= nil then
        s:fail(self, err)
        return false
    end
    return true, flush
end

function Link:send_all(list, flush)
    for i = 1, #list do
        local ok
        ok, flush = self:send(list[i], flush)
        if not ok then
            return false
        end
    end
    return true
end

-- An action of a stage or timer: "close" ends the conn, a time resets it
-- then. Returns false: the writer is done.
function Link:act(action)
    local s = self.session
    if action == "close" then
        s:kill()
    else
        while not s.dead and C.lnet_now() < action do
            wait(self.wq, action)
        end
        s:reset(self)
    end
    return false
end

-- The writer: takes chunks off the queue until told to quit with the queue
-- empty, or the link is over.
local function writer(self)
    local s = self.session
    while not s.dead do
        self:refresh()
        local at, tx = self:next_timer()
        if at ~= nil and at <= C.lnet_now() then
            return self:act(tx.def.on_timer(tx, self.states[tx], self))
        end
        if self.held ~= nil then
            if self:holding() then
                wait(self.wq, at)
            else
                local held = self.held
                self.held, self.held_by = nil, nil
                self:event(held.x, "release", held.bytes)
                if not self:send_all(held.list, true) then
                    return
                end
            end
        elseif self.qhead > self.qtail then
            if self.quit then
                return
            end
            self.idle = true
            self.rq:wake_all()
            wait(self.wq, at)
            self.idle = false
        else
            local list, action, x = self:run_chain(self:shift())
            if action == "hold" then
                local bytes = 0
                for i = 1, #list do
                    bytes = bytes + (list[i].data and #list[i].data or 0)
                end
                self.held, self.held_by = { list = list, x = x, bytes = bytes }, x
                self:event(x, "hold", bytes)
            elseif not self:send_all(list, false) then
                return
            elseif action ~= nil then
                return self:act(action)
            end
        end
    end
end

-- Reads while toxics act on the link: true when the link is over, false
-- when it should copy again.
function Link:read_chunks()
    local s = self.session
    self:chunked()
    self.writer = s:spawn(writer, self)
    local stalled = false
    while not s.dead do
        self:refresh()
        if #self.active == 0 and self.held == nil then
            if self.idle and self.qhead > self.qtail then
                self.quit = true
                self.wq:wake_all()
                self.writer:join()
                self.writer, self.quit = nil, nil
                return false
            end
            wait(self.rq)
        elseif self.stall then
            if not stalled then
                stalled = true
                for _, x in ipairs(self.active) do
                    if x.def.kind == "reader" then
                        self:event(x, "stall", nil)
                    end
                end
            end
            wait(self.rq)
        elseif self.qbytes >= QUEUE_MAX then
            wait(self.rq)
        else
            stalled = false
            local data, err = self.src:read(READ_MAX)
            if data == nil then
                self:push(false, err ~= errors.EOF and err or nil)
                break
            end
            self:push(data)
        end
    end
    self.writer:join()
    self.writer = nil
    return true
end

-- The link's task: copies, or reads chunks, until the stream ends or the
-- conn does.
function _M.run(self)
    local s, p, dir = self.session, self.proxy, self.dir
    while not s.dead do
        self:refresh()
        if #self.active == 0 and (self.wq == nil or self.qhead > self.qtail) then
            local _, err, rest = copy(self.dst, self.src, p.copy_ctx[dir])
            if s.dead then
                return
            elseif err == nil then
                return s:half_close(self)
            elseif not errors.is(err, errors.Canceled) then
                return s:fail(self, err)
            end
            if rest ~= nil then
                self:chunked()
                self:push(rest)
            end
        elseif self:read_chunks() then
            return
        end
    end
end

-- Wakes every wait of the link: the chain changed, or the conn ended.
function Link:wake()
    if self.wq ~= nil then
        self.wq:wake_all()
        self.rq:wake_all()
    end
end

return _M
