-- lnet.proto.http: HTTP/1.1 client and server (RFC 9110, 9112) on
-- lnet.bufio: keep-alive, pipelining, Content-Length and chunked bodies
-- both ways, HEAD, 1xx/204/304, 100-continue, and limits on everything a
-- peer sends. See client.lua, server.lua and router.lua for the calls.

local client = require "lnet.proto.http.client"
local server = require "lnet.proto.http.server"
local router = require "lnet.proto.http.router"
local message = require "lnet.proto.http.message"

return {
    client = client.client, -- client(conn [, opts]) -> cl
    request = client.request, -- request(url [, opts]) -> res
    server = server.server, -- server(handler [, opts]) -> srv
    -- serve(ln, handler [, opts [, ctx [, grace]]])
    serve = function(ln, handler, opts, ctx, grace)
        return server.server(handler, opts):serve(ln, ctx, grace)
    end,
    router = router.router,
    unescape = router.unescape,
    reasons = message.REASONS,
    limits = message.DEFAULTS,
}
