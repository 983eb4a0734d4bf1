-- lnet.busted: the busted helper (`helper = "lnet.busted"` in .busted).
--
-- Every `it` body runs as a task under lnet.run, so specs read like blocking
-- code. A body that outlives its time limit is cancelled and fails; a body
-- that leaves tasks running or fds open when it returns fails, naming the
-- leak (after a short grace, so tasks that are just finishing may finish).
-- lnet.run then closes whatever was left, so one test cannot spoil the next.
--
-- Settings: `require("lnet.busted").limit = seconds` (default 10).

local busted = require "busted"
local lnet = require "lnet"
local sched = require "lnet.sched"
local sys = require "lnet.sys"

local C, loop = sys.C, sys.loop
local type, error, tostring, select, unpack = type, error, tostring, select, unpack

local _M = { limit = 10, grace = 1 }

local function pack(...)
    return { n = select("#", ...), ... }
end

local GRACE_STEP = 0.01

local function leaks(fds_before)
    local tasks = sched.live_tasks() - 1 -- the checker itself
    local fds = C.lnet_fd_count() - fds_before
    return tasks, fds
end

-- Waits out the grace period for stragglers, then says what leaked.
local function check_leaks(fds_before)
    local tasks, fds = leaks(fds_before)
    local waited = 0
    while (tasks > 0 or fds > 0) and waited < _M.grace do
        lnet.sleep(GRACE_STEP)
        waited = waited + GRACE_STEP
        tasks, fds = leaks(fds_before)
    end
    if tasks > 0 or fds > 0 then
        return ("test leaked %d task(s) and %d fd(s) (%d lnet handle(s) still open)"):format(
            tasks, fds, C.lnet_loop_handle_count(loop))
    end
end

-- Raises what a task raised (its TaskError), keeping luassert's and busted's own error
-- values intact so busted reports them as it always does.
local function rethrow(err)
    local value = err.value
    if type(value) == "string" then
        error(value .. "\n" .. err.traceback, 0)
    end
    error(value, 0)
end
_M.rethrow = rethrow

local function supervise(body, fds_before, ...)
    local limit = _M.limit
    local task = lnet.go(body, ...)
    local timed_out = false
    local watchdog = lnet.go(function()
        if lnet.sleep(limit) and task.status == "running" then
            timed_out = true
            task:cancel()
        end
    end)
    local results = pack(task:join())
    watchdog:cancel()
    watchdog:join()
    if timed_out then
        error(("test exceeded its time limit of %gs and was cancelled"):format(limit), 0)
    end
    if task.status == "failed" then
        rethrow(task.err)
    end
    local leak = check_leaks(fds_before)
    if leak ~= nil then
        error(leak, 0)
    end
    return unpack(results, 1, results.n)
end

local function wrap(body)
    return function(...)
        local fds_before = C.lnet_fd_count()
        local results = pack(pcall(lnet.run, supervise, body, fds_before, ...))
        if not results[1] then
            -- lnet.run raises what the supervisor raised, wrapped as a
            -- TaskError: hand busted the value inside.
            local err = results[2]
            error(lnet.errors.as(err, "TaskError") and err.value or err, 0)
        end
        return unpack(results, 2, results.n)
    end
end

busted.subscribe({ "test", "start" }, function(element)
    if type(element.run) == "function" then
        element.run = wrap(element.run)
    end
    return nil, true
end)

return _M
