-- echo: a TCP echo server. Every conn is served by its own task, which
-- writes back whatever it reads until the peer closes.
--   lnet scripts/echo.lua [address]     (default 127.0.0.1:0)
-- Prints "listening ADDRESS" once the listener is up.
local lnet = require "lnet"

local address = ... or "127.0.0.1:0"
local ln = assert(lnet.listen("tcp", address))
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()

local function echo(c)
    while true do
        local data = c:read(65536)
        if data == nil or c:write(data) ~= #data then
            return
        end
    end
end

assert(lnet.serve(ln, echo))
