-- lnet.process (DESIGN "Tasks and time", issue 3 item 5): spawn, pipes as
-- conns, wait, kill, and a child server killed and restarted mid-stream.

local lnet = require "lnet"
local errors = lnet.errors
local context = lnet.context
local process = lnet.process

local support = require "support"
local build, host = support.build, support.host

-- Everything c gives until EOF (at most 5 s), then closes it.
local function read_all(c)
    c:set_read_deadline(lnet.now() + 5)
    local parts = {}
    while true do
        local s, err = c:read()
        if s == nil then
            assert(err == lnet.EOF, tostring(err))
            break
        end
        parts[#parts + 1] = s
    end
    c:close()
    return table.concat(parts)
end

-- The first line c gives (at most 5 s).
local function read_line(c)
    c:set_read_deadline(lnet.now() + 5)
    local line = ""
    while not line:find("\n", 1, true) do
        line = line .. assert(c:read())
    end
    c:set_read_deadline(nil)
    return line
end

-- Runs argv with stdout a pipe: its output and how it ended.
local function output(opts)
    opts.stdout = "pipe"
    local proc = assert(process.spawn(opts))
    local out = read_all(proc.stdout)
    return out, proc:wait()
end

describe("lnet.process", function()
    it("runs argv[1], looked up on PATH, and wait returns its exit code", function()
        local proc = assert(process.spawn({ argv = { "sh", "-c", "exit 3" } }))
        assert.are.equal(3, proc:wait())
        assert.are.equal(3, proc:wait()) -- and again, once it is over
        assert.is_true(proc:pid() > 0)
        local ok = assert(process.spawn({ argv = { "true" } }))
        assert.are.equal(0, ok:wait())
    end)

    it("stdout is a conn: the child's output, then EOF", function()
        local out, code = output({ argv = { "/bin/echo", "hello", "world" } })
        assert.are.equal("hello world\n", out)
        assert.are.equal(0, code)
    end)

    it("stdin is a conn: what is written reaches the child; close_write gives it EOF", function()
        local proc = assert(process.spawn({ argv = { "cat" }, stdin = "pipe", stdout = "pipe" }))
        assert.are.equal(6, proc.stdin:write("abc\nde"))
        assert.is_true(proc.stdin:close_write())
        assert.are.equal("abc\nde", read_all(proc.stdout))
        assert.are.equal(0, proc:wait())
        local ok, err = proc.stdin:close()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed))
    end)

    it("stderr is a conn", function()
        local argv = { "sh", "-c", "echo oops >&2; exit 1" }
        local proc = assert(process.spawn({ argv = argv, stderr = "pipe" }))
        assert.are.equal("oops\n", read_all(proc.stderr))
        assert.are.equal(1, proc:wait())
    end)

    it("a write to the stdin of a child that is gone fails with EPIPE", function()
        local proc = assert(process.spawn({ argv = { "true" }, stdin = "pipe" }))
        assert.are.equal(0, proc:wait())
        local n, err = proc.stdin:write("x")
        assert.are.equal(0, n)
        assert.is_true(errors.is(err, lnet.errno.EPIPE))
        assert.are.equal("write pipe: write: broken pipe", tostring(err))
        proc.stdin:close()
    end)

    it("null is /dev/null and is the default", function()
        local out = output({ argv = { "sh", "-c", "readlink /proc/self/fd/0 /proc/self/fd/2" } })
        assert.are.equal("/dev/null\n/dev/null\n", out)
        out = output({ argv = { "cat" }, stdin = "null" })
        assert.are.equal("", out)
    end)

    it("inherit gives the child our fd", function()
        -- The middle process's stdout is our pipe; its child inherits it.
        local script = [[
            local p = require("lnet").process.spawn{argv = {"echo", "inherited"}, stdout = "inherit"}
            assert(p:wait() == 0)
        ]]
        local out, code = output({ argv = { host, "-e", script } })
        assert.are.equal("inherited\n", out)
        assert.are.equal(0, code)
    end)

    it("a signal ends wait with nil and the signal's name", function()
        local proc = assert(process.spawn({ argv = { "sh", "-c", "kill -TERM $$; sleep 5" } }))
        local code, sig = proc:wait()
        assert.is_nil(code)
        assert.are.equal("SIGTERM", sig)
    end)

    it("the child gets default signal dispositions: lnet's ignored SIGPIPE is not inherited", function()
        local proc = assert(process.spawn({ argv = { "sh", "-c", "kill -PIPE $$; exit 0" } }))
        assert.are.same({ nil, "SIGPIPE" }, { proc:wait() })
    end)

    it("kill sends SIGKILL by default, or a signal by name or number", function()
        local proc = assert(process.spawn({ argv = { "sleep", "10" } }))
        assert.is_true(proc:kill())
        assert.are.same({ nil, "SIGKILL" }, { proc:wait() })
        for _, sig in ipairs({ "SIGTERM", "TERM", 15 }) do
            proc = assert(process.spawn({ argv = { "sleep", "10" } }))
            assert.is_true(proc:kill(sig))
            assert.are.same({ nil, "SIGTERM" }, { proc:wait() })
        end
        assert.has_error(function()
            proc:kill("SIGNOPE")
        end)
    end)

    it("kill after the child was reaped is ErrProcessDone, which is ESRCH", function()
        local proc = assert(process.spawn({ argv = { "true" } }))
        assert.are.equal(0, proc:wait())
        local ok, err = proc:kill("SIGTERM")
        assert.is_nil(ok)
        assert.are.equal(process.ErrProcessDone, err)
        assert.is_true(errors.is(err, lnet.errno.ESRCH))
        assert.are.equal("os: process already finished", tostring(err))
    end)

    it("env is the child's whole environment; nil inherits ours", function()
        local out = output({ argv = { "sh", "-c", 'echo "$FOO:$HOME"' }, env = { "FOO=bar" } })
        assert.are.equal("bar:\n", out)
        local env = process.environ()
        assert.truthy(#env > 0)
        env[#env + 1] = "LNET_PROCESS_SPEC=1"
        out = output({ argv = { "sh", "-c", 'echo "$LNET_PROCESS_SPEC:$PATH"' }, env = env })
        assert.are.equal("1:" .. os.getenv("PATH") .. "\n", out)
        out = output({ argv = { "sh", "-c", 'echo "$PATH"' } })
        assert.are.equal(os.getenv("PATH") .. "\n", out)
    end)

    it("dir is the child's working directory", function()
        assert.are.equal("/\n", (output({ argv = { "pwd" }, dir = "/" })))
        local proc, err = process.spawn({ argv = { "pwd" }, dir = "/nonexistent/lnet" })
        assert.is_nil(proc)
        assert.is_true(errors.is(err, lnet.errno.ENOENT))
        assert.are.equal("chdir /nonexistent/lnet: no such file or directory", tostring(err))
    end)

    it("extra_files become the child's fds 3, 4, ... and stay ours", function()
        -- A pipe: another child's stdin, written through fd 3 of this one.
        local reader = assert(process.spawn({ argv = { "cat" }, stdin = "pipe", stdout = "pipe" }))
        local proc = assert(process.spawn({
            argv = { "sh", "-c", "echo via-fd3 >&3; test -e /dev/fd/4" },
            extra_files = { reader.stdin, 0 },
        }))
        assert.are.equal(0, proc:wait())
        assert.is_true(reader.stdin:close())
        assert.are.equal("via-fd3\n", read_all(reader.stdout))
        assert.are.equal(0, reader:wait())
        -- Without it, no fd 4.
        proc = assert(process.spawn({ argv = { "sh", "-c", "test -e /dev/fd/4" }, extra_files = { 0 } }))
        assert.are.equal(1, proc:wait())
    end)

    it("a closed conn in extra_files is an error", function()
        local reader = assert(process.spawn({ argv = { "true" }, stdin = "pipe" }))
        reader.stdin:close()
        local proc, err = process.spawn({ argv = { "true" }, extra_files = { reader.stdin } })
        assert.is_nil(proc)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        assert.are.equal(0, reader:wait())
    end)

    it("an exec failure is an error from spawn, not a child that exits 127", function()
        local proc, err = process.spawn({ argv = { "/nonexistent/lnet" }, stdout = "pipe", stdin = "pipe" })
        assert.is_nil(proc)
        assert.is_true(errors.is(err, lnet.errno.ENOENT))
        assert.are.equal("fork/exec /nonexistent/lnet: no such file or directory", tostring(err))
        local pe = errors.as(err, "PathError")
        assert.are.equal("fork/exec", pe.op)
        assert.are.equal("/nonexistent/lnet", pe.path)
        proc, err = process.spawn({ argv = { "lnet-no-such-program" } })
        assert.is_nil(proc)
        assert.is_true(errors.is(err, lnet.errno.ENOENT))
        proc, err = process.spawn({ argv = { "/etc/passwd" } })
        assert.is_nil(proc)
        assert.is_true(errors.is(err, lnet.errno.EACCES))
    end)

    it("misuse raises", function()
        local bad = {
            "sh",
            {},
            { argv = {} },
            { argv = "sh" },
            { argv = { "sh", 1 } },
            { argv = { "sh" }, env = { 1 } },
            { argv = { "sh" }, env = "FOO=1" },
            { argv = { "sh" }, dir = 1 },
            { argv = { "sh" }, stdin = "bogus" },
            { argv = { "sh" }, stdout = true },
            { argv = { "sh" }, extra_files = { "x" } },
            { argv = { "sh" }, extra_files = { -1 } },
            { argv = { "sh" }, extra_files = 3 },
        }
        for _, opts in ipairs(bad) do
            assert.has_error(function()
                process.spawn(opts)
            end)
        end
    end)

    it("wait with a ctx: its deadline or cancel ends the wait, and the child runs on", function()
        local proc = assert(process.spawn({ argv = { "sleep", "10" } }))
        local ctx = context.with_timeout(context.background(), 0.05)
        local start = lnet.now()
        local code, err = proc:wait(ctx)
        assert.is_nil(code)
        assert.are.equal(context.DeadlineExceeded, err)
        assert.is_true(lnet.now() - start < 1)

        local cctx, cancel = context.with_cancel(context.background())
        lnet.go(function()
            lnet.sleep(0.02)
            cancel()
        end)
        code, err = proc:wait(cctx)
        assert.is_nil(code)
        assert.is_true(errors.is(err, context.Canceled))

        assert.is_true(proc:kill())
        assert.are.same({ nil, "SIGKILL" }, { proc:wait() })
        -- A ctx ends waits only: a child that is over answers at once.
        assert.are.same({ nil, "SIGKILL" }, { proc:wait(cctx) })
    end)

    it("a cancelled task's wait returns Canceled", function()
        local proc = assert(process.spawn({ argv = { "sleep", "10" } }))
        local t = lnet.go(function()
            return proc:wait()
        end)
        lnet.sleep(0.01)
        t:cancel()
        local code, err = t:join()
        assert.is_nil(code)
        assert.are.equal(context.Canceled, err)
        proc:kill()
        proc:wait()
    end)

    it("several tasks may wait; all get the status", function()
        local proc = assert(process.spawn({ argv = { "sh", "-c", "sleep 0.05; exit 5" } }))
        local a = lnet.go(function()
            return proc:wait()
        end)
        local b = lnet.go(function()
            return proc:wait()
        end)
        assert.are.equal(5, proc:wait())
        assert.are.equal(5, a:join())
        assert.are.equal(5, b:join())
    end)

    it("a read deadline on stdout times out; a ctx read leaves the conn usable", function()
        local proc = assert(process.spawn({ argv = { "sh", "-c", "sleep 0.3; echo late" }, stdout = "pipe" }))
        local out = proc.stdout
        out:set_read_deadline(lnet.now() + 0.02)
        local s, err = out:read()
        assert.is_nil(s)
        assert.is_true(err:timeout())
        assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded))
        assert.are.equal("read pipe: i/o timeout", tostring(err))
        out:set_read_deadline(nil)
        local ctx = context.with_timeout(context.background(), 0.02)
        s, err = out:read(100, ctx)
        assert.is_nil(s)
        assert.is_true(errors.is(err, context.DeadlineExceeded))
        assert.are.equal("late\n", read_all(out))
        assert.are.equal(0, proc:wait())
    end)

    it("a write deadline or a ctx ends a write to a child's full stdin: n bytes went out, then the error", function()
        -- sleep never reads its stdin: the pipe takes what fits of the
        -- write, which then waits until its deadline or ctx ends it.
        local big = support.pattern(support.MiB)
        local cases = {
            { "write deadline", lnet.ErrDeadlineExceeded, "write pipe: i/o timeout" },
            { "ctx deadline", context.DeadlineExceeded, "write pipe: context deadline exceeded" },
            { "ctx cancel", context.Canceled, "write pipe: context canceled" },
        }
        for _, case in ipairs(cases) do
            local how, target, text = case[1], case[2], case[3]
            local proc = assert(process.spawn({ argv = { "sleep", "5" }, stdin = "pipe" }))
            local stdin = proc.stdin
            local ctx, cancel
            if how == "ctx deadline" then
                ctx, cancel = context.with_timeout(context.background(), 0.05)
            else
                ctx, cancel = context.with_cancel(context.background())
            end
            if how == "write deadline" then
                assert.is_true(stdin:set_write_deadline(lnet.now() + 0.05))
            end
            local t0 = lnet.now()
            local writer = lnet.go(function()
                local n, err = stdin:write(big, ctx)
                return n, err, lnet.now()
            end)
            if how == "ctx cancel" then
                lnet.sleep(0.05)
                assert.are.equal("running", writer.status, "the write did not wait")
                t0 = lnet.now()
                cancel()
            end
            local n, err, at = writer:join()
            local took = at - t0
            if how == "ctx cancel" then
                assert.is_true(took < support.WAKE, "woke after " .. took)
            else
                assert.is_true(took >= 0.045 and took < 0.05 + support.WAKE, how .. " took " .. took)
            end
            assert.is_true(type(n) == "number" and n > 0 and n < #big, how .. ": n = " .. tostring(n))
            assert.is_true(errors.is(err, target), tostring(err))
            assert.are.equal(text, tostring(err))
            assert.are.equal(how ~= "ctx cancel", err:timeout())
            -- the pipe is full and the deadline or ctx stays done: the next
            -- write fails at once, with nothing written
            t0 = lnet.now()
            local n2, err2 = stdin:write("more", ctx)
            assert.is_true(lnet.now() - t0 < support.WAKE)
            assert.are.equal(0, n2)
            assert.is_true(errors.is(err2, target), tostring(err2))
            cancel()
            assert.is_true(stdin:close())
            assert.is_true(proc:kill("SIGKILL"))
            assert.are.same({ nil, "SIGKILL" }, { proc:wait() })
        end
    end)

    it("a write to stdin cut short by a ctx: the child reads exactly the n bytes that went out, then the next write", function()
        -- The child reads nothing until the gate file exists (for at most
        -- 20 s), then copies stdin to stdout. Not a socket on its fd 3: an
        -- extra file arrives non-blocking, and sh's read would fail at once.
        local gate = os.tmpname()
        os.remove(gate)
        local proc = assert(process.spawn({
            argv = { "sh", "-c", 'i=0; while [ ! -e "$1" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; exec cat', "sh", gate },
            stdin = "pipe",
            stdout = "pipe",
        }))
        local big = support.pattern(support.MiB)
        local ctx, cancel = context.with_cancel(context.background())
        local writer = lnet.go(function()
            return proc.stdin:write(big, ctx)
        end)
        lnet.sleep(0.05)
        assert.are.equal("running", writer.status, "the write did not wait")
        cancel()
        local n, err = writer:join()
        assert.is_true(errors.is(err, context.Canceled), tostring(err))
        assert.is_true(type(n) == "number" and n > 0 and n < #big, "n = " .. tostring(n))
        -- the pipe is full: a write deadline ends the next write with nothing written
        assert.is_true(proc.stdin:set_write_deadline(lnet.now() + 0.02))
        local n2, err2 = proc.stdin:write(big)
        assert.are.equal(0, n2)
        assert.is_true(errors.is(err2, lnet.ErrDeadlineExceeded), tostring(err2))
        assert.is_true(proc.stdin:set_write_deadline(nil))
        -- open the gate: the child hands back the n bytes, then the tail
        local reader = lnet.go(read_all, proc.stdout)
        assert(io.open(gate, "w")):close()
        assert.are.equal(4, proc.stdin:write("tail"))
        assert.is_true(proc.stdin:close_write())
        local got = reader:join()
        assert.are.equal(n + 4, #got)
        assert.is_true(got:sub(1, n) == big:sub(1, n), "the first n bytes differ")
        assert.are.equal("tail", got:sub(n + 1))
        assert.are.equal(0, proc:wait())
        os.remove(gate)
    end)

    it("the end of a run releases a child still running: wait and kill say ErrReleased", function()
        -- Two runs need a fresh luajit: the spec itself is inside one.
        local script = [[
            local lnet = require "lnet"
            local p
            lnet.run(function()
                p = assert(lnet.process.spawn{argv = {"sleep", "10"}})
            end)
            lnet.run(function()
                local code, err = p:wait()
                assert(code == nil and err == lnet.process.ErrReleased, tostring(err))
                local ok, kerr = p:kill()
                assert(ok == nil and kerr == lnet.process.ErrReleased, tostring(kerr))
            end)
            -- Released, not killed: the child still runs.
            assert(os.execute("kill -0 " .. p:pid()) == 0)
            os.execute("kill " .. p:pid())
            print("ok")
        ]]
        local env = process.environ()
        env[#env + 1] = "LUA_PATH=lua/?.lua;lua/?/init.lua;;"
        env[#env + 1] = "LUA_CPATH=" .. build .. "/lib/?.so;;"
        local out, code = output({ argv = { "luajit", "-e", script }, env = env, stderr = "inherit" })
        assert.are.equal("ok\n", out)
        assert.are.equal(0, code)
    end)

    -- The issue's chaos pattern: start the service under test, kill it
    -- mid-stream, see the client notice, restart it at the same address.
    it("kills a child server with SIGKILL mid-stream, sees ECONNRESET or EOF, restarts it", function()
        local function start_echo(address)
            local proc = assert(process.spawn({
                argv = { host, "scripts/echo.lua", address },
                stdout = "pipe",
                stderr = "inherit",
            }))
            local line = read_line(proc.stdout)
            proc.stdout:close()
            return proc, assert(line:match("^listening (%S+)\n$"), line)
        end

        local server, addr = start_echo("127.0.0.1:0")
        local c = assert(lnet.dial("tcp", addr))
        c:set_deadline(lnet.now() + 5)
        local chunk = string.rep("x", 16384)
        local writer = lnet.go(function()
            while true do
                local _, err = c:write(chunk)
                if err ~= nil then
                    return err
                end
            end
        end)
        local got = 0
        while got < 256 * 1024 do
            got = got + #assert(c:read())
        end

        assert.is_true(server:kill())
        assert.are.same({ nil, "SIGKILL" }, { server:wait() })
        local s, err
        repeat
            s, err = c:read()
        until s == nil
        assert.is_true(err == lnet.EOF or errors.is(err, lnet.errno.ECONNRESET), tostring(err))
        local werr = writer:join()
        local reset = errors.is(werr, lnet.errno.EPIPE) or errors.is(werr, lnet.errno.ECONNRESET)
        assert.is_true(reset, tostring(werr))
        c:close()

        local again, addr2 = start_echo(addr)
        assert.are.equal(addr, addr2)
        c = assert(lnet.dial("tcp", addr))
        c:set_deadline(lnet.now() + 5)
        assert.are.equal(4, c:write("ping"))
        assert.are.equal("ping", c:read())
        c:close()
        -- SIGTERM is the echo script's graceful shutdown.
        assert.is_true(again:kill("SIGTERM"))
        assert.are.equal(0, again:wait())
    end)
end)

describe("lnet.process.spawn, as Go's exec builds the child", function()
    it("an env key given twice keeps its last value", function()
        local out = output({ argv = { "sh", "-c", "echo $FOO" }, env = { "FOO=bad", "PATH=/usr/bin:/bin", "FOO=good" } })
        assert.are.equal("good\n", out)
    end)

    it("with our env and a dir, the child's PWD is that dir, made absolute", function()
        assert.are.equal("/tmp\n", output({ argv = { "sh", "-c", "echo $PWD" }, dir = "/tmp" }))
        local here = output({ argv = { "pwd" } }):gsub("\n$", "")
        assert.are.equal(here .. "/spec\n", output({ argv = { "sh", "-c", "echo $PWD" }, dir = "spec" }))
    end)

    it("a NUL in an argument or in env is refused, not cut short", function()
        local p, err = process.spawn({ argv = { "echo", "a\0b" } })
        assert.is_nil(p)
        assert.are.equal("fork/exec echo: invalid argument", tostring(err))
        assert.is_true(errors.is(err, lnet.errno.EINVAL))
        p, err = process.spawn({ argv = { "env" }, env = { "A=1\0B=2" } })
        assert.is_nil(p)
        assert.are.equal(process.ErrEnvNUL, err)
        assert.are.equal("exec: environment variable contains NUL", tostring(err))
    end)

    it("a listener and a packet conn go to the child as extra files", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
        if os.execute("command -v python3 >/dev/null 2>&1") ~= 0 then
            pending("needs python3 for the child")
            return
        end
        -- fd 3 accepts one conn and answers it; fd 4 is the UDP socket
        local proc = assert(process.spawn({
            argv = { "python3", "-c", "import socket; l = socket.socket(fileno=3); c, _ = l.accept(); " ..
                "c.sendall(b'hi'); u = socket.socket(fileno=4); print(u.type == socket.SOCK_DGRAM)" },
            extra_files = { ln, pc },
            stdout = "pipe",
        }))
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        assert.are.equal("hi", support.read_full(c, 2))
        c:close()
        assert.are.equal("True\n", read_all(proc.stdout))
        assert.are.equal(0, proc:wait())
        ln:close()
        pc:close()
    end)

    it("kill(0) asks whether the child still runs", function()
        local p = assert(process.spawn({ argv = { "sleep", "5" } }))
        assert.is_true(p:kill(0))
        assert.is_true(p:kill("SIGKILL"))
        assert.are.same({ nil, "SIGKILL" }, { p:wait() })
        local none, err = p:kill(0)
        assert.is_nil(none)
        assert.are.equal(process.ErrProcessDone, err)
    end)
end)
