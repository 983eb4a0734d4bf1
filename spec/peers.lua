-- Real servers for the protocol specs (`local peers = require "peers"`):
-- redis-server, memcached and nginx from Debian, each started on a free
-- loopback port inside an `it` and stopped by the spec, never mocked.
-- Each start waits until the server accepts a conn (bounded), and raises
-- if it never does.

local lnet = require "lnet"
local support = require "support"

local peers = {}

-- A loopback TCP port that was free a moment ago.
function peers.free_port()
    local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
    local port = ln:addr().port
    ln:close()
    return port
end

-- Spawns argv without the ASan runtime (support.peer_environ) and waits
-- until 127.0.0.1:port accepts; returns {addr, proc, stop()}.
local function start(argv, port, cleanup, sig)
    local proc = assert(lnet.process.spawn({ argv = argv, env = support.peer_environ() }))
    local peer = { addr = "127.0.0.1:" .. port, port = port, proc = proc }
    function peer.stop()
        proc:kill(sig or "SIGTERM")
        local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), 5)
        local code = proc:wait(ctx)
        cancel()
        if code == nil and proc:kill("SIGKILL") then
            proc:wait()
        end
        if cleanup then
            cleanup()
        end
    end
    for _ = 1, 250 do
        local c = lnet.dial("tcp", peer.addr)
        if c then
            c:close()
            return peer
        end
        lnet.sleep(0.02)
    end
    peer.stop()
    error(argv[1] .. " did not accept on " .. peer.addr)
end

-- redis-server with nothing saved, DEBUG allowed (its PROTOCOL subcommand
-- sends every RESP3 type).
function peers.redis()
    local port = peers.free_port()
    return start({ "redis-server", "--port", tostring(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--protected-mode", "no", "--enable-debug-command", "yes",
                   "--loglevel", "warning", "--dir", "/tmp" }, port)
end

-- (memcached notices SIGTERM only on its once-a-second clock: it gets
-- SIGKILL, having nothing to save.)
function peers.memcached()
    local port = peers.free_port()
    return start({ "memcached", "-l", "127.0.0.1", "-p", tostring(port), "-U", "0", "-u", "root", "-m", "64",
                   "-t", "1" }, port, nil, "SIGKILL")
end

-- nginx in the foreground, as one process, over `root` (a directory), with
-- the extra `server` lines given (locations).
function peers.nginx(root, server_lines)
    local port = peers.free_port()
    local dir = support.temp_dir()
    local conf = dir .. "/nginx.conf"
    local f = assert(io.open(conf, "w"))
    f:write(([[
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    default_type application/octet-stream;
    keepalive_requests 1000;
    server {
        listen 127.0.0.1:%d;
        root %s;
        %s
    }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, port, root, table.concat(server_lines or {}, "\n        ")))
    f:close()
    return start({ "nginx", "-c", conf, "-e", dir .. "/error.log" }, port, function()
        support.rm_dir(dir)
    end)
end

return peers
