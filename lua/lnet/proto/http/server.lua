-- lnet.proto.http.server (private): an HTTP/1.1 server: keep-alive,
-- pipelining, chunked bodies both ways, 100-continue.
--
--   server(handler [, opts]) -> srv
--   srv:serve(ln [, ctx [, grace]])    lnet.serve with each conn's requests
--   srv:serve_conn(conn [, ctx])       the requests of one conn
--
-- handler(req, res) runs once per request, in the conn's task:
--   req.method, req.target (as sent), req.path, req.query (after "?", or
--   nil), req.version, req.headers (lower-case names), req.header_list,
--   req.remote_addr, req.ctx (the server's: cancelled at shutdown),
--   req.body (body:read([max [, ctx]]), body:read_all([ctx])),
--   req:read_body() -> the whole body | nil, err.
--   res.status (200), res.headers (name -> value, as written);
--   res:set_header(name, value); res:send([status [, body [, headers]]])
--   for a whole response (Content-Length); res:write(...) to stream one
--   (chunked unless a Content-Length was set); res:flush().
--   A handler may instead return status [, body [, headers]].
-- What the handler did not finish is finished for it (an empty response,
-- or the last chunk). A handler that raises gets a 500 if nothing was
-- sent yet, and the conn is closed; the error goes to opts.log (default:
-- stderr).
--
-- Responses to pipelined requests go out together: the writer is flushed
-- when no complete request head is waiting. A bad request (a head past
-- the limits, both Content-Length and Transfer-Encoding, a chunk size
-- that is no hex, a body over max_body) is answered with its status
-- (400, 413, 414, 431, 501, 505) and the conn closed. A body the handler
-- left unread is skipped when short (256 KiB), else the conn is closed.
-- opts: the limits of message.lua, idle_timeout (seconds a kept-alive
-- conn may wait for its next request; default none, as Go's), log.

local ffi = require "ffi"
local lnet = require "lnet"
local bufio = require "lnet.bufio"
local message = require "lnet.proto.http.message"
local body = require "lnet.proto.http.body"

local setmetatable, type, error, tostring, pairs, pcall, select =
    setmetatable, type, error, tostring, pairs, pcall, select
local find, sub, byte, format, lower = string.find, string.sub, string.byte, string.format, string.lower
local memmem = ffi.C.memmem
local REASONS, date, is_token, has_ctl = message.REASONS, message.date, message.is_token, message.has_ctl

local _M = {}

local DISCARD_MAX = 256 * 1024

-- "HTTP/1.1 200 OK\r\n" and the like, made once per status.
local status_lines = setmetatable({}, { __index = function(t, code)
    local line = format("HTTP/1.1 %d %s\r\n", code, REASONS[code])
    t[code] = line
    return line
end })

local Request = {}
Request.__index = Request

function Request:read_body(ctx)
    return self.body:read_all(ctx)
end

local Response = {}
Response.__index = Response

local function check_field(name, value)
    if type(name) ~= "string" or not is_token(name, 1, #name) then
        error("bad argument #1 to 'set_header' (header field name expected, got " .. tostring(name) .. ")", 3)
    end
    if has_ctl(value, 1, #value) then
        error("bad argument #2 to 'set_header' (control byte in the value of " .. name .. ")", 3)
    end
end

function Response:set_header(name, value)
    value = tostring(value)
    check_field(name, value)
    self.headers[name] = value
end

-- Whether a response of this status to this request has a body.
local function bodiless(self)
    local s = self.status
    return s < 200 or s == 204 or s == 304
end

-- The head; length: the body's (nil: chunked).
local function write_head(self, length)
    local w = self.w
    self.started = true
    if self.req_body.broken then -- the request's body could not be read: nothing after it can be
        self.close = true
    end
    w:write(status_lines[self.status], "Date: ", date(), "\r\n")
    if not bodiless(self) then
        if length ~= nil then
            w:write("Content-Length: ", tostring(length), "\r\n")
        else
            self.chunked = true
            w:write("Transfer-Encoding: chunked\r\n")
        end
    end
    if self.close then
        w:write("Connection: close\r\n")
    end
    for name, value in pairs(self.headers) do
        local l = lower(name)
        if l ~= "content-length" and l ~= "transfer-encoding" and l ~= "connection" and l ~= "date" then
            w:write(name, ": ", value, "\r\n")
        elseif l == "connection" and lower(value) == "close" then
            self.close = true
            w:write(name, ": ", value, "\r\n")
        end
    end
    w:write("\r\n")
end

-- send([status [, body [, headers]]]): the whole response.
function Response:send(status, b, headers)
    if self.started then
        error("http: response already started", 2)
    end
    if status ~= nil then
        self.status = status
    end
    if headers ~= nil then
        for name, value in pairs(headers) do
            self:set_header(name, value)
        end
    end
    b = b or ""
    write_head(self, not bodiless(self) and #b or nil)
    if not self.head_only and not bodiless(self) then
        self.w:write(b)
    end
    self.finished = true
    return true
end

-- write(...): body pieces, the head first if not sent (chunked unless
-- res.headers has a Content-Length). true, or nil, err.
function Response:write(...)
    if self.finished then
        error("http: response already finished", 2)
    end
    if not self.started then
        local length
        for name, value in pairs(self.headers) do
            if lower(name) == "content-length" then
                length = value
            end
        end
        write_head(self, length)
    end
    if self.head_only or bodiless(self) then
        return true
    end
    local w = self.w
    for i = 1, select("#", ...) do
        local s = tostring((select(i, ...)))
        if self.chunked then
            if #s > 0 then
                local ok, err = w:write(format("%x\r\n", #s), s, "\r\n")
                if not ok then
                    return nil, err
                end
            end
        else
            local ok, err = w:write(s)
            if not ok then
                return nil, err
            end
        end
    end
    return true
end

function Response:flush()
    return self.w:flush()
end

-- What the handler left: the response finished.
local function finish(self)
    if not self.started then
        return self:send()
    elseif self.chunked and not self.finished then
        self.w:write("0\r\n\r\n")
    end
    self.finished = true
end

local Server = {}
Server.__index = Server

function _M.server(handler, opts)
    if type(handler) ~= "function" then
        error("bad argument #1 to 'server' (function expected, got " .. type(handler) .. ")", 2)
    end
    opts = opts or {}
    return setmetatable({
        handler = handler,
        lim = message.limits(opts),
        idle_timeout = opts.idle_timeout,
        log = opts.log or function(msg)
            io.stderr:write(msg, "\n")
        end,
    }, Server)
end

-- An error status for a request that cannot be served, then close.
local function refuse(w, status)
    w:write(status_lines[status], "Date: ", date(), "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    w:flush()
end

-- Whether a whole request head waits in the reader (then the responses
-- so far may wait too: pipelining).
local function head_waiting(r)
    local p, len = r:buffer():ref()
    return len > 0 and memmem(p, len, "\r\n\r\n", 4) ~= nil
end

-- method, target, version of "GET / HTTP/1.1" (single spaces, an upper
-- case method, a version of the form HTTP/d.d), or nil. By finds and
-- bytes, not a pattern: it runs on every request, compiled.
local function request_line(line)
    local sp1 = find(line, " ", 1, true)
    local sp2 = sp1 and find(line, " ", sp1 + 1, true)
    if sp2 == nil or sp1 == 1 or sp2 == sp1 + 1 or find(line, " ", sp2 + 1, true) or #line - sp2 ~= 8 then
        return nil
    end
    for k = 1, sp1 - 1 do
        local b = byte(line, k)
        if b < 65 or b > 90 then
            return nil
        end
    end
    if has_ctl(line, sp1 + 1, sp2 - 1) then
        return nil
    end
    local version = sub(line, sp2 + 1)
    if sub(version, 1, 5) ~= "HTTP/" or byte(version, 7) ~= 46 then
        return nil
    end
    local major, minor = byte(version, 6), byte(version, 8)
    if major < 48 or major > 57 or minor < 48 or minor > 57 then
        return nil
    end
    return sub(line, 1, sp1 - 1), sub(line, sp1 + 1, sp2 - 1), version
end

local function serve_request(srv, c, r, w, ctx)
    local lim = srv.lim
    if srv.idle_timeout then
        c:set_read_deadline(lnet.now() + srv.idle_timeout)
    end
    local line, headers, list = message.read_head(r, lim, nil, ctx)
    if srv.idle_timeout then
        c:set_read_deadline(nil)
    end
    if line == nil then
        local status = headers.status
        if status ~= nil then
            refuse(w, status)
        end
        return false
    end
    local method, target, version = request_line(line)
    if method == nil then
        refuse(w, 400)
        return false
    elseif version ~= "HTTP/1.1" and version ~= "HTTP/1.0" then
        refuse(w, 505)
        return false
    end
    local mode, n = message.framing(headers)
    if mode == nil and n ~= nil then
        refuse(w, n.status)
        return false
    elseif mode == "length" and n > lim.max_body then
        refuse(w, 413)
        return false
    end
    local q = find(target, "?", 1, true)
    local req = setmetatable({
        method = method,
        target = target,
        path = q and sub(target, 1, q - 1) or target,
        query = q and sub(target, q + 1) or nil,
        version = version,
        headers = headers,
        header_list = list,
        remote_addr = c:remote_addr(),
        ctx = ctx,
    }, Request)
    local res = setmetatable({
        w = w,
        status = 200,
        headers = {},
        head_only = method == "HEAD",
        close = message.closes(version, headers),
        started = false,
        finished = false,
        chunked = false,
    }, Response)
    local expect = headers.expect
    local continue = expect ~= nil and lower(expect) == "100-continue" and mode ~= nil
    req.body = body.new(r, lim, mode, n, continue and res or nil)
    res.req_body = req.body
    local ok, status, b, h = pcall(srv.handler, req, res)
    if not ok then
        srv.log("http: handler error serving " .. method .. " " .. target .. ": " .. tostring(status))
        if not res.started then
            res.close = true
            res:send(500, "")
        end
        w:flush()
        return false
    end
    if status ~= nil and not res.started then
        res:send(status, b, h)
    end
    finish(res)
    if not req.body.done and not res.close then
        if req.body.continue ~= nil then -- 100-continue never sent: the client may not send the body
            res.close = true
        elseif not req.body:discard(DISCARD_MAX) then
            res.close = true
        end
    end
    if res.close or (ctx ~= nil and ctx:err() ~= nil) then
        w:flush()
        return false
    end
    if not head_waiting(r) then
        return w:flush() ~= nil
    end
    return true
end

-- serve_conn(conn [, ctx]): its requests until it closes, asks to close,
-- breaks the protocol, or ctx is cancelled while it waits for the next.
function Server:serve_conn(c, ctx)
    local r, w = bufio.reader(c, 4096), bufio.writer(c, 65536)
    while serve_request(self, c, r, w, ctx) do
    end
end

-- serve(ln [, ctx [, grace]]): lnet.serve(ln, ...) with serve_conn.
function Server:serve(ln, ctx, grace)
    return lnet.serve(ln, function(c, sctx)
        return self:serve_conn(c, sctx)
    end, ctx, grace)
end

return _M
