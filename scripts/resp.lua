-- resp: a redis-cli for scripts, on lnet.proto.resp.
--   lnet scripts/resp.lua [-a address] [-3] command [args...]   one command, its reply printed
--   lnet scripts/resp.lua [-a address] [-3] -                   commands from stdin, one a line,
--                                                               sent in one write, replies in order
--   lnet scripts/resp.lua [-a address] subscribe channel...     prints messages until interrupted
-- address defaults to 127.0.0.1:6379 (a path with a / is a unix socket).
-- Replies print as redis-cli prints them; exit 1 on an error reply.
local lnet = require "lnet"
local resp = require "lnet.proto.resp"

local args, address, protocol = { ... }, "127.0.0.1:6379", 2
while args[1] == "-a" or args[1] == "-3" do
    if table.remove(args, 1) == "-a" then
        address = table.remove(args, 1)
    else
        protocol = 3
    end
end
if #args == 0 then
    io.stderr:write("usage: resp.lua [-a address] [-3] command [args...] | - | subscribe channel...\n")
    os.exit(2)
end

local function show(v, indent)
    indent = indent or ""
    if v == resp.null then
        return "(nil)"
    elseif type(v) == "number" or type(v) == "cdata" then
        return "(integer) " .. tostring(v):gsub("LL$", "")
    elseif type(v) == "boolean" then
        return v and "(true)" or "(false)"
    elseif lnet.errors.as(v, "RESPError") then
        return "(error) " .. tostring(v)
    elseif type(v) ~= "table" then
        return '"' .. v .. '"'
    end
    if #v == 0 and next(v) ~= nil then -- a map
        local out, i = {}, 0
        for k, x in pairs(v) do
            i = i + 1
            out[#out + 1] = ("%s%d# %s => %s"):format(i > 1 and indent or "", i, show(k), show(x, indent .. "   "))
        end
        return table.concat(out, "\n")
    elseif #v == 0 then
        return "(empty array)"
    end
    local out = {}
    for i, x in ipairs(v) do
        out[i] = ("%s%d) %s"):format(i > 1 and indent or "", i, show(x, indent .. "   "))
    end
    return table.concat(out, "\n")
end

local cl = assert(resp.connect(address, { protocol = protocol, timeout = 5 }))
local function reply(v, err)
    if v == nil and lnet.errors.as(err, "RESPError") == nil then
        io.stderr:write("resp: ", tostring(err), "\n")
        os.exit(1)
    end
    print(v == nil and show(err) or show(v))
    return v ~= nil
end

if args[1] == "-" then
    local n, ok = 0, true
    for line in io.lines() do
        local words = {}
        for w in line:gmatch("%S+") do
            words[#words + 1] = w
        end
        if #words > 0 then
            cl:send(unpack(words))
            n = n + 1
        end
    end
    assert(cl:flush())
    for _ = 1, n do
        ok = reply(cl:receive()) and ok
    end
    os.exit(ok and 0 or 1)
elseif args[1]:lower() == "subscribe" then
    cl:send(unpack(args))
    assert(cl:flush())
    local stop = lnet.main_context()
    while true do
        local msg, err
        if protocol == 3 then
            msg, err = cl:push(stop)
        else
            msg, err = cl:receive(stop)
        end
        if msg == nil then
            if stop:err() then
                os.exit(0)
            end
            reply(nil, err)
        end
        print(show(msg))
        io.stdout:flush()
    end
end
os.exit(reply(cl:call(unpack(args))) and 0 or 1)
