-- lnet.dns.server: a DNS server on UDP and TCP (one port number for both)
-- whose every answer a script decides: dns.server{listen, handler | zone,
-- tcp}. See README.md for the actions a handler can return.
--
-- Every query in hand has a task of its own (over UDP a worker, reused for
-- the next query), so a handler may block (a delay, a channel a spec
-- drives) while the others are served. The server owns those tasks:
-- close() cancels and joins every one, and the sockets and conns are
-- closed by the tasks that use them, so nothing outlives it.
--
-- Special problem of a flood: a task per query would let a client that
-- sends faster than delayed answers go out grow the task count without
-- bound. At most MAX_LIVE queries are in hand at once (a UDP worker holds
-- a slot while it lives); past that the readers wait for a slot (over UDP
-- the kernel's buffer then drops the excess, as a busy server's would).

local buffer = require "string.buffer"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local packet = require "lnet.packet"
local listener = require "lnet.listener"
local context = require "lnet.context"
local sys = require "lnet.sys"
local decode = require "lnet.dns.decode"
local reply = require "lnet.dns.reply"
local zone = require "lnet.dns.zone"

local C = sys.C
local type, error, pcall, setmetatable, tostring, pairs = type, error, pcall, setmetatable, tostring, pairs
local char, format = string.char, string.format
local floor, move = math.floor, table.move
local go_in, self_task = sched.go_in, sched.self_task
local sleep, current = sched.sleep, sched.current
local decode_msg, build, formerr = decode.decode, reply.build, reply.formerr
local serve = listener.serve
local ErrClosed, check_arg = errors.ErrClosed, errors.check_arg

local _M = {}

local MAX_LIVE = 1024 -- queries in hand at once
local TCP_IDLE = 30 -- seconds a TCP conn may sit without a query (RFC 7766 asks for a limit)
local LOG_MAX = 4096 -- entries queries() keeps (the latest)
local BIND_TRIES = 16 -- fresh ports tried for a UDP port whose TCP twin is taken
local SPARE_READERS = 2 -- idle UDP workers kept
local MAX_CONNS = 512 -- TCP conns served at once

local Server = {}
Server.__index = Server

-- Tasks of the server: sched calls leave when one ends, however it ends.
function Server:spawn(fn, ...)
    local t = go_in(self, fn, ...)
    self.tasks[t] = true
    return t
end

function Server:leave(t)
    self.tasks[t] = nil
    if self.live_of[t] then
        self.live_of[t] = nil
        self.live = self.live - 1
        self.slot_waiters:wake_first()
    end
end

local function take_slot(self, fn, ...)
    self.live = self.live + 1
    self.live_of[self:spawn(fn, ...)] = true
end

-- Starts fn(...) as a query task once a slot is free; false if the waiting
-- task was cancelled (the server is closing).
function Server:start_query(fn, ...)
    local t = self_task(2)
    while self.live >= MAX_LIVE do
        if self.slot_waiters:wait(t) ~= nil then
            return false
        end
    end
    take_slot(self, fn, ...)
    return true
end

-- One query's log entry. The log keeps the latest LOG_MAX: past twice
-- that, the older half goes, so each query costs O(1).
function Server:record(entry)
    local log, n = self.log, #self.log
    if n >= 2 * LOG_MAX then
        move(log, n - LOG_MAX + 1, n, 1)
        for i = n, LOG_MAX + 1, -1 do
            log[i] = nil
        end
        n = LOG_MAX
    end
    log[n + 1] = entry
end

-- The bytes to send for one query (data, from `from` over proto), and the
-- delay before sending them; records the query in the log.
function Server:respond(data, proto, from)
    local entry = { proto = proto, from = from, time = C.lnet_now() }
    self:record(entry)
    local req, err = decode_msg(data)
    if req == nil then
        entry.err = err
        return formerr(data)
    end
    local q = req.questions[1]
    entry.id = req.id
    if q ~= nil then
        entry.name, entry.type, entry.class = q.name, q.type, q.class
    end
    if req.qr then
        entry.err = "a reply, not a query"
        return nil
    elseif req.opcode ~= "QUERY" then
        return (reply.error_reply(req, "NOTIMP", proto))
    elseif #req.questions ~= 1 then
        entry.err = "a query must have one question"
        return (reply.error_reply(req, "FORMERR", proto))
    end
    local ok, result = pcall(self.handler, req, { proto = proto, from = from, raw = data })
    if not ok then
        entry.err = result
        return reply.servfail(req)
    end
    local bytes, delay, why = build(req, result, proto)
    entry.err = why
    return bytes, delay
end

local function sleep_then(delay)
    return delay == nil or delay <= 0 or sleep(delay) ~= nil
end

local function serve_udp_query(self, data, from)
    local bytes, delay = self:respond(data, "udp", from)
    if bytes ~= nil and sleep_then(delay) then
        self.udp:write_to(bytes, from)
    end
end

-- A UDP worker reads a query and answers it, again and again. Before it
-- answers, it makes sure some worker is left reading (starting one if it
-- was the last and a slot is free), so a blocked or delayed answer holds
-- up no other; after, it ends if more than SPARE_READERS are idle. Under
-- a steady load a few workers answer everything, with no task made per
-- query.
local function udp_worker(self)
    local udp = self.udp
    while true do
        local data, from = udp:read_from(65535)
        if data == nil then
            self.udp_workers = self.udp_workers - 1
            return
        end
        self.udp_busy = self.udp_busy + 1
        if self.udp_busy == self.udp_workers and self.live < MAX_LIVE then
            self.udp_workers = self.udp_workers + 1
            take_slot(self, udp_worker, self)
        end
        serve_udp_query(self, data, from)
        self.udp_busy = self.udp_busy - 1
        if self.udp_workers - self.udp_busy > SPARE_READERS then
            self.udp_workers = self.udp_workers - 1
            return
        end
    end
end

-- A query over TCP goes out as one write of the length and the message,
-- so replies from concurrent tasks on one conn never interleave.
local function serve_tcp_query(self, c, data, from, pending)
    local bytes, delay = self:respond(data, "tcp", from)
    if bytes ~= nil and sleep_then(delay) then
        local n = #bytes
        c:write(char(floor(n / 256) % 256, n % 256) .. bytes)
    end
    pending:done()
end

-- Reads length-prefixed queries off c (RFC 1035 section 4.2.2), each
-- answered by a task of its own as it arrives (RFC 7766 pipelining), until
-- the client is gone or idle and those tasks are done; lnet.serve then
-- closes c. Past MAX_CONNS conns at once, a new one is closed at once.
local function serve_tcp_conn(self, c)
    if self.conns >= MAX_CONNS then
        return
    end
    self.conns = self.conns + 1
    local from, b = c:remote_addr(), buffer.new()
    local pending = sched.wait_group() -- the conn's queries in hand
    while true do
        while #b >= 2 do
            local p = b:ref()
            local len = p[0] * 256 + p[1]
            if #b < 2 + len then
                break
            end
            b:skip(2)
            pending:add(1)
            if not self:start_query(serve_tcp_query, self, c, b:get(len), from, pending) then
                pending:done()
                break
            end
        end
        c:set_read_deadline(C.lnet_now() + TCP_IDLE)
        local data = c:read(65536)
        if data == nil then
            break
        end
        b:put(data)
    end
    pending:wait()
    self.conns = self.conns - 1
end

-- UDP at address, and TCP at the port UDP got; a port chosen by the
-- kernel is chosen again (BIND_TRIES times) if TCP finds it taken.
local function bind(address, tcp)
    local host, port = addr.split_host_port(address)
    if host == nil then
        return nil, port
    end
    local tries = (port == "" or port == "0") and BIND_TRIES or 1
    local err
    for _ = 1, tries do
        local udp
        udp, err = packet.listen_packet("udp", address)
        if udp == nil then
            return nil, err
        end
        if not tcp then
            return udp
        end
        local ln
        ln, err = listener.listen("tcp", tostring(udp:local_addr()))
        if ln ~= nil then
            return udp, ln
        end
        udp:close()
    end
    return nil, err
end

-- server{listen = "127.0.0.1:0", handler = fn | zone = tbl, tcp = true}:
-- a running server, or nil and the error (the listen error, or a
-- DNSMessageError for a zone table that cannot be served).
function _M.server(opts)
    check_arg(opts, "table", 1, "server")
    local handler, address = opts.handler, opts.listen or "127.0.0.1:0"
    if addr.is_addr(address) then
        address = tostring(address)
    elseif type(address) ~= "string" then
        error("bad argument #1 to 'server' (listen: address expected, got " .. type(address) .. ")", 2)
    end
    if opts.zone ~= nil then
        if handler ~= nil then
            error("bad argument #1 to 'server' (handler and zone both given)", 2)
        end
        local err
        handler, err = zone.zone(opts.zone)
        if handler == nil then
            return nil, err
        end
    elseif type(handler) ~= "function" then
        error("bad argument #1 to 'server' (handler: function expected, got " .. type(handler) .. ")", 2)
    end
    local udp, ln = bind(address, opts.tcp ~= false)
    if udp == nil then
        return nil, ln
    end
    local self = setmetatable({
        udp = udp, ln = ln, handler = handler,
        tasks = {}, live = 0, live_of = {}, slot_waiters = sched.queue(), log = {}, udp_workers = 1, udp_busy = 0, conns = 0,
    }, Server)
    take_slot(self, udp_worker, self)
    if ln ~= nil then
        -- lnet.serve accepts (backing off when out of fds) and owns the
        -- conns; cancelling ctx closes the listener and, with no grace,
        -- cancels the conns' tasks and waits for them.
        local ctx
        ctx, self.stop_tcp = context.with_cancel(context.background())
        self.acceptor = self:spawn(serve, ln, function(c)
            serve_tcp_conn(self, c)
        end, ctx, 0)
    end
    return self
end

-- addr(): the UDP address (TCP listens on the same port number).
function Server:addr()
    return self.udp:local_addr()
end

-- tcp_addr(): the TCP listener's address, nil with tcp = false.
function Server:tcp_addr()
    return self.ln and self.ln:addr()
end

-- queries(): what arrived, oldest first (at most the latest LOG_MAX):
-- {name, type, class, id, proto, from, time, err}, name and type those of
-- the first question; err says why a query got FORMERR or SERVFAIL or was
-- dropped unanswered. A copy: the server goes on logging into its own.
function Server:queries()
    return move(self.log, 1, #self.log, 1, {})
end

-- close(): stops both sockets, cancels every query in hand and waits for
-- every task of the server; true, or nil and ErrClosed the second time.
function Server:close()
    if self.closed then
        return nil, ErrClosed
    end
    self.closed = true
    self.udp:close()
    if self.ln ~= nil then
        self.stop_tcp()
    end
    local me, list = current(), {}
    for t in pairs(self.tasks) do
        if t ~= me then
            list[#list + 1] = t
            if t ~= self.acceptor then -- it ends by itself once the conns' tasks have (see server)
                t:cancel()
            end
        end
    end
    for i = 1, #list do
        list[i]:join()
    end
    return true
end

function Server:__tostring()
    return format("dns server %s", tostring(self:addr()))
end

return _M
