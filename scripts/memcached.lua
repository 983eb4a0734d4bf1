-- memcached: a command-line client on lnet.proto.memcached.
--   lnet scripts/memcached.lua [-s address] get key...
--   lnet scripts/memcached.lua [-s address] set key value [exptime [flags]]
--   lnet scripts/memcached.lua [-s address] delete key | incr key n | decr key n | stats | version
-- (address defaults to 127.0.0.1:11211). Prints the result; exit 1 on a
-- miss, a refusal or an error.
local lnet = require "lnet"
local memcached = require "lnet.proto.memcached"

local args, address = { ... }, "127.0.0.1:11211"
if args[1] == "-s" then
    table.remove(args, 1)
    address = table.remove(args, 1)
end
local cmd = table.remove(args, 1)
local mc, err = memcached.connect(address, { timeout = 5 })
if mc == nil then
    io.stderr:write("memcached: ", tostring(err), "\n")
    os.exit(1)
end

local function done(ok, why)
    if ok == nil or ok == false then
        io.stderr:write("memcached: ", tostring(why or "miss"), "\n")
        os.exit(1)
    end
    os.exit(0)
end

if cmd == "get" then
    local found = mc:get_multi(args)
    for _, k in ipairs(args) do
        if found and found[k] then
            print(k .. " " .. found[k][1])
        end
    end
    done(found and next(found) ~= nil)
elseif cmd == "set" then
    done(mc:set(args[1], args[2], tonumber(args[3]), tonumber(args[4])))
elseif cmd == "delete" then
    done(mc:delete(args[1]))
elseif cmd == "incr" or cmd == "decr" then
    local v, why = mc[cmd](mc, args[1], tonumber(args[2]))
    if v then
        print(v)
    end
    done(v, why)
elseif cmd == "stats" then
    local stats, why = mc:stats()
    for k, v in pairs(stats or {}) do
        print(k .. " " .. v)
    end
    done(stats, why)
elseif cmd == "version" then
    local v, why = mc:version()
    print(v)
    done(v, why)
end
io.stderr:write("usage: memcached.lua [-s address] get|set|delete|incr|decr|stats|version ...\n")
os.exit(2)
