-- demo: an echo server and a client in one process, each in its own task,
-- with a deadline that fires and the errors Go would print.
local lnet = require "lnet"

local start = lnet.now()
local function say(who, fmt, ...)
    print(("[%6.3fs] %-6s " .. fmt):format(lnet.now() - start, who, ...))
end

local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
say("server", "listening on %s", tostring(ln:addr()))

local server = lnet.go(lnet.serve, ln, function(c)
    say("server", "accepted %s", tostring(c:remote_addr()))
    while true do
        local data, err = c:read(1024)
        if data == nil then
            say("server", "read ended: %s", tostring(err))
            return
        end
        say("server", "echoing %q", data)
        c:write(data)
    end
end)

local c = assert(lnet.dial("tcp", tostring(ln:addr())))
say("client", "connected %s -> %s", tostring(c:local_addr()), tostring(c:remote_addr()))
for _, msg in ipairs({ "hello", "from", "lnet" }) do
    c:write(msg)
    say("client", "got back %q", c:read(1024))
end

c:set_read_deadline(lnet.now() + 0.1)
local data, err = c:read(1024)
say("client", "read with a 100 ms deadline and no data: %s, %s (timeout: %s)", tostring(data),
    tostring(err), tostring(err:timeout()))

c:close()
local _, cerr = c:read(1)
say("client", "read after close: %s", tostring(cerr))

local _, derr = lnet.dial("tcp", "127.0.0.1:1")
say("client", "dial to a closed port: %s", tostring(derr))

ln:close()
server:join()
say("server", "stopped")
