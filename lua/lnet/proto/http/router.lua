-- lnet.proto.http.router (private): requests to handlers by method and
-- path, for the server.
--
--   router() -> rt;  rt:add(method, pattern, fn) (also rt:get, post, put,
--   patch, delete(pattern, fn));  rt:handler() -> a server handler
--
-- A pattern is a path whose segments are literal, `{name}` (one segment,
-- percent-decoded into params.name) or a last `*` (the rest, in
-- params["*"]). fn(req, res, params) is called as a server handler (it may
-- return status, body, headers). A path no route has is 404 (Go's text); a
-- path some route has for other methods is 405 with Allow; HEAD falls back
-- to GET. Routes are tried in the order added.

local memo = require "lnet.memo"

local setmetatable, type, error, ipairs = setmetatable, type, error, ipairs
local sub, find, gsub, char, upper = string.sub, string.find, string.gsub, string.char, string.upper
local concat = table.concat
local tonumber = tonumber

local _M = {}

-- unescape(s): %XX decoded (a bad escape is kept as it is).
function _M.unescape(s)
    return (gsub(s, "%%(%x%x)", function(h)
        return char(tonumber(h, 16))
    end))
end
local unescape = _M.unescape

-- A path's segments (empty ones dropped). Paths seen recently are kept
-- (at most CACHE of them, lnet.memo), so a router under load splits each
-- path once.
local CACHE = 1024

local function split(path)
    local segs, i = {}, 1
    while true do
        local j = find(path, "/", i, true)
        local seg = sub(path, i, (j or 0) - 1)
        if seg ~= "" then
            segs[#segs + 1] = seg
        end
        if j == nil then
            return segs
        end
        i = j + 1
    end
end

local segments = memo.new(CACHE, split)

local Router = {}
Router.__index = Router

function _M.router()
    return setmetatable({ routes = {} }, Router)
end

function Router:add(method, pattern, fn)
    if type(method) ~= "string" or type(pattern) ~= "string" or sub(pattern, 1, 1) ~= "/" then
        error("bad argument to 'add' (method and a pattern starting with / expected)", 2)
    elseif type(fn) ~= "function" then
        error("bad argument #3 to 'add' (function expected, got " .. type(fn) .. ")", 2)
    end
    local segs = split(pattern)
    for i, seg in ipairs(segs) do
        local name = seg:match("^{([%w_]+)}$")
        if name then
            segs[i] = { name = name }
        elseif seg == "*" and i ~= #segs then
            error("bad argument #2 to 'add' (* only as the last segment)", 2)
        end
    end
    self.routes[#self.routes + 1] = { method = upper(method), segs = segs, fn = fn }
    return self
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete" }) do
    Router[m] = function(self, pattern, fn)
        return self:add(upper(m), pattern, fn)
    end
end

-- The params of path's segments under route's, or nil.
local function match(route, segs)
    local pat = route.segs
    local params = {}
    for i, p in ipairs(pat) do
        if p == "*" then
            local rest = {}
            for j = i, #segs do
                rest[#rest + 1] = segs[j]
            end
            params["*"] = unescape(concat(rest, "/"))
            return params
        end
        local seg = segs[i]
        if seg == nil then
            return nil
        elseif type(p) == "table" then
            params[p.name] = unescape(seg)
        elseif p ~= seg then
            return nil
        end
    end
    if #segs ~= #pat then
        return nil
    end
    return params
end

function Router:handler()
    return function(req, res)
        local segs = segments(req.path)
        local allow
        for pass = 1, 2 do -- HEAD: GET's route if it has none of its own
            local method = (pass == 2 and req.method == "HEAD") and "GET" or req.method
            for _, route in ipairs(self.routes) do
                local params = match(route, segs)
                if params ~= nil then
                    if route.method == method then
                        return route.fn(req, res, params)
                    end
                    allow = allow or {}
                    allow[#allow + 1] = route.method
                end
            end
            if req.method ~= "HEAD" then
                break
            end
        end
        if allow then
            return 405, "405 method not allowed\n", { Allow = concat(allow, ", "), ["Content-Type"] = "text/plain" }
        end
        return 404, "404 page not found\n", { ["Content-Type"] = "text/plain; charset=utf-8" }
    end
end

return _M
