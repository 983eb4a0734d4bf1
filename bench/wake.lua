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
--           own, made before the clock starts; every second ctx is
--           cancelled, then the rest, so each task leaves the queue from
--           between two others, and then waits in another (one round: a
--           cancelled ctx stays done).
--   ctx     the tasks wait on one ctx (ctx:done()), woken by one cancel.
-- Prints ns per wake (the median round) for each N, and the ratio of the
-- largest to the smallest (the goal: within 1.5x). Each figure is measured
-- in a fresh process (this script, run again by itself with --one), so no
-- measurement inherits the heap of another, after a warm-up run.
local lnet = require "lnet"
local context = lnet.context

local ROUNDS = 5
local args = { ... }

-- Runs the tasks a pattern needs, then times `round` `rounds` times (default
-- ROUNDS); the median round's seconds. `parked` counts tasks waiting again.
local function measure(n, start, round, rounds)
    rounds = rounds or ROUNDS
    local state = { parked = 0, n = n }
    local tasks = {}
    for i = 1, n do
        tasks[i] = lnet.go(start, state, i)
    end
    while state.parked < n do
        lnet.sleep(0)
    end
    local times = {}
    for r = 1, rounds do
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
    return times[math.ceil(rounds / 2)]
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
        local ch, after, cancels = lnet.channel(), lnet.channel(), {}
        return measure(n, function(state, i)
            local ctx
            ctx, cancels[i] = context.with_cancel(context.background())
            state.parked = state.parked + 1
            ch:recv(ctx)
            state.parked = state.parked + 1 -- and waits again, elsewhere
            after:recv()
        end, function(state)
            if state.stop then
                after:close()
                return
            end
            -- every second one first: each leaves from between two others
            for i = 2, state.n, 2 do
                cancels[i]()
            end
            for i = 1, state.n, 2 do
                cancels[i]()
            end
        end, 1)
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

if args[1] == "--one" then
    -- A run of 10k first, so the JIT has compiled the pattern's path and
    -- the figure is the steady state of a running server, not its warm-up.
    local n = tonumber(args[3])
    patterns[args[2]](10000)
    collectgarbage()
    print(("%.1f"):format(patterns[args[2]](n) / n * 1e9))
    return
end

-- The host running this script: the one to run it again.
local ffi = require "ffi"
ffi.cdef "long lnet_bench_readlink(const char *path, char *buf, size_t size) __asm__(\"readlink\");"
local function host_path()
    local buf = ffi.new("char[4096]")
    local n = ffi.C.lnet_bench_readlink("/proc/self/exe", buf, 4096)
    return ffi.string(buf, assert(n > 0 and n))
end
local host, script = host_path(), debug.getinfo(1, "S").source:sub(2)

local sizes = {}
for _, a in ipairs(args) do
    sizes[#sizes + 1] = tonumber(a)
end
if #sizes == 0 then
    sizes = { 10000, 100000, 1000000 }
end

local function one(name, n)
    local proc = assert(lnet.process.spawn({ argv = { host, script, "--one", name, tostring(n) }, stdout = "pipe",
                                             stderr = "inherit" }))
    local out = {}
    repeat
        local s = proc.stdout:read()
        out[#out + 1] = s
    until s == nil
    proc.stdout:close()
    local code, why = proc:wait()
    assert(code == 0, name .. " " .. n .. " failed: " .. tostring(code or why))
    return assert(tonumber(table.concat(out)))
end

io.write(("%-8s"):format("pattern"))
for _, n in ipairs(sizes) do
    io.write(("%16s"):format(n .. " ns/wake"))
end
io.write(("%10s\n"):format("max/min"))
for _, name in ipairs({ "send", "cancel", "ctx" }) do
    io.write(("%-8s"):format(name))
    local lo, hi
    for _, n in ipairs(sizes) do
        local ns = one(name, n)
        lo, hi = math.min(lo or ns, ns), math.max(hi or ns, ns)
        io.write(("%16.0f"):format(ns))
        io.flush()
    end
    io.write(("%10.2f\n"):format(hi / lo))
end
