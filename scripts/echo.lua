-- echo: a TCP echo server. Every conn is served by its own task.
--   lnet scripts/echo.lua [address] [--rw | --bufio] [--ctx | --no-ctx]
--                         [--tls cert.pem key.pem]
-- (address defaults to 127.0.0.1:0). Prints "listening ADDRESS" once the
-- listener is up. With --tls it speaks TLS (lnet.tls) with that
-- certificate and key: each conn is wrapped, and the echo is the same.
--
-- By default each conn is `lnet.copy(c, c, ctx)`, Go's `io.Copy(c, c)`:
-- the bytes never become Lua strings. --rw echoes with the read/write loop
-- a protocol script would have instead (one string per read). --bufio
-- echoes through an lnet.bufio reader: what is buffered is written back
-- from the reader's buffer (conn:write of the string.buffer), no string
-- made (bench/run's measure of the toolkit's read path).
--
-- SIGINT or SIGTERM is a graceful shutdown: no new conns, idle conns
-- closed, data already read echoed, at most 5 s from the signal. The ctx
-- that carries it goes to every read (how an idle conn learns of the
-- shutdown); with --rw, --ctx also passes it to every write, and --no-ctx
-- passes none (idle conns then hold the shutdown until the grace ends):
-- bench/run's ctx phase compares those two.
local lnet = require "lnet"

local address, rw, buffered, read_ctx, write_ctx, tls_opts = "127.0.0.1:0", false, false, true, false, nil
local args = { ... }
local i = 1
while i <= #args do
    local a = args[i]
    if a == "--rw" then
        rw = true
    elseif a == "--bufio" then
        buffered = true
    elseif a == "--ctx" then
        read_ctx, write_ctx = true, true
    elseif a == "--no-ctx" then
        read_ctx, write_ctx = false, false
    elseif a == "--tls" and args[i + 2] then
        tls_opts = { cert = args[i + 1], key = args[i + 2] }
        i = i + 2
    else
        address = a
    end
    i = i + 1
end

local ln = assert(lnet.listen("tcp", address))
local shutdown = lnet.main_context() -- caught from here on, before anyone dials
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()

-- Shutting down, once what was read has gone back: close_write tells the
-- client, and reading on to its EOF keeps close from resetting the conn
-- (and the echo the client has yet to read) while the client still sends.
-- serve's grace bounds the wait.
local function finish(c)
    c:close_write()
    repeat
    until c:read(65536) == nil
end

local function echo_rw(c, ctx)
    local rctx = read_ctx and ctx or nil
    local wctx = write_ctx and ctx or nil
    while true do
        local data = c:read(65536, rctx)
        if data == nil then
            break
        end
        local n = c:write(data, wctx)
        if n ~= #data then
            if ctx:err() ~= nil then -- cut short by the shutdown: the rest still goes back
                c:write(data:sub(n + 1))
            end
            break
        end
    end
    if ctx:err() ~= nil then
        finish(c)
    end
end

local function echo_copy(c, ctx)
    local _, _, rest = lnet.copy(c, c, read_ctx and ctx or nil)
    if rest ~= nil then -- cut short while echoing: what it read still goes back
        c:write(rest)
    end
    if ctx:err() ~= nil then
        finish(c)
    end
end

local function echo_bufio(c, ctx)
    local r = lnet.bufio.reader(c, 65536)
    local buf = r:buffer()
    while r:fill(read_ctx and ctx or nil) do
        local n, err = c:write(buf)
        r:discard(n)
        if err ~= nil then
            break
        end
    end
    if r:buffered() > 0 then -- cut short by the shutdown: the rest still goes back
        c:write(buf)
    end
    if ctx:err() ~= nil then
        finish(c)
    end
end

local echo = buffered and echo_bufio or rw and echo_rw or echo_copy
if tls_opts then
    local plain = echo
    echo = function(c, ctx)
        local t = assert(lnet.tls.server(c, tls_opts))
        plain(t, ctx)
        t:close()
    end
end

-- After the grace, serve cancels the handlers still running and says so:
-- their clients stopped reading, which ends the shutdown, not the server.
local ok, err = lnet.serve(ln, echo, shutdown, 5)
if not ok and not lnet.errors.is(err, lnet.context.DeadlineExceeded) then
    error(err, 0)
end
