-- udp_echo: a UDP echo server. Every datagram goes back to its sender.
--   lnet scripts/udp_echo.lua [address]     (default 127.0.0.1:0)
-- Prints "listening ADDRESS" once the socket is bound; SIGINT or SIGTERM
-- ends it (exit 0).
local lnet = require "lnet"

local address = ... or "127.0.0.1:0"
local c = assert(lnet.listen_packet("udp", address))
-- Caught from here on, before anyone is told where to send.
local shutdown = lnet.main_context()
io.stdout:write("listening ", tostring(c:local_addr()), "\n")
io.stdout:flush()

-- The signal closes the socket, which ends the loop: no ctx on the hot path.
lnet.go(function()
    shutdown:done()
    c:close()
end)
while true do
    local data, from = c:read_from()
    if data == nil then
        if lnet.errors.is(from, lnet.ErrClosed) then
            break
        end
        error(from)
    end
    c:write_to(data, from)
end
