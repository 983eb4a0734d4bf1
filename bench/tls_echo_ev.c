/* tls_echo_ev: the floor for lnet's TLS echo benchmark (bench/tls_run).
 *
 * A TLS echo server written straight against libev and OpenSSL, the way
 * one would write it in C: the SSL reads and writes the socket itself
 * (SSL_set_fd), non-blocking, each conn a small struct with two watchers.
 * OpenSSL is set up as lnet.tls sets it up, so that the comparison is of
 * the layers, not of the settings: TLS 1.2 at least, no renegotiation,
 * read-ahead on, record buffers released when idle, the chain as given,
 * one TLS 1.3 session ticket per conn and no session cache (resumption by
 * tickets), close_notify on close. Each readiness reads one record (SSL_read) and writes
 * it back, and reads on only while OpenSSL holds more, as echo_ev reads
 * once per wakeup. A write the socket cannot take whole stays with the SSL
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, from our copy), reading stops
 * until it drains (backpressure).
 *
 * Usage: tls_echo_ev cert.pem key.pem [host:port]   (default 127.0.0.1:0)
 * Prints "listening HOST:PORT" once listening; SIGINT or SIGTERM closes
 * everything and exits 0. */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net.h"

#define READ_BUF_SIZE (64 * 1024)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct conn {
    ev_io read_w;
    ev_io write_w;
    SSL *ssl;
    char *pending; /* a record's plaintext SSL_write has yet to take, or NULL */
    int pending_len;
    struct conn *prev, *next;
};

static char read_buf[READ_BUF_SIZE];
static struct conn *conns;
static SSL_CTX *ctx;

/* As lnet.tls closes (and Go): close_notify if the socket takes it now. */
static void conn_close(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->read_w);
    ev_io_stop(loop, &c->write_w);
    if (SSL_is_init_finished(c->ssl)) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->read_w.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->pending);
    free(c);
    ERR_clear_error();
}

/* OpenSSL wants the socket writable (a write, or the handshake's flight):
 * wait for that alone. */
static void want_write(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->read_w);
    ev_io_start(loop, &c->write_w);
}

static void want_read(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->write_w);
    ev_io_start(loop, &c->read_w);
}

/* Writes buf back; 0 when done, 1 when it waits for writability (buf kept),
 * -1 when the conn is gone. */
static int echo(struct ev_loop *loop, struct conn *c, const char *buf, int len) {
    int n = SSL_write(c->ssl, buf, len);
    if (n > 0) return 0;
    if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_WRITE) {
        conn_close(loop, c);
        return -1;
    }
    if (buf != c->pending) {
        c->pending = malloc((size_t)len);
        if (!c->pending) {
            conn_close(loop, c);
            return -1;
        }
        memcpy(c->pending, buf, (size_t)len);
        c->pending_len = len;
    }
    want_write(loop, c);
    return 1;
}

/* The handshake, then one record read and echoed; on while OpenSSL holds
 * more (its read-ahead took it off the socket: no readiness will say so). */
static void serve(struct ev_loop *loop, struct conn *c) {
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                want_write(loop, c);
            else if (e == SSL_ERROR_WANT_READ)
                want_read(loop, c);
            else
                conn_close(loop, c);
            return;
        }
        want_read(loop, c);
    }
    do {
        int n = SSL_read(c->ssl, read_buf, sizeof read_buf);
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE)
                want_write(loop, c);
            else if (e != SSL_ERROR_WANT_READ)
                conn_close(loop, c);
            return;
        }
        if (echo(loop, c, read_buf, n) != 0) return;
    } while (SSL_has_pending(c->ssl));
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    serve(loop, container_of(w, struct conn, read_w));
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents) {
    struct conn *c = container_of(w, struct conn, write_w);
    (void)revents;
    if (c->pending) {
        if (echo(loop, c, c->pending, c->pending_len) != 0) return;
        free(c->pending);
        c->pending = NULL;
    }
    want_read(loop, c);
    serve(loop, c);
}

static void on_acceptable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (int i = 0; i < BENCH_ACCEPT_BATCH; i++) {
        int fd = bench_accept("tls_echo_ev", w->fd);
        if (fd < 0) return;
        struct conn *c = calloc(1, sizeof *c);
        if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
            if (c) SSL_free(c->ssl);
            free(c);
            close(fd);
            ERR_clear_error();
            continue;
        }
        SSL_set_accept_state(c->ssl);
        SSL_set_read_ahead(c->ssl, 1);
        ev_io_init(&c->read_w, on_readable, fd, EV_READ);
        ev_io_init(&c->write_w, on_writable, fd, EV_WRITE);
        c->next = conns;
        if (conns) conns->prev = c;
        conns = c;
        ev_io_start(loop, &c->read_w);
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: tls_echo_ev cert.pem key.pem [host:port]\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    int listen_fd = bench_bind("tls_echo_ev", argc == 4 ? argv[3] : "127.0.0.1:0", SOCK_STREAM);
    if (listen_fd < 0) return 1;

    struct ev_loop *loop = ev_default_loop(0);
    signal(SIGPIPE, SIG_IGN);
    int rc = bench_serve("tls_echo_ev", loop, listen_fd, on_acceptable);
    while (conns)
        conn_close(loop, conns);
    close(listen_fd);
    ev_loop_destroy(loop);
    SSL_CTX_free(ctx);
    return rc;
}
