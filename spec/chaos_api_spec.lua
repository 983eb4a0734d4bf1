-- lnet.chaos.api and scripts/chaos-proxy.lua: Toxiproxy's HTTP API, driven
-- by Toxiproxy's own Node client (toxiproxy-node-client, installed by
-- .ci/setup) and by curl, each call checked for its effect on traffic; the
-- JSON shapes of Toxiproxy's documentation; bad input (issue 14).

local lnet = require "lnet"
local json = require "lnet.json"
local api = require "lnet.chaos.api"
local support = require "support"
local cs = require "chaos_support"

local process = lnet.process

-- Our environment without LD_PRELOAD: the sanitizer run preloads ASan for
-- luajit, and curl hangs with it (node and lnet do not need it either).
local function child_env()
    local env = {}
    for _, kv in ipairs(process.environ()) do
        if not kv:find("^LD_PRELOAD=") then
            env[#env + 1] = kv
        end
    end
    return env
end

-- Runs argv to its end; its stdout and exit code.
local function run(argv)
    local proc = assert(process.spawn { argv = argv, stdout = "pipe", env = child_env() })
    local out = support.read_all(proc.stdout)
    proc.stdout:close()
    return out, proc:wait()
end

-- An API on a fresh port, and its base URL.
local function api_server(opts)
    local server = api.new(opts or { seed = 1 })
    local ln = assert(server:listen("127.0.0.1:0"))
    return server, "http://" .. tostring(ln:addr())
end

-- curl: status, body (and the raw head).
local function curl(method, url, body)
    local argv = { "curl", "-s", "-i", "-X", method, url }
    if body ~= nil then
        argv[#argv + 1] = "--data-binary"
        argv[#argv + 1] = body
    end
    local out = run(argv)
    local head, rest = out:match("^(.-)\r\n\r\n(.*)$")
    return tonumber(head:match("^HTTP/1%.1 (%d+)")), rest, head
end

describe("chaos API driven by Toxiproxy's Node client", function()
    it("creates, adds latency, updates, disables, enables, removes, populates, resets and deletes", function()
        local up = cs.echo()
        local server, url = api_server()
        local out, code = run { "node", "spec/fixtures/toxiproxy-node/drive.js", url, up.addr }
        local steps = {}
        for line in out:gmatch("[^\n]+") do
            local step = assert(json.decode(line))
            steps[step.step] = step
        end
        assert.are.equal(0, code, out)
        assert.are.same({ "echo", true, up.addr }, { steps.create.name, steps.create.enabled, steps.create.upstream })
        assert.is_true(steps.create.base.ms < 100)
        assert.are.same({ "latency_downstream", "downstream", 1 }, { steps.add.name, steps.add.stream, steps.add.toxicity })
        assert.are.equal(100, steps.add.attributes.latency)
        assert.is_true(steps.add.rtt.ms >= 100, out)
        assert.are.equal(200, steps.update.attributes.latency)
        assert.is_true(steps.update.rtt.ms >= 200, out)
        assert.are.same({ false, "ECONNREFUSED" }, { steps.disable.enabled, steps.disable.rtt.error })
        assert.is_true(steps.enable.enabled)
        assert.is_true(steps.enable.rtt.ms >= 200, out)
        assert.is_true(steps.remove.rtt.ms < 100, out)
        assert.are.equal("pop", steps.populate.name)
        assert.is_true(steps.populate.rtt.ms >= 300, out)
        assert.is_true(steps.reset.rtt.ms < 100, out)
        assert.are.same({ "pop" }, steps.delete.proxies)
        assert.are.equal("ECONNREFUSED", steps.delete.rtt.error)
        assert.are.equal("Request failed with status code 404", steps.missing.error)
        assert.is_truthy(steps.version.version:find('"version"', 1, true))
        server:close()
        up:close()
    end)
end)

describe("chaos API with curl", function()
    it("gives Toxiproxy's JSON shapes and status codes for the same sequence", function()
        local up = cs.echo()
        local server, url = api_server()
        local status, body = curl("POST", url .. "/proxies",
            '{"name":"echo","listen":"127.0.0.1:0","upstream":"' .. up.addr .. '"}')
        assert.are.equal(201, status)
        local listen = json.decode(body).listen
        assert.are.equal('{"name":"echo","listen":"' .. listen .. '","upstream":"' .. up.addr
            .. '","enabled":true,"toxics":[]}', body)

        status, body = curl("POST", url .. "/proxies/echo/toxics",
            '{"type":"latency","stream":"downstream","attributes":{"latency":100,"jitter":10}}')
        assert.are.equal(200, status)
        local toxic = '{"attributes":{"latency":100,"jitter":10},"name":"latency_downstream","type":"latency",'
            .. '"stream":"downstream","toxicity":1}'
        assert.are.equal(toxic, body)
        local c = assert(lnet.dial("tcp", listen))
        assert.is_true(cs.rtt(c) >= 85)

        status, body = curl("PATCH", url .. "/proxies/echo/toxics/latency_downstream",
            '{"attributes":{"latency":5},"toxicity":0.5}')
        assert.are.equal(200, status)
        assert.are.equal('{"attributes":{"latency":5,"jitter":10},"name":"latency_downstream","type":"latency",'
            .. '"stream":"downstream","toxicity":0.5}', body)

        status, body = curl("GET", url .. "/proxies/echo/toxics")
        assert.are.equal(200, status)
        assert.are.equal("[" .. body:sub(2, -2) .. "]", body)
        status, body = curl("GET", url .. "/proxies")
        assert.are.equal(200, status)
        assert.are.same({ "echo" }, (function()
            local names = {}
            for k in pairs(json.decode(body)) do
                names[#names + 1] = k
            end
            return names
        end)())

        status, body = curl("POST", url .. "/proxies/echo", '{"enabled":false}')
        assert.are.equal(200, status)
        assert.is_false(json.decode(body).enabled)
        local _, err = c:read(1)
        assert.is_truthy(err)
        c:close()
        assert.is_nil(lnet.dial("tcp", listen))
        status = curl("POST", url .. "/proxies/echo", '{"enabled":true}')
        assert.are.equal(200, status)
        c = assert(lnet.dial("tcp", listen))
        cs.rtt(c)
        c:close()

        status, body = curl("DELETE", url .. "/proxies/echo/toxics/latency_downstream")
        assert.are.same({ 204, "" }, { status, body })

        status, body = curl("POST", url .. "/populate",
            '[{"name":"pop","listen":"127.0.0.1:0","upstream":"' .. up.addr .. '"}]')
        assert.are.equal(201, status)
        local pop = json.decode(body).proxies[1]
        assert.are.equal('{"proxies":[{"name":"pop","listen":"' .. pop.listen .. '","upstream":"' .. up.addr
            .. '","enabled":true,"toxics":[]}]}', body)

        status, body = curl("POST", url .. "/reset")
        assert.are.same({ 204, "" }, { status, body })
        status, body = curl("DELETE", url .. "/proxies/echo")
        assert.are.same({ 204, "" }, { status, body })
        assert.is_nil(lnet.dial("tcp", listen))

        status, body = curl("GET", url .. "/version")
        assert.are.equal(200, status)
        assert.are.equal('{"version": "' .. lnet._VERSION .. '"}\n', body)
        status, body = curl("GET", url .. "/metrics")
        assert.are.equal(200, status)
        assert.is_truthy(body:find('chaos_proxy_connections{proxy="pop"} 0', 1, true))
        server:close()
        up:close()
    end)

    it("answers bad input with Toxiproxy's status codes and JSON error bodies", function()
        local up = cs.echo()
        local server, url = api_server()
        local function err_body(status, msg)
            return json.encode(json.object({ error = msg, status = status }, { "error", "status" }),
                { html = true }) .. "\n"
        end
        local cases = {
            { "GET", "/proxies/nope", nil, 404, "proxy not found" },
            { "POST", "/proxies", "{bad", 400, "bad request body: unexpected character 'b' looking for an object key at byte 2" },
            { "POST", "/proxies", '{"upstream":"x:1"}', 400, "missing required field: name" },
            { "POST", "/proxies", '{"name":"p"}', 400, "missing required field: upstream" },
            { "POST", "/proxies", '{"name":5,"upstream":"x:1"}', 400, "bad request body: proxy: name must be a string, got 5" },
        }
        for _, case in ipairs(cases) do
            local status, body, head = curl(case[1], url .. case[2], case[3])
            assert.are.same({ case[4], err_body(case[4], case[5]) }, { status, body })
            assert.is_truthy(head:find("Content-Type: text/plain; charset=utf-8", 1, true))
        end
        local status, body = curl("POST", url .. "/proxies",
            '{"name":"p","listen":"127.0.0.1:0","upstream":"' .. up.addr .. '"}')
        assert.are.equal(201, status)
        local listen = json.decode(body).listen
        local c = assert(lnet.dial("tcp", listen))
        cases = {
            { "POST", "/proxies", '{"name":"p","upstream":"' .. up.addr .. '"}', 409, "proxy already exists" },
            { "POST", "/proxies", '{"name":"q","listen":"' .. listen .. '","upstream":"x:1"}', 500,
              "listen tcp " .. listen .. ": bind: address already in use" },
            { "POST", "/proxies/p/toxics", '{"type":"nope"}', 400, "invalid toxic type" },
            { "POST", "/proxies/p/toxics", '{"type":"latency","stream":"sideways"}', 400,
              "stream was invalid, can be either upstream or downstream" },
            { "POST", "/proxies/p/toxics", '{"type":"latency","attributes":{"nope":1}}', 400,
              "bad request body: latency has no attribute nope" },
            { "POST", "/proxies/p/toxics", '{"type":"bandwidth","attributes":{"rate":-1}}', 400,
              "bad request body: bandwidth: rate must be a non-negative number, got -1" },
            { "POST", "/proxies/p/toxics", '{"type":"latency","toxicity":2}', 400,
              "bad request body: toxicity must be a number in [0, 1], got 2" },
            { "POST", "/proxies/p/toxics", '{"type":"latency"', 400,
              "bad request body: unexpected end of input after object value at byte 18" },
            { "GET", "/proxies/p/toxics/nope", nil, 404, "toxic not found" },
            { "DELETE", "/proxies/p/toxics/nope", nil, 404, "toxic not found" },
            { "POST", "/proxies/nope/toxics", '{"type":"latency"}', 404, "proxy not found" },
        }
        for _, case in ipairs(cases) do
            status, body = curl(case[1], url .. case[2], case[3])
            assert.are.same({ case[4], err_body(case[4], case[5]) }, { status, body })
        end
        assert.are.equal(200, (curl("POST", url .. "/proxies/p/toxics", '{"type":"latency"}')))
        status, body = curl("POST", url .. "/proxies/p/toxics", '{"type":"latency"}')
        assert.are.same({ 409, err_body(409, "toxic already exists") }, { status, body })
        status, body = curl("GET", url .. "/nowhere")
        assert.are.same({ 404, "404 page not found\n" }, { status, body })
        local big = os.tmpname()
        local f = assert(io.open(big, "w"))
        f:write('{"name":"', string.rep("x", 1024 * 1024), '"}')
        f:close()
        status = curl("POST", url .. "/proxies", "@" .. big)
        os.remove(big)
        assert.are.equal(413, status)
        status = curl("PUT", url .. "/proxies")
        assert.are.equal(405, status)
        cs.rtt(c) -- the proxy kept serving its conn throughout
        c:close()
        server:close()
        up:close()
    end)
end)

describe("scripts/chaos-proxy.lua", function()
    it("loads --config, prints -v lines, and ends with the --report table", function()
        local up = cs.echo()
        local config = os.tmpname()
        local f = assert(io.open(config, "w"))
        f:write('[{"name":"cfg","listen":"127.0.0.1:0","upstream":"' .. up.addr .. '"}]')
        f:close()
        local proc = assert(process.spawn { argv = { support.host, "scripts/chaos-proxy.lua", "--api", "127.0.0.1:0",
            "--config", config, "--seed", "4", "-v", "--report" }, stdout = "pipe" })
        local first = ""
        while not first:find("listening %S+\n") do
            first = first .. assert(proc.stdout:read())
        end
        local api_addr = first:match("listening (%S+)")
        assert.is_truthy(api_addr, first)
        local url = "http://" .. api_addr
        local status, body = curl("GET", url .. "/proxies/cfg")
        assert.are.equal(200, status)
        local listen = json.decode(body).listen
        assert.are.equal(200, (curl("POST", url .. "/proxies/cfg/toxics",
            '{"type":"latency","attributes":{"latency":30}}')))
        local c = assert(lnet.dial("tcp", listen))
        assert.is_true(cs.rtt(c) >= 25)
        c:close()
        lnet.sleep(0.05)
        proc:kill("SIGINT")
        local rest = support.read_all(proc.stdout)
        proc.stdout:close()
        assert.are.equal(0, proc:wait())
        os.remove(config)
        up:close()
        local out = first .. rest
        assert.is_truthy(out:find("conn 1 open", 1, true), out)
        assert.is_truthy(out:find("conn 1 down latency_downstream (latency) delay 4 bytes 30.0 ms", 1, true), out)
        assert.is_truthy(out:find("proxy%s+toxic%s+type%s+conns"), out)
        assert.is_truthy(out:find("cfg%s+latency_downstream%s+latency%s+1%s+%d+%s+4%s+0%s+30.0%s+30.0"), out)
    end)
end)
