-- The spec harness itself (issue 2, item 9): spec/fixtures/harness.lua runs
-- in a busted of its own, and the lnet.busted helper must pass its first
-- test and fail each of the others for the reason the test's name gives.
local lnet = require "lnet"
local support = require "support"

-- busted's TAP output for one spec file, bounded by a ctx.
local function run_busted(file)
    local proc = assert(lnet.process.spawn({
        argv = { "busted", "-o", "TAP", file },
        stdout = "pipe",
        stderr = "inherit",
    }))
    local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 30)
    local parts = {}
    while true do
        local s = proc.stdout:read(65536, ctx)
        if s == nil then
            break
        end
        parts[#parts + 1] = s
    end
    proc.stdout:close()
    local code = proc:wait(ctx)
    cancel()
    return table.concat(parts), code
end

describe("the spec harness (lnet.busted)", function()
    it("runs bodies as tasks and fails leaks, overruns and errors, each with its reason", function()
        local tap, code = run_busted("spec/fixtures/harness.lua")
        assert.are.equal(1, code, tap) -- busted's exit code: some tests failed
        assert.is_truthy(tap:find("\nok 1 %- harness fixture passes") or tap:find("^ok 1 %- harness fixture passes"), tap)
        for _, case in ipairs({
            { 2, "leaks a task", "test leaked 1 task%(s%) and 0 fd%(s%)" },
            { 3, "leaks an fd", "test leaked 0 task%(s%) and 1 fd%(s%)" },
            { 4, "runs past its limit", "test exceeded its time limit of 0%.5s and was cancelled" },
            { 5, "raises in its body", "boom from the body" },
        }) do
            local from = tap:find(("not ok %d %%- harness fixture %s\n"):format(case[1], case[2]:gsub("%-", "%%-")))
            assert.is_truthy(from, "test " .. case[1] .. " did not fail:\n" .. tap)
            local next_test = tap:find("\nn?o?t? ?ok %d", from + 1) or #tap
            assert.is_truthy(tap:sub(from, next_test):find(case[3]), tap:sub(from, next_test))
        end
        assert.is_truthy(tap:find("1..5", 1, true), tap)
    end)

    it("lnet.run raises what its body raised: a TaskError holding the value", function()
        -- Inside a running loop lnet.run may not nest: a child luajit runs it.
        local proc = assert(lnet.process.spawn({
            argv = { "luajit", "-e", [[
                package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
                package.cpath = os.getenv("LNET_BUILD_DIR") .. "/lib/?.so;" .. package.cpath
                local lnet = require "lnet"
                local ok, err = pcall(lnet.run, function() lnet.sleep(0) error({ code = 7 }) end)
                local kind = getmetatable(err) and getmetatable(err).name
                io.write(tostring(ok), " ", tostring(kind), " ", tostring(err.value and err.value.code))
            ]] },
            env = { "LNET_BUILD_DIR=" .. support.build, "PATH=" .. os.getenv("PATH"),
                    "LD_PRELOAD=" .. (os.getenv("LD_PRELOAD") or ""), "ASAN_OPTIONS=" .. (os.getenv("ASAN_OPTIONS") or "") },
            stdout = "pipe",
            stderr = "inherit",
        }))
        local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 30)
        local out = support.read_all(proc.stdout)
        proc.stdout:close()
        assert.are.equal(0, proc:wait(ctx))
        cancel()
        assert.are.equal("false TaskError 7", out)
    end)
end)
