/*
 * lnet's TLS core from C, without Lua: a client and a server over a
 * socketpair, each call driven as the binding drives it (called again only
 * once its op is woken). The handshake and a round trip; a read parked
 * until close wakes it; a name the certificate does not hold failing the
 * handshake with OpenSSL's reason kept; every SSL released once (ASan's
 * build runs this too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "conn.h"
#include "op.h"
#include "tls.h"

/* A self-signed P-256 certificate for a.test, and its key, as PEM files. */
static void make_cert(char *cert_path, char *key_path) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_get_subject_name(x);
    X509V3_CTX v3;
    X509_EXTENSION *san;
    int cfd = mkstemp(cert_path), kfd = mkstemp(key_path);
    FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
    CHECK(key != NULL && x != NULL && cf != NULL && kf != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"a.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:a.test");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    CHECK(X509_sign(x, key, EVP_sha256()) > 0);
    CHECK(PEM_write_X509(cf, x) == 1);
    CHECK(PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(cf);
    fclose(kf);
    X509_free(x);
    EVP_PKEY_free(key);
}

struct call {
    struct lnet_op *op;
    int waiting; /* parked: call again only once woken */
    int rc;
};

/* Runs the loop until no call waits or the bound is reached: each woken
 * call is made again through again(i). Returns 1 when none waits. */
static int drive(struct lnet_loop *loop, struct call *calls, int n, int (*again)(int i)) {
    for (int round = 0; round < 2000; round++) {
        int any = 0, id;
        for (int i = 0; i < n; i++)
            any |= calls[i].waiting;
        if (!any) return 1;
        lnet_loop_poll(loop, 1);
        while ((id = lnet_loop_ready_next(loop)) != 0) {
            for (int i = 0; i < n; i++)
                if (calls[i].waiting && calls[i].op->id == id) {
                    calls[i].rc = again(i);
                    calls[i].waiting = calls[i].rc == -LNET_EAGAIN;
                }
        }
    }
    return 0;
}

static struct lnet_tls *tls[2];
static struct call calls[2];

static int handshake(int i) {
    return lnet_tls_handshake(tls[i], calls[i].op);
}

static int start(int i, int (*fn)(int)) {
    calls[i].rc = fn(i);
    calls[i].waiting = calls[i].rc == -LNET_EAGAIN;
    return calls[i].rc;
}

static char buf[LNET_RBUF_SIZE];
static int read_server(int i) {
    return lnet_tls_read(tls[i], calls[i].op, buf, sizeof buf);
}

/* A pair over a socketpair: client conns[0], server conns[1]. */
static void pair(struct lnet_loop *loop, struct lnet_conn **conns, struct lnet_tls_config *ccfg,
                 struct lnet_tls_config *scfg, const char *name) {
    int sv[2], err;
    unsigned long ssl_err;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    conns[0] = lnet_conn_open(loop, sv[0], 0);
    conns[1] = lnet_conn_open(loop, sv[1], 0);
    tls[0] = lnet_tls_new(ccfg, conns[0], name, 0, NULL, 0, NULL, 0, &err, &ssl_err);
    tls[1] = lnet_tls_new(scfg, conns[1], NULL, 0, NULL, 0, NULL, 0, &err, &ssl_err);
    CHECK(tls[0] != NULL && tls[1] != NULL);
}

static void release(struct lnet_conn **conns) {
    for (int i = 0; i < 2; i++) {
        lnet_tls_close(tls[i]);
        lnet_tls_free(tls[i]);
        lnet_conn_free(conns[i]);
    }
}

int main(void) {
    char cert[] = "/tmp/lnet-test-tls-cert-XXXXXX", key[] = "/tmp/lnet-test-tls-key-XXXXXX";
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_tls_config *scfg = lnet_tls_config_new(LNET_TLS_SERVER);
    struct lnet_tls_config *ccfg = lnet_tls_config_new(LNET_TLS_CLIENT);
    struct lnet_conn *conns[2];
    unsigned long err = 0;
    make_cert(cert, key);
    CHECK(scfg != NULL && ccfg != NULL);
    CHECK(lnet_tls_config_cert(scfg, cert, &err) == 0);
    CHECK(lnet_tls_config_key(scfg, key, &err) == 0);
    CHECK(lnet_tls_config_roots(ccfg, cert, NULL, &err) == 0);
    calls[0].op = lnet_op_new(loop, 1);
    calls[1].op = lnet_op_new(loop, 2);

    /* Both ends shake hands at once; then a round trip. */
    pair(loop, conns, ccfg, scfg, "a.test");
    start(0, handshake);
    start(1, handshake);
    CHECK(drive(loop, calls, 2, handshake));
    CHECK(calls[0].rc == 0 && calls[1].rc == 0);
    CHECK(tls[0]->hs_done && tls[1]->hs_done);
    CHECK(strcmp(lnet_tls_version(tls[0]), "TLSv1.3") == 0);
    CHECK(lnet_tls_write(tls[0], calls[0].op, "hello", 5) == 0);
    start(1, read_server);
    CHECK(drive(loop, calls, 2, read_server));
    CHECK(calls[1].rc == 5 && memcmp(buf, "hello", 5) == 0);

    /* A read with nothing to read parks; close wakes it, and it finds the
     * conn closed. */
    CHECK(start(1, read_server) == -LNET_EAGAIN);
    CHECK(lnet_tls_close(tls[1]) == 0);
    CHECK(drive(loop, calls, 2, read_server));
    CHECK(calls[1].rc == -LNET_ECLOSED);
    CHECK(lnet_tls_close(tls[1]) == -LNET_ECLOSED);
    release(conns);

    /* The wrong name: the client fails, with the verification's reason. */
    pair(loop, conns, ccfg, scfg, "b.test");
    start(0, handshake);
    start(1, handshake);
    CHECK(drive(loop, calls, 2, handshake));
    CHECK(calls[0].rc == -LNET_ETLS);
    CHECK(tls[0]->verify_error == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(lnet_tls_reason(tls[0]->ssl_error) == LNET_TLS_R_VERIFY);
    CHECK(lnet_tls_failed_cert(tls[0]) != NULL);
    CHECK(calls[1].rc == -LNET_ETLS && tls[1]->alert_recv == SSL_AD_BAD_CERTIFICATE);
    /* Failed for good: a later call says so at once. */
    CHECK(lnet_tls_write(tls[0], calls[0].op, "x", 1) == -LNET_ETLS);
    release(conns);

    lnet_op_free(calls[0].op);
    lnet_op_free(calls[1].op);
    lnet_tls_config_release(scfg);
    lnet_tls_config_release(ccfg);
    unlink(cert);
    unlink(key);
    return CHECK_DONE();
}
