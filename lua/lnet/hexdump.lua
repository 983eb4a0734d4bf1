-- lnet.hexdump: hexdump(s) -> the text `xxd` prints for s, byte for byte:
-- per 16 bytes a line of the offset (8 hex digits), a colon, the bytes as 8
-- groups of 2 in lowercase hex, two spaces and the bytes as text with '.'
-- for all but 0x20-0x7e; the last line's missing bytes are spaces. An
-- empty s is "", as xxd prints nothing.

local byte, sub, format, gsub, rep = string.byte, string.sub, string.format, string.gsub, string.rep
local concat = table.concat
local check_arg = require("lnet.errors").check_arg

local _M = {}

-- A full line up to its text column.
local LINE = "%08x: " .. rep("%02x%02x ", 7) .. "%02x%02x  "

local function text(chunk)
    return (gsub(chunk, "[^\32-\126]", "."))
end

-- The last line, short of 16 bytes: each byte as in a full line, the rest
-- of its columns blank.
local function short_line(offset, chunk)
    local hex = { format("%08x:", offset) }
    for i = 1, 16, 2 do
        local a, b = byte(chunk, i, i + 1)
        hex[#hex + 1] = (a and format("%02x", a) or "  ") .. (b and format("%02x", b) or "  ")
    end
    return concat(hex, " ") .. "  " .. text(chunk) .. "\n"
end

function _M.hexdump(s)
    check_arg(s, "string", 1, "hexdump")
    local lines = {}
    local full = #s - #s % 16
    for i = 1, full, 16 do
        local chunk = sub(s, i, i + 15)
        lines[#lines + 1] = format(LINE, i - 1, byte(chunk, 1, 16)) .. text(chunk) .. "\n"
    end
    if full < #s then
        lines[#lines + 1] = short_line(full, sub(s, full + 1))
    end
    return concat(lines)
end

return _M
