-- lnet.chaos.errors (private): ChaosError, what chaos returns for bad
-- toxics, names and values, so scripts and the HTTP API tell the cases
-- apart by `code`:
--   bad_value        an attribute or option out of range, of the wrong type, unknown
--   invalid_type     an unknown toxic type
--   invalid_stream   a stream other than up/down/both (upstream/downstream)
--   missing_field    a required field left out
--   toxic_exists, toxic_not_found, proxy_exists, proxy_not_found
-- The text is "chaos: " and msg.

local errors = require "lnet.errors"

local setmetatable = setmetatable

local _M = {}

local ChaosError = errors.kind("ChaosError", function(self)
    return "chaos: " .. self.msg
end)

function _M.new(code, msg)
    return setmetatable({ code = code, msg = msg }, ChaosError)
end

function _M.is(v)
    return errors.as(v, "ChaosError") ~= nil
end

return _M
