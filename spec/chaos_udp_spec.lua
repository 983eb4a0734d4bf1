-- lnet.chaos.udp_proxy: datagram impairments measured over paced runs,
-- per-client sessions, live changes and bad input (issue 14).

local lnet = require "lnet"
local chaos = require "lnet.chaos"
local support = require "support"

local errors = lnet.errors
local format = string.format

local WINDOW = 64 -- datagrams in flight at most: well under any socket buffer

-- An upstream that counts datagrams (numbered by their first 8 bytes),
-- the ones that came after a higher number (late), and echoes when told.
local function counter(echo)
    local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
    local st = { n = 0, late = 0, max = 0, sizes = {}, addr = tostring(pc:local_addr()) }
    st.task = lnet.go(function()
        while true do
            local data, from = pc:read_from(65535)
            if data == nil then
                return
            end
            st.n = st.n + 1
            st.sizes[#data] = (st.sizes[#data] or 0) + 1
            local seq = tonumber(data:sub(1, 8)) or 0
            if seq < st.max then
                st.late = st.late + 1
            else
                st.max = seq
            end
            if echo then
                pc:write_to(data, from)
            end
        end
    end)
    st.close = function()
        pc:close()
        st.task:join()
    end
    return st
end

-- A relay to up, counting the events of each kind it logs.
local function relay(up, opts)
    local seen = {}
    opts = opts or {}
    opts.upstream = up.addr
    opts.seed = opts.seed or 5
    opts.on_event = function(e)
        seen[e.what] = (seen[e.what] or 0) + 1
    end
    return assert(chaos.udp_proxy(opts)), seen
end

-- Sends n numbered datagrams through p, keeping at most WINDOW in flight
-- (sent, less received and the relay's known drops, plus its duplicates).
local function blast(p, up, seen, n)
    local c = assert(lnet.dial("udp", tostring(p:addr())))
    local deadline = lnet.now() + 20
    local pad = string.rep("x", 24)
    for i = 1, n do
        assert(c:write(format("%08d", i) .. pad))
        while i + (seen.duplicate or 0) - up.n - (seen.drop or 0) > WINDOW and lnet.now() < deadline do
            lnet.sleep(0)
        end
    end
    local settle = lnet.now() + 0.5
    while n + (seen.duplicate or 0) - up.n - (seen.drop or 0) > 0 and lnet.now() < settle do
        lnet.sleep(0.005)
    end
    c:close()
    assert(lnet.now() < deadline, "the run took too long")
end

describe("chaos.udp_proxy", function()
    it("loses none of 20,000 paced datagrams with no toxic", function()
        local up = counter()
        local p, seen = relay(up)
        blast(p, up, seen, 20000)
        assert.are.equal(20000, up.n)
        assert.are.equal(0, up.late)
        p:close()
        up.close()
    end)

    it("loss{p = 0.1} drops 10% of 20,000 paced datagrams", function()
        local up = counter()
        local p, seen = relay(up)
        assert(p:add { type = "loss", p = 0.1 })
        blast(p, up, seen, 20000)
        local lost = 20000 - up.n
        assert.is_true(lost >= 1800 and lost <= 2200, "lost " .. lost)
        assert.are.equal(lost, seen.drop)
        p:close()
        up.close()
    end)

    it("duplicate and reorder stay within 1.5 points of p", function()
        local up = counter()
        local p, seen = relay(up)
        assert(p:add { type = "duplicate", p = 0.1 })
        blast(p, up, seen, 10000)
        local dups = up.n - 10000
        assert.is_true(dups >= 850 and dups <= 1150, "duplicated " .. dups)
        p:close()
        up.close()

        up = counter()
        p, seen = relay(up)
        assert(p:add { type = "reorder", p = 0.1, gap = 1 })
        blast(p, up, seen, 10000)
        assert.are.equal(10000, up.n)
        assert.is_true(up.late >= 850 and up.late <= 1150, "late " .. up.late)
        p:close()
        up.close()
    end)

    it("loss_ge loses in bursts at the model's mean rate", function()
        local up = counter()
        local p, seen = relay(up)
        -- good -> bad 0.05, bad -> good 0.45: bad 10% of the time, all lost there
        assert(p:add { type = "loss_ge", p = 0.05, r = 0.45 })
        blast(p, up, seen, 10000)
        local lost = 10000 - up.n
        assert.is_true(lost >= 800 and lost <= 1200, "lost " .. lost)
        local bad = 0
        for _, e in ipairs(p:events()) do
            if e.what == "drop" and e.state == "bad" then
                bad = bad + 1
            end
        end
        assert.are.equal(lost, bad)
        p:close()
        up.close()
    end)

    it("delay, rate, truncate and corrupt act on each datagram; replies come back per client", function()
        local up = counter(true)
        local p = relay(up)
        assert(p:add { type = "delay", ms = 60, stream = "down" })
        assert(p:add { type = "truncate", max = 10 })
        local a = assert(lnet.dial("udp", tostring(p:addr())))
        local b = assert(lnet.dial("udp", tostring(p:addr())))
        local t = lnet.now()
        assert(a:write("00000001-from-a"))
        assert(b:write("00000002-from-b"))
        assert.are.equal("00000001-f", a:read())
        assert.are.equal("00000002-f", b:read())
        assert.is_true(lnet.now() - t >= 0.055)
        assert.are.equal(2, p:sessions())
        assert(p:remove("truncate_upstream"))
        assert(p:remove("delay_downstream"))
        assert(p:add { type = "rate", bytes_per_s = 10000 })
        t = lnet.now()
        for i = 1, 5 do
            assert(a:write(format("%08d", i) .. string.rep("r", 192)))
        end
        for _ = 1, 5 do
            assert.are.equal(200, #a:read())
        end
        local took = lnet.now() - t
        assert.is_true(took >= 0.09 and took < 0.5, "took " .. took) -- 1,000 bytes at 10,000 B/s
        assert(p:remove("rate_upstream"))
        assert(p:add { type = "corrupt", p = 1 })
        local zero = string.rep("\0", 64)
        assert(a:write(zero))
        local got = a:read()
        local ones = 0
        for i = 1, #got do
            local byte = got:byte(i)
            while byte > 0 do
                ones = ones + byte % 2
                byte = math.floor(byte / 2)
            end
        end
        assert.are.equal(1, ones)
        a:close()
        b:close()
        p:close()
        up.close()
    end)

    it("ends idle sessions", function()
        local up = counter(true)
        local p = relay(up, { session_timeout = 0.1 })
        local c = assert(lnet.dial("udp", tostring(p:addr())))
        assert(c:write("00000001"))
        assert.are.equal("00000001", c:read())
        assert.are.equal(1, p:sessions())
        local t = lnet.now()
        while p:sessions() > 0 and lnet.now() - t < support.SLACK do
            lnet.sleep(0.02)
        end
        assert.are.equal(0, p:sessions())
        c:close()
        p:close()
        up.close()
    end)

    it("returns ChaosErrors for bad toxics", function()
        local up = counter()
        local p = relay(up)
        for _, case in ipairs {
            { { type = "nope" }, "invalid_type" },
            { { type = "loss", p = 2 }, "bad_value" },
            { { type = "loss", q = 1 }, "bad_value" },
            { { type = "rate", bytes_per_s = -1 }, "bad_value" },
            { { type = "loss", stream = "x" }, "invalid_stream" },
        } do
            local x, err = p:add(case[1])
            assert.is_nil(x)
            assert.are.equal(case[2], errors.as(err, "ChaosError").code)
        end
        assert(p:add { type = "loss", p = 0.5 })
        local _, err = p:add { type = "loss" }
        assert.are.equal("toxic_exists", err.code)
        assert(p:update("loss_upstream", { p = 0.2 }))
        assert.are.equal(0.2, p:toxics()[1].p)
        p:close()
        up.close()
    end)
end)
