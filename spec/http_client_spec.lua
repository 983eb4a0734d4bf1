-- lnet.proto.http's client against a real nginx (keep-alive, Content-Length,
-- chunked, HEAD, 304, a body over 1 MB), and against servers of the spec's
-- own that break the protocol.
local lnet = require "lnet"
local http = require "lnet.proto.http"
local errors = lnet.errors

local support = require "support"
local peers = require "peers"

local BIG = support.pattern(3 * support.MiB)

local function with_nginx(fn)
    local root = support.temp_dir()
    local f = assert(io.open(root .. "/index.html", "w"))
    f:write("<h1>hello from nginx</h1>\n")
    f:close()
    f = assert(io.open(root .. "/big.bin", "w"))
    f:write(BIG)
    f:close()
    local srv = peers.nginx(root, {
        "location /conn { echo $connection; }", -- nginx's conn serial: the same on a reused conn
        "location /chunked { echo -n first; echo_flush; echo -n ' second'; }",
    })
    local c = assert(lnet.dial("tcp", srv.addr))
    local ok, err = pcall(fn, http.client(c), srv)
    c:close()
    srv.stop()
    support.rm_dir(root)
    assert(ok, err)
end

describe("http client against nginx", function()
    it("keeps the conn alive across requests", function()
        with_nginx(function(cl)
            local serial
            for _ = 1, 5 do
                local res = assert(cl:request({ path = "/conn" }))
                assert.are.equal(200, res.status)
                serial = serial or res.body
                assert.are.equal(serial, res.body)
            end
            assert.is_false(cl.closed)
        end)
    end)

    it("reads a Content-Length body, and headers by lower-case name", function()
        with_nginx(function(cl)
            local res = assert(cl:request({ path = "/index.html", headers = { ["User-Agent"] = "lnet" } }))
            assert.are.equal(200, res.status)
            assert.are.equal("OK", res.reason)
            assert.are.equal("HTTP/1.1", res.version)
            assert.are.equal("<h1>hello from nginx</h1>\n", res.body)
            assert.are.equal("26", res.headers["content-length"])
            assert.are.equal("text/html", res.headers["content-type"])
            assert.is_truthy(res.headers.server:find("^nginx"))
        end)
    end)

    it("reads a chunked body", function()
        with_nginx(function(cl)
            local res = assert(cl:request({ path = "/chunked" }))
            assert.are.equal("chunked", res.headers["transfer-encoding"])
            assert.are.equal("first second", res.body)
            assert.are.equal("<h1>hello from nginx</h1>\n", assert(cl:request({ path = "/" })).body)
        end)
    end)

    it("reads no body after HEAD, whatever Content-Length says, and goes on", function()
        with_nginx(function(cl)
            local res = assert(cl:request({ method = "HEAD", path = "/big.bin" }))
            assert.are.equal(200, res.status)
            assert.are.equal(tostring(#BIG), res.headers["content-length"])
            assert.are.equal("", res.body)
            assert.are.equal(200, assert(cl:request({ path = "/index.html" })).status)
        end)
    end)

    it("reads a 304 with no body and goes on", function()
        with_nginx(function(cl)
            local res = assert(cl:request({ path = "/index.html" }))
            local res2 = assert(cl:request({ path = "/index.html",
                                             headers = { ["If-Modified-Since"] = res.headers["last-modified"] } }))
            assert.are.equal(304, res2.status)
            assert.are.equal("", res2.body)
            assert.are.equal(404, assert(cl:request({ path = "/nothing" })).status)
        end)
    end)

    it("reads a 3 MiB body whole, and streamed", function()
        with_nginx(function(cl)
            local res = assert(cl:request({ path = "/big.bin" }))
            assert.is_true(res.body == BIG)
            res = assert(cl:request({ path = "/big.bin", stream = true }))
            assert.is_nil(res.body)
            local parts = {}
            while true do
                local s, err = res:read(100000)
                if s == nil then
                    assert.are.equal(lnet.EOF, err)
                    break
                end
                assert.is_true(#s <= 100000)
                parts[#parts + 1] = s
            end
            assert.is_true(table.concat(parts) == BIG)
            -- A streamed body left unread is skipped by the next request.
            assert(cl:request({ path = "/big.bin", stream = true }))
            assert.are.equal(200, assert(cl:request({ path = "/index.html" })).status)
        end)
    end)

    it("refuses a body over max_body without reading it, and closes the conn", function()
        with_nginx(function(_, srv)
            local c = assert(lnet.dial("tcp", srv.addr))
            local cl = http.client(c, { max_body = support.MiB })
            local res, err = cl:request({ path = "/big.bin" })
            assert.is_nil(res)
            assert.are.equal("http: body larger than 1048576 bytes", tostring(err))
            assert.is_true(cl.closed)
        end)
    end)

    it("http.request makes one request to a URL", function()
        with_nginx(function(_, srv)
            local res = assert(http.request("http://" .. srv.addr .. "/index.html", { timeout = 5 }))
            assert.are.equal(200, res.status)
            assert.are.equal("<h1>hello from nginx</h1>\n", res.body)
        end)
    end)
end)

-- A server that answers the first request with `response` and closes.
local function fake(response)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local t = lnet.go(function()
        local c = ln:accept()
        if c then
            c:read(4096)
            c:write(response)
            c:close_write()
            c:read(4096)
            c:close()
        end
    end)
    return tostring(ln:addr()), function()
        ln:close()
        t:join()
    end
end

describe("http client against a server that breaks the protocol", function()
    local cases = {
        { "both Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          "http: both Content-Length and Transfer-Encoding" },
        { "a chunk size that is not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
          "http: bad chunk size \"zz\"" },
        { "a chunk size of 16 hex digits", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx",
          "http: bad chunk size \"ffffffffffffffff\"" },
        { "chunk data without its CR LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX\r\n",
          "http: chunk data not followed by CR LF" },
        { "a chunked body past max_body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nx",
          "http: body larger than 67108864 bytes" },
        { "a bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "http: bad Content-Length \"-1\"" },
        { "Content-Lengths that differ", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
          "http: bad Content-Length \"1, 2\"" },
        { "an unknown Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
          "http: unsupported Transfer-Encoding \"gzip\"" },
        { "a malformed status line", "HTTP/1.1 2000 OK\r\n\r\n", "http: malformed status line \"HTTP/1.1 2000 OK\"" },
        { "a header line without a colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "http: malformed header line \"broken\"" },
        { "a folded header line", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "http: malformed header line \" c\"" },
        { "a body cut by the close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "unexpected EOF" },
        { "no response at all", "", "http: server closed the connection before a response" },
    }
    for _, case in ipairs(cases) do
        it("returns a clear error for " .. case[1] .. " and closes the conn", function()
            local addr, stop = fake(case[2])
            local cl = http.client(assert(lnet.dial("tcp", addr)))
            local res, err = cl:request({ path = "/" })
            assert.is_nil(res)
            assert.are.equal(case[3], tostring(err))
            assert.is_true(cl.closed)
            local _, again = cl:request({ path = "/" })
            assert.is_true(errors.is(again, lnet.ErrClosed))
            stop()
        end)
    end

    it("reads a body that runs to the close", function()
        local addr, stop = fake("HTTP/1.1 200 OK\r\n\r\nall of it")
        local cl = http.client(assert(lnet.dial("tcp", addr)))
        assert.are.equal("all of it", assert(cl:request({ path = "/" })).body)
        assert.is_true(cl.closed)
        stop()
    end)

    it("skips a 100 Continue before the response", function()
        local addr, stop = fake("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        local cl = http.client(assert(lnet.dial("tcp", addr)))
        local res = assert(cl:request({ method = "PUT", path = "/", body = "data" }))
        assert.are.equal(201, res.status)
        assert.are.equal("ok", res.body)
        cl:close()
        stop()
    end)
end)
