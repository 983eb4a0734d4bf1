-- lnet.sockopt (private): socket options by name and by number, and TCP
-- keepalive as Go configures it.
--
-- The options a script may name, with their levels and value kinds, are
-- core/sockopt.h's table (LNET_SOCKOPT_MAP); any other is reached by
-- number. Values are checked before anything is set: a wrong kind raises.

local ffi = require "ffi"
local core = require "lnet.core"
local sys = require "lnet.sys"
local errors = require "lnet.errors"

local C = sys.C
local ffi_new, ffi_string = ffi.new, ffi.string
local type, error, tostring, pairs = type, error, tostring, pairs
local ceil, huge = math.ceil, math.huge
local find = string.find
local SyscallError, from_errno = errors.SyscallError, errors.from_errno

local OPTIONS, LEVELS = core.sockopts, core.sockopt_levels

local _M = {}

local intp = ffi_new("int[1]")
local lenp = ffi_new("unsigned[1]")
-- The longest value read as bytes: more than any named option needs
-- (an interface name is 16 bytes, a congestion algorithm's 16).
local BYTES_MAX = 256
local bytes = ffi_new("char[?]", BYTES_MAX)

-- Raises "bad argument #n to 'fname' (msg)" at lvl, counted as error
-- counts it from the function that calls bad. Each checking function below
-- takes the lvl of the user's code counted from itself.
local function bad(n, fname, msg, lvl)
    error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), lvl + 1)
end

-- The option a (level, name) pair means: its level and number, and its
-- kind ("bool", "int", "string", "linger"; nil for one given by number).
-- Raises on an unknown name or a level the option does not live at.
local function resolve(level, name, fname, lvl)
    local lnum = level
    if type(level) == "string" then
        lnum = LEVELS[level]
        if lnum == nil then
            bad(1, fname, "unknown socket option level '" .. level .. "'", lvl)
        end
    elseif type(level) ~= "number" or level % 1 ~= 0 then
        bad(1, fname, "level name or number expected, got " .. errors.what(level), lvl)
    end
    if type(name) == "number" and name % 1 == 0 then
        return lnum, name, nil
    elseif type(name) ~= "string" then
        bad(2, fname, "option name or number expected, got " .. errors.what(name), lvl)
    end
    local opt = OPTIONS[name]
    if opt == nil then
        bad(2, fname, "unknown socket option '" .. name .. "'", lvl)
    end
    if opt.level ~= lnum then
        bad(1, fname, name .. " is an option of " .. opt.level_name .. ", not " .. tostring(level), lvl)
    end
    return lnum, opt.name, opt.kind
end

-- check(level, name, fname, lvl): raises as set and get would on a bad
-- level or name (for a call that fails before it gets that far).
function _M.check(level, name, fname, lvl)
    resolve(level, name, fname, lvl + 1)
end

local function whole(v, n, fname, lvl)
    if type(v) ~= "number" or v % 1 ~= 0 or v < -2 ^ 31 or v >= 2 ^ 31 then
        bad(n, fname, "integer expected, got " .. (type(v) == "number" and tostring(v) or errors.what(v)), lvl)
    end
    return v
end

-- set(fd, level, name, value, lvl): true, or nil and the SyscallError. A bool
-- option takes a boolean (or a number), an int one a whole number, a
-- string one a string, linger seconds (< 0: off); an option by number
-- takes a whole number or a boolean (an int) or a string (its bytes).
function _M.set(fd, level, name, value, lvl)
    local lnum, onum, kind = resolve(level, name, "setsockopt", lvl + 1)
    local rc
    if kind == "linger" then
        rc = C.lnet_sockopt_linger(fd, whole(value, 3, "setsockopt", lvl + 1))
    elseif kind == "string" or kind == nil and type(value) == "string" then
        if type(value) ~= "string" then
            bad(3, "setsockopt", "string expected, got " .. errors.what(value), lvl)
        end
        rc = C.lnet_sockopt_set(fd, lnum, onum, value, #value)
    else
        if type(value) == "boolean" and kind ~= "int" then
            value = value and 1 or 0
        elseif kind == "bool" and type(value) ~= "number" then
            bad(3, "setsockopt", "boolean expected, got " .. errors.what(value), lvl)
        end
        intp[0] = whole(value, 3, "setsockopt", lvl + 1)
        rc = C.lnet_sockopt_set(fd, lnum, onum, intp, 4)
    end
    if rc < 0 then
        return nil, SyscallError("setsockopt", from_errno(-rc))
    end
    return true
end

-- get(fd, level, name, size, lvl): the value as its kind has it (a bool
-- option true or false, linger seconds or -1, a string without its
-- padding); an option by number is an int, or up to size bytes as a
-- string when size is given. nil and the SyscallError on failure.
function _M.get(fd, level, name, size, lvl)
    local lnum, onum, kind = resolve(level, name, "getsockopt", lvl + 1)
    if size ~= nil and (type(size) ~= "number" or size % 1 ~= 0 or size < 1 or size > BYTES_MAX) then
        bad(3, "getsockopt", "size of 1 to " .. BYTES_MAX .. " expected, got " .. tostring(size), lvl)
    end
    local rc, value
    if kind == "linger" then
        rc = C.lnet_sockopt_get_linger(fd, intp)
        value = intp[0]
    elseif kind == "string" or kind == nil and size ~= nil then
        lenp[0] = size or BYTES_MAX
        rc = C.lnet_sockopt_get(fd, lnum, onum, bytes, lenp)
        value = ffi_string(bytes, lenp[0])
        if kind == "string" then
            value = value:sub(1, (find(value, "\0", 1, true) or #value + 1) - 1)
        end
    else
        lenp[0] = 4
        rc = C.lnet_sockopt_get(fd, lnum, onum, intp, lenp)
        value = intp[0]
        if kind == "bool" then
            value = value ~= 0
        end
    end
    if rc < 0 then
        return nil, SyscallError("getsockopt", from_errno(-rc))
    end
    return value
end

-- Keepalive ---------------------------------------------------------------

-- Go's defaults (net/tcpsock.go): probes after 15 s idle, every 15 s, 9 of
-- them before the conn is dropped.
local IDLE, INTERVAL, COUNT = 15, 15, 9

-- Go's keepalive for a conn no config speaks of.
_M.DEFAULT = { on = 1, idle = IDLE, interval = INTERVAL, count = COUNT }

-- The kernel's seconds for a duration, as Go's setKeepAliveIdle takes it:
-- 0 or nil is the default, a negative one leaves the option as it is
-- (-1), anything else is rounded up to whole seconds.
local function seconds(v, default, field, n, fname, lvl)
    if v == nil or v == 0 then
        return default
    end
    if type(v) ~= "number" or v ~= v or v == huge then
        bad(n, fname, "keepalive " .. field .. ": finite number expected, got " .. errors.what(v), lvl)
    end
    if v < 0 then
        return -1
    end
    return ceil(v)
end

local CONFIG_FIELDS = { enable = true, idle = true, interval = true, count = true }

-- config(t, n, fname, lvl): a keepalive_config table, {enable, idle, interval,
-- count} (Go's KeepAliveConfig: enable defaults to true here, since a
-- table given means keepalive wanted), as the values the core sets:
-- {on, idle, interval, count}. Raises on unknown fields and wrong types.
local function config(t, n, fname, lvl)
    if type(t) ~= "table" then
        bad(n, fname, "keepalive config table expected, got " .. type(t), lvl)
    end
    for k in pairs(t) do
        if not CONFIG_FIELDS[k] then
            bad(n, fname, "unknown keepalive config field '" .. tostring(k) .. "'", lvl)
        end
    end
    if t.enable ~= nil and type(t.enable) ~= "boolean" then
        bad(n, fname, "keepalive enable: boolean expected, got " .. type(t.enable), lvl)
    end
    local count = t.count
    if count ~= nil and (type(count) ~= "number" or count % 1 ~= 0 or count >= 2 ^ 31) then
        bad(n, fname, "keepalive count: integer expected, got " .. errors.what(count), lvl)
    end
    return {
        on = t.enable ~= false and 1 or 0,
        idle = seconds(t.idle, IDLE, "idle", n, fname, lvl + 1),
        interval = seconds(t.interval, INTERVAL, "interval", n, fname, lvl + 1),
        count = (count == nil or count == 0) and COUNT or count < 0 and -1 or count,
    }
end
_M.config = config

-- settings(keepalive, cfg, n, fname, lvl): what a dialer or a listen config
-- sets on its TCP conns, as Go's newTCPConn decides it: cfg when given and
-- enabled; else, unless keepalive is negative, keepalive on with keepalive
-- seconds (15 by default) idle and the other defaults; else nil (nothing).
function _M.settings(keepalive, cfg, n, fname, lvl)
    if keepalive ~= nil and (type(keepalive) ~= "number" or keepalive ~= keepalive) then
        bad(n, fname, "option 'keepalive': number expected, got " .. errors.what(keepalive), lvl)
    end
    if cfg ~= nil then
        cfg = config(cfg, n, fname, lvl + 1)
        if cfg.on == 1 then
            return cfg
        end
    end
    if keepalive ~= nil and keepalive < 0 then
        return nil
    end
    return { on = 1, idle = seconds(keepalive, IDLE, "idle", n, fname, lvl + 1), interval = INTERVAL, count = COUNT }
end

-- apply(fd, k): sets k (from config or settings) on fd; 0 or -errno.
function _M.apply(fd, k)
    return C.lnet_sockopt_keepalive(fd, k.on, k.idle, k.interval, k.count)
end

-- period(sec, fname, lvl): set_keepalive_period's settings: idle and
-- interval both sec (Go's SetKeepAlivePeriod before 1.23), the switch and
-- the count left alone.
function _M.period(sec, fname, lvl)
    local s = seconds(errors.number_arg(sec, 1, fname, lvl), IDLE, "period", 1, fname, lvl + 1)
    return { on = -1, idle = s, interval = s, count = -1 }
end

-- user_timeout_ms(sec, fname, lvl): TCP_USER_TIMEOUT in ms for sec
-- seconds, rounded up (0: the kernel's default, no timeout of its own).
function _M.user_timeout_ms(sec, fname, lvl)
    errors.number_arg(sec, 1, fname, lvl)
    if sec < 0 or sec * 1000 >= 2 ^ 31 then
        bad(1, fname, "seconds from 0 to 2147483 expected, got " .. tostring(sec), lvl)
    end
    return ceil(sec * 1000)
end

return _M
