-- lnet.proto.http's server driven by curl (keep-alive, chunked upload with
-- 100-continue, HEAD, a 2 MiB download), by raw conns (pipelining, bad
-- requests of every kind), and scripts/http-server.lua.
local lnet = require "lnet"
local http = require "lnet.proto.http"

local support = require "support"

-- Serves handler on a fresh listener for the body of fn(addr, seen), where
-- seen lists the remote port of each request in order.
local function with_server(handler, fn, opts)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local seen = {}
    local srv = http.server(function(req, res)
        seen[#seen + 1] = req.remote_addr.port
        return handler(req, res)
    end, opts)
    local t = lnet.go(srv.serve, srv, ln)
    local ok, err = pcall(fn, tostring(ln:addr()), seen)
    ln:close()
    t:join()
    assert(ok, err)
end

local function curl(args, stdin_file)
    local argv = { "curl", "-sS", "--max-time", "10" }
    for _, a in ipairs(args) do
        argv[#argv + 1] = a
    end
    local cmd = argv
    if stdin_file then
        cmd = { "sh", "-c", table.concat(argv, " ") .. " < " .. stdin_file }
    end
    local code, out, err = support.run(cmd, { env = support.peer_environ(), limit = 15 })
    assert(code == 0, "curl failed: " .. tostring(err))
    return out, err
end

-- Sends raw bytes on a fresh conn, reads until the server closes (or the
-- limit): what came back.
local function raw(addr, bytes)
    local c = assert(lnet.dial("tcp", addr))
    c:write(bytes)
    c:set_read_deadline(lnet.now() + 5)
    local out = support.read_all(c)
    c:close()
    return out
end

local hello = function()
    return 200, "hello\n", { ["Content-Type"] = "text/plain" }
end

describe("http server driven by curl", function()
    it("answers several requests on one kept-alive conn", function()
        with_server(hello, function(addr, seen)
            local out, err = curl({ "-v", "http://" .. addr .. "/a", "http://" .. addr .. "/b", "http://" .. addr .. "/c" })
            assert.are.equal("hello\nhello\nhello\n", out)
            assert.is_truthy(err:find("Re%-using existing connection"))
            assert.are.equal(3, #seen)
            assert.are.equal(seen[1], seen[2])
            assert.are.equal(seen[1], seen[3])
        end)
    end)

    it("takes a chunked upload (after 100-continue) and streams it back chunked", function()
        local path = os.tmpname()
        local data = support.pattern(1500000)
        local f = assert(io.open(path, "w"))
        f:write(data)
        f:close()
        with_server(function(req, res)
            assert.are.equal("chunked", req.headers["transfer-encoding"])
            while true do
                local s = req.body:read(30000)
                if s == nil then
                    break
                end
                res:write(s)
            end
        end, function(addr)
            local out, err = curl({ "-v", "-T", "-", "-H", "'Transfer-Encoding: chunked'", "-H",
                                    "'Expect: 100-continue'", "http://" .. addr .. "/up" }, path)
            assert.is_true(out == data, "echoed body differs")
            assert.is_truthy(err:find("HTTP/1.1 100 Continue", 1, true))
            assert.is_truthy(err:find("< Transfer%-Encoding: chunked"))
        end)
        os.remove(path)
    end)

    it("answers HEAD with the head only, and serves a 2 MiB body", function()
        local big = support.pattern(2 * support.MiB)
        with_server(function()
            return 200, big
        end, function(addr)
            local out = curl({ "-I", "http://" .. addr .. "/big" })
            assert.is_truthy(out:find("^HTTP/1.1 200 OK\r\n"))
            assert.is_truthy(out:find("Content%-Length: 2097152\r\n"))
            assert.is_true(curl({ "http://" .. addr .. "/big" }) == big)
        end)
    end)

    it("routes by method and path, 404 and 405 as Go words them", function()
        local rt = http.router()
        rt:get("/proxies", function()
            return 200, "list"
        end)
        rt:post("/proxies/{name}/toxics", function(req, _, params)
            return 201, params.name .. ":" .. assert(req:read_body())
        end)
        rt:delete("/proxies/{name}", function(_, res, params)
            res.status = 204
            assert.are.equal("a b", params.name)
        end)
        with_server(rt:handler(), function(addr)
            local base = "http://" .. addr
            assert.are.equal("list", curl({ base .. "/proxies" }))
            assert.are.equal("redis:{\"x\":1}", curl({ "-d", '{"x":1}', base .. "/proxies/redis/toxics" }))
            assert.are.equal("204", curl({ "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                                           base .. "/proxies/a%20b" }))
            assert.are.equal("404 page not found\n", curl({ base .. "/nope" }))
            local head = curl({ "-i", "-X", "PUT", base .. "/proxies" })
            assert.is_truthy(head:find("^HTTP/1.1 405 Method Not Allowed\r\n"))
            assert.is_truthy(head:find("Allow: GET\r\n"))
        end)
    end)
end)

describe("http server on raw conns", function()
    it("answers pipelined requests in order, in one write", function()
        with_server(function(req)
            return 200, req.path
        end, function(addr)
            local c = assert(lnet.dial("tcp", addr))
            c:write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                .. "POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /4 HTTP/1.1\r\nHost: x\r\n"
                .. "Connection: close\r\n\r\n")
            local first = c:read(65536) -- all four responses came in one write
            local rest = support.read_all(c)
            c:close()
            local all = first .. rest
            local paths = {}
            for p in all:gmatch("\r\n\r\n(/%d)") do
                paths[#paths + 1] = p
            end
            assert.are.same({ "/1", "/2", "/3", "/4" }, paths)
            assert.are.equal(all, first)
        end)
    end)

    local bad = {
        { "both Content-Length and Transfer-Encoding",
          "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "a chunk size that is not hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400 },
        { "an unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
        { "a Content-Length over max_body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", 413 },
        { "a header line past max_line", "GET / HTTP/1.1\r\nX: " .. ("a"):rep(9000) .. "\r\n\r\n", 431 },
        { "too many header fields", "GET / HTTP/1.1\r\n" .. ("X: y\r\n"):rep(101) .. "\r\n", 431 },
        { "a request line past max_line", "GET /" .. ("a"):rep(9000) .. " HTTP/1.1\r\n\r\n", 414 },
        { "a malformed request line", "GET  / HTTP/1.1\r\n\r\n", 400 },
        { "a space before a header's colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
        { "an HTTP version it does not speak", "GET / HTTP/2.0\r\n\r\n", 505 },
    }
    -- A handler that reads the body, and answers a bad one with its status.
    local function reads_body(req)
        local b, err = req:read_body()
        if b == nil then
            return err.status or 400, tostring(err)
        end
        return 200, "hello\n"
    end
    for _, case in ipairs(bad) do
        it("answers " .. case[1] .. " with " .. case[3] .. " and closes", function()
            with_server(reads_body, function(addr, seen)
                local out = raw(addr, case[2])
                assert.is_truthy(out:find("^HTTP/1.1 " .. case[3] .. " "), out)
                assert.is_truthy(out:find("Connection: close\r\n", 1, true))
                assert.is_nil(out:find("HTTP/1.1", 10, true)) -- one response, then the close
                assert.is_true(#seen <= (case[3] == 400 and case[1]:find("chunk") and 1 or 0))
            end)
        end)
    end

    it("answers 500 when the handler raises, logs it, and closes", function()
        local logged
        with_server(function()
            error("boom")
        end, function(addr)
            local out = raw(addr, "GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n")
            assert.is_truthy(out:find("^HTTP/1.1 500 Internal Server Error\r\n"))
            assert.is_nil(out:find("HTTP/1.1", 10, true)) -- no second response
            assert.is_truthy(logged:find("http: handler error serving GET /x: .*boom"))
        end, { log = function(msg)
            logged = msg
        end })
    end)

    it("skips a body the handler left unread and serves the next request", function()
        with_server(hello, function(addr)
            local out = raw(addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                .. "5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            local _, count = out:gsub("HTTP/1.1 200 OK", "")
            assert.are.equal(2, count)
        end)
    end)

    it("closes an HTTP/1.0 conn after its response unless asked to keep it", function()
        with_server(hello, function(addr)
            local out = raw(addr, "GET / HTTP/1.0\r\n\r\n")
            assert.is_truthy(out:find("^HTTP/1.1 200 OK\r\n"))
            assert.is_truthy(out:find("Connection: close\r\n", 1, true))
        end)
    end)

    it("closes a kept-alive conn left idle past idle_timeout", function()
        with_server(hello, function(addr)
            local c = assert(lnet.dial("tcp", addr))
            c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            c:set_read_deadline(lnet.now() + 5)
            local out = support.read_all(c)
            assert.is_truthy(out:find("^HTTP/1.1 200 OK"))
            c:close()
        end, { idle_timeout = 0.1 })
    end)
end)

describe("scripts/http-server.lua", function()
    it("serves hello and echo, and exits 0 on SIGTERM", function()
        local proc = assert(lnet.process.spawn({ argv = { support.host, "scripts/http-server.lua", "127.0.0.1:0" },
                                                 stdout = "pipe" }))
        local line = proc.stdout:read(200)
        local addr = line:match("listening (%S+)")
        assert.is_not_nil(addr, line)
        assert.are.equal("Hello, World!\n", curl({ "http://" .. addr .. "/" }))
        assert.are.equal("ping", curl({ "--data-binary", "ping", "http://" .. addr .. "/echo" }))
        proc:kill("SIGTERM")
        assert.are.equal(0, proc:wait())
        proc.stdout:close()
    end)
end)
