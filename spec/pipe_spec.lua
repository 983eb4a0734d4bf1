-- lnet.pipe(): Go's net.Pipe (seed §15): synchronous, unbuffered, in memory,
-- with a conn's close, deadline (seed §2) and ctx rules. The conformance
-- suite runs over it too (spec/conformance_spec.lua); these are the rules
-- only a pipe has, and each deadline rule written against pipe ends.
-- Timing assertions are bounds, never durations.

local lnet = require "lnet"
local sched = require "lnet.sched"
local sys = require "lnet.sys"

local errors, context = lnet.errors, lnet.context
local C = sys.C

local support = require "support"
local SLACK = support.SLACK

-- Runs fn(...) in a task; returns the task.
local function go(fn, ...)
    return lnet.go(fn, ...)
end

-- Lets every ready task run until each is parked again.
local function settle()
    for _ = 1, 5 do
        lnet.sleep(0)
    end
end

-- Writes data on one end in a task and reads it on the other with
-- read(max): the read gets it whole and the write returns #data.
local function pass(from, to, data, max)
    local w = go(function()
        return from:write(data)
    end)
    assert.are.equal(data, to:read(max))
    assert.are.equal(#data, w:join())
end

-- Asserts err is op's OpError on the pipe wrapping inner.
local function assert_op_error(err, op, inner)
    assert.is_not_nil(err, "expected an error")
    local oe = errors.as(err, "OpError")
    assert.is_not_nil(oe, "not an OpError: " .. tostring(err))
    assert.are.equal(op, oe.op)
    assert.are.equal("pipe", oe.net)
    assert.is_true(rawequal(oe.err, inner), tostring(err))
    assert.is_true(errors.is(err, inner))
end

local function assert_timeout(err, op)
    assert_op_error(err, op, lnet.ErrDeadlineExceeded)
    assert.is_true(err:timeout())
    assert.are.equal(op .. " pipe: i/o timeout", tostring(err))
end

-- Go's net.Pipe: a call on the end that was closed is io.ErrClosedPipe,
-- unwrapped (issue 8), whatever the call.
local function assert_closed(err)
    assert.is_true(rawequal(err, lnet.ErrClosedPipe), tostring(err))
    assert.are.equal("io: read/write on closed pipe", tostring(err))
end

describe("lnet.pipe", function()
    describe("data", function()
        it("carries bytes both ways (Go's TestPipe)", function()
            local cli, srv = lnet.pipe()
            local lines = { { cli, srv, "hello, world" }, { srv, cli, "line 2" }, { cli, srv, "a third line" } }
            for _, l in ipairs(lines) do
                pass(l[1], l[2], l[3], #l[3] + 10)
            end
            go(function()
                srv:close()
            end)
            local data, err = cli:read(10)
            assert.is_nil(data)
            assert.is_true(rawequal(err, lnet.EOF))
            assert.is_true(cli:close())
        end)

        it("write returns only once readers have taken all of it", function()
            local c1, c2 = lnet.pipe()
            local w = go(function()
                return c1:write("hello")
            end)
            lnet.sleep(0.05)
            assert.are.equal("running", w.status, "write returned with nobody reading")
            assert.are.equal("hello", c2:read(100))
            assert.are.equal(5, w:join())
            c1:close()
            c2:close()
        end)

        it("a write of 10 bytes read with max 3 arrives as 3, 3, 3, 1; the write returns after the last", function()
            local c1, c2 = lnet.pipe()
            local w = go(function()
                return c1:write("0123456789")
            end)
            local want = { "012", "345", "678", "9" }
            for i, chunk in ipairs(want) do
                settle()
                assert.are.equal("running", w.status, "write returned before read " .. i)
                assert.are.equal(chunk, c2:read(3))
            end
            assert.are.equal(10, w:join())
            c1:close()
            c2:close()
        end)

        it("a read never spans two writes", function()
            local c1, c2 = lnet.pipe()
            local w1 = go(function()
                return c1:write("ab")
            end)
            local w2 = go(function()
                return c1:write("cd")
            end)
            settle()
            assert.are.equal("ab", c2:read(100))
            assert.are.equal("cd", c2:read(100))
            assert.are.equal(2, w1:join())
            assert.are.equal(2, w2:join())
            c1:close()
            c2:close()
        end)

        it("a write to readers already waiting returns without parking, and they get it in order", function()
            local c1, c2 = lnet.pipe()
            local readers = {}
            for i = 1, 3 do
                readers[i] = go(function()
                    return c2:read(2)
                end)
            end
            settle()
            assert.are.equal(6, c1:write("aabbcc"))
            assert.are.equal("aa", readers[1]:join())
            assert.are.equal("bb", readers[2]:join())
            assert.are.equal("cc", readers[3]:join())
            c1:close()
            c2:close()
        end)

        it("writers queue FIFO and each write's bytes stay contiguous", function()
            local c1, c2 = lnet.pipe()
            local writers = {}
            local names = { "A", "B", "C", "D" }
            for i, name in ipairs(names) do
                writers[i] = go(function()
                    return c1:write(name:rep(7))
                end)
            end
            settle()
            local parts = {}
            for _ = 1, 100 do
                local s = c2:read(2)
                parts[#parts + 1] = s
                if #table.concat(parts) == 28 then
                    break
                end
            end
            assert.are.equal("AAAAAAABBBBBBBCCCCCCCDDDDDDD", table.concat(parts))
            for i = 1, #names do
                assert.are.equal(7, writers[i]:join())
            end
            c1:close()
            c2:close()
        end)

        it("readers queue FIFO", function()
            local c1, c2 = lnet.pipe()
            local got = {}
            local readers = {}
            for i = 1, 4 do
                readers[i] = go(function()
                    local data = c2:read(1)
                    got[#got + 1] = i .. "=" .. data
                end)
            end
            settle()
            assert.are.equal(4, c1:write("wxyz"))
            for i = 1, 4 do
                readers[i]:join()
            end
            assert.are.same({ "1=w", "2=x", "3=y", "4=z" }, got)
            c1:close()
            c2:close()
        end)

        it("is full duplex: a read and a write on one end at once", function()
            local c1, c2 = lnet.pipe()
            local r1 = go(function()
                return c1:read(10)
            end)
            local w1 = go(function()
                return c1:write("from c1")
            end)
            settle()
            assert.are.equal("from c1", c2:read(10))
            assert.are.equal(5, c2:write("to c1"))
            assert.are.equal("to c1", r1:join())
            assert.are.equal(7, w1:join())
            c1:close()
            c2:close()
        end)

        it("a large write read with a large enough max arrives in one read", function()
            local c1, c2 = lnet.pipe()
            local big = ("0123456789abcdef"):rep(65536) -- 1 MiB
            local w = go(function()
                return c1:write(big)
            end)
            local got = c2:read(#big)
            assert.are.equal(#big, #got)
            assert.is_true(got == big)
            assert.are.equal(#big, w:join())
            c1:close()
            c2:close()
        end)

        it("read() takes at most 65536 bytes; read(0) is \"\" at once; write(\"\") is 0 at once", function()
            local c1, c2 = lnet.pipe()
            assert.are.equal("", c2:read(0))
            assert.are.equal(0, c1:write(""))
            local w = go(function()
                return c1:write(("x"):rep(70000))
            end)
            assert.are.equal(65536, #c2:read())
            assert.are.equal(70000 - 65536, #c2:read())
            assert.are.equal(70000, w:join())
            local w2 = go(function()
                return c1:write("abc")
            end)
            assert.are.equal("ab", c2:read(2.9)) -- a fractional max is truncated
            assert.are.equal("c", c2:read(0.5 + 1))
            assert.are.equal(3, w2:join())
            -- read(0) fails as a read would: EOF once the other end is closed
            c1:close()
            local none, err = c2:read(0)
            assert.is_nil(none)
            assert.is_true(rawequal(err, lnet.EOF))
            c2:close()
        end)

        it("misuse raises", function()
            local c1, c2 = lnet.pipe()
            assert.has_error(function() c1:read("x") end)
            assert.has_error(function() c1:read(-1) end)
            assert.has_error(function() c1:read(0 / 0) end)
            assert.has_error(function() c1:write(5) end)
            assert.has_error(function() c1:write(nil) end)
            assert.has_error(function() c1:set_deadline("soon") end)
            assert.has_error(function() c1:set_read_deadline({}) end)
            assert.has_error(function() c1:set_write_deadline(0 / 0) end)
            c1:close()
            c2:close()
        end)

        it("has no socket methods, as Go's pipe has none", function()
            local c1, c2 = lnet.pipe()
            for _, m in ipairs({ "close_write", "close_read", "set_nodelay", "set_linger", "set_read_buffer",
                "set_write_buffer", "set_keepalive", "file", "syscall_conn" }) do
                assert.is_nil(c1[m], m)
            end
            c1:close()
            c2:close()
        end)
    end)

    describe("addresses", function()
        it("local_addr and remote_addr are Go's pipeAddr: network \"pipe\", text \"pipe\", also after close", function()
            local c1, c2 = lnet.pipe()
            for _, c in ipairs({ c1, c2 }) do
                for _, a in ipairs({ c:local_addr(), c:remote_addr() }) do
                    assert.are.equal("pipe", a:network())
                    assert.are.equal("pipe", tostring(a))
                end
            end
            c1:close()
            c2:close()
            assert.are.equal("pipe", tostring(c1:local_addr()))
            assert.are.equal("pipe", c2:remote_addr():network())
        end)
    end)

    describe("close", function()
        it("returns true; a second close is nil, io.ErrClosedPipe (a call on the closed end)", function()
            local c1, c2 = lnet.pipe()
            assert.is_true(c1:close())
            local ok, err = c1:close()
            assert.is_nil(ok)
            assert_closed(err)
            -- the other end's first close is still its first
            assert.is_true(c2:close())
        end)

        it("after close, this end's read and write fail with io.ErrClosedPipe, as Go's", function()
            local c1, c2 = lnet.pipe()
            c1:close()
            local data, err = c1:read(10)
            assert.is_nil(data)
            assert_closed(err)
            local n, werr = c1:write("x")
            assert.are.equal(0, n)
            assert_closed(werr)
            local z, zerr = c1:read(0)
            assert.is_nil(z)
            assert_closed(zerr)
            c2:close()
        end)

        it("after the other end's close, read is EOF and write is io.ErrClosedPipe", function()
            local c1, c2 = lnet.pipe()
            c2:close()
            local data, err = c1:read(10)
            assert.is_nil(data)
            assert.is_true(rawequal(err, lnet.EOF))
            local n, werr = c1:write("x")
            assert.are.equal(0, n)
            assert.is_true(rawequal(werr, lnet.ErrClosedPipe))
            assert.is_true(rawequal(werr, errors.ErrClosedPipe))
            assert.are.equal("io: read/write on closed pipe", tostring(werr))
            assert.is_false(errors.is(werr, lnet.ErrClosed))
            c1:close()
        end)

        it("wakes this end's reads and writes, in flight or queued, with io.ErrClosedPipe", function()
            local c1, c2 = lnet.pipe()
            local tasks = {}
            for i = 1, 2 do
                tasks[#tasks + 1] = go(function()
                    local data, err = c1:read(10)
                    return "read", data, err, lnet.now()
                end)
                tasks[#tasks + 1] = go(function()
                    local n, err = c1:write("payload")
                    return "write", n, err, lnet.now()
                end)
            end
            settle()
            for _, t in ipairs(tasks) do
                assert.are.equal("running", t.status)
            end
            local t_close = lnet.now()
            assert.is_true(c1:close())
            for _, t in ipairs(tasks) do
                local op, v, err, t_end = t:join()
                if op == "read" then
                    assert.is_nil(v)
                else
                    assert.are.equal(0, v)
                end
                assert_closed(err)
                assert.is_true(t_end - t_close < SLACK)
            end
            c2:close()
        end)

        it("wakes the other end's reads in flight or queued with EOF and its writes with io.ErrClosedPipe", function()
            local c1, c2 = lnet.pipe()
            local readers, writers = {}, {}
            for i = 1, 2 do
                readers[i] = go(function()
                    local data, err = c2:read(10)
                    return data, err, lnet.now()
                end)
                writers[i] = go(function()
                    local n, err = c2:write("payload")
                    return n, err, lnet.now()
                end)
            end
            settle()
            for i = 1, 2 do
                assert.are.equal("running", readers[i].status)
                assert.are.equal("running", writers[i].status)
            end
            local t_close = lnet.now()
            local closer = go(function()
                return c1:close()
            end)
            assert.is_true(closer:join())
            for i = 1, 2 do
                local data, err, t_end = readers[i]:join()
                assert.is_nil(data)
                assert.is_true(rawequal(err, lnet.EOF), tostring(err))
                assert.is_true(t_end - t_close < SLACK)
                local n, werr, t_wend = writers[i]:join()
                assert.are.equal(0, n)
                assert.is_true(rawequal(werr, lnet.ErrClosedPipe), tostring(werr))
                assert.is_true(t_wend - t_close < SLACK)
            end
            c2:close()
        end)

        it("a write cut short by the other end's close returns the bytes taken so far", function()
            local c1, c2 = lnet.pipe()
            local w = go(function()
                return c1:write("0123456789")
            end)
            assert.are.equal("0123", c2:read(4))
            assert.is_true(c2:close())
            local n, err = w:join()
            assert.are.equal(4, n)
            assert.is_true(rawequal(err, lnet.ErrClosedPipe))
            c1:close()
        end)

        it("a write cut short by its own end's close returns the bytes taken so far and io.ErrClosedPipe", function()
            local c1, c2 = lnet.pipe()
            local w = go(function()
                return c1:write("0123456789")
            end)
            assert.are.equal("012", c2:read(3))
            assert.is_true(c1:close())
            local n, err = w:join()
            assert.are.equal(3, n)
            assert_closed(err)
            -- and none of the rest reaches c2
            local data, rerr = c2:read(10)
            assert.is_nil(data)
            assert.is_true(rawequal(rerr, lnet.EOF))
            c2:close()
        end)

        it("deadlines on a closed pipe fail with io.ErrClosedPipe on either end, as Go's", function()
            local c1, c2 = lnet.pipe()
            c1:close()
            for _, set in ipairs({ "set_deadline", "set_read_deadline", "set_write_deadline" }) do
                local ok, err = c1[set](c1, lnet.now() + 1)
                assert.is_nil(ok)
                assert_closed(err)
                local ok2, err2 = c2[set](c2, lnet.now() + 1)
                assert.is_nil(ok2)
                assert.is_true(rawequal(err2, lnet.ErrClosedPipe), tostring(err2))
            end
            c2:close()
        end)
    end)

    describe("the end of lnet.run", function()
        local second_close, left_task_status
        lazy_setup(function()
            local c1
            lnet.run(function()
                local c2
                c1, c2 = lnet.pipe()
                local r = lnet.go(function()
                    return c1:read(10)
                end)
                lnet.sleep(0)
                left_task_status = r.status
            end)
            local _
            _, second_close = c1:close()
        end)

        it("closes the pipes a run leaves open, dropping the calls parked on them", function()
            assert.are.equal("running", left_task_status)
            assert.is_not_nil(second_close, "the pipe was still open after lnet.run")
            assert.is_true(rawequal(second_close, lnet.ErrClosedPipe))
        end)
    end)

    describe("deadlines (seed §2)", function()
        -- Kinds, as in deadline_spec.lua: op() is the operation under test on
        -- c, feed() makes one op able to succeed (a task on the other end
        -- that writes or reads "data"), set(t) the deadline.

        -- A kind's common part: a new pipe, c the end under test and s the
        -- other; cleanup closes both and joins the feeders.
        local function pipe_kind(name)
            local k = { name = name, feeders = {} }
            k.c, k.s = lnet.pipe()
            function k.cleanup()
                k.c:close()
                k.s:close()
                for _, f in ipairs(k.feeders) do
                    f:join()
                end
            end
            return k
        end

        local function read_kind()
            local k = pipe_kind("read")
            local c, s = k.c, k.s
            function k.set(t)
                return c:set_read_deadline(t)
            end
            function k.op()
                local data, err = c:read(100)
                if data ~= nil then
                    return true, data
                end
                return nil, err, 0
            end
            function k.feed()
                k.feeders[#k.feeders + 1] = go(function()
                    return s:write("data")
                end)
            end
            function k.check_success(data)
                assert.are.equal("data", data) -- one write, whole, nothing lost
            end
            return k
        end

        local function write_kind()
            local k = pipe_kind("write")
            k.got = {}
            local c, s = k.c, k.s
            function k.set(t)
                return c:set_write_deadline(t)
            end
            function k.op()
                local n, err = c:write("data")
                if err == nil then
                    assert.are.equal(4, n)
                    return true
                end
                return nil, err, n
            end
            function k.feed()
                k.feeders[#k.feeders + 1] = go(function()
                    local data = s:read(100)
                    k.got[#k.got + 1] = data
                end)
            end
            function k.check_success()
                settle()
                assert.are.equal("data", k.got[#k.got])
            end
            return k
        end

        local kinds = { read = read_kind, write = write_kind }
        local rules, order = {}, {}
        local function rule(name, fn)
            rules[name] = fn
            order[#order + 1] = name
        end

        rule("set returns true", function(k)
            assert.is_true(k.set(lnet.now() + 10))
            assert.is_true(k.set(nil))
        end)

        rule("an operation fails at the deadline, not before, with Go's timeout error", function(k)
            local d = lnet.now() + 0.05
            assert.is_true(k.set(d))
            local ok, err = k.op()
            local t = lnet.now()
            assert.is_nil(ok)
            assert.is_true(t >= d, "returned before the deadline")
            assert.is_true(t < d + SLACK)
            assert_timeout(err, k.name)
        end)

        rule("the deadline is absolute, not a duration counted from the operation", function(k)
            local d = lnet.now() + 0.3
            assert.is_true(k.set(d))
            lnet.sleep(0.2)
            local t_op = lnet.now()
            local ok, err = k.op()
            local t = lnet.now()
            assert.is_nil(ok)
            assert_timeout(err, k.name)
            assert.is_true(t >= d)
            assert.is_true(t - t_op < 0.25, ("waited %.3fs, as if relative"):format(t - t_op))
        end)

        rule("the deadline persists across operations", function(k)
            local d = lnet.now() + 0.2
            assert.is_true(k.set(d))
            k.feed()
            local ok, res = k.op()
            assert.is_true(ok, tostring(res))
            k.check_success(res)
            local ok2, err = k.op()
            assert.is_nil(ok2)
            assert_timeout(err, k.name)
            assert.is_true(lnet.now() >= d)
        end)

        rule("a fired deadline stays, even once the operation could succeed; clearing lets it through", function(k)
            assert.is_true(k.set(lnet.now() + 0.05))
            local ok, err = k.op()
            assert.is_nil(ok)
            assert_timeout(err, k.name)
            k.feed()
            settle()
            local t0 = lnet.now()
            local ok2, err2, n = k.op()
            assert.is_nil(ok2)
            assert_timeout(err2, k.name)
            assert.are.equal(0, n)
            assert.is_true(lnet.now() - t0 < SLACK)
            assert.is_true(k.set(nil))
            local ok3, res = k.op()
            assert.is_true(ok3, tostring(res))
            k.check_success(res)
        end)

        rule("nil clears the deadline: the operation then waits for as long as it takes", function(k)
            local d = lnet.now() + 0.05
            assert.is_true(k.set(d))
            local ok, err = k.op()
            assert.is_nil(ok)
            assert_timeout(err, k.name)
            assert.is_true(k.set(nil))
            local feeder = go(function()
                lnet.sleep(0.15)
                k.feed()
            end)
            local ok2, res = k.op()
            assert.is_true(ok2, tostring(res))
            assert.is_true(lnet.now() >= d + 0.1, "did not wait for the late feed")
            k.check_success(res)
            feeder:join()
        end)

        for _, case in ipairs({ { "exactly lnet.now()", function() return lnet.now() end },
            { "in the past (1)", function() return 1 end } }) do
            rule("a deadline " .. case[1] .. " fails the next operation at once, even when it could succeed",
                function(k)
                    k.feed()
                    settle()
                    assert.is_true(k.set(case[2]()))
                    local t0 = lnet.now()
                    local ok, err, n = k.op()
                    assert.is_nil(ok)
                    assert_timeout(err, k.name)
                    assert.are.equal(0, n) -- nothing moved
                    assert.is_true(lnet.now() - t0 < SLACK)
                    assert.is_true(k.set(nil))
                    local ok2, res = k.op()
                    assert.is_true(ok2, tostring(res))
                    k.check_success(res)
                end)
        end

        for _, case in ipairs({ { "extending", function() return lnet.now() + 5 end },
            { "clearing", function() return nil end } }) do
            rule(case[1] .. " the deadline of an operation in flight lets it go on", function(k)
                local t0 = lnet.now()
                assert.is_true(k.set(t0 + 0.1))
                local task = go(function()
                    return k.op()
                end)
                lnet.sleep(0.03)
                assert.is_true(k.set(case[2]()))
                lnet.sleep(t0 + 0.25 - lnet.now())
                assert.are.equal("running", task.status, "the original deadline still fired")
                k.feed()
                local ok, res = task:join()
                assert.is_true(ok, tostring(res))
                k.check_success(res)
            end)
        end

        rule("moving the deadline of an operation in flight earlier re-arms it", function(k)
            assert.is_true(k.set(lnet.now() + 30))
            local task = go(function()
                local ok, err = k.op()
                return ok, err, lnet.now()
            end)
            lnet.sleep(0.02)
            local d = lnet.now() + 0.1
            assert.is_true(k.set(d))
            local ok, err, t = task:join()
            assert.is_nil(ok)
            assert_timeout(err, k.name)
            assert.is_true(t >= d, "woke before the new deadline")
            assert.is_true(t - d < SLACK)
        end)

        for _, case in ipairs({ { "into the past", function() return 1 end },
            { "to lnet.now()", function() return lnet.now() end } }) do
            rule("moving the deadline of an operation in flight " .. case[1] .. " wakes it at once", function(k)
                assert.is_true(k.set(lnet.now() + 30))
                local task = go(function()
                    local ok, err = k.op()
                    return ok, err, lnet.now()
                end)
                lnet.sleep(0.05)
                assert.are.equal("running", task.status)
                local t_set = lnet.now()
                assert.is_true(k.set(case[2]()))
                local ok, err, t = task:join()
                assert.is_nil(ok)
                assert_timeout(err, k.name)
                assert.is_true(t - t_set < 1, ("woke %.3fs after the deadline moved"):format(t - t_set))
            end)
        end

        rule("queued calls are bound by the deadline too", function(k)
            assert.is_true(k.set(lnet.now() + 0.1))
            local tasks = {}
            for i = 1, 3 do
                tasks[i] = go(function()
                    return k.op()
                end)
            end
            for i = 1, 3 do
                local ok, err, n = tasks[i]:join()
                assert.is_nil(ok)
                assert_timeout(err, k.name)
                assert.are.equal(0, n)
            end
        end)

        rule("a non-number deadline raises and leaves no deadline behind", function(k)
            assert.has_error(function() k.set("soon") end)
            assert.has_error(function() k.set(true) end)
            k.feed()
            local ok, res = k.op()
            assert.is_true(ok, tostring(res))
            k.check_success(res)
        end)

        for _, kind_name in ipairs({ "read", "write" }) do
            describe(kind_name, function()
                for _, name in ipairs(order) do
                    it(kind_name .. ": " .. name, function()
                        local k = kinds[kind_name]()
                        rules[name](k)
                        k.cleanup()
                    end)
                end
            end)
        end

        it("a write that times out part way returns the bytes taken; the rest never arrives", function()
            local c1, c2 = lnet.pipe()
            local d = lnet.now() + 0.1
            assert.is_true(c1:set_write_deadline(d))
            local w = go(function()
                return c1:write("0123456789")
            end)
            assert.are.equal("012", c2:read(3))
            assert.are.equal("345", c2:read(3))
            local n, err = w:join()
            assert.is_true(lnet.now() >= d)
            assert.are.equal(6, n)
            assert_timeout(err, "write")
            assert.is_true(c1:set_write_deadline(nil))
            pass(c1, c2, "next", 100)
            c1:close()
            c2:close()
        end)

        it("set_deadline sets both; a read deadline leaves writes alone and a write deadline reads", function()
            local c1, c2 = lnet.pipe()
            assert.is_true(c1:set_read_deadline(1))
            local r = go(function()
                return c2:read(10)
            end)
            assert.are.equal(2, c1:write("ok"))
            assert.are.equal("ok", r:join())
            assert.is_true(c1:set_read_deadline(nil))
            assert.is_true(c1:set_write_deadline(1))
            pass(c2, c1, "ok", 10)
            assert.is_true(c1:set_deadline(1))
            local _, rerr = c1:read(10)
            assert_timeout(rerr, "read")
            local n, werr = c1:write("x")
            assert.are.equal(0, n)
            assert_timeout(werr, "write")
            c1:close()
            c2:close()
        end)

        it("each end has its own deadlines", function()
            local c1, c2 = lnet.pipe()
            assert.is_true(c1:set_deadline(1))
            local r = go(function()
                return c1:write("to c2") -- times out at once
            end)
            local n, err = r:join()
            assert.are.equal(0, n)
            assert_timeout(err, "write")
            local w = go(function()
                return c2:write("to c1 end") -- c2 has no deadline
            end)
            settle()
            assert.are.equal("running", w.status)
            assert.is_true(c1:set_deadline(nil))
            assert.are.equal("to c1 end", c1:read(100))
            assert.are.equal(9, w:join())
            c1:close()
            c2:close()
        end)

        it("a call that returned leaves no timer behind to wake its task later", function()
            local c1, c2 = lnet.pipe()
            assert.is_true(c2:set_read_deadline(lnet.now() + 0.1))
            local feeder = go(function()
                lnet.sleep(0.02)
                return c1:write("data")
            end)
            assert.are.equal("data", c2:read(10)) -- parked, then handed the data
            assert.are.equal(4, feeder:join())
            -- park on a plain wait queue: only our wake at 0.3 s may end it
            local q = sched.queue()
            local t0 = lnet.now()
            local waker = go(function()
                lnet.sleep(0.3)
                q:wake_all()
            end)
            assert.is_nil(q:wait(sched.current()))
            assert.is_true(lnet.now() - t0 >= 0.3, "woken early, by the read's deadline timer")
            waker:join()
            c1:close()
            c2:close()
        end)
    end)

    describe("contexts", function()
        it("a cancelled ctx fails a call that has to wait, at once, and the pipe stays usable", function()
            local c1, c2 = lnet.pipe()
            local ctx = support.cancelled()
            local data, err = c2:read(10, ctx)
            assert.is_nil(data)
            assert_op_error(err, "read", context.Canceled)
            local n, werr = c1:write("data", ctx)
            assert.are.equal(0, n)
            assert_op_error(werr, "write", context.Canceled)
            pass(c1, c2, "data", 10)
            c1:close()
            c2:close()
        end)

        it("cancelling during a read fails it promptly, takes no byte, and leaves the pipe usable", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_cancel(context.background())
            local r = go(function()
                local data, err = c2:read(10, ctx)
                return data, err, lnet.now()
            end)
            lnet.sleep(0.05)
            assert.are.equal("running", r.status)
            local t0 = lnet.now()
            cancel()
            local data, err, t = r:join()
            assert.is_nil(data)
            assert_op_error(err, "read", context.Canceled)
            assert.is_true(t - t0 < SLACK)
            pass(c1, c2, "whole", 10)
            c1:close()
            c2:close()
        end)

        it("cancelling during a write returns the bytes taken so far", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_cancel(context.background())
            local w = go(function()
                return c1:write("0123456789", ctx)
            end)
            assert.are.equal("0123", c2:read(4))
            cancel()
            local n, err = w:join()
            assert.are.equal(4, n)
            assert_op_error(err, "write", context.Canceled)
            -- the rest is gone; the next write is whole
            pass(c1, c2, "next", 100)
            c1:close()
            c2:close()
        end)

        it("a read handed its data as its ctx is cancelled returns the data", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_cancel(context.background())
            local r = go(function()
                return c2:read(10, ctx)
            end)
            settle()
            -- the write hands "data" over to the parked read and returns
            -- without yielding; the cancel comes before the read resumes
            assert.are.equal(4, c1:write("data"))
            cancel()
            local data, err = r:join()
            assert.is_nil(err, tostring(err))
            assert.are.equal("data", data)
            c1:close()
            c2:close()
        end)

        it("a write whose last byte is taken as its ctx is cancelled succeeds", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_cancel(context.background())
            local w = go(function()
                return c1:write("data", ctx)
            end)
            settle()
            assert.are.equal("data", c2:read(10))
            cancel()
            local n, err = w:join()
            assert.is_nil(err, tostring(err))
            assert.are.equal(4, n)
            c1:close()
            c2:close()
        end)

        it("a ctx deadline ends a read with context.DeadlineExceeded, timeout() true", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_timeout(context.background(), 0.05)
            local t0 = lnet.now()
            local data, err = c1:read(10, ctx)
            assert.is_nil(data)
            assert_op_error(err, "read", context.DeadlineExceeded)
            assert.is_true(err:timeout())
            assert.is_true(lnet.now() - t0 >= 0.05)
            cancel()
            c1:close()
            c2:close()
        end)

        it("a ctx on a queued writer ends its wait and leaves the queue in order", function()
            local c1, c2 = lnet.pipe()
            local ctx, cancel = context.with_cancel(context.background())
            local wa = go(function()
                return c1:write("AAAA")
            end)
            local wb = go(function()
                return c1:write("BBBB", ctx)
            end)
            local wc = go(function()
                return c1:write("CCCC")
            end)
            settle()
            cancel()
            local n, err = wb:join()
            assert.are.equal(0, n)
            assert_op_error(err, "write", context.Canceled)
            assert.are.equal("AAAA", c2:read(100))
            assert.are.equal("CCCC", c2:read(100))
            assert.are.equal(4, wa:join())
            assert.are.equal(4, wc:join())
            c1:close()
            c2:close()
        end)

        it("task:cancel() ends a parked read with context.Canceled", function()
            local c1, c2 = lnet.pipe()
            local r = go(function()
                return c1:read(10)
            end)
            settle()
            r:cancel()
            local data, err = r:join()
            assert.is_nil(data)
            assert_op_error(err, "read", context.Canceled)
            c1:close()
            c2:close()
        end)
    end)

    describe("resources", function()
        it("uses no fd", function()
            local before = C.lnet_fd_count()
            local c1, c2 = lnet.pipe()
            local w = go(function()
                return c1:write("x")
            end)
            assert.are.equal("x", c2:read(1))
            w:join()
            assert.are.equal(before, C.lnet_fd_count())
            c1:close()
            c2:close()
        end)

        it("closed pipes are garbage once dropped, whatever their calls did", function()
            local weak = setmetatable({}, { __mode = "v" })
            do
                local c1, c2 = lnet.pipe()
                local w = go(function()
                    return c1:write("0123456789")
                end)
                assert.are.equal("012", c2:read(3))
                c2:set_read_deadline(1)
                c2:read(3)
                c1:close()
                w:join()
                c2:close()
                weak[1], weak[2] = c1, c2
            end
            -- collect with the locals above out of scope
            for _ = 1, 3 do
                collectgarbage()
            end
            assert.is_nil(weak[1], "c1 still referenced")
            assert.is_nil(weak[2], "c2 still referenced")
        end)

        it("holds no task after its calls return", function()
            local c1, c2 = lnet.pipe()
            local tasks = {}
            for i = 1, 3 do
                tasks[#tasks + 1] = go(function()
                    return c1:write("w" .. i)
                end)
                tasks[#tasks + 1] = go(function()
                    return c1:read(10, nil)
                end)
            end
            settle()
            assert.is_true(c2:set_deadline(lnet.now() + 0.05))
            for _ = 1, 3 do
                assert.is_not_nil(c2:read(10))
                assert.are.equal(2, c2:write("r!"))
            end
            for _, t in ipairs(tasks) do
                t:join()
            end
            for _, d in ipairs({ c1.rx, c1.tx }) do
                assert.is_nil(d.w)
                assert.are.equal(0, d.rq.n)
                assert.are.equal(0, d.wq.n)
            end
            c1:close()
            c2:close()
        end)
    end)
end)
