/*
 * TLS conns: OpenSSL over a conn's socket, parked on the conn's own sides,
 * so a TLS conn keeps the whole conn contract (one reader and one writer at
 * once, each side's FIFO and deadline, close waking every call).
 *
 * A config (struct lnet_tls_config) owns an SSL_CTX and what its callbacks
 * read; it is counted, held by whoever made it and by each TLS conn made
 * from it, and freed (SSL_CTX_free) by the last lnet_tls_config_release.
 * A TLS conn (struct lnet_tls) owns its SSL, freed once, by release_ssl in
 * tls.c: at lnet_tls_close or, for one never closed that way (its conn was
 * closed directly, or by teardown), at lnet_tls_free. It borrows the conn:
 * the binding keeps the conn alive for as long as the TLS conn, and
 * lnet_tls_free never touches it (the two may be collected in one cycle).
 *
 * Special problem of a reader and a writer in different tasks: OpenSSL's
 * SSL_read may want to write and SSL_write may want to read (a handshake,
 * a post-handshake message), and an SSL_write that stopped half way must be
 * repeated before anything else is written. So the SSL's BIO never makes
 * it wait: reads are recv(2) on the socket (EAGAIN is a retry), and writes
 * always succeed: what send(2) does not take now goes to the conn's send
 * queue, which any call may flush (only from its front, so records keep
 * their order). No SSL call is ever left half done, and each side waits on
 * its own side of the conn for what it needs: readability when OpenSSL
 * wants to read, writability while the queue holds bytes. The handshake is
 * driven by whichever calls arrive first (a reader and a writer may both
 * drive it, each on its own side); its end wakes every call on the conn.
 *
 * A write returns once its records are sent. One cut short (deadline, ctx)
 * after its records were made counts those bytes as written: the rest of a
 * record waits in the queue and goes out ahead of anything else, with the
 * next call that flushes (any read or write, close_write, close). So no
 * byte is lost or sent twice when the caller writes the rest.
 */
#ifndef LNET_TLS_H
#define LNET_TLS_H

#include <stddef.h>

#include "conn.h"

/* Roles, and Go's tls.ClientAuthType for servers. */
enum { LNET_TLS_CLIENT = 0, LNET_TLS_SERVER = 1 };
enum {
    LNET_TLS_NO_CLIENT_CERT,
    LNET_TLS_REQUEST_CLIENT_CERT,
    LNET_TLS_REQUIRE_ANY_CLIENT_CERT,
    LNET_TLS_VERIFY_CLIENT_CERT_IF_GIVEN,
    LNET_TLS_REQUIRE_AND_VERIFY_CLIENT_CERT
};

struct lnet_tls_config;

struct lnet_tls {
    /* The fields the binding reads come first, so its FFI view is a prefix
     * (bindings/layout.c checks that view against this struct). */
    int role;                /* LNET_TLS_CLIENT or LNET_TLS_SERVER */
    int hs_done;             /* the handshake is complete */
    int released;            /* the SSL is gone (closed): nothing more to tell */
    int eof;                 /* the socket said end of stream */
    int fatal;               /* 0, or the code every call returns now: the conn failed */
    int verify_error;        /* X509_V_ERR_* of the first certificate that failed, or 0 */
    int alert_recv;          /* the fatal alert the peer sent, or -1 */
    int alert_sent;          /* the fatal alert we sent, or -1 */
    int eof_mid_record;      /* the peer's end of stream cut a record short */
    int last_record_len;     /* the length field of the last record header read */
    unsigned long ssl_error; /* OpenSSL's packed error code of the failure, or 0 */
    double cert_not_before;  /* the validity of the certificate that failed */
    double cert_not_after;   /* (Unix seconds) */
    size_t unsent_chunk;     /* bytes of the last write whose record is still queued */

    struct lnet_conn *c;
    struct lnet_tls_config *cfg;
    void *ssl;         /* SSL *: NULL once released */
    void *session;     /* SSL_SESSION *: the latest resumable one the server gave, or NULL */
    void *failed_cert; /* X509 *: the certificate verification failed on, or NULL */
    char *out;         /* the send queue: out[out_off, out_len) waits to go */
    size_t out_off, out_len, out_cap;
    int waits[2];               /* the events the parked head of each side waits for */
    int sys_err;                /* errno of a failed recv or send */
    unsigned char got;          /* an SSL call just received bytes */
    unsigned char can_read;     /* the socket may have data: try recv before parking */
    unsigned char ticket_asked; /* a server asked OpenSSL for its TLS 1.3 session ticket */
    unsigned char hdr_n;        /* record framing: header bytes seen of the record ... */
    unsigned char hdr[5];
    size_t rec_left; /* ... and body bytes still to come */
};

/*
 * Configs. Setters return 0 or a negative code: -LNET_ETLS with the
 * failure's OpenSSL error in *err (the code lnet_tls_reason maps), or
 * -errno from opening a file.
 */
struct lnet_tls_config *lnet_tls_config_new(int role);
void lnet_tls_config_release(struct lnet_tls_config *cfg);
/* Client: verify the server (default on). Server: one of Go's client auth types. */
void lnet_tls_config_verify(struct lnet_tls_config *cfg, int verify, int client_auth);
/* Trusted roots from a file and/or a directory; both NULL: the system's store. */
int lnet_tls_config_roots(struct lnet_tls_config *cfg, const char *file, const char *dir,
                          unsigned long *err);
/* The certificate chain (PEM), then its private key (checked against it). */
int lnet_tls_config_cert(struct lnet_tls_config *cfg, const char *file, unsigned long *err);
int lnet_tls_config_key(struct lnet_tls_config *cfg, const char *file, unsigned long *err);
/* Protocol versions as on the wire (0x0303 is TLS 1.2); 0 leaves a bound as it is. */
int lnet_tls_config_versions(struct lnet_tls_config *cfg, int min, int max, unsigned long *err);
/* OpenSSL's name of a cipher suite given by its IANA or OpenSSL name, or NULL;
 * *tls13 says whether it is a TLS 1.3 suite. */
const char *lnet_tls_config_cipher(struct lnet_tls_config *cfg, const char *name, int *tls13);
int lnet_tls_config_ciphers(struct lnet_tls_config *cfg, const char *list, const char *suites13,
                            unsigned long *err);
/* Server: the protocols it speaks, ALPN's wire format (each prefixed by its
 * length), in its order of preference; a copy is kept. */
int lnet_tls_config_alpn(struct lnet_tls_config *cfg, const unsigned char *wire, size_t len);
/* Appends each handshake's secrets to path (created 0600 if need be), in
 * the SSLKEYLOGFILE format. */
int lnet_tls_config_keylog(struct lnet_tls_config *cfg, const char *path);

/*
 * A TLS conn over c, which must stay valid as long as it is used (see
 * above). server_name: the client's SNI and the name its peer's
 * certificate must hold (is_ip: an IP literal, checked against IP SANs and
 * not sent as SNI); alpn: the client's offer, in wire format; session: a
 * DER session (lnet_tls_session) to resume. NULL when out of memory, or
 * -LNET_ETLS in *err with the OpenSSL error in *ssl_err (a session that
 * does not decode).
 */
struct lnet_tls *lnet_tls_new(struct lnet_tls_config *cfg, struct lnet_conn *c,
                              const char *server_name, int is_ip, const unsigned char *alpn,
                              size_t alpn_len, const unsigned char *session, size_t session_len,
                              int *err, unsigned long *ssl_err);
/* The binding's finalizer: releases the SSL if close has not, then frees. */
void lnet_tls_free(struct lnet_tls *t);

/*
 * Blocking calls, as the conn's: a result, or -LNET_EAGAIN after parking
 * op; -LNET_ECLOSED once the conn is closed, -LNET_EDEADLINE, -errno of the
 * socket, -LNET_ETLS when TLS failed (the struct says how; sticky, as is
 * a socket error). Each drives the handshake first if it is not done.
 */
int lnet_tls_handshake(struct lnet_tls *t, struct lnet_op *op);
/* Bytes read, at most min(max, one record), 0 at end of stream. */
int lnet_tls_read(struct lnet_tls *t, struct lnet_op *op, char *buf, size_t max);
/* 0 once all of buf is sent; op->progress counts the bytes made records
 * (from 0 when the write is new: op stood in no FIFO). */
int lnet_tls_write(struct lnet_tls *t, struct lnet_op *op, const char *buf, size_t len);
/* The same two, called as lnet.copy calls its ends (copy.h). */
int lnet_tls_copy_read(void *t, struct lnet_op *op, char *buf, size_t max);
int lnet_tls_copy_write(void *t, struct lnet_op *op, const char *buf, size_t len);
/* Sends close_notify (queued behind the writes in flight), then shuts down
 * the socket's write side. */
int lnet_tls_close_write(struct lnet_tls *t, struct lnet_op *op);

/* Sends close_notify if it can at once, closes the conn, releases the SSL. */
int lnet_tls_close(struct lnet_tls *t);

/* What the handshake agreed (NULL or 0 when not known or released). */
const char *lnet_tls_version(const struct lnet_tls *t);
const char *lnet_tls_cipher(const struct lnet_tls *t);
const char *lnet_tls_alpn(const struct lnet_tls *t, size_t *len);
const char *lnet_tls_server_name(const struct lnet_tls *t);
int lnet_tls_resumed(const struct lnet_tls *t);
/* The DER of the latest resumable session into buf (if size allows): its
 * length, or 0 when there is none. */
int lnet_tls_session(const struct lnet_tls *t, unsigned char *buf, size_t size);

/* Certificates (X509 *, borrowed from the conn): the peer's i-th (0: its
 * own), and the one verification failed on. NULL when there is none. */
void *lnet_tls_peer_cert(const struct lnet_tls *t, int i);
void *lnet_tls_failed_cert(const struct lnet_tls *t);
/* Subject (which 0) or issuer (1), RFC 2253 as Go prints pkix.Name, into buf:
 * its length (buf may be too small: call again), or -1. */
int lnet_tls_cert_name(const void *x509, int which, char *buf, size_t size);
/* The i-th subject alternative name: its kind (LNET_TLS_SAN_*) and text
 * into buf (an IP: its 4 or 16 bytes); -1 past the last. */
enum {
    LNET_TLS_SAN_DNS = 1,
    LNET_TLS_SAN_IP,
    LNET_TLS_SAN_EMAIL,
    LNET_TLS_SAN_URI,
    LNET_TLS_SAN_OTHER
};
int lnet_tls_cert_san(const void *x509, int i, int *kind, char *buf, size_t size);
/* Not before (which 0) or not after (1), Unix seconds. */
double lnet_tls_cert_time(const void *x509, int which);
/* The serial number, hex, into buf: its length, or -1. */
int lnet_tls_cert_serial(const void *x509, char *buf, size_t size);

/* What an OpenSSL error (packed code) is, for the failures that have Go's
 * words (lnet.tls says them); other ones have OpenSSL's reason text. */
enum {
    LNET_TLS_R_OTHER,
    LNET_TLS_R_NOT_TLS,        /* the bytes are no TLS record */
    LNET_TLS_R_BAD_RECORD_MAC, /* a record did not decrypt */
    LNET_TLS_R_OVERSIZED,      /* a record longer than TLS allows */
    LNET_TLS_R_VERIFY,         /* the peer's certificate failed: verify_error says why */
    LNET_TLS_R_NO_PEER_CERT,   /* a client without the certificate the server requires */
    LNET_TLS_R_NO_SHARED_CIPHER,
    LNET_TLS_R_VERSION,      /* no protocol version both ends allow */
    LNET_TLS_R_NO_ALPN,      /* no application protocol both ends speak */
    LNET_TLS_R_KEY_MISMATCH, /* the key is not the certificate's */
    LNET_TLS_R_NO_PEM        /* a file without PEM data */
};
int lnet_tls_reason(unsigned long e);
const char *lnet_tls_reason_text(unsigned long e);
/* What an X509_V_ERR_* code is, for Go's x509 errors; and OpenSSL's text. */
enum {
    LNET_TLS_V_OTHER,
    LNET_TLS_V_UNKNOWN_AUTHORITY,
    LNET_TLS_V_EXPIRED,
    LNET_TLS_V_NOT_YET_VALID,
    LNET_TLS_V_NAME_MISMATCH,
    LNET_TLS_V_NOT_CA,
    LNET_TLS_V_USAGE,
    LNET_TLS_V_PATH_LENGTH
};
int lnet_tls_verify_kind(int code);
const char *lnet_tls_verify_text(int code);
/* "OpenSSL 3.0.x ..." */
const char *lnet_tls_library(void);

#endif
