-- lnet.chaos.http (private): the HTTP/1.1 a JSON control API needs, and no
-- more: requests with a Content-Length or chunked body, keep-alive,
-- "Expect: 100-continue", one response per request (Content-Length, no
-- streaming). Everything a client sends is capped before it is kept: the
-- request line and headers at 64 KiB, a body at 1 MiB (413 past it), and
-- a conn that stalls mid-request or idles past its timeout is closed.
--
-- serve(ln, handler) answers every request on conns accepted from ln with
-- handler(req) -> status, headers, body, where req is {method, path,
-- query, headers (lower-cased names), body, remote}.

local sys = require "lnet.sys"
local listener = require "lnet.listener"

local C = sys.C
local pairs, tonumber, tostring, pcall, setmetatable = pairs, tonumber, tostring, pcall, setmetatable
local find, sub, lower, format, gsub, match, char = string.find, string.sub, string.lower, string.format,
    string.gsub, string.match, string.char
local concat = table.concat
local floor = math.floor

local _M = {}

local HEAD_MAX = 64 * 1024
local BODY_MAX = 1024 * 1024
local READ_TIMEOUT = 15 -- seconds for a whole request once it has begun (Toxiproxy's read_timeout)
local IDLE_TIMEOUT = 60 -- between requests on a kept-alive conn

_M.BODY_MAX = BODY_MAX

local REASONS = {
    [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content", [400] = "Bad Request",
    [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
    [409] = "Conflict",
    [413] = "Request Entity Too Large", [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
    [501] = "Not Implemented", [505] = "HTTP Version Not Supported",
}

-- A buffered reader over a conn: the bytes read and not yet used.
local Reader = {}
Reader.__index = Reader

local function reader(c)
    return setmetatable({ c = c, buf = "" }, Reader)
end

function Reader:fill()
    local data, err = self.c:read(65536)
    if data == nil then
        return nil, err
    end
    self.buf = self.buf .. data
    return true
end

-- Up to the first "\r\n\r\n" (the request head), at most max bytes.
function Reader:head(max)
    while true do
        local e = find(self.buf, "\r\n\r\n", 1, true)
        if e ~= nil then
            local head = sub(self.buf, 1, e - 1)
            self.buf = sub(self.buf, e + 4)
            return head
        end
        if #self.buf > max then
            return nil, "too long"
        end
        local ok, err = self:fill()
        if not ok then
            return nil, err
        end
    end
end

function Reader:line(max)
    while true do
        local e = find(self.buf, "\r\n", 1, true)
        if e ~= nil then
            local line = sub(self.buf, 1, e - 1)
            self.buf = sub(self.buf, e + 2)
            return line
        end
        if #self.buf > max then
            return nil, "too long"
        end
        local ok, err = self:fill()
        if not ok then
            return nil, err
        end
    end
end

function Reader:exact(n)
    while #self.buf < n do
        local ok, err = self:fill()
        if not ok then
            return nil, err
        end
    end
    local s = sub(self.buf, 1, n)
    self.buf = sub(self.buf, n + 1)
    return s
end

-- A chunked body, at most max bytes in all; nil and "too long" past it.
local function read_chunked(r, max)
    local parts, total = {}, 0
    while true do
        local line, err = r:line(1024)
        if line == nil then
            return nil, err
        end
        local size = tonumber(match(line, "^%s*(%x+)"), 16)
        if size == nil then
            return nil, "bad chunk size"
        end
        if size == 0 then
            repeat -- trailers, up to the empty line
                line, err = r:line(HEAD_MAX)
                if line == nil then
                    return nil, err
                end
            until line == ""
            return concat(parts)
        end
        total = total + size
        if total > max then
            return nil, "too long"
        end
        local data
        data, err = r:exact(size + 2)
        if data == nil then
            return nil, err
        end
        parts[#parts + 1] = sub(data, 1, size)
    end
end

local function parse_head(head)
    local method, target, version = match(head, "^(%u+) (%S+) HTTP/(%d%.%d)\r?\n?")
    if method == nil then
        return nil, 400
    end
    if version ~= "1.1" and version ~= "1.0" then
        return nil, 505
    end
    local headers = {}
    local first = find(head, "\r\n", 1, true)
    if first ~= nil then
        for line in (sub(head, first + 2) .. "\r\n"):gmatch("(.-)\r\n") do
            local name, value = match(line, "^([^:%s]+):%s*(.-)%s*$")
            if name == nil then
                return nil, 400
            end
            name = lower(name)
            headers[name] = headers[name] and headers[name] .. ", " .. value or value
        end
    end
    local path, query = match(target, "^([^?]*)%??(.*)$")
    return { method = method, path = path, query = query, version = version, headers = headers }
end

local DATE_FMT = "!%a, %d %b %Y %H:%M:%S GMT"

local function respond(c, status, headers, body, keep)
    local lines = { format("HTTP/1.1 %d %s", status, REASONS[status] or "Status"),
                    "Date: " .. os.date(DATE_FMT, floor(C.lnet_time())) }
    for k, v in pairs(headers or {}) do
        lines[#lines + 1] = k .. ": " .. v
    end
    if status ~= 204 and status >= 200 then
        lines[#lines + 1] = "Content-Length: " .. #(body or "")
    end
    if not keep then
        lines[#lines + 1] = "Connection: close"
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = status == 204 and "" or (body or "")
    return c:write(concat(lines, "\r\n"))
end

local function plain(c, status, text)
    respond(c, status, { ["Content-Type"] = "text/plain; charset=utf-8" }, text, false)
end

-- Reads one request off the conn: req, or nil (the conn is done: the
-- client left, idled out, or sent what could not be answered, which has
-- been answered with an error).
local function read_request(c, r)
    c:set_read_deadline(C.lnet_now() + IDLE_TIMEOUT)
    if r.buf == "" then
        local ok = r:fill()
        if not ok then
            return nil
        end
    end
    c:set_read_deadline(C.lnet_now() + READ_TIMEOUT)
    local head, err = r:head(HEAD_MAX)
    if head == nil then
        if err == "too long" then
            plain(c, 431, "431 Request Header Fields Too Large")
        end
        return nil
    end
    local req, status = parse_head(head)
    if req == nil then
        plain(c, status, status .. " " .. REASONS[status])
        return nil
    end
    local h = req.headers
    local te, cl = h["transfer-encoding"], h["content-length"]
    if (te ~= nil or cl ~= nil) and lower(h["expect"] or "") == "100-continue" then
        c:write("HTTP/1.1 100 Continue\r\n\r\n")
    end
    local body = ""
    if te ~= nil then
        if lower(te) ~= "chunked" then
            plain(c, 501, "501 Not Implemented")
            return nil
        end
        body, err = read_chunked(r, BODY_MAX)
    elseif cl ~= nil then
        local n = tonumber(cl)
        if n == nil or n < 0 or n % 1 ~= 0 then
            plain(c, 400, "400 Bad Request: bad Content-Length")
            return nil
        elseif n > BODY_MAX then
            err = "too long"
        else
            body, err = r:exact(n)
        end
    end
    if body == nil or err ~= nil then
        if err == "too long" then
            plain(c, 413, "413 Request Entity Too Large")
        end
        return nil
    end
    req.body = body
    local conn_h = lower(h["connection"] or "")
    req.keep = (req.version == "1.1" and not find(conn_h, "close", 1, true))
        or (req.version == "1.0" and find(conn_h, "keep-alive", 1, true) ~= nil)
    req.remote = tostring(c:remote_addr())
    return req
end

local function serve_conn(c, handler)
    local r = reader(c)
    while true do
        local req = read_request(c, r)
        if req == nil then
            return
        end
        local ok, status, headers, body = pcall(handler, req)
        if not ok then
            io.stderr:write("chaos api: ", tostring(status), "\n")
            status, headers, body = 500, { ["Content-Type"] = "text/plain; charset=utf-8" }, "500 Internal Server Error"
        end
        if req.method == "HEAD" then
            body = ""
        end
        local _, werr = respond(c, status, headers, body, req.keep)
        if werr ~= nil or not req.keep then
            return
        end
    end
end

-- serve(ln, handler [, ctx]): lnet.serve with handler answering each
-- request; cancelling ctx closes the listener and every conn.
function _M.serve(ln, handler, ctx)
    return listener.serve(ln, function(c)
        serve_conn(c, handler)
    end, ctx, 0)
end

-- unescape(s): s with its %XX escapes decoded (a path segment).
function _M.unescape(s)
    return (gsub(s, "%%(%x%x)", function(h)
        return char(tonumber(h, 16))
    end))
end

return _M
