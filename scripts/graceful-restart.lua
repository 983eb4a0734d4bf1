-- graceful-restart: a TCP echo server that restarts with no downtime.
--   lnet scripts/graceful-restart.lua [address] [--grace SECONDS]
-- (address defaults to 127.0.0.1:0, the grace to 5 s). Prints "listening
-- ADDRESS pid PID" once it serves.
--
-- SIGHUP starts a new copy of this same command (a new binary or script
-- on disk takes effect) and hands it the listening socket as its fd 3
-- (spawn's extra_files, a dup of ln:file()): both processes share the one
-- socket and its queue of conns, so no connect is ever refused. Once the
-- copy says it is ready (a line on a unix socket whose name it is given),
-- this process stops accepting, lets each of its conns run until its
-- client closes it, for at most the grace (then closes what is left), and
-- exits 0. A SIGHUP to the new copy does the same again. If the copy fails
-- to come up (10 s), it is killed and this process serves on.
--
-- SIGINT or SIGTERM: stop accepting, drain within the grace, exit 0.
local lnet = require "lnet"

local READY_TIMEOUT = 10
local FD_ENV, NOTIFY_ENV = "LNET_RESTART_FD", "LNET_RESTART_NOTIFY"

local address, grace = "127.0.0.1:0", 5
do
    local args, i = { ... }, 1
    while args[i] ~= nil do
        if args[i] == "--grace" then
            grace = assert(tonumber(args[i + 1]), "--grace needs seconds")
            i = i + 1
        else
            address = args[i]
        end
        i = i + 1
    end
end

local ffi = require "ffi"
ffi.cdef "int lnet_restart_getpid(void) __asm__(\"getpid\");"
local pid = ffi.C.lnet_restart_getpid()

-- The listener: the parent's, handed over as fd 3, or a new one.
local function listener()
    local fd = tonumber(os.getenv(FD_ENV))
    if fd == nil then
        return assert(lnet.listen("tcp", address))
    end
    local f = lnet.new_file(fd, "inherited listener")
    local ln = assert(lnet.file_listener(f))
    f:close()
    return ln
end

-- Tells the parent, if any, that this copy serves.
local function notify_parent()
    local name = os.getenv(NOTIFY_ENV)
    if name ~= nil then
        local c = assert(lnet.dial("unix", name))
        c:write("ready\n")
        c:close()
    end
end

-- This process's command line, as it was started: the host, its options,
-- the script and its arguments (arg's negative indices hold the first).
local function command()
    local first = 0
    while arg[first - 1] ~= nil do
        first = first - 1
    end
    local argv = {}
    for i = first, #arg do
        argv[#argv + 1] = arg[i]
    end
    return argv
end

-- Our environment for the new copy: its fd and where to say it is ready.
local function child_env(notify)
    local env = {}
    for _, kv in ipairs(lnet.process.environ()) do
        local k = kv:match("^[^=]*")
        if k ~= FD_ENV and k ~= NOTIFY_ENV then
            env[#env + 1] = kv
        end
    end
    env[#env + 1] = FD_ENV .. "=3"
    env[#env + 1] = NOTIFY_ENV .. "=" .. notify
    return env
end

local seq = 0

-- Starts the new copy with ln's socket; true once it says it is ready,
-- else nil and why (the copy, if it started, is killed).
local function hand_over(ln)
    seq = seq + 1
    local notify = ("@lnet-graceful-restart-%d-%d"):format(pid, seq)
    local nl = assert(lnet.listen("unix", notify))
    local f, ferr = ln:file()
    if f == nil then
        nl:close()
        return nil, ferr
    end
    local proc, err = lnet.process.spawn({ argv = command(), env = child_env(notify), extra_files = { f },
                                           stdout = "inherit", stderr = "inherit" })
    f:close()
    if proc ~= nil then
        local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), READY_TIMEOUT)
        -- A copy that exits (a script that no longer loads) ends the wait.
        local watch = lnet.go(function()
            proc:wait(ctx)
            cancel()
        end)
        local c
        c, err = nl:accept(ctx)
        if c ~= nil then
            c:set_read_deadline(lnet.now() + READY_TIMEOUT)
            local line
            line, err = c:read(6)
            c:close()
            if line == "ready\n" then
                err = nil
            end
        end
        cancel()
        watch:join()
        if err ~= nil then
            proc:kill()
        end
    end
    nl:close()
    if err ~= nil then
        return nil, err
    end
    return true
end

-- Echoes until the client closes (or the drain's grace ends).
local function echo(c)
    lnet.copy(c, c)
end

local ln = listener()
local shutdown = lnet.main_context()
local stop_ctx, stop = lnet.context.with_cancel(shutdown)

-- SIGHUP: hand over, then stop. A SIGHUP during a hand-over waits its turn.
local restarts = lnet.go(function()
    while lnet.signal.wait("SIGHUP", stop_ctx) do
        local ok, err = hand_over(ln)
        if ok then
            stop()
            return
        end
        io.stderr:write("graceful-restart: the new copy did not come up: ", tostring(err), "\n")
    end
end)
lnet.sleep(0) -- the task above catches SIGHUP from here on, before anyone is told we serve

local server = lnet.go(lnet.serve, ln, echo, stop_ctx, grace)
io.stdout:write("listening ", tostring(ln:addr()), " pid ", pid, "\n")
io.stdout:flush()
notify_parent()

local ok, err = server:join()
stop()
restarts:join()
if not ok and not lnet.errors.is(err, lnet.context.DeadlineExceeded) then
    error(err, 0)
end
