-- lnet.proto.resp against a real redis-server (RESP2 and RESP3: commands,
-- nil, arrays, error replies, 1,000 pipelined commands in one write,
-- pub/sub pushes), and against a server of the spec's own that sends
-- malformed replies.
local lnet = require "lnet"
local resp = require "lnet.proto.resp"
local errors = lnet.errors

local support = require "support"
local peers = require "peers"

local function with_redis(fn)
    local srv = peers.redis()
    local ok, err = pcall(fn, srv.addr)
    srv.stop()
    assert(ok, err)
end

-- A server that answers every command with `reply` (bytes), then what
-- follows, for the malformed-input cases.
local function fake(reply)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local t = lnet.go(function()
        local c = ln:accept()
        if c then
            c:read(1000)
            c:write(reply)
            c:read(1000) -- until the client closes
            c:close()
        end
    end)
    return tostring(ln:addr()), function()
        ln:close()
        t:join()
    end
end

describe("resp client against redis-server", function()
    it("runs commands: strings, integers, nil, arrays with nil inside", function()
        with_redis(function(addr)
            local cl = assert(resp.connect(addr))
            assert.are.equal("PONG", cl:call("PING"))
            assert.are.equal("OK", cl:call("SET", "k", "v\r\nwith crlf\0"))
            assert.are.equal("v\r\nwith crlf\0", cl:call("GET", "k"))
            assert.are.equal(resp.null, cl:call("GET", "missing"))
            assert.are.equal(3, cl:call("RPUSH", "list", "a", 2, 3.5))
            assert.are.same({ "a", "2", "3.5" }, cl:call("LRANGE", "list", 0, -1))
            assert.are.same({ "v\r\nwith crlf\0", resp.null }, cl:call("MGET", "k", "missing"))
            assert.are.equal(9007199254740993LL, cl:call("INCRBY", "big", "9007199254740993"))
            assert.are.same({}, cl:call("LRANGE", "nothing", 0, -1))
            local big = support.pattern(3 * support.MiB)
            assert.are.equal("OK", cl:call("SET", "big", big))
            assert.is_true(cl:call("GET", "big") == big)
            cl:close()
        end)
    end)

    it("returns error replies as RESPError and stays usable; errors inside arrays are elements", function()
        with_redis(function(addr)
            local cl = assert(resp.connect(addr))
            local v, err = cl:call("NOSUCHCOMMAND", "x")
            assert.is_nil(v)
            assert.are.equal("ERR", err.code)
            assert.is_truthy(tostring(err):find("^ERR unknown command"))
            cl:call("SET", "s", "x")
            v, err = cl:call("LPUSH", "s", "y")
            assert.are.equal("WRONGTYPE", err.code)
            assert.are.equal("OK", cl:call("MULTI"))
            assert.are.equal("QUEUED", cl:call("INCR", "s"))
            assert.are.equal("QUEUED", cl:call("SET", "n", 1))
            local res = cl:call("EXEC")
            assert.are.equal("ERR", errors.as(res[1], "RESPError").code)
            assert.are.equal("OK", res[2])
            assert.are.equal("PONG", cl:call("PING"))
            cl:close()
        end)
    end)

    it("pipelines 1,000 commands in one write and reads their replies in order", function()
        with_redis(function(addr)
            local cl = assert(resp.connect(addr))
            for i = 1, 1000 do
                if i % 2 == 0 then
                    cl:send("INCR", "counter")
                else
                    cl:send("SET", "key:" .. i, "value " .. i)
                end
            end
            assert.is_true(cl:pending() > 30000) -- all queued: no write yet
            assert.is_true(cl:flush()) -- one conn:write of the whole queue
            assert.are.equal(0, cl:pending())
            for i = 1, 1000 do
                local v = cl:receive()
                if i % 2 == 0 then
                    assert.are.equal(i / 2, v)
                else
                    assert.are.equal("OK", v)
                end
            end
            assert.are.equal("value 999", cl:call("GET", "key:999"))
            cl:close()
        end)
    end)

    it("speaks RESP3: maps, sets, doubles, booleans, big numbers, verbatim strings, null, attributes", function()
        with_redis(function(addr)
            local cl = assert(resp.connect(addr, { protocol = 3 }))
            assert.are.equal(3, cl.server.proto)
            assert.are.equal("redis", cl.server.server)
            assert.are.equal(resp.null, cl:call("GET", "missing"))
            cl:call("HSET", "h", "a", "1", "b", "2")
            assert.are.same({ a = "1", b = "2" }, cl:call("HGETALL", "h"))
            cl:call("ZADD", "z", "1.5", "m")
            assert.are.equal(1.5, cl:call("ZSCORE", "z", "m"))
            assert.are.equal(3.141, cl:call("DEBUG", "PROTOCOL", "double"))
            assert.are.equal(true, cl:call("DEBUG", "PROTOCOL", "true"))
            assert.are.equal(false, cl:call("DEBUG", "PROTOCOL", "false"))
            assert.are.equal("1234567999999999999999999999999999999", cl:call("DEBUG", "PROTOCOL", "bignum"))
            assert.are.equal(resp.null, cl:call("DEBUG", "PROTOCOL", "null"))
            assert.are.equal("This is a verbatim\nstring", cl:call("DEBUG", "PROTOCOL", "verbatim"))
            assert.are.same({ 0, 1, 2 }, cl:call("DEBUG", "PROTOCOL", "set"))
            assert.are.same({ [0] = false, [1] = true, [2] = false }, cl:call("DEBUG", "PROTOCOL", "map"))
            assert.are.equal("Some real reply following the attribute", cl:call("DEBUG", "PROTOCOL", "attrib"))
            cl:close()
        end)
    end)

    it("delivers pub/sub messages as pushes (RESP3), apart from the replies around them", function()
        with_redis(function(addr)
            local sub = assert(resp.connect(addr, { protocol = 3 }))
            local pub = assert(resp.connect(addr))
            sub:send("SUBSCRIBE", "news")
            assert.is_true(sub:flush())
            assert.are.same({ "subscribe", "news", 1 }, sub:push())
            assert.are.equal(1, pub:call("PUBLISH", "news", "first"))
            -- A reply asked for after the message came: the push waits aside.
            lnet.sleep(0.05)
            assert.are.equal("PONG", sub:call("PING"))
            assert.are.same({ "message", "news", "first" }, sub:push())
            assert.are.equal(1, pub:call("PUBLISH", "news", "second"))
            assert.are.same({ "message", "news", "second" }, sub:push())
            sub:close()
            pub:close()
        end)
    end)

    it("reads RESP2 pub/sub messages as arrays", function()
        with_redis(function(addr)
            local sub = assert(resp.connect(addr))
            assert.are.same({ "subscribe", "old", 1 }, sub:call("SUBSCRIBE", "old"))
            local pub = assert(resp.connect(addr))
            pub:call("PUBLISH", "old", "hi")
            assert.are.same({ "message", "old", "hi" }, sub:receive())
            sub:close()
            pub:close()
        end)
    end)

    it("a ctx that ends the wait before the reply leaves the client usable", function()
        with_redis(function(addr)
            local cl = assert(resp.connect(addr))
            local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 0.05)
            local v, err = cl:call("BLPOP", "emptylist", "0.5", ctx)
            cancel()
            assert.is_nil(v)
            assert.is_true(errors.is(err, lnet.context.DeadlineExceeded))
            -- BLPOP's own nil reply comes later, then PING's.
            assert.are.equal(resp.null, cl:receive())
            assert.are.equal("PONG", cl:call("PING"))
            cl:close()
        end)
    end)
end)

describe("scripts/resp.lua", function()
    it("runs a command, and a pipeline from stdin, printing replies as redis-cli does", function()
        with_redis(function(addr)
            local code, out = support.run({ support.host, "scripts/resp.lua", "-a", addr, "rpush", "l", "a", "b" })
            assert.are.equal(0, code)
            assert.are.equal("(integer) 2\n", out)
            code, out = support.run({ "sh", "-c", ("printf 'lrange l 0 -1\\nget none\\nincr l\\n' | %s scripts/resp.lua -a %s -")
                :format(support.host, addr) })
            assert.are.equal(1, code) -- the error reply
            assert.are.equal('1) "a"\n2) "b"\n(nil)\n(error) WRONGTYPE Operation against a key holding the wrong kind of value\n', out)
        end)
    end)
end)

describe("resp client against malformed replies", function()
    local cases = {
        { "a negative bulk length", "$-5\r\n", "resp: bulk length -5 out of range (max 67108864)" },
        { "a huge bulk length", "$99999999999999\r\n", "resp: bulk length 99999999999999 out of range (max 67108864)" },
        { "a huge array count", "*4294967296\r\n", "resp: aggregate length 4294967296 out of range (max 1048576)" },
        { "a negative array count", "*-2\r\n", "resp: aggregate length -2 out of range (max 1048576)" },
        { "a length that is no number", "$1x\r\n", "resp: bad bulk length \"1x\"" },
        { "an integer that is no number", ":12ab\r\n", "resp: bad integer \"12ab\"" },
        { "an unknown type", "?what\r\n", "resp: unknown reply type \"?what\"" },
        { "a bulk without its CR LF", "$3\r\nabcXY", "resp: bulk string of 3 bytes not followed by CR LF" },
        { "nesting past the limit", ("*1\r\n"):rep(40), "resp: replies nested deeper than 32" },
    }
    for _, case in ipairs(cases) do
        it("returns a ProtocolError for " .. case[1] .. ", allocating nothing for it, and stays broken", function()
            local addr, stop = fake(case[2])
            local cl = assert(resp.connect(addr))
            collectgarbage()
            local before = collectgarbage("count")
            local v, err = cl:call("GET", "x")
            assert.is_nil(v)
            assert.is_not_nil(errors.as(err, "ProtocolError"))
            assert.are.equal(case[3], tostring(err))
            assert.is_true(collectgarbage("count") - before < 1024, "heap grew")
            local v2, err2 = cl:call("PING")
            assert.is_nil(v2)
            assert.are.equal(err, err2)
            cl:close()
            stop()
        end)
    end

    it("a line with no end past max_line is a LimitError, and the reply is cut by EOF after", function()
        local addr, stop = fake("+" .. ("x"):rep(100))
        local cl = assert(resp.connect(addr, { max_line = 50 }))
        local v, err = cl:call("GET", "x")
        assert.is_nil(v)
        assert.is_not_nil(errors.as(err, "LimitError"))
        cl:close()
        stop()
    end)
end)
