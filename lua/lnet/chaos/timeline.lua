-- lnet.chaos.timeline (private): chaos.timeline{steps}, faults on a
-- schedule. Each step is {at = seconds from the start, ...} and one of:
--   a function (the step's [1]), called with the timeline;
--   proxy = p (a chaos proxy or udp proxy) with add = spec, update = {name,
--     changes}, remove = name, enable = true, disable = true or reset = true;
--   dns = d (chaos.dns) with fault = spec or clear = id (true: all).
-- The steps run in order of `at` (steps at the same time in the order
-- given) in a task of the timeline's own, which starts at once. A step
-- that fails (returns nil, err, or raises) is recorded and the rest still
-- run.

local sched = require "lnet.sched"
local sys = require "lnet.sys"
local errors = require "lnet.errors"

local C = sys.C
local type, ipairs, pairs, error, pcall, tostring, setmetatable, select =
    type, ipairs, pairs, error, pcall, tostring, setmetatable, select
local sort = table.sort

local _M = {}

local METHODS = { add = true, update = true, remove = true, enable = true, disable = true, reset = true,
                  fault = true, clear = true }

local Timeline = {}
Timeline.__index = Timeline

-- The call a step makes: fn(), with what it returned.
local function step_call(step)
    if type(step[1]) == "function" then
        return step[1]
    end
    local target = step.proxy or step.dns
    local method = step.method
    local arg = step[method]
    if method == "update" then
        return function()
            return target[method](target, arg[1], arg[2])
        end
    elseif arg == true and method ~= "clear" then
        return function()
            return target[method](target)
        end
    elseif arg == true then
        return function()
            return target[method](target, nil)
        end
    end
    return function()
        return target[method](target, arg)
    end
end

local function outcome(ok, ...)
    if not ok then
        return false, (...)
    end
    if select("#", ...) >= 2 and (...) == nil then
        return false, select(2, ...)
    end
    return true
end

local function run(self)
    for i, step in ipairs(self.steps) do
        local at = self.start + step.at
        if at > C.lnet_now() and sched.sleep(at - C.lnet_now()) == nil then
            return -- cancelled
        end
        local ok, err = outcome(pcall(step.call, self))
        self.record[#self.record + 1] = { step = step.index, at = step.at, t = C.lnet_now() - self.start, ok = ok,
                                          err = err }
        if not ok and self.err == nil then
            self.err = { index = step.index, err = err }
        end
        self.done_steps = i
    end
end

-- timeline(steps): the running timeline; a malformed step raises.
function _M.timeline(steps)
    if type(steps) ~= "table" then
        error("bad argument #1 to 'timeline' (table expected, got " .. type(steps) .. ")", 2)
    end
    local list = {}
    for i, step in ipairs(steps) do
        local function bad(msg)
            error("bad argument #1 to 'timeline' (step " .. i .. ": " .. msg .. ")", 3)
        end
        if type(step) ~= "table" then
            bad("table expected, got " .. type(step))
        end
        if type(step.at) ~= "number" or step.at < 0 or step.at ~= step.at then
            bad("at: non-negative number expected, got " .. tostring(step.at))
        end
        local s = { at = step.at, index = i }
        if type(step[1]) == "function" then
            s[1] = step[1]
        else
            if type(step.proxy) ~= "table" and type(step.dns) ~= "table" then
                bad("a function, proxy or dns expected")
            end
            for k, v in pairs(step) do
                if METHODS[k] then
                    if s.method ~= nil then
                        bad("one action expected, got " .. s.method .. " and " .. k)
                    end
                    s.method, s[k] = k, v
                end
            end
            if s.method == nil then
                bad("an action expected (add, update, remove, enable, disable, reset, fault, clear)")
            end
            if s.method == "update" and (type(s.update) ~= "table" or type(s.update[2]) ~= "table") then
                bad("update: {name, changes} expected")
            end
            s.proxy, s.dns = step.proxy, step.dns
        end
        s.call = step_call(s)
        list[#list + 1] = s
    end
    sort(list, function(a, b)
        return a.at < b.at or (a.at == b.at and a.index < b.index)
    end)
    local self = setmetatable({ steps = list, record = {}, start = C.lnet_now(), done_steps = 0 }, Timeline)
    self.task = sched.go(run, self)
    return self
end

-- wait([ctx]): true once every step ran and none failed; else nil, the
-- first failure's error and its step's index (in the list given).
function Timeline:wait(ctx)
    errors.check_self(self, Timeline, "timeline", "wait")
    local ok, err = self.task:join(ctx)
    if ok == nil and err ~= nil then
        return nil, err
    end
    if self.err ~= nil then
        return nil, self.err.err, self.err.index
    end
    if self.done_steps < #self.steps then
        return nil, errors.Canceled
    end
    return true
end

-- cancel(): the steps not run yet never run.
function Timeline:cancel()
    errors.check_self(self, Timeline, "timeline", "cancel")
    self.task:cancel()
end

-- log(): what ran: {step, at, t, ok, err} in order.
function Timeline:log()
    errors.check_self(self, Timeline, "timeline", "log")
    local out = {}
    for i, r in ipairs(self.record) do
        out[i] = r
    end
    return out
end

return _M
