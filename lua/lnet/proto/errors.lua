-- lnet.proto.errors: the error kinds the protocol modules share.
--
-- ProtocolError{proto, msg}: a peer broke its protocol (a malformed line, a
-- length out of range, a framing the module refuses). Its text is
-- "<proto>: <msg>" ("resp: bulk length -5 out of range"). After one, the
-- stream is out of step, and the module says what of the conn is usable.

local errors = require "lnet.errors"

local setmetatable = setmetatable

local _M = {}

local ProtocolError = errors.kind("ProtocolError", function(self)
    return self.proto .. ": " .. self.msg
end)

function _M.ProtocolError(proto, msg)
    return setmetatable({ proto = proto, msg = msg }, ProtocolError)
end

return _M
