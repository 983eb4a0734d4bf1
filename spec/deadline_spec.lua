-- Deadlines: seed §2, every rule, for read, write and accept.
--
-- Each rule is written once against a "kind" that knows how to make its
-- operation block (`op`), how to make it able to succeed (`feed`), and which
-- deadline to set (`set`). Timing assertions are bounds, never durations.

local lnet = require "lnet"
local errors = lnet.errors

local support = require "support"
local MiB, SLACK, pair, read_full = support.MiB, support.SLACK, support.pair, support.read_full

-- Asserts err is the deadline error of op on the given addresses.
local function assert_timeout(err, op, text)
    assert.is_not_nil(err, "expected a timeout error")
    assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded), tostring(err))
    assert.is_true(err:timeout())
    local oe = errors.as(err, "OpError")
    assert.is_not_nil(oe, "not an OpError: " .. tostring(err))
    assert.are.equal(op, oe.op)
    assert.is_true(rawequal(oe.err, lnet.ErrDeadlineExceeded))
    if text then
        assert.are.equal(text, tostring(err))
    end
end

-- Kinds ------------------------------------------------------------------

-- read: c reads, s feeds it 4 bytes per feed.
local function read_kind()
    local k = { name = "read" }
    local c, s = pair()
    k.c, k.s = c, s
    function k.set(t)
        return c:set_read_deadline(t)
    end
    function k.op()
        local data, err = c:read(100)
        if data ~= nil then
            return true, data
        end
        return nil, err
    end
    function k.feed()
        assert(s:write("data") == 4)
    end
    function k.check_success(data)
        -- no bytes lost or duplicated: every feed is "data"
        assert.is_true(#data > 0 and data:gsub("data", "") == "", data)
    end
    function k.text()
        return ("read tcp %s->%s: i/o timeout"):format(tostring(c:local_addr()), tostring(c:remote_addr()))
    end
    function k.cleanup()
        c:close()
        s:close()
    end
    return k
end

-- write: c writes 1 MiB chunks (far more than the send path holds) into a
-- send path already full; each feed starts a task draining s of everything
-- written so far plus one chunk, so exactly one more write can complete.
local function write_kind()
    local k = { name = "write" }
    local c, s = pair()
    k.c, k.s = c, s
    support.small_buffers(c, s)
    -- Fill the send path: nobody reads s yet.
    assert(c:set_write_deadline(lnet.now() + 0.1))
    local n, err = c:write(string.rep("f", 8 * MiB))
    assert(err ~= nil and errors.is(err, lnet.ErrDeadlineExceeded), "could not fill the send buffer")
    assert(c:set_write_deadline(nil))
    local written, drained = n, 0
    local chunk = string.rep("w", MiB)
    local drains = {}
    function k.set(t)
        return c:set_write_deadline(t)
    end
    function k.op()
        local wn, werr = c:write(chunk)
        written = written + wn
        if werr == nil then
            assert.are.equal(#chunk, wn)
            return true
        end
        return nil, werr, wn
    end
    function k.feed()
        local target = written + #chunk
        drains[#drains + 1] = lnet.go(function()
            while drained < target do
                local d = s:read(math.min(65536, target - drained))
                if d == nil then
                    return
                end
                drained = drained + #d
            end
        end)
    end
    function k.check_success() end
    function k.text()
        return ("write tcp %s->%s: i/o timeout"):format(tostring(c:local_addr()), tostring(c:remote_addr()))
    end
    function k.cleanup()
        c:close()
        for _, d in ipairs(drains) do
            d:join()
        end
        s:close()
    end
    return k
end

-- accept: feed dials one conn into the backlog.
local function accept_kind()
    local k = { name = "accept" }
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local clients = {}
    k.ln = ln
    function k.set(t)
        return ln:set_deadline(t)
    end
    function k.op()
        local c, err = ln:accept()
        if c ~= nil then
            c:close()
            return true
        end
        return nil, err
    end
    function k.feed()
        clients[#clients + 1] = assert(lnet.dial("tcp", tostring(ln:addr())))
    end
    function k.check_success() end
    function k.text()
        return ("accept tcp %s: i/o timeout"):format(tostring(ln:addr()))
    end
    function k.cleanup()
        for _, c in ipairs(clients) do
            c:close()
        end
        ln:close()
    end
    return k
end

local kinds = { read = read_kind, write = write_kind, accept = accept_kind }

-- Rules --------------------------------------------------------------------

local rules = {}
local order = {}
local function rule(name, fn)
    rules[name] = fn
    order[#order + 1] = name
end

rule("set returns true", function(k)
    assert.is_true(k.set(lnet.now() + 10))
    assert.is_true(k.set(nil))
end)

rule("an operation fails at the deadline, not before, with a timeout error", function(k)
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
    local t_set = lnet.now()
    local d = t_set + 0.3
    assert.is_true(k.set(d))
    lnet.sleep(0.2)
    local t_op = lnet.now()
    local ok, err = k.op()
    local t = lnet.now()
    assert.is_nil(ok)
    assert_timeout(err, k.name)
    assert.is_true(t >= d)
    -- a duration would have waited 0.3 s from t_op
    assert.is_true(t - t_op < 0.25, ("waited %.3fs, as if relative"):format(t - t_op))
end)

rule("the deadline persists across operations", function(k)
    local d = lnet.now() + 0.2
    assert.is_true(k.set(d))
    k.feed()
    local ok, res = k.op()
    assert.is_true(ok, tostring(res))
    k.check_success(res)
    -- nothing reset it: the next operation is still bound by it
    local ok2, err = k.op()
    assert.is_nil(ok2)
    assert_timeout(err, k.name)
    assert.is_true(lnet.now() >= d)
end)

rule("a second operation after a timeout also times out", function(k)
    assert.is_true(k.set(lnet.now() + 0.05))
    local ok, err = k.op()
    assert.is_nil(ok)
    assert_timeout(err, k.name)
    local t0 = lnet.now()
    local ok2, err2 = k.op()
    assert.is_nil(ok2)
    assert_timeout(err2, k.name)
    assert.is_true(lnet.now() - t0 < SLACK)
end)

rule("a fired deadline does not clear itself, even once the operation could succeed", function(k)
    assert.is_true(k.set(lnet.now() + 0.05))
    local ok, err = k.op()
    assert.is_nil(ok)
    assert_timeout(err, k.name)
    k.feed()
    lnet.sleep(0.02)
    local t0 = lnet.now()
    local ok2, err2 = k.op()
    assert.is_nil(ok2)
    assert_timeout(err2, k.name)
    assert.is_true(lnet.now() - t0 < SLACK)
    -- clearing it lets the ready operation through, nothing lost
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
    local feeder = lnet.go(function()
        lnet.sleep(0.15)
        k.feed()
    end)
    local ok2, res = k.op()
    assert.is_true(ok2, tostring(res))
    assert.is_true(lnet.now() >= d + 0.1, "did not wait for the late feed")
    k.check_success(res)
    feeder:join()
end)

for _, case in ipairs({ { "of exactly lnet.now()", function() return lnet.now() end },
    { "in the past (1)", function() return 1 end } }) do
    rule("a deadline " .. case[1] .. " fails the next operation at once, even when it could succeed", function(k)
        k.feed()
        lnet.sleep(0.02) -- the operation is now ready
        assert.is_true(k.set(case[2]()))
        local t0 = lnet.now()
        local ok, err, n = k.op()
        assert.is_nil(ok)
        assert_timeout(err, k.name)
        assert.is_true(lnet.now() - t0 < SLACK)
        if k.name == "write" then
            assert.are.equal(0, n) -- nothing went out
        end
        assert.is_true(k.set(nil))
        local ok2, res = k.op()
        assert.is_true(ok2, tostring(res))
        k.check_success(res)
    end)
end

rule("extending the deadline of an operation in flight lets it go on", function(k)
    local t0 = lnet.now()
    assert.is_true(k.set(t0 + 0.1))
    local task = lnet.go(function()
        return k.op()
    end)
    lnet.sleep(0.03)
    assert.is_true(k.set(lnet.now() + 5))
    lnet.sleep(t0 + 0.25 - lnet.now())
    assert.are.equal("running", task.status, "the original deadline still fired")
    k.feed() -- after the original deadline
    local ok, res = task:join()
    assert.is_true(ok, tostring(res))
    k.check_success(res)
    assert.is_true(k.set(nil))
end)

rule("clearing the deadline of an operation in flight lets it go on", function(k)
    local t0 = lnet.now()
    assert.is_true(k.set(t0 + 0.1))
    local task = lnet.go(function()
        return k.op()
    end)
    lnet.sleep(0.03)
    assert.is_true(k.set(nil))
    lnet.sleep(t0 + 0.25 - lnet.now())
    assert.are.equal("running", task.status, "the original deadline still fired")
    k.feed()
    local ok, res = task:join()
    assert.is_true(ok, tostring(res))
    k.check_success(res)
end)

rule("moving the deadline of an operation in flight into the past wakes it at once", function(k)
    local task = lnet.go(function()
        local ok, err = k.op()
        return ok, err, lnet.now()
    end)
    lnet.sleep(0.05)
    assert.are.equal("running", task.status)
    local t_set = lnet.now()
    assert.is_true(k.set(1))
    local ok, err, t = task:join()
    assert.is_nil(ok)
    assert_timeout(err, k.name)
    assert.is_true(t - t_set < 1, ("woke %.3fs after the deadline moved"):format(t - t_set))
end)

rule("moving the deadline of an operation in flight to lnet.now() wakes it at once", function(k)
    assert.is_true(k.set(lnet.now() + 30))
    local task = lnet.go(function()
        local ok, err = k.op()
        return ok, err, lnet.now()
    end)
    lnet.sleep(0.05)
    assert.are.equal("running", task.status)
    local t_set = lnet.now()
    assert.is_true(k.set(t_set))
    local ok, err, t = task:join()
    assert.is_nil(ok)
    assert_timeout(err, k.name)
    assert.is_true(t - t_set < 1)
end)

rule("the error is an OpError wrapping ErrDeadlineExceeded, timeout() true, Go's text", function(k)
    assert.is_true(k.set(1))
    local ok, err = k.op()
    assert.is_nil(ok)
    assert_timeout(err, k.name, k.text())
    assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded))
    assert.is_nil(err.temporary)
end)

rule("a non-number deadline raises", function(k)
    assert.has_error(function() k.set("soon") end)
    assert.has_error(function() k.set({}) end)
    assert.has_error(function() k.set(true) end)
    assert.has_error(function() k.set(0 / 0) end)
    -- and leaves no deadline behind
    k.feed()
    local ok, res = k.op()
    assert.is_true(ok, tostring(res))
end)

-- Specs ----------------------------------------------------------------------

describe("deadlines (seed §2)", function()
    for _, kind_name in ipairs({ "read", "write", "accept" }) do
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

    it("a read timeout loses no bytes: data sent after it is read once cleared", function()
        local c, s = pair()
        assert.are.equal(3, s:write("abc"))
        assert.are.equal("abc", read_full(c, 3))
        assert.is_true(c:set_read_deadline(lnet.now() + 0.05))
        local none, err = c:read(10)
        assert.is_nil(none)
        assert_timeout(err, "read")
        assert.are.equal(3, s:write("def"))
        lnet.sleep(0.02)
        assert.is_true(c:set_read_deadline(nil))
        assert.are.equal("def", read_full(c, 3))
        assert.are.equal(3, c:write("ok!"))
        assert.are.equal("ok!", read_full(s, 3))
        c:close()
        s:close()
    end)

    it("a write deadline with a full send buffer returns n, err with n the bytes sent so far", function()
        local c, s = pair()
        support.small_buffers(c, s)
        local size = 8 * MiB
        local data = string.rep("0123456789abcdef", size / 16)
        local d = lnet.now() + 0.1
        assert.is_true(c:set_write_deadline(d))
        local n, err = c:write(data)
        assert.is_true(lnet.now() >= d)
        assert.are.equal("number", type(n))
        assert.is_true(n > 0, "nothing was sent")
        assert.is_true(n < size)
        assert_timeout(err, "write")
        -- the peer receives exactly those n bytes, and they are data's prefix
        assert.is_true(c:close())
        local got, rerr = support.read_all(s)
        assert.is_true(rawequal(rerr, lnet.EOF), tostring(rerr))
        assert.are.equal(n, #got)
        assert.is_true(got == data:sub(1, n), "received bytes are not the prefix written")
        s:close()
    end)

    it("set_deadline sets both the read and the write deadline", function()
        local c, s = pair()
        assert.is_true(c:set_deadline(1))
        local data, rerr = c:read(10)
        assert.is_nil(data)
        assert_timeout(rerr, "read")
        local n, werr = c:write("x")
        assert.are.equal(0, n)
        assert_timeout(werr, "write")
        assert.is_true(c:set_deadline(nil))
        assert.are.equal(1, c:write("x"))
        assert.are.equal("x", read_full(s, 1))
        c:close()
        s:close()
    end)

    it("the read deadline does not bind writes, nor the write deadline reads", function()
        local c, s = pair()
        assert.is_true(c:set_read_deadline(1))
        assert.are.equal(2, c:write("hi"))
        assert.are.equal("hi", read_full(s, 2))
        assert.is_true(c:set_read_deadline(nil))
        assert.is_true(c:set_write_deadline(1))
        assert.are.equal(2, s:write("yo"))
        assert.are.equal("yo", read_full(c, 2))
        local n, werr = c:write("x")
        assert.are.equal(0, n)
        assert_timeout(werr, "write")
        c:close()
        s:close()
    end)

    it("set_deadline on the listener raises on a non-number", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        assert.has_error(function() ln:set_deadline("x") end)
        assert.has_error(function() ln:set_deadline(false) end)
        ln:close()
    end)
end)
