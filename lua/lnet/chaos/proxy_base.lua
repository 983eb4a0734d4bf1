-- lnet.chaos.proxy_base (private): what the TCP proxy (proxy.lua) and the
-- UDP relay (udp.lua) share: their tasks, their event log, and their toxics
-- kept in the order they were added (self.list) and by name
-- (self.by_name). What a change of the toxics means differs (chains and
-- listener faults there, held datagrams here), so each proxy makes its own
-- add, update and remove from these pieces.

local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local cerr = require "lnet.chaos.errors"

local type, pairs, ipairs, error, tostring = type, pairs, ipairs, error, tostring
local remove = table.remove

local _M = {}

-- The directions a toxic's stream acts on.
_M.DIRS = { up = { "up" }, down = { "down" }, both = { "up", "down" } }

-- A toxic as scripts see it: the spec that would make it again (a UDP
-- toxic has no toxicity, scope, nth or framer: those stay nil).
local function describe(x)
    local d = { name = x.name, type = x.type, stream = x.stream, toxicity = x.toxicity, scope = x.scope, nth = x.nth,
                framer = x.framer and x.framer.spec }
    for k, v in pairs(x.a) do
        d[k] = v
    end
    return d
end
_M.describe = describe

-- find(self, name): the toxic of that name, or nil and a ChaosError.
function _M.find(self, name)
    local x = self.by_name[name]
    if x == nil then
        return nil, cerr.new("toxic_not_found", "no toxic " .. tostring(name))
    end
    return x
end

-- append(self, x): x, last in the list; or nil and a ChaosError when its
-- name is taken.
function _M.append(self, x)
    if self.by_name[x.name] ~= nil then
        return nil, cerr.new("toxic_exists", "toxic " .. x.name .. " already exists")
    end
    self.list[#self.list + 1] = x
    self.by_name[x.name] = x
    return x
end

-- unlink(self, x): x out of the list and the names.
function _M.unlink(self, x)
    for i, y in ipairs(self.list) do
        if y == x then
            remove(self.list, i)
            break
        end
    end
    self.by_name[x.name] = nil
end

-- address(v, opt, fname): the constructor option `opt` (an address object
-- or a string) as a string; raises on anything else, at the constructor's
-- caller.
function _M.address(v, opt, fname)
    if addr.is_addr(v) then
        return tostring(v)
    elseif type(v) ~= "string" then
        error(("bad argument #1 to '%s' (%s: address expected, got %s)"):format(fname, opt, type(v)), 3)
    end
    return v
end

-- methods(Class, what): gives Class the methods both proxies have alike:
-- spawn and leave (sched's group: the proxy's tasks), events, stats and
-- toxics. `what` names a wrong self in the error.
function _M.methods(Class, what)
    local function check(self, fname)
        errors.check_self(self, Class, what, fname)
    end

    function Class:spawn(fn, ...)
        local t = sched.go_in(self, fn, ...)
        self.tasks[t] = true
        return t
    end

    function Class:leave(t)
        self.tasks[t] = nil
    end

    function Class:events()
        check(self, "events")
        return self.log:events()
    end

    function Class:stats()
        check(self, "stats")
        return self.log:summary()
    end

    function Class:toxics()
        check(self, "toxics")
        local out = {}
        for i, x in ipairs(self.list) do
            out[i] = describe(x)
        end
        return out
    end
end

return _M
