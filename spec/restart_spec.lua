-- Zero-downtime restart (issue 10, item 4): scripts/graceful-restart.lua
-- under a client loop of fresh and kept-alive conns, across two SIGHUP
-- restarts (the second sent to the copy the first started): no connect may
-- fail, no reply may be lost or differ from its request.

local lnet = require "lnet"
local ffi = require "ffi"

local support = require "support"

require("lnet.busted").limit = 40

ffi.cdef "int lnet_restart_spec_kill(int pid, int sig) __asm__(\"kill\");"
local SIGHUP, SIGTERM = 1, 15

-- A process we did not start (the script's copies are its children) is
-- gone once it is no longer there or is a zombie no one has reaped yet.
local function gone(pid)
    local f = io.open("/proc/" .. pid .. "/stat")
    if f == nil then
        return true
    end
    local stat = f:read("*a")
    f:close()
    return stat:match("^%d+ %b() (%a)") == "Z"
end

local function wait_until(what, cond, limit)
    local deadline = lnet.now() + (limit or 10)
    while not cond() do
        assert(lnet.now() < deadline, "timed out waiting for " .. what)
        lnet.sleep(0.01)
    end
end

-- The request for number n of a client: its own bytes, of a length that
-- varies, so a reply cut short, mixed up or sent twice shows.
local function request(client, n)
    local head = ("%d:%d:"):format(client, n)
    return head .. string.rep(string.char(65 + (client * 7 + n) % 26), (n * 37) % 1500)
end

describe("scripts/graceful-restart.lua", function()
    it("two SIGHUP restarts under load: no failed connect, no lost or corrupted reply", function()
        local proc = assert(lnet.process.spawn({ argv = { support.host, "scripts/graceful-restart.lua", "127.0.0.1:0",
                                                          "--grace", "5" }, stdout = "pipe", stderr = "inherit" }))
        local out = { data = "" }
        local function next_server()
            proc.stdout:set_read_deadline(lnet.now() + 10)
            while true do
                local line, rest = out.data:match("^([^\n]*)\n(.*)$")
                if line ~= nil then
                    out.data = rest
                    local address, pid = line:match("^listening (%S+) pid (%d+)$")
                    assert(address, "unexpected line: " .. line)
                    return address, tonumber(pid)
                end
                local more, err = proc.stdout:read()
                assert(more, "the servers' output ended: " .. tostring(err))
                out.data = out.data .. more
            end
        end
        local address, pid1 = next_server()
        assert.are.equal(proc:pid(), pid1)

        local stats = { replies = 0, failed_connects = 0, lost = 0, fresh = 0, kept = 0, errors = {} }
        local stop = false
        -- Each client alternates a fresh conn (one request) and a kept-alive
        -- one (25 requests), until told to stop.
        local function client(id)
            local n = 0
            while not stop do
                local per_conn = (n % 2 == 0) and 1 or 25
                local c, err = lnet.dial("tcp", address)
                if c == nil then
                    stats.failed_connects = stats.failed_connects + 1
                    stats.errors[#stats.errors + 1] = tostring(err)
                else
                    if per_conn == 1 then
                        stats.fresh = stats.fresh + 1
                    else
                        stats.kept = stats.kept + 1
                    end
                    c:set_deadline(lnet.now() + 10)
                    for _ = 1, per_conn do
                        n = n + 1
                        local req = request(id, n)
                        local wrote, werr = c:write(req)
                        local reply, rerr = support.read_full(c, #req)
                        if wrote ~= #req or reply ~= req then
                            stats.lost = stats.lost + 1
                            stats.errors[#stats.errors + 1] = tostring(werr or rerr or "a reply that differs")
                            break
                        end
                        stats.replies = stats.replies + 1
                    end
                    c:close()
                end
            end
        end
        local clients = {}
        for id = 1, 4 do
            clients[id] = lnet.go(client, id)
        end

        -- First restart: the script we started.
        wait_until("400 replies", function() return stats.replies >= 400 end)
        local hup1 = stats.replies
        assert.is_true(proc:kill("SIGHUP"))
        local address2, pid2 = next_server()
        assert.are.equal(address, address2)
        assert.are_not.equal(pid1, pid2)
        assert.are.equal(0, proc:wait()) -- it drained and left
        local at_first = stats.replies
        local during_first = at_first - hup1

        -- Second restart: the copy the first one started.
        wait_until("400 more replies", function() return stats.replies >= at_first + 400 end)
        local hup2 = stats.replies
        assert.are.equal(0, ffi.C.lnet_restart_spec_kill(pid2, SIGHUP))
        local address3, pid3 = next_server()
        assert.are.equal(address, address3)
        assert.is_true(pid3 ~= pid1 and pid3 ~= pid2)
        wait_until("the second server to leave", function() return gone(pid2) end)
        local at_second = stats.replies
        local during_second = at_second - hup2

        wait_until("2,000 replies in all", function()
            return stats.replies >= 2000 and stats.replies >= at_second + 300
        end)
        stop = true
        for id = 1, #clients do
            clients[id]:join()
        end
        assert.are.equal(0, ffi.C.lnet_restart_spec_kill(pid3, SIGTERM))
        -- The output ends once the last server is gone.
        proc.stdout:set_read_deadline(lnet.now() + 10)
        local rest, err = support.read_all(proc.stdout)
        proc.stdout:close()
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        assert.are.equal("", out.data .. rest)
        wait_until("the third server to leave", function() return gone(pid3) end)

        io.stderr:write(("\n[graceful restart: %d request/responses over %d fresh and %d kept-alive conns, "
            .. "%d and %d of them between a SIGHUP and the old server's exit; %d failed connects, "
            .. "%d lost or corrupted]\n"):format(stats.replies, stats.fresh, stats.kept, during_first, during_second,
                stats.failed_connects, stats.lost))
        assert.are.same({}, stats.errors)
        assert.are.equal(0, stats.failed_connects)
        assert.are.equal(0, stats.lost)
        assert.is_true(stats.replies >= 2000)
        -- The clients were busy through both hand-overs.
        assert.is_true(during_first > 0 and during_second > 0)
    end)

    it("a new copy that cannot start is killed, and the old server serves on", function()
        -- A copy of the script that a bad deploy then breaks on disk.
        local dir = support.temp_dir()
        local script = dir .. "/restart.lua"
        support.sh_ok("cp scripts/graceful-restart.lua " .. support.quote(script))
        local proc = assert(lnet.process.spawn({ argv = { support.host, script }, stdout = "pipe", stderr = "pipe" }))
        proc.stdout:set_read_deadline(lnet.now() + 10)
        local line = proc.stdout:read()
        local address = assert(line and line:match("^listening (%S+) pid %d+\n$"), line)
        local f = assert(io.open(script, "w"))
        f:write("error('broken by the deploy')\n")
        f:close()
        assert.is_true(proc:kill("SIGHUP"))
        proc.stderr:set_read_deadline(lnet.now() + 10)
        local said = ""
        while not said:find("did not come up", 1, true) do
            local more, err = proc.stderr:read()
            assert(more, "stderr ended: " .. tostring(err) .. " after: " .. said)
            said = said .. more
        end
        assert.is_truthy(said:find("broken by the deploy", 1, true), said)
        local c = assert(lnet.dial("tcp", address))
        c:set_deadline(lnet.now() + 5)
        assert.are.equal(5, c:write("still"))
        assert.are.equal("still", support.read_exactly(c, 5))
        c:close()
        assert.is_true(proc:kill("SIGTERM"))
        assert.are.equal(0, proc:wait())
        proc.stdout:close()
        proc.stderr:close()
        support.rm_dir(dir)
    end)
end)
