-- Fd handover (issue 10, item 3; seed §17): ln:file(), conn:file() and
-- pc:file() (a dup: closing either side leaves the other), lnet.file_*
-- making live objects of a socket's fd (its network read from the socket),
-- the same through spawn{extra_files} to a child lnet, and socket
-- activation (lnet.listeners_from_env) under systemd-socket-activate and
-- with the variables set by hand.

local lnet = require "lnet"
local errors = lnet.errors
local sys = require "lnet.sys"

local support = require "support"

local C = sys.C

local function ask(address, what, network)
    local c = assert(lnet.dial(network or "tcp", address))
    c:set_deadline(lnet.now() + 5)
    assert(c:write(what))
    local reply, err = support.read_all(c)
    c:close()
    assert(err == lnet.EOF, tostring(err))
    return reply
end

-- Reads lines from a child's stdout conn until one matches pattern; its
-- captures.
local function wait_line(out, pattern, buffered)
    out:set_read_deadline(lnet.now() + 8)
    while true do
        local line, rest = buffered.data:match("^([^\n]*)\n(.*)$")
        if line ~= nil then
            buffered.data = rest
            local caps = { line:match(pattern) }
            if #caps > 0 then
                return unpack(caps)
            end
        else
            local more, err = out:read()
            assert(more, "child's output ended: " .. tostring(err) .. " after '" .. buffered.data .. "'")
            buffered.data = buffered.data .. more
        end
    end
end

describe("file() (seed §17)", function()
    it("ln:file() is a dup: a listener made of it accepts from the same queue; closing one leaves the other", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local address = tostring(ln:addr())
        local f = assert(ln:file())
        assert.are.equal("tcp:" .. address .. "->", f:name())
        local lnfd
        ln:syscall_conn():control(function(fd)
            lnfd = fd
        end)
        assert.is_true(f:fd() >= 0 and f:fd() ~= lnfd)
        local ln2 = assert(lnet.file_listener(f))
        assert.is_true(f:close())
        assert.are.equal(address, tostring(ln2:addr()))
        assert.are.equal("tcp", ln2:addr():network())
        -- Closing the original leaves the dup's socket listening: no
        -- connect is refused, and the conns queued meanwhile are there.
        assert.is_true(ln:close())
        local c = assert(lnet.dial("tcp", address))
        local s = assert(ln2:accept())
        -- Go's defaults on what it accepts.
        assert.is_true(s:syscall_conn():getsockopt("SOL_SOCKET", "SO_KEEPALIVE"))
        assert.is_true(s:syscall_conn():getsockopt("IPPROTO_TCP", "TCP_NODELAY"))
        c:close()
        s:close()
        ln2:close()
        local ok, err = f:close()
        assert.is_nil(ok)
        assert.are.equal("close tcp:" .. address .. "->: file already closed", tostring(err))
        assert.is_true(errors.is(err, errors.ErrFileClosed))
        assert.are.equal(-1, f:fd())
    end)

    it("conn:file() and file_conn: a second conn on the same socket, with its network and addresses", function()
        local c, s = support.pair()
        local f = assert(c:file())
        assert.are.equal(("tcp:%s->%s"):format(tostring(c:local_addr()), tostring(c:remote_addr())), f:name())
        local c2 = assert(lnet.file_conn(f))
        f:close()
        assert.are.equal("tcp", c2:network())
        assert.are.equal(tostring(c:local_addr()), tostring(c2:local_addr()))
        assert.are.equal(tostring(c:remote_addr()), tostring(c2:remote_addr()))
        assert.is_true(c2:syscall_conn():getsockopt("SOL_SOCKET", "SO_KEEPALIVE"))
        assert.are.equal(3, c2:write("dup"))
        assert.is_true(c:close()) -- the dup still holds the socket open
        assert.are.equal(3, c2:write("!!!"))
        assert.are.equal("dup!!!", support.read_exactly(s, 6))
        c2:close()
        local data, err = s:read()
        assert.is_nil(data)
        assert.is_true(rawequal(err, lnet.EOF))
        s:close()
        local _, ferr = c:file()
        assert.is_true(errors.is(ferr, lnet.ErrClosed))
        assert.are.equal("file", errors.as(ferr, "OpError").op)
    end)

    it("pc:file() and file_packet_conn; unix networks come back as what they are", function()
        local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
        local f = assert(pc:file())
        local pc2 = assert(lnet.file_packet_conn(f))
        f:close()
        assert.are.equal(tostring(pc:local_addr()), tostring(pc2:local_addr()))
        local u = assert(lnet.dial("udp", tostring(pc:local_addr())))
        u:write("to the dup")
        pc2:set_read_deadline(lnet.now() + 5)
        local data, from = pc2:read_from()
        assert.are.equal("to the dup", data)
        assert.are.equal(tostring(u:local_addr()), tostring(from))
        -- A connected datagram socket: file_conn gives a packet conn too
        -- (Go's FileConn gives a UDPConn), with its peer.
        local uf = assert(u:file())
        local u2 = assert(lnet.file_conn(uf))
        uf:close()
        assert.are.equal(tostring(pc:local_addr()), tostring(u2:remote_addr()))
        for _, x in ipairs({ pc, pc2, u, u2 }) do
            x:close()
        end
        for _, net in ipairs({ "unix", "unixpacket" }) do
            local path = support.abstract_unix()
            local ln = assert(lnet.listen(net, path))
            local lf = assert(ln:file())
            local ln2 = assert(lnet.file_listener(lf))
            lf:close()
            assert.are.equal(net, ln2:addr():network())
            assert.are.equal(path, tostring(ln2:addr()))
            local c, s = support.dial_accept(ln2, net, path)
            local cf = assert(c:file())
            local c2 = assert(lnet.file_conn(cf))
            cf:close()
            assert.are.equal(net, c2:network())
            for _, x in ipairs({ ln, ln2, c, s, c2 }) do
                x:close()
            end
        end
        local gram = assert(lnet.listen_packet("unixgram", support.abstract_unix()))
        local gf = assert(gram:file())
        local g2 = assert(lnet.file_packet_conn(gf))
        gf:close()
        assert.are.equal("unixgram", g2:local_addr():network())
        gram:close()
        g2:close()
    end)

    it("an fd that is no socket, or not of the kind asked, is Go's file+net error; nothing leaks", function()
        local fds = C.lnet_fd_count()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local lf = assert(ln:file())
        local c, s = support.pair()
        local cf = assert(c:file())
        local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
        local pf = assert(pc:file())
        -- A pipe: a child's stdout.
        local proc = assert(lnet.process.spawn({ argv = { "true" }, stdout = "pipe" }))
        local pipef = assert(proc.stdout:file())
        local cases = {
            { lnet.file_conn, lf, "file file+net " .. lf:name() .. ": invalid argument" },
            { lnet.file_packet_conn, lf, "file file+net " .. lf:name() .. ": invalid argument" },
            { lnet.file_listener, cf, "file file+net " .. cf:name() .. ": invalid argument" },
            { lnet.file_packet_conn, cf, "file file+net " .. cf:name() .. ": invalid argument" },
            { lnet.file_listener, pf, "file file+net " .. pf:name() .. ": invalid argument" },
            { lnet.file_listener, pipef, "file file+net " .. pipef:name() .. ": getsockopt: socket operation on non-socket" },
        }
        for _, case in ipairs(cases) do
            local obj, err = case[1](case[2])
            assert.is_nil(obj)
            assert.are.equal(case[3], tostring(err))
        end
        local closed = assert(ln:file())
        closed:close()
        local obj, err = lnet.file_listener(closed)
        assert.is_nil(obj)
        assert.is_true(errors.is(err, lnet.errno.EBADF), tostring(err))
        assert.has_error(function() lnet.file_listener(3) end, "bad argument #1 to 'file_listener' (file expected, got number)")
        assert.has_error(function() lnet.new_file(-1) end)
        assert.has_error(function() lnet.new_file(3, 4) end)
        for _, x in ipairs({ lf, cf, pf, pipef, ln, c, s, pc, proc.stdout }) do
            x:close()
        end
        proc:wait()
        assert.are.equal(fds, C.lnet_fd_count())
    end)

    it("a listener handed to a child lnet through spawn{extra_files} serves there", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local address = tostring(ln:addr())
        local f = assert(ln:file())
        local child = [[
            local lnet = require "lnet"
            local ffi = require "ffi"
            ffi.cdef "int getpid(void);"
            local f = lnet.new_file(3, "handed over")
            local ln = assert(lnet.file_listener(f))
            f:close()
            print("serving " .. tostring(ln:addr()))
            io.stdout:flush()
            local c = assert(ln:accept())
            local what = c:read()
            c:write("child " .. ffi.C.getpid() .. " got " .. what)
            c:close()
            ln:close()
        ]]
        local proc = assert(lnet.process.spawn({ argv = { support.host, "-e", child }, extra_files = { f },
                                                 stdout = "pipe", stderr = "inherit" }))
        f:close()
        assert.are.equal(address, wait_line(proc.stdout, "^serving (.*)$", { data = "" }))
        ln:close() -- only the child listens now
        assert.are.equal("child " .. proc:pid() .. " got hello", ask(address, "hello"))
        assert.are.equal(0, proc:wait())
        proc.stdout:close()
    end)

    it("a conn handed to a child lnet stays the same conn", function()
        local c, s = support.pair()
        local f = assert(s:file())
        local proc = assert(lnet.process.spawn({ argv = { support.host, "-e", [[
            local lnet = require "lnet"
            local c = assert(lnet.file_conn(lnet.new_file(3)))
            c:write("from the child over " .. c:network() .. " " .. tostring(c:remote_addr()))
            c:close()
        ]] }, extra_files = { f }, stderr = "inherit" }))
        f:close()
        s:close()
        assert.are.equal(0, proc:wait())
        c:set_read_deadline(lnet.now() + 5)
        local got, err = support.read_all(c)
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        assert.are.equal("from the child over tcp " .. tostring(c:local_addr()), got)
        c:close()
    end)
end)

describe("socket activation (lnet.listeners_from_env)", function()
    -- The child: takes what it was handed, serves one conn on each with
    -- its name and whether the variables are gone, or prints the error.
    local SERVE = [[
        local lnet = require "lnet"
        local list, names = lnet.listeners_from_env()
        if list == nil then
            print("error: " .. tostring(names))
            print("env: " .. tostring(os.getenv("LISTEN_FDS")) .. " " .. tostring(os.getenv("LISTEN_PID")))
            return
        end
        print("got " .. #list)
        io.stdout:flush()
        for i, ln in ipairs(list) do
            local c = assert(ln:accept())
            c:write(names[i] .. " " .. tostring(ln:addr()) .. " unset=" .. tostring(os.getenv("LISTEN_FDS") == nil
                and os.getenv("LISTEN_PID") == nil and os.getenv("LISTEN_FDNAMES") == nil))
            c:close()
            ln:close()
        end
    ]]

    local function free_port()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local port = ln:addr().port
        ln:close()
        return port
    end

    it("under systemd-socket-activate: the listeners it made, with their names", function()
        local p1, p2 = free_port(), free_port()
        local proc = assert(lnet.process.spawn({ argv = { "systemd-socket-activate", "-l", "127.0.0.1:" .. p1,
                                                          "-l", "127.0.0.1:" .. p2, "--fdname=web:admin",
                                                          support.host, "-e", SERVE },
                                                 env = support.peer_environ(), stdout = "pipe", stderr = "pipe" }))
        -- It starts the service on the first connection.
        local c
        for _ = 1, 100 do
            c = lnet.dial("tcp", "127.0.0.1:" .. p1)
            if c ~= nil then
                break
            end
            lnet.sleep(0.02)
        end
        assert(c, "systemd-socket-activate did not listen")
        c:set_deadline(lnet.now() + 8)
        local got, err = support.read_all(c)
        c:close()
        assert.is_true(rawequal(err, lnet.EOF), tostring(err))
        assert.are.equal("web 127.0.0.1:" .. p1 .. " unset=true", got)
        assert.are.equal("admin 127.0.0.1:" .. p2 .. " unset=true", ask("127.0.0.1:" .. p2, ""))
        assert.are.equal(0, proc:wait())
        local out = support.read_all(proc.stdout)
        assert.are.equal("got 2\n", out)
        proc.stdout:close()
        proc.stderr:close()
    end)

    -- Runs SERVE under sh, which sets LISTEN_PID to its own pid ($$) and
    -- execs lnet, so the variables name the lnet process, as systemd's do.
    local function activated(env, files)
        local script = 'export LISTEN_PID=${LISTEN_PID:-$$}; exec "$0" -e "$1"'
        local full = support.peer_environ()
        for _, kv in ipairs(env) do
            full[#full + 1] = kv
        end
        return assert(lnet.process.spawn({ argv = { "sh", "-c", script, support.host, SERVE }, env = full,
                                           extra_files = files, stdout = "pipe", stderr = "inherit" }))
    end

    it("with the variables set by hand: a listener, a datagram socket, the names optional", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local proc = activated({ "LISTEN_FDS=1" }, { ln })
        local buffered = { data = "" }
        assert.are.equal("1", wait_line(proc.stdout, "^got (%d+)$", buffered))
        local address = tostring(ln:addr())
        ln:close()
        assert.are.equal("unknown " .. address .. " unset=true", ask(address, ""))
        assert.are.equal(0, proc:wait())
        proc.stdout:close()
    end)

    it("LISTEN_PID of another process, bad counts and names, and fds that are no sockets are errors", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local cases = {
            { { "LISTEN_FDS=1", "LISTEN_PID=1" }, { ln }, "^error: socket activation: LISTEN_PID 1 is not this process %(%d+%)$" },
            { { "LISTEN_FDS=x" }, { ln }, "^error: socket activation: LISTEN_FDS is not a count of fds: 'x'$" },
            { { "LISTEN_FDS=1", "LISTEN_FDNAMES=a:b" }, { ln },
              "^error: socket activation: LISTEN_FDNAMES names 2 fds, LISTEN_FDS says 1$" },
            -- fd 4 is the child's stdout pipe's copy: no socket.
            { { "LISTEN_FDS=2" }, { ln, 1 }, "^error: file file%+net fd 4: getsockopt: socket operation on non%-socket$" },
        }
        for _, case in ipairs(cases) do
            local proc = activated(case[1], case[2])
            local out = support.read_all(proc.stdout)
            proc.stdout:close()
            assert.are.equal(0, proc:wait())
            local first, env = out:match("^([^\n]*)\n([^\n]*)\n$")
            assert.is_truthy(first and first:find(case[3]), out)
            assert.are.equal("env: nil nil", env) -- unset all the same, as sd_listen_fds(1) does
        end
        ln:close()
    end)

    it("without LISTEN_FDS there is nothing, and no error", function()
        local list, names = lnet.listeners_from_env()
        assert.are.same({}, list)
        assert.are.same({}, names)
    end)
end)
