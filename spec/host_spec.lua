-- The `lnet` executable: scripts, options as lua(1) has them, `arg`, exit
-- codes and messages, tracebacks. These run the built host as a child
-- through the shell; each command is bounded by timeout(1). The REPL on a
-- terminal is spec/repl_spec.lua.

local support = require "support"

local host, sh, quote = support.host, support.sh, support.quote

local function script(text)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
end

-- Runs the host with the shell words in args: its output and exit code.
local function lnet(args)
    return sh(host .. " " .. args)
end

-- What a script prints of `arg`, from index -3 on, and of `...`.
local SHOW_ARG = [[
local t = {}
for i = -3, #arg do t[#t + 1] = i .. "=" .. tostring(arg[i]) end
print(table.concat(t, " "), "|", ...)
]]

describe("lnet host", function()
    it("runs a script as the main task with its arguments and exits 0", function()
        local path = script([[
            local lnet = require "lnet"
            local a, b = ...
            lnet.sleep(0.01)
            print(a, b, arg[0] ~= nil, arg[1])
        ]])
        local out, code = lnet(path .. " x y")
        os.remove(path)
        assert.are.equal(0, code)
        assert.are.equal("x\ty\ttrue\tx\n", out)
    end)

    it("sets arg as lua does: the script at 0, the host and options below", function()
        local path = script(SHOW_ARG)
        local out = lnet("-e 'x = 1' " .. path .. " a b")
        assert.are.equal(("-3=%s -2=-e -1=x = 1 0=%s 1=a 2=b\t|\ta\tb\n"):format(host, path), out)
        -- Words after the script are its own, options or not.
        out = lnet("-- " .. path .. " -e -v")
        assert.are.equal(("-3=nil -2=%s -1=-- 0=%s 1=-e 2=-v\t|\t-e\t-v\n"):format(host, path), out)
        os.remove(path)
        -- No script: everything sits below 0.
        assert.are.equal(host .. "\t-e\tnil\t0\n", lnet([[-e 'print(arg[-3], arg[-2], arg[0], #arg)']]))
    end)

    it("runs -e chunks and -l modules in order before the script, in one run", function()
        local path = script([[print("script", ln ~= nil, lnet ~= nil)]])
        local out, code = lnet([[-e 'print("e1")' -l lnet -e 'ln = lnet.listen("tcp", "127.0.0.1:0")' ]] .. path)
        os.remove(path)
        assert.are.equal(0, code, out)
        -- The listener -e opened was still open for the script: one lnet.run.
        assert.are.equal("e1\nscript\ttrue\ttrue\n", out)
    end)

    it("takes an option's value joined to it", function()
        assert.are.equal("7\n", lnet([[-e'print(7)']]))
    end)

    it("runs stdin as the script after -, with its arguments", function()
        local out, code = sh("echo 'print(arg[0], ...)' | " .. host .. " - p q")
        assert.are.equal(0, code)
        assert.are.equal("-\tp\tq\n", out)
    end)

    it("runs stdin as the script when given nothing and stdin is no terminal", function()
        local out, code = sh("printf 'local lnet = require \"lnet\"\\nlnet.sleep(0.01)\\nprint(\"from stdin\")' | " .. host)
        assert.are.equal(0, code)
        assert.are.equal("from stdin\n", out)
    end)

    it("shows its version and the versions of LuaJIT, libev and c-ares with -v and --version", function()
        local line = ("^lnet %s %%-%%- LuaJIT 2%%.[%%w.-]+, libev %%d+%%.%%d+, c%%-ares %%d+%%.%%d+%%.%%d+\n$"):format(
            (support.version:gsub("%.", "%%.")))
        for _, flag in ipairs({ "-v", "--version" }) do
            local out, code = lnet(flag)
            assert.are.equal(0, code)
            assert.truthy(out:find(line), out)
        end
        -- Then the script runs, as with lua -v script.
        assert.truthy(lnet("-v -e 'print(\"ran\")'"):find("\nran\n$"))
    end)

    it("prints its usage with --help and exits 0", function()
        local out, code = lnet("--help")
        assert.are.equal(0, code)
        assert.truthy(out:find("^usage: lnet %[options%] %[script %[args%]%]\n"))
        for _, opt in ipairs({ "-e stat", "-l name", "-i", "-v, --version", "-h, --help", "--", "-" }) do
            assert.truthy(out:find("\n  " .. opt:gsub("%p", "%%%0") .. " ", 1), opt)
        end
    end)

    it("rejects an unknown option with lua's message, its usage and exit 1", function()
        local out, code = lnet("--nope")
        assert.are.equal(1, code)
        assert.truthy(out:find("^lnet: unrecognized option '%-%-nope'\nusage: lnet "), out)
        out, code = lnet("-e")
        assert.are.equal(1, code)
        assert.truthy(out:find("^lnet: '%-e' needs argument\nusage: "), out)
        -- Only an option that takes a value takes one joined to it.
        for _, word in ipairs({ "-vi", "--help=yes" }) do
            out, code = lnet(word)
            assert.are.equal(1, code)
            assert.truthy(out:find("^lnet: unrecognized option '" .. word:gsub("%p", "%%%0") .. "'\n"), out)
        end
    end)

    it("says lua's `cannot open` for a missing script, with exit 1", function()
        local out, code = lnet("nope.lua")
        assert.are.equal(1, code)
        assert.are.equal("lnet: cannot open nope.lua: No such file or directory\n", out)
    end)

    it("prints a syntax error as lua does, with no traceback", function()
        local path = script("x = = 1\n")
        local out, code = lnet(path)
        os.remove(path)
        assert.are.equal(1, code)
        assert.are.equal(("lnet: %s:1: unexpected symbol near '='\n"):format(path), out)
    end)

    it("says a module given to -l is not found, with exit 1", function()
        local out, code = lnet("-l nope_no_such_module")
        assert.are.equal(1, code)
        assert.truthy(out:find("^lnet: module 'nope_no_such_module' not found:\n"), out)
        -- Its traceback is require's alone: no Lua frame, of lnet's or any.
        assert.truthy(out:find("\nstack traceback:\n\t%[C%]: [^\n]*\n$"), out)
    end)

    it("exits 1 with the error and its traceback when the main task raises", function()
        local out, code = lnet([[-e 'local function f() error("boom") end f()']])
        assert.are.equal(1, code)
        assert.are.equal("lnet: (command line):1: boom\nstack traceback:\n\t[C]: in function 'error'\n"
            .. "\t(command line):1: in function 'f'\n\t(command line):1: in main chunk\n", out)
    end)

    it("shows none of lnet's own frames in a traceback", function()
        local out, code = lnet([[-e 'require("lnet").sleep("soon")']])
        assert.are.equal(1, code)
        assert.are.equal("lnet: (command line):1: bad argument #1 to 'sleep' (number expected, got string)\n"
            .. "stack traceback:\n\t[C]: in function 'error'\n\t(command line):1: in main chunk\n", out)
    end)

    it("names an error value that is not a string as lua does", function()
        local out, code = lnet([[-e 'error({})']])
        assert.are.equal(1, code)
        assert.truthy(out:find("^lnet: %(error object is a table value%)\n"), out)
    end)

    it("reports a failed task that nobody joins, with its traceback", function()
        local out, code = lnet([[-e 'local lnet = require "lnet"
            lnet.go(function() error("inner failure") end) lnet.sleep(0.01)']])
        assert.are.equal(0, code)
        assert.truthy(out:find("task failed: .*inner failure"))
        assert.truthy(out:find("stack traceback", 1, true))
    end)

    it("drops tasks left running when the main task returns", function()
        local out, code = lnet([[-e 'local lnet = require "lnet"
            lnet.go(function() lnet.sleep(60) end) print("main done")']])
        assert.are.equal(0, code)
        assert.are.equal("main done\n", out)
    end)

    it("says deadlock when every task waits on nothing that can wake it", function()
        local out, code = lnet([[-e 'require("lnet").channel():recv()']])
        assert.are.equal(1, code)
        assert.are.equal("lnet: all tasks are asleep - deadlock!\n", out)
    end)

    it("runs LUA_INIT first, as code or as @file", function()
        assert.are.equal("init\nmain\n", sh("LUA_INIT='print(\"init\")' " .. host .. [[ -e 'print("main")']]))
        local path = script([[print("init file")]])
        assert.are.equal("init file\nmain\n", sh("LUA_INIT=@" .. path .. " " .. host .. [[ -e 'print("main")']]))
        os.remove(path)
    end)

    it("runs each REPL chunk as a task and prints its values with -i", function()
        local out, code = sh("printf '1 + 1\\n= 2, nil\\nrequire(\"lnet\").sleep(0.01)\\nprint(\"slept\")\\n' | " .. host .. " -i")
        assert.are.equal(0, code)
        assert.truthy(out:find("^lnet [^\n]+\n> 2\n> 2\tnil\n> true\n> slept\n> \n$"), out)
    end)

    it("enters the REPL after the script with -i, the script's globals kept", function()
        local path = script("answer = 42\n")
        local out, code = sh("printf 'answer\\n' | " .. host .. " -i " .. path)
        os.remove(path)
        assert.are.equal(0, code)
        assert.truthy(out:find("\n> 42\n> \n$"), out)
    end)

    it("finds its Lua files from its own place, with no environment", function()
        local out, code = sh(("env -i %s -e %s"):format(quote(support.root .. "/" .. host),
            quote([[print(package.searchpath("lnet", package.path))]])))
        assert.are.equal(0, code)
        assert.are.equal(support.root .. "/lua/lnet/init.lua\n", out)
    end)
end)
