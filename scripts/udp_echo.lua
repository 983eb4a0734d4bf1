-- udp_echo: a UDP echo server. Every datagram goes back to its sender.
--   lnet scripts/udp_echo.lua [address]     (default 127.0.0.1:0)
-- Prints "listening ADDRESS" once the socket is bound.
local lnet = require "lnet"

local address = ... or "127.0.0.1:0"
local c = assert(lnet.listen_packet("udp", address))
io.stdout:write("listening ", tostring(c:local_addr()), "\n")
io.stdout:flush()

while true do
    local data, from = c:read_from()
    if data == nil then
        error(from)
    end
    c:write_to(data, from)
end
