-- Tasks, time, channels and wait groups (DESIGN "Tasks and time").

local lnet = require "lnet"
local errors = lnet.errors

local pair = require("support").pair

describe("tasks", function()
    it("go runs a task and join returns its values", function()
        local t = lnet.go(function(a, b)
            return a + b, "x"
        end, 1, 2)
        local s, x = t:join()
        assert.are.equal(3, s)
        assert.are.equal("x", x)
    end)

    it("join keeps every return value, nils included", function()
        local t = lnet.go(function()
            lnet.sleep(0.01)
            return nil, 2, nil
        end)
        local n = select("#", t:join())
        assert.are.equal(3, n)
        local a, b, c = t:join()
        assert.is_nil(a)
        assert.are.equal(2, b)
        assert.is_nil(c)
        -- a task that returns nothing joins to nothing
        local none = lnet.go(function() end)
        assert.are.equal(0, select("#", none:join()))
    end)

    it("go passes its extra arguments, nils included", function()
        local t = lnet.go(function(...)
            return select("#", ...), ...
        end, nil, "b", nil)
        local n, a, b, c = t:join()
        assert.are.equal(3, n)
        assert.is_nil(a)
        assert.are.equal("b", b)
        assert.is_nil(c)
    end)

    it("a task that raises: join returns nil and an error with the message and a traceback", function()
        local t = lnet.go(function()
            lnet.sleep(0.01)
            error("boom in task")
        end)
        local v, err = t:join()
        assert.is_nil(v)
        assert.is_not_nil(err)
        assert.are.equal("string", type(err.msg))
        assert.is_truthy(err.msg:find("boom in task", 1, true), err.msg)
        assert.are.equal("string", type(err.traceback))
        assert.is_true(#err.traceback > 0)
        assert.is_truthy(tostring(err):find("boom in task", 1, true))
        -- joining again gives the same error
        local v2, err2 = t:join()
        assert.is_nil(v2)
        assert.is_true(rawequal(err, err2))
    end)

    it("a task that raises a table: err.value is that table", function()
        local raised = { code = 7 }
        local t = lnet.go(function()
            lnet.sleep(0.01)
            error(raised)
        end)
        local v, err = t:join()
        assert.is_nil(v)
        assert.is_true(rawequal(raised, err.value))
    end)

    it("several tasks may join one task and all get its values", function()
        local target = lnet.go(function()
            lnet.sleep(0.03)
            return 42, "answer"
        end)
        local joiners = {}
        for i = 1, 5 do
            joiners[i] = lnet.go(function()
                return target:join()
            end)
        end
        for i = 1, 5 do
            local v, s = joiners[i]:join()
            assert.are.equal(42, v)
            assert.are.equal("answer", s)
        end
        -- and a join after it finished returns them at once
        assert.are.equal(42, (target:join()))
    end)

    it("join blocks until the task finishes", function()
        local finished = false
        local t = lnet.go(function()
            lnet.sleep(0.05)
            finished = true
            return "late"
        end)
        assert.is_false(finished)
        assert.are.equal("late", t:join())
        assert.is_true(finished)
    end)

    it("misuse raises: go without a function, a task joining itself", function()
        assert.has_error(function() lnet.go("not a function") end)
        assert.has_error(function() lnet.go(nil) end)
        local t
        t = lnet.go(function()
            local ok = pcall(function() return t:join() end)
            return ok
        end)
        assert.is_false(t:join())
    end)

    it("task:cancel wakes a task parked in sleep with context.Canceled", function()
        local t = lnet.go(function()
            local t0 = lnet.now()
            local ok, err = lnet.sleep(30)
            return ok, err, lnet.now() - t0
        end)
        lnet.sleep(0.02)
        assert.are.equal("running", t.status)
        t:cancel()
        local ok, err, waited = t:join()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, errors.Canceled), tostring(err))
        assert.is_true(waited < 2)
    end)

    it("task:cancel wakes a task parked in a conn read with an OpError wrapping Canceled", function()
        local c, s = pair()
        local t = lnet.go(function()
            return c:read(10)
        end)
        lnet.sleep(0.02)
        assert.are.equal("running", t.status)
        t:cancel()
        local data, err = t:join()
        assert.is_nil(data)
        assert.is_true(errors.is(err, errors.Canceled), tostring(err))
        assert.is_not_nil(errors.as(err, "OpError"))
        assert.are.equal("read", errors.as(err, "OpError").op)
        -- the conn itself is still usable by others
        assert.are.equal(2, s:write("ok"))
        assert.are.equal("ok", c:read(2))
        c:close()
        s:close()
    end)

    it("task:cancel wakes a task parked in accept and in a channel recv", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ch = lnet.channel()
        local acc = lnet.go(function()
            return ln:accept()
        end)
        local rcv = lnet.go(function()
            return ch:recv()
        end)
        lnet.sleep(0.02)
        acc:cancel()
        rcv:cancel()
        local c, aerr = acc:join()
        assert.is_nil(c)
        assert.is_true(errors.is(aerr, errors.Canceled), tostring(aerr))
        local v, ok, rerr = rcv:join()
        assert.is_nil(v)
        assert.is_false(ok)
        assert.is_true(errors.is(rerr, errors.Canceled), tostring(rerr))
        ln:close()
    end)

    it("a cancelled task's later blocking calls fail too", function()
        local gate = lnet.channel(1)
        local t = lnet.go(function()
            local _, e1 = lnet.sleep(30)
            local _, e2 = lnet.sleep(30)
            gate:send(true) -- buffered: does not wait
            return e1, e2
        end)
        lnet.sleep(0.02)
        t:cancel()
        local e1, e2 = t:join()
        assert.is_true(errors.is(e1, errors.Canceled))
        assert.is_true(errors.is(e2, errors.Canceled))
        assert.is_true(gate:recv())
    end)

    it("cancel of a finished task does nothing", function()
        local t = lnet.go(function()
            return 1
        end)
        assert.are.equal(1, t:join())
        t:cancel()
        assert.are.equal(1, t:join())
    end)
end)

describe("time", function()
    it("sleep returns true after at least the time asked", function()
        local t0 = lnet.now()
        assert.is_true(lnet.sleep(0.05))
        local waited = lnet.now() - t0
        assert.is_true(waited >= 0.05, ("woke after %.4fs"):format(waited))
        assert.is_true(waited < 2)
    end)

    it("sleepers wake in the order of their wake times", function()
        local woke = {}
        local tasks = {}
        for _, d in ipairs({ 0.06, 0.02, 0.04, 0.01, 0.05, 0.03 }) do
            tasks[#tasks + 1] = lnet.go(function()
                lnet.sleep(d)
                woke[#woke + 1] = d
            end)
        end
        for _, t in ipairs(tasks) do
            t:join()
        end
        assert.are.same({ 0.01, 0.02, 0.03, 0.04, 0.05, 0.06 }, woke)
    end)

    it("a loop of sleep(0) is stopped by a cancel; sleep(0) with a done ctx fails", function()
        local spins = lnet.go(function()
            local n, ok, err = 0, true, nil
            while ok do
                ok, err = lnet.sleep(0)
                n = n + 1
            end
            return n, err
        end)
        lnet.sleep(0.01)
        spins:cancel()
        local n, err = spins:join()
        assert.is_true(n > 1)
        assert.is_true(errors.is(err, lnet.errors.Canceled), tostring(err))
        local done = require("support").cancelled()
        assert.are.same({ nil, lnet.errors.Canceled }, { lnet.sleep(0, done) })
    end)

    it("sleep(0) lets every ready task run first", function()
        local log = {}
        local a = lnet.go(function()
            for i = 1, 3 do
                log[#log + 1] = "a" .. i
                lnet.sleep(0)
            end
        end)
        local b = lnet.go(function()
            for i = 1, 3 do
                log[#log + 1] = "b" .. i
                lnet.sleep(0)
            end
        end)
        a:join()
        b:join()
        assert.are.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log)
    end)

    it("sleep raises on a non-number", function()
        assert.has_error(function() lnet.sleep("1") end)
        assert.has_error(function() lnet.sleep(nil) end)
        assert.has_error(function() lnet.sleep(0 / 0) end)
    end)

    it("lnet.now is monotonic seconds", function()
        local prev = lnet.now()
        assert.are.equal("number", type(prev))
        for _ = 1, 1000 do
            local t = lnet.now()
            assert.is_true(t >= prev)
            prev = t
        end
        local t0 = lnet.now()
        lnet.sleep(0.02)
        local d = lnet.now() - t0
        assert.is_true(d >= 0.02 and d < 2)
    end)

    it("lnet.time is the wall clock, near os.time()", function()
        local t = lnet.time()
        assert.are.equal("number", type(t))
        assert.is_true(math.abs(t - os.time()) < 2)
        -- sub-second resolution
        local a = lnet.time()
        lnet.sleep(0.02)
        local b = lnet.time()
        assert.is_true(b - a > 0.01 and b - a < 2)
    end)
end)

describe("channels", function()
    it("an unbuffered send waits for a receiver and hands the value over", function()
        local ch = lnet.channel()
        local sent = false
        local sender = lnet.go(function()
            local ok = ch:send("v")
            sent = true
            return ok
        end)
        lnet.sleep(0.02)
        assert.is_false(sent, "unbuffered send did not wait")
        local v, ok = ch:recv()
        assert.are.equal("v", v)
        assert.is_true(ok)
        assert.is_true(sender:join())
        assert.is_true(sent)
    end)

    it("an unbuffered recv waits for a sender", function()
        local ch = lnet.channel()
        local r = lnet.go(function()
            local v, ok = ch:recv()
            return v, ok, lnet.now()
        end)
        lnet.sleep(0.02)
        assert.are.equal("running", r.status)
        local t_send = lnet.now()
        assert.is_true(ch:send(5))
        local v, ok, t = r:join()
        assert.are.equal(5, v)
        assert.is_true(ok)
        assert.is_true(t >= t_send)
    end)

    it("a buffered channel holds cap values, then send waits", function()
        local ch = lnet.channel(2)
        assert.is_true(ch:send(1))
        assert.is_true(ch:send(2))
        local third_sent = false
        local sender = lnet.go(function()
            ch:send(3)
            third_sent = true
        end)
        lnet.sleep(0.02)
        assert.is_false(third_sent, "send did not wait on a full channel")
        assert.are.equal(1, (ch:recv()))
        sender:join()
        assert.is_true(third_sent)
        assert.are.equal(2, (ch:recv()))
        assert.are.equal(3, (ch:recv()))
    end)

    it("values come out in the order they went in", function()
        local ch = lnet.channel(100)
        for i = 1, 100 do
            ch:send(i)
        end
        for i = 1, 100 do
            local v, ok = ch:recv()
            assert.are.equal(i, v)
            assert.is_true(ok)
        end
    end)

    it("false and nil are values like any other", function()
        local ch = lnet.channel(2)
        ch:send(false)
        ch:send(nil)
        local v1, ok1 = ch:recv()
        local v2, ok2 = ch:recv()
        assert.is_false(v1)
        assert.is_true(ok1)
        assert.is_nil(v2)
        assert.is_true(ok2)
    end)

    it("close wakes every receiver with nil, false", function()
        local ch = lnet.channel()
        local rs = {}
        for i = 1, 3 do
            rs[i] = lnet.go(function()
                return ch:recv()
            end)
        end
        lnet.sleep(0.02)
        ch:close()
        for i = 1, 3 do
            local v, ok = rs[i]:join()
            assert.is_nil(v)
            assert.is_false(ok)
        end
        local v, ok = ch:recv()
        assert.is_nil(v)
        assert.is_false(ok)
    end)

    it("a closed buffered channel is drained before recv says closed", function()
        local ch = lnet.channel(3)
        ch:send("a")
        ch:send("b")
        ch:close()
        assert.are.same({ "a", true }, { ch:recv() })
        assert.are.same({ "b", true }, { ch:recv() })
        local v, ok = ch:recv()
        assert.is_nil(v)
        assert.is_false(ok)
    end)

    it("send on a closed channel raises, and so does a second close", function()
        local ch = lnet.channel(1)
        ch:close()
        assert.has_error(function() ch:send(1) end)
        assert.has_error(function() ch:close() end)
    end)

    it("a sender parked on a channel that gets closed raises", function()
        local ch = lnet.channel()
        local sender = lnet.go(function()
            lnet.sleep(0.01) -- so the failure is heard by join, not printed
            ch:send(1)
            return "sent"
        end)
        lnet.sleep(0.03)
        ch:close()
        local v, err = sender:join()
        assert.is_nil(v)
        assert.is_truthy(err.msg:find("send on closed channel", 1, true), err.msg)
    end)

    it("channel raises on a bad capacity", function()
        assert.has_error(function() lnet.channel(-1) end)
        assert.has_error(function() lnet.channel(1.5) end)
        assert.has_error(function() lnet.channel("2") end)
    end)
end)

describe("wait_group", function()
    it("wait returns once every add is matched by done", function()
        local wg = lnet.wait_group()
        local finished = 0
        wg:add(3)
        for i = 1, 3 do
            lnet.go(function()
                lnet.sleep(0.01 * i)
                finished = finished + 1
                wg:done()
            end)
        end
        assert.is_true(wg:wait())
        assert.are.equal(3, finished)
    end)

    it("wait on a zero counter returns at once", function()
        local wg = lnet.wait_group()
        local t0 = lnet.now()
        assert.is_true(wg:wait())
        assert.is_true(lnet.now() - t0 < 1)
    end)

    it("several waiters are all woken", function()
        local wg = lnet.wait_group()
        wg:add(1)
        local ws = {}
        for i = 1, 4 do
            ws[i] = lnet.go(function()
                return wg:wait()
            end)
        end
        lnet.sleep(0.02)
        for i = 1, 4 do
            assert.are.equal("running", ws[i].status)
        end
        wg:done()
        for i = 1, 4 do
            assert.is_true(ws[i]:join())
        end
    end)

    it("a negative counter raises", function()
        local wg = lnet.wait_group()
        assert.has_error(function() wg:done() end)
        assert.has_error(function() wg:add("x") end)
    end)
end)

describe("many tasks", function()
    it("1000 tasks ping-pong through channels", function()
        local PAIRS, ROUNDS = 500, 10
        local tasks = {}
        for p = 1, PAIRS do
            local ping, pong = lnet.channel(), lnet.channel()
            tasks[#tasks + 1] = lnet.go(function()
                local sum = 0
                for r = 1, ROUNDS do
                    ping:send(r)
                    sum = sum + pong:recv()
                end
                ping:close()
                return sum
            end)
            tasks[#tasks + 1] = lnet.go(function()
                local n = 0
                for v in function() return (ping:recv()) end do
                    pong:send(v * p)
                    n = n + 1
                end
                return n
            end)
        end
        assert.are.equal(1000, #tasks)
        local expect = ROUNDS * (ROUNDS + 1) / 2
        for p = 1, PAIRS do
            assert.are.equal(expect * p, tasks[2 * p - 1]:join())
            assert.are.equal(ROUNDS, tasks[2 * p]:join())
        end
    end)

    it("a token passes around a ring of 1000 tasks", function()
        local N, LAPS = 1000, 3
        local chans = {}
        for i = 1, N do
            chans[i] = lnet.channel()
        end
        local tasks = {}
        for i = 1, N do
            local inbox, outbox = chans[i], chans[i % N + 1]
            tasks[i] = lnet.go(function()
                local hops = 0
                while true do
                    local v, ok = inbox:recv()
                    if not ok then
                        return hops
                    end
                    hops = hops + 1
                    if i == N and v + 1 == N * LAPS then
                        return hops, v + 1
                    end
                    outbox:send(v + 1)
                end
            end)
        end
        chans[1]:send(0)
        local hops, final = tasks[N]:join()
        assert.are.equal(LAPS, hops)
        assert.are.equal(N * LAPS, final)
        for i = 1, N - 1 do
            chans[i]:close()
        end
        for i = 1, N - 1 do
            assert.are.equal(LAPS, tasks[i]:join())
        end
    end)
end)
