-- lnet.tls against peers no one here wrote (issue 12): our client against
-- `openssl s_server` and nginx, our server against `openssl s_client` and
-- `curl --cacert`, TLS 1.2 and 1.3, ALPN, SNI, a wrong name that fails
-- verification in Go's words, and lnet.proto.http over TLS both ways.
-- Certificates are made for the run by the
-- openssl command (spec/tls_support.lua); .ci/setup installs openssl,
-- nginx-light and curl; each peer runs on a free loopback port and is
-- stopped after its test.

local lnet = require "lnet"
local errors = lnet.errors
local tls = lnet.tls

local support = require "support"
local tls_support = require "tls_support"

local certs = tls_support.certs()
teardown(tls_support.cleanup)
local client_opts, server_opts = tls_support.client_opts, tls_support.server_opts

-- The peers' environment: ours without the ASan runtime the sanitizer run
-- preloads (they are not ours to check, and curl hangs under it).
local function peer_env()
    local env = {}
    for _, kv in ipairs(lnet.process.environ()) do
        if not kv:match("^LD_PRELOAD=") then
            env[#env + 1] = kv
        end
    end
    return env
end

-- A loopback port nothing listens on (the kernel's pick, given back).
local function free_port()
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local port = ln:addr().port
    ln:close()
    return port
end

-- Starts argv, reading its stdout to the end in a task of its own (so it
-- never blocks on a full pipe) and noting each line; ready(lines) says when
-- it is up. Returns a stop() that kills it and waits for it.
local function start(argv, ready)
    local proc = assert(lnet.process.spawn({ argv = argv, env = peer_env(), stdout = "pipe", stderr = "pipe" }))
    local lines, up = {}, lnet.channel(1)
    local function reader(c, into)
        local buf = ""
        while true do
            local data = c:read(4096)
            if data == nil then
                break
            end
            buf = buf .. data
            for line in buf:gmatch("([^\n]*)\n") do
                into[#into + 1] = line
                if ready(line) then
                    up:send(true)
                end
            end
            buf = buf:match("[^\n]*$")
        end
        c:close()
    end
    local errlines = {}
    local out = lnet.go(reader, proc.stdout, lines)
    local err = lnet.go(reader, proc.stderr, errlines)
    local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 5)
    local ok = up:recv(ctx)
    cancel()
    local function stop()
        proc:kill("SIGTERM")
        proc:wait()
        out:join()
        err:join()
    end
    if not ok then
        stop()
        error(argv[1] .. " did not start: " .. table.concat(lines, "\n") .. table.concat(errlines, "\n"))
    end
    return stop
end

-- openssl s_server on a free port, answering each line reversed (-rev),
-- with a.test's certificate and b.test's for SNI b.test.
local function s_server(version, extra)
    local port = free_port()
    local argv = { "openssl", "s_server", "-accept", "127.0.0.1:" .. port, "-cert", certs.a.cert,
        "-key", certs.a.key, "-cert2", certs.b.cert, "-key2", certs.b.key, "-servername", "b.test", "-rev",
        "-tls" .. version:gsub("%.", "_") }
    for _, a in ipairs(extra or {}) do
        argv[#argv + 1] = a
    end
    local stop = start(argv, function(line)
        return line == "ACCEPT"
    end)
    return "127.0.0.1:" .. port, stop
end

-- A line through s_server's -rev: it comes back reversed.
local function rev_round_trip(c)
    assert.are.equal(6, c:write("hello\n"))
    c:set_read_deadline(lnet.now() + support.SLACK)
    assert.are.equal("olleh\n", support.read_exactly(c, 6))
end

describe("our client against openssl s_server", function()
    for _, v in ipairs({ "1.2", "1.3" }) do
        it("TLS " .. v .. ": verifies, agrees on ALPN, picks the certificate by SNI", function()
            local address, stop = s_server(v, { "-alpn", "h2,http/1.1" })
            local c = assert(tls.dial("tcp", address, client_opts({ alpn = { "http/1.1" } })))
            local st = c:connection_state()
            assert.are.equal("TLS " .. v, st.version)
            assert.are.equal("http/1.1", st.negotiated_protocol)
            assert.are.equal("CN=a.test", st.peer_certificates[1].subject)
            rev_round_trip(c)
            c:close()
            c = assert(tls.dial("tcp", address, client_opts({ server_name = "b.test" })))
            assert.are.equal("CN=b.test", c:connection_state().peer_certificates[1].subject)
            rev_round_trip(c)
            c:close()
            stop()
        end)
    end

    it("fails verification of a name its certificate does not hold, in Go's words", function()
        local address, stop = s_server("1.3")
        local c, err = tls.dial("tcp", address, client_opts({ server_name = "nope.test" }))
        assert.is_nil(c)
        assert.is_not_nil(errors.as(err, "TLSError"))
        assert.are.equal("x509: certificate is valid for a.test, localhost, not nope.test", tostring(err))
        -- Its IP is in the certificate: dialing by address verifies.
        c = assert(tls.dial("tcp", address, { ca_file = certs.ca }))
        rev_round_trip(c)
        c:close()
        stop()
    end)
end)

describe("our client against nginx", function()
    local function nginx()
        local port = free_port()
        local prefix = certs.dir .. "/nginx-" .. port
        assert(os.execute("mkdir -p " .. support.quote(prefix .. "/logs")) == 0)
        local function server(name, leaf)
            return ([[
    server {
        listen 127.0.0.1:%d ssl http2;
        server_name %s;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "hello from %s\n"; }
    }
]]):format(port, name, leaf.cert, leaf.key, name)
        end
        local conf = prefix .. "/nginx.conf"
        local f = assert(io.open(conf, "w"))
        f:write(([[
user root;
daemon off;
master_process off;
pid %s/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
%s%s}
]]):format(prefix, prefix, prefix, prefix, prefix, prefix, server("a.test", certs.a), server("b.test", certs.b)))
        f:close()
        local stop = start({ "nginx", "-p", prefix, "-c", conf, "-e", "stderr" }, function(line)
            return line:find("start worker process", 1, true) ~= nil or line:find("using the", 1, true) ~= nil
        end)
        -- Up once it accepts.
        for _ = 1, 100 do
            local c = lnet.dial("tcp", "127.0.0.1:" .. port)
            if c then
                c:close()
                break
            end
            lnet.sleep(0.02)
        end
        return "127.0.0.1:" .. port, stop
    end

    local function get(c, host)
        assert(c:write("GET / HTTP/1.1\r\nHost: " .. host .. "\r\nConnection: close\r\n\r\n"))
        c:set_read_deadline(lnet.now() + support.SLACK)
        local body, err = support.read_all(c)
        assert.are.equal(lnet.EOF, err)
        return body
    end

    it("TLS 1.2 and 1.3, ALPN (h2 and http/1.1), SNI; a wrong name fails", function()
        local address, stop = nginx()
        for _, v in ipairs({ "1.2", "1.3" }) do
            local c = assert(tls.dial("tcp", address, client_opts({ max_version = v, alpn = { "http/1.1" } })))
            local st = c:connection_state()
            assert.are.equal("TLS " .. v, st.version)
            assert.are.equal("http/1.1", st.negotiated_protocol)
            local resp = get(c, "a.test")
            assert.truthy(resp:match("^HTTP/1.1 200 OK\r\n"), resp)
            assert.truthy(resp:find("hello from a.test\n", 1, true), resp)
            c:close()
        end
        -- h2 when offered first (nginx takes it); its preface is the server's SETTINGS frame.
        local c = assert(tls.dial("tcp", address, client_opts({ alpn = { "h2", "http/1.1" } })))
        assert.are.equal("h2", c:connection_state().negotiated_protocol)
        assert(c:write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" .. "\0\0\0\4\0\0\0\0\0"))
        c:set_read_deadline(lnet.now() + support.SLACK)
        local frame = support.read_exactly(c, 9)
        assert.are.equal(4, frame:byte(4)) -- SETTINGS
        c:close()
        -- SNI picks b.test's certificate and server.
        c = assert(tls.dial("tcp", address, client_opts({ server_name = "b.test" })))
        assert.are.equal("CN=b.test", c:connection_state().peer_certificates[1].subject)
        assert.truthy(get(c, "b.test"):find("hello from b.test\n", 1, true))
        c:close()
        local bad, err = tls.dial("tcp", address, client_opts({ server_name = "c.test" }))
        assert.is_nil(bad)
        assert.are.equal("x509: certificate is valid for a.test, localhost, not c.test", tostring(err))
        stop()
    end)

    it("answers lnet.proto.http over https: http.request by URL, and a kept-alive client on a TLS conn", function()
        local http = require "lnet.proto.http"
        local address, stop = nginx()
        local port = address:match(":(%d+)$")
        local res = assert(http.request("https://localhost:" .. port .. "/", { ca_file = certs.ca, timeout = 5 }))
        assert.are.equal(200, res.status)
        assert.are.equal("hello from a.test\n", res.body)
        -- Not trusted without the test CA: the handshake's verify error.
        local bad, err = http.request("https://localhost:" .. port .. "/", { timeout = 5 })
        assert.is_nil(bad)
        assert.truthy(errors.as(err, "TLSError"), tostring(err))
        -- Two requests on one TLS conn, by SNI b.test.
        local c = assert(tls.dial("tcp", address, client_opts({ server_name = "b.test", alpn = { "http/1.1" } })))
        local cl = http.client(c, { host = "b.test" })
        for _ = 1, 2 do
            res = assert(cl:request({ path = "/" }, nil))
            assert.are.equal("hello from b.test\n", res.body)
        end
        cl:close()
        stop()
    end)
end)

describe("our HTTP server over TLS against curl", function()
    it("lnet.serve and http.server serve a TLS listener; bufio reads TLS conns", function()
        local http = require "lnet.proto.http"
        local ln = assert(tls.listen("tcp", "127.0.0.1:0", server_opts("a", { alpn = { "http/1.1" } })))
        local srv = http.server(function(req)
            local body = assert(req:read_body())
            return 200, req.method .. " " .. req.path .. " " .. #body .. "\n"
        end)
        local ctx, shut = lnet.context.with_cancel(lnet.context.background())
        local task = lnet.go(function()
            return srv:serve(ln, ctx, 1)
        end)
        local port = tostring(ln:addr()):match(":(%d+)$")
        local url = "https://a.test:" .. port
        -- Keep-alive over one TLS conn, and a chunked upload.
        local code, out, err = support.run({ "curl", "-sS", "--cacert", certs.ca, "--resolve",
            "a.test:" .. port .. ":127.0.0.1", "--http1.1", url .. "/one", url .. "/two",
            "-H", "Transfer-Encoding: chunked", "--data-binary", "chunked body" }, { env = peer_env() })
        assert.are.equal(0, code, err)
        assert.are.equal("POST /one 12\nPOST /two 12\n", out)
        shut()
        assert.is_true(task:join())

        -- lnet.serve over a TLS listener, lines read with bufio on each TLS conn.
        local ln2 = assert(tls.listen("tcp", "127.0.0.1:0", server_opts("a")))
        local served = lnet.go(lnet.serve, ln2, function(c)
            local r, w = lnet.bufio.reader(c), lnet.bufio.writer(c)
            while true do
                local line = r:read_line()
                if line == nil then
                    break
                end
                w:write(line:upper(), "\n")
                assert(w:flush())
            end
        end)
        local c = assert(tls.dial("tcp", tostring(ln2:addr()), client_opts({ server_name = "a.test" })))
        local r = lnet.bufio.reader(c)
        for i = 1, 3 do
            assert(c:write("line " .. i .. "\r\n"))
            assert.are.equal("LINE " .. i, r:read_line())
        end
        c:close()
        ln2:close()
        assert.is_true(served:join())
    end)
end)

-- Our server: a line-less protocol of one request, answered with what the
-- handshake agreed, then close. As an HTTP/1.1 server for curl.
local function our_server(extra, http)
    local ln = assert(tls.listen("tcp", "127.0.0.1:0", server_opts("a", extra)))
    local states = {}
    local task = lnet.go(lnet.serve, ln:net_listener(), function(raw)
        local c = assert(tls.server(raw, server_opts("a", extra)))
        c:set_deadline(lnet.now() + support.SLACK * 2)
        local req = ""
        repeat
            local data = c:read(4096)
            req = req .. (data or "")
        until data == nil or req:find(http and "\r\n\r\n" or "\n", 1, true)
        local st = c:connection_state()
        if st ~= nil then
            states[#states + 1] = st
            local body = ("sni=%s alpn=%s version=%s resumed=%s\n"):format(tostring(st.server_name),
                tostring(st.negotiated_protocol), st.version, tostring(st.did_resume))
            if http then
                body = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"):format(#body, body)
            end
            c:write(body)
            c:close_write()
        end
        c:close()
    end)
    return tostring(ln:addr()), states, function()
        ln:close()
        task:join()
    end
end

describe("our server against openssl s_client", function()
    local function s_client(address, args, input)
        local argv = { "openssl", "s_client", "-connect", address, "-CAfile", certs.ca, "-verify_return_error",
            "-ign_eof" }
        for _, a in ipairs(args) do
            argv[#argv + 1] = a
        end
        local proc = assert(lnet.process.spawn({ argv = argv, env = peer_env(), stdin = "pipe", stdout = "pipe",
            stderr = "pipe" }))
        proc.stdin:write(input or "hi\n")
        local out = lnet.go(support.read_all, proc.stdout)
        local errout = lnet.go(support.read_all, proc.stderr)
        local code = proc:wait()
        proc.stdin:close()
        local o, e = out:join(), errout:join()
        proc.stdout:close()
        proc.stderr:close()
        return code, o, e
    end

    for _, v in ipairs({ "1.2", "1.3" }) do
        it("TLS " .. v .. ": s_client verifies our chain, sends SNI and ALPN, resumes", function()
            local address, states, stop = our_server({ alpn = { "h2", "http/1.1" } })
            local sess = certs.dir .. "/s_client." .. v .. ".sess"
            local code, out, err = s_client(address, { "-servername", "a.test", "-alpn", "http/1.1",
                "-tls" .. v:gsub("%.", "_"), "-sess_out", sess })
            assert.are.equal(0, code, err)
            assert.truthy(out:find("sni=a.test alpn=http/1.1 version=TLS " .. v .. " resumed=false\n", 1, true), out)
            assert.truthy(out:find("Verify return code: 0 (ok)", 1, true), out)
            code, out, err = s_client(address, { "-servername", "a.test", "-tls" .. v:gsub("%.", "_"),
                "-sess_in", sess })
            assert.are.equal(0, code, err)
            assert.truthy(out:find("resumed=true", 1, true), out)
            assert.truthy(out:find("Reused, TLSv" .. v, 1, true), out)
            stop()
            assert.are.equal(2, #states)
        end)
    end

    it("a client certificate our server requires and verifies", function()
        local address, states, stop = our_server({ client_auth = "require_and_verify", ca_file = certs.ca })
        local code, out, err = s_client(address, { "-servername", "a.test", "-cert", certs.client.cert,
            "-key", certs.client.key })
        assert.are.equal(0, code, err)
        assert.truthy(out:find("sni=a.test", 1, true), out)
        assert.are.equal("CN=client", states[1].peer_certificates[1].subject)
        stop()
    end)
end)

describe("our server against curl --cacert", function()
    for _, v in ipairs({ "1.2", "1.3" }) do
        it("TLS " .. v .. ": an HTTPS request, verified, by name", function()
            local address, _, stop = our_server({ alpn = { "http/1.1" } }, true)
            local port = address:match(":(%d+)$")
            local code, out, err = support.run({ "curl", "-sS", "--cacert", certs.ca, "--resolve",
                "a.test:" .. port .. ":127.0.0.1", "--tlsv" .. v, "--tls-max", v, "--http1.1",
                "https://a.test:" .. port .. "/" }, { env = peer_env() })
            assert.are.equal(0, code, err)
            assert.are.equal("sni=a.test alpn=http/1.1 version=TLS " .. v .. " resumed=false\n", out)
            -- A name the certificate does not hold: curl refuses it.
            code, _, err = support.run({ "curl", "-sS", "--cacert", certs.ca, "--resolve",
                "b.test:" .. port .. ":127.0.0.1", "https://b.test:" .. port .. "/" }, { env = peer_env() })
            assert.are_not.equal(0, code)
            assert.truthy(err:find("b.test", 1, true), err)
            stop()
        end)
    end
end)
