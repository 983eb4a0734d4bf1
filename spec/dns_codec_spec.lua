-- lnet.dns's codec: round trips of every record type, names and their
-- text, compression, real packets from dig and dnsmasq, every class of
-- malformed message, and bad input to encode.

local lnet = require "lnet"
local dns = require "lnet.dns"
local ds = require "dns_support"

local errors = lnet.errors
local char, rep = string.char, string.rep

-- The 12-byte header with these counts (id 0x1234, flags as given).
local function u16(v)
    return char(math.floor(v / 256), v % 256)
end

local function header(flags, qd, an, ns, ar)
    return "\18\52" .. u16(flags) .. u16(qd) .. u16(an or 0) .. u16(ns or 0) .. u16(ar or 0)
end

-- A record's bytes after its owner name: type, class IN, ttl 0, rdata.
local function rr(t, rdata)
    return u16(t) .. "\0\1\0\0\0\0" .. u16(#rdata) .. rdata
end

-- decode(bytes) must fail with a DNSMessageError whose text has `what`
-- (and whose offset is `at`, when given).
local function fails(bytes, what, at)
    local msg, err = dns.decode(bytes)
    assert.is_nil(msg, "decoded: " .. ds.hex(bytes))
    assert.is_not_nil(errors.as(err, "DNSMessageError"), tostring(err))
    local text = tostring(err)
    assert.is_truthy(text:find("^dns: "), text)
    assert.is_truthy(text:find(what, 1, true), "expected '" .. what .. "', got: " .. text)
    if at ~= nil then
        assert.are.equal(at, err.offset, text)
    end
    return err
end

-- encode(msg) must fail with a DNSMessageError whose text has `what`.
local function refuses(msg, what)
    local s, err = dns.encode(msg)
    assert.is_nil(s)
    assert.is_not_nil(errors.as(err, "DNSMessageError"), tostring(err))
    assert.is_truthy(tostring(err):find(what, 1, true), "expected '" .. what .. "', got: " .. tostring(err))
end

local function round_trip(msg)
    local bytes = assert(dns.encode(msg))
    return ds.decoded(bytes), bytes
end

-- The bytes first..last as a name of labels of at most `size`, every byte
-- written as \DDD.
local function escaped_labels(first, last, size)
    local labels = {}
    for from = first, last, size do
        local l = {}
        for c = from, math.min(from + size - 1, last) do
            l[#l + 1] = ("\\%03d"):format(c)
        end
        labels[#labels + 1] = table.concat(l)
    end
    return table.concat(labels, ".") .. "."
end

-- A reply holding records, and what decoding it must give back.
local function reply_with(records)
    return { id = 99, qr = true, aa = true, rd = true, ra = true, questions = { { name = "q.test.", type = "A" } },
        answers = records }
end

describe("lnet.dns codec", function()
    it("names types, classes, rcodes and opcodes both ways", function()
        assert.are.equal(1, dns.type.A)
        assert.are.equal("AAAA", dns.type[28])
        assert.are.equal(33, dns.type.SRV)
        assert.are.equal(41, dns.type.OPT)
        assert.are.equal("IN", dns.class[1])
        assert.are.equal(3, dns.rcode.NXDOMAIN)
        assert.are.equal("SERVFAIL", dns.rcode[2])
        assert.are.equal(16, dns.rcode.BADVERS)
        assert.are.equal("QUERY", dns.opcode[0])
    end)

    it("round-trips the header: id, every flag, opcode and rcode", function()
        local msg = ds.decoded(assert(dns.encode { id = 65535, qr = true, opcode = "STATUS", aa = true, tc = true,
            rd = true, ra = true, ad = true, cd = true, rcode = "REFUSED" }))
        assert.are.same({ id = 65535, qr = true, opcode = "STATUS", aa = true, tc = true, rd = true, ra = true,
            ad = true, cd = true, rcode = "REFUSED", questions = {}, answers = {}, authority = {}, additional = {} },
            msg)
        local bare = ds.decoded(assert(dns.encode {}))
        assert.are.same({ id = 0, qr = false, opcode = "QUERY", aa = false, tc = false, rd = false, ra = false,
            ad = false, cd = false, rcode = "NOERROR", questions = {}, answers = {}, authority = {}, additional = {} },
            bare)
        assert.are.equal(12, #assert(dns.encode {}))
        -- numbers that have no name stay numbers
        local odd = ds.decoded(assert(dns.encode { opcode = 9, rcode = 12 }))
        assert.are.equal(9, odd.opcode)
        assert.are.equal(12, odd.rcode)
    end)

    it("round-trips A and AAAA (ip as an lnet.ip value; a string is accepted)", function()
        local v4, v6 = lnet.ip.parse_addr("192.0.2.1"), lnet.ip.parse_addr("2001:db8::1")
        local msg = round_trip(reply_with {
            { name = "a.test.", type = "A", ttl = 300, ip = "192.0.2.1" },
            { name = "a.test.", type = "AAAA", ttl = 301, ip = v6 },
            { name = "a.test.", type = "AAAA", ttl = 302, ip = "::ffff:1.2.3.4" },
        })
        assert.are.same({ name = "a.test.", type = "A", class = "IN", ttl = 300, ip = v4 }, msg.answers[1])
        assert.are.same({ name = "a.test.", type = "AAAA", class = "IN", ttl = 301, ip = v6 }, msg.answers[2])
        assert.are.equal(v4, msg.answers[1].ip) -- interned: the same value
        assert.is_true(msg.answers[3].ip:is4in6())
        assert.are.same({ { name = "q.test.", type = "A", class = "IN" } }, msg.questions)
        assert.is_true(msg.qr and msg.aa and msg.rd and msg.ra)
    end)

    it("round-trips CNAME, NS and PTR (host), MX (pref, host), SRV (priority, weight, port, target)", function()
        local records = {
            { name = "www.test.", type = "CNAME", ttl = 1, host = "a.test." },
            { name = "test.", type = "NS", ttl = 2, host = "ns1.test." },
            { name = "1.2.0.192.in-addr.arpa.", type = "PTR", ttl = 3, host = "a.test." },
            { name = "test.", type = "MX", ttl = 4, pref = 10, host = "mx.test." },
            { name = "_sip._udp.test.", type = "SRV", ttl = 5, priority = 1, weight = 65535, port = 5060,
                target = "a.test." },
        }
        local msg = round_trip(reply_with(records))
        for i, r in ipairs(records) do
            r.class = "IN"
            assert.are.same(r, msg.answers[i])
        end
    end)

    it("round-trips TXT: texts kept apart; one over 255 bytes split into strings of 255", function()
        local long = rep("x", 600)
        local msg = round_trip(reply_with {
            { name = "t.test.", type = "TXT", texts = { "hello", "", "wor ld\0\255" } },
            { name = "t.test.", type = "TXT", texts = { long } },
            { name = "t.test.", type = "TXT", texts = {} },
        })
        assert.are.same({ "hello", "", "wor ld\0\255" }, msg.answers[1].texts)
        assert.are.same({ rep("x", 255), rep("x", 255), rep("x", 90) }, msg.answers[2].texts)
        assert.are.same({}, msg.answers[3].texts)
    end)

    it("round-trips SOA, in any section", function()
        local soa = { name = "test.", type = "SOA", class = "IN", ttl = 60, mname = "ns.test.",
            rname = "host\\.master.test.", serial = 4294967295, refresh = 3600, retry = 600, expire = 86400,
            minimum = 30 }
        local msg = round_trip { id = 1, qr = true, rcode = "NXDOMAIN", authority = { soa }, answers = {},
            additional = { soa } }
        assert.are.same(soa, msg.authority[1])
        assert.are.same(soa, msg.additional[1])
        assert.are.equal("NXDOMAIN", msg.rcode)
    end)

    it("round-trips OPT (EDNS0): udp_size, version, DO bit, options as raw bytes; extended rcodes", function()
        local msg = round_trip { additional = { { type = "OPT", udp_size = 4096, dnssec_ok = true,
            data = "\0\10\0\8abcdefgh" } } }
        assert.are.same({ name = ".", type = "OPT", udp_size = 4096, ext_rcode = 0, version = 0,
            dnssec_ok = true, data = "\0\10\0\8abcdefgh" }, msg.additional[1])
        local defaults = round_trip { additional = { { type = "OPT" } } }
        assert.are.equal(1232, defaults.additional[1].udp_size)
        assert.is_false(defaults.additional[1].dnssec_ok)
        -- BADVERS (16) is the header's 0 and OPT's extended 1
        local badvers, bytes = round_trip { qr = true, rcode = "BADVERS", additional = { { type = "OPT" } } }
        assert.are.equal("BADVERS", badvers.rcode)
        assert.are.equal(0, bytes:byte(4) % 16)
        assert.are.equal(1, badvers.additional[1].ext_rcode)
        -- only the additional section's first OPT carries the rcode (a fuzzed message had one elsewhere)
        local odd = round_trip { qr = true, rcode = 3072, answers = { { type = "OPT", ext_rcode = 7 } },
            additional = { { type = "OPT", ext_rcode = 5 } } }
        assert.are.same({ 3072, 7, 192 }, { odd.rcode, odd.answers[1].ext_rcode, odd.additional[1].ext_rcode })
    end)

    it("keeps the data of other types as raw bytes, by number or by name, and raw data of any type", function()
        local msg = round_trip(reply_with {
            { name = "r.test.", type = 65280, class = 3, ttl = 7, data = "\1\2\3" },
            { name = "r.test.", type = "CAA", data = "\0\5issueca.test" },
            { name = "r.test.", type = "A", data = "\127\0\0\1" },
            { name = "r.test.", type = 999, data = "" },
        })
        assert.are.same({ name = "r.test.", type = 65280, class = "CH", ttl = 7, data = "\1\2\3" }, msg.answers[1])
        assert.are.same({ name = "r.test.", type = "CAA", class = "IN", ttl = 0, data = "\0\5issueca.test" },
            msg.answers[2])
        assert.are.equal(lnet.ip.parse_addr("127.0.0.1"), msg.answers[3].ip)
        assert.are.equal("", msg.answers[4].data)
    end)

    describe("names", function()
        it("are absolute with a final dot, which encode may omit; case is kept", function()
            local msg = round_trip { questions = { { name = "WwW.Example.TEST", type = "A" }, { name = ".", type = "NS" },
                { name = "a.b.", type = "A" } } }
            assert.are.equal("WwW.Example.TEST.", msg.questions[1].name)
            assert.are.equal(".", msg.questions[2].name)
            assert.are.equal("a.b.", msg.questions[3].name)
        end)

        it("escape odd bytes as \\DDD and zone-file characters with a backslash; every byte round-trips", function()
            -- bytes 0..188 in three labels of 63, 189..255 in two more names
            local names = { escaped_labels(0, 188, 63), escaped_labels(189, 255, 63) }
            local msg = round_trip { questions = { { name = names[1], type = "A" }, { name = names[2], type = "A" } } }
            local got = msg.questions[1].name .. msg.questions[2].name
            assert.are.equal("\\000\\001", got:sub(1, 8))
            assert.is_truthy(got:find("\\032!\\\"#\\$%&'\\(\\)*+,-\\./0123456789:\\;<=>", 1, true), got)
            assert.is_truthy(got:find("?\\@ABC", 1, true), got)
            assert.is_truthy(got:find("[\\\\]^_`abc", 1, true), got)
            assert.is_truthy(got:find("~\\127\\128", 1, true), got)
            -- and the text read back encodes to the same wire bytes
            for i = 1, 2 do
                assert.are.equal(assert(dns.encode { questions = { { name = names[i], type = "A" } } }),
                    assert(dns.encode { questions = { { name = msg.questions[i].name, type = "A" } } }))
            end
        end)

        it("take \\X for any character and \\DDD for any byte on encode", function()
            local msg = round_trip { questions = { { name = "a\\.b\\065\\\\c.test", type = "A" } } }
            assert.are.equal("a\\.bA\\\\c.test.", msg.questions[1].name)
            local bytes = assert(dns.encode { questions = { { name = "a\\.b.test.", type = "A" } } })
            assert.are.equal("\3a.b\4test\0", bytes:sub(13, 22))
        end)

        it("print as dig prints them (every byte value, from a server dig asks)", function()
            local hosts = { escaped_labels(0, 127, 50), escaped_labels(128, 255, 50) }
            local server = assert(dns.server { handler = function(req)
                local owner = req.questions[1].name
                return { answers = { { name = owner, type = "PTR", host = hosts[1] },
                    { name = owner, type = "PTR", host = hosts[2] } } }
            end })
            local lines = ds.dig_answers(server:addr(), "x.test", "PTR")
            local msg = ds.decoded(ds.udp(server:addr(), ds.query("x.test.", "PTR")))
            server:close()
            assert.are.same({ "x.test. 0 IN PTR " .. msg.answers[1].host, "x.test. 0 IN PTR " .. msg.answers[2].host },
                lines)
        end)
    end)

    describe("compression", function()
        it("writes RFC 1035's example with pointers to earlier suffixes", function()
            local bytes = assert(dns.encode { id = 0x1234, questions = { { name = "F.ISI.ARPA.", type = "A" } },
                answers = { { name = "FOO.F.ISI.ARPA.", type = "A", ip = "1.2.3.4" },
                    { name = "ARPA.", type = "NS", host = "ISI.ARPA." }, { name = ".", type = "NS", host = "." } } })
            local q = "\1F\3ISI\4ARPA\0" .. "\0\1\0\1"
            local foo = "\3FOO\192\12" .. rr(1, "\1\2\3\4")
            local arpa = "\192\18" .. rr(2, "\192\14")
            local root = "\0" .. rr(2, "\0")
            assert.are.equal(ds.hex(header(0, 1, 3) .. q .. foo .. arpa .. root), ds.hex(bytes))
        end)

        it("matches suffixes by exact bytes: a name in other letter case is written again", function()
            local bytes = assert(dns.encode { questions = { { name = "a.test.", type = "A" },
                { name = "A.TEST.", type = "A" }, { name = "b.TEST.", type = "A" } } })
            assert.are.equal("\1a\4test\0\0\1\0\1\1A\4TEST\0\0\1\0\1\1b\192\26\0\1\0\1", bytes:sub(13))
            local msg = ds.decoded(bytes)
            assert.are.equal("A.TEST.", msg.questions[2].name)
            assert.are.equal("b.TEST.", msg.questions[3].name)
        end)

        it("compresses names in record data, but not SRV targets (RFC 2782)", function()
            local bytes = assert(dns.encode(reply_with {
                { name = "q.test.", type = "CNAME", host = "mx.q.test." },
                { name = "q.test.", type = "SRV", priority = 0, weight = 0, port = 1, target = "mx.q.test." },
            }))
            local msg = ds.decoded(bytes)
            assert.are.equal("mx.q.test.", msg.answers[1].host)
            assert.are.equal("mx.q.test.", msg.answers[2].target)
            assert.is_truthy(bytes:find("\2mx\192\12", 1, true)) -- the CNAME's host points at q.test.
            assert.is_truthy(bytes:find("\2mx\1q\4test\0", 1, true)) -- the SRV target is written whole
        end)

        it("points only where 14 bits reach: names written past 16 KiB are not pointed at", function()
            local records = { { name = "pad.test.", type = "TXT", texts = { rep("p", 20000) } } }
            for i = 1, 50 do
                records[#records + 1] = { name = "n" .. i .. ".far.test.", type = "A", ip = "10.0.0." .. i }
            end
            records[#records + 1] = { name = "n1.far.test.", type = "A", ip = "10.0.0.1" }
            local msg, bytes = round_trip(reply_with(records))
            assert.are.equal(52, #msg.answers)
            assert.are.equal("n1.far.test.", msg.answers[52].name)
            assert.is_truthy(#bytes > 20000)
        end)
    end)

    describe("real packets", function()
        it("decodes dig's queries: id, RD and AD, the question, OPT with dig's cookie; +norec +cd +dnssec +noedns", function()
            local got = {}
            local server = assert(dns.server { handler = function(_, info)
                got[#got + 1] = info.raw
                return "NXDOMAIN"
            end })
            local _, out = ds.dig(server:addr(), "Mixed.Case.test", "MX")
            local _, out2 = ds.dig(server:addr(), "+norec", "+cd", "+dnssec", "+bufsize=4096", "x.test", "TXT")
            local _, out3 = ds.dig(server:addr(), "+noedns", "-x", "192.0.2.7")
            local _, out4 = ds.dig(server:addr(), "r.test", "TYPE999")
            server:close()
            assert.are.equal(4, #got)
            local q = ds.decoded(got[1])
            assert.are.equal(tonumber(out:match("id: (%d+)")), q.id)
            assert.is_false(q.qr)
            assert.is_true(q.rd)
            assert.is_true(q.ad) -- dig asks for AD by default
            assert.are.same({ { name = "Mixed.Case.test.", type = "MX", class = "IN" } }, q.questions)
            assert.are.equal(1, #q.additional)
            local opt = q.additional[1]
            assert.are.equal("OPT", opt.type)
            assert.are.equal(1232, opt.udp_size)
            assert.are.equal("\0\10\0\8", opt.data:sub(1, 4)) -- option 10, COOKIE, 8 bytes of client cookie
            assert.are.equal(12, #opt.data)
            local q2 = ds.decoded(got[2])
            assert.is_false(q2.rd)
            assert.is_true(q2.cd)
            assert.is_true(q2.additional[1].dnssec_ok)
            assert.are.equal(4096, q2.additional[1].udp_size)
            assert.are.equal(tonumber(out2:match("id: (%d+)")), q2.id)
            local q3 = ds.decoded(got[3])
            assert.are.same({ { name = "7.2.0.192.in-addr.arpa.", type = "PTR", class = "IN" } }, q3.questions)
            assert.are.same({}, q3.additional)
            assert.is_truthy(out3:find("status: NXDOMAIN", 1, true), out3)
            assert.are.same({ name = "r.test.", type = 999, class = "IN" }, ds.decoded(got[4]).questions[1])
            assert.is_truthy(out4:find("status: NXDOMAIN", 1, true), out4)
        end)

        it("decodes dnsmasq's answers of every type, over UDP and over TCP", function()
            local address, stop = ds.dnsmasq {
                "--auth-server=ns.z.test,127.0.0.1", "--auth-zone=z.test,127.0.0.0/24,::/64",
                "--auth-soa=7,hostmaster.z.test,1200,120,604800", "--host-record=h.z.test,127.0.0.6,::6",
                "--mx-host=z.test,mail.z.test,10", "--srv-host=_sip._udp.z.test,h.z.test,5060,1,5",
                "--txt-record=t.z.test,hello,wor ld", "--cname=c.z.test,h.z.test", "--dns-rr=r.z.test,999,0102ff",
            }
            local function ask(name, qtype, proto)
                local q = ds.query(name, qtype)
                local bytes = assert(proto == "tcp" and ds.tcp(address, q) or ds.udp(address, q))
                local msg = ds.decoded(bytes)
                assert.are.equal(ds.decoded(q).id, msg.id)
                assert.is_true(msg.qr and msg.aa)
                return msg, bytes
            end
            for _, proto in ipairs { "udp", "tcp" } do
                local a = ask("h.z.test.", "A", proto)
                assert.are.same({ name = "h.z.test.", type = "A", class = "IN", ttl = 600,
                    ip = lnet.ip.parse_addr("127.0.0.6") }, a.answers[1])
                assert.are.same({ name = "z.test.", type = "NS", class = "IN", ttl = 600, host = "ns.z.test." },
                    a.authority[1])
                assert.are.equal("OPT", a.additional[1].type)
                assert.are.equal(lnet.ip.parse_addr("::6"), ask("h.z.test.", "AAAA", proto).answers[1].ip)
                local mx = ask("z.test.", "MX", proto).answers[1]
                assert.are.same({ 10, "mail.z.test." }, { mx.pref, mx.host })
                local srv = ask("_sip._udp.z.test.", "SRV", proto).answers[1]
                assert.are.same({ 1, 5, 5060, "h.z.test." }, { srv.priority, srv.weight, srv.port, srv.target })
                assert.are.same({ "hello", "wor ld" }, ask("t.z.test.", "TXT", proto).answers[1].texts)
                local c = ask("c.z.test.", "A", proto)
                assert.are.same({ "CNAME", "h.z.test.", "A" }, { c.answers[1].type, c.answers[1].host, c.answers[2].type })
                local ptr = ask("6.0.0.127.in-addr.arpa.", "PTR", proto).answers[1]
                assert.are.equal("h.z.test.", ptr.host)
                assert.are.same({ type = 999, data = "\1\2\255" },
                    { type = ask("r.z.test.", 999, proto).answers[1].type, data = ask("r.z.test.", 999, proto).answers[1].data })
                local nx = ask("nope.z.test.", "A", proto)
                assert.are.equal("NXDOMAIN", nx.rcode)
                local soa = nx.authority[1]
                assert.are.same({ "SOA", "ns.z.test.", "hostmaster.z.test.", 7, 1200, 120, 604800 },
                    { soa.type, soa.mname, soa.rname, soa.serial, soa.refresh, soa.retry, soa.expire })
                local nodata = ask("h.z.test.", "MX", proto)
                assert.are.same({ "NOERROR", 0, "SOA" }, { nodata.rcode, #nodata.answers, nodata.authority[1].type })
            end
            stop()
        end)
    end)

    describe("malformed messages are errors, never a raise or a hang", function()
        it("shorter than the header", function()
            fails("", "message of 0 bytes is shorter than its header", 0)
            fails(rep("\0", 11), "shorter than its header", 0)
        end)

        it("counts larger than the message can hold (checked before any is believed)", function()
            fails(header(0, 0, 65535), "header counts 0/65535/0/0 more than 12 bytes can hold", 4)
            fails(header(0, 2) .. "\0\0\1\0\1", "more than 17 bytes can hold", 4)
            local before = collectgarbage("count")
            for _ = 1, 100 do
                dns.decode(header(0, 65535, 65535, 65535, 65535))
            end
            assert.is_true(collectgarbage("count") - before < 256, "decoding 100 headers took KiBs")
        end)

        it("lengths past the end: a label, a name with no end, a record header, record data", function()
            fails(header(0, 1) .. "\9abcd", "label runs past the end", 12)
            fails(header(0, 1) .. "\1a\1b\1c", "name runs past the end", 18)
            fails(header(0, 1) .. "\1a\0\0\1", "question runs past the end", 15)
            fails(header(0, 0, 1) .. "\1a\0" .. rep("\0", 8), "record header runs past the end", 15)
            fails(header(0, 0, 1) .. "\0\0\1\0\1\0\0\0\0\0\4\1\2", "record data runs past the end", 23)
        end)

        it("labels over 63 bytes and the retired label types", function()
            fails(header(0, 1) .. "\64" .. rep("a", 64) .. "\0\0\1\0\1", "label longer than 63 bytes", 12)
            fails(header(0, 1) .. "\128" .. "abcd\0\0\1\0\1", "length byte 0x80", 12)
        end)

        it("names over 255 bytes, also when a pointer makes them so", function()
            local label = "\63" .. rep("a", 63)
            fails(header(0, 1) .. rep(label, 5) .. "\0\0\1\0\1", "name longer than 255 bytes")
            local first = rep(label, 3) .. "\0" -- 193 bytes at offset 12
            fails(header(0, 2) .. first .. "\0\1\0\1" .. rep(label, 2) .. "\192\12\0\1\0\1",
                "name longer than 255 bytes")
            -- 255 exactly is fine: 3 labels of 63, one of 61, the root
            local ok = ds.decoded(header(0, 1) .. rep(label, 3) .. "\61" .. rep("b", 61) .. "\0\0\1\0\1")
            assert.are.equal(254, #ok.questions[1].name)
        end)

        it("compression pointers that loop, point forward, point into the name itself, or are cut", function()
            fails(header(0, 1) .. "\192\12\0\1\0\1", "compression pointer does not point backwards", 12)
            fails(header(0, 1) .. "\192\20\0\1\0\1\0\0\1\0\1", "does not point backwards", 12)
            -- a label whose bytes are a pointer back to the label: the loop a naive reader follows forever
            fails(header(0, 1) .. "\2\192\12\192\12\0\1\0\1", "does not point backwards", 15)
            -- two names pointing at each other's start
            fails(header(0, 2) .. "\1a\192\19\0\1\0\1\1b\192\12\0\1\0\1", "does not point backwards", 14)
            fails(header(0, 0, 0, 0, 1) .. "\1a\1b\1c\1d\1e\192", "compression pointer runs past the end", 22)
        end)

        it("a chain of more than 128 pointers", function()
            -- The first answer's data (from byte 23) is k pointers, each to the one before (the
            -- first to the root name at 12); the second answer's owner points at the last.
            local function chained(k)
                local chain = { "\192\12" }
                for i = 1, k - 1 do
                    chain[#chain + 1] = u16(0xc000 + 23 + (i - 1) * 2)
                end
                return header(0, 0, 2) .. "\0" .. rr(999, table.concat(chain)) .. u16(0xc000 + 23 + 2 * (k - 1))
                    .. rr(1, "\1\2\3\4")
            end
            fails(chained(128), "too many compression pointers")
            assert.are.equal(".", ds.decoded(chained(127)).answers[2].name) -- the owner's own pointer is the 128th
        end)

        it("record data that does not fit its type", function()
            local q0 = header(0, 0, 1) .. "\0"
            fails(q0 .. rr(1, "\1\2\3"), "A record data is not 4 bytes", 23)
            fails(q0 .. rr(28, "\1\2\3\4"), "AAAA record data is not 16 bytes", 23)
            fails(q0 .. rr(15, "\0\1"), "record data shorter than its fields", 23)
            fails(q0 .. rr(33, "\0\1\0\1\0\1"), "record data shorter than its fields", 23)
            fails(q0 .. rr(5, "\0\0"), "record data longer than its fields", 24)
            fails(q0 .. rr(5, "\1a") .. "\0", "name runs past the end", 25)
            fails(q0 .. rr(6, "\0\0" .. rep("\0", 19)), "SOA record data is not two names and 20 bytes", 25)
            fails(q0 .. rr(16, "\5ab"), "TXT string runs past the record data", 23)
        end)

        it("trailing bytes after the last record, and two OPT records", function()
            fails(header(0, 1) .. "\0\0\1\0\1xy", "2 bytes after the last record", 17)
            local opt = "\0" .. u16(41) .. "\4\208\0\0\0\0\0\0"
            fails(header(0, 0, 0, 0, 2) .. opt .. opt, "more than one OPT record")
        end)

        it("a 64 KiB message whose every name follows 128 pointers decodes in bounded time", function()
            local chain = { "\192\12" }
            for i = 1, 126 do
                chain[#chain + 1] = u16(0xc000 + 23 + (i - 1) * 2)
            end
            local rec = u16(0xc000 + 23 + 2 * 126) .. rr(999, "")
            local n = math.floor((65535 - 23 - 2 * 127) / #rec)
            local bytes = header(0, 0, 1, 0, n) .. "\0" .. rr(999, table.concat(chain)) .. rep(rec, n)
            local t0 = lnet.now()
            local msg = ds.decoded(bytes)
            assert.is_true(lnet.now() - t0 < 1, "took " .. (lnet.now() - t0))
            assert.are.equal(n, #msg.additional)
            assert.are.equal(".", msg.additional[n].name)
        end)
    end)

    describe("encode", function()
        it("refuses names it cannot write: nil and a DNSMessageError naming the field", function()
            local function q(name)
                return { questions = { { name = name, type = "A" } } }
            end
            refuses(q(rep("a", 64) .. ".test"), "questions[1].name: label longer than 63 bytes")
            refuses(q(rep(rep("a", 63) .. ".", 4)), "name longer than 255 bytes")
            refuses(q("a..test"), "empty label")
            refuses(q(".test"), "empty label")
            refuses(q(""), "empty name")
            refuses(q("a\\256.test"), "bad \\DDD escape")
            refuses(q("a\\1x.test"), "bad \\DDD escape")
            refuses(q("a.test\\"), "trailing backslash")
            refuses(reply_with { { name = "a..b", type = "A", ip = "1.2.3.4" } }, "answers[1].name: empty label")
            refuses(reply_with { { name = "a.", type = "CNAME", host = rep("b", 70) } }, "answers[1].host")
        end)

        it("refuses values out of range, addresses of the wrong family, unknown names", function()
            refuses(reply_with { { name = "a.", type = "A", ip = "::1" } }, "A record needs an IPv4 address")
            refuses(reply_with { { name = "a.", type = "AAAA", ip = "1.2.3.4" } }, "AAAA record needs an IPv6 address")
            refuses(reply_with { { name = "a.", type = "A", ip = "1.2.3" } }, "answers[1].ip: ParseAddr")
            refuses(reply_with { { name = "a.", type = "A", ip = "1.2.3.4", ttl = 2 ^ 32 } }, "answers[1].ttl")
            refuses(reply_with { { name = "a.", type = "MX", pref = -1, host = "m." } }, "answers[1].pref: -1 out of range")
            refuses(reply_with { { name = "a.", type = "SRV", priority = 0.5, weight = 0, port = 1, target = "." } },
                "out of range")
            refuses(reply_with { { name = "a.", type = "BOGUS", data = "" } }, "unknown record type \"BOGUS\"")
            refuses(reply_with { { name = "a.", type = 70000, data = "" } }, "out of range")
            refuses(reply_with { { name = "a.", type = "HINFO" } }, "answers[1]: no data for a record of type HINFO")
            refuses({ id = 65536 }, "id: 65536 out of range")
            refuses({ rcode = "NOPE" }, "unknown rcode")
            refuses({ rcode = "BADVERS" }, "needs an OPT record")
        end)

        it("refuses a message over 65,535 bytes", function()
            refuses(reply_with { { name = "a.", type = "TXT", texts = { rep("x", 70000) } } },
                "message longer than 65535 bytes")
            -- and stays usable afterwards
            assert.are.equal(12, #assert(dns.encode {}))
        end)

        it("raises on fields of the wrong type, naming them", function()
            assert.has_error(function()
                dns.encode("x")
            end, "bad argument #1 to 'encode' (table expected, got string)")
            assert.has_error(function()
                dns.encode { answers = 5 }
            end, "bad argument #1 to 'encode' (answers: table expected, got number)")
            assert.has_error(function()
                dns.encode { questions = { { name = 5, type = "A" } } }
            end, "bad argument #1 to 'encode' (questions[1].name: string expected, got number)")
            assert.has_error(function()
                dns.encode(reply_with { { name = "a.", type = "A", ip = "1.2.3.4", ttl = "x" } })
            end, "bad argument #1 to 'encode' (answers[1].ttl: number expected, got string)")
            assert.has_error(function()
                dns.encode(reply_with { { name = "a.", type = "TXT", texts = { 1 } } })
            end, "bad argument #1 to 'encode' (answers[1].texts[1]: string expected, got number)")
            assert.has_error(function()
                dns.encode(reply_with { { name = "a.", type = "A", ip = 7 } })
            end, "bad argument #1 to 'encode' (answers[1].ip: lnet.ip address or string expected, got number)")
            assert.has_error(function()
                dns.decode(7)
            end, "bad argument #1 to 'decode' (string expected, got number)")
        end)
    end)
end)
