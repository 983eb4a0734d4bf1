-- lnet.host (private): the `lnet` executable's command line.
--   lnet script.lua [args...]   run the script as the main task
--   lnet -e 'code' [args...]    run code as the main task
--   lnet                        a REPL: each line runs as a main task
-- The script sees its arguments as `...` and in the global `arg`, as with
-- lua(1). Returns the process exit code.

local lnet = require "lnet"

local stderr, stdout, stdin = io.stderr, io.stdout, io.stdin
local loadstring, loadfile, tostring, select = loadstring, loadfile, tostring, select
local unpack = unpack

local _M = {}

local function report(err)
    stderr:write("lnet: ", tostring(err), "\n")
end

local function run_chunk(chunk, args)
    local ok, err = pcall(lnet.run, chunk, unpack(args, 1, args.n))
    if not ok then
        report(err)
        return 1
    end
    return 0
end

local function print_results(ok, ...)
    if ok and select("#", ...) > 0 then
        print(...)
    elseif not ok then
        report((...))
    end
end

local function repl()
    stdout:write("lnet (LuaJIT) -- each line runs as a task; Ctrl-D quits\n")
    while true do
        stdout:write("> ")
        stdout:flush()
        local line = stdin:read("*l")
        if line == nil then
            stdout:write("\n")
            return 0
        end
        local chunk, err = loadstring("return " .. line, "=stdin")
        if chunk == nil then
            chunk, err = loadstring(line, "=stdin")
        end
        if chunk == nil then
            report(err)
        else
            print_results(pcall(lnet.run, chunk))
        end
    end
end

local function usage()
    stderr:write("usage: lnet [script.lua [args...] | -e code [args...]]\n")
    return 2
end

function _M.main(argv)
    local first = argv[1]
    if first == nil then
        return repl()
    end
    local chunk, err, script, from
    if first == "-e" then
        if argv[2] == nil then
            return usage()
        end
        script, from = "-e", 3
        chunk, err = loadstring(argv[2], "=(command line)")
    elseif first:sub(1, 1) == "-" and first ~= "-" then
        return usage()
    else
        script, from = first, 2
        chunk, err = loadfile(first ~= "-" and first or nil)
    end
    if chunk == nil then
        report(err)
        return 1
    end
    local args = { n = 0 }
    _G.arg = { [0] = script, [-1] = argv[0] }
    for i = from, #argv do
        args.n = args.n + 1
        args[args.n] = argv[i]
        _G.arg[args.n] = argv[i]
    end
    return run_chunk(chunk, args)
end

return _M
