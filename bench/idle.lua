-- Where an idle conn's bytes go: N conns held open by bench/loadgen (another
-- process, so none of the client side is counted), accepted, then each
-- served by a task parked in a read, as an echo server's would be.
--   build/lnet bench/idle.lua [N] [copy|rw] [loadgen]
-- (N 5000; "copy" parks each task in lnet.copy(c, c, ctx) as
-- scripts/echo.lua does, "rw" in c:read(65536, ctx) as echo.lua --rw.)
-- A last step serves a second set of N conns with lnet.serve, as echo.lua
-- does, to show what serve adds (its bookkeeping per handler).
-- For each step it prints what the server's Lua heap (collectgarbage),
-- C heap (mallinfo2: core structs, libev's per-fd table) and RSS grew by,
-- per conn; then the sizes of the core structs behind those figures.
local lnet = require "lnet"
local ffi = require "ffi"
local core = require "lnet.core"

ffi.cdef [[
struct lnet_mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; };
struct lnet_mallinfo2 lnet_mallinfo2(void) __asm__("mallinfo2");
int lnet_malloc_trim(size_t pad) __asm__("malloc_trim");
]]

local args = { ... }
local N = tonumber(args[1]) or 5000
local mode = args[2] or "copy"
local loadgen = args[3] or "build/bench/loadgen"

local function rss_bytes()
    local f = assert(io.open("/proc/self/statm"))
    local _, resident = f:read("*n", "*n")
    f:close()
    return resident * 4096
end

local function sample()
    collectgarbage()
    collectgarbage()
    local m = ffi.C.lnet_mallinfo2()
    return { lua = collectgarbage("count") * 1024, c = tonumber(m.uordblks + m.hblkhd), rss = rss_bytes() }
end

local function per_conn(a, b, what, no_rss)
    local rss = no_rss and "     -" or ("%6.0f"):format((b.rss - a.rss) / N)
    print(("%-34s Lua %6.0f   C %6.0f   RSS %s   bytes/conn"):format(what, (b.lua - a.lua) / N,
        (b.c - a.c) / N, rss))
end

local handlers = {
    copy = function(c, ctx)
        local _, _, rest = lnet.copy(c, c, ctx)
        if rest ~= nil then
            c:write(rest)
        end
    end,
    rw = function(c, ctx)
        while true do
            local data = c:read(65536, ctx)
            if data == nil then
                return
            end
            c:write(data)
        end
    end,
}
local handler = assert(handlers[mode], "mode: copy or rw")

local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
local ctx, cancel = lnet.context.with_cancel(lnet.context.background())
local s0 = sample()
local gen = assert(lnet.process.spawn({
    argv = { loadgen, "idle", tostring(ln:addr()), "-n", tostring(N), "-hold", "120" },
    stdin = "pipe", stdout = "pipe",
}))

-- Step 1: the conns, accepted and held (no task yet). loadgen does one
-- 1-byte round trip per conn before it holds it: answer it.
local conns = {}
for i = 1, N do
    local c = assert(ln:accept())
    c:write(assert(c:read(1)))
    conns[i] = c
end
local s1 = sample()

-- Step 2: a task per conn, parked in its read.
local tasks = {}
for i = 1, N do
    tasks[i] = lnet.go(handler, conns[i], ctx)
end
lnet.sleep(0.2)
local s2 = sample()

print(("idle conns: %d, each served by a task parked in %s"):format(N,
    mode == "copy" and "lnet.copy(c, c, ctx)" or "c:read(65536, ctx)"))
per_conn(s0, s1, "conn (accepted, held)")
per_conn(s1, s2, "task parked in its read")
per_conn(s0, s2, "total")
local L = core.layout
print(("core structs (C heap): lnet_conn %d B (two sides of %d: an ev_io of %d, the FIFO, the deadline); "
    .. "lnet_op %d B (its deadline is a slot in the loop's timer heap, not an ev_timer of %d)")
    :format(L["sizeof lnet_conn"], L["sizeof lnet_side"], L["sizeof ev_io"], L["sizeof lnet_op"], L["sizeof ev_timer"]))

-- The parts of the Lua heap, made N times each in isolation.
local function cost(make)
    local keep = {}
    local a = sample()
    for i = 1, N do
        keep[i] = make(i)
    end
    local b = sample()
    return (b.lua - a.lua) / N, keep
end
local bare = cost(function()
    local co = coroutine.create(function()
        coroutine.yield()
    end)
    coroutine.resume(co)
    return co
end)
print(("Lua heap parts: a parked coroutine with LuaJIT's first stack %.0f B; the rest is the task's table "
    .. "(op, group), the conn (a pointer cdata and its finalizer; no table) and, copying, the copy's state"):format(bare))

cancel()
for i = 1, N do
    tasks[i]:join()
    conns[i]:close()
end
gen.stdin:close()
gen:wait()
gen.stdout:close()
tasks, conns = nil, nil

-- The same through lnet.serve, as scripts/echo.lua serves.
-- (The handler answers loadgen's round trip itself: a read before it, in
-- a frame of its own, would deepen the task's stack for good, see README.)
local parked = 0
local function served(c, sctx)
    parked = parked + 1
    return handler(c, sctx)
end
local sctx, stop = lnet.context.with_cancel(lnet.context.background())
local s3 = sample()
local server = lnet.go(lnet.serve, ln, served, sctx, 5)
gen = assert(lnet.process.spawn({
    argv = { loadgen, "idle", tostring(ln:addr()), "-n", tostring(N), "-hold", "120" },
    stdin = "pipe", stdout = "pipe",
}))
while parked < N do
    lnet.sleep(0.01)
end
lnet.sleep(0.2)
local s4 = sample()
-- (RSS is not comparable here: this step reuses what the first ones freed;
-- bench/run's idle phase measures it in a fresh process.)
per_conn(s3, s4, "total, through lnet.serve", true)
stop()
server:join()
gen.stdin:close()
gen:wait()
gen.stdout:close()
