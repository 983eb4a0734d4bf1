-- nc: netcat on lnet. stdin goes to the peer, the peer to stdout.
--   lnet scripts/nc.lua [-u] [-U] [-x] [-w secs] host port      connect
--   lnet scripts/nc.lua -l [-k] [-u] [-U] [-x] [-w secs] [host] port   listen
-- -u UDP, -U a unix socket (the last argument is its path), -x a hex dump
-- of both directions on stderr (> sent, < received), -w quit after secs
-- without data (and give up a connect after secs), -k after a client
-- leaves, take the next. At the end of stdin the conn is half-closed; nc
-- ends once both directions have.
local lnet = require "lnet"

local opt, words = {}, {}
local args = { ... }
local i = 1
while args[i] do
    local a = args[i]
    if a == "-w" then
        opt.w, i = tonumber(args[i + 1]), i + 1
    elseif a:match("^%-[lkuUx]+$") then
        for f in a:sub(2):gmatch(".") do
            opt[f] = true
        end
    else
        words[#words + 1] = a
    end
    i = i + 1
end
if #words == 0 or (not opt.l and not opt.U and #words < 2) then
    io.stderr:write("usage: nc.lua [-l [-k]] [-u] [-U] [-x] [-w secs] [host] port|path\n")
    os.exit(2)
end
local net = opt.U and (opt.u and "unixgram" or "unix") or (opt.u and "udp" or "tcp")
local address = opt.U and words[#words] or lnet.join_host_port(#words > 1 and words[1] or "0.0.0.0", words[#words])
local last = lnet.now() -- when data last moved, for -w

-- Moves bytes from src to dst until EOF; dump marks the -x lines.
local function pump(src, dst, mark)
    while true do
        local data = src:read(65536)
        if data == nil then
            return
        end
        last = lnet.now()
        if opt.x then
            io.stderr:write((lnet.hexdump(data):gsub("[^\n]+", mark .. " %0")))
        end
        if dst:write(data) ~= #data then
            return
        end
    end
end

-- One conversation: stdin to c (then half-close), c to stdout.
local function talk(c)
    local stdin, stdout = assert(lnet.stdin()), assert(lnet.stdout())
    local up = lnet.go(function()
        pump(stdin, c, ">")
        if c.close_write then
            c:close_write()
        end
    end)
    local idle = opt.w and lnet.go(function()
        while lnet.sleep(0.05) and lnet.now() - last < opt.w do
        end
        c:close() -- ends the peer's pump,
        up:cancel() -- and stdin's, which may wait on a terminal
    end)
    pump(c, stdout, "<")
    up:join() -- both ways done, as nc ends
    if idle then
        idle:cancel()
    end
    c:close()
    stdin:close()
    stdout:close()
end

if not opt.l then
    local c = assert(lnet.dial(net, address, { timeout = opt.w }))
    return talk(c)
elseif opt.u then
    -- A datagram listener talks to whoever sent the first datagram.
    local pc = assert(lnet.listen_packet(net, address))
    local first, from = assert(pc:read_from(65536))
    io.stdout:write(first)
    io.stdout:flush()
    return talk({ read = function(_, n)
        return (pc:read_from(n))
    end, write = function(_, s)
        return pc:write_to(s, from) or 0
    end, close = function()
        pc:close()
    end })
end
local ln = assert(lnet.listen(net, address))
repeat
    talk(assert(ln:accept()))
until not opt.k
ln:close()
