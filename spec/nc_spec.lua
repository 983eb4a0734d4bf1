-- scripts/nc.lua: connect and listen over tcp, udp and unix, -x hex dumps
-- of both directions, -w, -k; and lnet.stdin/stdout, which it runs on.
local lnet = require "lnet"

local support = require "support"
local peers = require "peers"

local NC = support.host .. " scripts/nc.lua "

-- Runs a shell line (the host and its script spelled out), returning
-- exit code, stdout, stderr.
local function sh(line, limit)
    return support.run({ "sh", "-c", line }, { limit = limit or 10 })
end

describe("scripts/nc.lua", function()
    it("carries stdin to a tcp peer and the peer to stdout, both ways, hex-dumping with -x", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local server = lnet.go(function()
            local c = ln:accept()
            local got = support.read_all(c)
            c:write("answer\n")
            c:close()
            return got
        end)
        local code, out, err = sh("printf 'question\\n' | " .. NC .. "-x 127.0.0.1 " .. ln:addr().port)
        assert.are.equal(0, code, err)
        assert.are.equal("answer\n", out)
        assert.are.equal("question\n", server:join())
        assert.are.equal("> " .. lnet.hexdump("question\n") .. "< " .. lnet.hexdump("answer\n"), err)
        ln:close()
    end)

    it("listens, takes one client, and with -k the next", function()
        local port = peers.free_port()
        local proc = assert(lnet.process.spawn({ argv = { support.host, "scripts/nc.lua", "-l", "-k", "127.0.0.1",
                                                          tostring(port) }, stdout = "pipe" }))
        local got = {}
        for n = 1, 2 do
            local c
            for _ = 1, 100 do
                c = lnet.dial("tcp", "127.0.0.1:" .. port)
                if c then
                    break
                end
                lnet.sleep(0.02)
            end
            assert(c, "nc did not listen")
            c:write("client " .. n .. "\n")
            c:close_write()
            assert.are.equal(lnet.EOF, select(2, c:read(10))) -- nc's stdin is empty: it half-closes
            c:close()
            got[n] = proc.stdout:read(100)
        end
        assert.are.same({ "client 1\n", "client 2\n" }, got)
        proc:kill()
        proc:wait()
        proc.stdout:close()
    end)

    it("speaks udp: the listener answers whoever sent first", function()
        local port = peers.free_port()
        local code, out = sh(("(printf 'pong\\n' | %s -l -u -w 0.5 127.0.0.1 %d > $T.l 2>/dev/null &) ; sleep 0.3; "
            .. "printf 'ping\\n' | %s -u -w 1 127.0.0.1 %d; sleep 0.2; cat $T.l; rm -f $T.l"):format(NC, port, NC, port)
            :gsub("%$T", os.tmpname()))
        assert.are.equal(0, code)
        assert.are.equal("pong\nping\n", out)
    end)

    it("speaks unix stream sockets (-U)", function()
        local path = support.free_path()
        local code, out = sh(("(printf 'from listener\\n' | %s -l -U %s > %s.out &) ; sleep 0.3; "
            .. "printf 'from client\\n' | %s -U %s; sleep 0.2; cat %s.out; rm -f %s.out"):format(NC, path, path, NC,
            path, path, path))
        assert.are.equal(0, code)
        assert.are.equal("from listener\nfrom client\n", out)
    end)

    it("-w ends a conversation idle that long", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local server = lnet.go(function()
            local c = ln:accept()
            support.read_all(c) -- holds the conn open until nc leaves
            c:close()
        end)
        local t0 = lnet.now()
        local proc = assert(lnet.process.spawn({ argv = { support.host, "scripts/nc.lua", "-w", "0.3", "127.0.0.1",
                                                          tostring(ln:addr().port) }, stdin = "pipe" }))
        assert.are.equal(0, proc:wait()) -- its stdin never ends: -w does
        assert.is_true(lnet.now() - t0 < 4)
        proc.stdin:close()
        server:join()
        ln:close()
    end)

    it("says how to use it", function()
        local code, _, err = sh(NC)
        assert.are.equal(2, code)
        assert.is_truthy(err:find("^usage: nc.lua"))
    end)
end)

describe("lnet.stdin and lnet.stdout", function()
    it("are conns over the process's streams that leave fds 0 and 1 as they were", function()
        local code, out = sh("printf 'line one\\nline two\\n' | " .. support.host .. " -l lnet -e '"
            .. "local r = lnet.bufio.reader(assert(lnet.stdin())) local o = assert(lnet.stdout()) "
            .. "o:write(r:read_line() .. \"|\" .. r:read_line() .. \"\\n\") o:close() io.write(\"after\\n\")'")
        assert.are.equal(0, code)
        assert.are.equal("line one|line two\nafter\n", out)
    end)
end)
