-- lnet.signal: signals as loop events (Go's os/signal).
--
--   notify_context(parent, "SIGINT", ...) -> ctx, stop
--   wait(sig [, ctx]) -> the signal's name, or nil and ctx's error
--
-- One core watcher per signal while anyone listens; its deliveries wake an
-- event op, and the run loop (never a signal handler) cancels the contexts
-- and wakes the tasks registered for that signal. When the last listener
-- goes, the watcher stops and the default disposition is back. A signal
-- once waited for stays caught for the rest of the run (as a Go Notify
-- channel does), and one that arrives between waits is held for the next.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local context = require "lnet.context"
local signals = require "lnet.signals"

local C = sys.C
local type, error, pairs, next, select, tostring = type, error, pairs, next, select, tostring

ffi.cdef [[
struct lnet_signal;
struct lnet_signal *lnet_signal_new(struct lnet_loop *loop, int signum, struct lnet_op *op);
unsigned lnet_signal_take(struct lnet_signal *s);
void lnet_signal_free(struct lnet_signal *s);
]]

local _M = {}

-- signum -> { w = core watcher, op = event op, cancels = {fn = true},
-- waiters = {tasks}, kept = waited for once, held = arrived unwaited }
local watched = {}

local function signum_of(sig, argn, fname)
    local n = signals.number(sig)
    if n == nil then
        error("bad argument #" .. argn .. " to '" .. fname .. "' (signal name or number expected, got " ..
            tostring(sig) .. ")", 3)
    end
    return n
end

local function delivered(entry)
    C.lnet_signal_take(entry.w)
    C.lnet_op_park(entry.op) -- ready for the next delivery
    for cancel in pairs(entry.cancels) do
        cancel()
    end
    entry.held = entry.kept and entry.waiters.n == 0
    entry.waiters:wake_all()
end

local function watch(signum)
    local entry = watched[signum]
    if entry == nil then
        entry = { cancels = {}, waiters = sched.queue() }
        entry.op = sched.event(function()
            delivered(entry)
        end)
        entry.w = C.lnet_signal_new(sys.loop, signum, entry.op)
        if entry.w == nil then
            sched.event_free(entry.op)
            error("lnet.signal: out of memory", 3)
        end
        watched[signum] = entry
    end
    return entry
end

local function unwatch_if_idle(signum)
    local entry = watched[signum]
    if entry ~= nil and not entry.kept and next(entry.cancels) == nil and entry.waiters.n == 0 then
        C.lnet_signal_free(entry.w)
        sched.event_free(entry.op)
        watched[signum] = nil
    end
end

-- lnet.run's end drops every watcher, so no signal outlives its run.
sched.at_teardown(function()
    for signum, entry in pairs(watched) do
        C.lnet_signal_free(entry.w)
        sched.event_free(entry.op)
        watched[signum] = nil
    end
end)

-- notify_context(parent, sig, ...): a child of parent cancelled when any of
-- the signals arrives; stop() unregisters and cancels it (Go's
-- NotifyContext). As in Go, the signals stay caught until stop(), also
-- after the context is done: a second SIGTERM during a graceful shutdown
-- does not kill the process.
function _M.notify_context(parent, ...)
    if not context.is_context(parent) then
        error("bad argument #1 to 'notify_context' (context expected, got " .. type(parent) .. ")", 2)
    end
    local nums, descriptions = {}, {}
    for i = 1, select("#", ...) do
        nums[i] = signum_of((select(i, ...)), i + 1, "notify_context")
        descriptions[i] = signals.describe(nums[i])
    end
    if #nums == 0 then
        -- Go's "all signals" would catch SIGCHLD and SIGPIPE too: name them.
        error("bad argument #2 to 'notify_context' (at least one signal expected)", 2)
    end
    local ctx, cancel = context.with_cancel(parent)
    ctx.name = ("signal.NotifyContext(%s, [%s])"):format(tostring(parent), table.concat(descriptions, " "))
    local function stop()
        for i = 1, #nums do
            local entry = watched[nums[i]]
            if entry ~= nil then
                entry.cancels[cancel] = nil
                unwatch_if_idle(nums[i])
            end
        end
        cancel()
    end
    for i = 1, #nums do
        watch(nums[i]).cancels[cancel] = true
    end
    return ctx, stop
end

-- wait(sig [, ctx]): blocks the task until sig arrives.
function _M.wait(sig, ctx)
    local signum = signum_of(sig, 1, "wait")
    sched.check_ctx(ctx, 2, "wait")
    local t = sched.self_task(2)
    local entry = watch(signum)
    entry.kept = true
    if entry.held then
        entry.held = false
        return signals.name(signum)
    end
    local err = entry.waiters:wait(t, ctx)
    if err ~= nil then
        return nil, err
    end
    return signals.name(signum)
end

return _M
