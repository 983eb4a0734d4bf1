-- lnet.proto.socks5: a SOCKS5 proxy (RFC 1928: CONNECT, no authentication)
-- and its client.
--
--   socks5.serve(ln [, opts [, ctx [, grace]]])  lnet.serve with the proxy;
--       opts.dial(host, port, ctx) -> conn | nil, err picks the outbound
--       conn (default: lnet.dial "tcp", bounded by opts.timeout, 10 s);
--       opts.log(msg) hears why a request failed (default: nothing)
--   socks5.handle(conn [, opts [, ctx]])     one client conn
--   socks5.dial(proxy, host, port [, opts | ctx]) -> conn | nil, err
--
-- The proxy answers each CONNECT with the reply code its dial's error
-- maps to (refused 5, unreachable 3/4, timeout 6, anything else 1), then
-- relays both ways with lnet.copy (no string per chunk) until both sides
-- end. A request it does not take (another version, no acceptable method,
-- BIND or UDP ASSOCIATE: 7, an unknown address type: 8) is answered and
-- closed. Every length comes from a byte, so nothing a client sends can
-- make it allocate more than 255 bytes.

local lnet = require "lnet"
local errors = require "lnet.errors"
local bufio = require "lnet.bufio"
local ip = require "lnet.ip"
local ProtocolError = require("lnet.proto.errors").ProtocolError

local byte, char, format = string.byte, string.char, string.format
local floor = math.floor
local type, error, tostring = type, error, tostring

local _M = {}

-- Reply codes (RFC 1928 §6).
_M.SUCCEEDED, _M.FAILURE, _M.NOT_ALLOWED, _M.NET_UNREACHABLE, _M.HOST_UNREACHABLE, _M.REFUSED, _M.TTL_EXPIRED,
    _M.CMD_UNSUPPORTED, _M.ATYP_UNSUPPORTED = 0, 1, 2, 3, 4, 5, 6, 7, 8

local REPLY_TEXT = { [1] = "general SOCKS server failure", [2] = "connection not allowed by ruleset",
                     [3] = "network unreachable", [4] = "host unreachable", [5] = "connection refused",
                     [6] = "TTL expired", [7] = "command not supported", [8] = "address type not supported" }

local function perr(msg, ...)
    return ProtocolError("socks5", format(msg, ...))
end

-- The reply code for a dial's error.
local function reply_code(err)
    local e = errors.errno
    if errors.is(err, e.ECONNREFUSED) then
        return _M.REFUSED
    elseif errors.is(err, e.ENETUNREACH) then
        return _M.NET_UNREACHABLE
    elseif errors.is(err, e.EHOSTUNREACH) or errors.as(err, "DNSError") then
        return _M.HOST_UNREACHABLE
    elseif err.timeout and err:timeout() then
        return _M.TTL_EXPIRED
    end
    return _M.FAILURE
end

-- An address as the protocol's ATYP and bytes: IPv4 1, a name 3, IPv6 4.
local function encode_addr(host, port)
    local a = ip.parse_addr(host)
    local head
    if a ~= nil and a:is4() then
        head = "\1" .. a:bytes()
    elseif a ~= nil then
        head = "\4" .. a:bytes()
    else
        if #host == 0 or #host > 255 then
            return nil
        end
        head = "\3" .. char(#host) .. host
    end
    return head .. char(floor(port / 256) % 256, port % 256)
end

local function bind_reply(code, local_addr)
    local bytes
    if local_addr ~= nil and local_addr.ip ~= nil then
        bytes = encode_addr(tostring(local_addr.ip:unmap()), local_addr.port)
    end
    return "\5" .. char(code) .. "\0" .. (bytes or "\1\0\0\0\0\0\0")
end

-- Reads ATYP, address and port: host, port; or nil and the reply code.
local function read_addr(r)
    local atyp = r:read_exact(1)
    if atyp == nil then
        return nil
    end
    local host
    atyp = byte(atyp)
    if atyp == 1 or atyp == 4 then
        local raw = r:read_exact(atyp == 1 and 4 or 16)
        if raw == nil then
            return nil
        end
        host = tostring(ip.addr_from_bytes(raw))
    elseif atyp == 3 then
        local n = r:read_exact(1)
        host = n and byte(n) > 0 and r:read_exact(byte(n))
        if not host then
            return nil
        end
    else
        return nil, _M.ATYP_UNSUPPORTED
    end
    local p = r:read_exact(2)
    if p == nil then
        return nil
    end
    return host, byte(p, 1) * 256 + byte(p, 2)
end

local function default_dial(timeout)
    return function(host, port, ctx)
        local d = lnet.dialer({ timeout = timeout })
        return d:dial("tcp", lnet.join_host_port(host, port), ctx)
    end
end

-- handle(conn [, opts [, ctx]]): the whole life of one client conn.
function _M.handle(c, opts, ctx)
    opts = opts or {}
    local log = opts.log or function()
    end
    local dial = opts.dial or default_dial(opts.timeout or 10)
    local r = bufio.reader(c, 512)
    c:set_read_deadline(lnet.now() + (opts.timeout or 10)) -- the handshake's, not the relay's
    local head = r:read_exact(2)
    if head == nil or byte(head) ~= 5 then
        return log("not a SOCKS5 greeting")
    end
    local methods = r:read_exact(byte(head, 2))
    if methods == nil then
        return log("greeting cut short")
    elseif not methods:find("\0", 1, true) then
        c:write("\5\255")
        return log("no acceptable authentication method")
    end
    c:write("\5\0")
    local req = r:read_exact(3)
    if req == nil or byte(req) ~= 5 then
        return log("not a SOCKS5 request")
    end
    local host, port = read_addr(r)
    if host == nil then
        if port then
            c:write(bind_reply(port))
        end
        return log("bad address in request")
    elseif byte(req, 2) ~= 1 then
        c:write(bind_reply(_M.CMD_UNSUPPORTED))
        return log("command " .. byte(req, 2) .. " not supported")
    end
    c:set_read_deadline(nil)
    local out, err = dial(host, port, ctx)
    if out == nil then
        c:write(bind_reply(reply_code(err)))
        return log(format("CONNECT %s:%d: %s", host, port, tostring(err)))
    end
    c:write(bind_reply(_M.SUCCEEDED, out:local_addr()))
    -- Bytes the client sent after its request are already buffered here.
    if r:buffered() > 0 then
        out:write(r:read(r:buffered()))
    end
    local up = lnet.go(function()
        lnet.copy(out, c, ctx)
        out:close_write()
    end)
    lnet.copy(c, out, ctx)
    c:close_write()
    up:join()
    out:close()
end

function _M.serve(ln, opts, ctx, grace)
    return lnet.serve(ln, function(c, sctx)
        return _M.handle(c, opts, sctx)
    end, ctx, grace)
end

-- dial(proxy, host, port [, opts | ctx]): a conn to host:port through the
-- proxy at `proxy` (the name resolved by the proxy). A refusal is a
-- ProtocolError whose `code` is the reply code.
function _M.dial(proxy, host, port, opts)
    if type(host) ~= "string" or type(port) ~= "number" then
        error("bad argument to 'dial' (proxy, host and port expected)", 2)
    end
    local addr = encode_addr(host, port)
    if addr == nil then
        error("bad argument #2 to 'dial' (host name of 1 to 255 bytes expected)", 2)
    end
    local ctx = type(opts) ~= "table" and opts or nil
    local c, err = lnet.dial("tcp", proxy, opts)
    if c == nil then
        return nil, err
    end
    local r = bufio.reader(c, 1) -- reads no byte past the reply: what follows is the target's
    local function fail(e)
        c:close()
        return nil, e
    end
    local _, werr = c:write("\5\1\0\5\1\0" .. addr, ctx)
    if werr then
        return fail(werr)
    end
    local m, rerr = r:read_exact(2, ctx)
    if m == nil then
        return fail(rerr)
    elseif m ~= "\5\0" then
        return fail(perr("proxy refused the method (no authentication)"))
    end
    local rep
    rep, rerr = r:read_exact(3, ctx)
    if rep == nil then
        return fail(rerr)
    elseif byte(rep) ~= 5 then
        return fail(perr("bad reply version %d", byte(rep)))
    elseif byte(rep, 2) ~= 0 then
        local e = perr("CONNECT %s:%d: %s", host, port, REPLY_TEXT[byte(rep, 2)] or "reply " .. byte(rep, 2))
        e.code = byte(rep, 2)
        return fail(e)
    end
    local bhost, bport = read_addr(r)
    if bhost == nil then
        return fail(perr("bad bound address in reply"))
    end
    return c
end

return _M
