-- socks5: a SOCKS5 proxy (CONNECT, no authentication) on lnet.proto.socks5.
--   lnet scripts/socks5.lua [address] [-v]
-- (address defaults to 127.0.0.1:1080). Prints "listening ADDRESS" once up;
-- -v logs each refused request to stderr. Try it with
--   curl --socks5-hostname 127.0.0.1:1080 http://example.test/
-- SIGINT or SIGTERM closes it (relays in flight get 5 s), exit 0.
local lnet = require "lnet"
local socks5 = require "lnet.proto.socks5"

local address, verbose = "127.0.0.1:1080", false
for _, a in ipairs({ ... }) do
    if a == "-v" then
        verbose = true
    else
        address = a
    end
end

local ln = assert(lnet.listen("tcp", address))
local shutdown = lnet.main_context()
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()
local ok, err = socks5.serve(ln, { log = verbose and function(msg)
    io.stderr:write("socks5: ", msg, "\n")
end or nil }, shutdown, 5)
if not ok and not lnet.errors.is(err, lnet.context.DeadlineExceeded) then
    error(err, 0)
end
