-- lnet.chaos: each toxic's fault as a client sees it (issue 14).

local lnet = require "lnet"
local support = require "support"
local cs = require "chaos_support"

local errors = lnet.errors
local errno = lnet.errno

-- A proxy in front of an echo server, a client conn through it, and the
-- cleanup.
local function echo_setup(opts)
    local up = cs.echo()
    local p = cs.proxy(up, opts)
    local c = cs.dial(p)
    return p, c, function()
        c:close()
        p:close()
        up:close()
    end
end

describe("chaos toxics, Toxiproxy's", function()
    it("reset_peer: the client reads exactly the bytes sent before it, then ECONNRESET", function()
        local before = support.pattern(60000)
        local up = cs.server(function(c)
            c:write(before)
            c:read(1)
            c:write("after")
            c:read(1)
        end)
        local p = cs.proxy(up)
        local c = cs.dial(p)
        lnet.sleep(0.1) -- before is in the client's receive buffer, unread
        assert(p:add { type = "reset_peer", ms = 20 })
        assert(c:write("x"))
        local got, err = support.read_all(c)
        assert.are.equal(#before, #got)
        assert.is_true(got == before)
        assert.is_true(errors.is(err, errno.ECONNRESET), tostring(err))
        assert.are.equal(1, #cs.events(p, { what = "reset", toxic = "reset_peer_downstream", bytes = 5 }))
        c:close()
        p:close()
        up:close()
    end)

    it("limit_data{100}: EOF after exactly 100 bytes", function()
        local up = cs.source(support.pattern(5000))
        local p = cs.proxy(up)
        assert(p:add { type = "limit_data", bytes = 100 })
        local c = cs.dial(p)
        local got, err = support.read_all(c)
        assert.are.equal(lnet.EOF, err)
        assert.are.equal(support.pattern(100), got)
        c:close()
        p:close()
        up:close()
    end)

    it("timeout 0 is a blackhole: a 250 ms deadline fires, the conn stays open, removal releases the data", function()
        local p, c, done = echo_setup()
        cs.rtt(c)
        assert(p:add { type = "timeout", ms = 0 })
        assert(c:write("held"))
        c:set_read_deadline(lnet.now() + 0.25)
        local t = lnet.now()
        local _, err = c:read(10)
        assert.is_true(err:timeout())
        assert.is_true(lnet.now() - t >= 0.24)
        assert.are.equal(1, p:conns())
        c:set_read_deadline(lnet.now() + support.SLACK)
        local removed = lnet.now()
        assert(p:remove("timeout_downstream"))
        assert.are.equal("held", c:read(10))
        assert.is_true(lnet.now() - removed < support.WAKE * 4)
        assert.is_true(cs.rtt(c) < 100)
        assert.are.equal(1, #cs.events(p, { what = "hold" }))
        assert.are.equal(1, #cs.events(p, { what = "release", bytes = 4 }))
        done()
    end)

    it("timeout{ms}: drops the data and closes the conn ms later", function()
        local p, c, done = echo_setup()
        local t = lnet.now()
        assert(p:add { type = "timeout", ms = 150 })
        assert(c:write("lost"))
        c:set_read_deadline(lnet.now() + support.SLACK)
        local got, err = support.read_all(c)
        assert.are.equal("", got)
        assert.are.equal(lnet.EOF, err)
        local took = lnet.now() - t
        assert.is_true(took >= 0.14 and took < 0.5, "took " .. took)
        assert.are.equal(1, #cs.events(p, { what = "drop", bytes = 4 }))
        done()
    end)

    it("slow_close: the end of stream arrives ms late", function()
        local up = cs.source("bye")
        local p = cs.proxy(up)
        assert(p:add { type = "slow_close", ms = 150 })
        local c = cs.dial(p)
        local t = lnet.now()
        assert.are.equal("bye", c:read(10))
        assert.is_true(lnet.now() - t < 0.1)
        local _, err = c:read(10)
        assert.are.equal(lnet.EOF, err)
        assert.is_true(lnet.now() - t >= 0.14)
        c:close()
        p:close()
        up:close()
    end)

    it("slicer: cuts chunks into pieces around avg, delay apart", function()
        local p, c, done = echo_setup()
        assert(p:add { type = "slicer", avg = 100, var = 20, delay = 5 })
        local data = support.pattern(2000)
        local t = lnet.now()
        assert(c:write(data))
        assert.are.equal(data, support.read_exactly(c, #data))
        local e = cs.events(p, { what = "slice" })[1]
        assert.is_true(e.pieces >= 14 and e.pieces <= 26, "pieces " .. e.pieces)
        assert.is_true(lnet.now() - t >= (e.pieces - 1) * 0.005 - 0.001)
        done()
    end)
end)

describe("chaos toxics beyond Toxiproxy", function()
    it("stall_read: the client's write blocks until its write deadline; after removal every byte arrives intact", function()
        local received = {}
        local up = cs.server(function(c)
            local data = support.read_all(c)
            received[#received + 1] = data
        end)
        local p = cs.proxy(up)
        local c = cs.dial(p)
        assert(p:add { type = "stall_read", stream = "up" })
        local data = support.pattern(16 * support.MiB)
        c:set_write_deadline(lnet.now() + 0.3)
        local t = lnet.now()
        local n, err = c:write(data)
        assert.is_true(err:timeout(), tostring(err))
        assert.is_true(lnet.now() - t >= 0.29)
        assert.is_true(n > 0 and n < #data, "wrote " .. n)
        assert(p:remove("stall_read_upstream"))
        c:close_write()
        local deadline = lnet.now() + support.SLACK
        while received[1] == nil and lnet.now() < deadline do
            lnet.sleep(0.01)
        end
        assert.are.equal(n, #received[1])
        assert.are.equal(cs.adler(data:sub(1, n)), cs.adler(received[1]))
        c:close()
        p:close()
        up:close()
    end)

    it("corrupt: flips bits in about p of the bytes, never the length", function()
        local p, c, done = echo_setup()
        assert(p:add { type = "corrupt", p = 0.01 })
        local data = string.rep("\0", 100000)
        assert(c:write(data))
        local got = support.read_exactly(c, #data)
        local flipped = 0
        for i = 1, #got do
            local b = got:byte(i)
            if b ~= 0 then
                flipped = flipped + 1
                assert.is_true(b == 1 or b == 2 or b == 4 or b == 8 or b == 16 or b == 32 or b == 64 or b == 128)
            end
        end
        assert.is_true(flipped >= 800 and flipped <= 1200, "flipped " .. flipped)
        local counted = 0
        for _, e in ipairs(cs.events(p, { what = "corrupt" })) do
            counted = counted + e.bytes
        end
        assert.are.equal(flipped, counted)
        done()
    end)

    it("limit_time: the conn ends ms after it began", function()
        local p, c, done = echo_setup()
        local t = lnet.now()
        assert(p:add { type = "limit_time", ms = 150 })
        cs.rtt(c)
        c:set_read_deadline(lnet.now() + support.SLACK)
        local _, err = c:read(10)
        assert.are.equal(lnet.EOF, err)
        local took = lnet.now() - t
        assert.is_true(took >= 0.14 and took < 0.5, "took " .. took)
        done()
    end)

    it("slow_open: the first byte waits ms after the conn opened, later ones do not", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add { type = "slow_open", ms = 150, stream = "up" })
        local t = lnet.now()
        local c = cs.dial(p)
        cs.rtt(c)
        assert.is_true(lnet.now() - t >= 0.14)
        assert.is_true(cs.rtt(c) < 50)
        c:close()
        p:close()
        up:close()
    end)

    it("refuse: connects get ECONNREFUSED, open conns go on, removal listens again", function()
        local p, c, done = echo_setup()
        assert(p:add { type = "refuse" })
        local c2, err = lnet.dial("tcp", tostring(p:addr()))
        assert.is_nil(c2)
        assert.is_true(errors.is(err, errno.ECONNREFUSED), tostring(err))
        cs.rtt(c)
        assert(p:remove("refuse_downstream"))
        c2 = cs.dial(p)
        cs.rtt(c2)
        c2:close()
        done()
    end)

    it("syn_blackhole: connects time out; after removal they succeed", function()
        local p, c, done = echo_setup()
        assert(p:add { type = "syn_blackhole" })
        local t = lnet.now()
        local c2, err = lnet.dial("tcp", tostring(p:addr()), { timeout = 0.3 })
        assert.is_nil(c2)
        assert.is_true(err:timeout(), tostring(err))
        assert.is_true(lnet.now() - t >= 0.29)
        cs.rtt(c)
        assert(p:remove("syn_blackhole_downstream"))
        c2 = cs.dial(p)
        cs.rtt(c2)
        c2:close()
        done()
    end)

    it("accept_close and accept_reset: EOF, or ECONNRESET, before any byte", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add { type = "accept_close" })
        local c = cs.dial(p)
        local _, err = c:read(1)
        assert.are.equal(lnet.EOF, err)
        c:close()
        assert(p:remove("accept_close_downstream"))
        assert(p:add { type = "accept_reset" })
        c = cs.dial(p)
        _, err = c:read(1)
        assert.is_true(errors.is(err, errno.ECONNRESET), tostring(err))
        c:close()
        assert.are.equal(1, #cs.events(p, { what = "accept_reset" }))
        p:close()
        up:close()
    end)

    it("connect_delay: the upstream is dialed ms later", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add { type = "connect_delay", ms = 150 })
        local t = lnet.now()
        local c = cs.dial(p)
        cs.rtt(c)
        assert.is_true(lnet.now() - t >= 0.14)
        c:close()
        p:close()
        up:close()
    end)

    it("custom Lua toxics rewrite, split, delay, drop and reset", function()
        local p, c, done = echo_setup()
        assert(p:add { name = "upper", fn = function(chunk)
            return chunk:upper()
        end })
        assert(c:write("hello"))
        assert.are.equal("HELLO", support.read_exactly(c, 5))
        assert(p:remove("upper"))
        local seen = {}
        assert(p:add { name = "split", stream = "up", fn = function(chunk, ctl)
            seen[#seen + 1] = ctl.conn .. ctl.dir
            ctl:delay(0.05)
            ctl:emit(chunk:sub(1, 1))
            return chunk:sub(2), nil
        end })
        assert.is_true(cs.rtt(c, "abc") >= 45)
        assert.are.same({ "1up" }, seen)
        assert(p:remove("split"))
        assert(p:add { name = "drop", fn = function(chunk)
            if chunk == "drop me" then
                return nil
            end
            return chunk
        end })
        assert(c:write("drop me"))
        lnet.sleep(0.05)
        cs.rtt(c, "ok")
        assert(p:add { name = "reset", stream = "up", fn = function(chunk, ctl)
            if chunk == "reset" then
                return ctl:reset()
            end
            return chunk
        end })
        assert(c:write("reset"))
        local _, err = c:read(10)
        assert.is_true(errors.is(err, errno.ECONNRESET), tostring(err))
        done()
    end)

    it("a custom toxic that raises closes the conn and logs the error", function()
        local p, c, done = echo_setup()
        assert(p:add { name = "boom", fn = function()
            error("boom")
        end })
        assert(c:write("x"))
        local _, err = c:read(1)
        assert.are.equal(lnet.EOF, err)
        local e = cs.events(p, { what = "error", toxic = "boom" })[1]
        assert.is_truthy(e.error:find("boom", 1, true))
        done()
    end)
end)

describe("chaos toxicity, nth and scope", function()
    -- Opens n conns through p (many at once), each sending "abc": how many
    -- came back upper-cased (by the custom toxic added by the caller).
    local function affected(p, n)
        local hits = cs.parallel(n, 64, function()
            local c = cs.dial(p)
            c:write("abc")
            local got = c:read(3)
            c:close()
            return got == "ABC" and 1 or 0
        end)
        local sum = 0
        for _, h in ipairs(hits) do
            sum = sum + h
        end
        return sum
    end

    local function upper(extra)
        local spec = { name = "upper", fn = function(chunk)
            return chunk:upper()
        end }
        for k, v in pairs(extra) do
            spec[k] = v
        end
        return spec
    end

    it("toxicity 0.1 over 2,000 conns affects 10% of them, each conn drawn once", function()
        local up = cs.echo()
        local p = cs.proxy(up, { seed = 3 })
        assert(p:add(upper { toxicity = 0.1 }))
        local n = affected(p, 2000)
        assert.is_true(n >= 160 and n <= 240, "affected " .. n)
        assert.are.equal(n, #cs.events(p, { what = "applied" }))
        p:close()
        up:close()
    end)

    it("nth = 3 affects exactly every third conn", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        assert(p:add(upper { nth = 3 }))
        local hits = {}
        for i = 1, 12 do
            local c = cs.dial(p)
            c:write("abc")
            hits[i] = c:read(3)
            c:close()
        end
        assert.are.same({ "abc", "abc", "ABC", "abc", "abc", "ABC", "abc", "abc", "ABC", "abc", "abc", "ABC" }, hits)
        p:close()
        up:close()
    end)

    it("scope chunk draws per chunk; nth counts chunks", function()
        local p, c, done = echo_setup()
        assert(p:add(upper { scope = "chunk", nth = 2 }))
        local got = {}
        for i = 1, 6 do
            c:write("ab")
            got[i] = c:read(2)
        end
        assert.are.same({ "ab", "AB", "ab", "AB", "ab", "AB" }, got)
        done()
    end)

    it("scope message frames with a framer, whatever the chunks", function()
        local p, c, done = echo_setup()
        assert(p:add(upper { scope = "message", framer = "line", nth = 2 }))
        assert(c:write("one\ntw"))
        lnet.sleep(0.02)
        assert(c:write("o\nthree\nfour\n"))
        local want = "one\nTWO\nthree\nFOUR\n"
        assert.are.equal(want, support.read_exactly(c, #want))
        assert(p:update("upper", { nth = 1 }))
        assert(c:write("five\n"))
        assert.are.equal("FIVE\n", support.read_exactly(c, 5))
        done()
    end)

    it("a length-prefixed framer keeps messages whole", function()
        local up = cs.echo()
        local p = cs.proxy(up)
        local sizes = {}
        assert(p:add { name = "count", scope = "message", framer = { prefix = 2 }, fn = function(m)
            sizes[#sizes + 1] = #m
            return m
        end })
        local c = cs.dial(p)
        local msg = lnet.pack(">s2", string.rep("x", 300)) .. lnet.pack(">s2", "y")
        assert(c:write(msg:sub(1, 100)))
        lnet.sleep(0.02)
        assert(c:write(msg:sub(101)))
        assert.are.equal(msg, support.read_exactly(c, #msg))
        assert.are.same({ 302, 3 }, sizes)
        c:close()
        p:close()
        up:close()
    end)

    it("frames as lnet.bufio's read_frame reads: 8-byte and varint prefixes", function()
        local framer = require "lnet.chaos.framer"
        local f8 = framer.new { prefix = 8 }
        assert.are.equal(11, f8:split("\0\0\0\0\0\0\0\3abcdef"))
        assert.is_nil(f8:split("\0\0\0\0\0\0\0\3ab"))
        local fv = framer.new { prefix = "varint" }
        local long = string.char(0xac, 0x02) .. string.rep("z", 300)
        assert.are.equal(302, fv:split(long .. "tail"))
        assert.is_nil(fv:split(long:sub(1, 200)))
        assert.are.equal(4, framer.new { prefix = 2, order = "little" }:split("\2\0hi!"))
        assert.has_error(function()
            framer.new { prefix = 3 }
        end, 'bad framer (prefix: 1, 2, 4, 8 or "varint" expected, got 3)')
    end)
end)
