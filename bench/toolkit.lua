-- toolkit.lua: the protocol toolkit's benchmarks, each lnet beside its C
-- floor in one run: interleaved rounds (C, lnet, lnet, C, ...), a fresh
-- server per round pinned to CPU 0 (its load on CPU 1, both at nice -20
-- as root), the median of the per-round ratios lnet/C with their range.
--   build/lnet bench/toolkit.lua [http] [lines]      (default: both)
-- http:  scripts/http-server.lua vs bench/http_ev (the same bytes per
--        answer) under wrk, keep-alive, 50 conns, 1 thread: requests/s
-- lines: bench/lines.lua (bufio read_line) vs `bench/lines split` (C
--        memchr) over LINES_BYTES of 100-byte lines through a unix
--        socket, fed by `bench/lines feed`: MB/s
-- Environment: BUILD=build, HTTP_ROUNDS=8, HTTP_SECONDS=2, LINES_ROUNDS=5,
-- LINES_BYTES=1e9. (The echo written with bufio is bench/run's:
-- LNET_ECHO="build/lnet scripts/echo.lua 127.0.0.1:0 --bufio" bench/run.)
local lnet = require "lnet"

local BUILD = os.getenv("BUILD") or "build"
local HTTP_ROUNDS = tonumber(os.getenv("HTTP_ROUNDS")) or 8
local HTTP_SECONDS = tonumber(os.getenv("HTTP_SECONDS")) or 2
local LINES_ROUNDS = tonumber(os.getenv("LINES_ROUNDS")) or 5
local LINES_BYTES = tonumber(os.getenv("LINES_BYTES")) or 1e9

local phases = { ... }
if #phases == 0 then
    phases = { "http", "lines" }
end

-- Pinned and, as root, at the highest priority (bench/run's reasons).
local root
local function pinned(cpu, argv)
    local out = { "taskset", "-c", tostring(cpu) }
    if root then
        out = { "nice", "-n", "-20", "taskset", "-c", tostring(cpu) }
    end
    for _, a in ipairs(argv) do
        out[#out + 1] = a
    end
    return out
end

-- Starts argv, waits for its "listening X" line: proc, X.
local function start(argv)
    local proc = assert(lnet.process.spawn({ argv = pinned(0, argv), stdout = "pipe", stderr = "inherit" }))
    local r = lnet.bufio.reader(proc.stdout)
    local line = assert(r:read_line(), "no listening line from " .. table.concat(argv, " "))
    return proc, line:match("^listening (.+)$"), r
end

local function stop(proc)
    proc:kill("SIGTERM")
    proc:wait()
    proc.stdout:close()
end

-- Runs argv to its end: its stdout.
local function run(argv)
    local proc = assert(lnet.process.spawn({ argv = argv, stdout = "pipe", stderr = "inherit" }))
    local out = {}
    while true do
        local s = proc.stdout:read()
        if s == nil then
            break
        end
        out[#out + 1] = s
    end
    proc:wait()
    proc.stdout:close()
    return table.concat(out)
end

root = run({ "id", "-u" }) == "0\n"

local SERVERS = {
    http = {
        C = { BUILD .. "/bench/http_ev", "127.0.0.1:0" },
        lnet = { BUILD .. "/lnet", "scripts/http-server.lua", "127.0.0.1:0" },
    },
    lines = {
        C = { BUILD .. "/bench/lines", "split" },
        lnet = { BUILD .. "/lnet", "bench/lines.lua" },
    },
}

-- One measurement of `who` in `phase`: its figure (higher is better).
local function measure(phase, who)
    if phase == "http" then
        local proc, addr = start(SERVERS.http[who])
        local out = run(pinned(1, { "wrk", "-t1", "-c50", "-d" .. HTTP_SECONDS .. "s", "http://" .. addr .. "/" }))
        stop(proc)
        assert(not out:find("Non%-2xx"), "wrk saw errors: " .. out)
        return tonumber(out:match("Requests/sec:%s*([%d.]+)"))
    end
    local path = os.tmpname()
    os.remove(path)
    local argv = {}
    for i, a in ipairs(SERVERS.lines[who]) do
        argv[i] = a
    end
    argv[#argv + 1] = path
    local proc, _, r = start(argv)
    run(pinned(1, { BUILD .. "/bench/lines", "feed", path, tostring(LINES_BYTES) }))
    local line = assert(r:read_line())
    proc:wait()
    proc.stdout:close()
    local lines, bytes, secs = line:match("^lines (%d+) bytes (%d+) seconds ([%d.]+)")
    assert(tonumber(bytes) >= LINES_BYTES - 100 and tonumber(lines) == tonumber(bytes) / 100, line)
    return bytes / secs / 1e6
end

local function median(t)
    local s = {}
    for i, v in ipairs(t) do
        s[i] = v
    end
    table.sort(s)
    local n = #s
    return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2, s[1], s[n]
end

local TARGET = { http = 0.7, lines = 0.5 }
local UNIT = { http = "requests/s", lines = "MB/s" }
local ROUNDS = { http = HTTP_ROUNDS, lines = LINES_ROUNDS }

io.stderr:write("toolkit bench: load average before: ", io.open("/proc/loadavg"):read("*l"), "\n")
local results = {}
for _, phase in ipairs(phases) do
    local got = { C = {}, lnet = {}, ratio = {} }
    for round = 1, ROUNDS[phase] do
        local order = round % 2 == 1 and { "C", "lnet" } or { "lnet", "C" }
        local fig = {}
        for _, who in ipairs(order) do
            fig[who] = measure(phase, who)
            io.stderr:write(("toolkit bench: %s %d/%d %s: %.1f %s\n"):format(phase, round, ROUNDS[phase], who,
                fig[who], UNIT[phase]))
        end
        got.C[round], got.lnet[round], got.ratio[round] = fig.C, fig.lnet, fig.lnet / fig.C
    end
    results[#results + 1] = { phase, got }
end

print(("%-7s %-12s %12s %12s %7s %-11s %-7s"):format("phase", "metric", "lnet", "C", "lnet/C", "range", "target"))
for _, res in ipairs(results) do
    local phase, got = res[1], res[2]
    local ratio, lo, hi = median(got.ratio)
    print(("%-7s %-12s %12.1f %12.1f %7.2f %-11s >= %.2f %s"):format(phase, UNIT[phase], median(got.lnet),
        median(got.C), ratio, ("%.2f-%.2f"):format(lo, hi), TARGET[phase], ratio >= TARGET[phase] and "ok" or "MISS"))
end
print("load average after: " .. io.open("/proc/loadavg"):read("*l"))
