-- lnet.proto.dial (private): how the protocol clients (resp, memcached)
-- reach their server: an address holding a / is a unix socket's path,
-- anything else host:port over tcp, as redis-cli and memcached's -s take.

local lnet = require "lnet"

local find = string.find

local _M = {}

-- server(address, timeout): the conn, or nil and the dial's error.
function _M.server(address, timeout)
    return lnet.dial(find(address, "/", 1, true) and "unix" or "tcp", address, { timeout = timeout })
end

return _M
