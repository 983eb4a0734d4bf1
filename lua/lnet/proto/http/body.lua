-- lnet.proto.http.body (private): a message body, read from the conn's
-- bufio reader as its framing says: a Content-Length, chunks (RFC 9112
-- §7.1: hex sizes, extensions ignored, trailers read and kept apart), or
-- up to the close (a response with neither).
--
--   body:read([max [, ctx]]) -> 1..max bytes | nil, EOF | nil, err
--   body:read_all([ctx]) -> the whole body | nil, err (over max_body: an
--                           error, and nothing more is read)
--   body.done: true once the end was read;  body.trailers
--
-- A size the peer sends is checked before anything is read for it: a chunk
-- size that is no hex number, or of more than 15 digits, is a
-- ProtocolError; a body that would pass max_body fails read_all at once.
-- A body cut by EOF is bufio's ErrUnexpectedEOF.

local buffer = require "string.buffer"
local lnet = require "lnet"
local message = require "lnet.proto.http.message"

local setmetatable, tonumber = setmetatable, tonumber
local min = math.min
local sub, find = string.sub, string.find
local perr = message.perr
local EOF, ErrUnexpectedEOF = lnet.EOF, lnet.bufio.ErrUnexpectedEOF

local _M = {}

local Body = {}
Body.__index = Body

-- new(r, lim, mode, n [, continue]): mode "length" (n bytes), "chunked",
-- "close", or nil (no body). continue: a server's response to a request
-- that expects 100-continue, which the first read sends (unless the
-- response has started).
function _M.new(r, lim, mode, n, continue)
    return setmetatable({
        r = r,
        lim = lim,
        mode = mode,
        left = mode == "length" and n or 0, -- of the body (length) or of the chunk (chunked)
        length = mode == "length" and n or nil,
        done = mode == nil or (mode == "length" and n == 0),
        crlf = false, -- a chunk's data was read: its CR LF comes next
        broken = false, -- a read failed: the stream is out of step
        continue = continue,
        trailers = nil,
    }, Body)
end

-- The next chunk's size line (and the CR LF ending the chunk before).
local function next_chunk(self, ctx)
    local r = self.r
    if self.crlf then
        local crlf, err = r:read_exact(2, ctx)
        if crlf == nil then
            return nil, err == EOF and ErrUnexpectedEOF or err
        elseif crlf ~= "\r\n" then
            return nil, perr(400, "chunk data not followed by CR LF")
        end
        self.crlf = false
    end
    local line, err = r:read_line(self.lim.line_opts, ctx)
    if line == nil then
        return nil, err == EOF and ErrUnexpectedEOF or message.line_error(err, "chunk size line")
    end
    local hex = line:match("^%x+")
    local rest = hex and sub(line, #hex + 1)
    if hex == nil or #hex > 15 or (rest ~= "" and not find(rest, "^[ \t]*;")) then
        return nil, perr(400, "bad chunk size %q", sub(line, 1, 60))
    end
    local size = tonumber(hex, 16)
    if size == 0 then
        local trailers, terr = message.read_fields(r, self.lim, ctx, {}, {}, 0)
        if trailers == nil then
            return nil, terr == EOF and ErrUnexpectedEOF or terr
        end
        self.trailers, self.done = trailers, true
        return 0
    end
    self.left, self.crlf = size, true
    return size
end

local function started(self)
    local res = self.continue
    if res ~= nil then
        self.continue = nil
        if not res.started then
            res.w:write("HTTP/1.1 100 Continue\r\n\r\n")
            res.w:flush()
        end
    end
end

local read

-- An error leaves the body out of step with the stream: the conn is done.
local function broke(self, s, err)
    if s == nil and err ~= EOF then
        self.broken = true
    end
    return s, err
end

function Body:read(max, ctx)
    return broke(self, read(self, max, ctx))
end

function read(self, max, ctx)
    if self.done then
        return nil, EOF
    end
    started(self)
    max = max or 65536
    local r = self.r
    if self.mode == "close" then
        local s, err = r:read(max, ctx)
        if s == nil and err == EOF then
            self.done = true
        end
        return s, err
    end
    if self.left == 0 then -- chunked: between chunks
        local size, err = next_chunk(self, ctx)
        if size == nil then
            return nil, err
        elseif size == 0 then
            return nil, EOF
        end
    end
    local s, err = r:read(min(max, self.left), ctx)
    if s == nil then
        return nil, err == EOF and ErrUnexpectedEOF or err
    end
    self.left = self.left - #s
    if self.left == 0 and self.mode == "length" then
        self.done = true
    end
    return s
end

local function too_large(self)
    return perr(413, "body larger than %d bytes", self.lim.max_body)
end

local read_all

function Body:read_all(ctx)
    return broke(self, read_all(self, ctx))
end

function read_all(self, ctx)
    if self.done then
        return ""
    end
    started(self)
    local limit = self.lim.max_body
    if self.mode == "length" then
        if self.left > limit then
            return nil, too_large(self)
        end
        local s, err = self.r:read_exact(self.left, ctx)
        if s == nil then
            return nil, err == EOF and ErrUnexpectedEOF or err
        end
        self.left, self.done = 0, true
        return s
    end
    local out = buffer.new()
    while true do
        if self.mode == "chunked" and self.left == 0 then
            local size, err = next_chunk(self, ctx)
            if size == nil then
                return nil, err
            elseif size == 0 then
                return out:tostring()
            elseif #out + size > limit then
                return nil, too_large(self)
            end
        end
        local s, err = read(self, min(65536, limit + 1 - #out), ctx)
        if s == nil then
            if err == EOF then
                return out:tostring()
            end
            return nil, err
        end
        out:put(s)
        if #out > limit then
            return nil, too_large(self)
        end
    end
end

-- discard(limit [, ctx]): reads to the end, keeping nothing: true; false
-- when more than limit bytes were left (the conn is better closed); nil,
-- err.
function Body:discard(limit, ctx)
    local skipped = 0
    while not self.done do
        if self.mode == "length" and self.left <= limit - skipped then
            local n, err = self.r:discard(self.left, ctx)
            if err ~= nil then
                return nil, err
            end
            skipped, self.left, self.done = skipped + n, 0, true
        else
            local s, err = self:read(65536, ctx)
            if s == nil then
                if err == EOF then
                    return true
                end
                return nil, err
            end
            skipped = skipped + #s
            if skipped > limit then
                return false
            end
        end
    end
    return true
end

return _M
