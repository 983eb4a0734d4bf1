-- Time per wake with many tasks parked, at 10k, 100k and 1M (the issue-8
-- scaling bench): every wait list and the ready queue must cost O(1) per
-- operation, so the figures stay flat as N grows.
--   build/lnet bench/wake.lua [n ...]      (default 10000 100000 1000000)
-- N tasks are made and parked once; then ROUNDS rounds are timed, in each
-- of which every task is woken once, runs, and parks again (so the figure
-- is the wake, the resume and the park, not task creation or GC):
--   send    the tasks wait in one channel's queue; N sends from the main
--           task hand a value to the first of them each (the wait queue)
--           and queue it to run (the ready queue).
--   cancel  each task waits in the same channel's queue under a ctx of its
--           own; the ctxs are cancelled newest first, so each task leaves
--           the middle of the queue.
--   ctx     the tasks wait on one ctx (ctx:done()), woken by one cancel.
-- Prints ns per wake (the median round) for each N, and the ratio of the
-- largest to the smallest (the goal: within 1.5x).
local lnet = require "lnet"
local context = lnet.context

local ROUNDS = 5
local sizes = {}
for _, a in ipairs({ ... }) do
    sizes[#sizes + 1] = tonumber(a)
end
if #sizes == 0 then
    sizes = { 10000, 100000, 1000000 }
end

-- Runs the tasks a pattern needs, then times `round` ROUNDS times; the
-- median round's seconds. `parked` counts tasks waiting again.
local function measure(n, start, round)
    local state = { parked = 0, n = n }
    local tasks = {}
    for i = 1, n do
        tasks[i] = lnet.go(start, state, i)
    end
    while state.parked < n do
        lnet.sleep(0)
    end
    local times = {}
    for r = 1, ROUNDS do
        state.parked = 0
        local t0 = lnet.now()
        round(state)
        while state.parked < n do
            lnet.sleep(0)
        end
        times[r] = lnet.now() - t0
    end
    state.stop = true
    round(state)
    for i = 1, n do
        tasks[i]:join()
    end
    table.sort(times)
    return times[(ROUNDS + 1) / 2]
end

local patterns = {
    send = function(n)
        local ch = lnet.channel()
        return measure(n, function(state)
            repeat
                state.parked = state.parked + 1
                ch:recv()
            until state.stop
        end, function(state)
            for i = 1, state.n do
                ch:send(i)
            end
        end)
    end,
    cancel = function(n)
        local ch, cancels = lnet.channel(), {}
        return measure(n, function(state, i)
            repeat
                local ctx
                ctx, cancels[i] = context.with_cancel(context.background())
                state.parked = state.parked + 1
                ch:recv(ctx)
            until state.stop
        end, function(state)
            for i = state.n, 1, -1 do
                cancels[i]()
            end
        end)
    end,
    ctx = function(n)
        local shared = {}
        shared.ctx, shared.cancel = context.with_cancel(context.background())
        return measure(n, function(state)
            repeat
                local ctx = shared.ctx
                state.parked = state.parked + 1
                ctx:done()
            until state.stop
        end, function()
            local cancel = shared.cancel
            shared.ctx, shared.cancel = context.with_cancel(context.background())
            cancel()
        end)
    end,
}

io.write(("%-8s"):format("pattern"))
for _, n in ipairs(sizes) do
    io.write(("%16s"):format(n .. " ns/wake"))
end
io.write(("%10s\n"):format("max/min"))
for _, name in ipairs({ "send", "cancel", "ctx" }) do
    io.write(("%-8s"):format(name))
    local lo, hi
    for _, n in ipairs(sizes) do
        collectgarbage()
        local ns = patterns[name](n) / n * 1e9
        lo, hi = math.min(lo or ns, ns), math.max(hi or ns, ns)
        io.write(("%16.0f"):format(ns))
        io.flush()
    end
    io.write(("%10.2f\n"):format(hi / lo))
end
