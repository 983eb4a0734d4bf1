-- lnet.dns: DNS messages (a codec) and a DNS server a script programs per
-- query. The codec is pure Lua over LuaJIT's FFI and never yields; the
-- server runs on lnet tasks. See README.md, "DNS messages and server".

local const = require "lnet.dns.const"
local decode = require "lnet.dns.decode"
local encode = require "lnet.dns.encode"
local server = require "lnet.dns.server"
local zone = require "lnet.dns.zone"

return {
    decode = decode.decode,
    encode = encode.encode,
    server = server.server,
    zone = zone.zone,
    type = const.type,
    class = const.class,
    rcode = const.rcode,
    opcode = const.opcode,
}
