-- Conn conformance: a port of golang.org/x/net/nettest's TestConn
-- (nettest/conntest.go), run against every stream transport lnet has.
--
-- A transport is a make_pipe() -> c1, c2, stop (or nil, err): whatever is
-- written to c1 is read from c2 and the other way round; stop closes c1, c2
-- and whatever else the pipe holds (listener, socket file), and may be called
-- twice. Each case is Go's, check for check; Go's helpers (testRoundtrip,
-- checkForTimeoutError, resyncConn, chunkedCopy, timeoutWrapper) are the
-- local functions below. Go's "t.Errorf in a goroutine" is an assertion in a
-- task of the case's scope, whose failure the case re-raises once its tasks
-- are joined. Where Go's loop is "until an error" ours is bounded, so a
-- broken conn fails the case instead of hanging the loop.

local ffi = require "ffi"
local bit = require "bit"
local lnet = require "lnet"

local errors = lnet.errors
local bxor, band, lshift, rshift = bit.bxor, bit.band, bit.lshift, bit.rshift
local concat, floor, char = table.concat, math.floor, string.char

-- Go's aLongTimeAgo: any time before now; deadlines are lnet.now() seconds.
local A_LONG_TIME_AGO = 1
-- Go's neverTimeout (the zero time): nil clears a deadline.
local NEVER_TIMEOUT = nil
-- Go's timeoutWrapper gives a case a minute; busted's helper gives an `it` 10 s.
local CASE_LIMIT = 5
-- The bound on Go's "until it fails" loops: far more operations than the
-- socket buffers of any transport can absorb before the case's event.
local MAX_OPS = 1000000
local CHUNK = 1024

local function ms(n)
    return n / 1000
end

local function zeros(n)
    return ("\0"):rep(n)
end

---------------------------------------------------------------------------
-- Readers and writers that are not conns (Go's rand.Rand, bytes.Reader,
-- bytes.Buffer, ioutil.Discard): same read/write contract as a conn.

-- A deterministic xorshift32 byte stream (Go seeds math/rand with 0).
local function rand_bytes(state, n)
    local buf = ffi.new("uint8_t[?]", n)
    for i = 0, n - 1 do
        state = bxor(state, lshift(state, 13))
        state = bxor(state, rshift(state, 17))
        state = bxor(state, lshift(state, 5))
        buf[i] = band(state, 0xff)
    end
    return ffi.string(buf, n), state
end

-- An endless reader of random bytes.
local function rand_reader()
    local state = 0x2545F491
    return {
        read = function(_, max)
            local s
            s, state = rand_bytes(state, max)
            return s
        end,
    }
end

-- bytes.NewReader(s).
local function string_reader(s)
    local pos = 1
    return {
        read = function(_, max)
            if pos > #s then
                return nil, lnet.EOF
            end
            local chunk = s:sub(pos, pos + max - 1)
            pos = pos + #chunk
            return chunk
        end,
    }
end

-- new(bytes.Buffer): write appends; :bytes() is everything written.
local function buffer_writer()
    local parts = {}
    return {
        write = function(_, s)
            parts[#parts + 1] = s
            return #s
        end,
        bytes = function()
            return concat(parts)
        end,
    }
end

-- ioutil.Discard.
local discard = {
    write = function(_, s)
        return #s
    end,
}

---------------------------------------------------------------------------
-- Go's helpers.

-- chunkedCopy(w, r): copies in 1024-byte chunks until r's EOF (nil: success)
-- or an error, which it returns.
local function chunked_copy(w, r)
    while true do
        local data, rerr = r:read(CHUNK)
        if data == nil then
            if rerr == lnet.EOF then
                return nil
            end
            return rerr
        end
        local n, werr = w:write(data)
        if werr ~= nil then
            return werr
        elseif n ~= #data then
            return "short write"
        end
    end
end

-- io.ReadFull(c, n): exactly n bytes, or nil and EOF (nothing read) or an
-- error ("unexpected EOF" when the stream ended part way).
local function read_full(c, n)
    local parts, got = {}, 0
    while got < n do
        local data, err = c:read(n - got)
        if data == nil then
            if err == lnet.EOF and got > 0 then
                err = "unexpected EOF"
            end
            return nil, err
        end
        assert.is_true(#data >= 1 and #data <= n - got,
            ("read(%d) returned %d bytes"):format(n - got, #data))
        parts[#parts + 1] = data
        got = got + #data
    end
    return concat(parts)
end

-- checkForTimeoutError: err is an lnet error that says it is a timeout.
local function check_for_timeout_error(err, what)
    what = what or "error"
    assert.is_true(errors.is_error(err), ("%s: got %s, want an lnet error"):format(what, tostring(err)))
    assert.is_true(err:timeout(), ("%s: %s: timeout() = false, want true"):format(what, tostring(err)))
    assert.is_true(errors.is(err, lnet.ErrDeadlineExceeded),
        ("%s: %s: errors.is(err, ErrDeadlineExceeded) = false"):format(what, tostring(err)))
end

-- testRoundtrip: writes into c and reads it back; whatever is written into
-- c must be echoed back to it.
local function test_roundtrip(c)
    local ok, err = c:set_deadline(NEVER_TIMEOUT)
    assert.is_true(ok, "roundtrip set_deadline error: " .. tostring(err))
    local s = "Hello, world!"
    local n, werr = c:write(s)
    assert.is_nil(werr, "roundtrip write error: " .. tostring(werr))
    assert.are.equal(#s, n)
    local got, rerr = read_full(c, #s)
    assert.is_nil(rerr, "roundtrip read error: " .. tostring(rerr))
    assert.are.equal(s, got)
end

-- resyncConn: brings c back to a sane state: writes one 0xff and reads until
-- a read ends with it (0xff is nowhere else on the wire). c must be echoed.
local function resync_conn(s, c)
    c:set_deadline(NEVER_TIMEOUT)
    local writer = s:go(function()
        local n, err = c:write("\255")
        assert.is_nil(err, "unexpected write error: " .. tostring(err))
        assert.are.equal(1, n)
    end)
    local synced = false
    for _ = 1, MAX_OPS do
        local data, err = c:read(CHUNK)
        assert.is_not_nil(data, "unexpected read error: " .. tostring(err))
        if data:find("\255", 1, true) == #data then
            synced = true
            break
        end
    end
    assert.is_true(synced, "resync: 0xff never came back")
    s:join(writer)
end

---------------------------------------------------------------------------
-- Task scopes: Go's goroutines plus t.Errorf. go() starts a checked task
-- (its failure fails the case), bg() a background one (Go's bare `go
-- chunkedCopy(...)`: its result is ignored, only a raise fails the case).
-- The wrapper joins every task of the scope after stop().

local Scope = {}
Scope.__index = Scope

local function new_scope()
    return setmetatable({ entries = {} }, Scope)
end

local function spawn(self, checked, fn, ...)
    local t = lnet.go(fn, ...)
    self.entries[#self.entries + 1] = { task = t, checked = checked }
    return t
end

function Scope:go(fn, ...)
    return spawn(self, true, fn, ...)
end

function Scope:bg(fn, ...)
    return spawn(self, false, function(...)
        fn(...)
    end, ...)
end

-- Joins one entry; keeps the first failure.
local function join_entry(self, e)
    if e.joined then
        return
    end
    e.joined = true
    local _, err = e.task:join()
    if err ~= nil and errors.as(err, "TaskError") ~= nil and self.failure == nil then
        self.failure = err
    end
end

-- Raises what a task raised, keeping luassert's error values intact.
local rethrow = require("lnet.busted").rethrow

-- join(task): waits for one task of the scope; raises if it failed.
function Scope:join(t)
    for _, e in ipairs(self.entries) do
        if e.task == t then
            join_entry(self, e)
        end
    end
    if self.failure ~= nil then
        rethrow(self.failure)
    end
end

-- wait(): Go's wg.Wait() over every checked task so far; raises the first failure.
function Scope:wait()
    for _, e in ipairs(self.entries) do
        if e.checked then
            join_entry(self, e)
        end
    end
    if self.failure ~= nil then
        rethrow(self.failure)
    end
end

-- Joins everything, background tasks included; returns the first failure.
function Scope:join_all()
    local i = 1
    while i <= #self.entries do
        join_entry(self, self.entries[i])
        i = i + 1
    end
    return self.failure
end

local function keep_error(e)
    if type(e) == "string" then
        return debug.traceback(e, 2)
    end
    return e
end

-- timeoutWrapper: makes a pipe, runs the case, stops the pipe (also when the
-- case overruns CASE_LIMIT), and joins every task the case started.
local function run_case(tr, case)
    local c1, c2, stop = tr.make_pipe()
    assert(c1 ~= nil, "unable to make pipe: " .. tostring(c2))
    local stopped, timed_out = false, false
    local function stop_once()
        if not stopped then
            stopped = true
            stop()
        end
    end
    local watchdog = lnet.go(function()
        if lnet.sleep(CASE_LIMIT) then
            timed_out = true
            stop_once()
        end
    end)
    local s = new_scope()
    s.closed_err = tr.closed_err or lnet.ErrClosed
    local ok, err = xpcall(case, keep_error, c1, c2, s)
    stop_once()
    watchdog:cancel()
    watchdog:join()
    local failure = s:join_all()
    if timed_out then
        error(("test timed out after %gs; terminating pipe"):format(CASE_LIMIT), 0)
    end
    if not ok then
        error(err, 0)
    end
    if failure ~= nil then
        rethrow(failure)
    end
end

---------------------------------------------------------------------------
-- The cases, in conntest.go's order.

local cases = {}

-- BasicIO: the data sent on c1 is received on c2.
cases[#cases + 1] = { "BasicIO", function(c1, c2, s)
    local want = rand_bytes(0x2545F491, 1024 * 1024)
    local data_ch = lnet.channel()
    s:go(function()
        local err = chunked_copy(c1, string_reader(want))
        assert.is_nil(err, "unexpected c1 write error: " .. tostring(err))
        local ok, cerr = c1:close()
        assert.is_true(ok, "unexpected c1 close error: " .. tostring(cerr))
    end)
    s:go(function()
        local wr = buffer_writer()
        local err = chunked_copy(wr, c2)
        local ok, cerr = c2:close()
        data_ch:send(wr:bytes())
        assert.is_nil(err, "unexpected c2 read error: " .. tostring(err))
        assert.is_true(ok, "unexpected c2 close error: " .. tostring(cerr))
    end)
    local got = data_ch:recv()
    assert.are.equal(#want, #got)
    assert.is_true(got == want, "transmitted data differs")
    s:wait()
end }

local function put_u64(v)
    local b = {}
    for i = 1, 8 do
        b[i] = char(v % 256)
        v = floor(v / 256)
    end
    return concat(b)
end

local function get_u64(p)
    local v = 0
    for i = 8, 1, -1 do
        v = v * 256 + p:byte(i)
    end
    return v
end

-- PingPong: the two ends send to each other in request-response lockstep.
cases[#cases + 1] = { "PingPong", function(c1, c2, s)
    -- Returns the last value it read; 1000 for the end that stops the chain.
    local function ping_ponger(c)
        local prev = 0
        for _ = 1, 1001 do
            local p, err = read_full(c, 8)
            if p == nil then
                assert.are.equal(lnet.EOF, err, "unexpected read error: " .. tostring(err))
                break
            end
            local v = get_u64(p)
            if prev ~= 0 and prev + 2 ~= v then
                error(("mismatching value: got %d, want %d"):format(v, prev + 2))
            end
            prev = v
            if v == 1000 then
                break
            end
            local n, werr = c:write(put_u64(v + 1))
            assert.is_nil(werr, "unexpected write error: " .. tostring(werr))
            assert.are.equal(8, n)
        end
        local ok, cerr = c:close()
        assert.is_true(ok, "unexpected close error: " .. tostring(cerr))
        return prev
    end
    local t1 = s:go(ping_ponger, c1)
    local t2 = s:go(ping_ponger, c2)
    -- Start off the chain reaction.
    local n, err = c1:write(zeros(8))
    assert.is_nil(err, "unexpected c1 write error: " .. tostring(err))
    assert.are.equal(8, n)
    s:wait()
    -- c2 reads the even values and stops at 1000; c1 then reads EOF after 999.
    assert.are.equal(999, (t1:join()))
    assert.are.equal(1000, (t2:join()))
end }

-- RacyRead: ten readers on one conn, racing a 1 ms read deadline that each
-- renews when it fires. Each read returns 1..1024 bytes or a timeout.
cases[#cases + 1] = { "RacyRead", function(c1, c2, s)
    s:bg(chunked_copy, c2, rand_reader())
    c1:set_read_deadline(lnet.now() + ms(1))
    for _ = 1, 10 do
        s:go(function()
            for _ = 1, 100 do
                local data, err = c1:read(CHUNK)
                if data ~= nil then
                    assert.is_true(#data >= 1 and #data <= CHUNK, "read returned " .. #data .. " bytes")
                else
                    check_for_timeout_error(err, "read")
                    c1:set_read_deadline(lnet.now() + ms(1))
                end
            end
        end)
    end
    s:wait()
end }

-- RacyWrite: ten writers on one conn, racing a 1 ms write deadline that each
-- renews when it fires. Each write returns 1024, or n < 1024 and a timeout.
cases[#cases + 1] = { "RacyWrite", function(c1, c2, s)
    s:bg(chunked_copy, discard, c2)
    c1:set_write_deadline(lnet.now() + ms(1))
    local b = zeros(CHUNK)
    for _ = 1, 10 do
        s:go(function()
            for _ = 1, 100 do
                local n, err = c1:write(b)
                if err ~= nil then
                    check_for_timeout_error(err, "write")
                    assert.is_true(n >= 0 and n < CHUNK, "failed write reported " .. tostring(n) .. " bytes")
                    c1:set_write_deadline(lnet.now() + ms(1))
                else
                    assert.are.equal(CHUNK, n)
                end
            end
        end)
    end
    s:wait()
end }

-- ReadTimeout: a read timeout does not affect writes.
cases[#cases + 1] = { "ReadTimeout", function(c1, c2, s)
    s:bg(chunked_copy, discard, c2)
    c1:set_read_deadline(A_LONG_TIME_AGO)
    local data, err = c1:read(CHUNK)
    assert.is_nil(data)
    check_for_timeout_error(err, "read")
    local n, werr = c1:write(zeros(CHUNK))
    assert.is_nil(werr, "unexpected write error: " .. tostring(werr))
    assert.are.equal(CHUNK, n)
end }

-- WriteTimeout: a write timeout does not affect reads.
cases[#cases + 1] = { "WriteTimeout", function(c1, c2, s)
    s:bg(chunked_copy, c2, rand_reader())
    c1:set_write_deadline(A_LONG_TIME_AGO)
    local _, err = c1:write(zeros(CHUNK))
    check_for_timeout_error(err, "write")
    local data, rerr = c1:read(CHUNK)
    assert.is_not_nil(data, "unexpected read error: " .. tostring(rerr))
    assert.is_true(#data >= 1 and #data <= CHUNK)
end }

-- PastTimeout: a deadline in the past times out reads and writes at once,
-- having moved no bytes, and clearing it makes the conn work again.
cases[#cases + 1] = { "PastTimeout", function(c1, c2, s)
    s:bg(chunked_copy, c2, c2)
    test_roundtrip(c1)

    c1:set_deadline(A_LONG_TIME_AGO)
    local n, err = c1:write(zeros(CHUNK))
    assert.are.equal(0, n, "unexpected write count")
    check_for_timeout_error(err, "write")
    local data, rerr = c1:read(CHUNK)
    assert.is_nil(data, "unexpected read data")
    check_for_timeout_error(rerr, "read")

    test_roundtrip(c1)
end }

-- PresentTimeout: a past deadline set while a read and a write are pending
-- times them out at once (and not before it is set).
cases[#cases + 1] = { "PresentTimeout", function(c1, c2, s)
    local deadline_set = false
    s:go(function()
        lnet.sleep(ms(100))
        deadline_set = true
        c1:set_read_deadline(A_LONG_TIME_AGO)
        c1:set_write_deadline(A_LONG_TIME_AGO)
    end)
    s:go(function()
        local data, err = c1:read(CHUNK)
        assert.is_nil(data, "unexpected read data")
        check_for_timeout_error(err, "read")
        assert.is_true(deadline_set, "read timed out before deadline is set")
    end)
    s:go(function()
        local b = zeros(CHUNK)
        local err
        for _ = 1, MAX_OPS do
            _, err = c1:write(b)
            if err ~= nil then
                break
            end
        end
        check_for_timeout_error(err, "write")
        assert.is_true(deadline_set, "write timed out before deadline is set")
    end)
    s:wait()
end }

-- FutureTimeout: a deadline in the future eventually times out a read and a
-- write; after clearing it the conn resyncs and round-trips.
cases[#cases + 1] = { "FutureTimeout", function(c1, c2, s)
    c1:set_deadline(lnet.now() + ms(100))
    s:go(function()
        local _, err = c1:read(CHUNK)
        check_for_timeout_error(err, "read")
    end)
    s:go(function()
        local b = zeros(CHUNK)
        local err
        for _ = 1, MAX_OPS do
            _, err = c1:write(b)
            if err ~= nil then
                break
            end
        end
        check_for_timeout_error(err, "write")
    end)
    s:wait()

    s:bg(chunked_copy, c2, c2)
    resync_conn(s, c1)
    test_roundtrip(c1)
end }

-- CloseTimeout: close ends a pending read and write at once. (Go only needs
-- them to end; the contract says with ErrClosed (a pipe: io.ErrClosedPipe,
-- as Go's net.Pipe), and close itself succeeds, so those are checked too.)
cases[#cases + 1] = { "CloseTimeout", function(c1, c2, s)
    s:bg(chunked_copy, c2, c2)
    c1:set_deadline(NEVER_TIMEOUT)
    local closed = false
    s:go(function()
        lnet.sleep(ms(100))
        closed = true
        local ok, err = c1:close()
        assert.is_true(ok, "unexpected close error: " .. tostring(err))
    end)
    local function until_error(op)
        local b = zeros(CHUNK)
        return function()
            local err
            for _ = 1, MAX_OPS do
                if op == "read" then
                    _, err = c1:read(CHUNK)
                else
                    _, err = c1:write(b)
                end
                if err ~= nil then
                    break
                end
            end
            assert.is_not_nil(err, op .. " never failed")
            assert.is_true(closed, op .. " failed before close: " .. tostring(err))
            assert.is_true(errors.is(err, s.closed_err), op .. ": got " .. tostring(err) .. ", want " .. tostring(s.closed_err))
        end
    end
    s:go(until_error("read"))
    s:go(until_error("write"))
    s:wait()
end }

-- ConcurrentMethods: every method may be called from many tasks at once;
-- the results may be nonsensical but nothing breaks, and afterwards the
-- conn resyncs and round-trips.
cases[#cases + 1] = { "ConcurrentMethods", function(c1, c2, s)
    s:bg(chunked_copy, c2, c2)
    local b = zeros(CHUNK)
    for _ = 1, 100 do
        s:go(function()
            local data, err = c1:read(CHUNK)
            if data ~= nil then
                assert.is_true(#data >= 1 and #data <= CHUNK)
            else
                check_for_timeout_error(err, "read")
            end
        end)
        s:go(function()
            local n, err = c1:write(b)
            if err ~= nil then
                check_for_timeout_error(err, "write")
            else
                assert.are.equal(CHUNK, n)
            end
        end)
        s:go(function()
            assert.is_true(c1:set_deadline(lnet.now() + ms(10)))
        end)
        s:go(function()
            assert.is_true(c1:set_read_deadline(A_LONG_TIME_AGO))
        end)
        s:go(function()
            assert.is_true(c1:set_write_deadline(A_LONG_TIME_AGO))
        end)
        s:go(function()
            assert.is_not_nil(c1:local_addr())
        end)
        s:go(function()
            assert.is_not_nil(c1:remote_addr())
        end)
    end
    s:wait() -- at worst the deadline is 10 ms in the future

    resync_conn(s, c1)
    test_roundtrip(c1)
end }

---------------------------------------------------------------------------
-- Transports.

-- A pipe over a stream listener: c1 is dialed, c2 accepted. address() gives
-- the listen address; cleanup (optional) runs after stop closed everything.
local function stream_pipe(network, address, cleanup)
    return function()
        local addr = address()
        local ln, err = lnet.listen(network, addr)
        if ln == nil then
            if cleanup then
                cleanup(addr)
            end
            return nil, err
        end
        local acc = lnet.go(function()
            return ln:accept()
        end)
        local c1, derr = lnet.dial(network, tostring(ln:addr()))
        if c1 == nil then
            ln:close()
        end
        local c2, aerr = acc:join()
        local function stop()
            if c1 ~= nil then
                c1:close()
            end
            if c2 ~= nil then
                c2:close()
            end
            ln:close()
            if cleanup then
                cleanup(addr)
            end
        end
        if c1 == nil or c2 == nil then
            stop()
            return nil, derr or aerr
        end
        return c1, c2, stop
    end
end

local function fixed(address)
    return function()
        return address
    end
end

-- Unix sockets live next to an os.tmpname() file, which reserves the name.
local tmp_names = {}
local function unix_address()
    local name = os.tmpname()
    local path = name .. ".sock"
    tmp_names[path] = name
    return path
end
local function unix_cleanup(path)
    os.remove(path)
    os.remove(tmp_names[path])
    tmp_names[path] = nil
end

-- Returns why the transport cannot run here, or nil.
local function probe_listen(network, address)
    return function()
        return lnet.run(function()
            local ln, err = lnet.listen(network, address)
            if ln == nil then
                return tostring(err)
            end
            ln:close()
            return nil
        end)
    end
end

-- TLS over loopback tcp, one protocol version at a time: c1 the client,
-- c2 the server, with certificates made for the run (spec/tls_support.lua).
-- Neither has shaken hands: the first read or write of each end does it,
-- as in Go.
local tls_support = require "tls_support"
local function tls_pipe(version)
    local tcp = stream_pipe("tcp", fixed("127.0.0.1:0"))
    return function()
        local c1, c2, stop = tcp()
        if c1 == nil then
            return nil, c2
        end
        local pinned = { min_version = version, max_version = version }
        local t1, err1 = lnet.tls.client(c1, tls_support.client_opts(pinned))
        local t2, err2 = lnet.tls.server(c2, tls_support.server_opts("a", pinned))
        if t1 == nil or t2 == nil then
            stop()
            return nil, err1 or err2
        end
        return t1, t2, function()
            t1:close()
            t2:close()
            stop()
        end
    end
end
tls_support.certs()
teardown(tls_support.cleanup)

local transports = {
    { name = "tcp", make_pipe = stream_pipe("tcp", fixed("127.0.0.1:0")) },
    { name = "tcp6", make_pipe = stream_pipe("tcp6", fixed("[::1]:0")),
      probe = probe_listen("tcp6", "[::1]:0"), skip = "no ::1 on this machine" },
    { name = "unix", make_pipe = stream_pipe("unix", unix_address, unix_cleanup) },
    -- Go's own TestTestConn runs the suite over unixpacket too.
    { name = "unixpacket", make_pipe = stream_pipe("unixpacket", unix_address, unix_cleanup) },
    -- lnet.pipe(): synchronous and unbuffered, no socket at all; calls on
    -- the end that was closed fail as Go's net.Pipe's do.
    { name = "pipe", closed_err = lnet.ErrClosedPipe, make_pipe = function()
        local c1, c2 = lnet.pipe()
        return c1, c2, function()
            c1:close()
            c2:close()
        end
    end },
    { name = "tls 1.2", make_pipe = tls_pipe("1.2") },
    { name = "tls 1.3", make_pipe = tls_pipe("1.3") },
}

for _, tr in ipairs(transports) do
    describe("conn conformance over " .. tr.name, function()
        local reason = tr.probe and tr.probe()
        for _, case in ipairs(cases) do
            local name, fn = case[1], case[2]
            if reason ~= nil then
                pending(name .. ": " .. tr.skip .. " (" .. reason .. ")")
            else
                it(name, function()
                    run_case(tr, fn)
                end)
            end
        end
    end)
end
