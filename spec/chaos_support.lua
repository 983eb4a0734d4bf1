-- Helpers of the chaos specs: upstream servers on loopback, and a proxy
-- in front of one. Each returns what the caller must close.

local lnet = require "lnet"
local chaos = require "lnet.chaos"

local cs = {}

-- A server at a fresh loopback port whose conns handler(c) serves; close()
-- stops it and waits for its task.
function cs.server(handler)
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local task = lnet.go(lnet.serve, ln, handler)
    return {
        addr = tostring(ln:addr()),
        close = function()
            ln:close()
            task:join()
        end,
    }
end

-- An echo server.
function cs.echo()
    return cs.server(function(c)
        lnet.copy(c, c)
        c:close_write()
    end)
end

-- A server that sends `data` to each conn, then closes it.
function cs.source(data)
    return cs.server(function(c)
        c:write(data)
        c:close_write()
        c:read(1) -- until the client is done: no reset under unread bytes
    end)
end

-- A proxy (seed 1 unless given) in front of upstream: the proxy.
function cs.proxy(upstream, opts)
    opts = opts or {}
    opts.upstream = upstream.addr or upstream
    opts.seed = opts.seed or 1
    return assert(chaos.proxy(opts))
end

function cs.dial(p)
    return assert(lnet.dial("tcp", tostring(p:addr())))
end

-- One echo round trip of msg, in milliseconds.
function cs.rtt(c, msg)
    msg = msg or "ping"
    local t = lnet.now()
    assert(c:write(msg) == #msg)
    local got = ""
    while #got < #msg do
        got = got .. assert(c:read(#msg - #got))
    end
    assert(got == msg)
    return (lnet.now() - t) * 1000
end

function cs.median(list)
    local s = {}
    for i, v in ipairs(list) do
        s[i] = v
    end
    table.sort(s)
    return s[math.floor((#s + 1) / 2)]
end

-- The events of proxy p whose fields match all of `match`.
function cs.events(p, match)
    local out = {}
    for _, e in ipairs(p:events()) do
        local ok = true
        for k, v in pairs(match) do
            if e[k] ~= v then
                ok = false
            end
        end
        if ok then
            out[#out + 1] = e
        end
    end
    return out
end

-- A checksum of s (Adler-32), for "every byte arrived intact".
function cs.adler(s)
    local a, b = 1, 0
    for i = 1, #s, 4096 do
        local chunk = { s:byte(i, math.min(i + 4095, #s)) }
        for j = 1, #chunk do
            a = (a + chunk[j]) % 65521
            b = (b + a) % 65521
        end
    end
    return b * 65536 + a
end

-- Runs fn(i) for i = 1..n with at most `width` running at once; returns
-- the results by i.
function cs.parallel(n, width, fn)
    local results, next_i = {}, 1
    local wg = lnet.wait_group()
    for _ = 1, math.min(width, n) do
        wg:add(1)
        lnet.go(function()
            while next_i <= n do
                local i = next_i
                next_i = i + 1
                results[i] = fn(i)
            end
            wg:done()
        end)
    end
    wg:wait()
    return results
end

return cs
