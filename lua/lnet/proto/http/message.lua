-- lnet.proto.http.message (private): what requests and responses share: the
-- head (start line and header fields, RFC 9112 §2-5), the framing of the
-- body (§6), the limits on both, and the Date field's text.
--
-- Headers come as two views: `headers`, field names in lower case to
-- values (a field given several times joined with ", ", as RFC 9110 §5.3
-- allows), and `header_list`, the fields as sent: name, value, name, ...

local lnet = require "lnet"
local errors = require "lnet.errors"
local ProtocolError = require("lnet.proto.errors").ProtocolError

local find, sub, byte, lower, format = string.find, string.sub, string.byte, string.lower, string.format
local tonumber, floor, min, setmetatable, pairs = tonumber, math.floor, math.min, setmetatable, pairs

local _M = {}

-- The limits a peer cannot pass (each also an option of client and server).
_M.DEFAULTS = {
    max_line = 8192, -- a start line or one header line
    max_headers = 100, -- header fields in one head (trailers too)
    max_header_bytes = 65536, -- all of a head's lines
    max_body = 64 * 1024 * 1024, -- a body read whole (read_all), or a Content-Length a server takes
}

-- limits(opts): the options with the defaults filled in, and the reader
-- options their lines are read with.
function _M.limits(opts)
    local lim = {}
    for k, v in pairs(_M.DEFAULTS) do
        lim[k] = opts and opts[k] or v
    end
    lim.line_opts = { max = lim.max_line }
    return lim
end

-- An HTTP ProtocolError; `status` is what a server answers it with.
local function perr(status, msg, ...)
    local e = ProtocolError("http", format(msg, ...))
    e.status = status
    return e
end
_M.perr = perr

-- A line that would not end (bufio's LimitError) is the peer's fault.
local function line_error(err, what)
    if errors.as(err, "LimitError") then
        return perr(what == "start line" and 414 or 431, "%s longer than %d bytes", what, err.max)
    end
    return err
end
_M.line_error = line_error

-- Field names are tokens; values hold no control bytes but HTAB. Checked
-- a byte at a time through tables: loops the JIT compiles (a pattern
-- would end the trace, on every header of every request).
local TOKEN = {}
for c in ("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"):gmatch(".") do
    TOKEN[byte(c)] = true
end
local CTL = { [127] = true }
for b = 0, 31 do
    CTL[b] = b ~= 9 or nil
end

-- Whether s[i..j] is a token (non-empty).
local function is_token(s, i, j)
    if j < i then
        return false
    end
    for k = i, j do
        if not TOKEN[byte(s, k)] then
            return false
        end
    end
    return true
end
_M.is_token = is_token

-- Whether s[i..j] holds a control byte other than HTAB.
local function has_ctl(s, i, j)
    for k = i, j do
        if CTL[byte(s, k)] then
            return true
        end
    end
    return false
end
_M.has_ctl = has_ctl

-- read_fields(r, lim, ctx, headers, list, total): header (or trailer)
-- lines up to the empty one. headers, list; or nil, err.
local function read_fields(r, lim, ctx, headers, list, total)
    local n = 0
    while true do
        local h, err = r:read_line(lim.line_opts, ctx)
        if h == nil then
            return nil, line_error(err, "header line")
        elseif h == "" then
            return headers, list
        end
        n, total = n + 1, total + #h
        if n > lim.max_headers or total > lim.max_header_bytes then
            return nil, perr(431, "more than %d header fields or %d bytes", lim.max_headers, lim.max_header_bytes)
        end
        local colon = find(h, ":", 1, true)
        if colon == nil or colon == 1 then
            return nil, perr(400, "malformed header line %q", sub(h, 1, 60))
        end
        if not is_token(h, 1, colon - 1) then -- also a space before the colon, or a folded line
            return nil, perr(400, "malformed header field name %q", sub(h, 1, min(colon - 1, 60)))
        end
        local name = sub(h, 1, colon - 1)
        local i, j = colon + 1, #h
        while byte(h, i) == 32 or byte(h, i) == 9 do
            i = i + 1
        end
        while j >= i and (byte(h, j) == 32 or byte(h, j) == 9) do
            j = j - 1
        end
        if has_ctl(h, i, j) then
            return nil, perr(400, "control byte in header field %s", name)
        end
        local value = sub(h, i, j)
        local key = lower(name)
        list[#list + 1] = name
        list[#list + 1] = value
        local old = headers[key]
        headers[key] = old == nil and value or old .. ", " .. value
    end
end
_M.read_fields = read_fields

-- read_head(r, lim, ctx, first_ctx): the start line (read under
-- first_ctx: a server waits for the next request with its shutdown ctx),
-- headers, header_list; or nil, err (EOF when the stream ended before any
-- byte of it).
function _M.read_head(r, lim, ctx, first_ctx)
    local line, err = r:read_line(lim.line_opts, first_ctx)
    if line == "" then -- RFC 9112 §2.2: an empty line before a request is ignored
        line, err = r:read_line(lim.line_opts, ctx)
    end
    if line == nil then
        return nil, line_error(err, "start line")
    end
    local headers, list = read_fields(r, lim, ctx, {}, {}, #line)
    if headers == nil then
        return nil, list
    end
    return line, headers, list
end

-- A Content-Length value: digits (a list of equal ones, as duplicated
-- fields are joined), at most 15 of them.
local function content_length(v)
    local first = v:match("^(%d+)")
    if first == nil or #first > 15 then
        return nil
    end
    local rest = sub(v, #first + 1)
    while rest ~= "" do
        local again = rest:match("^%s*,%s*(%d+)")
        if again ~= first then
            return nil
        end
        rest = rest:gsub("^%s*,%s*%d+", "", 1)
    end
    return tonumber(first)
end

-- framing(headers): how the body is delimited: "chunked"; "length", n; or
-- nil when the head says neither (a request then has no body, a response
-- runs to the close). A head with both, a Transfer-Encoding other than
-- chunked alone, or a bad length is an error (RFC 9112 §6.1, §6.3).
function _M.framing(headers)
    local te, cl = headers["transfer-encoding"], headers["content-length"]
    if te ~= nil then
        if cl ~= nil then
            return nil, perr(400, "both Content-Length and Transfer-Encoding")
        elseif lower(te) ~= "chunked" then
            return nil, perr(501, "unsupported Transfer-Encoding %q", sub(te, 1, 60))
        end
        return "chunked"
    elseif cl ~= nil then
        local n = content_length(cl)
        if n == nil then
            return nil, perr(400, "bad Content-Length %q", sub(cl, 1, 60))
        end
        return "length", n
    end
    return nil
end

-- Whether a message asks to close the conn after it (Connection: close;
-- HTTP/1.0 unless keep-alive).
function _M.closes(version, headers)
    local c = headers.connection
    if c ~= nil then
        c = lower(c)
        if find(c, "close", 1, true) then
            return true
        elseif version == "HTTP/1.0" then
            return not find(c, "keep-alive", 1, true)
        end
    end
    return version ~= "HTTP/1.1"
end

-- The Date field's value (RFC 9110 §5.6.7), made once a second.
local date_text, date_at = "", -1
function _M.date()
    local now = floor(lnet.time())
    if now ~= date_at then
        date_at, date_text = now, os.date("!%a, %d %b %Y %H:%M:%S GMT", now)
    end
    return date_text
end

_M.REASONS = setmetatable({
    [100] = "Continue", [101] = "Switching Protocols", [200] = "OK", [201] = "Created", [202] = "Accepted",
    [204] = "No Content", [206] = "Partial Content", [301] = "Moved Permanently", [302] = "Found",
    [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
    [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
    [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
    [413] = "Content Too Large", [414] = "URI Too Long", [415] = "Unsupported Media Type",
    [417] = "Expectation Failed", [422] = "Unprocessable Content", [429] = "Too Many Requests",
    [431] = "Request Header Fields Too Large", [500] = "Internal Server Error", [501] = "Not Implemented",
    [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}, { __index = function()
    return ""
end })

return _M
