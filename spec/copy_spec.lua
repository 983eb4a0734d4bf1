-- lnet.copy (Go's io.Copy) and the fairness rule that keeps a task whose
-- calls never block from starving the others.
local lnet = require "lnet"
local errors = lnet.errors

local support = require "support"
local MiB, pair, pattern, read_all = support.MiB, support.pair, support.pattern, support.read_all

describe("lnet.copy", function()
    it("copies everything from one conn to another until EOF and returns the count", function()
        local a1, a2 = pair() -- writer -> a1 ... a2 -> copy -> b1 ... b2 -> reader
        local b1, b2 = pair()
        local data = pattern(8 * MiB)
        local copier = lnet.go(function()
            local n, err = lnet.copy(b1, a2)
            b1:close_write()
            return n, err
        end)
        local writer = lnet.go(function()
            assert.are.equal(#data, a1:write(data))
            a1:close_write()
        end)
        local got, err = read_all(b2)
        assert.are.equal(lnet.EOF, err)
        assert.are.equal(#data, #got)
        assert.is_true(got == data, "copied bytes differ")
        local n, cerr = copier:join()
        assert.are.equal(#data, n)
        assert.is_nil(cerr)
        writer:join()
        for _, c in ipairs({ a1, a2, b1, b2 }) do
            c:close()
        end
    end)

    it("is an echo when source and destination are the same conn", function()
        local c, s = pair()
        local echo = lnet.go(lnet.copy, s, s)
        for i = 1, 100 do
            local msg = "request " .. i
            assert.are.equal(#msg, c:write(msg))
            assert.are.equal(msg, c:read(100))
        end
        c:close_write()
        local total = 0
        for i = 1, 100 do
            total = total + #("request " .. i)
        end
        assert.are.equal(total, echo:join())
        s:close_write()
        assert.are.equal(lnet.EOF, select(2, c:read(1)))
        c:close()
        s:close()
    end)

    it("stops when its ctx is cancelled and reports the bytes copied so far", function()
        local c, s = pair()
        local d1, d2 = pair()
        local ctx, cancel = lnet.context.with_cancel(lnet.context.background())
        local copier = lnet.go(lnet.copy, d1, s, ctx)
        assert.are.equal(5, c:write("hello"))
        assert.are.equal("hello", d2:read(10))
        local t0 = lnet.now()
        cancel()
        local n, err = copier:join()
        assert.is_true(lnet.now() - t0 < 0.5)
        assert.are.equal(5, n)
        assert.is_true(errors.is(err, lnet.context.Canceled), tostring(err))
        assert.are.equal("OpError", errors.as(err, "OpError") and "OpError")
        -- The source is still usable: the next bytes are read as usual.
        assert.are.equal(5, c:write("world"))
        assert.are.equal("world", s:read(10))
        for _, x in ipairs({ c, s, d1, d2 }) do
            x:close()
        end
    end)

    it("cancelled while writing, it hands back what it read but did not write: no byte is lost", function()
        for _, kind in ipairs({ "conn", "pipe" }) do
            local c, s = pair() -- writer -> c ... s -> copy -> d1 ... d2 (not read yet)
            local d1, d2
            if kind == "pipe" then
                d1, d2 = lnet.pipe()
            else
                d1, d2 = pair()
                support.small_buffers(d1, d2)
            end
            local data = pattern(2 * MiB)
            local writer = lnet.go(function()
                local n = c:write(data)
                c:close_write()
                return n
            end)
            local ctx, cancel = lnet.context.with_cancel(lnet.context.background())
            local copier = lnet.go(lnet.copy, d1, s, ctx)
            lnet.sleep(0.05) -- the copy reads, then blocks writing to d1
            cancel()
            local n, err, rest = copier:join()
            assert.is_true(errors.is(err, lnet.context.Canceled), tostring(err))
            assert.are.equal("write", errors.as(err, "OpError").op)
            assert.is_true(#rest > 0)
            local reader = lnet.go(read_all, d2)
            d1:close() -- after what was written has been read: d2 sees EOF
            local delivered = reader:join()
            assert.are.equal(n, #delivered)
            local left = read_all(s)
            assert.are.equal(#data, writer:join())
            assert.are.equal(data, delivered .. rest .. left, kind)
            for _, x in ipairs({ c, s, d2 }) do
                x:close()
            end
        end
    end)

    it("reports a failed write as an OpError of the destination", function()
        local c, s = pair()
        local d1, d2 = pair()
        d2:set_linger(0)
        d2:close() -- d1's writes now fail
        local copier = lnet.go(lnet.copy, d1, s)
        local chunk = string.rep("x", 65536)
        local writer = lnet.go(function()
            for _ = 1, 64 do
                if c:write(chunk) ~= #chunk then
                    return
                end
            end
        end)
        local _, err = copier:join()
        local op = errors.as(err, "OpError")
        assert.is_not_nil(op, tostring(err))
        assert.are.equal("write", op.op)
        c:close()
        writer:join()
        for _, x in ipairs({ s, d1 }) do
            x:close()
        end
    end)

    it("copies between any objects with read and write", function()
        local chunks = { "ab", "cd", "ef" }
        local src = {
            read = function()
                local v = table.remove(chunks, 1)
                if v == nil then
                    return nil, lnet.EOF
                end
                return v
            end,
        }
        local out = {}
        local dst = {
            write = function(_, s)
                out[#out + 1] = s
                return #s
            end,
        }
        assert.are.equal(6, lnet.copy(dst, src))
        assert.are.equal("abcdef", table.concat(out))
    end)
end)

describe("fairness", function()
    it("a task whose reads never block still lets a sleeping task run on time", function()
        local c, s = pair()
        local woke_at
        local start = lnet.now()
        local sleeper = lnet.go(function()
            lnet.sleep(0.02)
            woke_at = lnet.now()
        end)
        -- A sender that keeps the reader's socket full, and a reader that
        -- therefore never has to wait.
        local stop = false
        local sender = lnet.go(function()
            local chunk = string.rep("y", 65536)
            while not stop do
                if c:write(chunk) ~= #chunk then
                    return
                end
            end
        end)
        local reads = 0
        while woke_at == nil and reads < 2000000 do
            assert(s:read(1))
            reads = reads + 1
        end
        stop = true
        assert.is_not_nil(woke_at, "the sleeper never ran")
        assert.is_true(woke_at - start < 1, "the sleeper ran late: " .. (woke_at - start))
        sleeper:join()
        c:close()
        s:close()
        sender:join()
    end)
end)
