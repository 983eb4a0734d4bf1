-- echo: a TCP echo server. Every conn is served by its own task, which
-- writes back whatever it reads until the peer closes.
--   lnet scripts/echo.lua [address] [--ctx]     (default 127.0.0.1:0)
-- Prints "listening ADDRESS" once the listener is up. SIGINT or SIGTERM is
-- a graceful shutdown: no new conns, idle conns closed, each read in
-- progress answered, at most 5 s. With --ctx the handlers also pass the
-- context to every write (reads always take it: that is how an idle conn
-- learns of the shutdown); bench/run compares the two.
local lnet = require "lnet"

local address, with_ctx = "127.0.0.1:0", false
for _, a in ipairs({ ... }) do
    if a == "--ctx" then
        with_ctx = true
    else
        address = a
    end
end

local ln = assert(lnet.listen("tcp", address))
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()

local function echo(c, ctx)
    local wctx = with_ctx and ctx or nil
    while true do
        local data = c:read(65536, ctx)
        if data == nil or c:write(data, wctx) ~= #data then
            return
        end
    end
end

local grace = lnet.context.with_timeout(lnet.context.background(), 5)
assert(lnet.serve(ln, echo, lnet.main_context(), grace))
