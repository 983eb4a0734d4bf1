-- spawn latency with a big Lua heap: lnet.process.spawn + wait of /bin/true,
-- with the heap grown to HEAP_MB (default 200) first.
--   build/lnet bench/spawn.lua [heap_mb] [spawns]
-- A fork copies the parent's page tables (and marks every page copy-on-write),
-- so its cost grows with the heap; a vfork-style clone costs the same at any
-- heap size. Prints the median and p90, in microseconds, of the spawn call
-- alone (the time the loop is blocked until the child has exec'd) and of
-- spawn + wait.
local lnet = require "lnet"

local heap_mb = tonumber(arg and arg[1]) or 200
local spawns = tonumber(arg and arg[2]) or 200

local hold, bytes = {}, 0
while bytes < heap_mb * 1024 * 1024 do
    -- distinct strings, so the heap really holds heap_mb of pages
    hold[#hold + 1] = string.rep(string.char(#hold % 251), 65536 - 32) .. #hold
    bytes = bytes + 65536
end

local calls, totals = {}, {}
for i = 1, spawns do
    local t0 = lnet.now()
    local p = assert(lnet.process.spawn { argv = { "/bin/true" } })
    calls[i] = (lnet.now() - t0) * 1e6
    assert(p:wait() == 0)
    totals[i] = (lnet.now() - t0) * 1e6
end

local function stats(t)
    table.sort(t)
    return t[math.ceil(#t / 2)], t[math.ceil(#t * 0.9)]
end
local cm, c90 = stats(calls)
local tm, t90 = stats(totals)
print(("heap %d MB (%d KiB in use), %d spawns of /bin/true: spawn call median %.0f us (p90 %.0f), spawn+wait median %.0f us (p90 %.0f)")
    :format(heap_mb, collectgarbage("count"), spawns, cm, c90, tm, t90))
