-- All the cores (issue 10, item 5): `lnet --workers N script.lua` runs N
-- copies sharing their listen addresses through SO_REUSEPORT, forwards
-- SIGINT, SIGTERM and SIGHUP, restarts a copy that dies (with a backoff),
-- gives up on one that cannot start, and exits when all have exited.

local lnet = require "lnet"
local ffi = require "ffi"

local support = require "support"

require("lnet.busted").limit = 20

ffi.cdef "int lnet_workers_spec_kill(int pid, int sig) __asm__(\"kill\");"
local SIGKILL = 9

-- A worker script: listens on the port given, answers each conn with its
-- worker id and pid, says "hup ID" on SIGHUP, and shuts down on SIGTERM.
local SERVER = [[
local lnet = require "lnet"
local ffi = require "ffi"
ffi.cdef "int getpid(void);"
local ln = assert(lnet.listen("tcp", "127.0.0.1:" .. arg[1]))
local id = lnet.worker_id()
print(("up %d %d"):format(id, ffi.C.getpid()))
io.stdout:flush()
lnet.go(function()
    while lnet.signal.wait("SIGHUP") do
        print("hup " .. id)
        io.stdout:flush()
    end
end)
lnet.serve(ln, function(c)
    c:write(("%d %d"):format(id, ffi.C.getpid()))
end, lnet.main_context())
os.exit(0)
]]

local function free_port()
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local port = ln:addr().port
    ln:close()
    return port
end

-- Starts `lnet --workers n` on SERVER; returns the process, the port and a
-- reader of its output lines.
local function start(n)
    local dir = support.temp_dir()
    local path = dir .. "/server.lua"
    local f = assert(io.open(path, "w"))
    f:write(SERVER)
    f:close()
    local port = free_port()
    local proc = assert(lnet.process.spawn({ argv = { support.host, "--workers", tostring(n), path, tostring(port) },
                                             stdout = "pipe", stderr = "pipe" }))
    local buffered = ""
    local function line(pattern)
        proc.stdout:set_read_deadline(lnet.now() + 8)
        while true do
            local l, rest = buffered:match("^([^\n]*)\n(.*)$")
            if l ~= nil then
                buffered = rest
                local caps = { l:match(pattern) }
                if #caps > 0 then
                    return unpack(caps)
                end
            else
                local more, err = proc.stdout:read()
                assert(more, "output ended: " .. tostring(err))
                buffered = buffered .. more
            end
        end
    end
    local function finish()
        local stderr = lnet.go(support.read_all, proc.stderr)
        local code = proc:wait()
        proc.stdout:close()
        local errout = stderr:join()
        proc.stderr:close()
        support.rm_dir(dir)
        return code, errout
    end
    return proc, port, line, finish
end

local function ask(port)
    local c = assert(lnet.dial("tcp", "127.0.0.1:" .. port))
    c:set_read_deadline(lnet.now() + 5)
    local reply = support.read_all(c)
    c:close()
    local id, pid = reply:match("^(%d+) (%d+)$")
    return tonumber(id), tonumber(pid)
end

describe("lnet --workers", function()
    it("runs N copies on one port, each with its worker id; SIGHUP reaches each, SIGTERM ends all", function()
        local proc, port, line, finish = start(2)
        local pids = {}
        for _ = 1, 2 do
            local id, pid = line("^up (%d) (%d+)$")
            pids[tonumber(id)] = tonumber(pid)
        end
        assert.is_not_nil(pids[1])
        assert.is_not_nil(pids[2])
        -- The kernel spreads the conns: ask until both have answered.
        local seen, asked = {}, 0
        while not (seen[1] and seen[2]) and asked < 200 do
            local id, pid = ask(port)
            assert.are.equal(pids[id], pid)
            seen[id] = true
            asked = asked + 1
        end
        assert.is_true(seen[1] and seen[2], "one worker got all " .. asked .. " conns")
        assert.is_true(proc:kill("SIGHUP"))
        local hups = {}
        for _ = 1, 2 do
            hups[tonumber(line("^hup (%d)$"))] = true
        end
        assert.are.same({ true, true }, hups)
        assert.is_true(proc:kill("SIGTERM"))
        local code, errout = finish()
        assert.are.equal(0, code, errout)
        for _, pid in pairs(pids) do
            assert.are_not.equal(0, ffi.C.lnet_workers_spec_kill(pid, 0)) -- gone and reaped
        end
    end)

    it("restarts a worker that dies, with the same id", function()
        local proc, port, line, finish = start(2)
        local pids = {}
        for _ = 1, 2 do
            local id, pid = line("^up (%d) (%d+)$")
            pids[tonumber(id)] = tonumber(pid)
        end
        assert.are.equal(0, ffi.C.lnet_workers_spec_kill(pids[2], SIGKILL))
        local id, pid = line("^up (%d) (%d+)$")
        assert.are.equal("2", id)
        assert.are_not.equal(pids[2], tonumber(pid))
        -- Both serve again.
        local seen, asked = {}, 0
        while not (seen[1] and seen[2]) and asked < 200 do
            seen[ask(port)] = true
            asked = asked + 1
        end
        assert.is_true(seen[1] and seen[2])
        assert.is_true(proc:kill("SIGINT"))
        local code, errout = finish()
        assert.are.equal(0, code, errout)
        assert.is_truthy(errout:find("worker 2 %(pid " .. pids[2] .. "%) was killed by SIGKILL; restarting it in 0.1s"),
            errout)
    end)

    it("gives up on a worker that cannot start, and exits 1 when none is left", function()
        local code, out, errout = support.run({ support.host, "--workers", "2", "-e", "error('no start')" },
            { limit = 15 })
        assert.are.equal(1, code)
        assert.are.equal("", out)
        local _, gave_up = errout:gsub("times in a row within 1s: giving up on it", "")
        assert.are.equal(2, gave_up, errout)
        local _, failures = errout:gsub("no start", "")
        assert.are.equal(10, failures, errout) -- each copy tried 5 times
    end)

    it("a copy that exits 0 is done; --workers 0 is one per core", function()
        local code, out, errout = support.run({ support.host, "--workers", "0", "-e",
                                                "print(require('lnet').worker_id(), os.getenv('LNET_WORKERS'))" })
        assert.are.equal(0, code, errout)
        local ncpu = tonumber(support.sh_ok("nproc"))
        local ids = {}
        for id, n in out:gmatch("(%d+)\t(%d+)\n") do
            ids[#ids + 1] = tonumber(id)
            assert.are.equal(ncpu, tonumber(n))
        end
        table.sort(ids)
        local want = {}
        for i = 1, ncpu do
            want[i] = i
        end
        assert.are.same(want, ids)
        assert.is_nil(lnet.worker_id())
    end)

    it("--workers that is no count, or with nothing to run, is an error", function()
        for _, case in ipairs({
            { { "--workers", "x", "-e", "" }, "lnet: '--workers' needs a number of workers (0 for one per core), got 'x'" },
            { { "--workers=-1", "-e", "" }, "lnet: '--workers' needs a number of workers (0 for one per core), got '-1'" },
            { { "--workers", "1.5", "-e", "" }, "lnet: '--workers' needs a number of workers (0 for one per core), got '1.5'" },
            { { "--workers" }, "lnet: '--workers' needs argument" },
            { { "--workers", "2" }, "lnet: '--workers' needs a script (or -e) to run" },
            { { "--workers", "2", "-" }, "lnet: '--workers' cannot share stdin among the copies of a script read from it" },
            { { "--workers", "2", "-i", "-e", "" }, "lnet: '--workers' and '-i' do not go together" },
        }) do
            local argv = { support.host }
            for _, a in ipairs(case[1]) do
                argv[#argv + 1] = a
            end
            local code, out, errout = support.run(argv)
            assert.are.equal(1, code)
            assert.are.equal("", out)
            assert.are.equal(case[2], errout:match("^[^\n]*"))
            assert.is_truthy(errout:find("usage: lnet", 1, true))
        end
    end)
end)
