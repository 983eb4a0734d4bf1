-- lnet.serve on a process out of fds: accept's EMFILE is the one temporary
-- accept error, so serve backs off and tries again instead of returning.
--
-- The clients connect before serve starts (the kernel completes them into
-- the backlog), then the fd table is filled to a lowered limit but for a
-- known number of slots. So serve accepts exactly that many, meets EMFILE,
-- and takes the rest once the slots are given back, whatever fds the
-- process held before.
local ffi = require "ffi"
local lnet = require "lnet"

-- Renamed (asm labels) so they cannot clash with another spec's cdefs.
ffi.cdef [[
struct lnet_backoff_spec_rlimit { unsigned long cur, max; };
int lnet_backoff_spec_getrlimit(int resource, struct lnet_backoff_spec_rlimit *rlim)
    __asm__("getrlimit");
int lnet_backoff_spec_setrlimit(int resource, const struct lnet_backoff_spec_rlimit *rlim)
    __asm__("setrlimit");
int lnet_backoff_spec_dup(int fd) __asm__("dup");
int lnet_backoff_spec_close(int fd) __asm__("close");
]]
local C = ffi.C
local RLIMIT_NOFILE = 7
local CLIENTS, ROOM = 6, 2

-- Duplicates fd 0 until the table is full; returns the new fds.
local function fill_fd_table(cap)
    local fillers = {}
    for _ = 1, cap do
        local fd = C.lnet_backoff_spec_dup(0)
        if fd < 0 then
            break
        end
        fillers[#fillers + 1] = fd
    end
    return fillers
end

describe("lnet.serve", function()
    it("backs off on EMFILE and accepts the waiting conns once fds are free again", function()
        local saved = ffi.new("struct lnet_backoff_spec_rlimit")
        assert.are.equal(0, C.lnet_backoff_spec_getrlimit(RLIMIT_NOFILE, saved))
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local clients = {}
        for i = 1, CLIENTS do
            clients[i] = assert(lnet.dial("tcp", tostring(ln:addr())))
        end
        local highest = C.lnet_backoff_spec_dup(0)
        assert.is_true(highest >= 0)
        C.lnet_backoff_spec_close(highest)

        local limit = ffi.new("struct lnet_backoff_spec_rlimit", highest + 64, saved.max)
        assert.are.equal(0, C.lnet_backoff_spec_setrlimit(RLIMIT_NOFILE, limit))
        local fillers = fill_fd_table(highest + 64)
        for _ = 1, ROOM do
            C.lnet_backoff_spec_close(table.remove(fillers))
        end

        local release = lnet.channel()
        local accepted, held = 0, {}
        local server = lnet.go(lnet.serve, ln, function(c)
            accepted = accepted + 1
            held[#held + 1] = c
            release:recv()
        end)
        for _ = 1, 20 do
            lnet.sleep(0.01)
        end
        local accepted_while_full = accepted
        local status_while_full = server.status

        for _, fd in ipairs(fillers) do
            C.lnet_backoff_spec_close(fd)
        end
        assert.are.equal(0, C.lnet_backoff_spec_setrlimit(RLIMIT_NOFILE, saved))
        assert.are.equal(ROOM, accepted_while_full)
        assert.are.equal("running", status_while_full)

        -- With fds back, the backoff's next try takes the rest.
        for _ = 1, 300 do
            if accepted == CLIENTS then
                break
            end
            lnet.sleep(0.01)
        end
        assert.are.equal(CLIENTS, accepted)
        assert.are.equal("running", server.status)
        for _ = 1, #held do
            release:send(true)
        end
        for _, c in ipairs(clients) do
            c:close()
        end
        ln:close()
        assert.is_true(server:join())
    end)
end)
