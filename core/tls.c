#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fd.h"
#include "op.h"
#include "tls.h"

/* The most plaintext one SSL_write makes into records: one full record. */
#define CHUNK 16384
/* The send queue never holds more than this: a peer that makes us answer
 * (key updates) while it reads nothing cannot grow it without bound. */
#define QUEUE_MAX (1024 * 1024)
/* A call of SSL_* said it must read more first (not an error). */
#define WANT 1

struct lnet_tls_config {
    SSL_CTX *ctx;
    int refs;
    int role;
    int client_auth;     /* LNET_TLS_*_CLIENT_CERT */
    char *keylog;        /* the key log file's path, or NULL */
    unsigned char *alpn; /* server: its protocols, wire format; NULL: no ALPN */
    size_t alpn_len;
};

/* Special problem of the trusted roots: loading the system's bundle takes
 * milliseconds, and every config would load it again. So one store is
 * loaded on first use and shared (counted by OpenSSL) for the life of the
 * process, as the BIO method is. */
static X509_STORE *system_store;
static BIO_METHOD *bio_methods;

/* ---- the send queue ---------------------------------------------------- */

static int fd_of(const struct lnet_tls *t) {
    return t->c->s.fd;
}

/* Sends from the queue's front: 0 once it is empty (and its memory gone:
 * an idle conn keeps none), -LNET_EAGAIN while the socket is full, -errno. */
static int flush(struct lnet_tls *t) {
    if (t->out == NULL) return 0;
    while (t->out_off < t->out_len) {
        ssize_t n = send(fd_of(t), t->out + t->out_off, t->out_len - t->out_off, MSG_NOSIGNAL);
        if (n >= 0) {
            t->out_off += (size_t)n;
        } else if (errno == EAGAIN) {
            return -LNET_EAGAIN;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    free(t->out);
    t->out = NULL;
    t->out_off = t->out_len = t->out_cap = 0;
    t->unsent_chunk = 0;
    return 0;
}

static int enqueue(struct lnet_tls *t, const char *p, size_t n) {
    size_t live = t->out_len - t->out_off;
    if (live + n > QUEUE_MAX) return -ENOBUFS;
    if (t->out_off > 0) {
        memmove(t->out, t->out + t->out_off, live);
        t->out_off = 0;
        t->out_len = live;
    }
    if (live + n > t->out_cap) {
        size_t cap = live + n > 2 * t->out_cap ? live + n : 2 * t->out_cap;
        char *out = realloc(t->out, cap);
        if (out == NULL) return -ENOMEM;
        t->out = out;
        t->out_cap = cap;
    }
    memcpy(t->out + t->out_len, p, n);
    t->out_len += n;
    return 0;
}

/* ---- the BIO: the socket, never blocking ------------------------------- */

/* Follows the record framing of what arrives, so that an end of stream can
 * be told apart: between records (the peer closed) or inside one (cut). */
static void track_records(struct lnet_tls *t, const unsigned char *p, size_t n) {
    while (n > 0) {
        if (t->rec_left > 0) {
            size_t k = n < t->rec_left ? n : t->rec_left;
            t->rec_left -= k;
            p += k;
            n -= k;
            continue;
        }
        t->hdr[t->hdr_n++] = *p++;
        n--;
        if (t->hdr_n == sizeof t->hdr) {
            t->last_record_len = (t->hdr[3] << 8) | t->hdr[4];
            t->rec_left = (size_t)t->last_record_len;
            t->hdr_n = 0;
        }
    }
}

/* Special problem of readiness: after a short recv the socket is drained, and
 * one more recv would only say EAGAIN. As a conn's read side does, the next
 * read waits for readiness first (can_read is set again by any wake of a
 * call that waited to read). */
static int bio_read(BIO *b, char *buf, int len) {
    struct lnet_tls *t = BIO_get_data(b);
    ssize_t n;
    BIO_clear_retry_flags(b);
    if (!t->can_read) {
        BIO_set_retry_read(b);
        return -1;
    }
    do {
        n = recv(fd_of(t), buf, (size_t)len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        if (n < len) t->can_read = 0;
        t->got = 1;
        track_records(t, (const unsigned char *)buf, (size_t)n);
        return (int)n;
    }
    if (n == 0) {
        t->eof = 1;
        return 0;
    }
    if (errno == EAGAIN) {
        t->can_read = 0;
        BIO_set_retry_read(b);
    } else {
        t->sys_err = errno;
    }
    return -1;
}

/* Always takes all of buf: what the socket does not take now is queued. */
static int bio_write(BIO *b, const char *buf, int len) {
    struct lnet_tls *t = BIO_get_data(b);
    size_t n = (size_t)len, sent = 0;
    int rc;
    BIO_clear_retry_flags(b);
    while (t->out_off == t->out_len && sent < n) {
        ssize_t k = send(fd_of(t), buf + sent, n - sent, MSG_NOSIGNAL);
        if (k >= 0) {
            sent += (size_t)k;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            t->sys_err = errno;
            return -1;
        }
    }
    if (sent < n && (rc = enqueue(t, buf + sent, n - sent)) < 0) {
        t->sys_err = -rc;
        return -1;
    }
    return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    struct lnet_tls *t = BIO_get_data(b);
    (void)num;
    (void)ptr;
    if (cmd == BIO_CTRL_FLUSH) return 1;
    if (cmd == BIO_CTRL_EOF) return t->eof;
    return 0;
}

static BIO_METHOD *bio_method(void) {
    if (bio_methods == NULL) {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lnet conn");
        if (m == NULL) return NULL;
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        bio_methods = m;
    }
    return bio_methods;
}

/* ---- callbacks --------------------------------------------------------- */

static struct lnet_tls *tls_of(const SSL *ssl) {
    return SSL_get_app_data(ssl);
}

static double asn1_seconds(const ASN1_TIME *a) {
    struct tm tm;
    if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1) return 0;
    return (double)timegm(&tm);
}

/* Keeps the first failure (the one Go would report), with its certificate. */
static int verify_cb(int ok, X509_STORE_CTX *x) {
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct lnet_tls *t = tls_of(ssl);
    if (!ok && t->verify_error == 0) {
        X509 *cert = X509_STORE_CTX_get_current_cert(x);
        t->verify_error = X509_STORE_CTX_get_error(x);
        if (cert != NULL && X509_up_ref(cert) == 1) {
            t->failed_cert = cert;
            t->cert_not_before = asn1_seconds(X509_get0_notBefore(cert));
            t->cert_not_after = asn1_seconds(X509_get0_notAfter(cert));
        }
    }
    /* Go's RequestClientCert and RequireAnyClientCert take any certificate. */
    if (t->cfg->client_auth == LNET_TLS_REQUEST_CLIENT_CERT ||
        t->cfg->client_auth == LNET_TLS_REQUIRE_ANY_CLIENT_CERT)
        return 1;
    return ok;
}

static void info_cb(const SSL *ssl, int where, int ret) {
    struct lnet_tls *t = tls_of(ssl);
    if (!(where & SSL_CB_ALERT) || ((ret >> 8) & 0xff) != SSL3_AL_FATAL) return;
    if (where & SSL_CB_READ) {
        if (t->alert_recv < 0) t->alert_recv = ret & 0xff;
    } else if (t->alert_sent < 0) {
        t->alert_sent = ret & 0xff;
    }
}

/* A client keeps the latest session the server gave (TLS 1.3 sends them
 * after the handshake, read with the first data). */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
    struct lnet_tls *t = tls_of(ssl);
    if (!SSL_SESSION_is_resumable(sess)) return 0;
    SSL_SESSION_free(t->session);
    t->session = sess;
    return 1; /* ours now */
}

/* Go's negotiateALPN: the server's order; a client offering only http/1.1
 * to an h2 server goes on without ALPN; no overlap is fatal. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg) {
    const struct lnet_tls_config *cfg = arg;
    int http11_fallback = 0;
    (void)ssl;
    for (size_t i = 0; i < cfg->alpn_len; i += 1u + cfg->alpn[i]) {
        const unsigned char *s = cfg->alpn + i + 1;
        unsigned slen = cfg->alpn[i];
        for (unsigned j = 0; j < inlen && j + 1u + in[j] <= inlen; j += 1u + in[j]) {
            const unsigned char *c = in + j + 1;
            if (in[j] == slen && memcmp(c, s, slen) == 0) {
                *out = c;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
            if (slen == 2 && memcmp(s, "h2", 2) == 0 && in[j] == 8 && memcmp(c, "http/1.1", 8) == 0)
                http11_fallback = 1;
        }
    }
    return http11_fallback ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* A line of the SSLKEYLOGFILE format, appended in one write. The file is
 * opened for each line (a few per handshake), so a config holds no fd. As
 * with Go's KeyLogWriter, a key log that fails does not fail the conn. */
static void keylog_cb(const SSL *ssl, const char *line) {
    const struct lnet_tls_config *cfg = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct iovec v[2] = {{(void *)(uintptr_t)line, strlen(line)}, {"\n", 1}};
    int fd = open(cfg->keylog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (writev(fd, v, 2) < 0) {
        /* dropped, as above */
    }
    lnet_fd_close(&fd);
}

/* ---- configs ----------------------------------------------------------- */

/* The failure OpenSSL reported, its queue left empty. */
static int ssl_failed(unsigned long *err) {
    *err = ERR_peek_error();
    ERR_clear_error();
    return -LNET_ETLS;
}

struct lnet_tls_config *lnet_tls_config_new(int role) {
    struct lnet_tls_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) return NULL;
    if (system_store == NULL) {
        X509_STORE *s = X509_STORE_new();
        if (s != NULL && X509_STORE_set_default_paths(s) != 1) {
            X509_STORE_free(s);
            s = NULL;
        }
        system_store = s;
    }
    cfg->ctx = system_store != NULL ? SSL_CTX_new(TLS_method()) : NULL;
    if (cfg->ctx == NULL) {
        ERR_clear_error();
        free(cfg);
        return NULL;
    }
    SSL_CTX_set1_cert_store(cfg->ctx, system_store);
    cfg->refs = 1;
    cfg->role = role;
    SSL_CTX_set_app_data(cfg->ctx, cfg);
    /* Go's defaults: TLS 1.2 at least, no renegotiation; an end of stream
     * without close_notify is the end (the record framing says if it cut a
     * record, track_records). */
    SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(cfg->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                      SSL_OP_NO_COMPRESSION);
    /* An idle conn keeps no record buffers (about 34 KiB) between calls.
     * Our certificate chain is the file's, as Go sends it: OpenSSL would
     * otherwise try to complete it from the trusted roots at every
     * handshake (a directory scan of the system's, for a self-signed one). */
    SSL_CTX_set_mode(cfg->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_info_callback(cfg->ctx, info_cb);
    if (role == LNET_TLS_CLIENT) {
        SSL_CTX_set_session_cache_mode(cfg->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(cfg->ctx, new_session_cb);
    } else {
        static const unsigned char sid_ctx[] = "lnet";
        SSL_CTX_set_session_id_context(cfg->ctx, sid_ctx, sizeof sid_ctx - 1);
        /* Sessions resume from tickets only, as Go's: no cache of every
         * session (up to 20,480 of them) for TLS 1.2's session IDs. */
        SSL_CTX_set_session_cache_mode(cfg->ctx, SSL_SESS_CACHE_OFF);
        /* TLS 1.3 tickets go with the first write (lnet_tls_write), not
         * right after the handshake: see there. */
        SSL_CTX_set_num_tickets(cfg->ctx, 0);
    }
    lnet_tls_config_verify(cfg, 1, LNET_TLS_NO_CLIENT_CERT);
    return cfg;
}

void lnet_tls_config_release(struct lnet_tls_config *cfg) {
    if (cfg == NULL || --cfg->refs > 0) return;
    SSL_CTX_free(cfg->ctx);
    free(cfg->keylog);
    free(cfg->alpn);
    free(cfg);
}

void lnet_tls_config_verify(struct lnet_tls_config *cfg, int verify, int client_auth) {
    int mode = SSL_VERIFY_NONE;
    if (cfg->role == LNET_TLS_CLIENT) {
        if (verify) mode = SSL_VERIFY_PEER;
    } else if (client_auth == LNET_TLS_REQUEST_CLIENT_CERT ||
               client_auth == LNET_TLS_VERIFY_CLIENT_CERT_IF_GIVEN) {
        mode = SSL_VERIFY_PEER;
    } else if (client_auth != LNET_TLS_NO_CLIENT_CERT) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    cfg->client_auth = client_auth;
    SSL_CTX_set_verify(cfg->ctx, mode, verify_cb);
}

int lnet_tls_config_roots(struct lnet_tls_config *cfg, const char *file, const char *dir,
                          unsigned long *err) {
    X509_STORE *s = X509_STORE_new();
    if (s == NULL) return ssl_failed(err);
    if ((file != NULL && X509_STORE_load_file(s, file) != 1) ||
        (dir != NULL && X509_STORE_load_path(s, dir) != 1)) {
        X509_STORE_free(s);
        return ssl_failed(err);
    }
    SSL_CTX_set_cert_store(cfg->ctx, s); /* takes s, drops the system store */
    if (cfg->role == LNET_TLS_SERVER && file != NULL) {
        /* The CAs a CertificateRequest names, as Go's ClientCAs. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
        if (names != NULL) SSL_CTX_set_client_CA_list(cfg->ctx, names);
        ERR_clear_error();
    }
    return 0;
}

int lnet_tls_config_cert(struct lnet_tls_config *cfg, const char *file, unsigned long *err) {
    return SSL_CTX_use_certificate_chain_file(cfg->ctx, file) == 1 ? 0 : ssl_failed(err);
}

int lnet_tls_config_key(struct lnet_tls_config *cfg, const char *file, unsigned long *err) {
    if (SSL_CTX_use_PrivateKey_file(cfg->ctx, file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(cfg->ctx) != 1)
        return ssl_failed(err);
    return 0;
}

int lnet_tls_config_versions(struct lnet_tls_config *cfg, int min, int max, unsigned long *err) {
    if ((min != 0 && SSL_CTX_set_min_proto_version(cfg->ctx, min) != 1) ||
        (max != 0 && SSL_CTX_set_max_proto_version(cfg->ctx, max) != 1))
        return ssl_failed(err);
    return 0;
}

const char *lnet_tls_config_cipher(struct lnet_tls_config *cfg, const char *name, int *tls13) {
    STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(cfg->ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if ((std != NULL && strcmp(std, name) == 0) || strcmp(SSL_CIPHER_get_name(c), name) == 0) {
            *tls13 = (SSL_CIPHER_get_protocol_id(c) >> 8) == 0x13;
            return SSL_CIPHER_get_name(c);
        }
    }
    return NULL;
}

int lnet_tls_config_ciphers(struct lnet_tls_config *cfg, const char *list, const char *suites13,
                            unsigned long *err) {
    if ((list != NULL && SSL_CTX_set_cipher_list(cfg->ctx, list) != 1) ||
        (suites13 != NULL && SSL_CTX_set_ciphersuites(cfg->ctx, suites13) != 1))
        return ssl_failed(err);
    return 0;
}

int lnet_tls_config_alpn(struct lnet_tls_config *cfg, const unsigned char *wire, size_t len) {
    unsigned char *copy = malloc(len);
    if (copy == NULL) return -ENOMEM;
    memcpy(copy, wire, len);
    free(cfg->alpn);
    cfg->alpn = copy;
    cfg->alpn_len = len;
    SSL_CTX_set_alpn_select_cb(cfg->ctx, alpn_select_cb, cfg);
    return 0;
}

int lnet_tls_config_keylog(struct lnet_tls_config *cfg, const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    char *copy;
    if (fd < 0) return -errno;
    lnet_fd_close(&fd);
    if ((copy = strdup(path)) == NULL) return -ENOMEM;
    free(cfg->keylog);
    cfg->keylog = copy;
    SSL_CTX_set_keylog_callback(cfg->ctx, keylog_cb);
    return 0;
}

/* ---- conns: the one release path of an SSL ----------------------------- */

static void release_ssl(struct lnet_tls *t) {
    SSL_free(t->ssl); /* and the BIO with it */
    t->ssl = NULL;
    t->released = 1;
    free(t->out);
    t->out = NULL;
    t->out_off = t->out_len = t->out_cap = 0;
}

void lnet_tls_free(struct lnet_tls *t) {
    if (t == NULL) return;
    release_ssl(t);
    SSL_SESSION_free(t->session);
    X509_free(t->failed_cert);
    lnet_tls_config_release(t->cfg);
    free(t);
}

static int set_up(struct lnet_tls *t, SSL *ssl, const char *server_name, int is_ip,
                  const unsigned char *alpn, size_t alpn_len, const unsigned char *session,
                  size_t session_len) {
    BIO *bio = BIO_new(bio_method());
    if (bio == NULL) return 0;
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_read_ahead(ssl, 1);
    if (t->cfg->role == LNET_TLS_SERVER) {
        SSL_set_accept_state(ssl);
        return 1;
    }
    SSL_set_connect_state(ssl);
    if (server_name != NULL) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        /* Go matches names only against SANs, and whole labels only. */
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                                   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        if (is_ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name) != 1) return 0;
        } else if (SSL_set_tlsext_host_name(ssl, server_name) != 1 ||
                   SSL_set1_host(ssl, server_name) != 1) {
            return 0;
        }
    }
    if (alpn_len > 0 && SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len) != 0) return 0;
    if (session_len > 0) {
        const unsigned char *p = session;
        SSL_SESSION *s = d2i_SSL_SESSION(NULL, &p, (long)session_len);
        if (s == NULL || SSL_set_session(ssl, s) != 1) {
            SSL_SESSION_free(s);
            return 0;
        }
        SSL_SESSION_free(s);
    }
    return 1;
}

struct lnet_tls *lnet_tls_new(struct lnet_tls_config *cfg, struct lnet_conn *c,
                              const char *server_name, int is_ip, const unsigned char *alpn,
                              size_t alpn_len, const unsigned char *session, size_t session_len,
                              int *err, unsigned long *ssl_err) {
    struct lnet_tls *t = calloc(1, sizeof *t);
    SSL *ssl;
    *err = -ENOMEM;
    *ssl_err = 0;
    if (t == NULL) return NULL;
    t->c = c;
    t->cfg = cfg;
    t->role = cfg->role;
    cfg->refs++;
    t->alert_recv = t->alert_sent = -1;
    t->can_read = 1;
    ssl = SSL_new(cfg->ctx);
    if (ssl != NULL) {
        t->ssl = ssl;
        SSL_set_app_data(ssl, t);
        if (set_up(t, ssl, server_name, is_ip, alpn, alpn_len, session, session_len)) return t;
        *err = ssl_failed(ssl_err);
    }
    ERR_clear_error();
    lnet_tls_free(t);
    return NULL;
}

/* ---- blocking calls ---------------------------------------------------- */

static struct lnet_side *rd_of(struct lnet_tls *t) {
    return &t->c->s.rd;
}

static int side_index(struct lnet_tls *t, const struct lnet_side *s) {
    return s == rd_of(t) ? 0 : 1;
}

/* The events a side waits for outside a TLS call: its own. */
static void restore_events(struct lnet_tls *t, struct lnet_side *s) {
    lnet_side_set_events(s, t->c->s.loop->ev, s == rd_of(t) ? EV_READ : EV_WRITE);
}

static void leave(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op) {
    restore_events(t, s);
    lnet_side_leave(s, op);
}

/* op, the head of s, parks until the socket can give what the call needs:
 * data (want_read), room for the queue. */
static int park(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op, int want_read) {
    int events = (want_read ? EV_READ : 0) | (t->out_off < t->out_len ? EV_WRITE : 0);
    lnet_side_set_events(s, t->c->s.loop->ev, events);
    t->waits[side_index(t, s)] = events;
    return lnet_side_wait(s, op);
}

/* A call on s took bytes off the socket: a call on the other side that waits
 * to read may now have them in the SSL, where no readiness will tell it. */
static void pass_on_bytes(struct lnet_tls *t, const struct lnet_side *s) {
    struct lnet_side *o = s == rd_of(t) ? &t->c->s.wr : rd_of(t);
    if (t->got && o->fifo.head != NULL && (t->waits[side_index(t, o)] & EV_READ))
        lnet_op_wake(o->fifo.head);
    t->got = 0;
}

static int enter(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op) {
    int i = side_index(t, s), rc;
    if (t->c->s.fd < 0 || t->ssl == NULL) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) {
        if (rc != -LNET_EAGAIN) restore_events(t, s);
        return rc;
    }
    if (t->waits[i] & EV_READ) t->can_read = 1; /* woken: readiness may be why */
    t->waits[i] = 0;
    if (t->fatal != 0) {
        leave(t, s, op);
        return t->fatal;
    }
    return 0;
}

/* What an SSL call that returned r <= 0 means: WANT (read more), 0 (the
 * end of stream), or the failure (its OpenSSL error kept). */
static int ssl_result(struct lnet_tls *t, int r) {
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return WANT;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (t->sys_err != 0) {
        ERR_clear_error();
        return -t->sys_err;
    }
    if (t->ssl_error == 0) t->ssl_error = ERR_peek_error();
    ERR_clear_error();
    return -LNET_ETLS;
}

/* The conn failed for good (TLS or the socket): every call from now on
 * returns rc, and every call in flight is woken to learn it. The alert
 * OpenSSL queued goes out if it can at once. */
static int fail(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op, int rc) {
    t->fatal = rc;
    flush(t);
    leave(t, s, op);
    lnet_side_wake_each(rd_of(t));
    lnet_side_wake_each(&t->c->s.wr);
    return rc;
}

/* The end of stream: at a record boundary it is the end; inside a record
 * (or during the handshake, where the peer owed us more) it fails the conn. */
static int end_of_stream(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op) {
    if (t->hs_done && t->hdr_n == 0 && t->rec_left == 0) {
        leave(t, s, op);
        return 0;
    }
    t->eof_mid_record = t->hdr_n != 0 || t->rec_left != 0;
    return fail(t, s, op, -LNET_ETLS);
}

/* Drives the handshake for op, the head of s: 0 once it is done (and, with
 * sent, our last flight sent), -LNET_EAGAIN parked, or the failure (op has
 * left s). Its end wakes every call on the conn: a call parked to read may
 * be waiting for bytes another call has taken into the SSL. */
static int handshake(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op, int sent) {
    int rc = 0;
    if (!t->hs_done) {
        int r = SSL_do_handshake(t->ssl);
        if (r == 1) {
            t->hs_done = 1;
            lnet_side_wake_each(rd_of(t));
            lnet_side_wake_each(&t->c->s.wr);
        } else {
            rc = ssl_result(t, r);
        }
        pass_on_bytes(t, s);
        if (rc == 0 && !t->hs_done) return end_of_stream(t, s, op);
        if (rc < 0) return fail(t, s, op, rc);
    }
    rc = flush(t);
    if (rc < 0 && rc != -LNET_EAGAIN) return fail(t, s, op, rc);
    if (t->hs_done && (rc == 0 || !sent)) return 0;
    return park(t, s, op, !t->hs_done);
}

int lnet_tls_handshake(struct lnet_tls *t, struct lnet_op *op) {
    struct lnet_side *s = rd_of(t);
    int rc;
    if (t->c->s.fd < 0 || t->ssl == NULL) return -LNET_ECLOSED;
    /* Done (or failed) before our turn, maybe by a reader ahead of us in the
     * FIFO, who will not leave it soon: no need to wait for that turn. */
    if ((t->hs_done || t->fatal != 0) && s->fifo.head != op) {
        lnet_side_leave(s, op);
        return t->fatal;
    }
    if ((rc = enter(t, s, op)) < 0) return rc;
    if ((rc = handshake(t, s, op, 1)) != 0) return rc;
    leave(t, s, op);
    return 0;
}

/*
 * A read parks for data. Special problem of an idle conn's memory: OpenSSL
 * (SSL_MODE_RELEASE_BUFFERS) gives back its record buffers when a read or
 * write empties them, but not one a post-handshake write (a session
 * ticket) set up to read with and left empty, 17 KiB a conn. Freeing
 * buffers not in use costs a check when there are none.
 */
static int park_idle(struct lnet_tls *t, struct lnet_side *s, struct lnet_op *op) {
    if (!SSL_has_pending(t->ssl)) SSL_free_buffers(t->ssl);
    return park(t, s, op, 1);
}

int lnet_tls_read(struct lnet_tls *t, struct lnet_op *op, char *buf, size_t max) {
    struct lnet_side *s = rd_of(t);
    int rc, n;
    if ((rc = enter(t, s, op)) < 0) return rc;
    if (!t->hs_done && (rc = handshake(t, s, op, 0)) != 0) return rc;
    /* The socket is drained and OpenSSL holds nothing (not even the end):
     * park at once, as a conn's read does after a short read. */
    if (!t->can_read && t->out == NULL && !t->eof && !SSL_has_pending(t->ssl) &&
        !(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN))
        return park_idle(t, s, op);
    n = SSL_read(t->ssl, buf, max > INT_MAX ? INT_MAX : (int)max);
    rc = n > 0 ? n : ssl_result(t, n);
    pass_on_bytes(t, s);
    if (t->out_off < t->out_len) {
        /* What the read made OpenSSL answer (a key update) goes out too. */
        int frc = flush(t);
        if (frc < 0 && frc != -LNET_EAGAIN) return fail(t, s, op, frc);
    }
    if (n > 0) {
        leave(t, s, op);
        return n;
    }
    if (rc == WANT) return park_idle(t, s, op);
    if (rc == 0) return end_of_stream(t, s, op);
    return fail(t, s, op, rc);
}

int lnet_tls_write(struct lnet_tls *t, struct lnet_op *op, const char *buf, size_t len) {
    struct lnet_side *s = &t->c->s.wr;
    int rc;
    if (op->side == NULL) op->progress = 0; /* a new write, not one resumed */
    if ((rc = enter(t, s, op)) < 0) return rc;
    if (!t->hs_done && (rc = handshake(t, s, op, 0)) != 0) return rc;
    if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN) {
        leave(t, s, op);
        return -ESHUTDOWN; /* after close_write, as Go's errShutdown */
    }
    /*
     * Special problem of TLS 1.3 session tickets: OpenSSL's server sends
     * them once the client's Finished is read, which may be after a client
     * that only writes has closed; its kernel answers them with a reset,
     * and the reset drops the client's records still in flight. So a
     * server sends its ticket with its first write instead, which a client
     * that reads anything reads first.
     */
    if (!t->ticket_asked) {
        t->ticket_asked = 1;
        if (t->role == LNET_TLS_SERVER && SSL_version(t->ssl) == TLS1_3_VERSION)
            SSL_new_session_ticket(t->ssl);
    }
    for (;;) {
        size_t chunk = len - op->progress < CHUNK ? len - op->progress : CHUNK;
        int n;
        rc = flush(t);
        if (rc == -LNET_EAGAIN) return park(t, s, op, 0);
        if (rc < 0) return fail(t, s, op, rc);
        if (chunk == 0) break;
        n = SSL_write(t->ssl, buf + op->progress, (int)chunk);
        rc = n > 0 ? n : ssl_result(t, n);
        pass_on_bytes(t, s);
        if (n > 0) {
            op->progress += (size_t)n;
            t->unsent_chunk = t->out_off < t->out_len ? (size_t)n : 0;
        } else if (rc == WANT) {
            /* A post-handshake message the peer began (OpenSSL finishes it
             * before writing): wait for the rest, read by us or the reader. */
            return park(t, s, op, 1);
        } else {
            return fail(t, s, op, rc < 0 ? rc : -LNET_ETLS);
        }
    }
    leave(t, s, op);
    return 0;
}

int lnet_tls_copy_read(void *t, struct lnet_op *op, char *buf, size_t max) {
    return lnet_tls_read(t, op, buf, max);
}

int lnet_tls_copy_write(void *t, struct lnet_op *op, const char *buf, size_t len) {
    return lnet_tls_write(t, op, buf, len);
}

int lnet_tls_close_write(struct lnet_tls *t, struct lnet_op *op) {
    struct lnet_side *s = &t->c->s.wr;
    int rc;
    if ((rc = enter(t, s, op)) < 0) return rc;
    if (!t->hs_done) {
        leave(t, s, op);
        return -ENOTCONN;
    }
    if (!(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) {
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    rc = flush(t);
    if (rc == -LNET_EAGAIN) return park(t, s, op, 0);
    if (rc < 0) return fail(t, s, op, rc);
    leave(t, s, op);
    return shutdown(fd_of(t), SHUT_WR) < 0 ? -errno : 0;
}

/*
 * Special problem of closing a socket with unread bytes: the kernel resets
 * the conn, and the reset drops what we sent that the peer has not read
 * yet. A TLS 1.3 server sends session tickets after the handshake, which a
 * client that only writes never reads: its close would cut off its own
 * last records. So close first takes (and drops) what has arrived, as much
 * as DRAIN_MAX, without waiting.
 */
#define DRAIN_MAX (4 * LNET_RBUF_SIZE)
static void drain(struct lnet_tls *t) {
    char *buf = lnet_loop_rbuf(t->c->s.loop);
    for (size_t got = 0; got < DRAIN_MAX;) {
        ssize_t n = recv(fd_of(t), buf, LNET_RBUF_SIZE, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && errno == EINTR)) return;
        got += n > 0 ? (size_t)n : 0;
    }
}

int lnet_tls_close(struct lnet_tls *t) {
    int rc;
    if (t->c->s.fd >= 0 && t->ssl != NULL) {
        if (t->hs_done && t->fatal == 0 && !(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) {
            /* Go's Close sends close_notify; we never wait for it to go. */
            SSL_shutdown(t->ssl);
            ERR_clear_error();
        }
        flush(t);
        if (!t->eof) drain(t);
    }
    rc = lnet_conn_close(t->c);
    release_ssl(t);
    return rc;
}

/* ---- what the handshake agreed ----------------------------------------- */

const char *lnet_tls_version(const struct lnet_tls *t) {
    return t->ssl != NULL && t->hs_done ? SSL_get_version(t->ssl) : NULL;
}

const char *lnet_tls_cipher(const struct lnet_tls *t) {
    const SSL_CIPHER *c = t->ssl != NULL ? SSL_get_current_cipher(t->ssl) : NULL;
    return c != NULL ? SSL_CIPHER_standard_name(c) : NULL;
}

const char *lnet_tls_alpn(const struct lnet_tls *t, size_t *len) {
    const unsigned char *p = NULL;
    unsigned n = 0;
    if (t->ssl != NULL) SSL_get0_alpn_selected(t->ssl, &p, &n);
    *len = n;
    return (const char *)p;
}

const char *lnet_tls_server_name(const struct lnet_tls *t) {
    return t->ssl != NULL ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

int lnet_tls_resumed(const struct lnet_tls *t) {
    return t->ssl != NULL && SSL_session_reused(t->ssl);
}

int lnet_tls_session(const struct lnet_tls *t, unsigned char *buf, size_t size) {
    int n = t->session != NULL ? i2d_SSL_SESSION(t->session, NULL) : 0;
    if (n > 0 && buf != NULL && (size_t)n <= size) {
        unsigned char *p = buf;
        i2d_SSL_SESSION(t->session, &p);
    }
    return n > 0 ? n : 0;
}

/* ---- certificates ------------------------------------------------------ */

void *lnet_tls_peer_cert(const struct lnet_tls *t, int i) {
    X509 *leaf = t->ssl != NULL ? SSL_get0_peer_certificate(t->ssl) : NULL;
    STACK_OF(X509) * chain;
    int skip;
    if (leaf == NULL || i == 0) return leaf;
    /* A client's chain holds the leaf first, a server's does not. */
    chain = SSL_get_peer_cert_chain(t->ssl);
    skip = sk_X509_num(chain) > 0 && X509_cmp(sk_X509_value(chain, 0), leaf) == 0;
    return i - 1 + skip < sk_X509_num(chain) ? sk_X509_value(chain, i - 1 + skip) : NULL;
}

void *lnet_tls_failed_cert(const struct lnet_tls *t) {
    return t->failed_cert;
}

/* Copies a memory BIO's text into buf: its length, or -1. */
static int bio_text(BIO *b, char *buf, size_t size) {
    char *p;
    long n = BIO_get_mem_data(b, &p);
    if (n < 0 || n > INT_MAX) return -1;
    if (buf != NULL) memcpy(buf, p, (size_t)n < size ? (size_t)n : size);
    return (int)n;
}

int lnet_tls_cert_name(const void *x509, int which, char *buf, size_t size) {
    const X509 *x = x509;
    BIO *b = BIO_new(BIO_s_mem());
    int n = -1;
    if (b != NULL &&
        X509_NAME_print_ex(b, which ? X509_get_issuer_name(x) : X509_get_subject_name(x), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = bio_text(b, buf, size);
    BIO_free(b);
    ERR_clear_error();
    return n;
}

/* A name's text (an IP: its bytes) and kind; NULL for kinds without one. */
static const ASN1_STRING *san_text(const GENERAL_NAME *g, int *kind) {
    switch (g->type) {
    case GEN_DNS:
        *kind = LNET_TLS_SAN_DNS;
        return g->d.dNSName;
    case GEN_IPADD:
        *kind = LNET_TLS_SAN_IP;
        return g->d.iPAddress;
    case GEN_EMAIL:
        *kind = LNET_TLS_SAN_EMAIL;
        return g->d.rfc822Name;
    case GEN_URI:
        *kind = LNET_TLS_SAN_URI;
        return g->d.uniformResourceIdentifier;
    default:
        *kind = LNET_TLS_SAN_OTHER;
        return NULL;
    }
}

int lnet_tls_cert_san(const void *x509, int i, int *kind, char *buf, size_t size) {
    GENERAL_NAMES *names = X509_get_ext_d2i(x509, NID_subject_alt_name, NULL, NULL);
    int n = -1;
    ERR_clear_error();
    if (names == NULL) return -1;
    if (i < sk_GENERAL_NAME_num(names)) {
        const ASN1_STRING *s = san_text(sk_GENERAL_NAME_value(names, i), kind);
        n = s != NULL ? ASN1_STRING_length(s) : 0;
        if (s != NULL && buf != NULL)
            memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n < size ? (size_t)n : size);
    }
    GENERAL_NAMES_free(names);
    return n;
}

double lnet_tls_cert_time(const void *x509, int which) {
    return asn1_seconds(which ? X509_get0_notAfter(x509) : X509_get0_notBefore(x509));
}

int lnet_tls_cert_serial(const void *x509, char *buf, size_t size) {
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    int n = -1;
    if (hex != NULL) {
        n = (int)strlen(hex);
        if (buf != NULL) memcpy(buf, hex, (size_t)n < size ? (size_t)n : size);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
    return n;
}

/* ---- errors ------------------------------------------------------------ */

int lnet_tls_reason(unsigned long e) {
    int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);
    if (lib == ERR_LIB_X509 && r == X509_R_KEY_VALUES_MISMATCH) return LNET_TLS_R_KEY_MISMATCH;
    if (lib == ERR_LIB_PEM && r == PEM_R_NO_START_LINE) return LNET_TLS_R_NO_PEM;
    if (lib != ERR_LIB_SSL) return LNET_TLS_R_OTHER;
    switch (r) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_WRONG_SSL_VERSION:
        return LNET_TLS_R_NOT_TLS;
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
        return LNET_TLS_R_BAD_RECORD_MAC;
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
    case SSL_R_DATA_LENGTH_TOO_LONG:
        return LNET_TLS_R_OVERSIZED;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return LNET_TLS_R_VERIFY;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return LNET_TLS_R_NO_PEER_CERT;
    case SSL_R_NO_SHARED_CIPHER:
        return LNET_TLS_R_NO_SHARED_CIPHER;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return LNET_TLS_R_VERSION;
    case SSL_R_NO_APPLICATION_PROTOCOL:
        return LNET_TLS_R_NO_ALPN;
    default:
        return LNET_TLS_R_OTHER;
    }
}

int lnet_tls_verify_kind(int code) {
    switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return LNET_TLS_V_UNKNOWN_AUTHORITY;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return LNET_TLS_V_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return LNET_TLS_V_NOT_YET_VALID;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return LNET_TLS_V_NAME_MISMATCH;
    case X509_V_ERR_INVALID_CA:
        return LNET_TLS_V_NOT_CA;
    case X509_V_ERR_INVALID_PURPOSE:
        return LNET_TLS_V_USAGE;
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return LNET_TLS_V_PATH_LENGTH;
    default:
        return LNET_TLS_V_OTHER;
    }
}

const char *lnet_tls_reason_text(unsigned long e) {
    return ERR_reason_error_string(e);
}

const char *lnet_tls_verify_text(int code) {
    return X509_verify_cert_error_string(code);
}

const char *lnet_tls_library(void) {
    return OpenSSL_version(OPENSSL_VERSION);
}
