-- lnet.chaos.api: Toxiproxy's HTTP JSON API over chaos proxies, so
-- Toxiproxy's client libraries and CLI drive lnet unchanged.
--
-- The routes, bodies, status codes and error bodies are those of
-- Toxiproxy's api.go: proxies and toxics marshalled with its field names
-- and order, errors as {"error": ..., "status": ...} sent the way its
-- apiError sends them (http.Error: text/plain, a newline after), JSON keys
-- matched without regard to letter case (Go's decoder does that). Where
-- lnet departs, it is stricter: an unknown attribute, a negative number, a
-- toxicity outside [0, 1] are 400s here (Toxiproxy takes them). lnet's own
-- toxics are more `type`s; their attributes use the names scripts use; a
-- toxic may also carry "scope" and "nth", and a stream may be "both".

local json = require "lnet.json"
local sched = require "lnet.sched"
local listener = require "lnet.listener"
local core = require "lnet.core"
local context = require "lnet.context"
local proxy = require "lnet.chaos.proxy"
local toxics = require "lnet.chaos.toxics"
local cerr = require "lnet.chaos.errors"
local http = require "lnet.proto.http"

local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local lower, format, gmatch, sub = string.lower, string.format, string.gmatch, string.sub
local concat, sort = table.concat, table.sort

local _M = {}

local JSON_HEADERS = { ["Content-Type"] = "application/json" }
local ERROR_HEADERS = { ["Content-Type"] = "text/plain; charset=utf-8", ["X-Content-Type-Options"] = "nosniff" }

-- Toxiproxy's fixed texts for its ApiErrors, by ChaosError code.
local API_ERRORS = {
    invalid_type = { 400, "invalid toxic type" },
    invalid_stream = { 400, "stream was invalid, can be either upstream or downstream" },
    toxic_exists = { 409, "toxic already exists" },
    toxic_not_found = { 404, "toxic not found" },
    proxy_exists = { 409, "proxy already exists" },
    proxy_not_found = { 404, "proxy not found" },
}

local function error_response(status, msg)
    local body = json.encode(json.object({ error = msg, status = status }, { "error", "status" }), { html = true })
    return status, ERROR_HEADERS, body .. "\n"
end

-- The status and text of an error: a ChaosError's code says which of
-- Toxiproxy's; any other error (a listen error) is a 500 with its text.
local function status_of(err)
    local ce = cerr.is(err) and err or nil
    if ce ~= nil then
        local fixed = API_ERRORS[ce.code]
        if fixed ~= nil then
            return fixed[1], fixed[2]
        elseif ce.code == "missing_field" then
            return 400, "missing required field: " .. ce.msg
        end
        return 400, "bad request body: " .. ce.msg
    end
    return 500, tostring(err)
end

local function api_error(err)
    return error_response(status_of(err))
end

local function ok_json(status, v)
    return status, JSON_HEADERS, json.encode(v, { html = true })
end

-- field(obj, key): obj's key, matched as Go's decoder matches (exactly,
-- else without regard to case); json.null counts as absent.
local function field(obj, key)
    local v = obj[key]
    if v == nil then
        for k, x in pairs(obj) do
            if type(k) == "string" and lower(k) == key then
                v = x
                break
            end
        end
    end
    if v == json.null then
        return nil
    end
    return v
end

-- Reads body as a JSON object; checks the types of the fields named in
-- want ({key = "string" | "boolean" | "number" | "object"}); returns the
-- fields, or nil and a ChaosError.
local function decode_object(body, want, what)
    local v, err = json.decode(body)
    if v == nil then
        return nil, cerr.new("bad_value", (tostring(err):gsub("^json: ", "")))
    end
    if not json.is_object(v) then
        return nil, cerr.new("bad_value", what .. ": a JSON object expected")
    end
    local out = {}
    for key, t in pairs(want) do
        local x = field(v, key)
        if x ~= nil then
            local ok = (t == "object" and json.is_object(x)) or (t ~= "object" and type(x) == t)
            if not ok then
                return nil, cerr.new("bad_value", format("%s: %s must be a %s, got %s", what, key,
                    t == "object" and "JSON object" or t, json.encode(x) or type(x)))
            end
            out[key] = x
        end
    end
    return out
end

---------------------------------------------------------------------------
-- JSON shapes

local TOXIC_KEYS = { "attributes", "name", "type", "stream", "toxicity", "scope", "nth" }

local function toxic_json(x)
    return json.object({
        attributes = toxics.api_attributes(x, json), name = x.name, type = x.type,
        stream = toxics.API_STREAM[x.stream], toxicity = x.toxicity,
        scope = x.scope ~= "conn" and x.scope or nil, nth = x.nth,
    }, TOXIC_KEYS)
end

-- A proxy's toxics as Toxiproxy lists them: the upstream chain, then the
-- downstream one (then lnet's "both" ones).
local STREAM_ORDER = { up = 1, down = 2, both = 3 }
local function toxics_json(p)
    local list = {}
    for i, x in ipairs(p.list) do
        list[i] = { x = x, i = i }
    end
    sort(list, function(a, b)
        local sa, sb = STREAM_ORDER[a.x.stream], STREAM_ORDER[b.x.stream]
        return sa < sb or (sa == sb and a.i < b.i)
    end)
    local out = json.array()
    for i, e in ipairs(list) do
        out[i] = toxic_json(e.x)
    end
    return out
end

local PROXY_KEYS = { "name", "listen", "upstream", "enabled", "toxics" }

local function proxy_json(p)
    return json.object({ name = p.name, listen = p.listen, upstream = p.upstream, enabled = p.enabled,
                         toxics = toxics_json(p) }, PROXY_KEYS)
end

---------------------------------------------------------------------------
-- the collection

local PROXY_FIELDS = { name = "string", listen = "string", upstream = "string", enabled = "boolean" }

local Api = {}
Api.__index = Api

-- new{seed, on_event, log, version}: an API over no proxies yet. seed,
-- on_event and log (a file for the event lines) are given to every proxy
-- it makes.
function _M.new(opts)
    opts = opts or {}
    return setmetatable({ proxies = {}, opts = opts, version = opts.version or core.version }, Api)
end

function Api:get(name)
    local p = self.proxies[name]
    if p == nil then
        return nil, cerr.new("proxy_not_found", "no proxy " .. tostring(name))
    end
    return p
end

function Api:make(name, listen, upstream, enabled)
    local o = self.opts
    return proxy.proxy { name = name, listen = listen, upstream = upstream, enabled = enabled, seed = o.seed,
                         on_event = o.on_event, log = o.log }
end

-- create{name, listen, upstream, enabled}: a new proxy (enabled unless
-- enabled = false), or nil and the error (proxy_exists, the listen error).
function Api:create(input)
    if self.proxies[input.name] ~= nil then
        return nil, cerr.new("proxy_exists", "proxy " .. input.name .. " already exists")
    end
    local p, err = self:make(input.name, input.listen or "", input.upstream, input.enabled ~= false)
    if p == nil then
        return nil, err
    end
    self.proxies[input.name] = p
    return p
end

-- Whether the proxy would have to move for input (Toxiproxy's Differs).
local function differs(p, input)
    return (input.listen ~= nil and input.listen ~= p.listen) or (input.upstream ~= nil and input.upstream ~= p.upstream)
end

-- populate(list): creates the proxies, replacing any of the same name that
-- differs; the proxies, and the first error (then those made before it).
function Api:populate(list)
    for i, input in ipairs(list) do
        if input.name == nil or input.name == "" then
            return nil, cerr.new("missing_field", "name at proxy " .. i)
        elseif input.upstream == nil or input.upstream == "" then
            return nil, cerr.new("missing_field", "upstream at proxy " .. i)
        end
    end
    local out = {}
    for _, input in ipairs(list) do
        local existing = self.proxies[input.name]
        local p = existing
        if existing == nil or differs(existing, input) then
            if existing ~= nil then
                existing:close()
                self.proxies[input.name] = nil
            end
            local err
            p, err = self:create(input)
            if p == nil then
                return out, err
            end
        end
        out[#out + 1] = p
    end
    return out
end

-- Reads a JSON array of proxies (the config file's and /populate's body).
local function decode_list(body)
    local v, err = json.decode(body)
    if v == nil then
        return nil, cerr.new("bad_value", (tostring(err):gsub("^json: ", "")))
    end
    if not json.is_array(v) then
        return nil, cerr.new("bad_value", "a JSON array of proxies expected")
    end
    local list = {}
    for i, item in ipairs(v) do
        if not json.is_object(item) then
            return nil, cerr.new("bad_value", "proxy " .. i .. ": a JSON object expected")
        end
        local fields, ferr = decode_object(json.encode(item), PROXY_FIELDS, "proxy " .. i)
        if fields == nil then
            return nil, ferr
        end
        list[i] = fields
    end
    return list
end

-- load(path): populates from a Toxiproxy config file; the proxies, or nil
-- and the error.
function Api:load(path)
    local f, err = io.open(path, "r")
    if f == nil then
        return nil, err
    end
    local body = f:read("*a")
    f:close()
    local list
    list, err = decode_list(body)
    if list == nil then
        return nil, err
    end
    local made
    made, err = self:populate(list)
    if err ~= nil then
        return nil, err
    end
    return made
end

local function names(t)
    local list = {}
    for k in pairs(t) do
        list[#list + 1] = k
    end
    sort(list)
    return list
end

function Api:each()
    local list, i = names(self.proxies), 0
    return function()
        i = i + 1
        local name = list[i]
        return name, name and self.proxies[name]
    end
end

---------------------------------------------------------------------------
-- handlers

local H = {}

function H.reset(self)
    for _, p in self:each() do
        local ok, err = p:reset()
        if not ok then
            return api_error(err)
        end
    end
    return 204, {}, ""
end

function H.proxy_index(self)
    local all = json.object()
    for name, p in self:each() do
        all[name] = proxy_json(p)
    end
    return ok_json(200, all)
end

function H.proxy_create(self, req)
    local input, err = decode_object(req.body, PROXY_FIELDS, "proxy")
    if input == nil then
        return api_error(err)
    end
    if input.name == nil or input.name == "" then
        return api_error(cerr.new("missing_field", "name"))
    elseif input.upstream == nil or input.upstream == "" then
        return api_error(cerr.new("missing_field", "upstream"))
    end
    local p
    p, err = self:create(input)
    if p == nil then
        return api_error(err)
    end
    return ok_json(201, proxy_json(p))
end

function H.populate(self, req)
    local list, err = decode_list(req.body)
    local made = nil
    if list ~= nil then
        made, err = self:populate(list)
    end
    local body = json.object({}, { "error", "status", "proxies" })
    local status = 201
    if err ~= nil then
        status, body.error = status_of(err)
        body.status = status
    end
    if made ~= nil and #made > 0 then
        body.proxies = json.array()
        for i, p in ipairs(made) do
            body.proxies[i] = proxy_json(p)
        end
    else
        body.proxies = json.null
    end
    return ok_json(status, body)
end

function H.proxy_show(_, _, p)
    return ok_json(200, proxy_json(p))
end

function H.proxy_update(_, req, p)
    local input, err = decode_object(req.body, PROXY_FIELDS, "proxy")
    if input == nil then
        return api_error(err)
    end
    local ok
    ok, err = p:configure(input)
    if ok and input.enabled ~= nil and input.enabled ~= p.enabled then
        if input.enabled then
            ok, err = p:enable()
        else
            ok, err = p:disable()
        end
    end
    if not ok then
        return api_error(err)
    end
    return ok_json(200, proxy_json(p))
end

function H.proxy_delete(self, _, p)
    p:close()
    self.proxies[p.name] = nil
    return 204, {}, ""
end

function H.toxic_index(_, _, p)
    return ok_json(200, toxics_json(p))
end

local TOXIC_FIELDS = { name = "string", type = "string", stream = "string", toxicity = "number",
                       attributes = "object", scope = "string", nth = "number" }

function H.toxic_create(_, req, p)
    local input, err = decode_object(req.body, TOXIC_FIELDS, "toxic")
    if input == nil then
        return api_error(err)
    end
    local x
    x, err = toxics.from_api(input)
    if x == nil then
        return api_error(err)
    end
    x, err = p:add_toxic(x)
    if x == nil then
        return api_error(err)
    end
    return ok_json(200, toxic_json(x))
end

function H.toxic_show(_, _, p, name)
    local x = p.by_name[name]
    if x == nil then
        return api_error(cerr.new("toxic_not_found", name))
    end
    return ok_json(200, toxic_json(x))
end

function H.toxic_update(_, req, p, name)
    local input, err = decode_object(req.body, { toxicity = "number", attributes = "object" }, "toxic")
    if input == nil then
        return api_error(err)
    end
    local x
    x, err = p:update_toxic(name, input, true)
    if x == nil then
        return api_error(err)
    end
    return ok_json(200, toxic_json(x))
end

function H.toxic_delete(_, _, p, name)
    local ok, err = p:remove(name)
    if not ok then
        return api_error(err)
    end
    return 204, {}, ""
end

function H.version(self)
    return 200, { ["Content-Type"] = "application/json;charset=utf-8" },
        format('{"version": "%s"}\n', self.version)
end

-- Prometheus text: conns, and faults per toxic, per proxy.
function H.metrics(self)
    local lines = {
        "# HELP chaos_proxy_connections Conns open through the proxy.",
        "# TYPE chaos_proxy_connections gauge",
    }
    for name, p in self:each() do
        lines[#lines + 1] = format('chaos_proxy_connections{proxy="%s"} %d', name, p.nsessions)
    end
    lines[#lines + 1] = "# HELP chaos_proxy_connections_total Conns accepted by the proxy."
    lines[#lines + 1] = "# TYPE chaos_proxy_connections_total counter"
    for name, p in self:each() do
        lines[#lines + 1] = format('chaos_proxy_connections_total{proxy="%s"} %d', name, p.next_id)
    end
    lines[#lines + 1] = "# HELP chaos_toxic_events_total Faults applied, per toxic."
    lines[#lines + 1] = "# TYPE chaos_toxic_events_total counter"
    for name, p in self:each() do
        for _, s in ipairs(p:stats()) do
            lines[#lines + 1] = format('chaos_toxic_events_total{proxy="%s",toxic="%s",type="%s"} %d', name, s.toxic,
                s.type, s.events)
        end
    end
    return 200, { ["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8" }, concat(lines, "\n") .. "\n"
end

-- The routes: {pattern segments, {method = handler}}; "{p}" is a proxy
-- (404 when unknown), "{t}" a toxic's name.
local ROUTES = {
    { { "reset" }, { POST = H.reset } },
    { { "proxies" }, { GET = H.proxy_index, POST = H.proxy_create } },
    { { "populate" }, { POST = H.populate } },
    { { "proxies", "{p}" }, { GET = H.proxy_show, POST = H.proxy_update, PATCH = H.proxy_update,
                             DELETE = H.proxy_delete } },
    { { "proxies", "{p}", "toxics" }, { GET = H.toxic_index, POST = H.toxic_create } },
    { { "proxies", "{p}", "toxics", "{t}" }, { GET = H.toxic_show, POST = H.toxic_update, PATCH = H.toxic_update,
                                              DELETE = H.toxic_delete } },
    { { "version" }, { GET = H.version } },
    { { "metrics" }, { GET = H.metrics } },
}

local function segments(path)
    local list = {}
    for seg in gmatch(path, "[^/]+") do
        list[#list + 1] = http.unescape(seg)
    end
    return list
end

local function match_route(segs)
    for _, route in ipairs(ROUTES) do
        local pat = route[1]
        if #pat == #segs then
            local vars, ok = {}, true
            for i, s in ipairs(pat) do
                if sub(s, 1, 1) == "{" then
                    vars[s] = segs[i]
                elseif s ~= segs[i] then
                    ok = false
                    break
                end
            end
            if ok then
                return route[2], vars
            end
        end
    end
end

-- handle(req): status, headers, body for an HTTP request {method, path,
-- headers, body}.
function Api:handle(req)
    local ua = req.headers and req.headers["user-agent"] or ""
    if sub(ua, 1, 8) == "Mozilla/" then
        return 403, ERROR_HEADERS, "User agent not allowed\n"
    end
    local methods, vars = match_route(segments(req.path))
    if methods == nil then
        return 404, ERROR_HEADERS, "404 page not found\n"
    end
    local h = methods[req.method]
    if h == nil then
        return 405, {}, ""
    end
    local p = nil
    if vars["{p}"] ~= nil then
        local err
        p, err = self:get(vars["{p}"])
        if p == nil then
            return api_error(err)
        end
    end
    return h(self, req, p, vars["{t}"])
end

-- The API's limits on a request (lnet.proto.http's): a body of 1 MiB at
-- most, a conn idle 60 s at most (Toxiproxy's server allows 60 s too).
local HTTP_OPTS = { max_body = 1024 * 1024, idle_timeout = 60 }

-- listen(address): serves the API at address with lnet.proto.http (a task
-- of the API's own); the listener, or nil and the listen error.
function Api:listen(address)
    local ln, err = listener.listen("tcp", address)
    if ln == nil then
        return nil, err
    end
    self.ln = ln
    local ctx
    ctx, self.stop = context.with_cancel(context.background())
    local srv = http.server(function(req)
        local body, berr = req:read_body()
        local status, headers, text
        if body == nil then
            status, headers, text = error_response(400, "bad request body: " .. tostring(berr))
        else
            status, headers, text = self:handle { method = req.method, path = req.path, headers = req.headers,
                                                  body = body }
        end
        return status, text, headers
    end, HTTP_OPTS)
    self.task = sched.go(srv.serve, srv, ln, ctx, 0)
    return ln
end

-- close(): stops serving and closes every proxy.
function Api:close()
    if self.ln ~= nil then
        self.stop()
        self.task:join()
        self.ln = nil
    end
    for _, p in self:each() do
        p:close()
    end
    self.proxies = {}
end

-- summary(): every proxy's per-toxic summary, with the proxy's name.
function Api:summary()
    local rows = {}
    for name, p in self:each() do
        for _, s in ipairs(p:stats()) do
            s.proxy = name
            rows[#rows + 1] = s
        end
    end
    return rows
end

return _M
