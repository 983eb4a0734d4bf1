-- lnet.tls: TLS conns on OpenSSL (core/tls.h), Go's crypto/tls as far as a
-- conn goes: client, server, dial, listen.
--
-- A TLS conn wraps a conn (tcp or unix) and parks on that conn's own sides,
-- so it keeps the whole conn contract: a reader and a writer at once,
-- deadlines (the conn's: setting them on either is the same), a ctx on every
-- call, close waking every call. Each method is one core call through
-- sched.retry, tail-called, as a conn's: an idle TLS conn parked in a read
-- costs its task what a conn's read does. The handshake runs on the first
-- read or write (or handshake()), as Go's.
--
-- Options are a plain table, read when the conn is made: {server_name, alpn,
-- verify, ca_file, ca_path, cert, key, min_version, max_version, ciphers,
-- session, client_auth, keylog_file}. What a config holds (all but
-- server_name, a client's alpn and session) makes one OpenSSL context,
-- kept by those settings, so conns made with the same ones share it.

local ffi = require "ffi"
local sys = require "lnet.sys"
local sched = require "lnet.sched"
local errors = require "lnet.errors"
local conn = require "lnet.conn"
local ip = require "lnet.ip"
local addr = require "lnet.addr"
local dial = require "lnet.dial"
local listener = require "lnet.listener"
local context = require "lnet.context"
local process = require "lnet.process"
local memo = require "lnet.memo"

local C = sys.C
local rbuf = sys.rbuf
local ffi_string, ffi_gc, ffi_new, istype = ffi.string, ffi.gc, ffi.new, ffi.istype
local setmetatable, type, error, tonumber, tostring, pairs, ipairs, pcall =
    setmetatable, type, error, tonumber, tostring, pairs, ipairs, pcall
local concat, char, format, lower, date = table.concat, string.char, string.format, string.lower, os.date
local open = io.open
local self_task, retry, check_ctx = sched.self_task, sched.retry, sched.check_ctx

local codes = sys.codes
local EDEADLINE, ETLS = -codes.EDEADLINE, -codes.ETLS
local ENOTCONN, ESHUTDOWN = -errors.errno.ENOTCONN.code, -errors.errno.ESHUTDOWN.code
local ErrClosed, EOF = errors.ErrClosed, errors.EOF
local code_error, RBUF_SIZE = conn.code_error, conn.RBUF_SIZE

local _M = {
    -- Go's protocol version numbers (tls.VersionTLS12 etc.).
    VersionTLS10 = 0x0301,
    VersionTLS11 = 0x0302,
    VersionTLS12 = 0x0303,
    VersionTLS13 = 0x0304,
}

---------------------------------------------------------------------------
-- TLSError{msg, err, reason, alert, remote, verify_code}: what fails in TLS
-- itself, in Go's words (`remote error: tls: bad certificate`, `x509:
-- certificate signed by unknown authority`). reason is OpenSSL's text of
-- the failure, alert the alert number, verify_code OpenSSL's X509_V_ERR_*;
-- err, when there is one, what it wraps (lnet.EOF: the peer closed during
-- the handshake).

local TLSError = errors.kind("TLSError", function(self)
    return self.msg
end, {
    unwrap = function(self)
        return self.err
    end,
})

local function tls_error(msg, t)
    t = t or {}
    t.msg = msg
    return setmetatable(t, TLSError)
end
_M.TLSError = tls_error

-- Go's alert.go texts.
local ALERTS = {
    [0] = "close notify", [10] = "unexpected message", [20] = "bad record MAC", [21] = "decryption failed",
    [22] = "record overflow", [30] = "decompression failure", [40] = "handshake failure",
    [42] = "bad certificate", [43] = "unsupported certificate", [44] = "revoked certificate",
    [45] = "expired certificate", [46] = "unknown certificate", [47] = "illegal parameter",
    [48] = "unknown certificate authority", [49] = "access denied", [50] = "error decoding message",
    [51] = "error decrypting message", [60] = "export restriction", [70] = "protocol version not supported",
    [71] = "insufficient security level", [80] = "internal error", [86] = "inappropriate fallback",
    [90] = "user canceled", [100] = "no renegotiation", [109] = "missing extension",
    [110] = "unsupported extension", [111] = "certificate unobtainable", [112] = "unrecognized name",
    [113] = "bad certificate status response", [114] = "bad certificate hash value",
    [115] = "unknown PSK identity", [116] = "certificate required", [120] = "no application protocol",
}

local function alert_text(n)
    return "tls: " .. (ALERTS[n] or ("alert(" .. n .. ")"))
end

---------------------------------------------------------------------------
-- Certificates: what connection_state and the x509 errors read of them.

local namebuf = ffi_new("char[?]", 4096)
local intp = ffi_new("int[1]")

-- A text the core writes into a buffer (fn(x, [arg,] buf, size) -> its
-- length or -1), asked again in a buffer of its size when it did not fit.
local function cert_text(fn, x, arg)
    local n
    if arg ~= nil then
        n = fn(x, arg, namebuf, 4096)
    else
        n = fn(x, namebuf, 4096)
    end
    if n < 0 then
        return nil
    elseif n <= 4096 then
        return ffi_string(namebuf, n)
    end
    local buf = ffi_new("char[?]", n)
    if arg ~= nil then
        fn(x, arg, buf, n)
    else
        fn(x, buf, n)
    end
    return ffi_string(buf, n)
end

local SAN_FIELDS = {
    [C.LNET_TLS_SAN_DNS] = "dns_names",
    [C.LNET_TLS_SAN_IP] = "ip_addresses",
    [C.LNET_TLS_SAN_EMAIL] = "email_addresses",
    [C.LNET_TLS_SAN_URI] = "uris",
}

-- The certificate x (an X509 *) as Go's x509.Certificate shows it.
local function certificate(x)
    local cert = {
        subject = cert_text(C.lnet_tls_cert_name, x, 0),
        issuer = cert_text(C.lnet_tls_cert_name, x, 1),
        serial = cert_text(C.lnet_tls_cert_serial, x),
        not_before = C.lnet_tls_cert_time(x, 0),
        not_after = C.lnet_tls_cert_time(x, 1),
        dns_names = {}, ip_addresses = {}, email_addresses = {}, uris = {},
    }
    for i = 0, 1023 do
        local n = C.lnet_tls_cert_san(x, i, intp, namebuf, 4096)
        if n < 0 then
            break
        end
        local field = SAN_FIELDS[intp[0]]
        if field ~= nil then
            local s = ffi_string(namebuf, n < 4096 and n or 4096)
            if field == "ip_addresses" then
                s = ip.addr_from_bytes(s)
            end
            if s ~= nil then
                local list = cert[field]
                list[#list + 1] = s
            end
        end
    end
    return cert
end

local function rfc3339(t)
    return date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- Go's matchHostnames for the legacy Common Name check: a name, or a
-- wildcard of one whole leftmost label.
local function matches(pattern, host)
    pattern, host = lower(pattern), lower(host)
    if pattern == host then
        return true
    end
    return pattern:sub(1, 2) == "*." and host:find(".", 1, true) ~= nil
        and pattern:sub(2) == host:sub((host:find(".", 1, true)))
end

-- Go's HostnameError.Error().
local function hostname_error(cert, host)
    local sans = #cert.dns_names + #cert.ip_addresses + #cert.email_addresses + #cert.uris
    local cn = cert.subject and cert.subject:match("CN=([^,]*)")
    if sans == 0 and cn ~= nil and matches(cn, host) then
        return "x509: certificate relies on legacy Common Name field, use SANs instead"
    end
    local valid
    if ip.parse_addr(host) ~= nil then
        if #cert.ip_addresses == 0 then
            return "x509: cannot validate certificate for " .. host .. " because it doesn't contain any IP SANs"
        end
        local t = {}
        for i, a in ipairs(cert.ip_addresses) do
            t[i] = tostring(a)
        end
        valid = concat(t, ", ")
    else
        valid = concat(cert.dns_names, ", ")
    end
    if valid == "" then
        return "x509: certificate is not valid for any names, but wanted to match " .. host
    end
    return "x509: certificate is valid for " .. valid .. ", not " .. host
end

local host_of = setmetatable({}, { __mode = "k" }) -- TLS conn -> the name its peer must have

-- Go's x509 error text for a failed verification of t's peer.
local function x509_error(t)
    local code = t.verify_error
    local kind = C.lnet_tls_verify_kind(code)
    if kind == C.LNET_TLS_V_UNKNOWN_AUTHORITY then
        return "x509: certificate signed by unknown authority"
    elseif kind == C.LNET_TLS_V_EXPIRED then
        return "x509: certificate has expired or is not yet valid: current time " .. rfc3339(C.lnet_time())
            .. " is after " .. rfc3339(t.cert_not_after)
    elseif kind == C.LNET_TLS_V_NOT_YET_VALID then
        return "x509: certificate has expired or is not yet valid: current time " .. rfc3339(C.lnet_time())
            .. " is before " .. rfc3339(t.cert_not_before)
    elseif kind == C.LNET_TLS_V_NAME_MISMATCH then
        local x = C.lnet_tls_failed_cert(t)
        if x ~= nil then
            return hostname_error(certificate(x), host_of[t] or "")
        end
    elseif kind == C.LNET_TLS_V_NOT_CA then
        return "x509: certificate is not authorized to sign other certificates"
    elseif kind == C.LNET_TLS_V_USAGE then
        return "x509: certificate specifies an incompatible key usage"
    elseif kind == C.LNET_TLS_V_PATH_LENGTH then
        return "x509: too many intermediates for path length constraint"
    end
    return "x509: " .. ffi_string(C.lnet_tls_verify_text(code))
end

-- The TLSError of t's failure, in Go's words where Go has them.
local function failure(t)
    local e = t.ssl_error
    local reason = e ~= 0 and C.lnet_tls_reason(e) or C.LNET_TLS_R_OTHER
    local server = t.role == C.LNET_TLS_SERVER
    local fields = {
        reason = e ~= 0 and C.lnet_tls_reason_text(e) ~= nil and ffi_string(C.lnet_tls_reason_text(e)) or nil,
        alert = t.alert_recv >= 0 and t.alert_recv or t.alert_sent >= 0 and t.alert_sent or nil,
        remote = t.alert_recv >= 0,
        verify_code = t.verify_error ~= 0 and t.verify_error or nil,
    }
    local msg
    if reason == C.LNET_TLS_R_VERIFY and t.verify_error ~= 0 then
        msg = x509_error(t)
        if server then
            msg = "tls: failed to verify client certificate: " .. msg
        end
    elseif t.alert_recv >= 0 then
        msg = "remote error: " .. alert_text(t.alert_recv)
    elseif t.eof_mid_record ~= 0 then
        msg = "unexpected EOF"
    elseif t.eof ~= 0 and t.hs_done == 0 and e == 0 then
        fields.err = EOF
        msg = "EOF"
    elseif reason == C.LNET_TLS_R_NOT_TLS and t.hs_done == 0 then
        msg = "tls: first record does not look like a TLS handshake"
    elseif reason == C.LNET_TLS_R_BAD_RECORD_MAC then
        msg = "local error: tls: bad record MAC"
    elseif reason == C.LNET_TLS_R_OVERSIZED then
        msg = "tls: oversized record received with length " .. t.last_record_len
    elseif reason == C.LNET_TLS_R_NO_PEER_CERT then
        msg = "tls: client didn't provide a certificate"
    elseif reason == C.LNET_TLS_R_NO_SHARED_CIPHER then
        msg = "tls: no cipher suite supported by both client and server"
    elseif reason == C.LNET_TLS_R_VERSION then
        msg = server and "tls: client offered only unsupported versions"
            or "tls: server selected unsupported protocol version"
    elseif reason == C.LNET_TLS_R_NO_ALPN then
        msg = "tls: client requested unsupported application protocols"
    elseif t.alert_sent >= 0 then
        msg = "local error: " .. alert_text(t.alert_sent)
    else
        msg = "tls: " .. (fields.reason or "handshake failure")
    end
    return tls_error(msg, fields)
end

---------------------------------------------------------------------------
-- Options and configs.

local VERSIONS = { ["1.0"] = 0x0301, ["1.1"] = 0x0302, ["1.2"] = 0x0303, ["1.3"] = 0x0304 }
local VERSION_NAMES = { [0x0301] = "TLS 1.0", [0x0302] = "TLS 1.1", [0x0303] = "TLS 1.2", [0x0304] = "TLS 1.3" }
local CLIENT_AUTH = {
    none = C.LNET_TLS_NO_CLIENT_CERT,
    request = C.LNET_TLS_REQUEST_CLIENT_CERT,
    require = C.LNET_TLS_REQUIRE_ANY_CLIENT_CERT,
    verify_if_given = C.LNET_TLS_VERIFY_CLIENT_CERT_IF_GIVEN,
    require_and_verify = C.LNET_TLS_REQUIRE_AND_VERIFY_CLIENT_CERT,
}

local function bad_option(name, fname, want, got)
    error(format("bad option '%s' to '%s' (%s expected, got %s)", name, fname, want, got), 4)
end

local function string_opt(opts, name, fname)
    local v = opts[name]
    if v ~= nil and type(v) ~= "string" then
        bad_option(name, fname, "string", type(v))
    end
    return v
end

local function list_opt(opts, name, fname)
    local v = opts[name]
    if v == nil then
        return nil
    end
    if type(v) ~= "table" then
        bad_option(name, fname, "table of strings", type(v))
    end
    for _, s in ipairs(v) do
        if type(s) ~= "string" or s == "" or #s > 255 then
            bad_option(name, fname, "table of strings of 1 to 255 bytes",
                type(s) == "string" and "'" .. s .. "'" or type(s))
        end
    end
    return v
end

local function version_opt(opts, name, fname)
    local v = opts[name]
    if v == nil then
        return 0
    end
    local n = type(v) == "string" and (VERSIONS[v] or VERSIONS[v:match("^TLS ?v?(1%.%d)$") or ""]) or v
    if not VERSION_NAMES[n] then
        bad_option(name, fname, "TLS version (\"1.2\", 0x0303, ...)", tostring(v))
    end
    return n
end

local KNOWN = {
    server_name = true, alpn = true, verify = true, ca_file = true, ca_path = true, cert = true, key = true,
    min_version = true, max_version = true, ciphers = true, session = true, client_auth = true,
    keylog_file = true,
}

-- The options checked (misuse raises at the caller of fname); extra names
-- the caller takes too (dial's dialer options, listen's backlog).
local function check_opts(opts, fname, extra)
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error(format("bad argument #%d to '%s' (table expected, got %s)", fname == "dial" and 3 or 2, fname,
            type(opts)), 3)
    end
    for k in pairs(opts) do
        if not KNOWN[k] and not (extra and extra[k]) then
            error(format("bad option '%s' to '%s' (no such option)", tostring(k), fname), 3)
        end
    end
    local v = opts.verify
    if v ~= nil and type(v) ~= "boolean" then
        bad_option("verify", fname, "boolean", type(v))
    end
    local ca = opts.client_auth
    if ca ~= nil and CLIENT_AUTH[ca] == nil then
        bad_option("client_auth", fname, "'none', 'request', 'require', 'verify_if_given' or 'require_and_verify'",
            tostring(ca))
    end
    for _, name in ipairs({ "server_name", "ca_file", "ca_path", "cert", "key", "session", "keylog_file" }) do
        string_opt(opts, name, fname)
    end
    list_opt(opts, "alpn", fname)
    list_opt(opts, "ciphers", fname)
    version_opt(opts, "min_version", fname)
    version_opt(opts, "max_version", fname)
    return opts
end

local errp = ffi_new("unsigned long[1]")

-- A file the config reads: its text, or nil and Go's os.PathError.
local function read_file(path)
    local f, _, code = open(path, "rb")
    if f == nil then
        return nil, process.PathError("open", path, errors.from_errno(code))
    end
    local text = f:read("*a")
    f:close()
    if text == nil then
        return nil, process.PathError("read", path, errors.errno.EISDIR)
    end
    return text
end

-- The error of loading a certificate (what: "certificate") or a key from
-- text (errp holds OpenSSL's error), in Go's X509KeyPair words.
local function pem_error(what, text)
    local reason = C.lnet_tls_reason(errp[0])
    if reason == C.LNET_TLS_R_KEY_MISMATCH then
        return tls_error("tls: private key does not match public key")
    elseif not text:find("-----BEGIN ", 1, true) then
        return tls_error("tls: failed to find any PEM data in " .. what .. " input")
    end
    local ossl = C.lnet_tls_reason_text(errp[0])
    return tls_error("tls: failed to parse " .. (what == "key" and "private key" or what)
        .. (ossl ~= nil and ": " .. ffi_string(ossl) or ""))
end

local function alpn_wire(list)
    local parts = {}
    for i, p in ipairs(list) do
        parts[i] = char(#p) .. p
    end
    return concat(parts)
end

-- Builds the OpenSSL context of opts for role: the config, or nil and an
-- error.
local function build_config(opts, role)
    local cfg = C.lnet_tls_config_new(role)
    if cfg == nil then
        return nil, errors.SyscallError("malloc", errors.errno.ENOMEM)
    end
    cfg = ffi_gc(cfg, C.lnet_tls_config_release)
    C.lnet_tls_config_verify(cfg, opts.verify ~= false and 1 or 0, CLIENT_AUTH[opts.client_auth or "none"])
    if opts.ca_file or opts.ca_path then
        local text, err
        if opts.ca_file then
            text, err = read_file(opts.ca_file)
            if text == nil then
                return nil, err
            end
        end
        if C.lnet_tls_config_roots(cfg, opts.ca_file, opts.ca_path, errp) < 0 then
            return nil, text and pem_error("certificate", text)
                or tls_error("tls: cannot use ca_path " .. opts.ca_path)
        end
    end
    if opts.cert or opts.key then
        local cert, key = opts.cert or opts.key, opts.key or opts.cert
        local cert_pem, cerr = read_file(cert)
        if cert_pem == nil then
            return nil, cerr
        end
        local key_pem, kerr = read_file(key)
        if key_pem == nil then
            return nil, kerr
        end
        if C.lnet_tls_config_cert(cfg, cert, errp) < 0 then
            return nil, pem_error("certificate", cert_pem)
        end
        if C.lnet_tls_config_key(cfg, key, errp) < 0 then
            return nil, pem_error("key", key_pem)
        end
    end
    local min_v, max_v = version_opt(opts, "min_version"), version_opt(opts, "max_version")
    if min_v ~= 0 or max_v ~= 0 then
        if C.lnet_tls_config_versions(cfg, min_v, max_v, errp) < 0 then
            return nil, tls_error("tls: no supported versions satisfy MinVersion and MaxVersion")
        end
    end
    if opts.ciphers then
        local list, suites = {}, {}
        for _, name in ipairs(opts.ciphers) do
            local ossl = C.lnet_tls_config_cipher(cfg, name, intp)
            if ossl == nil then
                return nil, tls_error("tls: unknown cipher suite " .. name)
            end
            local t = intp[0] ~= 0 and suites or list
            t[#t + 1] = ffi_string(ossl)
        end
        if C.lnet_tls_config_ciphers(cfg, #list > 0 and concat(list, ":") or nil,
                #suites > 0 and concat(suites, ":") or nil, errp) < 0 then
            return nil, tls_error("tls: no cipher suite supported by both client and server")
        end
    end
    if role == C.LNET_TLS_SERVER and opts.alpn and #opts.alpn > 0 then
        local wire = alpn_wire(opts.alpn)
        if C.lnet_tls_config_alpn(cfg, wire, #wire) < 0 then
            return nil, errors.SyscallError("malloc", errors.errno.ENOMEM)
        end
    end
    if opts.keylog_file then
        local rc = C.lnet_tls_config_keylog(cfg, opts.keylog_file)
        if rc < 0 then
            return nil, process.PathError("open", opts.keylog_file, errors.from_errno(-rc))
        end
    end
    return cfg
end

-- Configs by their settings: conns made with the same settings (each
-- accept of a server, each dial of a client) share one OpenSSL context.
-- At most CONFIGS_MAX are kept (lnet.memo); the conns of a dropped config
-- keep it alive in the core.
local CONFIGS_MAX = 64

local function config_key(opts, role)
    local ciphers = opts.ciphers and concat(opts.ciphers, ":") or ""
    local alpn = role == C.LNET_TLS_SERVER and opts.alpn and concat(opts.alpn, ",") or ""
    return concat({ role, tostring(opts.verify ~= false), opts.ca_file or "", opts.ca_path or "", opts.cert or "",
        opts.key or "", tostring(opts.min_version), tostring(opts.max_version), ciphers, opts.client_auth or "",
        opts.keylog_file or "", alpn }, "\0")
end

local configs = memo.new(CONFIGS_MAX, function(_, opts, role)
    return build_config(opts, role)
end)

local function config_for(opts, role)
    return configs(config_key(opts, role), opts, role)
end

---------------------------------------------------------------------------
-- TLS conns: the core's struct lnet_tls itself, with the methods below as
-- its FFI metatype and the core's free as its finalizer (as a conn is).
-- What the methods need beyond it lives in weak tables: the conn it wraps
-- (kept alive as long as the TLS conn: the core borrows it) and, for a
-- client, the name its peer must have.

local Tls = {}
Tls.__index = Tls
ffi.metatype("struct lnet_tls", Tls)
local tls_ct = ffi.typeof("struct lnet_tls *")
local conn_of = setmetatable({}, { __mode = "k" })

local function is_tls(v)
    return istype(tls_ct, v)
end
_M.is_tls = is_tls

local function check_tls(self, fname)
    if not istype(tls_ct, self) then
        error(format("bad argument #1 to '%s' (TLS conn expected, got %s)", fname, type(self)), 3)
    end
end

-- What a failed call returns: TLS's own failure, or what the conn's would
-- (op names the side: read, write, close).
local function fail_error(self, op, rc, err)
    local c = conn_of[self]
    if err ~= nil then
        return c:op_error(op, err)
    elseif rc == ETLS then
        return failure(self)
    elseif rc == ESHUTDOWN then
        return tls_error("tls: protocol is shutdown")
    elseif rc == ENOTCONN then
        return tls_error("tls: CloseWrite called before handshake complete")
    end
    return c:op_error(op, code_error(rc, op))
end

-- read([max [, ctx]]): as a conn's; at most one record's bytes (16 KiB).
local READ_CALL = { function(self, op, max)
    return C.lnet_tls_read(self, op, rbuf, max)
end, function(self, n, err)
    if n > 0 then
        return ffi_string(rbuf, n)
    elseif n == 0 then
        return nil, EOF
    end
    return nil, fail_error(self, "read", n, err)
end }

function Tls:read(max, ctx)
    check_tls(self, "read")
    max = conn.read_max(max, "read", RBUF_SIZE)
    check_ctx(ctx, 2, "read")
    if max < 1 then
        if self.released ~= 0 or conn_of[self]:fd() < 0 then
            return nil, conn_of[self]:op_error("read", ErrClosed)
        end
        return ""
    end
    return retry(READ_CALL, self, ctx, max)
end

-- write(s [, ctx]): #s once s is sent; n, err otherwise. A write cut short
-- by its deadline or ctx counts what it made into records (their rest goes
-- out first with the next call that flushes), so writing s from n + 1 on
-- never sends a byte twice; when that is all of s, the write is done.
local WRITE_CALL = { function(self, op, s)
    return C.lnet_tls_write(self, op, s, #s)
end, function(self, rc, err, s)
    if rc == 0 then
        return #s
    end
    local n = tonumber(self_task(1).op.progress)
    if err ~= nil or rc == EDEADLINE then
        if n == #s then
            return n
        end
    elseif n > 0 then
        n = n - tonumber(self.unsent_chunk)
    end
    return n, fail_error(self, "write", rc, err)
end }

function Tls:write(s, ctx)
    check_tls(self, "write")
    if type(s) ~= "string" then
        error("bad argument #1 to 'write' (string expected, got " .. type(s) .. ")", 2)
    end
    check_ctx(ctx, 2, "write")
    return retry(WRITE_CALL, self, ctx, s)
end

-- The method fname([ctx]) that waits for the core call f(self, op) to end:
-- true, or nil and the error (named for the side: read, write, close).
local function wait_done_method(fname, side, f)
    local call = { f, function(self, rc, err)
        if rc == 0 then
            return true
        end
        return nil, fail_error(self, side, rc, err)
    end }
    return function(self, ctx)
        check_tls(self, fname)
        check_ctx(ctx, 1, fname)
        return retry(call, self, ctx)
    end
end

-- handshake([ctx]): true once the handshake is done (at once if it is);
-- nil, err if it failed (and every call on the conn fails the same way from
-- then on). Waits under the read deadline and ctx.
Tls.handshake = wait_done_method("handshake", "read", function(self, op)
    return C.lnet_tls_handshake(self, op)
end)

-- close_write([ctx]): sends close_notify (after the writes in flight) and
-- shuts the socket's write side; the peer's reads then end with EOF, and
-- this end still reads. Before the handshake it is Go's error.
Tls.close_write = wait_done_method("close_write", "close", function(self, op)
    return C.lnet_tls_close_write(self, op)
end)

-- close(): sends close_notify if the socket takes it at once (never waits),
-- closes the conn (waking every call) and frees the TLS state.
function Tls:close()
    check_tls(self, "close")
    local c = conn_of[self]
    c:addrs() -- kept: errors after close still name them
    local rc = C.lnet_tls_close(self)
    if rc < 0 then
        return nil, c:op_error("close", code_error(rc, "close"))
    end
    return true
end

-- net_conn(): the conn underneath (Go's NetConn).
function Tls:net_conn()
    check_tls(self, "net_conn")
    return conn_of[self]
end

local sizep = ffi_new("size_t[1]")

local function opt_string(p)
    return p ~= nil and ffi_string(p) or nil
end

-- connection_state(): Go's ConnectionState, what the handshake agreed:
-- {handshake_complete, version ("TLS 1.3"), cipher_suite (IANA's name),
-- negotiated_protocol (ALPN), server_name, did_resume, peer_certificates
-- (the peer's own first: {subject, issuer, serial, not_before, not_after,
-- dns_names, ip_addresses, email_addresses, uris})}. After close: nil, err.
function Tls:connection_state()
    check_tls(self, "connection_state")
    if self.released ~= 0 then
        return nil, conn_of[self]:op_error("read", ErrClosed)
    end
    local version = opt_string(C.lnet_tls_version(self))
    local alpn = C.lnet_tls_alpn(self, sizep)
    local certs = {}
    for i = 0, 63 do
        local x = C.lnet_tls_peer_cert(self, i)
        if x == nil then
            break
        end
        certs[i + 1] = certificate(x)
    end
    return {
        handshake_complete = self.hs_done ~= 0,
        version = version and VERSION_NAMES[VERSIONS[version:match("(1%.%d)$") or ""]] or version,
        cipher_suite = self.hs_done ~= 0 and opt_string(C.lnet_tls_cipher(self)) or nil,
        negotiated_protocol = sizep[0] > 0 and ffi_string(alpn, sizep[0]) or nil,
        server_name = opt_string(C.lnet_tls_server_name(self)) or host_of[self],
        did_resume = C.lnet_tls_resumed(self) ~= 0,
        peer_certificates = certs,
    }
end

-- session(): the latest session the server gave a client (DER), to resume
-- with opts.session; nil when there is none yet (TLS 1.3 servers send
-- theirs after the handshake: they arrive with the first read).
function Tls:session()
    check_tls(self, "session")
    local n = C.lnet_tls_session(self, nil, 0)
    if n == 0 then
        return nil
    end
    local buf = ffi_new("unsigned char[?]", n)
    C.lnet_tls_session(self, buf, n)
    return ffi_string(buf, n)
end

function Tls:__tostring()
    local laddr, raddr = conn_of[self]:addrs()
    return "tls conn " .. conn_of[self]:network() .. " " .. tostring(laddr) .. "->" .. tostring(raddr)
end

-- Every other method of a conn (addresses, deadlines, socket options) is
-- the conn's own, made on first use: a deadline is the conn's sides', which
-- the TLS calls wait on.
local conn_ct = conn.ctype
setmetatable(Tls, { __index = function(_, k)
    local ok, m = pcall(function()
        return conn_ct[k]
    end)
    if not ok or type(m) ~= "function" or type(k) ~= "string" or k:sub(1, 2) == "__" then
        return nil
    end
    local function forward(self, ...)
        check_tls(self, k)
        return m(conn_of[self], ...)
    end
    Tls[k] = forward
    return forward
end })

conn.copy_end(tls_ct, C.lnet_tls_copy_read, C.lnet_tls_copy_write, function(t, op, rc)
    return fail_error(t, op, rc)
end)

local sessp = ffi_new("int[1]")

-- A TLS conn of cfg over c, or nil and an error; a client's server_name,
-- alpn and session come with it. Only byte streams carry TLS records: a
-- unixpacket conn would cut them into packets.
local STREAM = { tcp = true, tcp4 = true, tcp6 = true, unix = true }
local function wrap(cfg, c, server_name, opts, client, fname)
    if not STREAM[c:network()] then
        error(format("bad argument #1 to '%s' (conn of a stream network expected, got %s)", fname,
            c:network()), 3)
    end
    local alpn = client and opts.alpn and alpn_wire(opts.alpn) or ""
    local session = client and opts.session or ""
    local is_ip = server_name ~= nil and ip.parse_addr(server_name) ~= nil
    local t = C.lnet_tls_new(cfg, c, server_name, is_ip and 1 or 0, alpn, #alpn, session, #session, sessp, errp)
    if t == nil then
        if sessp[0] == ETLS then
            return nil, tls_error("tls: session does not decode")
        end
        return nil, errors.SyscallError("malloc", errors.errno.ENOMEM)
    end
    t = ffi_gc(t, C.lnet_tls_free)
    conn_of[t] = c
    host_of[t] = server_name
    return t
end

local function check_conn(c, fname)
    if not conn.is_conn(c) then
        error(format("bad argument #1 to '%s' (conn expected, got %s)", fname, type(c)), 3)
    end
end

-- client(conn, opts): a client TLS conn over conn (the handshake comes with
-- the first call), or nil and an error (a config that cannot be made).
-- Verification is on unless opts.verify is false: the peer's chain against
-- the system's roots (or ca_file / ca_path) and its name against
-- opts.server_name (a DNS name, or an IP against IP SANs), which is also
-- the SNI sent; Go requires one of the two.
function _M.client(c, opts)
    check_conn(c, "client")
    opts = check_opts(opts, "client")
    if opts.verify ~= false and (opts.server_name == nil or opts.server_name == "") then
        return nil, tls_error("tls: either ServerName or InsecureSkipVerify must be specified in the tls.Config")
    end
    local cfg, err = config_for(opts, C.LNET_TLS_CLIENT)
    if cfg == nil then
        return nil, err
    end
    return wrap(cfg, c, opts.server_name, opts, true, "client")
end

local function server_config(opts)
    if opts.cert == nil then
        return nil, tls_error("tls: neither Certificates, GetCertificate, nor GetConfigForClient set in Config")
    end
    return config_for(opts, C.LNET_TLS_SERVER)
end

-- server(conn, opts): a server TLS conn over conn; opts.cert and opts.key
-- (PEM files: the chain, then its key; one file may hold both) are required.
function _M.server(c, opts)
    check_conn(c, "server")
    opts = check_opts(opts, "server")
    local cfg, err = server_config(opts)
    if cfg == nil then
        return nil, err
    end
    return wrap(cfg, c, nil, opts, false, "server")
end

local DIAL_EXTRA = { timeout = true, deadline = true, local_addr = true, resolver = true, keepalive = true,
                     keepalive_config = true, control = true }

-- dial(network, address, opts [, ctx]): Go's tls.DialWithDialer: dials (with
-- opts' timeout, deadline, local_addr, resolver, keepalive,
-- keepalive_config and control as lnet.dialer's), then the
-- handshake, the whole bounded by ctx and the timeout. server_name defaults
-- to address's host. The conn, or nil and the error (the conn closed).
function _M.dial(network, address, opts, ctx)
    if type(network) ~= "string" then
        error("bad argument #1 to 'dial' (string expected, got " .. type(network) .. ")", 2)
    end
    if type(address) ~= "string" then
        error("bad argument #2 to 'dial' (string expected, got " .. type(address) .. ")", 2)
    end
    opts = check_opts(opts, "dial", DIAL_EXTRA)
    check_ctx(ctx, 4, "dial")
    local server_name = opts.server_name
    if server_name == nil or server_name == "" then
        local host, perr = addr.split_host_port(address)
        if host == nil then
            return nil, errors.OpError("dial", network, nil, nil, perr) -- as lnet.dial says it
        end
        server_name = host ~= "" and host:gsub("%%.*$", "") or nil
    end
    if opts.verify ~= false and server_name == nil then
        return nil, tls_error("tls: either ServerName or InsecureSkipVerify must be specified in the tls.Config")
    end
    local cfg, err = config_for(opts, C.LNET_TLS_CLIENT)
    if cfg == nil then
        return nil, err
    end
    local stop
    if opts.timeout ~= nil and opts.timeout > 0 then
        ctx, stop = context.with_timeout(ctx or context.background(), opts.timeout)
    end
    if opts.deadline ~= nil then
        local stop2
        ctx, stop2 = context.with_deadline(ctx or context.background(), opts.deadline)
        local stop1 = stop
        stop = function()
            stop2()
            if stop1 then
                stop1()
            end
        end
    end
    local d = dial.dialer({ local_addr = opts.local_addr, resolver = opts.resolver, keepalive = opts.keepalive,
                            keepalive_config = opts.keepalive_config, control = opts.control })
    local c, t
    c, err = d:dial(network, address, ctx)
    if c ~= nil then
        t, err = wrap(cfg, c, server_name, opts, true, "dial")
        if t == nil then
            c:close()
        else
            local ok
            ok, err = t:handshake(ctx)
            if not ok then
                t:close()
                t = nil
            end
        end
    end
    if stop then
        stop()
    end
    return t, err
end

-- A TLS listener: Go's tls.Listen. accept returns server TLS conns (their
-- handshake comes with their first call); the rest is the listener's.
local Listener = {}
Listener.__index = Listener

local LISTEN_EXTRA = { backlog = true }

function _M.listen(network, address, opts)
    opts = check_opts(opts, "listen", LISTEN_EXTRA)
    local cfg, err = server_config(opts)
    if cfg == nil then
        return nil, err
    end
    local ln
    ln, err = listener.listen(network, address, { backlog = opts.backlog })
    if ln == nil then
        return nil, err
    end
    return setmetatable({ ln = ln, cfg = cfg, opts = opts }, Listener)
end

function Listener:accept(ctx)
    errors.check_self(self, Listener, "TLS listener", "accept")
    local c, err = self.ln:accept(ctx)
    if c == nil then
        return nil, err
    end
    local t
    t, err = wrap(self.cfg, c, nil, self.opts, false, "accept")
    if t == nil then
        c:close()
    end
    return t, err
end

for _, name in ipairs({ "close", "addr", "set_deadline" }) do
    Listener[name] = function(self, ...)
        errors.check_self(self, Listener, "TLS listener", name)
        local ln = self.ln
        return ln[name](ln, ...)
    end
end

-- net_listener(): the listener underneath (for lnet.serve: wrap each conn
-- with server(conn, opts) in the handler).
function Listener:net_listener()
    errors.check_self(self, Listener, "TLS listener", "net_listener")
    return self.ln
end

function Listener:__tostring()
    return "tls " .. tostring(self.ln)
end

-- The OpenSSL lnet runs on ("OpenSSL 3.0.x ...").
_M.library = ffi_string(C.lnet_tls_library())

return _M
