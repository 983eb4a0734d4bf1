-- lnet.proto.memcached: a client for memcached's text protocol.
--
--   memcached.connect(address [, opts]) -> mc | nil, err
--   memcached.client(conn [, opts]) -> mc
--   mc:get(key) -> value, flags, cas | nil (a miss) | nil, err
--   mc:get_multi({keys}) -> {key = {value, flags, cas}} | nil, err
--   mc:set / add / replace / append / prepend(key, value [, exptime [, flags]])
--       -> true | false, "NOT_STORED" | nil, err
--   mc:cas(key, value, cas [, exptime [, flags]]) -> true | false, "EXISTS" or "NOT_FOUND"
--   mc:delete(key) -> true | false, "NOT_FOUND";  mc:touch(key, exptime) likewise
--   mc:incr / decr(key, n) -> new value | false, "NOT_FOUND"
--   mc:flush_all() -> true;  mc:version() -> text;  mc:stats() -> {name = value}
--   mc:close()
--
-- A server's ERROR, CLIENT_ERROR or SERVER_ERROR is `nil, err` with err a
-- MemcachedError (err.kind the word, err.msg the rest); the conn stays
-- usable. Keys (1 to 250 bytes, no spaces or control bytes) and values
-- come from the program: a bad one raises. A VALUE line's length is
-- checked against opts.max_value (default 16 MiB) before it is read;
-- anything malformed is a ProtocolError, after which the client is broken.
-- Every call takes a ctx as its last argument.

local lnet = require "lnet"
local errors = require "lnet.errors"
local sched = require "lnet.sched"
local bufio = require "lnet.bufio"
local ProtocolError = require("lnet.proto.errors").ProtocolError
local dial_server = require("lnet.proto.dial").server

local setmetatable, getmetatable, type, error, tostring, tonumber, ipairs =
    setmetatable, getmetatable, type, error, tostring, tonumber, ipairs
local find, format, sub = string.find, string.format, string.sub
local floor = math.floor
local Context = sched.Context

local _M = {}

local MemcachedError = errors.kind("MemcachedError", function(self)
    return self.msg ~= "" and self.kind .. " " .. self.msg or self.kind
end)

local function perr(msg, ...)
    return ProtocolError("memcached", format(msg, ...))
end

local Client = {}
Client.__index = Client

function _M.client(c, opts)
    opts = opts or {}
    return setmetatable({
        conn = c,
        r = bufio.reader(c, 16384),
        w = bufio.writer(c, 1024 * 1024),
        max_value = opts.max_value or 16 * 1024 * 1024,
        line_opts = { max = 8192 },
        broken = nil,
    }, Client)
end

function _M.connect(address, opts)
    opts = opts or {}
    local c, err = dial_server(address, opts.timeout)
    if c == nil then
        return nil, err
    end
    return _M.client(c, opts)
end

local function check_key(key, fname)
    if type(key) ~= "string" or #key == 0 or #key > 250 or find(key, "[%c ]") then
        error(("bad argument #1 to '%s' (key of 1 to 250 bytes with no space or control byte expected)")
            :format(fname), 3)
    end
end

local function uint(v, n, fname)
    if type(v) ~= "number" or v < 0 or v ~= floor(v) or v >= 2 ^ 64 then
        error(("bad argument #%d to '%s' (non-negative integer expected, got %s)"):format(n, fname, tostring(v)), 3)
    end
    return format("%d", v)
end

local function is_ctx(v)
    return getmetatable(v) == Context
end

local function broken(self, err)
    self.broken = err
    return nil, err
end

-- Sends what was written: true, or nil and the error (which breaks the
-- client: a request may have gone out in part).
local function send(self, ctx)
    if self.broken then
        return nil, self.broken
    end
    local ok, err = self.w:flush(ctx)
    if not ok then
        return broken(self, err)
    end
    return true
end

-- Sends what was written, then reads one reply line; a server error line
-- is nil, MemcachedError.
local function exchange(self, ctx)
    local ok, err = send(self, ctx)
    if not ok then
        return nil, err
    end
    return self:line(ctx)
end

function Client:line(ctx)
    local line, err = self.r:read_line(self.line_opts, ctx)
    if line == nil then
        if err == lnet.EOF or errors.as(err, "LimitError") then
            self.broken = err
        end
        return nil, err
    end
    local word, rest = line:match("^(%u+_?%u*) ?(.*)$")
    if word == "ERROR" or word == "CLIENT_ERROR" or word == "SERVER_ERROR" then
        return nil, setmetatable({ kind = word, msg = rest }, MemcachedError)
    end
    return line
end

-- The VALUE blocks up to END: into out[key] = {value, flags, cas}.
local function read_values(self, out, ctx)
    while true do
        local line, err = self:line(ctx)
        if line == nil then
            return nil, err
        elseif line == "END" then
            return out
        end
        local key, flags, n, cas = line:match("^VALUE (%S+) (%d+) (%d+) ?(%d*)$")
        n = tonumber(n)
        if key == nil then
            return broken(self, perr("unexpected line %q", sub(line, 1, 60)))
        elseif n > self.max_value then
            return broken(self, perr("value of %d bytes over max_value %d", n, self.max_value))
        end
        local data
        data, err = self.r:read_exact(n + 2, ctx)
        if data == nil then
            return broken(self, err)
        elseif sub(data, -2) ~= "\r\n" then
            return broken(self, perr("value of %d bytes not followed by CR LF", n))
        end
        out[key] = { sub(data, 1, n), tonumber(flags), cas ~= "" and tonumber(cas) or nil }
    end
end

function Client:get(key, ctx)
    check_key(key, "get")
    self.w:write("gets ", key, "\r\n")
    local ok, err = send(self, ctx)
    if not ok then
        return nil, err
    end
    local values
    values, err = read_values(self, {}, ctx)
    if values == nil then
        return nil, err
    end
    local v = values[key]
    if v == nil then
        return nil
    end
    return v[1], v[2], v[3]
end

function Client:get_multi(keys, ctx)
    if type(keys) ~= "table" then
        error("bad argument #1 to 'get_multi' (table expected, got " .. type(keys) .. ")", 2)
    end
    self.w:write("gets")
    for _, k in ipairs(keys) do
        check_key(k, "get_multi")
        self.w:write(" ", k)
    end
    self.w:write("\r\n")
    local ok, err = send(self, ctx)
    if not ok then
        return nil, err
    end
    return read_values(self, {}, ctx)
end

-- A storage command: true on STORED, false and the word otherwise.
local function store(self, cmd, key, value, exptime, flags, cas, ctx)
    check_key(key, cmd)
    if type(value) ~= "string" then
        error("bad argument #2 to '" .. cmd .. "' (string expected, got " .. type(value) .. ")", 3)
    end
    self.w:write(cmd, " ", key, " ", uint(flags or 0, 4, cmd), " ", uint(exptime or 0, 3, cmd), " ",
        tostring(#value), cas and " " .. cas or "", "\r\n", value, "\r\n")
    local line, err = exchange(self, ctx)
    if line == nil then
        return nil, err
    elseif line == "STORED" then
        return true
    elseif line == "NOT_STORED" or line == "EXISTS" or line == "NOT_FOUND" then
        return false, line
    end
    return broken(self, perr("unexpected reply %q to %s", sub(line, 1, 60), cmd))
end

for _, cmd in ipairs({ "set", "add", "replace", "append", "prepend" }) do
    Client[cmd] = function(self, key, value, exptime, flags, ctx)
        if is_ctx(exptime) then
            exptime, ctx = nil, exptime
        elseif is_ctx(flags) then
            flags, ctx = nil, flags
        end
        return store(self, cmd, key, value, exptime, flags, nil, ctx)
    end
end

function Client:cas(key, value, cas, exptime, flags, ctx)
    if is_ctx(exptime) then
        exptime, ctx = nil, exptime
    elseif is_ctx(flags) then
        flags, ctx = nil, flags
    end
    return store(self, "cas", key, value, exptime, flags, uint(cas, 3, "cas"), ctx)
end

-- A command whose reply is one word: true on `yes`.
local function simple(self, yes, ctx, ...)
    self.w:write(...)
    local line, err = exchange(self, ctx)
    if line == nil then
        return nil, err
    elseif line == yes then
        return true
    elseif line == "NOT_FOUND" then
        return false, line
    end
    return broken(self, perr("unexpected reply %q", sub(line, 1, 60)))
end

function Client:delete(key, ctx)
    check_key(key, "delete")
    return simple(self, "DELETED", ctx, "delete ", key, "\r\n")
end

function Client:touch(key, exptime, ctx)
    check_key(key, "touch")
    return simple(self, "TOUCHED", ctx, "touch ", key, " ", uint(exptime, 2, "touch"), "\r\n")
end

function Client:flush_all(ctx)
    return simple(self, "OK", ctx, "flush_all\r\n")
end

local function arith(self, cmd, key, n, ctx)
    check_key(key, cmd)
    self.w:write(cmd, " ", key, " ", uint(n, 2, cmd), "\r\n")
    local line, err = exchange(self, ctx)
    if line == nil then
        return nil, err
    elseif line == "NOT_FOUND" then
        return false, line
    elseif not find(line, "^%d+$") then
        return broken(self, perr("unexpected reply %q to %s", sub(line, 1, 60), cmd))
    end
    return tonumber(line)
end

function Client:incr(key, n, ctx)
    return arith(self, "incr", key, n, ctx)
end

function Client:decr(key, n, ctx)
    return arith(self, "decr", key, n, ctx)
end

function Client:version(ctx)
    self.w:write("version\r\n")
    local line, err = exchange(self, ctx)
    if line == nil then
        return nil, err
    end
    local v = line:match("^VERSION (.*)$")
    if v == nil then
        return broken(self, perr("unexpected reply %q to version", sub(line, 1, 60)))
    end
    return v
end

function Client:stats(ctx)
    self.w:write("stats\r\n")
    local line, err = exchange(self, ctx)
    local out = {}
    for _ = 1, 10000 do
        if line == nil then
            return nil, err
        elseif line == "END" then
            return out
        end
        local name, value = line:match("^STAT (%S+) (.*)$")
        if name == nil then
            return broken(self, perr("unexpected line %q in stats", sub(line, 1, 60)))
        end
        out[name] = value
        line, err = self:line(ctx)
    end
    return broken(self, perr("more than 10000 stats"))
end

function Client:close()
    return self.conn:close()
end

return _M
