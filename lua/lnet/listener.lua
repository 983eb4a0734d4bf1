-- lnet.listener (private): listen, the Listener, and serve (the accept loop
-- done right).

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local addr = require "lnet.addr"
local conn = require "lnet.conn"
local context = require "lnet.context"
local packet = require "lnet.packet"
local sockopts = require "lnet.sockopt"
local raw = require "lnet.raw"
local file = require "lnet.file"
local worker = require "lnet.worker"

local C, K = sys.C, sys.const
local ffi_gc, ffi_new = ffi.gc, ffi.new
local setmetatable, getmetatable, type, error, tonumber, tostring =
    setmetatable, getmetatable, type, error, tonumber, tostring
local min, pairs = math.min, pairs
local open = io.open
local retry, check_ctx = sched.retry, sched.check_ctx
local check_self, check_arg = errors.check_self, errors.check_arg

local OpError, SyscallError, from_errno = errors.OpError, errors.SyscallError, errors.from_errno
local ErrClosed, errno = errors.ErrClosed, errors.errno
local code_error = conn.code_error

local _M = {}

-- Go's listen backlog: the kernel's own limit.
local backlog
local function default_backlog()
    if backlog == nil then
        local f = open("/proc/sys/net/core/somaxconn")
        backlog = f and tonumber(f:read("*l")) or K.SOMAXCONN
        if f then
            f:close()
        end
    end
    return backlog
end

local Listener = {}
Listener.__index = Listener

local sa = ffi_new("struct lnet_sockaddr")

-- What every TCP conn a listener accepts gets, as Go's newTCPConn gives
-- it (TCP_NODELAY, and keepalive unless the config says keepalive = -1),
-- set once on the listening socket: Linux copies a listener's options to
-- each conn it accepts, so an accept costs no setsockopt. 0 or -errno.
local function accepted_conn_options(fd, ka)
    local rc = C.lnet_fd_setsockopt_int(fd, K.IPPROTO_TCP, K.TCP_NODELAY, 1)
    if rc == 0 and ka ~= nil then
        rc = sockopts.apply(fd, ka)
    end
    return rc
end

-- Makes a listening socket for address object a as cfg says; returns the
-- fd, or nil and the error of the step that failed (or the control hook's).
local function listen_socket(cfg, spec, a)
    local family, v6only = addr.listen_family(spec, a)
    local fdp = ffi_new("int[1]", C.lnet_fd_socket(family, spec.socktype, 0))
    if fdp[0] < 0 then
        return nil, SyscallError("socket", from_errno(-fdp[0]))
    end
    local fd = fdp[0]
    local rc, step, err, _ = 0, "setsockopt", nil, nil
    if family ~= K.AF_UNIX then
        rc = C.lnet_fd_setsockopt_int(fd, K.SOL_SOCKET, K.SO_REUSEADDR, 1)
        if rc == 0 and family == K.AF_INET6 then
            rc = C.lnet_fd_setsockopt_int(fd, K.IPPROTO_IPV6, K.IPV6_V6ONLY, v6only and 1 or 0)
        end
        if rc == 0 and worker.id ~= nil then
            -- `lnet --workers`: every copy binds the same address, and the
            -- kernel spreads the conns (or datagrams) over them.
            rc = C.lnet_fd_setsockopt_int(fd, K.SOL_SOCKET, K.SO_REUSEPORT, 1)
        end
    end
    if rc == 0 and cfg.control ~= nil then
        err = raw.run_hook(cfg.control, raw.hook_network(spec, family), tostring(a), fd)
    end
    if rc == 0 and err == nil then
        _, err = addr.to_sockaddr(sa, a, family, "bind")
        if err == nil then
            rc, step = C.lnet_fd_bind(fd, sa), "bind"
        end
    end
    if rc == 0 and err == nil then
        rc, step = C.lnet_fd_listen(fd, cfg.backlog or default_backlog()), "listen"
    end
    if rc == 0 and err == nil and spec.tcp then
        rc, step = accepted_conn_options(fd, cfg.ka), "setsockopt"
    end
    if rc < 0 or err ~= nil then
        C.lnet_fd_close(fdp)
        return nil, err or SyscallError(step, from_errno(-rc))
    end
    return fd
end

-- A Listener over the listening socket fd (owned from here on) for
-- network, bound to a (the kernel's name for it is read back); unlink is
-- the socket file to remove on close, or nil. nil and the error if the
-- core cannot take it.
local function wrap(fd, network, a, unlink)
    local l = C.lnet_listener_open(sys.loop, fd, unlink)
    if l == nil then
        return nil, SyscallError("malloc", errno.ENOMEM)
    end
    local bound = a
    if C.lnet_fd_sockname(fd, sa) == 0 then
        bound = addr.from_sockaddr(sa, network)
    end
    return setmetatable({ l = ffi_gc(l, C.lnet_listener_free), net = network, laddr = bound }, Listener)
end

-- from_fd(fd, network): a Listener over a listening socket that came from
-- elsewhere (lnet.file_listener, socket activation), with Go's defaults
-- for the conns it accepts; a unix one removes no file. nil and the error
-- if its options cannot be set.
function _M.from_fd(fd, network)
    if network == "tcp" then
        local rc = accepted_conn_options(fd, sockopts.DEFAULT)
        if rc < 0 then
            C.lnet_fd_close(ffi_new("int[1]", fd))
            return nil, SyscallError("setsockopt", from_errno(-rc))
        end
    end
    return wrap(fd, network, nil, nil)
end

-- ListenConfig: Go's net.ListenConfig.
local ListenConfig = {}
ListenConfig.__index = ListenConfig

local OPTIONS = { backlog = true, control = true, keepalive = true, keepalive_config = true }

-- config(opts, n, fname, lvl): the checked options of listen and
-- listen_config (raising at lvl, counted from here, on anything unknown
-- or of the wrong type): backlog, a whole number >= 0 (the kernel caps it
-- at somaxconn); control, the hook; keepalive and keepalive_config, for
-- the TCP conns accepted (lnet.sockopt's settings).
local function config(opts, n, fname, lvl)
    local cfg = setmetatable({}, ListenConfig)
    if opts ~= nil then
        check_arg(opts, "table", n, fname, lvl - 1)
        for k in pairs(opts) do
            if not OPTIONS[k] then
                error(("bad option '%s' to '%s' (unknown option)"):format(tostring(k), fname), lvl)
            end
        end
        local bl = opts.backlog
        if bl ~= nil and (type(bl) ~= "number" or bl < 0 or bl % 1 ~= 0 or bl > 0x7fffffff) then
            error(("bad option 'backlog' to '%s' (non-negative integer expected, got %s)"):format(fname,
                tostring(bl)), lvl)
        end
        cfg.backlog = bl
        cfg.control = raw.check_hook(opts.control, fname, lvl)
    end
    cfg.ka = sockopts.settings(opts and opts.keepalive, opts and opts.keepalive_config, n, fname, lvl + 1)
    return cfg
end

-- listen_config{backlog, control, keepalive, keepalive_config}: a
-- reusable listen configuration with :listen and :listen_packet.
function _M.listen_config(opts)
    return config(opts, 1, "listen_config", 2) -- a tail call: the user is next
end

-- cfg:listen(network, address): a Listener, or nil and an OpError.
function ListenConfig:listen(network, address)
    check_self(self, ListenConfig, "listen config", "listen")
    check_arg(network, "string", 1, "listen")
    local spec, a = addr.listen_target(network, address, false)
    if spec == nil then
        return nil, a
    end
    local fd, err = listen_socket(self, spec, a)
    local ln
    if fd ~= nil then
        -- Abstract unix names have no file to remove.
        local unlink = a.name ~= nil and a.name ~= "" and a.name:sub(1, 1) ~= "@" and a.name or nil
        ln, err = wrap(fd, network, a, unlink)
    end
    if ln == nil then
        return nil, OpError("listen", network, nil, a, err)
    end
    return ln
end

-- cfg:listen_packet(network, address): lnet.listen_packet with the
-- config's control hook (backlog and keepalive are for stream listeners).
function ListenConfig:listen_packet(network, address)
    check_self(self, ListenConfig, "listen config", "listen_packet")
    return packet.listen_packet(network, address, { control = self.control })
end

-- listen(network, address [, opts]): listen_config(opts):listen(...).
function _M.listen(network, address, opts)
    return config(opts, 3, "listen", 3):listen(network, address)
end

local function accept_error(self, err)
    return nil, OpError("accept", self.net, nil, self.laddr, err)
end

-- accept([ctx]): the next conn; blocks until one arrives, the listener
-- closes, or ctx is done.
local function accept_done(self, fd, err)
    if fd < 0 then
        return accept_error(self, err or code_error(fd, "accept"))
    end
    local c, oerr = conn.open(fd, self.net)
    if c == nil then
        return accept_error(self, oerr)
    end
    C.lnet_conn_keep_peer(c, sa)
    return c
end

local ACCEPT_CALL = { function(self, op)
    return C.lnet_listener_accept(self.l, op, sa)
end, accept_done }

function Listener:accept(ctx)
    check_self(self, Listener, "listener", "accept")
    check_ctx(ctx, 1, "accept")
    return retry(ACCEPT_CALL, self, ctx)
end

function Listener:close()
    check_self(self, Listener, "listener", "close")
    local rc = C.lnet_listener_close(self.l)
    if rc < 0 then
        return nil, OpError("close", self.net, nil, self.laddr, code_error(rc, "close"))
    end
    return true
end

-- addr(): the bound address; works after close.
function Listener:addr()
    check_self(self, Listener, "listener", "addr")
    return self.laddr
end

function Listener:set_deadline(t)
    check_self(self, Listener, "listener", "set_deadline")
    if C.lnet_listener_set_deadline(self.l, conn.deadline(t, "set_deadline")) < 0 then
        return nil, OpError("set", self.net, nil, self.laddr, ErrClosed)
    end
    return true
end

-- syscall_conn(): the raw socket (lnet.raw): raw:read waits until a conn
-- can be accepted.
function Listener:syscall_conn()
    check_self(self, Listener, "listener", "syscall_conn")
    return raw.new(self, C.lnet_listener_sock(self.l), self.net, self.laddr, nil)
end

-- file(): a file object holding a dup of the listening socket (Go's File),
-- or nil and an OpError ("file"). Both go on accepting: a child given the
-- file (spawn's extra_files) shares the socket and its queue of conns.
function Listener:file()
    check_self(self, Listener, "listener", "file")
    local fd = C.lnet_listener_fd(self.l)
    local f, err = nil, ErrClosed
    if fd >= 0 then
        f, err = file.dup(fd, file.name_of(self.net, self.laddr, nil))
    end
    if f == nil then
        return nil, OpError("file", self.net, nil, self.laddr, err)
    end
    return f
end

function Listener:__tostring()
    check_self(self, Listener, "listener", "tostring")
    return "listener " .. self.net .. " " .. tostring(self.laddr)
end

_M.Listener = Listener

-- Accept errors that are the machine's, not the listener's: back off as
-- Go's http.Server does, from 5 ms doubling to 1 s, and try again.
local function out_of_fds(err)
    return errors.is(err, errno.EMFILE) or errors.is(err, errno.ENFILE)
end

-- The handler tasks of one serve call and their conns (by task id, which
-- keeps them in an array), so a shutdown can wait for them; sched calls
-- leave when a member ends, however it ends, and the conn is closed then.
local Handlers = {}
Handlers.__index = Handlers

function Handlers:start(handler, c, ctx)
    local t = sched.go_in(self, handler, c, ctx)
    self.conns[t.op.id] = c
    self.wg:add(1)
end

function Handlers:leave(t)
    local id = t.op.id
    local c = self.conns[id]
    self.conns[id] = nil
    c:close()
    self.wg:done()
end

-- Waits for the handlers, for as long as grace allows (a context, or
-- seconds counted from now); then cancels those left and waits for them to
-- unwind.
function Handlers:drain(grace)
    local stop
    if type(grace) == "number" then
        grace, stop = context.with_timeout(context.background(), grace)
    end
    local ok, err = self.wg:wait(grace)
    if stop ~= nil then
        stop() -- the grace's own timer goes now, not at the end of the run
    end
    if ok then
        return true
    end
    for id in pairs(self.conns) do
        sched.task(id):cancel()
    end
    self.wg:wait()
    return nil, err
end

-- serve takes any listener, as Go's Serve takes the net.Listener interface:
-- ours, a TLS listener, or any object whose accept(ctx) returns conns and
-- whose close() ends a pending accept with ErrClosed.
local function check_listener(ln)
    if getmetatable(ln) == Listener then
        return
    end
    if not (type(ln) == "table" and type(ln.accept) == "function" and type(ln.close) == "function") then
        check_self(ln, Listener, "listener", "serve")
    end
end

-- serve(ln, handler [, ctx [, grace]]): accepts until ln is closed or ctx is
-- done, each conn served by handler(conn, ctx) in its own task and closed
-- when the handler ends. With a ctx, its cancellation is a graceful
-- shutdown: the listener closes, and serve waits for the handlers to finish,
-- for as long as grace allows (a context, or seconds from the shutdown;
-- then they are cancelled).
-- Handlers that pass ctx to their reads stop when idle and finish what they
-- have read. Returns true, or nil and the accept (or grace) error.
function _M.serve(ln, handler, ctx, grace)
    check_listener(ln)
    check_arg(handler, "function", 2, "serve")
    check_ctx(ctx, 3, "serve")
    if type(grace) ~= "number" then
        check_ctx(grace, 4, "serve")
    end
    local handlers = setmetatable({ conns = {}, wg = sched.wait_group() }, Handlers)
    local delay, failure = 0, nil
    while true do
        local c, err = ln:accept(ctx)
        if c ~= nil then
            delay = 0
            handlers:start(handler, c, ctx)
        elseif errors.is(err, ErrClosed) then
            break
        elseif ctx ~= nil and ctx:err() ~= nil then
            ln:close()
            break
        elseif out_of_fds(err) then
            delay = delay == 0 and 0.005 or min(delay * 2, 1)
            sched.sleep(delay, ctx)
        else
            failure = err
            break
        end
    end
    if ctx ~= nil then
        local ok, err = handlers:drain(grace)
        if not ok then
            return nil, err
        end
    end
    if failure ~= nil then
        return nil, failure
    end
    return true
end

return _M
