-- lnet.signals (private): signal names and numbers of this platform, from
-- lnet.core, for lnet.signal and lnet.process.

local core = require "lnet.core"

local type = type

local _M = {}

local by_name = core.signals
local by_number = {}
for name, n in pairs(by_name) do
    by_number[n] = name
end

-- number(sig): the number of a name ("SIGTERM", or "TERM") or a known
-- number; nil for anything else.
function _M.number(sig)
    if type(sig) == "number" then
        return by_number[sig] and sig or nil
    end
    if type(sig) ~= "string" then
        return nil
    end
    return by_name[sig] or by_name["SIG" .. sig]
end

-- name(n): "SIGTERM" for 15; nil if unknown.
function _M.name(n)
    return by_number[n]
end

return _M
