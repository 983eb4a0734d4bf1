-- lnet.process: child processes, what a chaos script needs of Go's os/exec.
--
--   spawn{argv, env, dir, stdin, stdout, stderr, extra_files} -> proc, or nil, err
--   proc.stdin, proc.stdout, proc.stderr: conns, where "pipe" was asked
--   proc:wait([ctx]) -> code | nil, "SIGKILL" | nil, err
--   proc:kill([sig]) -> true | nil, err
--   proc:pid()
--   environ() -> our environment as an array of "K=V" (Go's os.Environ)
--
-- The core forks and execs (reporting exec failures as errors) and reaps
-- through the loop: its ev_child watcher wakes the process's event op once,
-- when the child exits, and the handler here keeps how it ended, frees the
-- core process and the op, and wakes the waiting tasks. So the core's part
-- lives exactly as long as the child runs, whether or not anyone keeps the
-- proc. The end of lnet.run releases children still running: they run on,
-- unwatched (as a Go program's children outlive it), and wait and kill on
-- them return ErrReleased.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local conn = require "lnet.conn"
local file = require "lnet.file"
local signals = require "lnet.signals"

ffi.cdef [[
enum { LNET_PROCESS_NEW, LNET_PROCESS_RUNNING, LNET_PROCESS_EXITED, LNET_PROCESS_RELEASED };
enum { LNET_STDIO_INHERIT, LNET_STDIO_NULL, LNET_STDIO_PIPE };
enum { LNET_SPAWN_EXEC, LNET_SPAWN_CHDIR };
struct lnet_spawn {
    const char *const *argv;
    const char *const *envp;
    const char *dir;
    int stdio[3];
    const int *files;
    int nfiles;
    int pipes[3];
    int failed_step;
};
/* A prefix of core/process.h's struct lnet_process: the fields Lua reads. */
struct lnet_process { int pid; int state; int code; int signal; };
struct lnet_process *lnet_process_new(struct lnet_loop *loop, struct lnet_op *notify);
void lnet_process_free(struct lnet_process *p);
int lnet_process_spawn(struct lnet_process *p, struct lnet_spawn *s);
int lnet_process_kill(struct lnet_process *p, int sig);
extern char **environ;
char *lnet_process_getcwd(char *buf, size_t size) __asm__("getcwd");
]]

local C, loop = sys.C, sys.loop
sys.check_layout("lnet_spawn", { "argv", "envp", "dir", "stdio", "files", "nfiles", "pipes", "failed_step" }, true,
    { "LNET_STDIO_INHERIT", "LNET_STDIO_NULL", "LNET_STDIO_PIPE", "LNET_SPAWN_EXEC", "LNET_SPAWN_CHDIR" })
sys.check_layout("lnet_process", { "pid", "state", "code", "signal" }, false,
    { "LNET_PROCESS_NEW", "LNET_PROCESS_RUNNING", "LNET_PROCESS_EXITED", "LNET_PROCESS_RELEASED" })
local ffi_new, ffi_string, istype = ffi.new, ffi.string, ffi.istype
local setmetatable, type, error, pairs, tostring = setmetatable, type, error, pairs, tostring
local from_errno, SyscallError, check_arg = errors.from_errno, errors.SyscallError, errors.check_arg
local self_task, check_ctx = sched.self_task, sched.check_ctx

local RUNNING, EXITED = C.LNET_PROCESS_RUNNING, C.LNET_PROCESS_EXITED
local CHDIR = C.LNET_SPAWN_CHDIR
local SIGKILL = signals.number("SIGKILL")

-- Process pipes are OS pipes; their errors read like lnet.pipe's ("read
-- pipe: i/o timeout"), and they have no addresses.
local NET = "pipe"
local STDIO = { "stdin", "stdout", "stderr" }
local MODES = { inherit = C.LNET_STDIO_INHERIT, null = C.LNET_STDIO_NULL, pipe = C.LNET_STDIO_PIPE }

local _M = {}

-- Go's os.PathError (lnet.errors): what a failed start is ("fork/exec
-- /nonexistent: no such file or directory").
_M.PathError = errors.PathError

-- Go's os.ErrProcessDone: a kill after the child was reaped. It unwraps to
-- ESRCH, which is what kill(2) would say, had the pid not been reused.
local ProcessDone = errors.kind("ProcessDone", function(self)
    return self.msg
end, {
    unwrap = function(self)
        return self.err
    end,
})
_M.ErrProcessDone =
    setmetatable({ msg = "os: process already finished", err = errors.errno.ESRCH }, ProcessDone)

-- wait or kill on a child that an earlier lnet.run left running.
_M.ErrReleased = errors.sentinel("os: process already released")
_M.ErrEnvNUL = errors.sentinel("exec: environment variable contains NUL")

-- Processes whose core part is alive: the end of a run settles them.
local live = {}

-- The core process left RUNNING, or the run is ending: keep how it ended,
-- free the core process (which stops a watcher still running) and the event
-- op, and wake the waiters.
local function settle(st)
    local p = st.p
    if p.state == EXITED then
        if p.signal ~= 0 then
            st.signal = signals.name(p.signal) or ("signal " .. p.signal)
        else
            st.code = p.code
        end
    else
        st.released = true
    end
    st.p = nil
    live[st] = nil
    C.lnet_process_free(p)
    sched.event_free(st.ev)
    st.waiters:wake_all()
end

sched.at_teardown(function()
    for st in pairs(live) do
        settle(st)
    end
end)

local Process = {}
Process.__index = Process

-- An array of strings as a NULL-terminated const char *[]; the strings stay
-- anchored by t.
local function string_array(t, field)
    if type(t) ~= "table" then
        error("bad field '" .. field .. "' to 'spawn' (array of strings expected, got " .. type(t) .. ")", 3)
    end
    local n = #t
    local arr = ffi_new("const char *[?]", n + 1)
    for i = 1, n do
        if type(t[i]) ~= "string" then
            error("bad field '" .. field .. "' to 'spawn' (string expected at " .. i .. ", got " ..
                type(t[i]) .. ")", 3)
        end
        arr[i - 1] = t[i]
    end
    return arr, n
end

-- The fd of an extra file: a number, or an lnet file, conn, packet conn
-- or listener (which keep it: the child gets a copy); nil and an error
-- when that is closed.
local function fd_of(v, i)
    if type(v) == "number" and v >= 0 and v % 1 == 0 then
        return v
    end
    local fd
    if conn.is_conn(v) then
        fd = C.lnet_conn_fd(v)
    elseif file.is_file(v) then
        fd = v:fd()
    elseif type(v) == "table" then
        if istype("struct lnet_listener *", v.l) then
            fd = C.lnet_listener_fd(v.l)
        elseif istype("struct lnet_packet *", v.p) then
            fd = C.lnet_packet_fd(v.p)
        end
    end
    if fd == nil then
        error("bad field 'extra_files' to 'spawn' (fd, file, conn or listener expected at " .. i .. ", got " ..
            type(v) .. ")", 4)
    end
    if fd < 0 then
        return nil, errors.ErrClosed
    end
    return fd
end

-- The absolute form of dir, from our working directory.
local function absolute(dir)
    if dir:sub(1, 1) == "/" then
        return dir
    end
    local buf = ffi_new("char[4096]")
    if C.lnet_process_getcwd(buf, 4096) == nil then
        return dir
    end
    return ffi_string(buf) .. "/" .. dir
end

-- The child's environment as Go's exec makes it: ours when env is nil, then
-- PWD set to dir when there is one; a key given twice keeps its last value.
-- nil and an error for a NUL in a string (C would cut it short).
local function child_env(env, dir)
    if env == nil then
        if dir == nil then
            return nil
        end
        env = _M.environ()
        env[#env + 1] = "PWD=" .. absolute(dir)
    elseif type(env) ~= "table" then
        return env -- string_array says what is wrong with it
    end
    local last, out = {}, {}
    for i = 1, #env do
        local kv = env[i]
        if type(kv) == "string" then
            if kv:find("\0", 1, true) then
                return nil, _M.ErrEnvNUL
            end
            last[kv:match("^[^=]*")] = i
        end
    end
    for i = 1, #env do
        local kv = env[i]
        if type(kv) ~= "string" or last[kv:match("^[^=]*")] == i then
            out[#out + 1] = kv -- a non-string is string_array's to report
        end
    end
    return out
end

local function files_array(files)
    if type(files) ~= "table" then
        error("bad field 'extra_files' to 'spawn' (array expected, got " .. type(files) .. ")", 3)
    end
    local n = #files
    local arr = ffi_new("int[?]", n)
    for i = 1, n do
        local fd, err = fd_of(files[i], i)
        if fd == nil then
            return nil, err
        end
        arr[i - 1] = fd
    end
    return arr, n
end

-- Our ends of the pipes as conns. Only malloc can fail here: then the
-- child, already running, is killed (the loop still reaps it).
local function open_pipes(proc, req)
    for i = 1, 3 do
        local fd = req.pipes[i - 1]
        if fd >= 0 then
            local c, err = conn.open(fd, NET)
            if c == nil then
                for j = i + 1, 3 do
                    local left = ffi_new("int[1]", req.pipes[j - 1])
                    C.lnet_fd_close(left)
                end
                for j = 1, i - 1 do
                    if proc[STDIO[j]] ~= nil then
                        proc[STDIO[j]]:close()
                    end
                end
                proc:kill()
                return nil, err
            end
            proc[STDIO[i]] = c
        end
    end
    return proc
end

-- spawn{argv, env, dir, stdin, stdout, stderr, extra_files}: starts argv[1]
-- (looked up on our PATH when it has no slash) with arguments argv[2..].
-- env is the child's whole environment (an array of "K=V"; nil: ours), dir
-- its working directory (nil: ours). stdin, stdout, stderr are "null" (the
-- default, as in Go), "inherit" (ours) or "pipe" (a conn at proc.stdin
-- etc.: its deadlines and ctx work as on any conn; close_write on stdin and
-- close_read on stdout/stderr close the conn). extra_files (numbers, conns
-- or listeners) become the child's fds 3, 4, ...; they stay ours. Returns
-- nil and a PathError ("fork/exec" or "chdir") wrapping the errno when the
-- child cannot be started; the spawn blocks the loop until the child has
-- exec'd.
function _M.spawn(opts)
    check_arg(opts, "table", 1, "spawn")
    local argv, env, dir, files = opts.argv, opts.env, opts.dir, opts.extra_files
    if type(argv) ~= "table" or type(argv[1]) ~= "string" then
        error("bad field 'argv' to 'spawn' (non-empty array of strings expected)", 2)
    end
    if dir ~= nil and type(dir) ~= "string" then
        error("bad field 'dir' to 'spawn' (string expected, got " .. type(dir) .. ")", 2)
    end
    local req = ffi_new("struct lnet_spawn")
    local c_argv = string_array(argv, "argv")
    for i = 1, #argv do
        if argv[i]:find("\0", 1, true) then
            return nil, _M.PathError("fork/exec", argv[1], errors.errno.EINVAL)
        end
    end
    local env_err
    env, env_err = child_env(env, dir)
    if env_err ~= nil then
        return nil, env_err
    end
    local c_env = env ~= nil and string_array(env, "env") or nil
    req.argv, req.envp, req.dir = c_argv, c_env, dir
    for i = 1, 3 do
        local mode = opts[STDIO[i]] or "null"
        if MODES[mode] == nil then
            error("bad field '" .. STDIO[i] .. "' to 'spawn' (\"pipe\", \"inherit\" or \"null\" expected, " ..
                "got " .. tostring(mode) .. ")", 2)
        end
        req.stdio[i - 1] = MODES[mode]
    end
    local c_files, nfiles
    if files ~= nil then
        c_files, nfiles = files_array(files)
        if c_files == nil then
            return nil, _M.PathError("fork/exec", argv[1], nfiles)
        end
        req.files, req.nfiles = c_files, nfiles
    end

    local st = { waiters = sched.queue(), argv0 = argv[1] }
    local ev = sched.event(function()
        settle(st)
    end)
    local p = C.lnet_process_new(loop, ev)
    if p == nil then
        sched.event_free(ev)
        error("lnet: out of memory", 2)
    end
    local rc = C.lnet_process_spawn(p, req)
    if rc < 0 then
        C.lnet_process_free(p)
        sched.event_free(ev)
        if req.failed_step == CHDIR then
            return nil, _M.PathError("chdir", dir, from_errno(-rc))
        end
        return nil, _M.PathError("fork/exec", argv[1], from_errno(-rc))
    end
    st.p, st.ev, st.pid = p, ev, p.pid
    live[st] = true
    return open_pipes(setmetatable({ st = st }, Process), req)
end

-- wait([ctx]): how the child ended: its exit code; or nil and the name of
-- the signal that killed it ("SIGKILL"); or nil and an error: ctx's error
-- (or Canceled, the task's) when it ends the wait first, ErrReleased for a
-- child an earlier lnet.run left running. The second value is a string only
-- for a signal. Any number of tasks may wait; all get the same answer.
function Process:wait(ctx)
    errors.check_self(self, Process, "process", "wait")
    check_ctx(ctx, 1, "wait")
    local st = self.st
    if st.p ~= nil then
        local t = self_task(2)
        repeat
            local err = st.waiters:wait(t, ctx)
            if err ~= nil then
                return nil, err
            end
        until st.p == nil
    end
    if st.released then
        return nil, _M.ErrReleased
    elseif st.signal ~= nil then
        return nil, st.signal
    end
    return st.code
end

-- kill([sig]): sends sig (a name, "SIGTERM" or "TERM", or a number; default
-- SIGKILL, as Go's Process.Kill) to the child: true, or nil and an error:
-- ErrProcessDone once it was reaped (errors.is(err, lnet.errno.ESRCH)
-- holds), ErrReleased, or the SyscallError of kill(2). A child that has
-- exited but is not yet reaped takes the signal and kill returns true.
function Process:kill(sig)
    errors.check_self(self, Process, "process", "kill")
    local n = SIGKILL
    if sig ~= nil then
        n = sig == 0 and 0 or signals.number(sig) -- 0: is it there at all?
        if n == nil then
            error("bad argument #1 to 'kill' (signal name or number expected, got " .. tostring(sig) .. ")",
                2)
        end
    end
    local st = self.st
    local p = st.p
    if p == nil then
        return nil, st.released and _M.ErrReleased or _M.ErrProcessDone
    end
    local rc = C.lnet_process_kill(p, n)
    if rc == 0 then
        return true
    elseif p.state ~= RUNNING then
        return nil, _M.ErrProcessDone
    end
    return nil, SyscallError("kill", from_errno(-rc))
end

-- pid(): the child's process id (still given after it exited).
function Process:pid()
    errors.check_self(self, Process, "process", "pid")
    return self.st.pid
end

function Process:__tostring()
    return "process " .. self.st.pid .. " (" .. self.st.argv0 .. ")"
end

function _M.environ()
    local env, e = {}, ffi.C.environ
    local i = 0
    while e[i] ~= nil do
        env[i + 1] = ffi_string(e[i])
        i = i + 1
    end
    return env
end

return _M
