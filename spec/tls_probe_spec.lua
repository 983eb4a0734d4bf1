-- scripts/tls-probe.lua run as a child of lnet.process against a TLS server
-- in this process: what it prints (s_client -brief's lines and ours), its
-- exit status, and its timeout against a server that never answers.

local lnet = require "lnet"
local tls = lnet.tls

local support = require "support"
local tls_support = require "tls_support"

local certs = tls_support.certs()
teardown(tls_support.cleanup)

local function probe(args)
    local argv = { support.host, "scripts/tls-probe.lua" }
    for _, a in ipairs(args) do
        argv[#argv + 1] = a
    end
    return support.run(argv, { limit = 8 })
end

-- A TLS server answering every conn's handshake, until stop().
local function server(extra)
    local ln = assert(tls.listen("tcp", "127.0.0.1:0", tls_support.server_opts("a", extra)))
    local task = lnet.go(function()
        while true do
            local c = ln:accept()
            if c == nil then
                return
            end
            c:set_deadline(lnet.now() + 4)
            c:handshake()
            c:read(1) -- until the probe closes
            c:close()
        end
    end)
    return tostring(ln:addr()), function()
        ln:close()
        task:join()
    end
end

describe("scripts/tls-probe.lua", function()
    it("prints what the handshake agreed, as s_client -brief does", function()
        local address, stop = server({ alpn = { "h2", "http/1.1" } })
        local code, out, err = probe({ address, "-servername", "a.test", "-alpn", "http/1.1", "-CAfile", certs.ca,
            "-tls1_2" })
        assert.are.equal(0, code, err)
        local lines = {}
        for line in out:gmatch("[^\n]+") do
            lines[#lines + 1] = line
        end
        assert.are.equal("CONNECTION ESTABLISHED", lines[1])
        assert.are.equal("Protocol version: TLSv1.2", lines[2])
        assert.truthy(lines[3]:match("^Ciphersuite: TLS_ECDHE_ECDSA_WITH_"), lines[3])
        assert.are.equal("Peer certificate: CN = a.test", lines[4])
        assert.are.equal("Issuer: CN = lnet test CA", lines[5])
        assert.are.equal("Subject alternative names: DNS:a.test, DNS:localhost, IP:127.0.0.1, IP:::1", lines[6])
        assert.truthy(lines[7]:match("^Validity: %d+%-%d+%-%d+T[%d:]+Z to %d+%-%d+%-%d+T[%d:]+Z$"), lines[7])
        assert.are.equal("Server name: a.test", lines[8])
        assert.are.equal("ALPN protocol: http/1.1", lines[9])
        assert.are.equal("Verification: OK", lines[10])
        stop()
    end)

    it("says why verification failed, prints the rest, exits 1", function()
        local address, stop = server()
        local code, out = probe({ address, "-servername", "b.test", "-CAfile", certs.ca })
        assert.are.equal(1, code)
        assert.truthy(out:find("^verify error: x509: certificate is valid for a.test, localhost, not b.test\n"), out)
        assert.truthy(out:find("\nPeer certificate: CN = a.test\n", 1, true), out)
        assert.truthy(out:find("\nVerification error: x509: certificate is valid for a.test, localhost, not b.test\n",
            1, true), out)
        -- By address, with the system's roots: an unknown authority.
        code, out = probe({ address })
        assert.are.equal(1, code)
        assert.truthy(out:find("Verification error: x509: certificate signed by unknown authority", 1, true), out)
        code, out = probe({ address, "-insecure" })
        assert.are.equal(0, code)
        assert.truthy(out:find("Verification: skipped", 1, true), out)
        stop()
    end)

    it("gives up after its timeout on a server that never answers", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local held = {}
        local task = lnet.go(function()
            while true do
                local c = ln:accept()
                if c == nil then
                    return
                end
                held[#held + 1] = c
            end
        end)
        local t0 = lnet.now()
        local code, out, err = probe({ tostring(ln:addr()), "-timeout", "0.3" })
        assert.are.equal(1, code, out)
        assert.is_true(lnet.now() - t0 < support.SLACK + 2)
        assert.truthy(err:match("^tls%-probe: read tcp [%d.:]+%->[%d.:]+: context deadline exceeded\n$"), err)
        ln:close()
        task:join()
        for _, c in ipairs(held) do
            c:close()
        end
        local ucode, _, uerr = probe({ "nohostport" })
        assert.are.equal(2, ucode)
        assert.truthy(uerr:find("^usage: tls%-probe"), uerr)
    end)
end)
