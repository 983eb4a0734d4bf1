-- The hot path compiles: a read/write echo loop and lnet.copy leave no
-- trace aborts in lnet's own modules (STYLE: as resty's t/md5.t asserts).
local lnet = require "lnet"
local jit_v = require "jit.v"

-- Runs fn with the JIT's verbose log going to a file; returns the log.
local function jit_log(fn)
    local path = os.tmpname()
    jit.flush()
    jit_v.on(path)
    local ok, err = pcall(fn)
    jit_v.off()
    local f = assert(io.open(path))
    local log = f:read("*a")
    f:close()
    os.remove(path)
    assert(ok, err)
    return log
end

local pair = require("support").pair

-- 3000 request/replies on c with an echo at the other end, then c's EOF
-- ends the echo task, which is joined.
local function ping(c, echo)
    for i = 1, 3000 do
        local msg = "ping " .. i
        assert(c:write(msg) == #msg)
        assert(c:read(100) == msg)
    end
    c:close_write()
    echo:join()
end

-- jit.v names a chunk by its file's base name: lnet's are these, and the
-- functions lnet.pack generates for each format (chunk "=lnet.pack").
local modules = { "lnet.pack:" }
for path in io.popen("ls lua/lnet"):lines() do
    modules[#modules + 1] = path
end

-- Aborted traces (jit.v: "[TRACE --- start -- reason at file:line]") that
-- started or stopped in lnet's own Lua modules. A root trace that meets a loop ("inner loop in
-- root trace", "leaving loop in root trace") is no failure: the JIT starts
-- the trace at that loop instead. NYI, blacklisting and the like are.
local function lnet_aborts(log)
    local found = {}
    for start, reason in log:gmatch("%[TRACE %-%-%- ([^%s]+) %-%- ([^%]]+)") do
        if not reason:find("loop in root trace", 1, true) then
            local where = start .. " " .. reason
            for _, m in ipairs(modules) do
                if where:find(m, 1, true) then
                    found[#found + 1] = start .. " -- " .. reason
                    break
                end
            end
        end
    end
    -- A builtin the JIT cannot compile ends the trace ("stitch"): on the hot
    -- path only the task switch itself may.
    for trace, fn in log:gmatch("%[TRACE[^%]]- ([^%s]+) stitch ([^%]]+)%]") do
        if fn ~= "coroutine.yield" then
            for _, m in ipairs(modules) do
                if trace:find(m, 1, true) then
                    found[#found + 1] = trace .. " stitches at " .. fn
                    break
                end
            end
        end
    end
    return found
end

describe("the JIT", function()
    it("compiles the read/write path of an echo without aborts", function()
        local c, s = pair()
        local log = jit_log(function()
            local echo = lnet.go(function()
                while true do
                    local d = s:read(65536)
                    if d == nil or s:write(d) ~= #d then
                        return
                    end
                end
            end)
            ping(c, echo)
        end)
        assert.truthy(log:find("conn.lua", 1, true), "the conn path was not compiled")
        assert.are.same({}, lnet_aborts(log))
        c:close()
        s:close()
    end)

    it("compiles a hot lnet.unpack and lnet.pack loop without aborts", function()
        local fmt = ">I4 i2 d s1 !4 Xi4 <j"
        local s = lnet.pack(fmt, 1, -2, 0.5, "abc", 5)
        local log = jit_log(function()
            local sum = 0
            for i = 1, 20000 do
                local a, b, c, d, e, pos = lnet.unpack(fmt, s)
                sum = sum + a + b + c + #d + e + pos + #lnet.pack(fmt, i, b, c, d, i)
            end
            assert(sum > 0)
        end)
        -- the generated code is inlined into the loop's trace
        assert.truthy(log:find("%[TRACE%s+%d+ jit_spec%.lua:%d+ loop%]"), "the loop was not compiled")
        assert.are.same({}, lnet_aborts(log))
    end)

    it("compiles lnet.copy without aborts", function()
        local c, s = pair()
        local log = jit_log(function()
            local echo = lnet.go(lnet.copy, s, s)
            ping(c, echo)
        end)
        assert.are.same({}, lnet_aborts(log))
        c:close()
        s:close()
    end)
end)
