-- chaos-proxy: Toxiproxy's server, on lnet: its HTTP API drives chaos
-- proxies, so Toxiproxy's clients and CLI work against it.
--   lnet scripts/chaos-proxy.lua [--api host:port] [--config file.json]
--        [--seed n] [--log events.jsonl] [-v] [--report]
-- --api      where the API listens (default 127.0.0.1:8474)
-- --config   proxies to make at start, in Toxiproxy's JSON format
-- --seed     the seed of every proxy's draws (default: from the clock)
-- --log      every event appended to this file as a JSON line
-- -v         a line per conn opened and closed and per fault applied
-- --report   at the end, a table per toxic: conns, bytes delayed and
--            dropped, added latency p50/p99
-- Prints "listening ADDRESS" once the API is up; SIGINT or SIGTERM ends it
-- (exit 0).
local lnet = require "lnet"
local api = require "lnet.chaos.api"
local events = require "lnet.chaos.events"

local function usage(msg)
    io.stderr:write("chaos-proxy: ", msg, "\nusage: lnet scripts/chaos-proxy.lua [--api host:port] ",
        "[--config file.json] [--seed n] [--log file] [-v] [--report]\n")
    os.exit(2)
end

local args = { ... }
local opts = { api = "127.0.0.1:8474" }
local i = 1
while i <= #args do
    local a = args[i]
    local function value()
        i = i + 1
        return args[i] or usage(a .. " needs a value")
    end
    if a == "--api" then
        opts.api = value()
    elseif a == "--config" then
        opts.config = value()
    elseif a == "--seed" then
        opts.seed = tonumber(value()) or usage("--seed needs a number")
    elseif a == "--log" then
        opts.log = value()
    elseif a == "-v" then
        opts.verbose = true
    elseif a == "--report" then
        opts.report = true
    elseif a == "-h" or a == "--help" then
        usage("a Toxiproxy-compatible server")
    else
        usage("unexpected argument " .. a)
    end
    i = i + 1
end

local server = api.new {
    seed = opts.seed,
    log = opts.log,
    on_event = opts.verbose and function(e)
        io.stdout:write(events.line(e), "\n")
        io.stdout:flush()
    end or nil,
}

local shutdown = lnet.main_context() -- caught from here on, before anyone is told where to ask
if opts.config ~= nil then
    local made, err = server:load(opts.config)
    if made == nil then
        io.stderr:write("chaos-proxy: ", opts.config, ": ", tostring(err), "\n")
        server:close()
        os.exit(1)
    end
end
local ln, err = server:listen(opts.api)
if ln == nil then
    io.stderr:write("chaos-proxy: ", tostring(err), "\n")
    server:close()
    os.exit(1)
end
io.stdout:write("listening ", tostring(ln:addr()), "\n")
io.stdout:flush()
shutdown:done()
local rows = server:summary()
server:close()
if opts.report then
    io.stdout:write(events.report(rows))
end
