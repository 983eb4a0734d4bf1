-- lnet.proto.http.client (private): HTTP/1.1 requests over one conn, kept
-- alive between them.
--
--   client(conn [, opts]) -> cl
--   cl:request{method, path, headers, body, stream} [, ctx] -> res | nil, err
--   cl:close()
--   request(url [, opts]) -> res | nil, err     dial (http or https), one
--                                               request, close
--
-- res: status, reason, version, headers (lower-case names), header_list,
-- body (a string; with stream = true, nil, and res:read / res:read_all
-- read it: the next request first reads what is left of it). A response
-- to HEAD, a 1xx, 204 or 304 has no body; one with neither length nor
-- chunks runs to the close. A response that breaks the protocol (both
-- Content-Length and Transfer-Encoding, a chunk size that is no hex, a
-- body over max_body) is a ProtocolError, and the conn is closed: nothing
-- after it can be trusted. After "Connection: close" (or HTTP/1.0) the
-- client is done: a further request is nil, ErrClosed.

local lnet = require "lnet"
local errors = require "lnet.errors"
local bufio = require "lnet.bufio"
local message = require "lnet.proto.http.message"
local body = require "lnet.proto.http.body"

local setmetatable, type, error, tostring, tonumber, pairs = setmetatable, type, error, tostring, tonumber, pairs
local find, sub, upper, lower = string.find, string.sub, string.upper, string.lower
local perr = message.perr

local _M = {}

local Client = {}
Client.__index = Client

-- client(conn [, opts]): opts are message's limits, plus host (the Host
-- field; default: the conn's remote address).
function _M.client(c, opts)
    opts = opts or {}
    local lim = message.limits(opts)
    return setmetatable({
        conn = c,
        r = bufio.reader(c, 16384),
        w = bufio.writer(c, 65536),
        lim = lim,
        host = opts.host or tostring(c:remote_addr()),
        closed = false,
        last = nil, -- the response whose body may be unread
    }, Client)
end

local Response = {}
Response.__index = Response

function Response:read(max, ctx)
    return self.reader:read(max, ctx)
end

function Response:read_all(ctx)
    return self.reader:read_all(ctx)
end

local function fail(self, err)
    self.closed = true
    self.conn:close()
    return nil, err
end

local function write_request(self, req)
    local w = self.w
    local method = upper(req.method or "GET")
    local path = req.path or "/"
    if find(path, "[%s%c]") or find(method, "[^%u-]") then
        error("bad argument #1 to 'request' (method or path with spaces or control bytes)", 3)
    end
    w:write(method, " ", path, " HTTP/1.1\r\n")
    local has = {}
    local headers = req.headers or {}
    for name, value in pairs(headers) do
        if type(name) == "number" then -- a list of {name, value}
            name, value = value[1], value[2]
        end
        value = tostring(value)
        if find(name, "[^%w!#$%%&'*+.^_`|~-]") or find(value, "[\r\n%z]") then
            error("bad argument #1 to 'request' (bad header field " .. tostring(name) .. ")", 3)
        end
        has[lower(name)] = true
        w:write(name, ": ", value, "\r\n")
    end
    if not has.host then
        w:write("Host: ", self.host, "\r\n")
    end
    local b = req.body
    if b ~= nil and not has["content-length"] and not has["transfer-encoding"] then
        w:write("Content-Length: ", tostring(#b), "\r\n")
    end
    w:write("\r\n")
    if b ~= nil then
        w:write(b)
    end
end

-- Reads the response to a request of `method`, skipping 1xx ones.
local function read_response(self, method, stream, ctx)
    local line, headers, list
    local version, status, reason
    repeat
        local err
        line, headers, list = message.read_head(self.r, self.lim, ctx, ctx)
        if line == nil then
            err = headers
            if err == lnet.EOF then
                err = perr(0, "server closed the connection before a response")
            end
            return fail(self, err)
        end
        version, status, reason = line:match("^(HTTP/1%.[01]) (%d%d%d) (.*)$")
        if version == nil then -- no reason phrase, and no space before it
            version, status = line:match("^(HTTP/1%.[01]) (%d%d%d)$")
            reason = ""
        end
        if version == nil then
            return fail(self, perr(0, "malformed status line %q", sub(line, 1, 60)))
        end
        status = tonumber(status)
    until status >= 200 or status == 101
    local res = setmetatable({ status = status, reason = reason, version = version, headers = headers,
                               header_list = list }, Response)
    local mode, n
    if method == "HEAD" or status < 200 or status == 204 or status == 304 then
        mode = nil
    else
        mode, n = message.framing(headers)
        if mode == nil and n ~= nil then
            return fail(self, n)
        end
        mode = mode or "close"
    end
    if mode == "close" or message.closes(version, headers) then
        self.closed = true
    end
    res.reader = body.new(self.r, self.lim, mode, n)
    if stream then
        self.last = res
        return res
    end
    local b, err = res.reader:read_all(ctx)
    if b == nil then
        return fail(self, err)
    end
    res.body = b
    if self.closed then
        self.conn:close()
    end
    return res
end

-- request(req [, ctx]): req = {method = "GET", path = "/", headers = {name
-- = value} or {{name, value}, ...}, body = string, stream = bool}.
function Client:request(req, ctx)
    if type(req) ~= "table" then
        error("bad argument #1 to 'request' (table expected, got " .. type(req) .. ")", 2)
    end
    if self.closed then
        return nil, self.conn:op_error("write", lnet.ErrClosed)
    end
    local last = self.last
    if last ~= nil and not last.reader.done then
        local ok, err = last.reader:discard(self.lim.max_body, ctx)
        if not ok then
            return fail(self, err or perr(0, "unread body of the last response too large to skip"))
        end
    end
    self.last = nil
    write_request(self, req)
    local ok, err = self.w:flush(ctx)
    if not ok then
        return fail(self, err)
    end
    return read_response(self, upper(req.method or "GET"), req.stream, ctx)
end

function Client:close()
    self.closed = true
    return self.conn:close()
end

-- request(url [, opts]): "http://host[:port]/path" or "https://...";
-- opts: method, headers, body, timeout (seconds, for all of it), the
-- limits, and for https lnet.tls's ca_file, ca_path, verify and
-- server_name (the URL's host by default).
function _M.request(url, opts)
    opts = opts or {}
    local scheme, host, path = url:match("^(%a+)://([^/]+)(.*)$")
    scheme = scheme and lower(scheme)
    local port = scheme == "http" and 80 or scheme == "https" and 443 or nil
    if port == nil then
        return nil, errors.ParseError({ type = "URL", text = url, msg = "unsupported URL " .. url })
    end
    local address = host
    if not (host:find("^%[.*%]:%d+$") or host:find("^[^:]*:%d+$")) then
        address = host .. ":" .. port
    end
    local ctx, cancel
    if opts.timeout then
        ctx, cancel = lnet.context.with_timeout(lnet.context.background(), opts.timeout)
    end
    local c, err
    if scheme == "https" then
        c, err = require("lnet.tls").dial("tcp", address, { alpn = { "http/1.1" }, ca_file = opts.ca_file,
            ca_path = opts.ca_path, verify = opts.verify, server_name = opts.server_name }, ctx)
    else
        c, err = lnet.dial("tcp", address, ctx)
    end
    if c == nil then
        if cancel then
            cancel()
        end
        return nil, err
    end
    local cl = _M.client(c, { host = host, max_line = opts.max_line, max_headers = opts.max_headers,
                              max_header_bytes = opts.max_header_bytes, max_body = opts.max_body })
    local res, rerr = cl:request({ method = opts.method, path = path ~= "" and path or "/", headers = opts.headers,
                                   body = opts.body }, ctx)
    cl:close()
    if cancel then
        cancel()
    end
    return res, rerr
end

return _M
