-- lnet.sched (private): tasks, and the loop that runs them.
--
-- A task is a coroutine plus one core op (its wait record). A blocking call
-- asks the core to do its work; when the core answers LNET_EAGAIN it has
-- parked the op, and the task yields here (park). The run loop, in C
-- (bindings/sched.c), pops woken ops off the core's ready queue and resumes
-- their tasks; the woken call then asks the core again. The loop also says
-- which task runs (lnet_sched_current_id) and reports each task's end to
-- on_exit below.

local core = require "lnet.core"
local sys = require "lnet.sys"
local errors = require "lnet.errors"

local C, loop = sys.C, sys.loop
local co_create, co_yield = coroutine.create, coroutine.yield
local setmetatable, select, type, error, tostring, pairs = setmetatable, select, type, error, tostring, pairs
local unpack, tremove = unpack, table.remove
local stderr = io.stderr

local Canceled = errors.Canceled
local READY = C.LNET_OP_READY

local _M = {}

-- Small integer ids, reused once given back, so the tables indexed by them
-- stay arrays. (`#t + 1` would not do: with holes, # may land anywhere.)
local function id_pool()
    return { free = {}, top = 0 }
end

local function take_id(pool)
    local id = tremove(pool.free)
    if id == nil then
        pool.top = pool.top + 1
        id = pool.top
    end
    return id
end

local function give_id(pool, id)
    pool.free[#pool.free + 1] = id
end

local tasks = {} -- id -> live task
local task_ids = id_pool()
local live = 0 -- how many tasks have not finished
local running = false -- inside lnet.run

local Task = {}
Task.__index = Task

local function pack(...)
    return { n = select("#", ...), ... }
end

-- The running task; blocking calls outside one are misuse.
local function self_task(level)
    local t = tasks[C.lnet_sched_current_id]
    if t == nil then
        error("lnet: blocking call outside a task (run it under lnet.run or lnet.go)", level + 1)
    end
    return t
end
_M.self_task = self_task

function _M.current()
    return tasks[C.lnet_sched_current_id]
end

-- Yields until the task's op is woken. Returns the error that ends the wait
-- early: the task was cancelled, or ctx is done (ctx:err()). The caller must
-- then abandon its op. A ctx is registered only while the task is parked,
-- so a call that completes at once costs nothing for its ctx; and a wake
-- that races a cancel reports the cancel without retrying the call, so no
-- data is consumed by a call that fails.
--
-- Special problem of an idle task's memory: most of it is its coroutine's
-- stack, which LuaJIT doubles when a frame would not fit. park is the top
-- frame of every parked task, so it keeps as few registers as it can (one
-- more local here once cost 350 bytes per parked task).
local function park(t, ctx)
    local c = ctx and ctx.canceler
    if c ~= nil and c.done_err ~= nil then
        -- Before a done ctx fails the call, the loop polls once: a side
        -- that waited before tries its syscall again only once the loop
        -- reports it ready (core/side.h), and bytes already there mean the
        -- call can complete.
        C.lnet_loop_poll(loop, 0)
    end
    if t.op.state == READY then
        -- A fair-share yield (core/side.h) or readiness just seen, not a
        -- wait: the call can complete, so no ctx or cancel fails it.
        co_yield()
        return nil
    end
    if t.canceled then
        return Canceled
    end
    if c == nil then
        co_yield()
    elseif c.done_err ~= nil then
        return c.done_err
    else
        c.waiters[t] = true
        co_yield()
        c.waiters[t] = nil
        if c.done_err ~= nil then
            return c.done_err
        end
    end
    if t.canceled then
        return Canceled
    end
    return nil
end
_M.park = park

-- The error a ctx already carries: dial checks it before it starts (its
-- resolution and connect would wait anyway).
function _M.ctx_err(ctx)
    local c = ctx and ctx.canceler
    return c and c.done_err
end

-- Events: ops that run a Lua function (in the run loop, outside any task)
-- when woken, for timers and signals that belong to no task. The function
-- must not block; it may wake tasks.
local handlers = {} -- -id -> function(op)
local event_ops = {} -- -id -> op
local event_ids = id_pool()

function _M.event(fn)
    local n = take_id(event_ids)
    local op = C.lnet_op_new(loop, -n)
    if op == nil then
        error("lnet: out of memory", 2)
    end
    handlers[n] = fn
    event_ops[n] = op
    return op
end

function _M.event_free(op)
    local n = -op.id
    C.lnet_op_free(op)
    handlers[n] = nil
    event_ops[n] = nil
    give_id(event_ids, n)
end

-- Wait lists: plain arrays of tasks waiting on a Lua-side condition
-- (join, channels, wait groups).
local function remove(list, t)
    for i = 1, #list do
        if list[i] == t then
            tremove(list, i)
            return
        end
    end
end
_M.remove = remove

-- Parks t on list until woken; on cancellation (of the task or ctx) takes
-- it off and returns the error.
local function wait_on(list, t, ctx)
    list[#list + 1] = t
    C.lnet_op_park(t.op)
    local err = park(t, ctx)
    if err ~= nil then
        remove(list, t)
        C.lnet_op_abandon(t.op)
    end
    return err
end
_M.wait_on = wait_on

local function wake_all(list)
    for i = #list, 1, -1 do
        C.lnet_op_wake(list[i].op)
        list[i] = nil
    end
end

_M.wake_all = wake_all

local function wake_first(list)
    local t = tremove(list, 1)
    if t ~= nil then
        C.lnet_op_wake(t.op)
    end
    return t
end
_M.wake_first = wake_first

-- Frees what a task holds in the core and forgets it.
local function release(t)
    local id = t.op.id
    C.lnet_op_free(t.op)
    t.op = nil
    tasks[id] = nil
    give_id(task_ids, id)
    live = live - 1
end

local function finish(t, ok, ...)
    local group = t.group
    if group ~= nil then
        group:leave(t)
    end
    if ok then
        t.results = pack(...)
        t.status = "done"
    else
        t.err = ...
        t.status = "failed"
    end
    local joiners = t.joiners
    if joiners ~= nil and #joiners > 0 then
        wake_all(joiners)
    elseif not ok and not t.is_main then
        -- No one is waiting to hear it: say it now, as Go would crash.
        stderr:write("lnet: task failed: ", tostring(t.err), "\n")
    end
    release(t)
end

-- The run loop reports a task's end: its results, or what it raised and
-- the traceback of its stack.
local function on_exit(id, ok, ...)
    local t = tasks[id]
    if ok then
        return finish(t, true, ...)
    end
    local value, trace = ...
    return finish(t, false, errors.TaskError(value, trace))
end

-- A task is a small table on purpose: an idle conn's whole cost is its
-- task, coroutine, conn and op, and four fields keep the hash part at four.
local function spawn(group, fn, ...)
    local id = take_id(task_ids)
    local op = C.lnet_op_new(loop, id)
    if op == nil then
        error("lnet.go: out of memory", 2)
    end
    local t = setmetatable({ op = op, status = "running", co = co_create(fn), group = group }, Task)
    core.sched_bind(id, t.co, ...)
    tasks[id] = t
    live = live + 1
    C.lnet_op_park(op)
    C.lnet_op_wake(op)
    return t
end

function _M.go(fn, ...)
    if type(fn) ~= "function" then
        error("bad argument #1 to 'go' (function expected, got " .. type(fn) .. ")", 2)
    end
    return spawn(nil, fn, ...)
end

-- go_in(group, fn, ...): go(fn, ...) as a member of group, whose
-- group:leave(task) is called when the task ends, however it ends (a task
-- dropped by teardown is not left: teardown closes everything).
function _M.go_in(group, fn, ...)
    return spawn(group, fn, ...)
end

-- join([ctx]): the task's own return values, or nil and its TaskError (or
-- ctx's error if ctx ends the wait first).
function Task:join(ctx)
    local t = self_task(2)
    if t == self then
        error("lnet: a task cannot join itself", 2)
    end
    while self.status == "running" do
        local joiners = self.joiners
        if joiners == nil then
            joiners = {}
            self.joiners = joiners
        end
        local err = wait_on(joiners, t, ctx)
        if err ~= nil then
            return nil, err
        end
    end
    if self.status == "done" then
        return unpack(self.results, 1, self.results.n)
    end
    return nil, self.err
end

-- cancel(): every blocking call of the task that has to wait, now or later,
-- returns an error wrapping context.Canceled instead.
function Task:cancel()
    if self.status == "running" and not self.canceled then
        self.canceled = true
        C.lnet_op_wake(self.op)
    end
end

function Task:__tostring()
    return "task (" .. self.status .. ")"
end

-- Event ops run their function here, outside any task.
local function on_event(id)
    handlers[-id](event_ops[-id])
end

-- Modules that keep loop state beyond tasks (timers, signal watchers)
-- register a hook to drop it when a run ends.
local teardown_hooks = {}

function _M.at_teardown(fn)
    teardown_hooks[#teardown_hooks + 1] = fn
end

-- What lnet.run leaves behind: open conns and listeners are closed, tasks
-- still waiting are dropped without running again, and the hooks drop their
-- timers and watchers.
local function teardown()
    for i = 1, #teardown_hooks do
        teardown_hooks[i]()
    end
    C.lnet_loop_close_all(loop)
    for _, t in pairs(tasks) do
        t.status = "canceled"
        t.err = Canceled
        release(t)
    end
end

function _M.run(fn, ...)
    if running then
        error("lnet.run: the loop is already running (start tasks with lnet.go)", 2)
    end
    running = true
    local main = _M.go(fn, ...)
    main.is_main = true
    local ok, err = pcall(core.sched_drive, main.op.id, on_event, on_exit)
    teardown()
    running = false
    if not ok then
        error(err, 0)
    end
    if main.status == "failed" then
        error(main.err, 0)
    end
    return unpack(main.results, 1, main.results.n)
end

-- The number of tasks that have not finished, the caller included.
function _M.live_tasks()
    return live
end

-- sleep(sec [, ctx]): true after sec seconds, or nil and ctx's error;
-- sleep(0) lets every ready task run first.
function _M.sleep(sec, ctx)
    errors.number_arg(sec, 1, "sleep", 2)
    local t = self_task(2)
    local op = t.op
    if sec <= 0 then
        -- A turn's yield, which park lets pass: a cancel or a done ctx
        -- fails it here, or a loop of sleep(0) could not be stopped.
        local err = t.canceled and Canceled or _M.ctx_err(ctx)
        if err ~= nil then
            return nil, err
        end
        C.lnet_op_park(op)
        C.lnet_op_wake(op)
    else
        C.lnet_op_sleep(op, C.lnet_now() + sec)
    end
    local err = park(t, ctx)
    if err ~= nil then
        C.lnet_op_abandon(op)
        return nil, err
    end
    return true
end

-- channel([cap]): Go's channels. send blocks while the buffer is full (an
-- unbuffered channel hands the value straight to a receiver); recv returns
-- `value, true`, or `nil, false` once closed and drained.
local Channel = {}
Channel.__index = Channel

function _M.channel(cap)
    cap = cap or 0
    if type(cap) ~= "number" or cap < 0 or cap % 1 ~= 0 then
        error("bad argument #1 to 'channel' (non-negative integer expected)", 2)
    end
    return setmetatable({ cap = cap, buf = {}, first = 1, count = 0, recvq = {}, sendq = {} }, Channel)
end

local function push(ch, v)
    ch.buf[ch.first + ch.count] = v
    ch.count = ch.count + 1
end

local function shift(ch)
    local i = ch.first
    local v = ch.buf[i]
    ch.buf[i] = nil
    ch.first = i + 1
    ch.count = ch.count - 1
    return v
end

-- send(v [, ctx]): true once v is buffered or taken; nil, err if ctx ends
-- the wait first (v is then not sent).
function Channel:send(v, ctx)
    if self.closed then
        error("send on closed channel", 2)
    end
    local r = wake_first(self.recvq)
    if r ~= nil then
        r.chan_val, r.chan_ok = v, true
        return true
    end
    if self.count < self.cap then
        push(self, v)
        return true
    end
    local t = self_task(2)
    t.chan_val, t.chan_ok = v, false
    repeat
        local err = wait_on(self.sendq, t, ctx)
        -- A handoff that raced a cancel has happened: it wins.
        if err ~= nil and not t.chan_ok then
            t.chan_val = nil
            return nil, err
        end
        if self.closed and not t.chan_ok then
            error("send on closed channel", 2)
        end
    until t.chan_ok
    t.chan_ok = nil
    return true
end

-- A sender parked behind a full (or unbuffered) channel: take its value.
local function take_sender(ch)
    local s = wake_first(ch.sendq)
    local v = s.chan_val
    s.chan_val, s.chan_ok = nil, true
    return v
end

-- recv([ctx]): v, true; nil, false once closed and drained; nil, false,
-- err if ctx ends the wait first.
function Channel:recv(ctx)
    if self.count > 0 then
        local v = shift(self)
        if #self.sendq > 0 then
            push(self, take_sender(self))
        end
        return v, true
    end
    if #self.sendq > 0 then
        return take_sender(self), true
    end
    local t = self_task(2)
    t.chan_ok = false
    while not self.closed do
        local err = wait_on(self.recvq, t, ctx)
        if err ~= nil and not t.chan_ok then
            return nil, false, err
        end
        if t.chan_ok then
            local v = t.chan_val
            t.chan_val, t.chan_ok = nil, nil
            return v, true
        end
    end
    return nil, false
end

function Channel:close()
    if self.closed then
        error("close of closed channel", 2)
    end
    self.closed = true
    wake_all(self.recvq)
    wake_all(self.sendq)
end

-- wait_group(): Go's sync.WaitGroup.
local WaitGroup = {}
WaitGroup.__index = WaitGroup

function _M.wait_group()
    return setmetatable({ count = 0, waiters = {} }, WaitGroup)
end

function WaitGroup:add(n)
    n = errors.number_arg(n or 1, 1, "add", 2)
    local count = self.count + n
    if count < 0 then
        error("negative wait_group counter", 2)
    end
    self.count = count
    if count == 0 then
        wake_all(self.waiters)
    end
end

function WaitGroup:done()
    self:add(-1)
end

function WaitGroup:wait(ctx)
    local t = self_task(2)
    while self.count > 0 do
        local err = wait_on(self.waiters, t, ctx)
        if err ~= nil then
            return nil, err
        end
    end
    return true
end

return _M
