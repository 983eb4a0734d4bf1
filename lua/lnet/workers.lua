-- lnet.workers (private): `lnet --workers N script.lua`, all the cores of
-- one machine. The host process becomes a supervisor: it runs N copies of
-- the same command line (without --workers), each a process with its own
-- loop, and does nothing else.
--
-- Each copy learns its number from LNET_WORKER_ID (lnet.worker_id(), 1..N;
-- LNET_WORKERS holds N), and every TCP or UDP listener it opens has
-- SO_REUSEPORT, so all copies bind the same address and the kernel spreads
-- new conns (and datagrams) over them. The supervisor forwards SIGINT,
-- SIGTERM and SIGHUP to every copy; after SIGINT or SIGTERM it restarts
-- nothing and exits once all have exited. A copy that dies (a signal, or
-- an exit code other than 0) is restarted after a delay that doubles from
-- BACKOFF_MIN to BACKOFF_MAX, and starts again from BACKOFF_MIN once a copy
-- has run STEADY seconds; one that dies within QUICK seconds GIVE_UP times
-- in a row (a script that cannot start) is given up. A copy that exits 0 is
-- done. The supervisor exits when no copy is left: 0 if each ended with 0
-- (or, after a forwarded SIGINT or SIGTERM, of that signal), else 1.

local ffi = require "ffi"
local lnet = require "lnet"
local sys = require "lnet.sys"
local worker = require "lnet.worker"

ffi.cdef "int lnet_process_ncpu(void);"

local C = sys.C
local stderr = io.stderr
local min, format, tostring, ipairs, pairs = math.min, string.format, tostring, ipairs, pairs
local context, process, signal = lnet.context, lnet.process, lnet.signal

local BACKOFF_MIN, BACKOFF_MAX = 0.1, 10
local STEADY = 10
local QUICK, GIVE_UP = 1, 5

local FORWARDED = { "SIGINT", "SIGTERM", "SIGHUP" }

local _M = {}

-- count(n): the workers `--workers n` means: n, or the CPUs this process
-- may use for 0.
function _M.count(n)
    if n == 0 then
        return C.lnet_process_ncpu()
    end
    return n
end

local function say(fmt, ...)
    stderr:write("lnet: ", format(fmt, ...), "\n")
end

-- Worker i's environment: ours, with its number and the count.
local function environment(i, n)
    local env = {}
    for _, kv in ipairs(process.environ()) do
        local k = kv:match("^[^=]*")
        if k ~= worker.ENV_ID and k ~= worker.ENV_COUNT then
            env[#env + 1] = kv
        end
    end
    env[#env + 1] = worker.ENV_ID .. "=" .. i
    env[#env + 1] = worker.ENV_COUNT .. "=" .. n
    return env
end

local function ended(code, sig)
    return code ~= nil and "exited with code " .. code or "was killed by " .. tostring(sig)
end

-- Runs worker i until it is done, restarting it as the header says;
-- returns whether it ended well.
local function keep(st, i, argv)
    local env = environment(i, st.n)
    local delay, quick = BACKOFF_MIN, 0
    while not st.stopping do
        local started = lnet.now()
        local proc, err = process.spawn({ argv = argv, env = env, stdin = "null", stdout = "inherit",
                                          stderr = "inherit" })
        if proc == nil then
            say("worker %d: %s", i, tostring(err))
            return false
        end
        st.procs[i] = proc
        local code, sig = proc:wait()
        st.procs[i] = nil
        if st.stopping then
            return code == 0 or sig == st.stopped_by
        elseif code == 0 then
            return true
        end
        local ran = lnet.now() - started
        if ran >= STEADY then
            delay = BACKOFF_MIN
        end
        quick = ran < QUICK and quick + 1 or 0
        if quick >= GIVE_UP then
            say("worker %d (pid %d) %s, %d times in a row within %gs: giving up on it", i, proc:pid(),
                ended(code, sig), quick, QUICK)
            return false
        end
        say("worker %d (pid %d) %s; restarting it in %gs", i, proc:pid(), ended(code, sig), delay)
        if not lnet.sleep(delay, st.stop_ctx) then
            return true -- stopped while it waited: nothing is running
        end
        delay = min(delay * 2, BACKOFF_MAX)
    end
    return true
end

-- Forwards sig to every running worker until the run ends; SIGINT and
-- SIGTERM also stop the restarts.
local function forward(st, sig)
    while signal.wait(sig, st.done_ctx) do
        if sig ~= "SIGHUP" and not st.stopping then
            st.stopping, st.stopped_by = true, sig
            st.stop()
        end
        for _, proc in pairs(st.procs) do
            proc:kill(sig)
        end
    end
end

-- supervise(n, argv): runs n workers of argv (argv[1] the host); returns
-- the exit code.
function _M.supervise(n, argv)
    return lnet.run(function()
        local bg = context.background()
        local st = { n = n, procs = {}, stopping = false }
        st.stop_ctx, st.stop = context.with_cancel(bg)
        local done
        st.done_ctx, done = context.with_cancel(bg)
        local forwarders = {}
        for k, sig in ipairs(FORWARDED) do
            forwarders[k] = lnet.go(forward, st, sig)
        end
        lnet.sleep(0) -- the forwarders catch their signals before any worker starts
        local keepers = {}
        for i = 1, n do
            keepers[i] = lnet.go(keep, st, i, argv)
        end
        local all_well = true
        for i = 1, n do
            all_well = keepers[i]:join() and all_well
        end
        done()
        st.stop()
        for k = 1, #forwarders do
            forwarders[k]:join()
        end
        return all_well and 0 or 1
    end)
end

return _M
