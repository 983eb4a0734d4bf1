-- lnet.chaos.events (private): the evidence of what a proxy did. Every
-- conn opened and closed and every fault applied is an event {t, proxy,
-- conn, dir, toxic, type, what, bytes, ms, ...}: t in seconds since the
-- proxy started, conn its number for the proxy (1, 2, ...), dir "up" or
-- "down" (nil for the conn's own events), toxic and type the toxic's name
-- and type, what the fault ("delay", "drop", "reset", ...), bytes how many
-- it touched, ms the delay it added. The log keeps the latest `max` in
-- memory (events()), appends each as a JSON line to a file when asked, and
-- hands each to on_event (how scripts print them). Per toxic it also sums
-- what the report shows: conns touched, bytes delayed and dropped, and the
-- delays added.

local json = require "lnet.json"
local sys = require "lnet.sys"

local C = sys.C
local ipairs, tostring, setmetatable = ipairs, tostring, setmetatable
local floor, min, max = math.floor, math.min, math.max
local format, rep = string.format, string.rep
local move, sort, concat = table.move, table.sort, table.concat
local open = io.open

local _M = {}

local DEFAULT_MAX = 10000
local SAMPLES_MAX = 100000 -- delays kept per toxic for the percentiles

local Log = {}
Log.__index = Log

local ORDER = { "t", "proxy", "conn", "dir", "toxic", "type", "what", "bytes", "ms" }

-- new{name, max, file, on_event}: a log; nil and the error if file cannot
-- be opened for appending.
function _M.new(opts)
    local self = setmetatable({ name = opts.name, max = opts.max or DEFAULT_MAX, list = {}, start = C.lnet_now(),
                                on_event = opts.on_event, stats = {}, order = {} }, Log)
    if opts.file ~= nil then
        local f, err = open(opts.file, "a")
        if f == nil then
            return nil, err
        end
        f:setvbuf("line")
        self.file = f
    end
    return self
end

local DELAYS = { delay = true, slow_close = true, custom = true }
local DROPS = { drop = true }

function Log:stat(name, type_)
    local s = self.stats[name]
    if s == nil then
        s = { toxic = name, type = type_, conns = {}, nconns = 0, events = 0, bytes_delayed = 0, bytes_dropped = 0,
              delays = {} }
        self.stats[name] = s
        self.order[#self.order + 1] = name
    end
    return s
end

-- What a proxy says of its toxics themselves, not faults: not counted.
local CHANGES = { added = true, updated = true, removed = true }

local function count(self, e)
    local s = self:stat(e.toxic, e.type)
    if CHANGES[e.what] then
        return
    end
    s.events = s.events + 1
    if e.conn ~= nil and not s.conns[e.conn] then
        s.conns[e.conn] = true
        s.nconns = s.nconns + 1
    end
    if DELAYS[e.what] and e.ms ~= nil and e.ms > 0 then
        s.bytes_delayed = s.bytes_delayed + (e.bytes or 0)
        if #s.delays < SAMPLES_MAX then
            s.delays[#s.delays + 1] = e.ms
        end
    elseif DROPS[e.what] then
        s.bytes_dropped = s.bytes_dropped + (e.bytes or 0)
    end
end

-- add(e): records e (t and proxy are filled in).
function Log:add(e)
    e.t = C.lnet_now() - self.start
    e.proxy = self.name
    if e.toxic ~= nil then
        count(self, e)
    end
    local list, n = self.list, #self.list
    if n >= 2 * self.max then
        -- keep the latest max: each event costs O(1) over time
        move(list, n - self.max + 1, n, 1)
        for i = n, self.max + 1, -1 do
            list[i] = nil
        end
        n = self.max
    end
    list[n + 1] = e
    if self.file ~= nil then
        local line = json.encode(json.object(e, ORDER))
        if line ~= nil then
            self.file:write(line, "\n")
        end
    end
    if self.on_event ~= nil then
        self.on_event(e)
    end
end

-- events(): the latest events, oldest first (a copy).
function Log:events()
    local n = #self.list
    local from = max(1, n - self.max + 1)
    return move(self.list, from, n, 1, {})
end

function Log:close()
    if self.file ~= nil then
        self.file:close()
        self.file = nil
    end
end

local function percentile(sorted, p)
    if #sorted == 0 then
        return nil
    end
    return sorted[min(#sorted, max(1, floor(p * #sorted + 0.5)))]
end

-- summary(): per toxic, in the order first seen: {toxic, type, conns,
-- events, bytes_delayed, bytes_dropped, p50, p99} (delays in ms).
function Log:summary()
    local out = {}
    for _, name in ipairs(self.order) do
        local s = self.stats[name]
        local d = move(s.delays, 1, #s.delays, 1, {})
        sort(d)
        out[#out + 1] = { toxic = s.toxic, type = s.type, conns = s.nconns, events = s.events,
                          bytes_delayed = s.bytes_delayed, bytes_dropped = s.bytes_dropped,
                          p50 = percentile(d, 0.5), p99 = percentile(d, 0.99) }
    end
    return out
end

local function cell(v, ms)
    if v == nil then
        return "-"
    elseif ms then
        return format("%.1f", v)
    end
    return tostring(v)
end

-- report(rows): the summary as a table for people.
function _M.report(rows)
    local head = { "proxy", "toxic", "type", "conns", "events", "bytes delayed", "bytes dropped", "p50 ms", "p99 ms" }
    local lines = { head }
    for _, r in ipairs(rows) do
        lines[#lines + 1] = { cell(r.proxy), cell(r.toxic), cell(r.type), cell(r.conns), cell(r.events),
                              cell(r.bytes_delayed), cell(r.bytes_dropped), cell(r.p50, true), cell(r.p99, true) }
    end
    local widths = {}
    for _, l in ipairs(lines) do
        for i, c in ipairs(l) do
            widths[i] = max(widths[i] or 0, #c)
        end
    end
    local out = {}
    for _, l in ipairs(lines) do
        local cells = {}
        for i, c in ipairs(l) do
            cells[i] = i <= 3 and c .. rep(" ", widths[i] - #c) or rep(" ", widths[i] - #c) .. c
        end
        out[#out + 1] = concat(cells, "  ")
    end
    return concat(out, "\n") .. "\n"
end

-- A one-line text of an event, for -v.
function _M.line(e)
    local parts = { format("%8.3f", e.t), e.proxy or "-", "conn " .. tostring(e.conn or "-") }
    if e.dir ~= nil then
        parts[#parts + 1] = e.dir
    end
    if e.toxic ~= nil then
        parts[#parts + 1] = e.toxic .. " (" .. e.type .. ")"
    end
    parts[#parts + 1] = e.what
    if e.bytes ~= nil then
        parts[#parts + 1] = e.bytes .. " bytes"
    end
    if e.ms ~= nil then
        parts[#parts + 1] = format("%.1f ms", e.ms)
    end
    if e.error ~= nil then
        parts[#parts + 1] = tostring(e.error)
    end
    return concat(parts, " ")
end

return _M
