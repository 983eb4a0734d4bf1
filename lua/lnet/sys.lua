-- lnet.sys (private): the FFI view of core/. Declares the core functions the
-- Lua side calls, finds them (in the host executable, or in lnet/core.so
-- under plain luajit), and exposes the one loop, its read buffer and the
-- tables lnet.core exports (errnos, lnet's own codes, socket constants).

local ffi = require "ffi"
local core = require "lnet.core"
local errors = require "lnet.errors"

ffi.cdef [[
struct lnet_loop;
struct lnet_conn;
struct lnet_listener;
enum { LNET_OP_IDLE, LNET_OP_PARKED, LNET_OP_READY };
/* A prefix of core/op.h's struct lnet_op: the fields Lua reads. */
struct lnet_op { int id; int state; size_t progress; };
/* core/waitq.h's struct lnet_waitq, whole: lnet.sched allocates them. */
struct lnet_waitq { struct lnet_op *head, *tail; unsigned n; };
/* core/copy.h's struct lnet_copy, whole: lnet.copy allocates it. */
typedef int (*lnet_copy_read_fn)(void *src, struct lnet_op *op, char *buf, size_t max);
typedef int (*lnet_copy_write_fn)(void *dst, struct lnet_op *op, const char *buf, size_t len);
struct lnet_copy { const char *left; size_t left_len; double written; int failed; int writing; char *pending;
                   lnet_copy_read_fn read; lnet_copy_write_fn write; };
struct lnet_sockaddr { union { uint64_t align; char bytes[128]; } u; uint32_t len; };

extern int lnet_sched_current_id;
struct lnet_loop *lnet_loop_default(void);
char *lnet_loop_rbuf(struct lnet_loop *loop);
double lnet_now(void);
double lnet_time(void);
int lnet_loop_poll(struct lnet_loop *loop, int block);
int lnet_loop_ready_next(struct lnet_loop *loop);
void lnet_loop_close_all(struct lnet_loop *loop);
int lnet_loop_handle_count(struct lnet_loop *loop);

struct lnet_op *lnet_op_new(struct lnet_loop *loop, int id);
void lnet_op_free(struct lnet_op *op);
void lnet_op_park(struct lnet_op *op);
void lnet_op_wake(struct lnet_op *op);
int lnet_op_wake_at(struct lnet_op *op, double t);
int lnet_op_sleep(struct lnet_op *op, double t);
void lnet_op_sleep_stop(struct lnet_op *op);
void lnet_op_abandon(struct lnet_op *op);

void lnet_waitq_push(struct lnet_waitq *q, struct lnet_op *op);
void lnet_waitq_remove(struct lnet_op *op);
int lnet_waitq_shift(struct lnet_waitq *q);
int lnet_waitq_wake_first(struct lnet_waitq *q);
void lnet_waitq_wake_all(struct lnet_waitq *q);
void lnet_waitq_wake_each(struct lnet_waitq *q);
struct lnet_op *lnet_waitq_first(const struct lnet_waitq *q);
struct lnet_op *lnet_waitq_next(const struct lnet_op *op);
void lnet_waitq_watch(struct lnet_waitq *q, struct lnet_op *op);
void lnet_waitq_unwatch(struct lnet_op *op);
void lnet_waitq_wake_watchers(struct lnet_waitq *q);

int lnet_sockaddr_ip(struct lnet_sockaddr *a, const void *ip, size_t iplen, int port, unsigned scope);
int lnet_sockaddr_unix(struct lnet_sockaddr *a, const char *path, size_t len);
int lnet_sockaddr_family(const struct lnet_sockaddr *a);
int lnet_sockaddr_port(const struct lnet_sockaddr *a);
unsigned lnet_sockaddr_scope(const struct lnet_sockaddr *a);
const char *lnet_sockaddr_ip_bytes(const struct lnet_sockaddr *a, size_t *len);
const char *lnet_sockaddr_path(const struct lnet_sockaddr *a, size_t *len);

int lnet_fd_socket(int family, int type, int protocol);
void lnet_fd_close(int *fd);
int lnet_fd_bind(int fd, const struct lnet_sockaddr *a);
int lnet_fd_listen(int fd, int backlog);
int lnet_fd_sockname(int fd, struct lnet_sockaddr *a);
int lnet_fd_peername(int fd, struct lnet_sockaddr *a);
int lnet_fd_setsockopt_int(int fd, int level, int name, int value);
int lnet_fd_getsockopt_int(int fd, int level, int name, int *value);
int lnet_fd_count(void);
int lnet_fd_dup(int fd);
int lnet_fd_adopt(int fd);
int lnet_sockopt_linger(int fd, int sec);
int lnet_sockopt_get_linger(int fd, int *sec);
int lnet_sockopt_keepalive(int fd, int on, int idle, int interval, int count);
int lnet_sockopt_set(int fd, int level, int name, const void *val, unsigned len);
int lnet_sockopt_get(int fd, int level, int name, void *val, unsigned *len);

struct lnet_sock;
int lnet_sock_fd(const struct lnet_sock *s);
int lnet_sock_ready(struct lnet_sock *s, struct lnet_op *op, int dir, int tried);
int lnet_sockopt_unsent(int fd);

struct lnet_conn *lnet_conn_open(struct lnet_loop *loop, int fd, int net);
int lnet_conn_net(const struct lnet_conn *c);
void lnet_conn_free(struct lnet_conn *c);
void lnet_conn_keep_peer(struct lnet_conn *c, const struct lnet_sockaddr *a);
int lnet_conn_peer(const struct lnet_conn *c, struct lnet_sockaddr *out);
int lnet_conn_close(struct lnet_conn *c);
int lnet_conn_read(struct lnet_conn *c, struct lnet_op *op, char *buf, size_t max);
int lnet_conn_write(struct lnet_conn *c, struct lnet_op *op, const char *buf, size_t len);
struct iovec { const void *iov_base; size_t iov_len; };
int lnet_conn_writev(struct lnet_conn *c, struct lnet_op *op, const struct iovec *iov, int n);
int lnet_conn_connect(struct lnet_conn *c, struct lnet_op *op, const struct lnet_sockaddr *a);
int lnet_conn_shutdown(struct lnet_conn *c, int dir);
int lnet_conn_set_deadline(struct lnet_conn *c, int dirs, double t);
int lnet_conn_fd(const struct lnet_conn *c);
struct lnet_sock *lnet_conn_sock(struct lnet_conn *c);

int lnet_stdfd_open(int fd);

int lnet_copy_step(struct lnet_copy *cp, struct lnet_op *op, void *dst, void *src);
void lnet_copy_release(struct lnet_copy *cp);

struct lnet_listener *lnet_listener_open(struct lnet_loop *loop, int fd, const char *unlink_path);
void lnet_listener_free(struct lnet_listener *l);
int lnet_listener_close(struct lnet_listener *l);
int lnet_listener_accept(struct lnet_listener *l, struct lnet_op *op, struct lnet_sockaddr *peer);
int lnet_listener_set_deadline(struct lnet_listener *l, double t);
int lnet_listener_fd(const struct lnet_listener *l);
struct lnet_sock *lnet_listener_sock(struct lnet_listener *l);

struct lnet_ares;
struct lnet_ares_lookup;
struct lnet_ares *lnet_ares_new(struct lnet_loop *loop, const char *servers_csv, int timeout_ms, int attempts, int *err);
void lnet_ares_free(struct lnet_ares *r);
int lnet_ares_ndots(const struct lnet_ares *r);
int lnet_ares_ndomains(const struct lnet_ares *r);
const char *lnet_ares_domain(const struct lnet_ares *r, int i);
int lnet_ares_servers(const struct lnet_ares *r, char *buf, size_t size);
struct lnet_ares_lookup *lnet_ares_lookup_start(struct lnet_ares *r, struct lnet_op *op, const char *name, int qtype, int qtype2);
int lnet_ares_lookup_done(const struct lnet_ares_lookup *l);
void lnet_ares_lookup_cancel(struct lnet_ares_lookup *l);
void lnet_ares_lookup_free(struct lnet_ares_lookup *l);
int lnet_ares_lookup_status(const struct lnet_ares_lookup *l, int i);
int lnet_ares_lookup_count(const struct lnet_ares_lookup *l, int i);
const char *lnet_ares_lookup_text(const struct lnet_ares_lookup *l, int i, int j, size_t *len);
int lnet_ares_lookup_num(const struct lnet_ares_lookup *l, int i, int j, int k);
const char *lnet_ares_lookup_cname(const struct lnet_ares_lookup *l, int i);
const char *lnet_ares_lookup_server(const struct lnet_ares_lookup *l);
const char *lnet_ares_version(void);

struct lnet_sysres_job;
struct lnet_sysres_job *lnet_sysres_start(struct lnet_loop *loop, struct lnet_op *op, const char *host, int family, int canon, int *err);
struct lnet_sysres_job *lnet_sysres_start_reverse(struct lnet_loop *loop, struct lnet_op *op, const char *ip, size_t len, int *err);
int lnet_sysres_done(const struct lnet_sysres_job *j);
int lnet_sysres_result(const struct lnet_sysres_job *j, struct lnet_sockaddr *out, int max);
const char *lnet_sysres_name(const struct lnet_sysres_job *j);
void lnet_sysres_free(struct lnet_sysres_job *j);
void lnet_sysres_slot_event(struct lnet_op *op);
int lnet_sysres_pending(void);

/* core/tls.h. A prefix of struct lnet_tls: the fields Lua reads. */
struct lnet_tls_config;
struct lnet_tls {
    int role, hs_done, released, eof, fatal, verify_error, alert_recv, alert_sent, eof_mid_record,
        last_record_len;
    unsigned long ssl_error;
    double cert_not_before, cert_not_after;
    size_t unsent_chunk;
};
enum { LNET_TLS_CLIENT = 0, LNET_TLS_SERVER = 1 };
enum { LNET_TLS_NO_CLIENT_CERT, LNET_TLS_REQUEST_CLIENT_CERT, LNET_TLS_REQUIRE_ANY_CLIENT_CERT,
       LNET_TLS_VERIFY_CLIENT_CERT_IF_GIVEN, LNET_TLS_REQUIRE_AND_VERIFY_CLIENT_CERT };
enum { LNET_TLS_SAN_DNS = 1, LNET_TLS_SAN_IP, LNET_TLS_SAN_EMAIL, LNET_TLS_SAN_URI, LNET_TLS_SAN_OTHER };
enum { LNET_TLS_R_OTHER, LNET_TLS_R_NOT_TLS, LNET_TLS_R_BAD_RECORD_MAC, LNET_TLS_R_OVERSIZED,
       LNET_TLS_R_VERIFY, LNET_TLS_R_NO_PEER_CERT, LNET_TLS_R_NO_SHARED_CIPHER, LNET_TLS_R_VERSION,
       LNET_TLS_R_NO_ALPN, LNET_TLS_R_KEY_MISMATCH, LNET_TLS_R_NO_PEM };
enum { LNET_TLS_V_OTHER, LNET_TLS_V_UNKNOWN_AUTHORITY, LNET_TLS_V_EXPIRED, LNET_TLS_V_NOT_YET_VALID,
       LNET_TLS_V_NAME_MISMATCH, LNET_TLS_V_NOT_CA, LNET_TLS_V_USAGE, LNET_TLS_V_PATH_LENGTH };
struct lnet_tls_config *lnet_tls_config_new(int role);
void lnet_tls_config_release(struct lnet_tls_config *cfg);
void lnet_tls_config_verify(struct lnet_tls_config *cfg, int verify, int client_auth);
int lnet_tls_config_roots(struct lnet_tls_config *cfg, const char *file, const char *dir, unsigned long *err);
int lnet_tls_config_cert(struct lnet_tls_config *cfg, const char *file, unsigned long *err);
int lnet_tls_config_key(struct lnet_tls_config *cfg, const char *file, unsigned long *err);
int lnet_tls_config_versions(struct lnet_tls_config *cfg, int min, int max, unsigned long *err);
const char *lnet_tls_config_cipher(struct lnet_tls_config *cfg, const char *name, int *tls13);
int lnet_tls_config_ciphers(struct lnet_tls_config *cfg, const char *list, const char *suites13, unsigned long *err);
int lnet_tls_config_alpn(struct lnet_tls_config *cfg, const unsigned char *wire, size_t len);
int lnet_tls_config_keylog(struct lnet_tls_config *cfg, const char *path);
struct lnet_tls *lnet_tls_new(struct lnet_tls_config *cfg, struct lnet_conn *c, const char *server_name, int is_ip,
                              const unsigned char *alpn, size_t alpn_len, const unsigned char *session,
                              size_t session_len, int *err, unsigned long *ssl_err);
void lnet_tls_free(struct lnet_tls *t);
int lnet_tls_handshake(struct lnet_tls *t, struct lnet_op *op);
int lnet_tls_read(struct lnet_tls *t, struct lnet_op *op, char *buf, size_t max);
int lnet_tls_write(struct lnet_tls *t, struct lnet_op *op, const char *buf, size_t len);
int lnet_tls_copy_read(void *t, struct lnet_op *op, char *buf, size_t max);
int lnet_tls_copy_write(void *t, struct lnet_op *op, const char *buf, size_t len);
int lnet_tls_close_write(struct lnet_tls *t, struct lnet_op *op);
int lnet_tls_close(struct lnet_tls *t);
const char *lnet_tls_version(const struct lnet_tls *t);
const char *lnet_tls_cipher(const struct lnet_tls *t);
const char *lnet_tls_alpn(const struct lnet_tls *t, size_t *len);
const char *lnet_tls_server_name(const struct lnet_tls *t);
int lnet_tls_resumed(const struct lnet_tls *t);
int lnet_tls_session(const struct lnet_tls *t, unsigned char *buf, size_t size);
void *lnet_tls_peer_cert(const struct lnet_tls *t, int i);
void *lnet_tls_failed_cert(const struct lnet_tls *t);
int lnet_tls_cert_name(const void *x509, int which, char *buf, size_t size);
int lnet_tls_cert_san(const void *x509, int i, int *kind, char *buf, size_t size);
double lnet_tls_cert_time(const void *x509, int which);
int lnet_tls_cert_serial(const void *x509, char *buf, size_t size);
int lnet_tls_reason(unsigned long e);
const char *lnet_tls_reason_text(unsigned long e);
int lnet_tls_verify_kind(int code);
const char *lnet_tls_verify_text(int code);
const char *lnet_tls_library(void);
]]

-- In the host the core is linked in and exported; under plain luajit it is
-- the shared object that `require "lnet.core"` just loaded.
local function find_core()
    if pcall(function()
        return ffi.C.lnet_loop_default
    end) then
        return ffi.C
    end
    return ffi.load(core.path)
end

local C = find_core()

-- check_layout(struct, fields, whole, enums, c_names): the FFI declaration
-- of `struct` (its fields, its size too when whole) and the enum constants
-- named must match (c_names: a field's path in C where it differs) what the core was compiled with (bindings/layout.c), or
-- loading fails here instead of a field being read at the wrong offset.
local function check_layout(struct, fields, whole, enums, c_names)
    local layout, ctype = core.layout, "struct " .. struct
    local function mismatch(what, ours, theirs)
        error(("lnet: the FFI view of %s does not match the core (%s: %s here, %s in C)"):format(
            ctype, what, tostring(ours), tostring(theirs)), 3)
    end
    for _, f in ipairs(fields) do
        local ours, theirs = ffi.offsetof(ctype, f), layout[struct .. "." .. (c_names and c_names[f] or f)]
        if ours ~= theirs then
            mismatch("field " .. f, ours, theirs)
        end
    end
    if whole and ffi.sizeof(ctype) ~= layout["sizeof " .. struct] then
        mismatch("size", ffi.sizeof(ctype), layout["sizeof " .. struct])
    end
    for _, name in ipairs(enums or {}) do
        if C[name] ~= layout[name] then
            mismatch(name, C[name], layout[name])
        end
    end
end

check_layout("lnet_op", { "id", "state", "progress" }, false, { "LNET_OP_IDLE", "LNET_OP_PARKED", "LNET_OP_READY" })
check_layout("lnet_waitq", { "head", "tail", "n" }, true, nil, { head = "l.head", tail = "l.tail" })
check_layout("lnet_copy", { "left", "left_len", "written", "failed", "writing", "pending", "read", "write" }, true)
check_layout("lnet_tls", { "role", "hs_done", "released", "eof", "fatal", "verify_error", "alert_recv",
    "alert_sent", "eof_mid_record", "last_record_len", "ssl_error", "cert_not_before", "cert_not_after",
    "unsent_chunk" }, false, { "LNET_TLS_CLIENT", "LNET_TLS_SERVER", "LNET_TLS_REQUIRE_AND_VERIFY_CLIENT_CERT",
    "LNET_TLS_SAN_OTHER", "LNET_TLS_R_NO_PEM", "LNET_TLS_V_PATH_LENGTH" })
check_layout("lnet_sockaddr", { "u", "len" }, true)
local loop = C.lnet_loop_default()
if loop == nil then
    error("lnet: cannot create the event loop")
end

for _, e in ipairs(core.errno) do
    errors.define_errno(e[1], e[2], e[3])
end

local ECLOSED, EDEADLINE = -core.codes.ECLOSED, -core.codes.EDEADLINE
local ErrClosed, ErrDeadlineExceeded = errors.ErrClosed, errors.ErrDeadlineExceeded
local SyscallError, from_errno = errors.SyscallError, errors.from_errno

-- code_error(code, syscall): the error a negative core code stands for;
-- errnos name their syscall.
local function code_error(code, syscall)
    if code == ECLOSED then
        return ErrClosed
    elseif code == EDEADLINE then
        return ErrDeadlineExceeded
    end
    return SyscallError(syscall, from_errno(-code))
end

local _M = {
    check_layout = check_layout,
    C = C,
    loop = loop,
    rbuf = C.lnet_loop_rbuf(loop),
    codes = core.codes, -- lnet's own codes, positive
    const = core.const, -- socket constants of this platform
    code_error = code_error,
}

return _M
