-- lnet.ip against Go's net/netip: the tables below are ported from Go's
-- netip_test.go and netip_pkg_test.go (TestParseAddr, TestParseIPError,
-- TestParseAddrPort, TestAddrPortMarshalTextString, TestParsePrefixError,
-- TestPrefix, TestPrefixContains, TestPrefixMasking, TestPrefixOverlaps,
-- TestIPProperties, TestIs4In6, nextPrevTests, TestAddrLessCompare, ...),
-- with the exact error text Go prints where Go's tests only want an error.

local ip = require "lnet.ip"
local errors = require "lnet.errors"

local char, rep = string.char, string.rep

local function must(s)
    local a, err = ip.parse_addr(s)
    assert(a, tostring(err))
    return a
end

local function must_prefix(s)
    local p, err = ip.parse_prefix(s)
    assert(p, tostring(err))
    return p
end

local function must_addr_port(s)
    local p, err = ip.parse_addr_port(s)
    assert(p, tostring(err))
    return p
end

local function from_hex(h)
    return (h:gsub("%x%x", function(x)
        return char(tonumber(x, 16))
    end))
end

-- Sorts parsed values with their compare method and returns them as text,
-- as Go's tests do with slices.SortFunc and %s.
local function sorted_text(parse, texts)
    local values = {}
    for i, s in ipairs(texts) do
        values[i] = parse(s)
    end
    table.sort(values, function(a, b)
        return a:compare(b) < 0
    end)
    for i, v in ipairs(values) do
        values[i] = tostring(v)
    end
    return table.concat(values, " ")
end

describe("lnet.ip", function()
    describe("parse_addr accepts", function()
        -- Go's TestParseAddr valid inputs: the String() form (when it differs
        -- from the input), the bytes and the zone.
        local valid = {
            { "0.0.0.0", hex = "00000000" },
            { "192.168.140.255", hex = "c0a88cff" },
            { "::", hex = "00000000000000000000000000000000" },
            { "::1", hex = "00000000000000000000000000000001" },
            { "fd7a:115c:a1e0:ab12:4843:cd96:626b:430b", hex = "fd7a115ca1e0ab124843cd96626b430b" },
            { "fd7a:115c::626b:430b", hex = "fd7a115c0000000000000000626b430b" },
            { "fd7a:115c:a1e0:ab12:4843:cd96::", hex = "fd7a115ca1e0ab124843cd9600000000" },
            { "fd7a:115c:a1e0:ab12:4843:cd96:626b::", str = "fd7a:115c:a1e0:ab12:4843:cd96:626b:0",
                hex = "fd7a115ca1e0ab124843cd96626b0000" },
            { "fd7a:115c:a1e0::4843:cd96:626b:430b", str = "fd7a:115c:a1e0:0:4843:cd96:626b:430b",
                hex = "fd7a115ca1e000004843cd96626b430b" },
            { "::ffff:192.168.140.255", hex = "00000000000000000000ffffc0a88cff" },
            { "fd7a:115c:a1e0:ab12:4843:cd96:626b:430b%eth0", hex = "fd7a115ca1e0ab124843cd96626b430b", zone = "eth0" },
            { "1:2::ffff:192.168.140.255%eth1", str = "1:2::ffff:c0a8:8cff%eth1",
                hex = "00010002000000000000ffffc0a88cff", zone = "eth1" },
            { "::ffff:192.168.140.255%eth1", hex = "00000000000000000000ffffc0a88cff", zone = "eth1" },
            { "FD9E:1A04:F01D::1", str = "fd9e:1a04:f01d::1", hex = "fd9e1a04f01d00000000000000000001" },
            -- RFC 5952 forms beyond Go's table.
            { "1:0:0:1:0:0:0:1", str = "1:0:0:1::1", hex = "00010000000000010000000000000001" },
            { "1:0:0:2:0:0:3:4", str = "1::2:0:0:3:4", hex = "00010000000000020000000000030004" },
            { "1:0:2:3:4:5:6:7", hex = "00010000000200030004000500060007" },
            { "0:0:0:0:0:0:0:1", str = "::1", hex = "00000000000000000000000000000001" },
            { "2001:DB8:0:0:0:0:0:0", str = "2001:db8::", hex = "20010db8000000000000000000000000" },
            { "::ffff:c000:0280", str = "::ffff:192.0.2.128", hex = "00000000000000000000ffffc0000280" },
            { "::fffe:c000:0280", str = "::fffe:c000:280", hex = "00000000000000000000fffec0000280" },
            { "::1.2.3.4", str = "::102:304", hex = "00000000000000000000000001020304" },
            { "1:2:3:4:5:6:1.2.3.4", str = "1:2:3:4:5:6:102:304", hex = "00010002000300040005000601020304" },
            { "0:0:0:0:0:ffff:1.2.3.4", str = "::ffff:1.2.3.4", hex = "00000000000000000000ffff01020304" },
            { "fe80::1%a%b", hex = "fe800000000000000000000000000001", zone = "a%b" },
        }
        for _, c in ipairs(valid) do
            it(c[1], function()
                local a = must(c[1])
                assert.are.equal(c.str or c[1], tostring(a))
                assert.are.equal(from_hex(c.hex), a:bytes())
                assert.are.equal(c.zone or "", a:zone())
                -- Parsing is pure, and String() parses back to the same value.
                assert.are.equal(a, must(c[1]))
                assert.are.equal(a, must(tostring(a)))
            end)
        end
    end)

    describe("parse_addr rejects with Go's message", function()
        local invalid = {
            -- TestParseAddr (validIPs with wantErr, then invalidIPs)
            { "010.000.015.001", 'ParseAddr("010.000.015.001"): IPv4 field has octet with leading zero' },
            { "000001.00000002.00000003.000000004",
                'ParseAddr("000001.00000002.00000003.000000004"): IPv4 field has octet with leading zero' },
            { "::ffff:1.2.03.4", 'ParseAddr("::ffff:1.2.03.4"): IPv4 field has octet with leading zero' },
            { "::ffff:1.2.3.z", 'ParseAddr("::ffff:1.2.3.z"): unexpected character (at "z")' },
            { "", 'ParseAddr(""): unable to parse IP' },
            { "bad", 'ParseAddr("bad"): unable to parse IP' },
            { "1234", 'ParseAddr("1234"): unable to parse IP' },
            { "1.2.3.4%eth0", 'ParseAddr("1.2.3.4%eth0"): unexpected character (at "%eth0")' },
            { ".1.2.3", 'ParseAddr(".1.2.3"): IPv4 field must have at least one digit (at ".1.2.3")' },
            { "1.2.3.", 'ParseAddr("1.2.3."): IPv4 field must have at least one digit (at ".")' },
            { "1..2.3", 'ParseAddr("1..2.3"): IPv4 field must have at least one digit (at ".2.3")' },
            { "1.2.3.4.5", 'ParseAddr("1.2.3.4.5"): IPv4 address too long' },
            { "0300.0250.0214.0377", 'ParseAddr("0300.0250.0214.0377"): IPv4 field has octet with leading zero' },
            { "0xc0.0xa8.0x8c.0xff", 'ParseAddr("0xc0.0xa8.0x8c.0xff"): unexpected character (at "xc0.0xa8.0x8c.0xff")' },
            { "192.168.12345", 'ParseAddr("192.168.12345"): IPv4 field has value >255' },
            { "127.0.1", 'ParseAddr("127.0.1"): IPv4 address too short' },
            { "192.1234567", 'ParseAddr("192.1234567"): IPv4 field has value >255' },
            { "127.1", 'ParseAddr("127.1"): IPv4 address too short' },
            { "192.168.300.1", 'ParseAddr("192.168.300.1"): IPv4 field has value >255' },
            { "192.168.0.1.5.6", 'ParseAddr("192.168.0.1.5.6"): IPv4 address too long' },
            { "1:2:3:4:5:6:7", 'ParseAddr("1:2:3:4:5:6:7"): address string too short' },
            { "1:2:3:4:5:6:7:8:9", 'ParseAddr("1:2:3:4:5:6:7:8:9"): trailing garbage after address (at "9")' },
            { "1:2:3:4::5:6:7:8", 'ParseAddr("1:2:3:4::5:6:7:8"): the :: must expand to at least one field of zeros' },
            { "fe801::1", 'ParseAddr("fe801::1"): each group must have 4 or less digits (at "fe801::1")' },
            { "fe80:tail:scal:e::",
                'ParseAddr("fe80:tail:scal:e::"): each colon-separated field must have at least one digit (at "tail:scal:e::")' },
            { "fe80::1%", 'ParseAddr("fe80::1%"): zone must be a non-empty string' },
            { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:192.168.140.255",
                'ParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:192.168.140.255"): embedded IPv4 address must replace the final 2 fields of the address (at "192.168.140.255")' },
            { "ffff::ffff:ffff:ffff:ffff:ffff:ffff:192.168.140.255",
                'ParseAddr("ffff::ffff:ffff:ffff:ffff:ffff:ffff:192.168.140.255"): too many hex fields to fit an embedded IPv4 at the end of the address (at "192.168.140.255")' },
            { "::ffff:192.168.140.bad", 'ParseAddr("::ffff:192.168.140.bad"): unexpected character (at "bad")' },
            { "fe80::1::1", 'ParseAddr("fe80::1::1"): multiple :: in address (at ":1")' },
            { "fe80:1?:1", 'ParseAddr("fe80:1?:1"): unexpected character, want colon (at "?:1")' },
            { "fe80:", 'ParseAddr("fe80:"): colon must be followed by more characters (at ":")' },
            { "0:0:0:0:0:ffff:0:00000", 'ParseAddr("0:0:0:0:0:ffff:0:00000"): each group must have 4 or less digits (at "00000")' },
            { "0:0:0:0:00000:ffff:127.1.2.3",
                'ParseAddr("0:0:0:0:00000:ffff:127.1.2.3"): each group must have 4 or less digits (at "00000:ffff:127.1.2.3")' },
            -- TestParseIPError
            { "localhost", 'ParseAddr("localhost"): unable to parse IP' },
            { "500.0.0.1", 'ParseAddr("500.0.0.1"): IPv4 field has value >255' },
            { "::gggg%eth0", 'ParseAddr("::gggg%eth0"): each colon-separated field must have at least one digit (at "gggg")' },
            { "fe80::1cc0:3e8c:119f:c2e1%", 'ParseAddr("fe80::1cc0:3e8c:119f:c2e1%"): zone must be a non-empty string' },
            { "%eth0", 'ParseAddr("%eth0"): missing IPv6 address' },
            -- The rest of Go's rules.
            { "1.2.3.04", 'ParseAddr("1.2.3.04"): IPv4 field has octet with leading zero' },
            { "1.2.3.4:80", 'ParseAddr("1.2.3.4:80"): unexpected character (at ":80")' },
            { "1:2.3.4.5", 'ParseAddr("1:2.3.4.5"): embedded IPv4 address must replace the final 2 fields of the address (at "2.3.4.5")' },
            { "::ffff:1.2.3", 'ParseAddr("::ffff:1.2.3"): IPv4 address too short' },
            { "::ffff:1.2.3.4.5%eth0", 'ParseAddr("::ffff:1.2.3.4.5%eth0"): IPv4 address too long' },
            { "::ffff:1.2.3.%eth0", 'ParseAddr("::ffff:1.2.3.%eth0"): IPv4 field must have at least one digit (at ".")' },
            { ":1", 'ParseAddr(":1"): each colon-separated field must have at least one digit (at ":1")' },
            { "1:::2", 'ParseAddr("1:::2"): each colon-separated field must have at least one digit (at ":2")' },
            { "[::1]", 'ParseAddr("[::1]"): each colon-separated field must have at least one digit (at "[::1]")' },
            { "12g4::", 'ParseAddr("12g4::"): unexpected character, want colon (at "g4::")' },
            { "::%", 'ParseAddr("::%"): zone must be a non-empty string' },
            -- strconv.Quote of the input: escapes, invalid UTF-8, non-printing code points.
            { "1.2.3.4\1", 'ParseAddr("1.2.3.4\\x01"): unexpected character (at "\\x01")' },
            { "1.2.3.4\t", 'ParseAddr("1.2.3.4\\t"): unexpected character (at "\\t")' },
            { "1.2.3.4\127", 'ParseAddr("1.2.3.4\\x7f"): unexpected character (at "\\x7f")' },
            { 'a"b\\c', 'ParseAddr("a\\"b\\\\c"): unable to parse IP' },
            { "caf\195\169", 'ParseAddr("caf\195\169"): unable to parse IP' },
            { "\240\159\152\128", 'ParseAddr("\240\159\152\128"): unable to parse IP' },
            { "\255x", 'ParseAddr("\\xffx"): unable to parse IP' },
            { "\194\160", 'ParseAddr("\\u00a0"): unable to parse IP' },
            { "\226\128\139", 'ParseAddr("\\u200b"): unable to parse IP' },
            { "\243\176\128\128", 'ParseAddr("\\U000f0000"): unable to parse IP' },
            { "\237\160\128", 'ParseAddr("\\xed\\xa0\\x80"): unable to parse IP' },
            { "\192\128", 'ParseAddr("\\xc0\\x80"): unable to parse IP' },
            { "\226\130", 'ParseAddr("\\xe2\\x82"): unable to parse IP' },
        }
        for _, c in ipairs(invalid) do
            it(string.format("%q", c[1]), function()
                local a, err = ip.parse_addr(c[1])
                assert.is_nil(a)
                assert.are.equal(c[2], tostring(err))
                assert.are.equal(err, errors.as(err, "ParseError"))
                assert.are.equal("IP address", err.type)
                assert.are.equal(c[1], err.text)
            end)
        end
    end)

    describe("interning", function()
        it("makes one table per address, so == compares addresses", function()
            local a = must("::1")
            assert.are.equal(a, must("0:0::1"))
            assert.are.equal(a, must("0000:0000:0000:0000:0000:0000:0000:0001"))
            assert.are.equal(a, ip.addr_from_bytes(rep("\0", 15) .. "\1"))
            assert.are.equal(a, ip.ipv6_loopback())
            assert.are.equal(must("10.1.2.3"), ip.addr_from_bytes("\10\1\2\3"))
            assert.are_not.equal(must("::1"), must("::2"))
        end)

        it("tells families and zones apart", function()
            assert.are_not.equal(must("1.2.3.4"), must("::ffff:1.2.3.4"))
            assert.are.equal(must("1.2.3.4"), must("::ffff:1.2.3.4"):unmap())
            assert.are_not.equal(must("fe80::1"), must("fe80::1%eth0"))
            assert.are_not.equal(must("fe80::1%eth0"), must("fe80::1%eth1"))
            assert.are.equal(must("fe80::1%eth0"), must("fe80::1"):with_zone("eth0"))
            assert.are.equal(must("fe80::1"), must("fe80::1%eth0"):with_zone(""))
        end)

        it("works as a table key", function()
            local seen = { [must("192.0.2.1")] = "v4", [must("2001:db8::1")] = "v6" }
            assert.are.equal("v4", seen[ip.addr_from_bytes("\192\0\2\1")])
            assert.are.equal("v6", seen[must("2001:0db8:0:0::1")])
        end)

        it("keeps a held address the same table across collections", function()
            local a = must("198.51.100.7")
            collectgarbage()
            collectgarbage()
            assert.are.equal(a, must("198.51.100.7"))
            assert.are.equal(a, ip.addr_from_bytes("\198\51\100\7"))
        end)

        it("interns prefixes too", function()
            assert.are.equal(must_prefix("10.0.0.0/8"), must("10.9.8.7"):prefix(8))
            assert.are_not.equal(must_prefix("10.0.0.0/8"), must_prefix("10.0.0.0/9"))
            assert.are_not.equal(must_prefix("0.0.0.0/0"), must_prefix("::/0"))
        end)

        it("refuses new fields on shared values", function()
            assert.has_error(function()
                must("1.2.3.4").note = "mine"
            end)
            assert.has_error(function()
                must_prefix("1.2.3.0/24").note = "mine"
            end)
        end)
    end)

    describe("addr_from_bytes", function()
        it("makes IPv4 from 4 bytes", function()
            local a = ip.addr_from_bytes("\10\0\0\1")
            assert.is_true(a:is4())
            assert.are.equal("10.0.0.1", tostring(a))
            assert.are.equal(32, a:bit_len())
        end)

        it("makes IPv6 from 16 bytes", function()
            local a = ip.addr_from_bytes("\254\128" .. rep("\0", 13) .. "\1")
            assert.are.equal(must("fe80::01"), a)
            assert.are.equal(128, a:bit_len())
        end)

        it("keeps a mapped IPv4 address IPv6, as Go's AddrFromSlice", function()
            local a = ip.addr_from_bytes(rep("\0", 10) .. "\255\255\1\2\3\4")
            assert.is_true(a:is6())
            assert.is_true(a:is4in6())
            assert.are.equal("::ffff:1.2.3.4", tostring(a))
            assert.are.equal(must("1.2.3.4"), a:unmap())
        end)

        for _, b in ipairs({ "", "\0\1\2", "\1\2\3\4\5", rep("\0", 15), rep("\0", 17) }) do
            it("rejects " .. #b .. " bytes", function()
                local a, err = ip.addr_from_bytes(b)
                assert.is_nil(a)
                assert.are.equal("unexpected slice size", tostring(err))
                assert.are.equal(err, errors.as(err, "ParseError"))
            end)
        end

        it("gives the address's bytes back", function()
            assert.are.equal("\1\2\3\4", must("1.2.3.4"):bytes())
            assert.are.equal(rep("\0", 10) .. "\255\255\1\2\3\4", must("::ffff:1.2.3.4"):bytes())
            assert.are.equal("\255\255" .. rep("\0", 13) .. "\1", must("ffff::1"):bytes())
        end)
    end)

    describe("families", function()
        -- TestIs4AndIs6, TestIPBitLen
        local cases = {
            { "1.2.3.4", true, false, 32 },
            { "127.0.0.2", true, false, 32 },
            { "::1", false, true, 128 },
            { "::ffff:192.0.2.128", false, true, 128 },
            { "::fffe:c000:0280", false, true, 128 },
            { "::1%eth0", false, true, 128 },
            { "fed0::1", false, true, 128 },
        }
        for _, c in ipairs(cases) do
            it(c[1], function()
                local a = must(c[1])
                assert.are.equal(c[2], a:is4())
                assert.are.equal(c[3], a:is6())
                assert.are.equal(c[4], a:bit_len())
            end)
        end

        -- TestIs4In6: whether mapped, and what unmap gives.
        local mapped = {
            { "::ffff:c000:0280", true, "192.0.2.128" },
            { "::ffff:192.0.2.128", true, "192.0.2.128" },
            { "::ffff:192.0.2.128%eth0", true, "192.0.2.128" },
            { "::fffe:c000:0280", false, "::fffe:c000:280" },
            { "::ffff:127.1.2.3", true, "127.1.2.3" },
            { "::ffff:7f01:0203", true, "127.1.2.3" },
            { "0:0:0:0:0000:ffff:127.1.2.3", true, "127.1.2.3" },
            { "0:0:0:0::ffff:127.1.2.3", true, "127.1.2.3" },
            { "::1", false, "::1" },
            { "1.2.3.4", false, "1.2.3.4" },
        }
        for _, c in ipairs(mapped) do
            it("is4in6 and unmap of " .. c[1], function()
                local a = must(c[1])
                assert.are.equal(c[2], a:is4in6())
                assert.are.equal(must(c[3]), a:unmap())
            end)
        end

        it("with_zone is a no-op on IPv4", function()
            local a = must("1.2.3.4")
            assert.are.equal(a, a:with_zone("eth0"))
            assert.are.equal("", a:zone())
        end)

        it("allows a zone on a mapped address, as Go does", function()
            local a = must("::ffff:1.2.3.4"):with_zone("eth0")
            assert.are.equal("::ffff:1.2.3.4%eth0", tostring(a))
            assert.are.equal(must("1.2.3.4"), a:unmap())
        end)

        it("names the well-known addresses", function()
            assert.are.equal("0.0.0.0", tostring(ip.ipv4_unspecified()))
            assert.are.equal("::", tostring(ip.ipv6_unspecified()))
            assert.are.equal("::1", tostring(ip.ipv6_loopback()))
        end)

        it("tells its values apart", function()
            assert.is_true(ip.is_addr(must("::1")))
            assert.is_false(ip.is_addr("::1"))
            assert.is_false(ip.is_addr(must_prefix("::/0")))
            assert.is_true(ip.is_prefix(must_prefix("::/0")))
            assert.is_false(ip.is_prefix(must("::")))
            assert.is_true(ip.is_addr_port(must_addr_port("[::]:1")))
            assert.is_false(ip.is_addr_port(must("::")))
        end)
    end)

    describe("string_expanded", function()
        -- TestIPStringExpanded
        local cases = {
            { "192.0.2.1", "192.0.2.1" },
            { "::ffff:192.0.2.1", "0000:0000:0000:0000:0000:ffff:c000:0201" },
            { "2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001" },
            { "2001:db8::1%eth0", "2001:0db8:0000:0000:0000:0000:0000:0001%eth0" },
        }
        for _, c in ipairs(cases) do
            it(c[1], function()
                assert.are.equal(c[2], must(c[1]):string_expanded())
            end)
        end
    end)

    describe("classification", function()
        -- TestIPProperties: which of global unicast (gu), interface-local
        -- multicast (ilm), link-local multicast (llm), link-local unicast
        -- (llu), loopback (lo), multicast (mc), private (pv), unspecified
        -- (un) each address is.
        local cases = {
            { "192.0.2.1", "gu" },
            { "::ffff:192.0.2.1", "gu" },
            { "2001:db8::1", "gu" },
            { "2001:db8::1%eth0", "gu" },
            { "4000::1", "gu" },
            { "224.0.0.1", "llm mc" },
            { "::ffff:224.0.0.1", "llm mc" },
            { "ff02::1", "llm mc" },
            { "ff02::1%eth0", "llm mc" },
            { "169.254.0.1", "llu" },
            { "::ffff:169.254.0.1", "llu" },
            { "fe80::1", "llu" },
            { "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "llu" },
            { "fe80::1%eth0", "llu" },
            { "127.0.0.1", "lo" },
            { "::1", "lo" },
            { "::ffff:127.0.0.1", "lo" },
            { "ff01::1", "ilm mc" },
            { "ff01::1%eth0", "ilm mc" },
            { "10.0.0.1", "gu pv" },
            { "172.16.0.1", "gu pv" },
            { "192.168.1.1", "gu pv" },
            { "fd00::1", "gu pv" },
            { "::ffff:10.0.0.1", "gu pv" },
            { "::ffff:172.16.0.1", "gu pv" },
            { "::ffff:192.168.1.1", "gu pv" },
            { "0.0.0.0", "un" },
            { "::", "un" },
            -- Edges of the ranges, and Go's whole-address comparisons.
            { "172.31.255.255", "gu pv" },
            { "172.32.0.0", "gu" },
            { "fc00::", "gu pv" },
            { "fe00::", "gu" },
            { "fec0::1", "gu" },
            { "239.255.255.255", "mc" },
            { "255.255.255.255", "" },
            { "255.1.2.3", "gu" },
            { "::ffff:0.0.0.0", "" },
            { "::ffff:239.1.1.1", "mc" },
            { "::%eth0", "gu" },
        }
        local predicates = {
            gu = "is_global_unicast",
            ilm = "is_interface_local_multicast",
            llm = "is_link_local_multicast",
            llu = "is_link_local_unicast",
            lo = "is_loopback",
            mc = "is_multicast",
            pv = "is_private",
            un = "is_unspecified",
        }
        for _, c in ipairs(cases) do
            it(c[1] .. " is " .. (c[2] == "" and "none" or c[2]), function()
                local a = must(c[1])
                for short, method in pairs(predicates) do
                    local want = (" " .. c[2] .. " "):find(" " .. short .. " ", 1, true) ~= nil
                    assert.are.equal(want, a[method](a), method)
                end
            end)
        end
    end)

    describe("next and prev", function()
        -- Go's nextPrevTests; nil is Go's invalid zero Addr.
        local cases = {
            { "10.0.0.1", "10.0.0.2", "10.0.0.0" },
            { "10.0.0.255", "10.0.1.0", "10.0.0.254" },
            { "127.0.0.1", "127.0.0.2", "127.0.0.0" },
            { "254.255.255.255", "255.0.0.0", "254.255.255.254" },
            { "255.255.255.255", nil, "255.255.255.254" },
            { "0.0.0.0", "0.0.0.1", nil },
            { "::", "::1", nil },
            { "::%x", "::1%x", nil },
            { "::1", "::2", "::" },
            { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe" },
            { "::ffff:255.255.255.255", "::1:0:0:0", "::ffff:255.255.255.254" },
            { "::ffff:0.0.0.0", "::ffff:0.0.0.1", "::fffe:ffff:ffff" },
            { "1:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2::", "1:ffff:ffff:ffff:ffff:ffff:ffff:fffe" },
        }
        for _, c in ipairs(cases) do
            it(c[1], function()
                local a = must(c[1])
                local next, prev = a:next(), a:prev()
                assert.are.equal(c[2] and must(c[2]), next)
                assert.are.equal(c[3] and must(c[3]), prev)
                if next then
                    assert.are.equal(a, next:prev())
                end
                if prev then
                    assert.are.equal(a, prev:next())
                end
            end)
        end
    end)

    describe("compare", function()
        -- TestAddrLessCompare: whether a sorts before b.
        local cases = {
            { "1.2.3.4", "0102:0304::0", true },
            { "0102:0304::0", "1.2.3.4", false },
            { "1.2.3.4", "1.2.3.4", false },
            { "::1", "::2", true },
            { "::1", "::1%foo", true },
            { "::1%foo", "::2", true },
            { "::2", "::3", true },
            { "::", "0.0.0.0", false },
            { "0.0.0.0", "::", true },
            { "::1%a", "::1%b", true },
            { "::1%a", "::1%a", false },
            { "::1%b", "::1%a", false },
            -- Bytes compare unsigned and as numbers, not as text.
            { "::1", "ff::", true },
            { "9.0.0.0", "10.0.0.0", true },
            { "127.255.255.255", "128.0.0.0", true },
            { "255.255.255.255", "::ffff:0.0.0.0", true },
        }
        for _, c in ipairs(cases) do
            it(c[1] .. " < " .. c[2] .. " is " .. tostring(c[3]), function()
                local a, b = must(c[1]), must(c[2])
                assert.are.equal(c[3], a:less(b))
                assert.are.equal(c[3], a < b)
                local cmp = a:compare(b)
                assert.are.equal(c[3] and -1 or (a == b and 0 or 1), cmp)
                assert.are.equal(-cmp, b:compare(a))
                assert.are.equal(cmp <= 0, a <= b)
            end)
        end

        it("sorts as Go sorts", function()
            assert.are.equal("1.2.3.4 8.8.8.8 ::1 ::1%foo ::2",
                sorted_text(must, { "::1", "::2", "1.2.3.4", "8.8.8.8", "::1%foo" }))
        end)
    end)

    describe("parse_addr_port", function()
        -- TestParseAddrPort and TestAddrPortMarshalTextString: input, String(), ip, port.
        local valid = {
            { "1.2.3.4:1234", "1.2.3.4:1234", "1.2.3.4", 1234 },
            { "[::1]:1234", "[::1]:1234", "::1", 1234 },
            { "1.2.3.4:80", "1.2.3.4:80", "1.2.3.4", 80 },
            { "[::]:80", "[::]:80", "::", 80 },
            { "[1::CAFE]:80", "[1::cafe]:80", "1::cafe", 80 },
            { "[1::CAFE%en0]:80", "[1::cafe%en0]:80", "1::cafe%en0", 80 },
            { "[::FFFF:192.168.140.255]:80", "[::ffff:192.168.140.255]:80", "::ffff:192.168.140.255", 80 },
            { "[::FFFF:192.168.140.255%en0]:80", "[::ffff:192.168.140.255%en0]:80", "::ffff:192.168.140.255%en0", 80 },
            { "1.2.3.4:0080", "1.2.3.4:80", "1.2.3.4", 80 },
            { "0.0.0.0:0", "0.0.0.0:0", "0.0.0.0", 0 },
            { "[fe80::1%eth0]:65535", "[fe80::1%eth0]:65535", "fe80::1%eth0", 65535 },
        }
        for _, c in ipairs(valid) do
            it("accepts " .. c[1], function()
                local p = must_addr_port(c[1])
                assert.are.equal(c[2], tostring(p))
                assert.are.equal(must(c[3]), p.ip)
                assert.are.equal(c[4], p.port)
                assert.are.equal(p, must_addr_port(tostring(p)))
            end)
        end

        local invalid = {
            { "1.1.1.1:123456", 'invalid port "123456" parsing "1.1.1.1:123456"' },
            { "1.1.1.1:-123", 'invalid port "-123" parsing "1.1.1.1:-123"' },
            { "1.1.1.1:+123", 'invalid port "+123" parsing "1.1.1.1:+123"' },
            { "1.1.1.1:65536", 'invalid port "65536" parsing "1.1.1.1:65536"' },
            { "1.1.1.1:http", 'invalid port "http" parsing "1.1.1.1:http"' },
            { "[1.2.3.4]:1234", 'invalid ip:port "[1.2.3.4]:1234", square brackets can only be used with IPv6 addresses' },
            { "fe80::1:1234", 'invalid ip:port "fe80::1:1234", IPv6 addresses must be surrounded by square brackets' },
            { ":0", "no IP" },
            { "1.2.3.4", "not an ip:port" },
            { "1.2.3.4:", "no port" },
            { "[::1:80", "missing ]" },
            { "[:80", "missing ]" },
            { "1.2.3:80", 'ParseAddr("1.2.3"): IPv4 address too short' },
            { "[]:80", 'ParseAddr(""): unable to parse IP' },
            { "[::1]]:80", 'ParseAddr("::1]"): unexpected character, want colon (at "]")' },
            { "localhost:80", 'ParseAddr("localhost"): unable to parse IP' },
            { "[fe80::1%]:80", 'ParseAddr("fe80::1%"): zone must be a non-empty string' },
        }
        for _, c in ipairs(invalid) do
            it("rejects " .. c[1], function()
                local p, err = ip.parse_addr_port(c[1])
                assert.is_nil(p)
                assert.are.equal(c[2], tostring(err))
                assert.are.equal(err, errors.as(err, "ParseError"))
                assert.are.equal("IP address and port", err.type)
                assert.are.equal(c[1], err.text)
            end)
        end

        it("builds one from an address and a port", function()
            local p = ip.addr_port(must("::1"), 53)
            assert.are.equal("[::1]:53", tostring(p))
            assert.are.equal(must_addr_port("[::1]:53"), p)
            assert.are_not.equal(must_addr_port("[::1]:54"), p)
        end)

        -- TestAddrPortCompare
        local order = {
            { "1.2.3.4:80", "1.2.3.4:80", 0 },
            { "[::1]:80", "[::1]:80", 0 },
            { "1.2.3.4:80", "2.3.4.5:22", -1 },
            { "[::1]:80", "[::2]:22", -1 },
            { "1.2.3.4:80", "1.2.3.4:443", -1 },
            { "[::1]:80", "[::1]:443", -1 },
            { "1.2.3.4:80", "[0102:0304::0]:80", -1 },
        }
        for _, c in ipairs(order) do
            it("compares " .. c[1] .. " with " .. c[2], function()
                local a, b = must_addr_port(c[1]), must_addr_port(c[2])
                assert.are.equal(c[3], a:compare(b))
                assert.are.equal(-c[3], b:compare(a))
            end)
        end

        it("sorts as Go sorts", function()
            assert.are.equal("1.2.3.4:443 8.8.8.8:8080 [::1]:80 [::1%foo]:1024 [::2]:80",
                sorted_text(must_addr_port, { "[::1]:80", "[::2]:80", "1.2.3.4:443", "8.8.8.8:8080", "[::1%foo]:1024" }))
        end)
    end)

    describe("parse_prefix", function()
        -- TestPrefix, TestPrefixMarshalTextString: String(), address, bits.
        local valid = {
            { "192.168.0.0/24", "192.168.0.0", 24 },
            { "192.168.1.1/32", "192.168.1.1", 32 },
            { "100.64.0.0/10", "100.64.0.0", 10 },
            { "2001:db8::/96", "2001:db8::", 96 },
            { "0.0.0.0/0", "0.0.0.0", 0 },
            { "::/0", "::", 0 },
            { "2000::/3", "2000::", 3 },
            { "1.2.3.4/24", "1.2.3.4", 24 },
            { "fd7a:115c:a1e0:ab12:4843:cd96:626b:430b/118", "fd7a:115c:a1e0:ab12:4843:cd96:626b:430b", 118 },
            { "::ffff:c000:0280/96", "::ffff:192.0.2.128", 96, str = "::ffff:192.0.2.128/96" },
            { "::ffff:192.168.140.255/8", "::ffff:192.168.140.255", 8 },
            { "::1/128", "::1", 128 },
            { "2001:db8::/32", "2001:db8::", 32 },
        }
        for _, c in ipairs(valid) do
            it("accepts " .. c[1], function()
                local p = must_prefix(c[1])
                assert.are.equal(c.str or c[1], tostring(p))
                assert.are.equal(must(c[2]), p:addr())
                assert.are.equal(c[3], p:bits())
                assert.are.equal(p, must_prefix(tostring(p)))
            end)
        end

        -- TestParsePrefixError, with Go's whole message.
        local invalid = {
            { "192.168.0.0", [[netip.ParsePrefix("192.168.0.0"): no '/']] },
            { "1.257.1.1/24", [[netip.ParsePrefix("1.257.1.1/24"): ParseAddr("1.257.1.1"): IPv4 field has value >255]] },
            { "1.1.1.0/q", [[netip.ParsePrefix("1.1.1.0/q"): bad bits after slash: "q"]] },
            { "1.1.1.0/-1", [[netip.ParsePrefix("1.1.1.0/-1"): bad bits after slash: "-1"]] },
            { "1.1.1.0/33", [[netip.ParsePrefix("1.1.1.0/33"): prefix length out of range]] },
            { "2001::/129", [[netip.ParsePrefix("2001::/129"): prefix length out of range]] },
            { "1.1.1.0%a/24", [[netip.ParsePrefix("1.1.1.0%a/24"): ParseAddr("1.1.1.0%a"): unexpected character (at "%a")]] },
            { "2001:db8::%a/32", [[netip.ParsePrefix("2001:db8::%a/32"): IPv6 zones cannot be present in a prefix]] },
            { "1.1.1.0/+32", [[netip.ParsePrefix("1.1.1.0/+32"): bad bits after slash: "+32"]] },
            { "1.1.1.0/-32", [[netip.ParsePrefix("1.1.1.0/-32"): bad bits after slash: "-32"]] },
            { "1.1.1.0/032", [[netip.ParsePrefix("1.1.1.0/032"): bad bits after slash: "032"]] },
            { "1.1.1.0/0032", [[netip.ParsePrefix("1.1.1.0/0032"): bad bits after slash: "0032"]] },
            { "1.2.3.4/08", [[netip.ParsePrefix("1.2.3.4/08"): bad bits after slash: "08"]] },
            { "1.2.3.4/00", [[netip.ParsePrefix("1.2.3.4/00"): bad bits after slash: "00"]] },
            { "1.2.3.4/", [[netip.ParsePrefix("1.2.3.4/"): bad bits after slash: ""]] },
            { "1.2.3.4/+", [[netip.ParsePrefix("1.2.3.4/+"): bad bits after slash: "+"]] },
            { "1.2.3.4/ 24", [[netip.ParsePrefix("1.2.3.4/ 24"): bad bits after slash: " 24"]] },
            { "1.2.3.4/9223372036854775807", [[netip.ParsePrefix("1.2.3.4/9223372036854775807"): prefix length out of range]] },
            { "1.2.3.4/9223372036854775808",
                [[netip.ParsePrefix("1.2.3.4/9223372036854775808"): bad bits after slash: "9223372036854775808"]] },
            { "/24", [[netip.ParsePrefix("/24"): ParseAddr(""): unable to parse IP]] },
            { "fe80::1%/64", [[netip.ParsePrefix("fe80::1%/64"): ParseAddr("fe80::1%"): zone must be a non-empty string]] },
            { "1.2.3.4/24/24", [[netip.ParsePrefix("1.2.3.4/24/24"): ParseAddr("1.2.3.4/24"): unexpected character (at "/24")]] },
        }
        for _, c in ipairs(invalid) do
            it("rejects " .. c[1], function()
                local p, err = ip.parse_prefix(c[1])
                assert.is_nil(p)
                assert.are.equal(c[2], tostring(err))
                assert.are.equal(err, errors.as(err, "ParseError"))
                assert.are.equal("IP prefix", err.type)
                assert.are.equal(c[1], err.text)
            end)
        end
    end)

    describe("prefix", function()
        -- TestPrefixMasking: the address, the bits, the prefix or Go's error.
        local masking = {
            { "192.0.2.0", 255, err = "prefix length 255 too large for IPv4" },
            { "192.0.2.0", 16, "192.0.0.0/16" },
            { "255.255.255.255", 20, "255.255.240.0/20" },
            { "100.98.156.66", 10, "100.64.0.0/10" },
            { "1.2.3.4", -1, err = "negative Prefix bits" },
            { "1.2.3.4", 32, "1.2.3.4/32" },
            { "1.2.3.4", 0, "0.0.0.0/0" },
        }
        for _, zone in ipairs({ "", "%eth0" }) do
            local v6 = {
                { "2001:db8::1" .. zone, 255, err = "prefix length 255 too large for IPv6" },
                { "2001:db8::1" .. zone, 32, "2001:db8::/32" },
                { "fe80::dead:beef:dead:beef" .. zone, 96, "fe80::dead:beef:0:0/96" },
                { "aaaa::" .. zone, 4, "a000::/4" },
                { "::" .. zone, 63, "::/63" },
            }
            for _, c in ipairs(v6) do
                masking[#masking + 1] = c
            end
        end
        for _, c in ipairs(masking) do
            it(c[1] .. " to " .. c[2] .. " bits", function()
                local a = must(c[1])
                local p, err = a:prefix(c[2])
                if c.err then
                    assert.is_nil(p)
                    assert.are.equal(c.err, tostring(err))
                    assert.are.equal(err, errors.as(err, "ParseError"))
                else
                    assert.are.equal(must_prefix(c[3]), p)
                    assert.are.equal(c[3], tostring(p))
                end
                assert.are.equal(c[1], tostring(a)) -- not changed
            end)
        end

        -- TestPrefixMasked
        local masked = {
            { "192.168.0.255/24", "192.168.0.0/24" },
            { "2100::/3", "2000::/3" },
            { "::ffff:192.168.140.255/8", "::/8" },
            { "::ffff:192.168.140.255/104", "::ffff:192.0.0.0/104" },
            { "1.2.3.4/32", "1.2.3.4/32" },
        }
        for _, c in ipairs(masked) do
            it("masks " .. c[1], function()
                assert.are.equal(must_prefix(c[2]), must_prefix(c[1]):masked())
            end)
        end

        -- TestPrefix (contains, notContains) and TestPrefixContains.
        local contains = {
            { "192.168.0.0/24", { "192.168.0.1", "192.168.0.55" }, { "192.168.1.1", "1.1.1.1" } },
            { "192.168.1.1/32", { "192.168.1.1" }, { "192.168.1.2" } },
            { "100.64.0.0/10",
                { "100.64.0.0", "100.64.0.1", "100.81.251.94", "100.100.100.100", "100.127.255.254", "100.127.255.255" },
                { "100.63.255.255", "100.128.0.0" } },
            { "2001:db8::/96", { "2001:db8::aaaa:bbbb", "2001:db8::1" }, { "2001:db8::1:aaaa:bbbb", "2001:db9::" } },
            { "0.0.0.0/0", { "192.168.0.1", "1.1.1.1" }, { "2001:db8::1" } },
            { "::/0", { "::1", "2001:db8::1" }, { "192.0.2.1" } },
            { "2000::/3", { "2001:db8::1" }, { "fe80::1" } },
            { "9.8.7.6/0", { "9.8.7.6" }, { "::1" } },
            { "9.8.7.6/16", { "9.8.7.6", "9.8.6.4" }, { "9.9.7.6" } },
            { "9.8.7.6/32", { "9.8.7.6" }, { "9.8.7.7" } },
            { "::1/0", { "::1", "::2" }, { "1.2.3.4" } },
            { "::1/127", { "::1" }, { "::2" } },
            { "::1/128", { "::1" }, { "::2" } },
            -- Zoned addresses are in no prefix; mapped and plain IPv4 never mix.
            { "fe80::/10", { "fe80::1", "febf::1" }, { "fe80::1%eth0", "fec0::1" } },
            { "::ffff:0.0.0.0/96", { "::ffff:1.2.3.4" }, { "1.2.3.4" } },
            { "1.2.3.0/24", { "1.2.3.4" }, { "::ffff:1.2.3.4" } },
        }
        for _, c in ipairs(contains) do
            it(c[1] .. " contains", function()
                local p = must_prefix(c[1])
                for _, s in ipairs(c[2]) do
                    assert.is_true(p:contains(must(s)), s)
                end
                for _, s in ipairs(c[3]) do
                    assert.is_false(p:contains(must(s)), s)
                end
            end)
        end

        it("prefix_from keeps host bits and drops the zone", function()
            local p = ip.prefix_from(must("::1%a"), 128)
            assert.are.equal(must_prefix("::1/128"), p)
            assert.is_true(p:contains(must("::1")))
            assert.are.equal("1.2.3.4/24", tostring(ip.prefix_from(must("1.2.3.4"), 24)))
            local bad, err = ip.prefix_from(must("1.2.3.4"), 33)
            assert.is_nil(bad)
            assert.are.equal("prefix length 33 too large for IPv4", tostring(err))
        end)

        -- TestPrefixIsSingleIP
        local single = {
            { "127.0.0.1/32", true },
            { "127.0.0.1/31", false },
            { "127.0.0.1/0", false },
            { "::1/128", true },
            { "::1/127", false },
            { "::1/0", false },
            { "::ffff:1.2.3.4/32", false },
        }
        for _, c in ipairs(single) do
            it(c[1] .. " is_single_ip is " .. tostring(c[2]), function()
                assert.are.equal(c[2], must_prefix(c[1]):is_single_ip())
            end)
        end

        -- TestPrefixOverlaps; overlaps is commutative.
        local overlaps = {
            { "::0/3", "0.0.0.0/3", false },
            { "1.2.0.0/16", "1.2.0.0/16", true },
            { "1.2.0.0/16", "1.2.3.0/24", true },
            { "1.2.0.0/16", "1.2.3.0/32", true },
            { "1.2.3.0/32", "0.0.0.0/0", true },
            { "1.2.3.0/32", "5.5.5.5/0", true },
            { "5::1/128", "5::0/8", true },
            { "1::1/128", "2::2/128", false },
            { "0100::0/8", "::1/128", false },
            { "::ffff:1.2.0.0/112", "1.2.3.0/24", false },
            { "10.0.0.0/9", "10.128.0.0/9", false },
            { "10.0.0.0/8", "10.128.0.0/9", true },
        }
        for _, c in ipairs(overlaps) do
            it(c[1] .. " overlaps " .. c[2] .. " is " .. tostring(c[3]), function()
                local a, b = must_prefix(c[1]), must_prefix(c[2])
                assert.are.equal(c[3], a:overlaps(b))
                assert.are.equal(c[3], b:overlaps(a))
            end)
        end

        -- TestPrefixCompare
        local order = {
            { "1.2.3.0/24", "1.2.3.0/24", 0 },
            { "fe80::/64", "fe80::/64", 0 },
            { "1.2.3.0/24", "1.2.4.0/24", -1 },
            { "fe80::/64", "fe90::/64", -1 },
            { "1.2.0.0/16", "1.2.0.0/24", -1 },
            { "fe80::/48", "fe80::/64", -1 },
            { "1.2.3.0/24", "fe80::/8", -1 },
            { "1.2.3.0/24", "1.2.3.4/24", -1 },
        }
        for _, c in ipairs(order) do
            it("compares " .. c[1] .. " with " .. c[2], function()
                local a, b = must_prefix(c[1]), must_prefix(c[2])
                assert.are.equal(c[3], a:compare(b))
                assert.are.equal(-c[3], b:compare(a))
                assert.are.equal(c[3] < 0, a < b)
            end)
        end

        it("sorts as Go sorts", function()
            assert.are.equal("1.2.0.0/16 1.2.0.0/24 1.2.3.0/24 fe80::/48 fe80::/64 fe90::/64",
                sorted_text(must_prefix,
                    { "1.2.3.0/24", "fe90::/64", "fe80::/64", "1.2.0.0/16", "fe80::/48", "1.2.0.0/24" }))
        end)
    end)

    describe("misuse", function()
        local raises = {
            { "parse_addr(nil)", function()
                ip.parse_addr(nil)
            end, "bad argument #1 to 'parse_addr' (string expected, got nil)" },
            { "parse_addr_port(80)", function()
                ip.parse_addr_port(80)
            end, "bad argument #1 to 'parse_addr_port' (string expected, got number)" },
            { "parse_prefix({})", function()
                ip.parse_prefix({})
            end, "bad argument #1 to 'parse_prefix' (string expected, got table)" },
            { "addr_from_bytes(nil)", function()
                ip.addr_from_bytes(nil)
            end, "bad argument #1 to 'addr_from_bytes' (string expected, got nil)" },
            { "compare with a string", function()
                must("::1"):compare("::1")
            end, "bad argument #1 to 'compare' (lnet.ip address expected, got string)" },
            { "contains a string", function()
                must_prefix("::/0"):contains("::1")
            end, "bad argument #1 to 'contains' (lnet.ip address expected, got string)" },
            { "overlaps an address", function()
                must_prefix("::/0"):overlaps(must("::1"))
            end, "bad argument #1 to 'overlaps' (lnet.ip prefix expected, got table)" },
            { "prefix of text bits", function()
                must("::1"):prefix("8")
            end, "bad argument #1 to 'prefix' (integer expected, got string)" },
            { "prefix of fractional bits", function()
                must("::1"):prefix(8.5)
            end, "bad argument #1 to 'prefix' (integer expected, got number)" },
            { "with_zone(nil)", function()
                must("::1"):with_zone(nil)
            end, "bad argument #1 to 'with_zone' (string expected, got nil)" },
            { "addr_port with a port out of range", function()
                ip.addr_port(must("::1"), 65536)
            end, "bad argument #2 to 'addr_port' (port number (0-65535) expected, got number)" },
            { "addr_port with text", function()
                ip.addr_port("::1", 80)
            end, "bad argument #1 to 'addr_port' (lnet.ip address expected, got string)" },
        }
        for _, c in ipairs(raises) do
            it("raises for " .. c[1], function()
                local ok, msg = pcall(c[2])
                assert.is_false(ok)
                -- The position is the caller's: this spec file.
                assert.are.equal("ip_spec.lua", msg:match("([%w_]+%.lua):%d+:"))
                assert.are.equal(c[3], msg:match(":%d+: (.*)$"))
            end)
        end
    end)

    describe("arbitrary text", function()
        -- A fixed pseudo-random walk over the characters the parsers care
        -- about: no text may raise, and whatever parses must print as text
        -- that parses back to the same value.
        local pieces = {
            "0", "1", "9", "f", "F", "g", ".", ":", "::", "%", "[", "]", "/", "255", "256", "ffff",
            "00", "12345", "eth0", "+", "-", " ", "\0", "\255", "\195\169", "1.2.3.4", "::ffff:", "32", "128",
        }
        local seed = 12345
        local function random(n)
            seed = (seed * 1103515245 + 12345) % 2147483648
            return seed % n + 1
        end

        it("never raises, and round-trips what it accepts", function()
            local accepted = 0
            for _ = 1, 20000 do
                local t = {}
                for k = 1, random(8) do
                    t[k] = pieces[random(#pieces)]
                end
                local s = table.concat(t)
                local a = ip.parse_addr(s)
                if a then
                    accepted = accepted + 1
                    assert.are.equal(a, ip.parse_addr(tostring(a)), s)
                end
                local p = ip.parse_prefix(s)
                if p then
                    assert.are.equal(p, ip.parse_prefix(tostring(p)), s)
                end
                local ap = ip.parse_addr_port(s)
                if ap then
                    assert.are.equal(ap, ip.parse_addr_port(tostring(ap)), s)
                end
            end
            assert.is_true(accepted > 100, "the walk should reach valid addresses")
        end)
    end)
end)
