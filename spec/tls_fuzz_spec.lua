-- lnet.tls fuzzed: a relay between a TLS client and server mutates what
-- goes through it, seeded, for LNET_TLS_FUZZ_SECS seconds (3 by default;
-- LNET_FUZZ_SECS, which the DNS fuzz reads too, when that one is not set).
-- Three places: the record path (application data records the client sent
-- after the handshake), the client's hello, and the server's first flight.
-- Each mutation flips bits, overwrites, inserts, deletes, duplicates or
-- cuts bytes, or rewrites a record header's type, version or length. Every
-- call on the receiving end must then end in time with data, EOF, a
-- TLSError or an OpError, never a crash, a hang or another value; and
-- every byte it does return must be the next byte the client sent (records
-- are authenticated: a change can only fail them). LNET_FUZZ_SEED picks the
-- seed; a failure names it, the case and the mutated bytes in hex.

local lnet = require "lnet"
local tls = lnet.tls
local errors = lnet.errors

local support = require "support"
local tls_support = require "tls_support"

local random, floor, min, max = math.random, math.floor, math.min, math.max
local char, byte, sub, concat = string.char, string.byte, string.sub, table.concat

local SECS = tonumber(os.getenv("LNET_TLS_FUZZ_SECS") or os.getenv("LNET_FUZZ_SECS")) or 3
local SEED = tonumber(os.getenv("LNET_FUZZ_SEED")) or 20240917
local WAIT = 0.03 -- how long a receiver waits for bytes that may never come
local SLOW = 2 -- seconds one call may take, at most (WAIT, plus a loaded machine)

tls_support.certs()
teardown(tls_support.cleanup)
require("lnet.busted").limit = SECS * 3 + 30

local function hex(s)
    return (s:gsub(".", function(c)
        return ("%02x"):format(byte(c))
    end))
end

local function random_bytes(n)
    local t = {}
    for i = 1, n do
        t[i] = char(random(0, 255))
    end
    return concat(t)
end

-- The offsets of the record headers in s (as far as its framing goes).
local function record_starts(s)
    local starts, i = {}, 1
    while i + 4 <= #s do
        starts[#starts + 1] = i
        i = i + 5 + byte(s, i + 3) * 256 + byte(s, i + 4)
    end
    return starts
end

-- One seeded mutation of s; the name of what it did.
local MUTATIONS = {
    function(s) -- flip a bit
        local i = random(1, #s)
        return sub(s, 1, i - 1) .. char(bit.bxor(byte(s, i), bit.lshift(1, random(0, 7)))) .. sub(s, i + 1), "flip"
    end,
    function(s) -- overwrite a run
        local i = random(1, #s)
        local n = min(random(1, 16), #s - i + 1)
        return sub(s, 1, i - 1) .. random_bytes(n) .. sub(s, i + n), "overwrite"
    end,
    function(s) -- insert bytes
        local i = random(1, #s + 1)
        return sub(s, 1, i - 1) .. random_bytes(random(1, 64)) .. sub(s, i), "insert"
    end,
    function(s) -- delete a run
        local i = random(1, #s)
        return sub(s, 1, i - 1) .. sub(s, i + random(1, 32)), "delete"
    end,
    function(s) -- duplicate a run (a replayed record, when it lands on one)
        local starts = record_starts(s)
        local i = starts[random(1, max(#starts, 1))] or 1
        local j = starts[random(1, max(#starts, 1))] or #s
        if j < i then
            i, j = j, i
        end
        return sub(s, 1, j - 1) .. sub(s, i, j - 1) .. sub(s, j), "duplicate"
    end,
    function(s) -- cut short
        return sub(s, 1, random(0, #s - 1)), "cut"
    end,
    function(s) -- a header field: type, version or length
        local starts = record_starts(s)
        local h = starts[random(1, max(#starts, 1))] or 1
        local field = random(0, 4)
        local v = random(0, 3) == 0 and 255 or random(0, 255)
        return sub(s, 1, h + field - 1) .. char(v) .. sub(s, h + field + 1), "header"
    end,
    function(s) -- a record of random bytes, anywhere between records
        local starts = record_starts(s)
        local h = starts[random(1, max(#starts, 1))] or 1
        local n = random(0, 300)
        local rec = char(random(20, 24), 3, random(1, 4), floor(n / 256), n % 256) .. random_bytes(n)
        return sub(s, 1, h - 1) .. rec .. sub(s, h), "record"
    end,
}

local function mutate(s)
    local names = {}
    for _ = 1, random(1, 3) do
        if #s == 0 then
            break
        end
        local name
        s, name = MUTATIONS[random(1, #MUTATIONS)](s)
        names[#names + 1] = name
    end
    return s, concat(names, "+")
end

-- What a receiving call may end with: bytes, EOF, or one of lnet's errors
-- that is a TLSError or an OpError (a timeout, a reset).
local function check_outcome(data, err, what)
    if data ~= nil then
        return
    end
    assert(errors.is_error(err), what .. ": not an lnet error: " .. tostring(err))
    assert(err == lnet.EOF or errors.as(err, "TLSError") ~= nil or errors.as(err, "OpError") ~= nil,
        what .. ": unexpected error " .. tostring(err))
end

-- A client and a server joined by a relay: the client's conn, the
-- server's, and the relay's two ends (rc the client's peer, rs the server's).
local function relayed(version)
    local c, rc = support.pair()
    local rs, s = support.pair()
    local pinned = { min_version = version, max_version = version }
    local tc = assert(tls.client(c, tls_support.client_opts(pinned)))
    local ts = assert(tls.server(s, tls_support.server_opts("a", pinned)))
    return tc, ts, rc, rs
end

-- Reads what a TLS end will give until it ends (or WAIT passes with
-- nothing); returns the bytes and how it ended.
local function receive(c, what)
    local got = {}
    while true do
        c:set_read_deadline(lnet.now() + WAIT)
        local t0 = lnet.now()
        local data, err = c:read(65536)
        assert(lnet.now() - t0 < SLOW, what .. ": a read took " .. (lnet.now() - t0) .. " s")
        check_outcome(data, err, what)
        if data == nil then
            return concat(got), err
        end
        got[#got + 1] = data
    end
end

-- The record path: the client's application data, mutated on its way.
local function record_case(version, describe_case)
    local tc, ts, rc, rs = relayed(version)
    -- The handshake goes through unchanged.
    local up = lnet.go(lnet.copy, rs, rc)
    local down = lnet.go(lnet.copy, rc, rs)
    local srv = lnet.go(function()
        return ts:handshake()
    end)
    assert(tc:handshake())
    assert(srv:join())
    -- Stop the relay's upstream copy at a record boundary: nothing more is
    -- in flight once the server's handshake is done.
    rc:set_read_deadline(1)
    up:join()
    rc:set_read_deadline(nil)
    -- The client's records, taken whole, then mutated into the server.
    local sent = {}
    tc:set_write_deadline(lnet.now() + SLOW)
    for i = 1, random(1, 6) do
        sent[i] = random_bytes(random(0, 3) == 0 and random(1000, 40000) or random(1, 200))
        assert(tc:write(sent[i]))
    end
    local plain = concat(sent)
    local wire = ""
    rc:set_read_deadline(lnet.now() + WAIT)
    while true do
        local data = rc:read(65536)
        if data == nil then
            break
        end
        wire = wire .. data
    end
    local mutated, how = mutate(wire)
    describe_case(how, mutated)
    local close = random(0, 1) == 0
    local w = lnet.go(function()
        rs:write(mutated)
        if close then
            rs:close_write()
        end
    end)
    local got, ended = receive(ts, "server read")
    assert(sub(plain, 1, #got) == got, "the server read bytes the client never sent")
    w:join()
    -- The server's end is told what happened (an alert, or nothing): the
    -- client's reads end as well.
    rc:close()
    receive(tc, "client read")
    for _, x in ipairs({ tc, ts, rc, rs }) do
        x:close()
    end
    down:join()
    return ended
end

-- The handshake path: the client's hello (to_server) or the server's first
-- flight, mutated; both handshakes end in time either way.
local function handshake_case(version, to_server, describe_case)
    local tc, ts, rc, rs = relayed(version)
    local function relay(from, to, first)
        local data = from:read(65536)
        if data == nil then
            to:close_write()
            return
        end
        if first then
            local how
            data, how = mutate(data)
            describe_case(how, data)
        end
        to:write(data)
        lnet.copy(to, from)
        to:close_write()
    end
    local up = lnet.go(relay, rc, rs, to_server)
    local down = lnet.go(relay, rs, rc, not to_server)
    local deadline = lnet.now() + WAIT * 3
    tc:set_deadline(deadline)
    ts:set_deadline(deadline)
    local srv = lnet.go(function()
        local ok, err = ts:handshake()
        check_outcome(ok, err, "server handshake")
        if ok then
            return receive(ts, "server read after its handshake")
        end
    end)
    local ok, err = tc:handshake()
    check_outcome(ok, err, "client handshake")
    if ok then
        tc:write("x")
    end
    srv:join()
    for _, x in ipairs({ tc, ts, rc, rs }) do
        x:close()
    end
    up:join()
    down:join()
end

describe("tls fuzzed", function()
    it(("mutated records, hellos and first flights, %g s (seed %d)"):format(SECS, SEED), function()
        math.randomseed(SEED)
        local stop_at = lnet.now() + SECS
        local counts = { record = 0, hello = 0, flight = 0 }
        local endings = {} -- how the server's reads of mutated records ended
        local n = 0
        while lnet.now() < stop_at do
            n = n + 1
            local version = random(0, 1) == 0 and "1.2" or "1.3"
            local kind = ({ "record", "record", "hello", "flight" })[random(1, 4)]
            local label
            local function describe_case(how, bytes)
                label = ("case %d (seed %d): %s over TLS %s, %s, %d bytes: %s"):format(n, SEED, kind, version, how,
                    #bytes, hex(sub(bytes, 1, 512)))
            end
            local ok, err = pcall(function()
                if kind == "record" then
                    local ended = record_case(version, describe_case)
                    local what = ended == lnet.EOF and "EOF"
                        or errors.as(ended, "TLSError") and tostring(ended):gsub("%d+", "N")
                        or ended:timeout() and "timeout" or tostring(ended)
                    endings[what] = (endings[what] or 0) + 1
                else
                    handshake_case(version, kind == "hello", describe_case)
                end
            end)
            if not ok then
                error(tostring(label) .. "\n" .. tostring(err), 0)
            end
            counts[kind] = counts[kind] + 1
        end
        local kinds = {}
        for what, k in pairs(endings) do
            kinds[#kinds + 1] = ("%d %s"):format(k, what)
        end
        table.sort(kinds)
        io.stderr:write(("[tls fuzz: seed %d, %d cases in %gs: %d record paths (%s), %d hellos, %d first flights]\n")
            :format(SEED, n, SECS, counts.record, concat(kinds, "; "), counts.hello, counts.flight))
        assert.is_true(counts.record > 0 and counts.hello > 0 and counts.flight > 0)
    end)
end)
