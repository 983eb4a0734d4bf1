-- lines.lua: bench/lines's splitter written with lnet.bufio's read_line.
--   lnet bench/lines.lua PATH
-- Listens on the unix socket PATH, takes one conn, reads it line by line
-- to its end, and prints "lines N bytes B seconds S longest L" (S from the
-- first byte to end of stream), as `bench/lines split PATH` does.
local lnet = require "lnet"

local path = assert(..., "usage: lnet bench/lines.lua PATH")
os.remove(path)
local ln = assert(lnet.listen("unix", path))
io.stdout:write("listening ", path, "\n")
io.stdout:flush()
local c = assert(ln:accept())
local r = lnet.bufio.reader(c, 65536)
local lines, bytes, longest = 0, 0, 0
assert(r:peek(1)) -- the clock starts with the first byte
local t0 = lnet.now()
while true do
    local line = r:read_line()
    if line == nil then
        break
    end
    local n = #line
    lines, bytes = lines + 1, bytes + n + 1
    if n > longest then
        longest = n
    end
end
io.stdout:write(("lines %d bytes %d seconds %.6f longest %d\n"):format(lines, bytes, lnet.now() - t0, longest))
c:close()
ln:close()
