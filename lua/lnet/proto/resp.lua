-- lnet.proto.resp: a Redis client speaking RESP2 and RESP3.
--
--   resp.connect(address [, opts]) -> client | nil, err   (tcp, or a unix path)
--   resp.client(conn [, opts]) -> client
--   client:call(cmd, ... [, ctx]) -> reply | nil, err
--   client:send(cmd, ...)                 queue a command (no I/O)
--   client:flush([ctx]) -> true | nil, err  every queued command in one write
--   client:receive([ctx]) -> reply | nil, err   the next reply (pushes set aside)
--   client:push([ctx]) -> push | nil, err       the next push message
--   client:pending() -> bytes queued;  client:close()
--   resp.null: the nil reply
--
-- Replies: simple and bulk strings -> strings; integers -> numbers (int64_t
-- cdata past 2^53); nil ($-1, *-1, RESP3 _) -> resp.null; arrays and sets
-- -> Lua arrays; maps -> tables; doubles -> numbers; booleans; big numbers
-- and verbatim strings -> strings (verbatim without its "txt:"); an
-- attribute is read and dropped. An error reply is `nil, err` with err a
-- RESPError (`err.code` its first word, "ERR", "WRONGTYPE"...), and the
-- client stays usable; inside an array it is an element. Pushes (RESP3 >)
-- are kept apart: receive passes over them (push returns them in order),
-- push passes over replies (receive returns them in order).
--
-- Bad input: every length a server sends is checked before anything is
-- allocated for it (opts.max_bulk, default 64 MiB; opts.max_elements, 1M;
-- opts.max_depth, 32 levels; opts.max_line, 64 KiB), and anything malformed
-- is a ProtocolError. After one, or after an I/O error part way through a
-- reply, the stream is out of step: the client is broken and every later
-- call returns that error. A ctx or deadline that ends a call before any
-- byte of its reply arrived leaves the client usable.

local ffi = require "ffi"
local buffer = require "string.buffer"
local lnet = require "lnet"
local errors = require "lnet.errors"
local sched = require "lnet.sched"
local conn = require "lnet.conn"
local bufio = require "lnet.bufio"
local ProtocolError = require("lnet.proto.errors").ProtocolError
local dial_server = require("lnet.proto.dial").server

local setmetatable, type, error, tostring, tonumber, select, pairs =
    setmetatable, type, error, tostring, tonumber, select, pairs
local byte, sub, find, format, lower = string.byte, string.sub, string.find, string.format, string.lower
local floor, huge = math.floor, math.huge
local istype = ffi.istype
local trailing_ctx = sched.trailing_ctx

local _M = {}

-- The nil reply: one value, so arrays keep their length.
_M.null = setmetatable({}, { __tostring = function()
    return "resp.null"
end })
local null = _M.null

-- RESPError{msg, code}: an error reply ("-ERR unknown command ...").
local RESPError = errors.kind("RESPError", function(self)
    return self.msg
end)

local function resp_error(msg)
    return setmetatable({ msg = msg, code = msg:match("^(%S+)") or "" }, RESPError)
end
_M.RESPError = resp_error

local function protocol_error(msg, ...)
    return ProtocolError("resp", format(msg, ...))
end

local DEFAULTS = { max_bulk = 64 * 1024 * 1024, max_elements = 1024 * 1024, max_depth = 32, max_line = 65536,
                   protocol = 2 }

local Client = {}
Client.__index = Client

local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")

-- An argument as the bytes Redis gets: integral numbers without exponent.
local function arg_string(v, i)
    local t = type(v)
    if t == "string" then
        return v
    elseif t == "number" then
        if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then
            return format("%d", v)
        end
        return format("%.17g", v)
    elseif istype(int64_t, v) or istype(uint64_t, v) then
        return (tostring(v):gsub("U?LL$", ""))
    end
    error(format("bad argument #%d to 'send' (string or number expected, got %s)", i, type(v)), 4)
end

-- client(conn [, opts]): over a connected conn (or anything with read and
-- write). opts: protocol (2, or 3 to send HELLO 3 at once), max_bulk,
-- max_elements, max_depth, max_line.
function _M.client(c, opts)
    opts = opts or {}
    if type(opts) ~= "table" then
        error("bad argument #2 to 'client' (table expected, got " .. type(opts) .. ")", 2)
    end
    local self = setmetatable({
        conn = c,
        core = conn.is_conn(c),
        r = bufio.reader(c, 16384),
        out = buffer.new(),
        replies = {}, -- replies read while looking for a push: {value, err} pairs
        pushes = {}, -- pushes read while looking for a reply
        broken = nil,
        protocol = 2,
    }, Client)
    for k, v in pairs(DEFAULTS) do
        self[k] = opts[k] or v
    end
    self.line_opts = { max = self.max_line }
    if opts.protocol == 3 then
        local info, err = self:call("HELLO", "3")
        if info == nil then
            return nil, err
        end
        self.protocol, self.server = 3, info
    end
    return self
end

-- connect(address [, opts]): dials (tcp, or unix for an address with a /)
-- and makes a client; opts as client's, plus timeout (the dial's).
function _M.connect(address, opts)
    opts = opts or {}
    local c, err = dial_server(address, opts.timeout)
    if c == nil then
        return nil, err
    end
    local cl, herr = _M.client(c, opts)
    if cl == nil then
        c:close()
    end
    return cl, herr
end

-- Commands ---------------------------------------------------------------

-- The first n arguments as a command.
local function encode(out, n, ...)
    out:put("*", n, "\r\n")
    for i = 1, n do
        local s = arg_string((select(i, ...)), i)
        out:put("$", #s, "\r\n", s, "\r\n")
    end
end

function Client:send(...)
    local n = select("#", ...)
    if n == 0 then
        error("bad argument #1 to 'send' (command expected)", 2)
    end
    encode(self.out, n, ...)
end

function Client:pending()
    return #self.out
end

-- flush([ctx]): the queued commands, in one write.
function Client:flush(ctx)
    if self.broken then
        return nil, self.broken
    end
    local out = self.out
    if #out == 0 then
        return true
    end
    local n, err
    if self.core then
        n, err = self.conn:write(out, ctx)
    else
        n, err = self.conn:write(out:tostring(), ctx)
    end
    if err ~= nil then
        if n > 0 then -- the server has part of a command: out of step
            self.broken = err
        end
        out:skip(n)
        return nil, err
    end
    out:reset()
    return true
end

-- Replies ----------------------------------------------------------------

local read_value

local function integer(s)
    if not find(s, "^%-?%d+$") then
        return nil, protocol_error("bad integer %q", sub(s, 1, 40))
    end
    if #s < 16 then
        return tonumber(s)
    end
    local neg = byte(s) == 45
    local v = int64_t(0)
    for i = neg and 2 or 1, #s do
        v = v * 10 + (byte(s, i) - 48)
    end
    if neg then
        v = -v
    end
    if v >= -2 ^ 53 and v <= 2 ^ 53 then
        return tonumber(v)
    end
    return v
end

-- A length or count after a type byte: -1 is nil; else 0..limit.
local function length(s, limit, what)
    local n = find(s, "^%-?%d+$") and tonumber(s)
    if n == nil then
        return nil, protocol_error("bad %s length %q", what, sub(s, 1, 40))
    elseif n == -1 then
        return -1
    elseif n < 0 or n > limit then
        return nil, protocol_error("%s length %s out of range (max %d)", what, s, limit)
    end
    return n
end

-- A bulk body of n bytes and its CR LF.
local function bulk(self, n, ctx)
    local s, err = self.r:read_exact(n, ctx)
    if s == nil then
        return nil, err
    end
    local crlf
    crlf, err = self.r:read_exact(2, ctx)
    if crlf == nil then
        return nil, err
    elseif crlf ~= "\r\n" then
        return nil, protocol_error("bulk string of %d bytes not followed by CR LF", n)
    end
    return s
end

local function aggregate(self, n, depth, ctx, map)
    local t = {}
    for i = 1, n do
        local k, kerr = read_value(self, depth + 1, ctx)
        if kerr ~= nil and errors.as(kerr, "RESPError") == nil then
            return nil, kerr
        end
        k = k == nil and kerr or k
        if map then
            local v, verr = read_value(self, depth + 1, ctx)
            if verr ~= nil and errors.as(verr, "RESPError") == nil then
                return nil, verr
            end
            t[k] = v == nil and verr or v
        else
            t[i] = k
        end
    end
    return t
end

-- One value: value; or nil and a RESPError (an error reply) or another
-- error; the third result says it was a push.
function read_value(self, depth, ctx)
    if depth > self.max_depth then
        return nil, protocol_error("replies nested deeper than %d", self.max_depth)
    end
    local line, err = self.r:read_line(self.line_opts, ctx)
    if line == nil then
        return nil, err
    end
    self.mid = true
    local t, rest = byte(line), sub(line, 2)
    if t == 43 then -- + simple string
        return rest
    elseif t == 45 then -- - error
        return nil, resp_error(rest)
    elseif t == 58 then -- : integer
        return integer(rest)
    elseif t == 36 or t == 33 or t == 61 then -- $ bulk, ! blob error, = verbatim
        local n, lerr = length(rest, self.max_bulk, "bulk")
        if n == nil then
            return nil, lerr
        elseif n == -1 then
            return null
        end
        local s, berr = bulk(self, n, ctx)
        if s == nil then
            return nil, berr
        elseif t == 33 then
            return nil, resp_error(s)
        elseif t == 61 then
            return sub(s, 5) -- "txt:" or "mkd:"
        end
        return s
    elseif t == 42 or t == 126 or t == 62 or t == 37 or t == 124 then -- * ~ > % |
        local map = t == 37 or t == 124
        local n, lerr = length(rest, self.max_elements, "aggregate")
        if n == nil then
            return nil, lerr
        elseif n == -1 then
            return null
        end
        local v, aerr = aggregate(self, n, depth, ctx, map)
        if v == nil then
            return nil, aerr
        elseif t == 124 then -- an attribute: what it describes follows
            return read_value(self, depth, ctx)
        end
        return v, nil, t == 62
    elseif t == 95 then -- _ null
        return null
    elseif t == 44 then -- , double
        local l = lower(rest)
        local v = l == "inf" and huge or l == "-inf" and -huge or l == "nan" and 0 / 0 or tonumber(rest)
        if v == nil then
            return nil, protocol_error("bad double %q", sub(rest, 1, 40))
        end
        return v
    elseif t == 35 then -- # boolean
        if rest == "t" or rest == "f" then
            return rest == "t"
        end
        return nil, protocol_error("bad boolean %q", sub(rest, 1, 40))
    elseif t == 40 then -- ( big number
        if not find(rest, "^%-?%d+$") then
            return nil, protocol_error("bad big number %q", sub(rest, 1, 40))
        end
        return rest
    end
    return nil, protocol_error("unknown reply type %q", sub(line, 1, 40))
end

-- The next top-level value; an error that is not an error reply breaks
-- the client if part of a reply was read.
local function next_value(self, ctx)
    if self.broken then
        return nil, self.broken
    end
    self.mid = false
    local v, err, is_push = read_value(self, 1, ctx)
    if v == nil and errors.as(err, "RESPError") == nil and (self.mid or errors.as(err, "ProtocolError")
        or err == lnet.EOF or errors.as(err, "LimitError")) then
        self.broken = err
    end
    return v, err, is_push
end

local function shift(q)
    local v = q[1]
    table.remove(q, 1)
    return v
end

function Client:receive(ctx)
    if #self.replies > 0 then
        local e = shift(self.replies)
        return e[1], e[2]
    end
    while true do
        local v, err, is_push = next_value(self, ctx)
        if not is_push then
            return v, err
        end
        self.pushes[#self.pushes + 1] = v
    end
end

function Client:push(ctx)
    if #self.pushes > 0 then
        return shift(self.pushes)
    end
    while true do
        local v, err, is_push = next_value(self, ctx)
        if is_push then
            return v
        elseif v == nil and errors.as(err, "RESPError") == nil then
            return nil, err
        end
        self.replies[#self.replies + 1] = { v, err }
    end
end

-- call(cmd, ... [, ctx]): send, flush, receive.
function Client:call(...)
    local n, ctx = trailing_ctx(...)
    if n == 0 then
        error("bad argument #1 to 'call' (command expected)", 2)
    end
    encode(self.out, n, ...)
    local ok, err = self:flush(ctx)
    if not ok then
        return nil, err
    end
    return self:receive(ctx)
end

function Client:close()
    return self.conn:close()
end

return _M
