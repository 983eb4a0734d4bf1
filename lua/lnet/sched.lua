-- lnet.sched (private): tasks, and the loop that runs them.
--
-- A task is a coroutine plus one core op (its wait record). A blocking call
-- asks the core to do its work; when the core answers LNET_EAGAIN it has
-- parked the op, and the task yields here (park). The run loop, in C
-- (bindings/sched.c), pops woken ops off the core's ready queue and resumes
-- their tasks; the woken call then asks the core again. The loop also says
-- which task runs (lnet_sched_current_id) and reports each task's end to
-- on_exit below.
--
-- A blocking call may run in a coroutine of the script's own inside a task
-- (a generator that reads a conn): its park yields the PARK marker, which
-- lnet's coroutine.resume and coroutine.wrap (installed over the standard
-- ones when this module loads) pass on up to the task's own coroutine, and
-- resume the inner one again when the task is resumed, so such waits work
-- as anywhere else (cqueues does the same). A coroutine resumed some other
-- way (a resume saved before lnet loaded, inside one of lnet's) cannot pass
-- a wait on: there the blocking call raises instead of returning early.
-- (The lnet host installs them before any script runs; under plain luajit,
-- load lnet before anything that saves coroutine.resume.)

local ffi = require "ffi"
local core = require "lnet.core"
local sys = require "lnet.sys"
local errors = require "lnet.errors"

local C, loop = sys.C, sys.loop
local co_create, co_yield, co_resume, co_running, co_status =
    coroutine.create, coroutine.yield, coroutine.resume, coroutine.running, coroutine.status
local setmetatable, getmetatable, select, type, error, tostring, pairs =
    setmetatable, getmetatable, select, type, error, tostring, pairs
local unpack, tremove = unpack, table.remove
local stderr = io.stderr

local Canceled, check_arg = errors.Canceled, errors.check_arg
local READY = C.LNET_OP_READY
local AGAIN = -sys.codes.EAGAIN

local _M = { AGAIN = AGAIN }

local waitq_ct -- core wait queues, Queue below

-- The metatable of contexts (lnet.context fills it in): every blocking call
-- checks its ctx slot against it, whether or not the call would wait.
local Context = {}
_M.Context = Context

-- check_ctx(ctx, n, fname): ctx when it is nil or a context; else raises
-- "bad argument #n to 'fname' (context expected, got ...)".
local function check_ctx(ctx, n, fname)
    if ctx ~= nil and getmetatable(ctx) ~= Context then
        error(("bad argument #%d to '%s' (context expected, got %s)"):format(n, fname, type(ctx)), 3)
    end
    return ctx
end
_M.check_ctx = check_ctx

-- trailing_ctx(...): for a call whose last argument may be a ctx (write's,
-- call's): how many arguments come before it (all when there is none) and
-- the ctx, or nil.
function _M.trailing_ctx(...)
    local n = select("#", ...)
    local ctx = n > 0 and select(n, ...) or nil
    if ctx ~= nil and getmetatable(ctx) == Context then
        return n - 1, ctx
    end
    return n, nil
end

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
local cos = {} -- id -> its coroutine (what keeps it alive: the C side only points at it)
local task_ids = id_pool()
local live = 0 -- how many tasks have not finished
local running = false -- inside lnet.run

-- A task's table holds only what differs between tasks: its op, and the
-- group it is a member of (an idle conn's whole cost is its task,
-- coroutine, conn and op, and two fields keep the hash part at two).
-- status is "running" until the task ends (the class's default).
local Task = { status = "running" }
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

-- The live task of an id (an op's), or nil.
function _M.task(id)
    return tasks[id]
end

-- What a parking task yields, and how lnet's resume tells it from a
-- script's own yields.
local PARK = setmetatable({}, { __tostring = function()
    return "lnet: a task's wait"
end })

-- The coroutine that resumed each coroutine through lnet's resume, while it
-- runs or is parked: the chain a wait passes on up to the task.
local resumers = setmetatable({}, { __mode = "k" })

-- How many coroutines lnet's resume is running right now. While none is,
-- a wait is in the task's own coroutine (or in one resumed by a resume
-- saved before lnet loaded, which nothing can see), and park skips the
-- check: coroutine.running is not compiled, and park is on every request.
local nested = 0

-- Raises unless a wait in coroutine co can reach the task t: every
-- coroutine from co up to t's own was resumed by lnet's resume.
local function check_passable(t, co)
    local x = co
    while x ~= cos[t.op.id] do
        x = resumers[x]
        if x == nil then
            error("lnet: blocking call in a coroutine that lnet's coroutine.resume did not resume "
                .. "(a resume saved before lnet was loaded?)", 4)
        end
    end
end

-- A wait, in two steps around the task's yield (park below; retry makes
-- the same steps in its own frame, see there why).
--
-- wait_begin(t, ctx), before the yield: nil when the task must yield and
-- then ask wait_end; true when it must yield and then just go on (a
-- fair-share yield, core/side.h, or readiness just seen: not a wait, the
-- call can complete, so no ctx or cancel fails it); or the error to fail
-- with now, the task's cancel or ctx's. A ctx is registered only while the
-- task waits (its wait queue watches the op), so a call that completes at
-- once costs nothing for its ctx.
local function wait_begin(t, ctx)
    local c = ctx and ctx.canceler
    if nested > 0 and co_running() ~= cos[t.op.id] then
        check_passable(t, co_running())
    end
    if c ~= nil and c.done_err ~= nil then
        -- Before a done ctx fails the call, the loop polls once: a side
        -- that waited before tries its syscall again only once the loop
        -- reports it ready (core/side.h), and bytes already there mean the
        -- call can complete.
        C.lnet_loop_poll(loop, 0)
    end
    if t.op.state == READY then
        return true
    elseif t.canceled then
        return Canceled
    elseif c ~= nil then
        if c.done_err ~= nil then
            return c.done_err
        end
        local waiters = c.waiters
        if waiters == nil then
            waiters = waitq_ct()
            c.waiters = waiters
        end
        C.lnet_waitq_watch(waiters, t.op)
    end
    return nil
end

-- wait_end(t, ctx), after the yield: the error that ended the wait early,
-- or nil. A wake that races a cancel reports the cancel without retrying
-- the call, so no data is consumed by a call that fails.
local function wait_end(t, ctx)
    local c = ctx and ctx.canceler
    if c ~= nil then
        C.lnet_waitq_unwatch(t.op)
        if c.done_err ~= nil then
            return c.done_err
        end
    end
    if t.canceled then
        return Canceled
    end
    return nil
end

-- park(t, ctx): yields until the task's op is woken. Returns the error that
-- ends the wait early (the task was cancelled, or ctx is done); the caller
-- must then abandon its op.
local function park(t, ctx)
    local err = wait_begin(t, ctx)
    if err == nil or err == true then
        co_yield(PARK)
        err = err == nil and wait_end(t, ctx) or nil
    end
    return err
end
_M.park = park

-- retry(call, self, ctx, a, b): the one park-and-retry step of the
-- blocking core calls, for the running task. call = {f, done}: f(self, op,
-- a, b) makes the core call with the task's op (self holds what it is made
-- on: the conn, the listener, the copy); while it answers LNET_EAGAIN,
-- having parked the op, the task waits, then calls again. Then retry
-- returns done(self, rc, err, a, b): rc is f's answer, or AGAIN with err
-- the error that ended the wait first, the op abandoned.
--
-- Special problem of an idle task's memory: most of it is its coroutine's
-- stack. LuaJIT starts one at 47 slots; a C call made by the interpreter
-- (an FFI call not yet compiled) wants 20 free slots above it, so the stack
-- doubles; and LuaJIT's GC halves it again only while the frames of the
-- parked task use under a quarter of it. So:
-- - a task's first call must run compiled: the JIT aborts a trace that
--   meets a loop it did not start at, so there is none on the way to the
--   first wait; attempt and wait call each other instead (tail calls);
-- - the frames of a parked task stay few and small: the method tail-calls
--   retry, and retry, attempt and wait tail-call one another (each frame
--   replaces the one before, and done makes the result after), all take few
--   fixed arguments (a vararg frame would copy them), and wait yields in its
--   own frame (wait_begin and wait_end run before and after, on no frame of
--   the wait).
local wait

-- One attempt of the core call: its result, or (parked) a wait and then
-- the next attempt.
local function attempt(call, self, ctx, a, b, t)
    local rc = call[1](self, t.op, a, b)
    if rc == AGAIN then
        return wait(call, self, ctx, a, b, t)
    end
    return call[2](self, rc, nil, a, b)
end

wait = function(call, self, ctx, a, b, t)
    local err = wait_begin(t, ctx)
    if err == nil or err == true then
        co_yield(PARK)
        err = err == nil and wait_end(t, ctx) or nil
    end
    if err ~= nil then
        C.lnet_op_abandon(t.op)
        return call[2](self, AGAIN, err, a, b)
    end
    return attempt(call, self, ctx, a, b, t)
end

local function retry(call, self, ctx, a, b)
    -- the method was tail-called away: level 2 is its caller
    return attempt(call, self, ctx, a, b, self_task(2))
end
_M.retry = retry

-- A call kind for retry whose done returns rc and err, for callers that go on.
function _M.rc_err(f)
    return { f, function(_, rc, err)
        return rc, err
    end }
end

-- lnet's coroutine.resume: the standard one, except that a wait inside co
-- (PARK) is passed on to whoever runs this, and co is resumed again once
-- that wait is over.
local function pass_on(co, ok, ...)
    nested = nested - 1
    if ok and (...) == PARK and co_status(co) == "suspended" then
        co_yield(PARK)
        nested = nested + 1
        return pass_on(co, co_resume(co))
    end
    resumers[co] = nil
    return ok, ...
end

local function resume(co, ...)
    resumers[co] = co_running()
    nested = nested + 1
    return pass_on(co, co_resume(co, ...))
end

local function unwrap(ok, ...)
    if not ok then
        error((...), 0)
    end
    return ...
end

local function wrap(fn)
    local co = co_create(fn)
    return function(...)
        return unwrap(resume(co, ...))
    end
end

coroutine.resume, coroutine.wrap = resume, wrap
-- The standard resume, for a scheduler of the script's own that must see
-- every yield (a wait inside it then raises: nothing passes it on).
_M.std_resume = co_resume

-- The error a ctx already carries: dial checks it before it starts (its
-- resolution and connect would wait anyway).
function _M.ctx_err(ctx)
    local c = ctx and ctx.canceler
    return c and c.done_err
end

-- sleep_op(op, t): parks op until lnet_now() >= t (or another waker comes
-- first); the timer heap out of memory raises, as any allocation would.
local function sleep_op(op, t)
    if C.lnet_op_sleep(op, t) < 0 then
        error("lnet: out of memory", 3)
    end
end
_M.sleep_op = sleep_op

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

-- wake(t): wakes t's op. A task that an earlier lnet.run dropped has no op
-- (freeing it took it out of every wait queue and context, core/waitq.h);
-- only a direct reference to it can still reach it: it is skipped here.
local function wake(t)
    local op = t.op
    if op ~= nil then
        C.lnet_op_wake(op)
    end
end
_M.wake = wake

-- Queues of tasks waiting on a Lua-side condition (join, channels, wait
-- groups, processes, signals, pipes): core wait queues (core/waitq.h),
-- linked through the tasks' ops, so FIFO and O(1) to push, take the first,
-- and take any one out, however many wait. A queue is the cdata itself.
local Queue = {}
Queue.__index = Queue
waitq_ct = ffi.metatype("struct lnet_waitq", Queue)

function _M.queue()
    return waitq_ct()
end

function Queue:push(t)
    C.lnet_waitq_push(self, t.op)
end

-- Takes t out of the queue it waits in.
function Queue.remove(_, t)
    C.lnet_waitq_remove(t.op)
end

-- The first task, taken out (not woken), or nil.
function Queue:shift()
    return tasks[C.lnet_waitq_shift(self)]
end

-- Wakes and takes out the first waiting task, and returns it (nil: none).
function Queue:wake_first()
    return tasks[C.lnet_waitq_wake_first(self)]
end

function Queue:wake_all()
    C.lnet_waitq_wake_all(self)
end

-- Wakes every waiting task and leaves it in the queue: each finds out why.
function Queue:wake_each()
    C.lnet_waitq_wake_each(self)
end

-- The ops waiting, in order, left in the queue (to move their timers).
function Queue:ops()
    local op = nil
    return function()
        if op == nil then
            op = C.lnet_waitq_first(self)
        else
            op = C.lnet_waitq_next(op)
        end
        if op ~= nil then
            return op
        end
    end
end

-- Parks t in the queue until woken; on cancellation (of the task or ctx)
-- takes it out and returns the error.
function Queue:wait(t, ctx)
    local op = t.op
    C.lnet_waitq_push(self, op)
    C.lnet_op_park(op)
    local err = park(t, ctx)
    if err ~= nil then
        C.lnet_op_abandon(op) -- out of the queue too
    end
    return err
end

-- Frees what a task holds in the core and forgets it.
local function release(t)
    local id = t.op.id
    C.lnet_op_free(t.op)
    t.op = nil
    tasks[id], cos[id] = nil, nil
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
    if joiners ~= nil and joiners.n > 0 then
        joiners:wake_all()
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

local function spawn(group, fn, ...)
    local id = take_id(task_ids)
    local op = C.lnet_op_new(loop, id)
    if op == nil then
        error("lnet.go: out of memory", 2)
    end
    local t = setmetatable({ op = op, group = group }, Task)
    local co = co_create(fn)
    core.sched_bind(id, co, ...)
    tasks[id], cos[id] = t, co
    live = live + 1
    C.lnet_op_park(op)
    C.lnet_op_wake(op)
    return t
end

function _M.go(fn, ...)
    check_arg(fn, "function", 1, "go")
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
    check_ctx(ctx, 1, "join")
    local t = self_task(2)
    if t == self then
        error("lnet: a task cannot join itself", 2)
    end
    while self.status == "running" do
        local joiners = self.joiners
        if joiners == nil then
            joiners = _M.queue()
            self.joiners = joiners
        end
        local err = joiners:wait(t, ctx)
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
        wake(self)
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
    check_ctx(ctx, 2, "sleep")
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
        sleep_op(op, C.lnet_now() + sec)
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
    return setmetatable({ cap = cap, buf = {}, first = 1, count = 0, recvq = _M.queue(), sendq = _M.queue() }, Channel)
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
    check_ctx(ctx, 2, "send")
    if self.closed then
        error("send on closed channel", 2)
    end
    local r = self.recvq:wake_first()
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
        local err = self.sendq:wait(t, ctx)
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
    local s = ch.sendq:wake_first()
    local v = s.chan_val
    s.chan_val, s.chan_ok = nil, true
    return v
end

-- recv([ctx]): v, true; nil, false once closed and drained; nil, false,
-- err if ctx ends the wait first.
function Channel:recv(ctx)
    check_ctx(ctx, 1, "recv")
    if self.count > 0 then
        local v = shift(self)
        if self.sendq.n > 0 then
            push(self, take_sender(self))
        end
        return v, true
    end
    if self.sendq.n > 0 then
        return take_sender(self), true
    end
    local t = self_task(2)
    t.chan_ok = false
    while not self.closed do
        local err = self.recvq:wait(t, ctx)
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
    self.recvq:wake_all()
    self.sendq:wake_all()
end

-- wait_group(): Go's sync.WaitGroup.
local WaitGroup = {}
WaitGroup.__index = WaitGroup

function _M.wait_group()
    return setmetatable({ count = 0, waiters = _M.queue() }, WaitGroup)
end

-- add([n]): n (default 1) is a whole number, as Go's int delta.
function WaitGroup:add(n)
    n = errors.number_arg(n or 1, 1, "add", 2)
    if n % 1 ~= 0 then -- inf and nan too
        error("bad argument #1 to 'add' (integer expected, got " .. tostring(n) .. ")", 2)
    end
    local count = self.count + n
    if count < 0 then
        error("negative wait_group counter", 2)
    end
    self.count = count
    if count == 0 then
        self.waiters:wake_all()
    end
end

function WaitGroup:done()
    self:add(-1)
end

function WaitGroup:wait(ctx)
    check_ctx(ctx, 1, "wait")
    local t = self_task(2)
    while self.count > 0 do
        local err = self.waiters:wait(t, ctx)
        if err ~= nil then
            return nil, err
        end
    end
    return true
end

return _M
