-- lnet.context: Go's context package, reaching every blocking call.
--
-- A cancelable context (with_cancel, with_deadline, with_timeout) keeps the
-- ops of the tasks parked under it (a core wait queue that watches their
-- waits, core/waitq.h: no allocation per wait, and an op freed by the end
-- of a run leaves it) and the set of its cancelable children, each made
-- when first needed.
-- Cancelling it sets done_err, wakes every parked task (each then fails its call
-- with an OpError wrapping err, or the plain err where there is no op),
-- cancels the children depth-first and unlinks itself from its parent, all
-- in the same loop turn. A value context cancels through its parent: its
-- `canceler` is the nearest cancelable ancestor, which is where blocking
-- calls register. background() has none and is never done.
--
-- A deadline is one core timer (an event op) armed at the deadline; a
-- child's deadline is never later than its parent's, and a child whose
-- parent's deadline comes first needs no timer of its own. Cancelling frees
-- the timer and the parent's reference, so short-lived children of a
-- long-lived parent leave nothing behind.

local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"

local C = sys.C
local setmetatable, getmetatable, type, error, pairs, next = setmetatable, getmetatable, type, error, pairs, next
local huge, min = math.huge, math.min

local _M = {
    Canceled = errors.Canceled,
    DeadlineExceeded = errors.DeadlineExceeded,
}

local Context = sched.Context
Context.__index = Context

local function is_context(v)
    return getmetatable(v) == Context
end
_M.is_context = is_context

local function check_parent(parent, fname)
    if not is_context(parent) then
        error("bad argument #1 to '" .. fname .. "' (context expected, got " .. type(parent) .. ")", 3)
    end
end

local bg = setmetatable({ deadline_at = huge }, Context)

-- Contexts whose deadline timer is armed: lnet.run's end frees the timers
-- (those contexts belong to a finished run and can no longer expire).
local timed = {}

local function stop_timer(c)
    sched.event_free(c.timer)
    c.timer = nil
    timed[c] = nil
end

sched.at_teardown(function()
    for c in pairs(timed) do
        stop_timer(c)
    end
end)

function _M.background()
    return bg
end

-- Cancels c and its subtree with err; a second cancel does nothing. The
-- subtree is walked with a stack of its own, not by recursion, so a chain
-- of any depth is cancelled whole; a context with no children needs none.
local function cancel(c, err)
    if c.done_err ~= nil then
        return
    end
    local p = c.parent_canceler
    if p ~= nil and p.children ~= nil then
        p.children[c] = nil
    end
    local stack, n = nil, 0
    local x = c
    repeat
        x.done_err = err
        x.parent_canceler = nil -- its parent is c, or goes with it
        if x.timer ~= nil then
            stop_timer(x)
        end
        local waiters, done_q, children = x.waiters, x.done_q, x.children
        if waiters ~= nil then
            C.lnet_waitq_wake_watchers(waiters)
        end
        if done_q ~= nil then
            done_q:wake_all()
        end
        if children ~= nil then
            x.children = nil
            for child in pairs(children) do
                stack = stack or {}
                n = n + 1
                stack[n] = child
            end
        end
        local afters = x.afters
        if afters ~= nil then
            x.afters = nil
            for fn in pairs(afters) do
                sched.go(fn)
            end
        end
        x = stack and stack[n]
        if x ~= nil then
            stack[n] = nil
            n = n - 1
        end
    until x == nil
end

-- A new cancelable child of parent, already cancelled if parent is done.
-- Its set of children and its queue of waiters are made when first needed
-- (sched's wait_begin makes the queue): most contexts never have either.
local function new_cancelable(parent, deadline_at)
    local pc = parent.canceler
    local c = setmetatable({
        parent = parent,
        deadline_at = deadline_at,
        parent_canceler = pc,
    }, Context)
    c.canceler = c
    if pc ~= nil then
        if pc.done_err ~= nil then
            c.parent_canceler = nil
            cancel(c, pc.done_err)
        else
            local siblings = pc.children
            if siblings == nil then
                siblings = {}
                pc.children = siblings
            end
            siblings[c] = true
        end
    end
    return c
end

local function canceler_of(c)
    return function()
        cancel(c, errors.Canceled)
    end
end

function _M.with_cancel(parent)
    check_parent(parent, "with_cancel")
    local c = new_cancelable(parent, parent.deadline_at)
    return c, canceler_of(c)
end

function _M.with_deadline(parent, t)
    check_parent(parent, "with_deadline")
    errors.number_arg(t, 2, "with_deadline", 2)
    local at = min(t, parent.deadline_at)
    local c = new_cancelable(parent, at)
    if c.done_err == nil and at < parent.deadline_at then
        -- The parent's own deadline covers any later one.
        if at <= C.lnet_now() then
            cancel(c, errors.DeadlineExceeded)
        else
            c.timer = sched.event(function()
                cancel(c, errors.DeadlineExceeded)
            end)
            timed[c] = true
            sched.sleep_op(c.timer, at)
        end
    end
    return c, canceler_of(c)
end

function _M.with_timeout(parent, sec)
    check_parent(parent, "with_timeout")
    errors.number_arg(sec, 2, "with_timeout", 2)
    return _M.with_deadline(parent, C.lnet_now() + sec)
end

function _M.with_value(parent, k, v)
    check_parent(parent, "with_value")
    if k == nil then
        error("bad argument #2 to 'with_value' (key expected, got nil)", 2)
    end
    return setmetatable({
        parent = parent,
        canceler = parent.canceler,
        deadline_at = parent.deadline_at,
        key = k,
        val = v,
    }, Context)
end

-- after_func(ctx, fn): runs fn in its own task once ctx is done (at once if
-- it already is). Returns stop(), true if it kept fn from being started.
function _M.after_func(ctx, fn)
    check_parent(ctx, "after_func")
    errors.check_arg(fn, "function", 2, "after_func")
    local c = ctx.canceler
    if c == nil then -- never done: stop() stops it, once
        local stopped = false
        return function()
            local first = not stopped
            stopped = true
            return first
        end
    end
    if c.done_err ~= nil then
        sched.go(fn)
        return function()
            return false
        end
    end
    local afters = c.afters or {}
    c.afters = afters
    -- A distinct key per registration, so the same fn may be given twice.
    local key = function()
        return fn()
    end
    afters[key] = true
    return function()
        if c.afters ~= nil and c.afters[key] then
            c.afters[key] = nil
            return true
        end
        return false
    end
end

-- err(): nil while the context is live, then Canceled or DeadlineExceeded.
function Context:err()
    local c = self.canceler
    return c and c.done_err
end

-- deadline(): the absolute lnet.now() time, or nil when there is none.
function Context:deadline()
    local at = self.deadline_at
    if at == huge then
        return nil
    end
    return at
end

function Context:value(k)
    local c = self
    while c ~= nil do
        if c.key == k then
            return c.val
        end
        c = c.parent
    end
    return nil
end

-- done([bound]): blocks the task until this context is done and returns its
-- err; a second context bounds the wait (nil and its error).
function Context:done(bound)
    sched.check_ctx(bound, 1, "done")
    local t = sched.self_task(2)
    local op = t.op
    local c = self.canceler
    if c == nil and bound == nil then
        error("background context is never done", 2)
    end
    while c == nil or c.done_err == nil do
        -- Waiting in c's queue of done() callers, watched by bound (park).
        local err
        if c ~= nil then
            c.done_q = c.done_q or sched.queue()
            err = c.done_q:wait(t, bound)
        else
            C.lnet_op_park(op)
            err = sched.park(t, bound)
        end
        if err ~= nil then
            C.lnet_op_abandon(op)
            return nil, err
        end
    end
    return c.done_err
end

-- Go's fmt.Sprint of a value in a context's name.
local function stringify(v)
    if type(v) == "string" then
        return v
    end
    local mt = getmetatable(v)
    return mt ~= nil and mt.__tostring ~= nil and tostring(v) or "<not Stringer>"
end

-- Go's String(): how the context was made, from background() on, as
-- "context.Background.WithCancel.WithValue(type string, val v)".
function Context:__tostring()
    if self == bg then
        return "context.Background"
    elseif self.name ~= nil then -- named by who made it (signal.NotifyContext)
        return self.name
    end
    local parent = tostring(self.parent)
    if self.key ~= nil then
        return ("%s.WithValue(type %s, val %s)"):format(parent, type(self.key), stringify(self.val))
    end
    local at = self.deadline_at
    if at < self.parent.deadline_at then
        local left = ("%.9f"):format(at - C.lnet_now()):gsub("0+$", ""):gsub("%.$", "")
        return ("%s.WithDeadline(%.6f [%ss])"):format(parent, at, left)
    end
    return parent .. ".WithCancel"
end

-- How many children a context holds: the leak check of the million-children spec.
function _M.children_count(ctx)
    local n = 0
    local children = ctx.canceler and ctx.canceler.children
    if children ~= nil then
        for _ in next, children do
            n = n + 1
        end
    end
    return n
end

return _M
