-- lnet.dns fuzzed: seeded mutations of real packets (dig's queries,
-- dnsmasq's and lnet.dns.server's answers, captured now) and random bytes
-- go to decode for LNET_FUZZ_SECS seconds (30, or 10 under the ASan
-- build). Every input must decode or give a DNSMessageError, never raise,
-- never take long; and whatever decodes must encode again and decode to
-- the same message. LNET_FUZZ_SEED picks the seed (the failure message
-- names it and the input, in hex).

local lnet = require "lnet"
local dns = require "lnet.dns"
local ds = require "dns_support"
local harness = require "lnet.busted"

local errors = lnet.errors
local random, floor, min = math.random, math.floor, math.min
local byte, char, sub, rep = string.byte, string.char, string.sub, string.rep

local ASAN = (os.getenv("LNET_BUILD") or ""):find("asan", 1, true) ~= nil
local SECS = tonumber(os.getenv("LNET_FUZZ_SECS")) or (ASAN and 10 or 30)
local SEED = tonumber(os.getenv("LNET_FUZZ_SEED")) or 20240917
local SERVER_SECS = SECS / 10 -- for the server's own fuzz
local SLOW = 0.25 -- seconds one input may take

-- Real packets (made once, for both fuzz runs): what dig sends, what dnsmasq answers, what our server
-- answers to them.
local packets_made
local function corpus()
    if packets_made ~= nil then
        return packets_made
    end
    local packets, raws = {}, {}
    local zone = assert(dns.zone {
        ["a.test."] = { A = { "127.0.0.1", "127.0.0.2" }, AAAA = "::1", MX = { { pref = 10, host = "mx.a.test." } },
            TXT = { "hello", { rep("x", 300) } } },
        ["c.test."] = { CNAME = "a.test." },
        ["_s._tcp.a.test."] = { SRV = { { priority = 1, weight = 2, port = 3, target = "a.test." } } },
        ["test."] = { NS = "ns.test.", SOA = { mname = "ns.test.", rname = "h.test.", serial = 1, refresh = 2,
            retry = 3, expire = 4, minimum = 5 } },
    })
    local server = assert(dns.server { handler = function(req, info)
        raws[#raws + 1] = info.raw
        return zone(req, info)
    end })
    for _, args in ipairs { { "a.test", "A" }, { "+norec", "+dnssec", "c.test", "MX" }, { "+noedns", "-x", "10.1.2.3" },
        { "+bufsize=4096", "_s._tcp.a.test", "SRV" }, { "+cd", "test", "SOA" }, { "a.test", "TXT" },
        { "+noedns", "a.test", "ANY" }, { "nope.test", "AAAA" } } do
        ds.dig(server:addr(), unpack(args))
    end
    -- the queries dig sent, and our answers to them
    for i = 1, #raws do
        packets[#packets + 1] = raws[i]
        packets[#packets + 1] = assert(ds.udp(server:addr(), raws[i]))
    end
    server:close()
    local address, stop = ds.dnsmasq {
        "--auth-server=ns.z.test,127.0.0.1", "--auth-zone=z.test,127.0.0.0/24,::/64",
        "--auth-soa=7,hostmaster.z.test,1200,120,604800", "--host-record=h.z.test,127.0.0.6,::6",
        "--mx-host=z.test,mail.z.test,10", "--srv-host=_sip._udp.z.test,h.z.test,5060,1,5",
        "--txt-record=t.z.test,hello,wor ld", "--cname=c.z.test,h.z.test", "--dns-rr=r.z.test,999,0102ff",
    }
    for _, q in ipairs { { "h.z.test.", "A" }, { "h.z.test.", "AAAA" }, { "z.test.", "MX" }, { "_sip._udp.z.test.", "SRV" },
        { "t.z.test.", "TXT" }, { "c.z.test.", "A" }, { "r.z.test.", 999 }, { "nope.z.test.", "A" }, { "z.test.", "ANY" },
        { "6.0.0.127.in-addr.arpa.", "PTR" } } do
        packets[#packets + 1] = assert(ds.udp(address, ds.query(q[1], q[2])))
    end
    stop()
    packets_made = packets
    return packets
end

-- Deep equality of two decoded messages (lnet.ip values are interned: ==).
local function same(a, b)
    if a == b then
        return true
    end
    if type(a) ~= "table" or type(b) ~= "table" or getmetatable(a) ~= nil then
        return false
    end
    for k, v in pairs(a) do
        if not same(v, b[k]) then
            return false
        end
    end
    for k in pairs(b) do
        if a[k] == nil then
            return false
        end
    end
    return true
end

local INTERESTING = { 0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xff }

local function random_bytes(n)
    local t = {}
    for i = 1, n do
        t[i] = char(random(0, 255))
    end
    return table.concat(t)
end

-- One mutation of s (or of s spliced with other).
local function mutate(s, other)
    local n = #s
    local k = random(1, 9)
    local at = random(1, n + 1)
    if k == 1 then -- flip a bit
        if n == 0 then
            return s
        end
        at = min(at, n)
        return sub(s, 1, at - 1) .. char(bit.bxor(byte(s, at), bit.lshift(1, random(0, 7)))) .. sub(s, at + 1)
    elseif k == 2 then -- an interesting byte
        at = min(at, n)
        return sub(s, 1, at - 1) .. char(INTERESTING[random(#INTERESTING)]) .. sub(s, at + 1)
    elseif k == 3 then -- cut
        return sub(s, 1, random(0, n))
    elseif k == 4 then -- insert random bytes
        return sub(s, 1, at - 1) .. random_bytes(random(1, 8)) .. sub(s, at)
    elseif k == 5 then -- delete a run
        return sub(s, 1, at - 1) .. sub(s, at + random(1, 16))
    elseif k == 6 then -- repeat a run
        local len = random(1, 32)
        return sub(s, 1, at + len - 1) .. sub(s, at, at + len - 1) .. sub(s, at + len)
    elseif k == 7 then -- a compression pointer somewhere
        local target = random(0, n + 4)
        return sub(s, 1, at - 1) .. char(0xc0 + floor(target / 256) % 64, target % 256) .. sub(s, at + 2)
    elseif k == 8 then -- header counts
        local c = random(4, 11)
        return sub(s, 1, c - 1) .. char(random(0, 3) == 0 and random(0, 255) or random(0, 4)) .. sub(s, c + 1)
    end
    -- splice: the head of one packet, the tail of another
    return sub(s, 1, at - 1) .. sub(other, random(1, #other + 1))
end

describe("lnet.dns fuzzed", function()
    local saved
    before_each(function()
        saved = harness.limit
        harness.limit = SECS + 60
    end)
    after_each(function()
        harness.limit = saved
    end)

    it(("decode: %gs of seeded mutations of real packets and random bytes; each decodes or is a DNSMessageError, and what"
        .. " decodes encodes back to itself"):format(SECS), function()
        local packets = corpus()
        assert.is_true(#packets >= 20, "corpus of " .. #packets)
        math.randomseed(SEED)
        local counts = { decoded = 0, failed = 0, inputs = 0, kinds = {}, nkinds = 0 }
        local function check(s)
            counts.inputs = counts.inputs + 1
            local t0 = lnet.now()
            local ok, msg, err = pcall(dns.decode, s)
            local where = ("seed %d, input %d: %s"):format(SEED, counts.inputs, ds.hex(s))
            assert(ok, "decode raised: " .. tostring(msg) .. "\n" .. where)
            if msg == nil then
                assert(errors.as(err, "DNSMessageError") ~= nil, "not a DNSMessageError: " .. tostring(err) .. "\n" .. where)
                counts.failed = counts.failed + 1
                local kind = err.msg:gsub("%d+", "N")
                if not counts.kinds[kind] then
                    counts.kinds[kind], counts.nkinds = true, counts.nkinds + 1
                end
            else
                counts.decoded = counts.decoded + 1
                local ok2, s2, err2 = pcall(dns.encode, msg)
                assert(ok2, "encode raised on a decoded message: " .. tostring(s2) .. "\n" .. where)
                if s2 == nil then
                    -- pointers into raw data we do not parse can make the copy longer than 64 KiB
                    assert(tostring(err2):find("message longer than 65535 bytes", 1, true), tostring(err2) .. "\n" .. where)
                else
                    local again, err3 = dns.decode(s2)
                    assert(again ~= nil, "re-encoded message does not decode: " .. tostring(err3) .. "\n" .. where)
                    assert(same(msg, again), "re-encoded message decodes differently\n" .. where)
                end
            end
            local took = lnet.now() - t0
            assert(took < SLOW, ("one input took %.3fs\n%s"):format(took, where))
        end
        for _, p in ipairs(packets) do
            check(p)
        end
        local stop = lnet.now() + SECS
        local mutated_decoded = 0
        while lnet.now() < stop do
            for _ = 1, 500 do
                local r = random(1, 10)
                local s
                if r <= 7 then
                    s = packets[random(#packets)]
                    for _ = 1, random(1, 4) do
                        s = mutate(s, packets[random(#packets)])
                    end
                    local before = counts.decoded
                    check(s)
                    mutated_decoded = mutated_decoded + counts.decoded - before
                elseif r <= 9 then
                    check(random_bytes(random(0, 64)))
                else
                    -- a header that claims a question, then random bytes
                    check(char(random(0, 255), random(0, 255), random(0, 127), random(0, 255), 0, 1, 0, random(0, 2), 0, 0, 0,
                        random(0, 1)) .. random_bytes(random(0, 200)))
                end
            end
            lnet.sleep(0) -- let the loop turn
        end
        -- a fuzzer that only ever hits one error proves little
        assert.is_true(counts.inputs > 10000, "only " .. counts.inputs .. " inputs")
        assert.is_true(mutated_decoded > counts.inputs / 100, "few mutants decoded: " .. mutated_decoded)
        assert.is_true(counts.nkinds >= 15, "only " .. counts.nkinds .. " kinds of error")
        io.stderr:write(("[dns fuzz: seed %d, %d inputs in %gs, %d decoded, %d errors of %d kinds]\n"):format(SEED,
            counts.inputs, SECS, counts.decoded, counts.failed, counts.nkinds))
    end)

    it(("the server: %gs of mutated queries over UDP and TCP; each failure logged as one, and it answers on"):format(
        SERVER_SECS), function()
        local packets = corpus()
        math.randomseed(SEED)
        local zone = assert(dns.zone { ["a.test."] = { A = "127.0.0.1", MX = { { pref = 1, host = "a.test." } } } })
        local server = assert(dns.server { handler = zone })
        local address = tostring(server:addr())
        local udp = assert(lnet.dial("udp", address))
        local drained = lnet.go(function()
            while udp:read() ~= nil do
            end
        end)
        local sent = 0
        local stop = lnet.now() + SERVER_SECS
        while lnet.now() < stop do
            for _ = 1, 20 do
                udp:write(mutate(packets[random(#packets)], packets[random(#packets)]))
                sent = sent + 1
            end
            local c = assert(lnet.dial("tcp", address))
            local frames = {}
            for i = 1, random(1, 6) do
                local q = mutate(packets[random(#packets)], packets[random(#packets)])
                frames[i] = char(floor(#q / 256) % 256, #q % 256) .. q
                sent = sent + 1
            end
            c:write(mutate(table.concat(frames), "")) -- the framing mutated too, now and then cut
            c:close()
            lnet.sleep(0.001)
        end
        udp:close()
        drained:join()
        -- still answering, over both
        for _, proto in ipairs { "udp", "tcp" } do
            local q = ds.query("a.test.", "MX")
            local reply = assert(proto == "udp" and ds.udp(server:addr(), q) or ds.tcp(server:addr(), q))
            assert.are.equal("a.test.", ds.decoded(reply).answers[1].host)
        end
        local why = { ["a reply, not a query"] = true, ["a query must have one question"] = true }
        local log = server:queries()
        assert.is_true(#log > 100, "logged " .. #log .. " of " .. sent)
        for _, e in ipairs(log) do
            assert(e.err == nil or why[e.err] or errors.as(e.err, "DNSMessageError"), tostring(e.err))
        end
        server:close()
    end)
end)
