-- lnet.host (private): the `lnet` executable, with lua(1)'s habits.
--
--   lnet [options] [script [args]]
--
-- The options are in the table below, from which the usage text is made.
-- As with lua: LUA_INIT, then -e and -l in their order, then the script,
-- whose arguments are `...`; the global `arg` holds the whole command line
-- with the script at 0 and what came before it at negative indices. With no
-- script and no -e: a REPL when stdin is a terminal (as -i gives after the
-- script), else stdin is the script. Exit codes are lua's: 0, or 1 after
-- an error, with lua's message and no trace of lnet's own code.
--
-- LUA_INIT, the -e and -l chunks and the script run in one lnet.run, each as
-- a task of its own: a traceback starts at the user's function, and what an
-- -e chunk opens is still open for the script. Each REPL chunk is an
-- lnet.run of its own.

local lnet = require "lnet"
local errors = require "lnet.errors"
local lineedit = require "lnet.lineedit"
local workers = require "lnet.workers"

local stderr, stdout, stdin = io.stderr, io.stdout, io.stdin
local loadstring, loadfile, tostring, type, select = loadstring, loadfile, tostring, type, select
local pcall, ipairs, getmetatable, unpack, require, tonumber = pcall, ipairs, getmetatable, unpack, require, tonumber
local concat = table.concat
local getenv, open = os.getenv, io.open
local jit_version = jit.version
local _G = _G

local _M = {}

local function pack(...)
    return { n = select("#", ...), ... }
end

-- lua's text for an error value: strings as they are, else __tostring,
-- else what kind of value it was.
local function error_text(value)
    if type(value) == "string" or type(value) == "number" then
        return tostring(value)
    end
    local mt = getmetatable(value)
    if mt ~= nil and mt.__tostring ~= nil then
        return tostring(value)
    end
    return ("(error object is a %s value)"):format(type(value))
end

-- The directory of lnet's Lua files: their frames are left out of the
-- tracebacks the host prints, as lua's own C functions show none.
local own_dir = debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")

-- A traceback line naming one of lnet's files (shown in full, or as its
-- tail after "..." when the path is long).
local function own_frame(line)
    local shown = line:match("^\t(.-):%d+:")
    if shown == nil or own_dir == nil then
        return false
    end
    shown = shown:gsub("^%.%.%.", "")
    local path = own_dir .. shown:match("[^/]*$")
    if path:sub(-#shown) ~= shown then
        return false
    end
    local f = open(path)
    if f ~= nil then
        f:close()
    end
    return f ~= nil
end

local function user_frames(traceback)
    local lines = {}
    for line in traceback:gmatch("[^\n]+") do
        if not own_frame(line) then
            lines[#lines + 1] = line
        end
    end
    return concat(lines, "\n")
end

-- What a failed run says: a task's error with its traceback (the task's
-- own stack, less lnet's frames), or lnet.run's own (a deadlock).
local function failure_text(err)
    local task_err = errors.as(err, "TaskError")
    if task_err ~= nil then
        return error_text(task_err.value) .. "\n" .. user_frames(task_err.traceback)
    end
    return error_text(err)
end

local function complain(text)
    stderr:write("lnet: ", text, "\n")
end

-- The options. Each lists its names; `arg` names its value if it takes one
-- (the next word, or joined: -e'print(1)', --name=value); `set` records it
-- in the command, or returns what is wrong with the value; `host` marks an
-- option of the host process itself, which the copies --workers runs do
-- not get. "--" and "-" end the options and are the parser's own. A new
-- option is one more entry here.
local options = {
    {
        "-e",
        arg = "stat",
        help = "execute string 'stat'",
        set = function(cmd, stat)
            cmd.exec = true
            cmd.steps[#cmd.steps + 1] = { "chunk", stat, "=(command line)" }
        end,
    },
    {
        "-l",
        arg = "name",
        help = "require library 'name' (and set the global 'name')",
        set = function(cmd, name)
            cmd.steps[#cmd.steps + 1] = { "require", name }
        end,
    },
    {
        "-i",
        help = "enter interactive mode after executing 'script'",
        set = function(cmd)
            cmd.interactive, cmd.version = true, true
        end,
    },
    {
        "-v",
        "--version",
        help = "show version information",
        set = function(cmd)
            cmd.version = true
        end,
    },
    {
        "--workers",
        arg = "N",
        host = true,
        help = "run N copies of the script sharing its ports (0: one per core)",
        set = function(cmd, n)
            local count = n:match("^%d+$") and tonumber(n)
            if count == nil or count > 4096 then
                return ("'--workers' needs a number of workers (0 for one per core), got '%s'"):format(n)
            end
            cmd.workers = count
        end,
    },
    {
        "-h",
        "--help",
        help = "show this help",
        set = function(cmd)
            cmd.help = true
        end,
    },
    { "--", help = "stop handling options" },
    { "-", help = "execute stdin and stop handling options" },
}

local by_name = {}
for _, opt in ipairs(options) do
    for _, name in ipairs(opt) do
        by_name[name] = opt
    end
end

local function usage()
    local lines = { "usage: lnet [options] [script [args]]", "Available options are:" }
    for _, opt in ipairs(options) do
        local names = concat(opt, ", ") .. (opt.arg and " " .. opt.arg or "")
        lines[#lines + 1] = ("  %-14s %s"):format(names, opt.help)
    end
    return concat(lines, "\n") .. "\n"
end

-- The option a word names, and the value joined to it (-estat, --name=v).
local function find_option(word)
    local opt = by_name[word]
    if opt ~= nil then
        return opt
    end
    local name, value = word:match("^(%-%-[^=]+)=(.*)$")
    if name == nil then
        name, value = word:sub(1, 2), word:sub(3)
    end
    opt = by_name[name]
    if opt ~= nil and opt.arg ~= nil then
        return opt, value
    end
end

-- The command line as a command: its steps and flags, and the index in argv
-- of the script (nil if none); or nil and what is wrong.
local function parse(argv)
    local cmd = { steps = {}, host_words = {} }
    local i = 1
    while argv[i] ~= nil do
        local word = argv[i]
        if word == "--" then
            i = i + 1
            break
        end
        if word == "-" or word:sub(1, 1) ~= "-" then
            break
        end
        local opt, value = find_option(word)
        if opt == nil or opt.set == nil then
            return nil, ("unrecognized option '%s'"):format(word)
        end
        local first = i
        if opt.arg ~= nil and value == nil then
            i = i + 1
            value = argv[i]
            if value == nil then
                return nil, ("'%s' needs argument"):format(word)
            end
        end
        local err = opt.set(cmd, value)
        if err ~= nil then
            return nil, err
        end
        for k = first, opt.host and i or first - 1 do
            cmd.host_words[k] = true
        end
        i = i + 1
    end
    if argv[i] ~= nil then
        cmd.script = i
    end
    return cmd
end

-- lua's `arg`: argv shifted so that the script is at 0 (or, with none, so
-- that everything is at negative indices).
local function arg_table(argv, script)
    local base = script or #argv + 1
    local arg = {}
    for i = 0, #argv do
        arg[i - base] = argv[i]
    end
    return arg
end

-- Runs fn(...) as a task and waits for it: true and its results, or false
-- and its TaskError.
local function task(fn, ...)
    local t = lnet.go(fn, ...)
    local results = pack(t:join())
    if t.status == "failed" then
        return false, results[2]
    end
    return true, unpack(results, 1, results.n)
end

-- Each step returns nil, or the error that ends the run. A chunk that does
-- not load ends it with the loader's message alone, as in lua.
local function run_chunk(chunk, load_err, ...)
    if chunk == nil then
        return load_err
    end
    local ok, err = task(chunk, ...)
    if not ok then
        return err
    end
end

local steps = {
    chunk = function(code, chunkname)
        return run_chunk(loadstring(code, chunkname))
    end,
    file = function(path, args)
        local chunk, err = loadfile(path) -- nil: stdin
        return run_chunk(chunk, err, unpack(args, 1, args.n))
    end,
    require = function(name)
        local ok, mod = task(require, name)
        if not ok then
            return mod
        end
        _G[name] = mod
    end,
}

-- Runs the steps in one lnet.run; returns the exit code.
local function run_steps(list)
    local ok, err = pcall(lnet.run, function()
        for _, step in ipairs(list) do
            local step_err = steps[step[1]](step[2], step[3])
            if step_err ~= nil then
                return step_err
            end
        end
    end)
    if ok and err == nil then
        return 0
    end
    complain(failure_text(err))
    return 1
end

-- LUA_INIT, as lua reads it: "@file" or code.
local function init_step()
    local init = getenv("LUA_INIT")
    if init == nil then
        return nil
    elseif init:sub(1, 1) == "@" then
        return { "file", init:sub(2), { n = 0 } }
    end
    return { "chunk", init, "=LUA_INIT" }
end

-- The REPL. Lines come from the line editor on a terminal, else plainly,
-- with the prompts written all the same (as lua does).
local read_line, save_line
if lineedit.tty then
    read_line, save_line = lineedit.read, lineedit.save
else
    read_line = function(prompt)
        stdout:write(prompt)
        stdout:flush()
        return stdin:read("*l")
    end
    save_line = function() end
end

-- lua's test for input cut short: its syntax error is at the end.
local function incomplete(err)
    return err:sub(-7) == "'<eof>'"
end

-- An expression list as a chunk that returns its values. Not `return
-- <line>`: LuaJIT makes `return f()` a tail call, and an error raised by f
-- would then have no line to name.
local function expression(line)
    return loadstring("return (function(...) return ... end)(" .. line .. "\n)", "=stdin")
end

-- One chunk: an expression (with or without lua 5.1's leading "="), whose
-- values get printed, or statements, read on for as many lines as it
-- takes to complete them. nil at the end of input; nil and the syntax
-- error of a chunk that does not compile.
local function read_chunk()
    local line = read_line("> ")
    if line == nil then
        return nil
    end
    line = line:gsub("^=", "")
    local chunk, err = expression(line)
    if chunk == nil then
        chunk, err = loadstring(line, "=stdin")
        while chunk == nil and incomplete(err) do
            local more = read_line(">> ")
            if more == nil then
                break
            end
            line = line .. "\n" .. more
            chunk, err = loadstring(line, "=stdin")
        end
    end
    if line:find("%S") then
        save_line(line)
    end
    return chunk, err
end

local function print_results(results)
    local ok, err = pcall(_G.print, unpack(results, 2, results.n))
    if not ok then
        stderr:write("error calling 'print' (", error_text(err), ")\n")
    end
end

-- Each chunk runs as the main task of an lnet.run of its own.
local function repl()
    while true do
        local chunk, err = read_chunk()
        if chunk == nil and err == nil then
            stdout:write("\n")
            return
        end
        if chunk == nil then
            stderr:write(err, "\n")
        else
            local results = pack(pcall(lnet.run, chunk))
            if not results[1] then
                stderr:write(failure_text(results[2]), "\n")
            elseif results.n > 1 then
                print_results(results)
            end
        end
    end
end

-- --workers: the host supervises copies of its command line, less its own
-- options (lnet.workers); it runs no script itself.
local function supervise(argv, cmd)
    local why
    if cmd.script == nil and not cmd.exec then
        why = "'--workers' needs a script (or -e) to run"
    elseif cmd.script ~= nil and argv[cmd.script] == "-" then
        why = "'--workers' cannot share stdin among the copies of a script read from it"
    elseif cmd.interactive then
        why = "'--workers' and '-i' do not go together"
    end
    if why ~= nil then
        complain(why)
        stderr:write(usage())
        return 1
    end
    local copy = { argv[0] }
    for i = 1, #argv do
        if not cmd.host_words[i] then
            copy[#copy + 1] = argv[i]
        end
    end
    return workers.supervise(workers.count(cmd.workers), copy)
end

-- main(argv, libs): argv as C has it (argv[0] the host), libs the versions
-- of the C libraries for -v. Returns the exit code.
function _M.main(argv, libs)
    local cmd, err = parse(argv)
    if cmd == nil then
        complain(err)
        stderr:write(usage())
        return 1
    end
    if cmd.help then
        stdout:write(usage())
        return 0
    end
    if cmd.workers ~= nil then
        return supervise(argv, cmd)
    end
    local list = { init_step() }
    for _, step in ipairs(cmd.steps) do
        list[#list + 1] = step
    end
    if cmd.script ~= nil then
        local path = argv[cmd.script]
        local args = { n = #argv - cmd.script, unpack(argv, cmd.script + 1, #argv) }
        list[#list + 1] = { "file", path ~= "-" and path or nil, args }
    elseif not cmd.exec and not cmd.version then
        if lineedit.tty then
            cmd.interactive, cmd.version = true, true
        else
            list[#list + 1] = { "file", nil, { n = 0 } }
        end
    end
    if cmd.version then
        stdout:write(("lnet %s -- %s, %s\n"):format(lnet._VERSION, jit_version, libs))
        stdout:flush()
    end
    _G.arg = arg_table(argv, cmd.script)
    local code = run_steps(list)
    if code == 0 and cmd.interactive then
        repl()
    end
    return code
end

return _M
