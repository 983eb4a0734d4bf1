-- dns-server: serves a zone table over UDP and TCP on one port.
--   lnet scripts/dns-server.lua [-l address] zonefile.lua
-- The zone file is a Lua file returning the table lnet.dns.zone takes:
--   return { ["a.test."] = { A = {"127.0.0.1"}, MX = {{pref = 10, host = "mx.test."}} } }
-- (address defaults to 127.0.0.1:0). Prints "listening ADDRESS" once both
-- sockets are up; SIGINT or SIGTERM ends it (exit 0).
local lnet = require "lnet"
local dns = require "lnet.dns"

local function usage(msg)
    io.stderr:write("dns-server: ", msg, "\nusage: lnet scripts/dns-server.lua [-l address] zonefile.lua\n")
    os.exit(2)
end

local args, address, file = { ... }, "127.0.0.1:0", nil
local i = 1
while i <= #args do
    local a = args[i]
    if a == "-l" then
        address = args[i + 1] or usage("-l needs an address")
        i = i + 1
    elseif file == nil and a:sub(1, 1) ~= "-" then
        file = a
    else
        usage("unexpected argument " .. a)
    end
    i = i + 1
end
if file == nil then
    usage("no zone file")
end

local chunk, err = loadfile(file)
if chunk == nil then
    usage(err)
end
local ok, zone = pcall(chunk)
if not ok or type(zone) ~= "table" then
    usage(file .. ": " .. (ok and "does not return a table" or tostring(zone)))
end

local server
server, err = dns.server { listen = address, zone = zone }
if server == nil then
    io.stderr:write("dns-server: ", tostring(err), "\n")
    os.exit(1)
end
local shutdown = lnet.main_context() -- caught from here on, before anyone is told where to ask
io.stdout:write("listening ", tostring(server:addr()), "\n")
io.stdout:flush()
shutdown:done()
server:close()
