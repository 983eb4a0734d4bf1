-- Regressions of issue 8 (hardening the core): each case failed, crashed or
-- hung before its fix. Cases that must watch a whole run (a crash, a hang,
-- lnet.run itself) run `lnet -e` as a child.

local lnet = require "lnet"
local context = lnet.context
local errors = lnet.errors
local sched = require "lnet.sched"
local support = require "support"

local go, now = lnet.go, lnet.now

-- Runs code in a child (the lnet host, or luajit for code that drives
-- lnet.run itself); returns its exit code, stdout, stderr, signal.
local function child(code, limit)
    return support.run_lnet(code, { limit = limit or 8 })
end

local function child_luajit(code)
    return support.run_luajit(code, { limit = 8 })
end

describe("issue 8", function()
    it("1: lnet.copy into a slow reader never copies overlapping memory, and every byte arrives", function()
        -- unix conns, 4 KiB buffers, the reader taking 500 bytes at a time:
        -- one 64 KiB chunk goes out in many partial writes from the copy's
        -- own buffer (ASan's memcpy-param-overlap, in the sanitizer pass)
        local src_w, src_r = support.pair("unix")
        local dst_w, dst_r = support.pair("unix")
        assert(dst_w:set_write_buffer(4096))
        assert(dst_r:set_read_buffer(4096))
        local data = support.pattern(256 * 1024)
        local writer = go(function()
            assert.are.equal(#data, src_w:write(data))
            src_w:close()
        end)
        local copier = go(function()
            local n, err = lnet.copy(dst_w, src_r)
            dst_w:close()
            return n, err
        end)
        local parts, got = {}, 0
        while got < #data do
            local s = assert(dst_r:read(500))
            parts[#parts + 1] = s
            got = got + #s
        end
        writer:join()
        assert.are.equal(#data, copier:join())
        assert.are.equal(data, table.concat(parts))
        src_r:close()
        dst_r:close()
    end)

    describe("2: a task an earlier lnet.run dropped, still on a wait list, is skipped, not a crash", function()
        it("a channel receiver left in one run, then a send in the next", function()
            local code, out, err, sig = child_luajit([[
                local lnet = require "lnet"
                local ch
                lnet.run(function()
                    ch = lnet.channel()
                    lnet.go(function() ch:recv() end)
                    lnet.sleep(0)
                end)
                print(lnet.run(function()
                    local r = lnet.go(function() return ch:recv() end)
                    lnet.sleep(0)
                    ch:send("v")
                    return r:join()
                end))
            ]])
            assert.is_nil(sig, err)
            assert.are.equal(0, code, err)
            assert.are.equal("v\ttrue\n", out)
        end)

        it("a ctx:done() waiter left in one run, then cancel() after it", function()
            local code, out, err, sig = child_luajit([[
                local lnet = require "lnet"
                local cancel
                lnet.run(function()
                    local ctx
                    ctx, cancel = lnet.context.with_cancel(lnet.context.background())
                    lnet.go(function() ctx:done() end)
                    lnet.sleep(0)
                end)
                cancel()
                print("cancelled")
            ]])
            assert.is_nil(sig, err)
            assert.are.equal(0, code, err)
            assert.are.equal("cancelled\n", out)
        end)

        it("a joiner and a wait group's waiter left in one run, woken in the next", function()
            local code, out, err, sig = child_luajit([[
                local lnet = require "lnet"
                local wg, t, ch = lnet.wait_group(), nil, lnet.channel()
                lnet.run(function()
                    wg:add(1)
                    lnet.go(function() wg:wait() end)
                    t = lnet.go(function() ch:recv() end)
                    lnet.go(function() t:join() end)
                    lnet.sleep(0)
                end)
                lnet.run(function() wg:done() end)
                print("ok")
            ]])
            assert.is_nil(sig, err)
            assert.are.equal(0, code, err)
            assert.are.equal("ok\n", out)
        end)
    end)

    describe("4: a blocking call inside a coroutine of the script's own waits, through it, for the task", function()
        it("a generator made with coroutine.wrap that sleeps between values", function()
            local t0 = now()
            local gen = coroutine.wrap(function()
                for i = 1, 3 do
                    lnet.sleep(0.05)
                    coroutine.yield(i)
                end
                return "done"
            end)
            assert.are.equal(1, gen())
            assert.is_true(now() - t0 >= 0.05)
            assert.are.equal(2, gen())
            assert.are.equal(3, gen())
            assert.are.equal("done", gen())
            assert.is_true(now() - t0 >= 0.15)
        end)

        it("an iterator that reads a conn, while other tasks run; two coroutines deep", function()
            local c, s = support.pair()
            local feeder = go(function()
                for i = 1, 3 do
                    lnet.sleep(0.02)
                    s:write("line" .. i .. "\n")
                end
                s:close()
            end)
            local ticks = 0
            local ticker = go(function()
                while lnet.sleep(0.005) and ticks < 1000 do
                    ticks = ticks + 1
                end
            end)
            local function lines(conn)
                return coroutine.wrap(function()
                    local inner = coroutine.create(function()
                        while true do
                            local data = conn:read(100)
                            if data == nil then
                                return
                            end
                            coroutine.yield(data)
                        end
                    end)
                    while true do
                        local ok, data = coroutine.resume(inner)
                        assert(ok, data)
                        if data == nil then
                            return
                        end
                        for line in data:gmatch("[^\n]+") do
                            coroutine.yield(line)
                        end
                    end
                end)
            end
            local got = {}
            for line in lines(c) do
                got[#got + 1] = line
            end
            assert.are.same({ "line1", "line2", "line3" }, got)
            assert.is_true(ticks > 0, "the loop did not turn while the iterator waited")
            ticker:cancel()
            ticker:join()
            feeder:join()
            c:close()
        end)

        it("a cancel of the task and a ctx reach a wait inside a coroutine", function()
            local t = go(function()
                local co = coroutine.wrap(function()
                    return lnet.sleep(5)
                end)
                return co()
            end)
            lnet.sleep(0.01)
            t:cancel()
            local ok, err = t:join()
            assert.is_nil(ok)
            assert.is_true(errors.is(err, context.Canceled))
            local ctx = context.with_timeout(context.background(), 0.02)
            local ch = lnet.channel()
            local v, okr, rerr = coroutine.wrap(function()
                return ch:recv(ctx)
            end)()
            assert.is_nil(v)
            assert.is_false(okr)
            assert.are.equal(context.DeadlineExceeded, rerr)
        end)

        it("in a coroutine that lnet's resume did not resume, the call raises instead of returning early", function()
            local co = coroutine.create(function()
                local inner = coroutine.create(function()
                    return lnet.sleep(0.01)
                end)
                return sched.std_resume(inner)
            end)
            local ok, err = coroutine.resume(co)
            assert.is_true(ok)
            assert.is_false(err) -- the inner resume failed: its error is next
            local _, msg = coroutine.resume(coroutine.create(function()
                local inner = coroutine.create(function()
                    return lnet.sleep(0.01)
                end)
                return select(2, sched.std_resume(inner))
            end))
            assert.is_truthy(tostring(msg):find("blocking call in a coroutine", 1, true), tostring(msg))
        end)
    end)

    it("5: deadlock detection once a read parked and completed: the idle watcher holds no loop reference", function()
        local code, _, err = child([[
            local lnet = require "lnet"
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local c = assert(lnet.dial("tcp", tostring(ln:addr())))
            local s = assert(ln:accept())
            lnet.go(function() lnet.sleep(0.02); c:write("x") end)
            assert(s:read(10) == "x") -- parked, then completed
            lnet.channel():recv()     -- nothing can wake this
        ]], 5)
        assert.are.equal(1, code, err)
        assert.is_truthy(err:find("all tasks are asleep - deadlock!", 1, true), err)
    end)

    describe("6: a method on the wrong self raises, never crashes the host", function()
        local function bad_selves(kind_of_other)
            return { {}, "x", 1, kind_of_other }
        end

        it("conn, listener and packet conn methods", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local c, s = support.dial_accept(ln)
            local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
            local cases = {
                { c, "conn", { "read", "write", "close", "close_write", "close_read", "set_deadline",
                               "set_read_deadline", "set_write_deadline", "set_nodelay", "set_linger",
                               "set_read_buffer", "local_addr", "remote_addr" }, ln },
                { ln, "listener", { "accept", "close", "set_deadline", "addr" }, c },
                { pc, "packet conn", { "read", "read_from", "write_to", "write", "close", "set_deadline",
                                       "local_addr" }, ln },
            }
            for _, case in ipairs(cases) do
                local obj, what, methods, other = case[1], case[2], case[3], case[4]
                for _, m in ipairs(methods) do
                    for _, bad in ipairs(bad_selves(other)) do
                        local ok, err = pcall(obj[m], bad)
                        assert.is_false(ok, m)
                        local want = ("bad argument #1 to '%s' (%s expected, got %s)"):format(m, what, type(bad))
                        assert.is_truthy(tostring(err):find(want, 1, true), tostring(err))
                    end
                end
            end
            local ok, err = pcall(lnet.serve, {}, function() end)
            assert.is_false(ok)
            assert.is_truthy(err:find("bad argument #1 to 'serve' (listener expected, got table)", 1, true), err)
            c:close()
            s:close()
            ln:close()
            pc:close()
        end)

        it("pipe ends, processes and dialers", function()
            local p1, p2 = lnet.pipe()
            for _, m in ipairs({ "read", "write", "close", "set_deadline" }) do
                local ok, err = pcall(p1[m], {})
                assert.is_false(ok)
                assert.is_truthy(err:find("bad argument #1 to '" .. m .. "' (pipe expected, got table)", 1, true), err)
            end
            local ok, err = pcall(lnet.dialer({}).dial, "x", "tcp", "127.0.0.1:1")
            assert.is_false(ok)
            assert.is_truthy(err:find("(dialer expected, got string)", 1, true), err)
            p1:close()
            p2:close()
        end)
    end)

    describe("7: a non-context in the ctx slot raises at the call, whether or not it would wait", function()
        it("conn read and write, copy, accept, dial, sleep, join, channels, wait groups", function()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local c, s = support.dial_accept(ln)
            s:write("ready") -- so the read would complete at once
            lnet.sleep(0.01)
            local ch, wg = lnet.channel(1), lnet.wait_group()
            local t = go(function() end)
            local calls = {
                { "read", function(bad) return c:read(10, bad) end },
                { "write", function(bad) return c:write("x", bad) end },
                { "copy", function(bad) return lnet.copy(c, s, bad) end },
                { "accept", function(bad) return ln:accept(bad) end },
                { "dial", function(bad) return lnet.dialer({}):dial("tcp", tostring(ln:addr()), bad) end },
                { "sleep", function(bad) return lnet.sleep(0, bad) end },
                { "join", function(bad) return t:join(bad) end },
                { "send", function(bad) return ch:send(1, bad) end },
                { "recv", function(bad) return ch:recv(bad) end },
                { "wait", function(bad) return wg:wait(bad) end },
                { "done", function(bad) return context.background():done(bad) end },
            }
            for _, call in ipairs(calls) do
                for _, bad in ipairs({ "ctx", 1, {}, true }) do
                    local ok, err = pcall(call[2], bad)
                    assert.is_false(ok, call[1] .. " accepted " .. tostring(bad))
                    assert.is_truthy(tostring(err):find("to '" .. call[1] .. "' (context expected, got " .. type(bad) .. ")", 1, true),
                        tostring(err))
                end
            end
            assert.are.equal("ready", c:read(10)) -- nothing was consumed
            t:join()
            c:close()
            s:close()
            ln:close()
        end)

        it("packet conns, pipes, processes and signals", function()
            local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
            local p1, p2 = lnet.pipe()
            local proc = assert(lnet.process.spawn({ argv = { "true" } }))
            local calls = {
                { "read_from", function(bad) return pc:read_from(10, bad) end },
                { "write_to", function(bad) return pc:write_to("x", pc:local_addr(), bad) end },
                { "read", function(bad) return p1:read(10, bad) end },
                { "write", function(bad) return p2:write("x", bad) end },
                { "wait", function(bad) return proc:wait(bad) end },
                { "wait", function(bad) return lnet.signal.wait("SIGUSR2", bad) end },
            }
            for _, call in ipairs(calls) do
                local ok, err = pcall(call[2], "ctx")
                assert.is_false(ok)
                assert.is_truthy(tostring(err):find("to '" .. call[1] .. "' (context expected, got string)", 1, true),
                    tostring(err))
            end
            assert.are.equal(0, proc:wait())
            pc:close()
            p1:close()
            p2:close()
        end)
    end)

    describe("8: the smaller ones", function()
        it("write_to with an address of another kind is Go's OpError wrapping EINVAL, and sends nothing", function()
            local a = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
            local b = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local tcp_addr = ln:addr()
            local n, err = a:write_to("x", tcp_addr)
            assert.is_nil(n)
            assert.are.equal("OpError", getmetatable(err).name)
            assert.are.equal(lnet.errno.EINVAL, err.err)
            assert.are.equal("write udp " .. tostring(a:local_addr()) .. "->" .. tostring(tcp_addr)
                .. ": invalid argument", tostring(err))
            b:set_read_deadline(now() + 0.05)
            assert.is_nil((b:read_from()))
            a:close()
            b:close()
            ln:close()
        end)

        it("listen's backlog must be a whole number >= 0", function()
            for _, bad in ipairs({ "x", 0 / 0, -5, 1.5, true }) do
                local ok, err = pcall(lnet.listen, "tcp", "127.0.0.1:0", { backlog = bad })
                assert.is_false(ok, tostring(bad))
                assert.is_truthy(err:find("bad option 'backlog' to 'listen'", 1, true), err)
            end
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0", { backlog = 0 }))
            ln:close()
        end)

        it("wait_group:add takes whole numbers only", function()
            local wg = lnet.wait_group()
            for _, bad in ipairs({ 0.5, 1 / 0, 0 / 0 }) do
                local ok, err = pcall(wg.add, wg, bad)
                assert.is_false(ok)
                assert.is_truthy(err:find("bad argument #1 to 'add'", 1, true), err)
            end
            assert.are.equal(0, wg.count)
        end)

        it("signal.wait takes the real-time names it gives", function()
            local ffi = require "ffi"
            pcall(ffi.cdef, "int getpid(void); int kill(int pid, int sig);")
            local signals = require "lnet.signals"
            local waiter = go(lnet.signal.wait, "SIGRTMIN+2")
            lnet.sleep(0.01)
            ffi.C.kill(ffi.C.getpid(), signals.number("SIGRTMIN+2"))
            assert.are.equal("SIGRTMIN+2", waiter:join())
            assert.are.equal(signals.number("SIGRTMIN") + 2, signals.number("RTMIN+2"))
            assert.are.equal(signals.number("SIGRTMAX") - 1, signals.number("SIGRTMAX-1"))
            assert.is_nil(signals.number("SIGRTMIN+999"))
            assert.is_nil(signals.number("SIGRTMIN+"))
        end)

        it("serve's grace timer goes when serve returns: no timer is left to keep the run alive", function()
            local code, _, err = child([[
                local lnet = require "lnet"
                local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
                local ctx, cancel = lnet.context.with_cancel(lnet.context.background())
                lnet.go(function() lnet.sleep(0.02); cancel() end)
                assert(lnet.serve(ln, function() end, ctx, 30))
                lnet.channel():recv() -- a deadlock, seen at once unless a timer is left
            ]], 5)
            assert.are.equal(1, code, err)
            assert.is_truthy(err:find("all tasks are asleep - deadlock!", 1, true), err)
        end)
    end)

    -- Expected values from Go 1.19 (net.SplitHostPort, JoinHostPort, ParseCIDR), run by hand.
    describe("Go's address helpers", function()
        it("split_host_port is Go's SplitHostPort, errors and texts included", function()
            local cases = {
                { "1.2.3.4:80", "1.2.3.4", "80" },
                { "[::1]:80", "::1", "80" },
                { "host:", "host", "" },
                { ":80", "", "80" },
                { "1.2.3.4", nil, "address 1.2.3.4: missing port in address" },
                { "::1:80", nil, "address ::1:80: too many colons in address" },
                { "[::1]", nil, "address [::1]: missing port in address" },
            }
            for _, c in ipairs(cases) do
                local host, port = lnet.split_host_port(c[1])
                if c[2] ~= nil then
                    assert.are.same({ c[2], c[3] }, { host, port }, c[1])
                else
                    assert.is_nil(host, c[1])
                    assert.are.equal("AddrError", getmetatable(port).name)
                    assert.are.equal(c[3], tostring(port))
                end
            end
            assert.has_error(function()
                lnet.split_host_port(80)
            end, "bad argument #1 to 'split_host_port' (string expected, got number)")
        end)

        it("join_host_port is Go's JoinHostPort; the port may be a number", function()
            assert.are.equal("[::1]:80", lnet.join_host_port("::1", "80"))
            assert.are.equal("a.b:http", lnet.join_host_port("a.b", "http"))
            assert.are.equal("[fe80::1%eth0]:1", lnet.join_host_port("fe80::1%eth0", 1))
            assert.has_error(function()
                lnet.join_host_port("h", {})
            end, "bad argument #2 to 'join_host_port' (string or number expected, got table)")
        end)

        it("parse_cidr is Go's ParseCIDR: the IP as written and its network, or invalid CIDR address", function()
            local good = {
                { "192.0.2.1/24", "192.0.2.1", "192.0.2.0/24" },
                { "1.2.3.4/024", "1.2.3.4", "1.2.3.0/24" },
                { "::1/128", "::1", "::1/128" },
                { "2001:db8::/32", "2001:db8::", "2001:db8::/32" },
                { "::ffff:1.2.3.4/120", "1.2.3.4", "1.2.3.0/24" },
            }
            for _, c in ipairs(good) do
                local ip, net = lnet.parse_cidr(c[1])
                assert.are.equal(c[2], tostring(ip), c[1])
                assert.are.equal(c[3], tostring(net), c[1])
                assert.is_true(net:contains(ip), c[1])
            end
            for _, bad in ipairs({ "1.2.3.4", "1.2.3.4/33", "fe80::1%eth0/64", "1.2.3.4/", "1.2.3.4/-1",
                                   "1.2.3.4/8/9", " 1.2.3.4/8", "1.2.3.4/+8" }) do
                local ip, err = lnet.parse_cidr(bad)
                assert.is_nil(ip, bad)
                assert.are.equal("ParseError", getmetatable(err).name)
                assert.are.equal("invalid CIDR address: " .. bad, tostring(err))
            end
        end)
    end)
end)
