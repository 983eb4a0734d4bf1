-- lnet.serve with a ctx and a grace ctx (issue 3, item 6): a graceful
-- shutdown that loses no request in flight, grace expiry, and the host's
-- own graceful path (scripts/echo.lua on SIGTERM).

local lnet = require "lnet"
local sched = require "lnet.sched"

local context, errors, errno = lnet.context, lnet.errors, lnet.errno
local bg = context.background()
local Canceled, DeadlineExceeded = context.Canceled, context.DeadlineExceeded

local support = require "support"
local host, pack = support.host, support.pack

-- Fixed-size requests, each answered by one reply of the same size.
local REQ = 16
local function request(client, seq)
    return ("q%04d:%09d\n"):format(client, seq)
end
local function reply_of(req)
    return "R" .. req:sub(2)
end

-- The server's handler: reads requests with the serve ctx (so an idle conn
-- learns of the shutdown), answers each one it read without a ctx (so a
-- reply is never cut short), and counts both.
local function make_handler(stats)
    return function(c, ctx)
        stats.handlers = stats.handlers + 1
        local buf = ""
        while true do
            local data = c:read(4096, ctx)
            if data == nil then
                return
            end
            buf = buf .. data
            while #buf >= REQ do
                local req = buf:sub(1, REQ)
                buf = buf:sub(REQ + 1)
                assert(req:match("^q%d%d%d%d:%d+\n$"), req)
                stats.read = stats.read + 1
                local reply = reply_of(req)
                if c:write(reply) ~= #reply then
                    return
                end
                stats.written = stats.written + 1
            end
        end
    end
end

-- A client: request, reply, in lock step, on a fresh conn every 20
-- requests, until the server is gone. Returns the error that ended it.
local function run_client(id, addr, stats)
    local seq = 0
    for _ = 1, 100000 do
        local c, err = lnet.dial("tcp", addr)
        if c == nil then
            return err
        end
        for _ = 1, 20 do
            seq = seq + 1
            local req = request(id, seq)
            local n, werr = c:write(req)
            if n ~= #req then
                c:close()
                return werr
            end
            local got = ""
            while #got < REQ do
                local d, rerr = c:read(REQ - #got)
                if d == nil then
                    c:close()
                    return rerr
                end
                got = got .. d
            end
            assert(got == reply_of(req), "wrong reply " .. got .. " to " .. req)
            stats.received = stats.received + 1
        end
        c:close()
    end
    error("client " .. id .. " never saw the server go")
end

-- How a client may end once the server shuts down.
local function expected_end(err)
    return err == lnet.EOF or errors.is(err, errno.ECONNRESET) or errors.is(err, errno.ECONNREFUSED)
end

describe("lnet.serve with a ctx", function()
    it("shuts down gracefully under load: every request read is answered and counted", function()
        local N = 32
        for round = 1, 3 do
            local live_before = sched.live_tasks()
            local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
            local addr = tostring(ln:addr())
            local ctx, cancel = context.with_cancel(bg)
            local grace, cancel_grace = context.with_timeout(bg, 5)
            local stats = { read = 0, written = 0, handlers = 0 }
            local server = lnet.go(function()
                return lnet.serve(ln, make_handler(stats), ctx, grace)
            end)
            local cstats = { received = 0 }
            local clients = {}
            for i = 1, N do
                clients[i] = lnet.go(run_client, i, addr, cstats)
            end
            lnet.sleep(0.1 + 0.05 * round)
            local read_at_cancel = stats.read
            cancel()
            local r = pack(server:join())
            cancel_grace()
            assert.are.same(pack(true), r)
            -- serve waited for its handlers: nothing is answered after it returns
            local read_after_serve = stats.read
            local ends = {}
            for i = 1, N do
                local err = clients[i]:join()
                assert.is_true(expected_end(err), "client " .. i .. " ended with " .. tostring(err))
                ends[#ends + 1] = tostring(err)
            end
            assert.are.equal(read_after_serve, stats.read)
            -- the load was real, and the cancel came in the middle of it
            assert.is_true(read_at_cancel >= 50, "only " .. read_at_cancel .. " requests before the cancel")
            assert.is_true(stats.handlers > N, "clients did not reconnect")
            -- every request the server read was answered, and every reply arrived
            assert.are.equal(stats.read, stats.written)
            assert.are.equal(stats.written, cstats.received)
            -- nothing left behind: the listener is closed, no task runs on
            local c, err = lnet.dial("tcp", addr)
            assert.is_nil(c)
            assert.is_true(errors.is(err, errno.ECONNREFUSED), tostring(err))
            assert.are.equal(live_before, sched.live_tasks())
        end
    end)

    it("stops accepting at once: the listener is closed in the cancel's turn", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local addr = tostring(ln:addr())
        local ctx, cancel = context.with_cancel(bg)
        local server = lnet.go(function()
            return lnet.serve(ln, function() end, ctx)
        end)
        lnet.sleep(0.01)
        local t0 = lnet.now()
        cancel()
        assert.is_true(server:join())
        assert.is_true(lnet.now() - t0 < 0.05)
        local c, err = lnet.dial("tcp", addr)
        assert.is_nil(c)
        assert.is_true(errors.is(err, errno.ECONNREFUSED), tostring(err))
        -- a second close is the ordinary ErrClosed: serve closed it
        local ok, cerr = ln:close()
        assert.is_nil(ok)
        assert.is_true(errors.is(cerr, lnet.ErrClosed))
    end)

    it("waits for a handler still working, which finishes its reply", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ctx, cancel = context.with_cancel(bg)
        local got_request = lnet.channel(1)
        local server = lnet.go(function()
            return lnet.serve(ln, function(c, hctx)
                assert.are.equal(ctx, hctx) -- the handler gets serve's ctx
                local req = assert(c:read(64, hctx))
                got_request:send(req)
                lnet.sleep(0.1) -- work that ignores the shutdown
                assert.are.equal(#req, c:write(req:upper()))
            end, ctx, context.with_timeout(bg, 5))
        end)
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        assert.are.equal(5, c:write("hello"))
        assert.are.equal("hello", got_request:recv())
        local t0 = lnet.now()
        cancel()
        assert.is_true(server:join())
        local took = lnet.now() - t0
        assert.is_true(took >= 0.09 and took < 1, "serve returned after " .. took)
        assert.are.equal("HELLO", c:read(64))
        assert.are.same(pack(nil, lnet.EOF), pack(c:read(64)))
        c:close()
    end)

    it("a grace in seconds counts from the shutdown, not from the call", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ctx, cancel = context.with_cancel(bg)
        local started = lnet.channel(1)
        local server = lnet.go(function()
            return lnet.serve(ln, function(c)
                started:send(true)
                c:read(64) -- ignores the ctx: only the grace's end stops it
            end, ctx, 0.1)
        end)
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        started:recv()
        lnet.sleep(0.15) -- longer than the grace: it has not started yet
        local t0 = lnet.now()
        cancel()
        local ok, err = server:join()
        local took = lnet.now() - t0
        assert.is_nil(ok)
        assert.is_true(errors.is(err, DeadlineExceeded), tostring(err))
        assert.is_true(took >= 0.1 and took < 1, "serve returned after " .. took .. " s")
        c:close()
    end)

    it("when the grace ends, stuck handlers are cancelled and serve returns nil, DeadlineExceeded", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ctx, cancel = context.with_cancel(bg)
        local grace = context.with_deadline(bg, lnet.now() + 0.2)
        local started = lnet.channel(2)
        local handler_errs = {}
        local server = lnet.go(function()
            return lnet.serve(ln, function(c)
                started:send(true)
                -- ignores the ctx: only the grace's end stops it
                local d, err = c:read(64)
                handler_errs[#handler_errs + 1] = err
                assert.is_nil(d)
            end, ctx, grace)
        end)
        local c1 = assert(lnet.dial("tcp", tostring(ln:addr())))
        local c2 = assert(lnet.dial("tcp", tostring(ln:addr())))
        started:recv()
        started:recv()
        cancel()
        local ok, err = server:join()
        local late = lnet.now() - grace:deadline()
        assert.is_nil(ok)
        assert.is_true(errors.is(err, DeadlineExceeded), tostring(err))
        assert.is_true(err:timeout())
        assert.is_true(late >= -0.005 and late < 0.05, "serve returned " .. late .. " s after the grace")
        -- the handlers were cancelled (task cancel: their reads fail with Canceled)
        assert.are.equal(2, #handler_errs)
        for _, herr in ipairs(handler_errs) do
            assert.is_true(errors.is(herr, Canceled), tostring(herr))
        end
        -- and their conns closed
        for _, c in ipairs({ c1, c2 }) do
            local d, rerr = c:read(64)
            assert.is_nil(d)
            assert.is_true(rerr == lnet.EOF or errors.is(rerr, errno.ECONNRESET), tostring(rerr))
            c:close()
        end
    end)

    it("a grace ctx cancelled by hand ends the wait the same way, with its error", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ctx, cancel = context.with_cancel(bg)
        local grace, end_grace = context.with_cancel(bg)
        local started = lnet.channel(1)
        local server = lnet.go(function()
            return lnet.serve(ln, function(c)
                started:send(true)
                c:read(64)
            end, ctx, grace)
        end)
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        started:recv()
        cancel()
        lnet.sleep(0.05)
        assert.are.equal("running", server.status) -- still waiting for the handler
        end_grace()
        assert.are.same(pack(nil, Canceled), pack(server:join()))
        c:close()
    end)

    it("without a grace ctx, serve waits for the handlers as long as they run", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local ctx, cancel = context.with_cancel(bg)
        local started = lnet.channel(1)
        local server = lnet.go(function()
            return lnet.serve(ln, function(c)
                started:send(true)
                lnet.sleep(0.15)
                c:write("done")
            end, ctx)
        end)
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        started:recv()
        local t0 = lnet.now()
        cancel()
        assert.is_true(server:join())
        assert.is_true(lnet.now() - t0 >= 0.14)
        assert.are.equal("done", c:read(64))
        c:close()
    end)
end)

-- The first line c gives, at most 5 s.
local function read_line(c)
    local ctx, cancel = context.with_timeout(bg, 5)
    local line = ""
    while not line:find("\n", 1, true) do
        line = line .. assert(c:read(256, ctx))
    end
    cancel()
    return line
end

describe("the host's graceful shutdown", function()
    it("scripts/echo.lua on SIGTERM: idle conns get EOF, new dials are refused, exit 0 at once", function()
        local proc = assert(lnet.process.spawn({
            argv = { host, "scripts/echo.lua", "127.0.0.1:0" },
            stdout = "pipe",
            stderr = "inherit",
        }))
        local line = read_line(proc.stdout)
        local addr = assert(line:match("^listening (%S+)\n$"), line)
        local conns = {}
        for i = 1, 3 do
            local c = assert(lnet.dial("tcp", addr))
            local msg = "hello " .. i
            assert.are.equal(#msg, c:write(msg))
            assert.are.equal(msg, c:read(64))
            conns[i] = c
        end
        local t0 = lnet.now()
        assert.is_true(proc:kill("SIGTERM"))
        -- idle conns learn of the shutdown through their reads' ctx: far
        -- sooner than the script's 5 s grace
        local wctx, wcancel = context.with_timeout(bg, 5)
        for i = 1, 3 do
            assert.are.same(pack(nil, lnet.EOF), pack(conns[i]:read(64, wctx)))
            conns[i]:close()
        end
        assert.are.equal(0, proc:wait(wctx))
        assert.is_true(lnet.now() - t0 < 1, "the echo server took " .. (lnet.now() - t0) .. " s")
        wcancel()
        assert.are.same(pack(nil, lnet.EOF), pack(proc.stdout:read(64)))
        proc.stdout:close()
        local c, err = lnet.dial("tcp", addr)
        assert.is_nil(c)
        assert.is_true(errors.is(err, errno.ECONNREFUSED), tostring(err))
    end)

    it("scripts/udp_echo.lua echoes, and SIGTERM ends it with exit 0", function()
        local proc = assert(lnet.process.spawn({
            argv = { host, "scripts/udp_echo.lua", "127.0.0.1:0" },
            stdout = "pipe",
            stderr = "inherit",
        }))
        local addr = assert(read_line(proc.stdout):match("^listening (%S+)\n$"))
        proc.stdout:close()
        local u = assert(lnet.dial("udp", addr))
        assert.are.equal(4, u:write("ping"))
        u:set_read_deadline(lnet.now() + 5)
        assert.are.equal("ping", u:read())
        u:close()
        assert.is_true(proc:kill("SIGTERM"))
        local ctx, cancel = context.with_timeout(bg, 5)
        assert.are.equal(0, proc:wait(ctx))
        cancel()
    end)

    for _, mode in ipairs({ "copy", "--rw" }) do
        it("scripts/echo.lua " .. mode .. " on SIGTERM mid-stream: all it read comes back, then EOF, no reset", function()
            local argv = { host, "scripts/echo.lua", "127.0.0.1:0" }
            if mode ~= "copy" then
                argv[#argv + 1] = mode
            end
            local proc = assert(lnet.process.spawn({ argv = argv, stdout = "pipe", stderr = "inherit" }))
            local addr = assert(read_line(proc.stdout):match("^listening (%S+)\n$"))
            proc.stdout:close()
            local c = assert(lnet.dial("tcp", addr))
            local data = support.pattern(8 * support.MiB)
            local writer = lnet.go(function()
                local n = c:write(data) -- nobody reads the echo yet: the server blocks writing
                c:close_write()
                return n
            end)
            lnet.sleep(0.3)
            assert.is_true(proc:kill("SIGTERM"))
            lnet.sleep(0.3)
            local got, rerr = support.read_all(c)
            assert.is_true(rawequal(rerr, lnet.EOF), tostring(rerr))
            assert.is_true(#got > 0)
            assert.is_true(got == data:sub(1, #got), "the echo differs from what was sent")
            assert.are.equal(#data, writer:join())
            assert.are.equal(0, proc:wait())
            c:close()
        end)
    end
end)
