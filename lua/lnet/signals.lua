-- lnet.signals (private): signal names and numbers of this platform, from
-- lnet.core, for lnet.signal and lnet.process.

local ffi = require "ffi"
local core = require "lnet.core"

local type, tostring = type, tostring

ffi.cdef [[
char *lnet_signals_strsignal(int sig) __asm__("strsignal");
]]

local _M = {}

local NSIG = core.const.NSIG
local SIGRTMIN, SIGRTMAX = core.signals.SIGRTMIN, core.signals.SIGRTMAX

local by_name = core.signals
local by_number = {}
for name, n in pairs(by_name) do
    if n < SIGRTMIN then
        by_number[n] = name
    end
end

-- A real-time signal by the names name() gives and glibc's ("SIGRTMIN+2",
-- "SIGRTMAX-1", without SIG too), or nil.
local function realtime(sig)
    local base, sign, off = (sig:match("^SIG(.*)$") or sig):match("^(RTM[AI][XN])([+-]?)(%d*)$")
    if base == nil or (sign == "") ~= (off == "") then
        return nil
    end
    local n = base == "RTMIN" and SIGRTMIN or SIGRTMAX
    off = tonumber(off) or 0
    if sign == "+" then
        n = n + off
    elseif sign == "-" then
        n = n - off
    end
    return n >= SIGRTMIN and n <= SIGRTMAX and n or nil
end

-- number(sig): the number of a name ("SIGTERM", or "TERM"; "SIGRTMIN+2" for
-- a real-time one) or of a signal number (1 .. NSIG-1, the real-time ones
-- too); nil for anything else.
function _M.number(sig)
    if type(sig) == "number" then
        return sig >= 1 and sig < NSIG and sig % 1 == 0 and sig or nil
    end
    if type(sig) ~= "string" then
        return nil
    end
    return by_name[sig] or by_name["SIG" .. sig] or realtime(sig)
end

-- name(n): "SIGTERM" for 15; "SIGRTMIN+2" for a real-time signal.
function _M.name(n)
    if n >= SIGRTMIN and n <= SIGRTMAX then
        return n == SIGRTMIN and "SIGRTMIN" or "SIGRTMIN+" .. (n - SIGRTMIN)
    end
    return by_number[n] or "signal " .. tostring(n)
end

-- describe(n): what Go's Signal.String() says: "terminated" for 15, "user
-- defined signal 1", "signal 40" for a real-time one (strsignal's text with
-- its first letter lowered unless it begins an acronym: "CPU", "I/O").
function _M.describe(n)
    if n >= SIGRTMIN or by_number[n] == nil then
        return "signal " .. tostring(n)
    end
    local s = ffi.string(ffi.C.lnet_signals_strsignal(n))
    if s:match("^%u%l") then
        s = s:sub(1, 1):lower() .. s:sub(2)
    end
    return s
end

return _M
