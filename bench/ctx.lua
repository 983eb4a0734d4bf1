-- bench/ctx.lua: the cost of short-lived child contexts of one long-lived
-- parent (issue 3: "creating and cancelling 1,000,000 child contexts of one
-- parent: memory flat").
--
--   build/lnet bench/ctx.lua [N]          (default N = 1000000)
--
-- For each kind of child, N times: make a child of the same parent, cancel
-- it. Prints the time per child and the memory before and after (Lua heap
-- after a full GC, and the process's VmRSS, which also holds what the core
-- allocates in C: a with_timeout child's timer). Then, twice, N children
-- live at once, all ended by one cancel of their parent. Exits 1 if
-- children were left behind, a churn grew the Lua heap by more than
-- 256 KiB, or the second live round grew it beyond the first.

local lnet = require "lnet"
local context = lnet.context

local N = math.floor(tonumber((...)) or 1000000)
local WARMUP = 10000
local bg = context.background()

local function rss_kib()
    local f = io.open("/proc/self/status")
    if f == nil then
        return 0
    end
    local kib = 0
    for line in f:lines() do
        local v = line:match("^VmRSS:%s+(%d+)")
        if v then
            kib = tonumber(v)
        end
    end
    f:close()
    return kib
end

local function heap_kib()
    collectgarbage()
    collectgarbage()
    return collectgarbage("count")
end

local kinds = {
    {
        "with_cancel",
        function(p)
            return context.with_cancel(p)
        end,
    },
    {
        "with_timeout",
        function(p)
            return context.with_timeout(p, 30)
        end,
    },
    {
        "with_deadline (later than parent's)",
        function(p)
            return context.with_deadline(p, math.huge)
        end,
    },
    {
        "with_value + with_cancel",
        function(p)
            return context.with_cancel(context.with_value(p, "k", "v"))
        end,
    },
}

local ok = true
print(("%d children per kind, one long-lived parent"):format(N))
print(("%-36s %9s %12s %12s %10s %10s %8s"):format("kind", "ns/child", "heap KiB", "heap KiB",
    "RSS KiB", "RSS KiB", "left"))
print(("%-36s %9s %12s %12s %10s %10s %8s"):format("", "", "before", "after", "before", "after", ""))

local parent, cancel_parent = context.with_cancel(bg)
for _, kind in ipairs(kinds) do
    local name, make = kind[1], kind[2]
    for _ = 1, WARMUP do
        local _, cancel = make(parent)
        cancel()
    end
    local heap0, rss0 = heap_kib(), rss_kib()
    local t0 = lnet.now()
    for _ = 1, N do
        local _, cancel = make(parent)
        cancel()
    end
    local dt = lnet.now() - t0
    local left = context.children_count(parent)
    local heap1, rss1 = heap_kib(), rss_kib()
    print(("%-36s %9.0f %12.1f %12.1f %10d %10d %8d"):format(name, dt / N * 1e9, heap0, heap1, rss0, rss1, left))
    if left ~= 0 or heap1 - heap0 > 256 then
        ok = false
    end
end

-- N children live at once under one parent, ended by the parent's cancel;
-- twice. The first round leaves the tables that tracked the children (and
-- the C allocator's arenas) at their high-water size, so the heap and RSS
-- do not come back down to where they started; the second round must
-- reuse that space, not add to it.
print()
print(("%d live children (half with timers), then one cancel of their parent:"):format(N))
local after = {}
for round = 1, 2 do
    local heap0, rss0 = heap_kib(), rss_kib()
    local sub, cancel_sub = context.with_cancel(parent)
    local t0 = lnet.now()
    for i = 1, N do
        if i % 2 == 0 then
            context.with_cancel(sub)
        else
            context.with_timeout(sub, 30)
        end
    end
    local made = lnet.now() - t0
    local live = context.children_count(sub)
    local heap_live, rss_live = heap_kib(), rss_kib()
    t0 = lnet.now()
    cancel_sub()
    local cancelled = lnet.now() - t0
    local heap1, rss1 = heap_kib(), rss_kib()
    after[round] = heap1
    print(("  round %d: %d live; make %.0f ns/child; the cancel %.3f s (%.0f ns/child)"):format(round, live,
        made / N * 1e9, cancelled, cancelled / N * 1e9))
    print(("    heap KiB %.1f -> %.1f live -> %.1f after; RSS KiB %d -> %d live -> %d after"):format(heap0,
        heap_live, heap1, rss0, rss_live, rss1))
    if context.children_count(parent) ~= 0 then
        print(("    children of the parent left: %d"):format(context.children_count(parent)))
        ok = false
    end
end
print(("  heap after round 2 - after round 1: %.1f KiB"):format(after[2] - after[1]))
if after[2] - after[1] > 256 then
    ok = false
end

cancel_parent()
print()
print(ok and "memory flat: yes" or "memory flat: NO")
if not ok then
    os.exit(1)
end
