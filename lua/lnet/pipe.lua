-- lnet.pipe (private): lnet.pipe(), Go's net.Pipe: two conns joined in
-- memory, synchronous and unbuffered.
--
-- Each direction of the pipe (c1 -> c2, c2 -> c1) is a rendezvous: at most
-- one write in flight (`w`, its string `s`, `pos` bytes of it taken so
-- far), the writers queued behind it (`wq`) and the readers waiting for a
-- write (`rq`), both FIFO (sched queues). Bytes go from the writer's string straight into
-- the string a reader returns: a reader takes at most its `max` bytes of the
-- write in flight (the whole string when it fits, a `sub` otherwise), and
-- the write returns once its last byte is taken, as in Go. No C: a waiting
-- call parks its task's own op, armed with the deadline by the op's timer.
--
-- Handoff, not retry: whoever finds a reader and a write together (a
-- writer arriving at waiting readers, a reader arriving at a write in
-- flight, a finished write's successor meeting the next reader) moves the bytes
-- right there and stores the result in the reader's task (`pipe_data`) or
-- marks the writer's (`pipe_done`) before waking it. So after any call
-- returns, a direction never has both a write in flight and a reader
-- waiting, and a woken call that finds its result ready returns it even if
-- a cancel or a deadline woke it: the bytes have moved, and reporting
-- failure would lose them (the rule of sched's channels).
--
-- Waking is cheap and may be spurious: close and the deadline setters wake
-- (or re-arm) the calls in flight; each woken call re-reads the state
-- (closed ends, deadlines) and either fails, taking itself off its queue,
-- or parks again.

local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local conn = require "lnet.conn"

local C = sys.C
local setmetatable, type, error, next = setmetatable, type, error, next
local huge = math.huge
local sub = string.sub
local self_task, park, wake, check_ctx = sched.self_task, sched.park, sched.wake, sched.check_ctx
local check_self, check_arg = errors.check_self, errors.check_arg
local deadline = conn.deadline

local ErrDeadlineExceeded, ErrClosedPipe, EOF =
    errors.ErrDeadlineExceeded, errors.ErrClosedPipe, errors.EOF
local OpError = errors.OpError

local PARKED = C.LNET_OP_PARKED
local NET = "pipe"

local _M = {}

-- Go's pipeAddr: both ends of every pipe have this one address.
local PipeAddr = {}
PipeAddr.__index = PipeAddr

function PipeAddr:network()
    return NET
end

function PipeAddr:__tostring()
    return NET
end

local pipe_addr = setmetatable({}, PipeAddr)
_M.addr = pipe_addr

-- Go's pipe fills in neither address of its OpError: "read pipe: i/o timeout".
local function op_error(op, err)
    return OpError(op, NET, nil, nil, err)
end

-- Ends not yet closed, so that the end of lnet.run closes them as it
-- closes conns (their waiting tasks are being dropped).
local open_ends = setmetatable({}, { __mode = "k" })

-- Task helpers ------------------------------------------------------------

-- Parks op until woken, or until the deadline dl (huge: none).
local function arm(op, dl)
    if dl == huge then
        C.lnet_op_park(op)
    else
        sched.sleep_op(op, dl)
    end
end

-- A deadline changed under a parked call (its op): move its timer, or wake
-- it now when dl has passed. A call already woken re-reads the deadline
-- itself. (Re-parking a woken op would put it on the ready queue twice.)
local function rearm(op, dl)
    if op == nil or op.state ~= PARKED then
        return
    end
    if dl == huge then
        C.lnet_op_sleep_stop(op)
    elseif dl <= C.lnet_now() then
        C.lnet_op_wake(op)
    else
        sched.sleep_op(op, dl)
    end
end

local function expired(dl)
    return dl ~= huge and dl <= C.lnet_now()
end

-- Directions --------------------------------------------------------------

local function direction()
    return { w = nil, s = nil, pos = 0, wq = sched.queue(), rq = sched.queue(), dead = false }
end

-- Makes the first queued writer the write in flight (not on a dead
-- direction: its queued writers are being woken to fail).
local function promote(d)
    if d.dead then
        return
    end
    local w = d.wq:shift()
    if w ~= nil then
        d.w, d.s, d.pos = w, w.pipe_s, 0
    end
end

-- Takes at most max bytes of the write in flight; the last of them
-- completes that write and promotes the next.
local function take(d, max)
    local s, pos = d.s, d.pos
    local left = #s - pos
    if left > max then
        d.pos = pos + max
        return sub(s, pos + 1, pos + max)
    end
    local chunk = pos == 0 and s or sub(s, pos + 1)
    local w = d.w
    d.w, d.s, d.pos = nil, nil, 0
    w.pipe_done = true
    wake(w)
    promote(d)
    return chunk
end

-- Hands the writes in flight to the waiting readers, FIFO, until one side
-- runs out.
local function pump(d)
    local rq = d.rq
    while d.w ~= nil and not d.dead do
        local r = rq:shift()
        if r == nil then
            return
        end
        r.pipe_data = take(d, r.pipe_max)
        wake(r)
    end
end

-- Wakes every call waiting on d; each finds out why for itself.
local function wake_dir(d)
    d.rq:wake_each()
    if d.w ~= nil then
        wake(d.w)
    end
    d.wq:wake_each()
end

-- Pipe ends ---------------------------------------------------------------

local Pipe = {}
Pipe.__index = Pipe

-- Why a read on p cannot go on, or nil. Go's order: own close (Go's
-- io.ErrClosedPipe, unwrapped as Go returns it), the other end's close,
-- then the deadline.
local function read_err(p)
    if p.closed then
        return ErrClosedPipe
    elseif p.peer.closed then
        return EOF
    elseif expired(p.rdl) then
        return op_error("read", ErrDeadlineExceeded)
    end
    return nil
end

-- Why a write on p cannot go on, or nil. A closed end, this one or the
-- other, is Go's io.ErrClosedPipe, unwrapped as Go returns it.
local function write_err(p)
    if p.closed or p.peer.closed then
        return ErrClosedPipe
    elseif expired(p.wdl) then
        return op_error("write", ErrDeadlineExceeded)
    end
    return nil
end

-- read([max [, ctx]]): a string of 1..max bytes of the other end's write
-- in flight (never of two writes), as soon as there is one; nil, EOF once
-- the other end is closed. max defaults to 65536; read(0) is "" at once
-- unless the read would fail. A ctx ends the wait (a cancelled ctx fails
-- the call once it would have to wait); a call that fails took no byte.
function Pipe:read(max, ctx)
    check_self(self, Pipe, "pipe", "read")
    max = conn.read_max(max, "read", conn.RBUF_SIZE, huge) -- a big max takes a whole write
    check_ctx(ctx, 2, "read")
    local e = read_err(self)
    if e ~= nil then
        return nil, e
    end
    if max < 1 then
        return ""
    end
    local t = self_task(2)
    local d = self.rx
    if d.w ~= nil then
        -- A write in flight means no reader is waiting: take it now.
        return take(d, max)
    end
    local rq, op = d.rq, t.op
    t.pipe_max, t.pipe_data = max, nil
    rq:push(t)
    while true do
        arm(op, self.rdl)
        local perr = park(t, ctx)
        C.lnet_op_sleep_stop(op)
        local data = t.pipe_data
        if data ~= nil then
            t.pipe_data = nil
            if perr ~= nil then
                C.lnet_op_abandon(op)
            end
            return data
        end
        if perr ~= nil then
            e = op_error("read", perr)
        else
            e = read_err(self)
        end
        if e ~= nil then
            rq:remove(t)
            C.lnet_op_abandon(op)
            return nil, e
        end
    end
end

-- write(s [, ctx]): #s once the other end's readers have taken all of s;
-- n, err when it failed after they took n bytes (n may be 0). Writers on
-- one end go one at a time, FIFO, so each write's bytes are contiguous.
-- write("") is 0 at once (Go's would wait for a read of nothing).
function Pipe:write(s, ctx)
    check_self(self, Pipe, "pipe", "write")
    check_arg(s, "string", 1, "write")
    check_ctx(ctx, 2, "write")
    local t = self_task(2)
    local e = write_err(self)
    if e ~= nil then
        return 0, e
    end
    local len = #s
    if len == 0 then
        return 0
    end
    local d, op = self.tx, t.op
    t.pipe_s, t.pipe_done = s, false
    if d.w == nil then
        -- No write in flight means none queued either (promote runs
        -- whenever one ends): this one goes now, to whoever waits.
        d.w, d.s, d.pos = t, s, 0
        pump(d)
    else
        d.wq:push(t)
    end
    while not t.pipe_done do
        arm(op, self.wdl)
        local perr = park(t, ctx)
        C.lnet_op_sleep_stop(op)
        if t.pipe_done then
            if perr ~= nil then
                C.lnet_op_abandon(op)
            end
            break
        end
        if perr ~= nil then
            e = op_error("write", perr)
        else
            e = write_err(self)
        end
        if e ~= nil then
            local n = 0
            if d.w == t then
                -- No reader waits while a write is in flight, so the next
                -- writer has none to hand to yet.
                n = d.pos
                d.w, d.s, d.pos = nil, nil, 0
                promote(d)
            else
                d.wq:remove(t)
            end
            C.lnet_op_abandon(op)
            t.pipe_s, t.pipe_done = nil, nil
            return n, e
        end
    end
    t.pipe_s, t.pipe_done = nil, nil
    return len
end

-- close(): true; a second close is nil, io.ErrClosedPipe, as every call on
-- the closed end (Go's pipe says nil). Every call in flight on either end
-- wakes: this end's and the other end's writes get io.ErrClosedPipe, the
-- other end's reads EOF.
function Pipe:close()
    check_self(self, Pipe, "pipe", "close")
    if self.closed then
        return nil, ErrClosedPipe
    end
    self.closed = true
    open_ends[self] = nil
    local rx, tx = self.rx, self.tx
    rx.dead, tx.dead = true, true
    wake_dir(rx)
    wake_dir(tx)
    return true
end

-- Deadlines are per end (Go's pipe: each end's own read and write
-- deadlines); one on a closed pipe, either end, is io.ErrClosedPipe as in Go.
local function set_err(self)
    if self.closed or self.peer.closed then
        return ErrClosedPipe
    end
    return nil
end

local function set_read(self, dl)
    self.rdl = dl
    for op in self.rx.rq:ops() do
        rearm(op, dl)
    end
end

local function set_write(self, dl)
    self.wdl = dl
    local d = self.tx
    if d.w ~= nil then
        rearm(d.w.op, dl)
    end
    for op in d.wq:ops() do
        rearm(op, dl)
    end
end

-- A deadline setter: `set` moves the deadlines of the directions it names.
local function deadline_setter(name, set)
    return function(self, t)
        check_self(self, Pipe, "pipe", name)
        local dl = deadline(t, name)
        local e = set_err(self)
        if e ~= nil then
            return nil, e
        end
        set(self, dl)
        return true
    end
end

Pipe.set_deadline = deadline_setter("set_deadline", function(self, dl)
    set_read(self, dl)
    set_write(self, dl)
end)
Pipe.set_read_deadline = deadline_setter("set_read_deadline", set_read)
Pipe.set_write_deadline = deadline_setter("set_write_deadline", set_write)

function Pipe:local_addr()
    return pipe_addr
end

function Pipe:remote_addr()
    return pipe_addr
end

function Pipe:__tostring()
    return "conn pipe pipe->pipe"
end

-- pipe() -> c1, c2: what is written to c1 is read from c2 and the other way
-- round. Like Go's, no half-close, socket options, file or syscall conn:
-- a pipe has no socket, so those methods do not exist.
function _M.pipe()
    local a, b = direction(), direction()
    local c1 = setmetatable({ rx = a, tx = b, closed = false, rdl = huge, wdl = huge }, Pipe)
    local c2 = setmetatable({ rx = b, tx = a, closed = false, rdl = huge, wdl = huge }, Pipe)
    c1.peer, c2.peer = c2, c1
    open_ends[c1], open_ends[c2] = true, true
    return c1, c2
end

sched.at_teardown(function()
    local p = next(open_ends)
    while p ~= nil do
        p:close()
        p = next(open_ends)
    end
end)

return _M
