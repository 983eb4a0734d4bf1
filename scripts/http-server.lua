-- http-server: a small HTTP/1.1 server on lnet.proto.http.
--   lnet scripts/http-server.lua [address] [-d dir]
-- (address defaults to 127.0.0.1:8080). Prints "listening ADDRESS" once up.
--   GET  /             "Hello, World!\n" (what bench/ measures under wrk)
--   POST /echo         the request body back (chunked), of any size
--   GET  /files/<path> a file under dir (with -d), else 404
-- SIGINT or SIGTERM: a graceful shutdown (idle conns closed, requests in
-- hand answered, at most 5 s), exit 0.
local lnet = require "lnet"
local http = require "lnet.proto.http"

local address, dir = "127.0.0.1:8080", nil
local args = { ... }
local i = 1
while args[i] do
    if args[i] == "-d" then
        dir, i = args[i + 1], i + 2
    else
        address, i = args[i], i + 1
    end
end

local rt = http.router()
local HELLO = { ["Content-Type"] = "text/plain" }

rt:get("/", function()
    return 200, "Hello, World!\n", HELLO
end)

rt:post("/echo", function(req, res)
    res:set_header("Content-Type", req.headers["content-type"] or "application/octet-stream")
    while true do
        local s, err = req.body:read(65536)
        if s == nil then
            if err ~= lnet.EOF then
                error(err)
            end
            return
        end
        res:write(s)
    end
end)

rt:get("/files/*", function(_, _, params)
    local path = params["*"]
    if dir == nil or path:find("%.%.") then
        return 404, "404 page not found\n"
    end
    local f = io.open(dir .. "/" .. path, "rb")
    if f == nil then
        return 404, "404 page not found\n"
    end
    local data = f:read("*a")
    f:close()
    return 200, data, { ["Content-Type"] = "application/octet-stream" }
end)

local ln = assert(lnet.listen("tcp", address))
local shutdown = lnet.main_context()
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()
local ok, err = http.server(rt:handler()):serve(ln, shutdown, 5)
if not ok and not lnet.errors.is(err, lnet.context.DeadlineExceeded) then
    error(err, 0)
end
