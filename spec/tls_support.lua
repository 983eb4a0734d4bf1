-- What the TLS specs share: certificates made for the run by the openssl
-- command (`openssl req`, `x509`, `ca`), in a temp directory, and the
-- options that use them. certs() makes them once per process, when a spec
-- file loads (outside any lnet.run: the commands block); cleanup() removes
-- them (a file's teardown).

local tls_support = {}

local dir

local function sh(cmd)
    local ok = os.execute(cmd .. " >/dev/null 2>&1")
    assert(ok == 0 or ok == true, "failed: " .. cmd)
end

local function q(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
end

-- An EC key (P-256: fast to make) and its certificate request.
local function csr(name, subject)
    sh(("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s -subj %s")
        :format(q(dir .. "/" .. name .. ".key"), q(dir .. "/" .. name .. ".csr"), q(subject)))
end

-- Signs name's request with the CA ca for the given days and SANs.
local function sign(name, ca, sans, days)
    local ext = dir .. "/" .. name .. ".ext"
    write(ext, "subjectAltName=" .. sans .. "\nextendedKeyUsage=serverAuth,clientAuth\n")
    sh(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -days %d -sha256 -extfile %s -out %s")
        :format(q(dir .. "/" .. name .. ".csr"), q(dir .. "/" .. ca .. ".pem"), q(dir .. "/" .. ca .. ".key"),
            days or 2, q(ext), q(dir .. "/" .. name .. ".pem")))
end

-- A CA: a self-signed certificate that may sign.
local function ca(name, subject)
    sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s -days 2 "
        .. "-subj %s -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
        :format(q(dir .. "/" .. name .. ".key"), q(dir .. "/" .. name .. ".pem"), q(subject)))
end

-- A leaf with fixed validity dates (YYYYMMDDHHMMSSZ), through `openssl ca`,
-- the command that takes them.
local function dated(name, cacert, sans, startdate, enddate)
    local cadir = dir .. "/ca-" .. name
    sh("mkdir -p " .. q(cadir))
    write(cadir .. "/index.txt", "")
    write(cadir .. "/serial", "1000\n")
    write(cadir .. "/ca.cnf", table.concat({
        "[ca]", "default_ca = d", "[d]", "dir = " .. cadir, "database = $dir/index.txt",
        "new_certs_dir = $dir", "serial = $dir/serial", "default_md = sha256", "policy = p",
        "copy_extensions = none", "x509_extensions = x", "unique_subject = no",
        "[p]", "commonName = supplied", "[x]", "subjectAltName = " .. sans, "",
    }, "\n"))
    sh(("openssl ca -batch -notext -config %s -cert %s -keyfile %s -in %s -out %s -startdate %s -enddate %s")
        :format(q(cadir .. "/ca.cnf"), q(dir .. "/" .. cacert .. ".pem"), q(dir .. "/" .. cacert .. ".key"),
            q(dir .. "/" .. name .. ".csr"), q(dir .. "/" .. name .. ".pem"), startdate, enddate))
end

-- The certificates, made on first call: {dir, ca (the CA's pem), other_ca,
-- and for each leaf name a {cert, key}}: a ("a.test", "localhost",
-- 127.0.0.1, ::1), b ("b.test"), client (a client certificate), expired
-- and future (a.test, out of their dates), self (a.test, self-signed),
-- stranger (a.test, signed by other_ca), and mismatch (a's cert, b's key).
function tls_support.certs()
    if dir ~= nil then
        return tls_support.paths
    end
    dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -m 700 " .. q(dir))
    ca("ca", "/CN=lnet test CA")
    ca("other", "/CN=another CA")
    local all = "DNS:a.test,DNS:localhost,IP:127.0.0.1,IP:::1"
    csr("a", "/CN=a.test")
    sign("a", "ca", all)
    csr("b", "/CN=b.test")
    sign("b", "ca", "DNS:b.test")
    csr("client", "/CN=client")
    sign("client", "ca", "DNS:client")
    csr("stranger", "/CN=a.test")
    sign("stranger", "other", all)
    csr("expired", "/CN=a.test")
    dated("expired", "ca", all, "20200101000000Z", "20200102000000Z")
    csr("future", "/CN=a.test")
    dated("future", "ca", all, "20991231000000Z", "20991231120000Z")
    sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s -days 2 "
        .. "-subj /CN=a.test -addext subjectAltName=DNS:a.test"):format(q(dir .. "/self.key"), q(dir .. "/self.pem")))
    local paths = { dir = dir, ca = dir .. "/ca.pem", other_ca = dir .. "/other.pem" }
    for _, name in ipairs({ "a", "b", "client", "stranger", "expired", "future", "self" }) do
        paths[name] = { cert = dir .. "/" .. name .. ".pem", key = dir .. "/" .. name .. ".key" }
    end
    paths.mismatch = { cert = paths.a.cert, key = paths.b.key }
    tls_support.paths = paths
    return paths
end

function tls_support.cleanup()
    if dir ~= nil then
        sh("rm -rf " .. q(dir))
        dir, tls_support.paths = nil, nil
    end
end

-- Server options with leaf name's certificate, merged with extra.
function tls_support.server_opts(name, extra)
    local p = tls_support.certs()
    local opts = { cert = p[name].cert, key = p[name].key }
    for k, v in pairs(extra or {}) do
        opts[k] = v
    end
    return opts
end

-- Client options trusting the test CA, for server_name a.test, merged with extra.
function tls_support.client_opts(extra)
    local opts = { server_name = "a.test", ca_file = tls_support.certs().ca }
    for k, v in pairs(extra or {}) do
        opts[k] = v
    end
    return opts
end

return tls_support
