-- tls-probe: connects to a TLS server and prints what the handshake agreed,
-- as `openssl s_client -brief` prints it (and the ALPN protocol, the name
-- sent, the certificate's names and dates, which -brief leaves out).
--   lnet scripts/tls-probe.lua host:port [-servername name] [-alpn h2,http/1.1]
--       [-CAfile file] [-insecure] [-tls1_2 | -tls1_3] [-timeout seconds]
-- The name sent and verified is -servername, else host (an IP is checked
-- against the certificate's IP SANs and not sent). Verification is against
-- the system's roots (or -CAfile); when it fails, the probe says why (Go's
-- words), connects again without verifying and prints the rest, as
-- s_client does. -timeout (10 s) bounds each connection, dial and
-- handshake. Exit status: 0 connected and verified, 1 verification failed
-- or no connection, 2 bad arguments.

local lnet = require "lnet"
local tls = lnet.tls
local errors = lnet.errors

local stderr, stdout = io.stderr, io.stdout
local format, concat = string.format, table.concat

local function usage()
    stderr:write("usage: tls-probe host:port [-servername name] [-alpn proto,...] [-CAfile file] [-insecure]"
        .. " [-tls1_2|-tls1_3] [-timeout seconds]\n")
    os.exit(2)
end

local args, address = { ... }, nil
local opts, timeout, insecure = {}, 10, false
local i = 1
while i <= #args do
    local a, v = args[i], args[i + 1]
    if a == "-servername" and v then
        opts.server_name, i = v, i + 1
    elseif a == "-alpn" and v then
        opts.alpn = {}
        for p in v:gmatch("[^,]+") do
            opts.alpn[#opts.alpn + 1] = p
        end
        i = i + 1
    elseif a == "-CAfile" and v then
        opts.ca_file, i = v, i + 1
    elseif a == "-timeout" and tonumber(v) and tonumber(v) > 0 then
        timeout, i = tonumber(v), i + 1
    elseif a == "-insecure" then
        insecure = true
    elseif a == "-tls1_2" or a == "-tls1_3" then
        opts.min_version = a:sub(5):gsub("_", ".")
        opts.max_version = opts.min_version
    elseif address == nil and a:sub(1, 1) ~= "-" then
        address = a
    else
        usage()
    end
    i = i + 1
end
if address == nil or lnet.split_host_port(address) == nil then
    usage()
end

-- One connection, dial and handshake within the timeout.
local function connect(verify)
    opts.verify = verify
    local ctx, cancel = lnet.context.with_timeout(lnet.context.background(), timeout)
    local c, err = tls.dial("tcp", address, opts, ctx)
    cancel()
    return c, err
end

-- A name as s_client prints it: OpenSSL's one-line form (RFC 2253's
-- attributes in the other order, " = " and ", ").
local function oneline(rfc2253)
    local parts = {}
    for attr in (rfc2253 .. ","):gmatch("(.-[^\\]),") do
        table.insert(parts, 1, (attr:gsub("^(%w+)=", "%1 = ")))
    end
    return concat(parts, ", ")
end

local c, err = connect(not insecure)
local verify_err = c == nil and errors.as(err, "TLSError") and errors.as(err, "TLSError").verify_code and err
if verify_err then
    stdout:write("verify error: ", tostring(verify_err), "\n")
    c, err = connect(false)
end
if c == nil then
    stderr:write("tls-probe: ", tostring(err), "\n")
    os.exit(1)
end

local st = assert(c:connection_state())
local leaf = st.peer_certificates[1]
local lines = {
    "CONNECTION ESTABLISHED",
    "Protocol version: " .. st.version:gsub("^TLS ", "TLSv"),
    "Ciphersuite: " .. st.cipher_suite,
}
if leaf then
    local sans = {}
    for _, n in ipairs(leaf.dns_names) do
        sans[#sans + 1] = "DNS:" .. n
    end
    for _, a in ipairs(leaf.ip_addresses) do
        sans[#sans + 1] = "IP:" .. tostring(a)
    end
    lines[#lines + 1] = "Peer certificate: " .. oneline(leaf.subject)
    lines[#lines + 1] = "Issuer: " .. oneline(leaf.issuer)
    lines[#lines + 1] = "Subject alternative names: " .. (#sans > 0 and concat(sans, ", ") or "(none)")
    lines[#lines + 1] = format("Validity: %s to %s", os.date("!%Y-%m-%dT%H:%M:%SZ", leaf.not_before),
        os.date("!%Y-%m-%dT%H:%M:%SZ", leaf.not_after))
end
lines[#lines + 1] = "Server name: " .. tostring(st.server_name or "(none)")
lines[#lines + 1] = "ALPN protocol: " .. tostring(st.negotiated_protocol or "(none)")
if insecure then
    lines[#lines + 1] = "Verification: skipped"
elseif verify_err then
    lines[#lines + 1] = "Verification error: " .. tostring(verify_err)
else
    lines[#lines + 1] = "Verification: OK"
end
stdout:write(concat(lines, "\n"), "\n")
c:close()
os.exit(verify_err and 1 or 0)
