-- The `lnet` executable: scripts, -e, the REPL, exit codes, tracebacks.
-- These run the built host as a child through the shell; each command is
-- bounded by timeout(1).

local host = require("support").host

-- Runs a shell command, returning its output (stdout and stderr) and exit code.
local function sh(cmd)
    local f = assert(io.popen("timeout 20 " .. cmd .. " 2>&1; echo \"exit=$?\""))
    local out = f:read("*a")
    f:close()
    local body, code = out:match("^(.*)exit=(%d+)\n$")
    return body, tonumber(code)
end

local function script(text)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
end

describe("lnet host", function()
    it("runs a script as the main task with its arguments and exits 0", function()
        local path = script([[
            local lnet = require "lnet"
            local a, b = ...
            lnet.sleep(0.01)
            print(a, b, arg[0] ~= nil, arg[1])
        ]])
        local out, code = sh(host .. " " .. path .. " x y")
        os.remove(path)
        assert.are.equal(0, code)
        assert.are.equal("x\ty\ttrue\tx\n", out)
    end)

    it("runs -e code", function()
        local out, code = sh(host .. [[ -e 'print(select("#", ...), ...)' a b]])
        assert.are.equal(0, code)
        assert.are.equal("2\ta\tb\n", out)
    end)

    it("exits 1 with the error and its traceback when the main task raises", function()
        local out, code = sh(host .. [[ -e 'local function f() error("boom") end f()']])
        assert.are.equal(1, code)
        assert.truthy(out:find("boom", 1, true))
        assert.truthy(out:find("stack traceback", 1, true))
    end)

    it("reports a failed task that nobody joins, with its traceback", function()
        local out, code = sh(host .. [[ -e 'local lnet = require "lnet"
            lnet.go(function() error("inner failure") end) lnet.sleep(0.01)']])
        assert.are.equal(0, code)
        assert.truthy(out:find("task failed: .*inner failure"))
        assert.truthy(out:find("stack traceback", 1, true))
    end)

    it("drops tasks left running when the main task returns", function()
        local out, code = sh(host .. [[ -e 'local lnet = require "lnet"
            lnet.go(function() lnet.sleep(60) end) print("main done")']])
        assert.are.equal(0, code)
        assert.are.equal("main done\n", out)
    end)

    it("says deadlock when every task waits on nothing that can wake it", function()
        local out, code = sh(host .. [[ -e 'require("lnet").channel():recv()']])
        assert.are.equal(1, code)
        assert.truthy(out:find("all tasks are asleep - deadlock!", 1, true))
    end)

    it("runs each REPL line as a task and prints its values", function()
        local out, code = sh("printf 'return 1 + 1\\nrequire(\"lnet\").sleep(0.01)\\nprint(\"slept\")\\n' | " .. host)
        assert.are.equal(0, code)
        assert.truthy(out:find("> 2\n", 1, true))
        assert.truthy(out:find("slept", 1, true))
    end)

    it("rejects an unknown flag with usage and exit 2", function()
        local out, code = sh(host .. " --nope")
        assert.are.equal(2, code)
        assert.truthy(out:find("usage:", 1, true))
    end)
end)
