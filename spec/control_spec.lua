-- Control hooks (issue 10, item 2; seed §16): dialer{control} and
-- listen_config{control} run fn(network, address, raw) on each socket after
-- it is made and before it is bound or connected; an error it returns (or
-- raises) aborts the dial or listen, wrapped in the OpError, leaking no fd.

local lnet = require "lnet"
local errors = lnet.errors
local ffi = require "ffi"
local sys = require "lnet.sys"

local support = require "support"

local C = sys.C

-- The port the socket fd is bound to (0: not bound), and whether it has a
-- peer.
local function bound_port(fd)
    local sa = ffi.new("struct lnet_sockaddr")
    assert(C.lnet_fd_sockname(fd, sa) == 0)
    return C.lnet_sockaddr_port(sa), C.lnet_fd_peername(fd, sa) == 0
end

local function reuseport(_, _, raw)
    return raw:setsockopt("SOL_SOCKET", "SO_REUSEPORT", true)
end

describe("control hooks (seed §16)", function()
    it("a dialer's hook sees the socket before bind and connect, with Go's network and address", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local seen = {}
        local d = lnet.dialer({ local_addr = "127.0.0.1:0", control = function(network, address, raw)
            seen.network, seen.address = network, address
            assert(raw:control(function(fd)
                seen.port, seen.connected = bound_port(fd)
            end))
            return raw:setsockopt("IPPROTO_IP", "IP_TOS", 0x20) -- pre-connect, kept by the conn
        end })
        local c = assert(d:dial("tcp", tostring(ln:addr())))
        local s = assert(ln:accept())
        assert.are.same({ network = "tcp4", address = tostring(ln:addr()), port = 0, connected = false }, seen)
        assert.are.equal(0x20, c:syscall_conn():getsockopt("IPPROTO_IP", "IP_TOS"))
        c:close()
        s:close()
        ln:close()
    end)

    it("a listen config's hook sees the socket before bind; SO_REUSEPORT lets two listeners share a port", function()
        local cfg = lnet.listen_config({ control = reuseport })
        local ln1 = assert(cfg:listen("tcp", "127.0.0.1:0"))
        local address = tostring(ln1:addr())
        -- Without the option the port is taken ...
        local none, err = lnet.listen("tcp", address)
        assert.is_nil(none)
        assert.is_true(errors.is(err, lnet.errno.EADDRINUSE), tostring(err))
        -- ... with it a second listener binds it too, and the kernel
        -- spreads the conns over both: dial until each has accepted some.
        local ln2 = assert(cfg:listen("tcp", address))
        local accepted = { 0, 0 }
        local acceptors = {}
        for i, ln in ipairs({ ln1, ln2 }) do
            acceptors[i] = lnet.go(function()
                while true do
                    local s = ln:accept()
                    if s == nil then
                        return
                    end
                    accepted[i] = accepted[i] + 1
                    s:write("x")
                    s:close()
                end
            end)
        end
        local dials = 0
        while (accepted[1] == 0 or accepted[2] == 0) and dials < 200 do
            local c = assert(lnet.dial("tcp", address))
            c:set_read_deadline(lnet.now() + support.SLACK)
            assert.are.equal("x", c:read(1))
            c:close()
            dials = dials + 1
        end
        assert.is_true(accepted[1] > 0 and accepted[2] > 0,
            ("after %d dials: %d and %d accepted"):format(dials, accepted[1], accepted[2]))
        assert.are.equal(dials, accepted[1] + accepted[2])
        ln1:close()
        ln2:close()
        acceptors[1]:join()
        acceptors[2]:join()
    end)

    it("hooks run for listen_packet, udp dials and unix listeners, with their networks", function()
        local seen = {}
        local function record(network, address, raw)
            seen[#seen + 1] = network .. " " .. address
            return raw:setsockopt("SOL_SOCKET", "SO_RCVBUF", 65536)
        end
        local cfg = lnet.listen_config({ control = record })
        local pc = assert(cfg:listen_packet("udp4", "127.0.0.1:0"))
        assert.are.equal(131072, pc:syscall_conn():getsockopt("SOL_SOCKET", "SO_RCVBUF"))
        local u = assert(lnet.dialer({ control = record }):dial("udp", tostring(pc:local_addr())))
        local path = support.abstract_unix()
        local ul = assert(lnet.listen_packet("unixgram", path, { control = record }))
        local sl = assert(cfg:listen("unix", path .. "-s"))
        local uc = assert(lnet.dialer({ control = record }):dial("unix", path .. "-s"))
        local us = assert(sl:accept())
        assert.are.same({ "udp4 127.0.0.1:0", "udp4 " .. tostring(pc:local_addr()), "unixgram " .. path,
                          "unix " .. path .. "-s", "unix " .. path .. "-s" }, seen)
        for _, x in ipairs({ pc, u, ul, sl, uc, us }) do
            x:close()
        end
    end)

    it("an error the hook returns aborts the dial or listen, wrapped in the OpError; no fd is left", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local address = tostring(ln:addr())
        local refused = errors.sentinel("refused by policy")
        local fds = C.lnet_fd_count()
        local c, err = lnet.dialer({ control = function()
            return nil, refused
        end }):dial("tcp", address)
        assert.is_nil(c)
        assert.is_true(rawequal(errors.as(err, "OpError").err, refused))
        assert.are.equal("dial tcp " .. address .. ": refused by policy", tostring(err))
        local l2
        l2, err = lnet.listen_config({ control = function()
            return refused
        end }):listen("tcp", "127.0.0.1:0")
        assert.is_nil(l2)
        assert.are.equal("listen tcp 127.0.0.1:0: refused by policy", tostring(err))
        -- A failed option, returned as raw:setsockopt returns it.
        l2, err = lnet.listen_config({ control = function(_, _, raw)
            return raw:setsockopt("IPPROTO_TCP", "TCP_CONGESTION", "no-such-algorithm")
        end }):listen("tcp", "127.0.0.1:0")
        assert.is_nil(l2)
        assert.are.equal("listen tcp 127.0.0.1:0: setsockopt: no such file or directory", tostring(err))
        assert.is_true(errors.is(err, lnet.errno.ENOENT))
        -- A string as the error.
        local pc
        pc, err = lnet.listen_packet("udp", "127.0.0.1:0", { control = function()
            return false, "no udp here"
        end })
        assert.is_nil(pc)
        assert.are.equal("listen udp 127.0.0.1:0: no udp here", tostring(err))
        assert.are.equal(fds, C.lnet_fd_count())
        ln:close()
    end)

    it("a hook that raises aborts with what it raised; no fd is left", function()
        local fds = C.lnet_fd_count()
        local ln, err = lnet.listen_config({ control = function()
            error("boom")
        end }):listen("tcp", "127.0.0.1:0")
        assert.is_nil(ln)
        local ce = errors.as(err, "ControlError")
        assert.is_not_nil(ce, tostring(err))
        assert.is_truthy(tostring(err):find("^listen tcp 127.0.0.1:0: .*control_spec.lua:%d+: boom$"), tostring(err))
        assert.is_truthy(ce.traceback:find("control_spec.lua", 1, true))
        local t = {}
        local c
        c, err = lnet.dialer({ control = function()
            error(t)
        end }):dial("tcp", "127.0.0.1:1")
        assert.is_nil(c)
        assert.is_true(rawequal(errors.as(err, "ControlError").value, t))
        -- Each address's attempt runs the hook: the dial's error is the
        -- first address's.
        assert.are.equal(fds, C.lnet_fd_count())
    end)

    it("the raw object works only during the hook; its read and write have no loop to wait on", function()
        local kept
        local ln = assert(lnet.listen_config({ control = function(_, _, raw)
            kept = raw
            local ok, err = raw:read(function() return true end)
            assert(ok == nil and tostring(err):find("waiting for unsupported file type", 1, true), tostring(err))
        end }):listen("tcp", "127.0.0.1:0"))
        local ok, err = kept:setsockopt("SOL_SOCKET", "SO_KEEPALIVE", true)
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        ok, err = kept:control(function() error("must not run") end)
        assert.is_nil(ok)
        assert.is_true(errors.is(err, lnet.ErrClosed))
        ln:close()
    end)

    it("a control that is no function raises, as do unknown options", function()
        assert.has_error(function() lnet.dialer({ control = "SO_REUSEPORT" }) end,
            "bad option 'control' to 'dialer' (function expected, got string)")
        assert.has_error(function() lnet.listen_config({ control = true }) end,
            "bad option 'control' to 'listen_config' (function expected, got boolean)")
        assert.has_error(function() lnet.listen("tcp", "127.0.0.1:0", { contorl = reuseport }) end,
            "bad option 'contorl' to 'listen' (unknown option)")
        assert.has_error(function() lnet.listen_packet("udp", "127.0.0.1:0", { backlog = 5 }) end,
            "bad option 'backlog' to 'listen_packet' (unknown option)")
        assert.has_error(function() lnet.listen_config("x") end,
            "bad argument #1 to 'listen_config' (table expected, got string)")
        assert.has_error(function() lnet.listen_config({}).listen({}, "tcp", ":0") end,
            "bad argument #1 to 'listen' (listen config expected, got table)")
    end)
end)
