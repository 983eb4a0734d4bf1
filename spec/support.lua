-- Helpers the specs share: `local support = require "support"` (.busted puts
-- spec/ on the path; the name has no _spec, so busted does not run it).
-- Each helper is the one version of what several spec files used to define
-- for themselves. They run inside an `it` body, that is in an lnet task.

local lnet = require "lnet"
local context = lnet.context

local support = {}

-- One mebibyte, for sizes.
support.MiB = 1024 * 1024

-- "At once" / "promptly": well under this many seconds.
support.SLACK = 2

-- "Within one loop turn", generously: a woken wait must be over by then.
support.WAKE = 0.05

-- The build the specs run against (LNET_BUILD picks it, as in .busted),
-- and its `lnet` host.
support.build = os.getenv("LNET_BUILD") or "build"
support.host = support.build .. "/lnet"

-- All the values given, nils included, with their count in n.
function support.pack(...)
    return { n = select("#", ...), ... }
end

-- A string of n bytes that differs along the stream: numbered 1 KiB blocks,
-- so a lost, repeated or misplaced chunk shows.
function support.pattern(n)
    local parts = {}
    for i = 1, math.ceil(n / 1024) do
        parts[i] = string.format("%08d", i) .. string.rep(string.char(65 + i % 26), 1016)
    end
    return table.concat(parts):sub(1, n)
end

-- A fresh name for an abstract unix socket (no file behind it), unique
-- across processes too: two suites may run at once (plain and ASan).
local ffi = require "ffi"
ffi.cdef "int lnet_support_getpid(void) __asm__(\"getpid\");"
local unix_seq = 0
function support.abstract_unix()
    unix_seq = unix_seq + 1
    return ("@lnet-spec-%d-%d-%d"):format(ffi.C.lnet_support_getpid(), unix_seq, math.random(1e9))
end

-- A fresh path in the temp dir with nothing at it, for a unix socket file.
function support.free_path()
    local path = os.tmpname()
    os.remove(path)
    return path
end

-- Dials ln (over network, "tcp" by default, to address, ln's own by
-- default) while accepting on it: the dialed end and the accepted end.
function support.dial_accept(ln, network, address)
    local acc = lnet.go(function()
        return ln:accept()
    end)
    local c, err = lnet.dial(network or "tcp", address or tostring(ln:addr()))
    if c == nil then
        acc:cancel() -- nothing will arrive to accept
    end
    local s, aerr = acc:join()
    assert(c, tostring(err))
    assert(s, tostring(aerr))
    return c, s
end

-- A connected pair over loopback tcp, or over an abstract unix socket when
-- network is "unix": the dialed end and the accepted end.
function support.pair(network)
    network = network or "tcp"
    local ln = assert(lnet.listen(network, network == "unix" and support.abstract_unix() or "127.0.0.1:0"))
    local c, s = support.dial_accept(ln, network)
    ln:close()
    return c, s
end

-- Reads exactly n bytes (or until EOF/error), at most 64 KiB a read;
-- returns the bytes, and the error when fewer came.
function support.read_full(c, n)
    local parts, got = {}, 0
    while got < n do
        local s, err = c:read(math.min(n - got, 65536))
        if s == nil then
            return table.concat(parts), err
        end
        parts[#parts + 1] = s
        got = got + #s
    end
    return table.concat(parts)
end

-- read_full that raises unless all n bytes came.
function support.read_exactly(c, n)
    local data, err = support.read_full(c, n)
    assert(err == nil, tostring(err))
    return data
end

-- Reads until EOF (or an error); returns everything and the error that ended it.
function support.read_all(c)
    local parts = {}
    while true do
        local s, err = c:read(65536)
        if s == nil then
            return table.concat(parts), err
        end
        parts[#parts + 1] = s
    end
end

-- Shrinks the buffers so a write parks quickly. (A receive buffer much
-- smaller than the loopback MSS stalls TCP itself on zero-window probes, so
-- the reader's stays at 64 KiB.)
function support.small_buffers(writer, reader)
    assert(writer:set_write_buffer(4096))
    if reader then
        assert(reader:set_read_buffer(65536))
    end
end

-- true when this host can listen on the IPv6 loopback [::1].
function support.ipv6_loopback()
    local ln = lnet.listen("tcp6", "[::1]:0")
    if ln == nil then
        return false
    end
    ln:close()
    return true
end

-- Reads c to EOF (until the deadline at the latest), then closes it.
local function drain(c, deadline)
    c:set_read_deadline(deadline)
    local out, err = support.read_all(c)
    c:close()
    assert(err == lnet.EOF, tostring(err))
    return out
end

-- Runs argv as a child (opts: env, limit in seconds, default 8), reading its
-- stdout and stderr. Returns its exit code (nil when a signal ended it),
-- stdout, stderr, and the signal's name; or nil and the spawn error. A
-- child still running after the limit is killed and the call raises.
function support.run(argv, opts)
    opts = opts or {}
    local proc, err = lnet.process.spawn({ argv = argv, env = opts.env, stdout = "pipe", stderr = "pipe" })
    if proc == nil then
        return nil, err
    end
    local deadline = lnet.now() + (opts.limit or 8)
    local stderr = lnet.go(drain, proc.stderr, deadline)
    local ok, out = pcall(drain, proc.stdout, deadline)
    local errout = stderr:join()
    local ctx, cancel = context.with_deadline(context.background(), deadline)
    local code, why = proc:wait(ctx)
    cancel()
    if code == nil and type(why) ~= "string" then
        proc:kill()
        local reap, stop = context.with_timeout(context.background(), 1)
        proc:wait(reap)
        stop()
        error(table.concat(argv, " ") .. ": did not exit in time", 2)
    end
    assert(ok, out)
    assert(errout, "stderr not read")
    return code, out, errout, why
end

-- Runs `lnet -e code` with the build's host: as support.run.
function support.run_lnet(code, opts)
    return support.run({ support.host, "-e", code }, opts)
end

-- Runs `luajit -e code` with this checkout's lnet on its paths (the build's
-- lnet.core, as .busted has them), for code that drives lnet.run itself:
-- as support.run.
function support.run_luajit(code, opts)
    local paths = ("package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; "
        .. "package.cpath = '%s/lib/?.so;' .. package.cpath"):format(support.build)
    return support.run({ "luajit", "-e", paths, "-e", code }, opts)
end

-- s as one shell word.
function support.quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a shell command under timeout(1) (limit seconds, 20 by default):
-- its output, stdout and stderr together, and its exit code. Unlike
-- support.run it blocks the loop, and so works outside a task too (in
-- setup and teardown). The code is the shell's own report: libev reaps
-- children with waitpid(-1), so io.popen's close may not see it.
function support.sh(cmd, limit)
    local f = assert(io.popen(("timeout %d sh -c %s 2>&1; echo \"exit=$?\""):format(limit or 20, support.quote(cmd))))
    local out = f:read("*a")
    f:close()
    local body, code = out:match("^(.*)exit=(%d+)\n$")
    return body, tonumber(code)
end

-- sh that raises unless the command exits 0; its output.
function support.sh_ok(cmd, limit)
    local out, code = support.sh(cmd, limit)
    assert(code == 0, ("exit %s from %s:\n%s"):format(code, cmd, out))
    return out
end

-- A fresh directory of its own (mode 0700), for support.rm_dir to remove.
function support.temp_dir()
    return (support.sh_ok("mktemp -d"):gsub("\n$", ""))
end

function support.rm_dir(dir)
    support.sh_ok("rm -rf " .. support.quote(dir))
end

-- The checkout's root (busted runs there) and the version its
-- CMakeLists.txt gives lnet.
support.root = (support.sh_ok("pwd"):gsub("\n$", ""))
do
    local f = assert(io.open("CMakeLists.txt"))
    support.version = f:read("*a"):match("project%(lnet VERSION ([%d.]+)")
    f:close()
end

-- A context already cancelled.
function support.cancelled()
    local ctx, cancel = context.with_cancel(context.background())
    cancel()
    return ctx
end

-- DNS peers -------------------------------------------------------------

-- Our environment for a peer program: without the ASan runtime that the
-- sanitizer run preloads into luajit (a peer is not built for it).
function support.peer_environ()
    local env = {}
    for _, kv in ipairs(lnet.process.environ()) do
        if not kv:find("^LD_PRELOAD=") then
            env[#env + 1] = kv
        end
    end
    return env
end

-- A loopback port that was free a moment ago for both TCP and UDP (a DNS
-- server we start takes both).
function support.free_udp_port(host)
    host = host or "127.0.0.1"
    for _ = 1, 20 do
        local ln = assert(lnet.listen("tcp", host .. ":0"))
        local port = ln:addr().port
        local pc = lnet.listen_packet("udp", host .. ":" .. port)
        ln:close()
        if pc ~= nil then
            pc:close()
            return port
        end
    end
    error("no free port on " .. host)
end

-- Starts dnsmasq on 127.0.0.1:port serving only `lines` (dnsmasq.conf
-- lines; names under .test that it does not know are NXDOMAIN), and waits
-- until it answers. Returns {port, server = "127.0.0.1:port", stop()}.
function support.dnsmasq(lines)
    local port = support.free_udp_port()
    local conf = os.tmpname()
    local f = assert(io.open(conf, "w"))
    f:write(table.concat({ "no-resolv", "no-hosts", "port=" .. port, "listen-address=127.0.0.1", "bind-interfaces",
                           "user=root", "pid-file=", "local=/test/", "host-record=ready.test,192.0.2.250" }, "\n"),
        "\n", table.concat(lines, "\n"), "\n")
    f:close()
    local proc = assert(lnet.process.spawn({ argv = { "dnsmasq", "-k", "-C", conf }, env = support.peer_environ() }))
    local dm = { port = port, server = "127.0.0.1:" .. port }
    function dm.stop()
        proc:kill("SIGTERM")
        proc:wait()
        os.remove(conf)
    end
    local r = assert(lnet.resolver({ servers = { dm.server }, timeout = 0.1, attempts = 1, prefer = "ares" }))
    local bg = context.background()
    for _ = 1, 100 do
        if r:lookup_host(bg, "ready.test") then
            return dm
        end
        lnet.sleep(0.02)
    end
    dm.stop()
    error("dnsmasq did not answer on " .. dm.server)
end

-- A DNS server on loopback UDP that answers each query by rule(qname,
-- qtype) -> rcode [, a list of 4-byte IPv4 answers], from the question it
-- was sent (no EDNS: c-ares sends none). rule returning nil drops the
-- query: a black hole. Returns {server, stop()}.
function support.dns_responder(rule)
    local pc = assert(lnet.listen_packet("udp", "127.0.0.1:0"))
    local srv = { server = tostring(pc:local_addr()), queries = 0 }
    local task = lnet.go(function()
        while true do
            local q, from = pc:read_from(512)
            if q == nil then
                return
            end
            srv.queries = srv.queries + 1
            local labels, i = {}, 13
            while i <= #q and q:byte(i) > 0 do
                labels[#labels + 1] = q:sub(i + 1, i + q:byte(i))
                i = i + q:byte(i) + 1
            end
            local qtype = (q:byte(i + 1) or 0) * 256 + (q:byte(i + 2) or 0)
            local rcode, answers = rule(table.concat(labels, "."), qtype)
            if rcode ~= nil then
                answers = answers or {}
                local rrs = {}
                for k, ip4 in ipairs(answers) do
                    rrs[k] = "\192\12\0\1\0\1\0\0\0\60\0\4" .. ip4
                end
                pc:write_to(q:sub(1, 2) .. "\129" .. string.char(128 + rcode) .. "\0\1\0" .. string.char(#rrs)
                    .. "\0\0\0\0" .. q:sub(13, i + 4) .. table.concat(rrs), from)
            end
        end
    end)
    function srv.stop()
        pc:close()
        task:join()
    end
    return srv
end

return support
