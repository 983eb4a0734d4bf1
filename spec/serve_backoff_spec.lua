-- lnet.serve on a machine out of fds: accept's EMFILE is the one temporary
-- accept error, so serve backs off and tries again instead of returning.
local ffi = require "ffi"
local lnet = require "lnet"
local C = require("lnet.sys").C

ffi.cdef [[
struct lnet_rlimit { unsigned long cur, max; };
int getrlimit(int resource, struct lnet_rlimit *rlim);
int setrlimit(int resource, const struct lnet_rlimit *rlim);
]]
local RLIMIT_NOFILE = 7

describe("lnet.serve", function()
    it("backs off on EMFILE and accepts the waiting conns once fds are free again", function()
        local saved = ffi.new("struct lnet_rlimit")
        assert.are.equal(0, ffi.C.getrlimit(RLIMIT_NOFILE, saved))
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        local release = lnet.channel()
        local accepted, held = 0, {}
        local server = lnet.go(lnet.serve, ln, function(c)
            accepted = accepted + 1
            held[#held + 1] = c
            release:recv()
        end)
        local clients = {}
        local ok, err = pcall(function()
            -- Room for a few conns more than we hold now, then dial past it.
            local limit = ffi.new("struct lnet_rlimit", C.lnet_fd_count() + 8, saved.max)
            assert.are.equal(0, ffi.C.setrlimit(RLIMIT_NOFILE, limit))
            for _ = 1, 40 do
                local c = lnet.dial("tcp", tostring(ln:addr()))
                if c == nil then
                    break
                end
                clients[#clients + 1] = c
                lnet.sleep(0.005)
            end
        end)
        assert.are.equal(0, ffi.C.setrlimit(RLIMIT_NOFILE, saved))
        assert(ok, err)
        -- Out of fds, the server could not take every client that connected.
        assert.is_true(accepted < #clients, ("accepted %d of %d"):format(accepted, #clients))
        assert.are.equal("running", server.status)
        -- With fds back, the backoff's next try takes the rest.
        for _ = 1, 300 do
            if accepted == #clients then
                break
            end
            lnet.sleep(0.01)
        end
        assert.are.equal(#clients, accepted)
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
