-- Signals (issue 3, item 4): lnet.signal.notify_context (Go's
-- signal.NotifyContext) and lnet.signal.wait. Signals go through the loop:
-- a handler never runs Lua.
--
-- The specs signal their own process with SIGUSR1 and SIGUSR2, never
-- SIGINT or SIGTERM. Each sends a signal only while lnet listens for it:
-- with no listener, its default action would kill the test run. Whether
-- anyone listens is read with sigaction(2): SIG_DFL means no one does.

local ffi = require "ffi"
local lnet = require "lnet"
local core = require "lnet.core"

local context, signal = lnet.context, lnet.signal
local bg = context.background()
local Canceled, DeadlineExceeded = context.Canceled, context.DeadlineExceeded

-- Renamed (asm labels) so they cannot clash with another spec's cdefs.
ffi.cdef [[
int lnet_signal_spec_kill(int pid, int sig) __asm__("kill");
int lnet_signal_spec_getpid(void) __asm__("getpid");
struct lnet_signal_spec_sigaction {
    void *handler;
    unsigned long mask[16];
    int flags;
    void *restorer;
};
int lnet_signal_spec_sigaction(int sig, const struct lnet_signal_spec_sigaction *act,
                               struct lnet_signal_spec_sigaction *old) __asm__("sigaction");
]]
local C = ffi.C

local SIGUSR1, SIGUSR2 = core.signals.SIGUSR1, core.signals.SIGUSR2

local support = require "support"
local WAKE, pack = support.WAKE, support.pack

-- true while some handler (lnet's, through libev) catches sig.
local function caught(sig)
    local old = ffi.new("struct lnet_signal_spec_sigaction")
    assert(C.lnet_signal_spec_sigaction(sig, nil, old) == 0)
    return ffi.cast("intptr_t", old.handler) ~= 0
end

-- Sends sig to this process, only while a handler catches it.
local function raise(sig)
    assert(caught(sig), "nobody catches signal " .. sig .. ": sending it would kill the test run")
    assert(C.lnet_signal_spec_kill(C.lnet_signal_spec_getpid(), sig) == 0)
end

-- Lets tasks started by cancellations (after_func) run.
local function settle()
    lnet.sleep(0.01)
end

describe("lnet.signal.notify_context", function()
    before_each(function()
        -- every spec starts with nobody listening
        assert(not caught(SIGUSR1) and not caught(SIGUSR2), "a signal was left caught")
    end)

    it("is cancelled by a listed signal sent to ourselves, within a loop turn", function()
        local ctx, stop = signal.notify_context(bg, "SIGUSR1")
        assert.is_true(caught(SIGUSR1))
        assert.is_nil(ctx:err())
        local t0 = lnet.now()
        raise(SIGUSR1)
        local err = ctx:done()
        assert.is_true(lnet.now() - t0 < WAKE)
        assert.are.equal(Canceled, err)
        assert.are.equal(Canceled, ctx:err())
        stop()
        settle()
        assert.is_false(caught(SIGUSR1))
    end)

    it("never runs Lua in the handler: the ctx is cancelled by the loop", function()
        local ctx, stop = signal.notify_context(bg, "SIGUSR1")
        raise(SIGUSR1) -- the handler has run when kill(2) returns
        local t0 = os.clock()
        while os.clock() - t0 < 0.02 do -- busy, not yielding
        end
        assert.is_nil(ctx:err())
        lnet.sleep(0)
        assert.are.equal(Canceled, ctx:done())
        stop()
        settle()
    end)

    it("any of several signals cancels it; names may drop SIG, numbers work", function()
        local a, stop_a = signal.notify_context(bg, "SIGUSR1", "USR2")
        local b, stop_b = signal.notify_context(bg, SIGUSR1, SIGUSR2)
        assert.is_true(caught(SIGUSR1))
        assert.is_true(caught(SIGUSR2))
        raise(SIGUSR2)
        assert.are.equal(Canceled, a:done())
        assert.are.equal(Canceled, b:done())
        -- As in Go, the signals stay caught (and swallowed) until stop().
        settle()
        assert.is_true(caught(SIGUSR1))
        assert.is_true(caught(SIGUSR2))
        raise(SIGUSR1)
        settle()
        stop_a()
        stop_b()
        assert.is_false(caught(SIGUSR1))
        assert.is_false(caught(SIGUSR2))
    end)

    it("a signal not listed leaves it live", function()
        local a, stop_a = signal.notify_context(bg, "SIGUSR1")
        local b, stop_b = signal.notify_context(bg, "SIGUSR2")
        raise(SIGUSR2)
        assert.are.equal(Canceled, b:done())
        lnet.sleep(0.02)
        assert.is_nil(a:err())
        stop_a()
        stop_b()
        settle()
    end)

    it("stop() cancels it and unregisters, leaving other listeners; the last restores the default", function()
        local a, stop_a = signal.notify_context(bg, "SIGUSR1")
        local b, stop_b = signal.notify_context(bg, "SIGUSR1")
        stop_a()
        assert.are.equal(Canceled, a:err())
        stop_a() -- idempotent
        settle()
        assert.is_true(caught(SIGUSR1)) -- b still listens
        assert.is_nil(b:err())
        raise(SIGUSR1)
        assert.are.equal(Canceled, b:done())
        stop_b()
        settle()
        assert.is_false(caught(SIGUSR1))
    end)

    it("stop() before any signal: the default disposition is back at once", function()
        local _, stop = signal.notify_context(bg, "SIGUSR2")
        assert.is_true(caught(SIGUSR2))
        stop()
        assert.is_false(caught(SIGUSR2))
        settle()
    end)

    it("is a child of its parent: the parent's cancel ends it; stop() ends its registrations", function()
        local parent, cancel = context.with_cancel(context.with_value(bg, "k", "v"))
        local ctx, stop = signal.notify_context(parent, "SIGUSR1")
        assert.are.equal("v", ctx:value("k"))
        assert.are.equal(1, context.children_count(parent))
        cancel()
        assert.are.equal(Canceled, ctx:err())
        settle()
        assert.are.equal(0, context.children_count(parent))
        assert.is_true(caught(SIGUSR1))
        stop()
        assert.is_false(caught(SIGUSR1))
    end)

    it("keeps the parent's deadline, and a deadline ends it with DeadlineExceeded", function()
        local parent, cancel = context.with_timeout(bg, 0.03)
        local ctx, stop = signal.notify_context(parent, "SIGUSR1")
        assert.are.equal(parent:deadline(), ctx:deadline())
        assert.are.equal(DeadlineExceeded, ctx:done())
        settle()
        stop()
        assert.is_false(caught(SIGUSR1))
        cancel()
    end)

    it("under a parent already done, it is born done; stop() releases the signal", function()
        local parent = support.cancelled()
        local ctx, stop = signal.notify_context(parent, "SIGUSR1")
        assert.are.equal(Canceled, ctx:err())
        stop()
        assert.is_false(caught(SIGUSR1))
    end)

    it("a signal wakes every operation waiting under the ctx", function()
        local ctx, stop = signal.notify_context(bg, "SIGUSR2")
        local sleeper = lnet.go(function()
            return lnet.sleep(30, ctx)
        end)
        local ch = lnet.channel()
        local receiver = lnet.go(function()
            return ch:recv(ctx)
        end)
        lnet.sleep(0.01)
        raise(SIGUSR2)
        assert.are.same(pack(nil, Canceled), pack(sleeper:join()))
        assert.are.same(pack(nil, false, Canceled), pack(receiver:join()))
        stop()
        settle()
    end)

    it("prints as Go's: signal.NotifyContext(parent, [descriptions])", function()
        local parent = context.with_cancel(bg)
        local ctx, stop = signal.notify_context(parent, "SIGHUP", "SIGINT", "SIGTERM")
        assert.are.equal("signal.NotifyContext(context.Background.WithCancel, [hangup interrupt terminated])",
            tostring(ctx))
        stop()
        local rt, stop_rt = signal.notify_context(bg, core.signals.SIGRTMIN + 6, "SIGUSR1")
        assert.are.equal(("signal.NotifyContext(context.Background, [signal %d user defined signal 1])"):format(
            core.signals.SIGRTMIN + 6), tostring(rt))
        stop_rt()
    end)

    it("takes real-time signals by number", function()
        local n = core.signals.SIGRTMIN + 2
        local ctx, stop = signal.notify_context(bg, n)
        raise(n)
        local wctx, cancel = context.with_timeout(bg, 2)
        assert.are.equal(Canceled, ctx:done(wctx))
        cancel()
        stop()
        settle()
    end)

    it("a signal blocked when lnet started is unblocked while watched, as Go does", function()
        if os.execute("command -v python3 >/dev/null 2>&1") ~= 0 then
            pending("needs python3 to start lnet with a blocked signal")
            return
        end
        local script = [[
            local lnet = require "lnet"
            local ctx = lnet.signal.notify_context(lnet.context.background(), "SIGUSR1")
            local ffi = require "ffi"
            ffi.cdef "int kill(int, int); int getpid(void);"
            ffi.C.kill(ffi.C.getpid(), require("lnet.core").signals.SIGUSR1)
            local bound = lnet.context.with_timeout(lnet.context.background(), 2)
            io.write(tostring(ctx:done(bound)))
        ]]
        local proc = assert(lnet.process.spawn({
            argv = { "python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, " ..
                "[signal.SIGUSR1]); os.execv(sys.argv[1], sys.argv[1:])", support.host, "-e", script },
            stdout = "pipe",
            stderr = "inherit",
        }))
        local out = support.read_all(proc.stdout)
        proc.stdout:close()
        assert.are.equal(0, proc:wait())
        assert.are.equal("context canceled", out)
    end)

    it("bad arguments raise, and register nothing", function()
        for _, bad in ipairs({ "SIGNOPE", "nope", "", 0, 123456, {}, true }) do
            assert.has_error(function()
                signal.notify_context(bg, bad)
            end)
        end
        assert.has_error(function()
            signal.notify_context(bg, "SIGUSR1", "SIGBOGUS")
        end)
        assert.has_error(function()
            signal.notify_context(bg) -- Go's "every signal": we ask for names
        end, "bad argument #2 to 'notify_context' (at least one signal expected)")
        assert.has_error(function()
            signal.notify_context(nil, "SIGUSR1")
        end)
        assert.has_error(function()
            signal.notify_context("ctx", "SIGUSR1")
        end)
        assert.is_false(caught(SIGUSR1))
        local ok, msg = pcall(signal.notify_context, bg, "SIGNOPE")
        assert.is_false(ok)
        assert.is_truthy(tostring(msg):find("SIGNOPE", 1, true), tostring(msg))
    end)
end)

describe("lnet.signal.wait", function()
    before_each(function()
        assert(not caught(SIGUSR1) and not caught(SIGUSR2), "a signal was left caught")
    end)

    it("returns the signal's name when it arrives", function()
        local t = lnet.go(function()
            local name = signal.wait("SIGUSR1")
            return name, lnet.now()
        end)
        lnet.sleep(0.01)
        assert.is_true(caught(SIGUSR1))
        local t0 = lnet.now()
        raise(SIGUSR1)
        local name, at = t:join()
        assert.are.equal("SIGUSR1", name)
        assert.is_true(at - t0 < WAKE)
        assert.is_true(caught(SIGUSR1)) -- for the rest of the run, as a Go Notify channel
    end)

    it("a signal that arrives between waits is held for the next one, and kills nobody", function()
        local got = {}
        local t = lnet.go(function()
            for i = 1, 3 do
                got[i] = signal.wait("SIGUSR1")
                lnet.sleep(0.1) -- not waiting: a signal now is held
            end
        end)
        lnet.sleep(0.02)
        raise(SIGUSR1) -- the first wait takes it
        lnet.sleep(0.03)
        raise(SIGUSR1) -- held; the second wait returns at once
        lnet.sleep(0.12)
        raise(SIGUSR1) -- held again for the third
        local ctx, cancel = context.with_timeout(bg, 2)
        t:join(ctx)
        cancel()
        assert.are.same({ "SIGUSR1", "SIGUSR1", "SIGUSR1" }, got)
    end)

    it("takes a number or a short name, and answers with the full name", function()
        local t = lnet.go(function()
            return signal.wait(SIGUSR2)
        end)
        local u = lnet.go(function()
            return signal.wait("USR2")
        end)
        lnet.sleep(0.01)
        raise(SIGUSR2)
        assert.are.equal("SIGUSR2", t:join())
        assert.are.equal("SIGUSR2", u:join())
    end)

    it("one delivery reaches every waiter and every notify ctx of that signal", function()
        local ctx, stop = signal.notify_context(bg, "SIGUSR1")
        local waiters = {}
        for i = 1, 3 do
            waiters[i] = lnet.go(function()
                return signal.wait("SIGUSR1")
            end)
        end
        lnet.sleep(0.01)
        raise(SIGUSR1)
        for i = 1, 3 do
            assert.are.equal("SIGUSR1", waiters[i]:join())
        end
        assert.are.equal(Canceled, ctx:done())
        stop()
        settle()
    end)

    it("a ctx cancelled during the wait ends it; the signal stays caught", function()
        local ctx, cancel = context.with_cancel(bg)
        local t = lnet.go(function()
            local name, err = signal.wait("SIGUSR1", ctx)
            return name, err, lnet.now()
        end)
        lnet.sleep(0.01)
        assert.is_true(caught(SIGUSR1))
        local t0 = lnet.now()
        cancel()
        local name, err, at = t:join()
        assert.is_nil(name)
        assert.are.equal(Canceled, err)
        assert.is_true(at - t0 < WAKE)
        assert.is_true(caught(SIGUSR1))
    end)

    it("a ctx already done fails the wait at once; a deadline ends it with DeadlineExceeded", function()
        local done = support.cancelled()
        local t0 = lnet.now()
        assert.are.same(pack(nil, Canceled), pack(signal.wait("SIGUSR1", done)))
        assert.is_true(lnet.now() - t0 < WAKE)
        local ctx, cancel2 = context.with_timeout(bg, 0.02)
        local name, err = signal.wait("SIGUSR2", ctx)
        cancel2()
        assert.is_nil(name)
        assert.are.equal(DeadlineExceeded, err)
        assert.is_true(err:timeout())
    end)

    it("bad signal names raise", function()
        for _, bad in ipairs({ "SIGNOPE", "bogus", "", 0, 123456, {} }) do
            assert.has_error(function()
                signal.wait(bad)
            end)
        end
        assert.has_error(function()
            signal.wait()
        end)
        assert.is_false(caught(SIGUSR1))
    end)
end)

describe("lnet.main_context", function()
    -- The runner (luajit's own Ctrl-C handler) catches SIGINT: keep its
    -- handlers and give them back after the run, since lnet leaves SIG_DFL.
    local SIGINT, SIGTERM = core.signals.SIGINT, core.signals.SIGTERM
    local saved = {}
    before_each(function()
        for _, sig in ipairs({ SIGINT, SIGTERM }) do
            saved[sig] = ffi.new("struct lnet_signal_spec_sigaction")
            assert(C.lnet_signal_spec_sigaction(sig, nil, saved[sig]) == 0)
        end
    end)
    after_each(function()
        for _, sig in ipairs({ SIGINT, SIGTERM }) do
            assert(C.lnet_signal_spec_sigaction(sig, saved[sig], nil) == 0)
        end
    end)

    it("is one context per run, live, with no deadline, catching SIGINT and SIGTERM", function()
        local ctx = lnet.main_context()
        assert.are.equal(ctx, lnet.main_context())
        assert.is_true(context.is_context(ctx))
        assert.is_nil(ctx:err())
        assert.is_nil(ctx:deadline())
        assert.is_true(caught(SIGINT))
        assert.is_true(caught(SIGTERM))
        -- (delivery and the graceful exit: spec/serve_spec.lua runs
        -- scripts/echo.lua as a child and sends it SIGTERM)
    end)
end)
