-- Helpers the DNS specs share (`require "dns_support"`): a plain DNS client
-- over lnet, and the real peers: dig (bind9-dnsutils) and dnsmasq
-- (dnsmasq-base), installed by .ci/setup and started on free loopback
-- ports. Everything is bounded in time.

local lnet = require "lnet"
local dns = require "lnet.dns"
local support = require "support"

local context, process = lnet.context, lnet.process

local M = {}

local RUN_LIMIT = 8 -- seconds a child process may take

-- Our environment without LD_PRELOAD, for dig and dnsmasq: under the ASan
-- run it preloads the sanitizer runtime, which they were not built for
-- (dnsmasq never starts listening with it).
local function peer_env()
    local env = {}
    for _, kv in ipairs(process.environ()) do
        if kv:sub(1, 11) ~= "LD_PRELOAD=" then
            env[#env + 1] = kv
        end
    end
    return env
end

-- A query's wire bytes: a question for name and type (A by default), RD
-- set, with an OPT record unless opts.edns == false.
function M.query(name, qtype, opts)
    opts = opts or {}
    return assert(dns.encode {
        id = opts.id or math.random(0, 65535),
        rd = true,
        opcode = opts.opcode,
        questions = { { name = name, type = qtype or "A" } },
        additional = opts.edns ~= false and { { type = "OPT", udp_size = opts.udp_size } } or nil,
    })
end

-- Sends bytes to address over UDP and returns the first datagram that
-- comes back, or nil and the error (a timeout after `wait` seconds).
function M.udp(address, bytes, wait)
    local c = assert(lnet.dial("udp", tostring(address)))
    assert(c:write(bytes))
    c:set_read_deadline(lnet.now() + (wait or support.SLACK))
    local data, err = c:read()
    c:close()
    return data, err
end

-- Writes bytes to address over TCP (framed: the two-byte length is added
-- unless raw) and reads one framed reply: its bytes, or nil and the error.
function M.tcp(address, bytes, opts)
    opts = opts or {}
    local c = assert(lnet.dial("tcp", tostring(address)))
    local frame = opts.raw and bytes or string.char(math.floor(#bytes / 256), #bytes % 256) .. bytes
    assert(c:write(frame))
    c:set_read_deadline(lnet.now() + (opts.wait or support.SLACK))
    local len, err = support.read_full(c, 2)
    local data
    if err == nil then
        data, err = support.read_full(c, len:byte(1) * 256 + len:byte(2))
    end
    c:close()
    if err ~= nil then
        return nil, err
    end
    return data
end

-- Decodes bytes, raising if they do not decode.
function M.decoded(bytes)
    local msg, err = dns.decode(bytes)
    assert(msg, tostring(err))
    return msg
end

-- Reads c to EOF (until the deadline at the latest), then closes it.
local function drain(c, deadline)
    c:set_read_deadline(deadline)
    local out = support.read_all(c)
    c:close()
    return out
end

-- Runs argv (a peer: see peer_env); returns its exit code, stdout and stderr.
function M.run(argv, limit)
    local proc = assert(process.spawn { argv = argv, env = peer_env(), stdout = "pipe", stderr = "pipe" })
    local deadline = lnet.now() + (limit or RUN_LIMIT)
    local errs = lnet.go(drain, proc.stderr, deadline)
    local out = drain(proc.stdout, deadline)
    local errout = errs:join()
    local ctx, cancel = context.with_deadline(context.background(), deadline)
    local code, why = proc:wait(ctx)
    cancel()
    if code == nil and type(why) ~= "string" then
        proc:kill()
        proc:wait()
        error(argv[1] .. " did not exit in time:\n" .. out .. errout)
    end
    return code, out, errout
end

-- dig at a server: dig's exit code and output. args follow @server -p port;
-- one try of at most a second unless args say otherwise.
function M.dig(address, ...)
    local argv = { "dig", "@" .. tostring(address.ip), "-p", tostring(address.port), "+time=1", "+tries=1" }
    for _, a in ipairs({ ... }) do
        argv[#argv + 1] = a
    end
    local code, out, errout = M.run(argv)
    return code, out .. errout
end

-- The records of dig's answer section (+noall +answer), one line each,
-- whitespace runs made single spaces.
function M.dig_answers(address, ...)
    local code, out = M.dig(address, "+noall", "+answer", ...)
    assert(code == 0, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do
        if line:sub(1, 1) ~= ";" then
            lines[#lines + 1] = (line:gsub("%s+", " "))
        end
    end
    return lines, out
end

-- A loopback port free for both UDP and TCP at this moment.
local function free_port()
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local port = ln:addr().port
    ln:close()
    return port
end

-- Starts dnsmasq on a free loopback port with args (after the options that
-- keep it to itself: no resolv.conf, no /etc/hosts, no config file, in the
-- foreground, as root) and waits until it answers. Returns its address and
-- a stop function.
function M.dnsmasq(args)
    for _ = 1, 5 do
        local port = free_port()
        local argv = {
            "/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--pid-file=", "--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" .. port,
        }
        for _, a in ipairs(args) do
            argv[#argv + 1] = a
        end
        local proc = assert(process.spawn { argv = argv, env = peer_env(), stderr = "pipe" })
        local errs = lnet.go(drain, proc.stderr, lnet.now() + 30)
        local address = "127.0.0.1:" .. port
        local function stop()
            proc:kill("SIGTERM")
            local ctx, cancel = context.with_timeout(context.background(), RUN_LIMIT)
            local code = proc:wait(ctx)
            cancel()
            if code == nil then
                proc:kill()
                proc:wait()
            end
            return errs:join()
        end
        for _ = 1, 40 do
            if M.udp(address, M.query("ready.invalid."), 0.05) ~= nil then
                return lnet.ip.parse_addr_port(address), stop
            end
            local ctx, cancel = context.with_timeout(context.background(), 0.05)
            local code = proc:wait(ctx)
            cancel()
            if code ~= nil then
                break -- it gave up (its port was taken since): another port
            end
        end
        stop()
    end
    error("dnsmasq did not start")
end

-- The bytes of s as hex, for failure messages.
function M.hex(s)
    return (s:gsub(".", function(c)
        return string.format("%02x", c:byte())
    end))
end

-- Bytes from hex digits (spaces ignored).
function M.unhex(h)
    return (h:gsub("%s", ""):gsub("%x%x", function(x)
        return string.char(tonumber(x, 16))
    end))
end

return M
