-- lnet.proto.socks5: the proxy used by curl --socks5-hostname, the client
-- through it, refusals mapped to reply codes, and malformed requests.
local lnet = require "lnet"
local socks5 = require "lnet.proto.socks5"
local http = require "lnet.proto.http"

local support = require "support"

local function with_proxy(fn, opts)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local t = lnet.go(socks5.serve, ln, opts)
    local ok, err = pcall(fn, tostring(ln:addr()))
    ln:close()
    t:join()
    assert(ok, err)
end

local function with_http(fn)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local t = lnet.go(http.serve, ln, function(req)
        return 200, "via proxy " .. req.path
    end)
    local ok, err = pcall(fn, ln:addr().port)
    ln:close()
    t:join()
    assert(ok, err)
end

-- An echo server's port.
local function with_echo(fn)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local t = lnet.go(lnet.serve, ln, function(c)
        lnet.copy(c, c)
        c:close_write()
    end)
    local ok, err = pcall(fn, ln:addr().port)
    ln:close()
    t:join()
    assert(ok, err)
end

describe("socks5 proxy", function()
    it("carries curl --socks5-hostname to a name only the proxy resolves", function()
        with_http(function(port)
            with_proxy(function(proxy)
                local code, out, err = support.run({ "curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy,
                                                     "http://localhost:" .. port .. "/hello" },
                    { env = support.peer_environ() })
                assert.are.equal(0, code, err)
                assert.are.equal("via proxy /hello", out)
            end)
        end)
    end)

    it("relays both ways through the client's dial, 2 MiB each way, and half-closes", function()
        with_echo(function(port)
            with_proxy(function(proxy)
                local c = assert(socks5.dial(proxy, "127.0.0.1", port))
                local data = support.pattern(2 * support.MiB)
                local w = lnet.go(function()
                    c:write(data)
                    c:close_write()
                end)
                local got, err = support.read_all(c)
                assert.are.equal(lnet.EOF, err)
                assert.is_true(got == data)
                w:join()
                c:close()
            end)
        end)
    end)

    it("answers a refused target with reply 5, and a name that does not resolve with 4", function()
        local port = require("peers").free_port()
        local log = {}
        with_proxy(function(proxy)
            local c, err = socks5.dial(proxy, "127.0.0.1", port)
            assert.is_nil(c)
            assert.are.equal(socks5.REFUSED, err.code)
            assert.are.equal("socks5: CONNECT 127.0.0.1:" .. port .. ": connection refused", tostring(err))
            c, err = socks5.dial(proxy, "no..such", 80) -- not a domain name: no query is made
            assert.is_nil(c)
            assert.are.equal(socks5.HOST_UNREACHABLE, err.code)
        end, { log = function(msg)
            log[#log + 1] = msg
        end })
        assert.are.equal(2, #log)
    end)

    local bad = {
        { "another version", "\4\1\0", "" },
        { "no acceptable method", "\5\1\2", "\5\255" },
        { "BIND", "\5\1\0\5\2\0\1\127\0\0\1\0\80", "\5\0\5\7\0\1\0\0\0\0\0\0" },
        { "an unknown address type", "\5\1\0\5\1\0\9", "\5\0\5\8\0\1\0\0\0\0\0\0" },
        { "a request cut short", "\5\1\0\5\1\0\3\200abc", "\5\0" },
    }
    for _, case in ipairs(bad) do
        it("answers a greeting or request with " .. case[1] .. " as RFC 1928 says, and closes", function()
            with_proxy(function(proxy)
                local c = assert(lnet.dial("tcp", proxy))
                c:write(case[2])
                c:close_write()
                c:set_read_deadline(lnet.now() + 5)
                local out, err = support.read_all(c)
                assert.are.equal(lnet.EOF, err)
                assert.are.equal(case[3], out)
                c:close()
            end, { timeout = 1 })
        end)
    end
end)

describe("scripts/socks5.lua", function()
    it("proxies curl, and exits 0 on SIGTERM", function()
        with_http(function(port)
            local proc = assert(lnet.process.spawn({ argv = { support.host, "scripts/socks5.lua", "127.0.0.1:0" },
                                                     stdout = "pipe" }))
            local proxy = proc.stdout:read(200):match("listening (%S+)")
            local code, out = support.run({ "curl", "-sS", "--max-time", "10", "--socks5-hostname", proxy,
                                            "http://localhost:" .. port .. "/x" }, { env = support.peer_environ() })
            assert.are.equal(0, code)
            assert.are.equal("via proxy /x", out)
            proc:kill("SIGTERM")
            assert.are.equal(0, proc:wait())
            proc.stdout:close()
        end)
    end)
end)
