/* http_ev: the floor for lnet's HTTP/1.1 server benchmark.
 *
 * An HTTP/1.1 server written straight against libev that answers every
 * request with the bytes scripts/http-server.lua answers GET / with:
 *
 *   HTTP/1.1 200 OK\r\nDate: <now>\r\nContent-Length: 14\r\n
 *   Content-Type: text/plain\r\n\r\nHello, World!\n
 *
 * (the Date made once a second, as the Lua server makes it). It parses
 * only what it must: a request ends at its empty line (requests with a
 * body are not expected; wrk sends none). Keep-alive and pipelining: every
 * complete request in a read is answered, the answers in one send. So it
 * is the cheapest server a C programmer would write for this load, and
 * the Lua server's cost shows as the ratio.
 *
 * Usage: http_ev [host:port]    (default 127.0.0.1:0)
 * Prints "listening HOST:PORT"; SIGINT or SIGTERM exits 0. */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "net.h"

#define IN_SIZE  16384 /* a conn's unanswered bytes: a partial request */
#define OUT_SIZE 65536 /* answers to one read's requests */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct conn {
    ev_io w;
    size_t have; /* bytes of a request not yet complete, in in[] */
    char in[IN_SIZE];
    struct conn *prev, *next;
};

static struct conn *conns;
static char out[OUT_SIZE];
static char response[256];
static size_t response_len;
static time_t response_at = -1;

/* The response, its Date refreshed once a second. */
static void make_response(void) {
    time_t now = time(NULL);
    char date[64];
    struct tm tm;
    if (now == response_at) return;
    response_at = now;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response_len = (size_t)snprintf(response, sizeof response,
                                    "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Length: 14\r\n"
                                    "Content-Type: text/plain\r\n\r\nHello, World!\n",
                                    date);
}

static void conn_close(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->w);
    close(c->w.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
}

/* Sends all of out[0..n), waiting for room if it must (rare: answers are
 * small), so a conn never holds unsent answers. */
static int send_all(int fd, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, out + off, n - off, MSG_NOSIGNAL);
        if (k < 0) {
            if (!bench_would_block(errno)) return -1;
            continue;
        }
        off += (size_t)k;
    }
    return 0;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    struct conn *c = container_of(w, struct conn, w);
    (void)revents;
    ssize_t got = recv(w->fd, c->in + c->have, IN_SIZE - c->have, 0);
    if (got == 0 || (got < 0 && !bench_would_block(errno))) {
        conn_close(loop, c);
        return;
    }
    if (got < 0) return;
    c->have += (size_t)got;
    make_response();
    size_t n = 0, start = 0;
    for (;;) {
        char *end = memmem(c->in + start, c->have - start, "\r\n\r\n", 4);
        if (end == NULL) break;
        start = (size_t)(end - c->in) + 4;
        if (n + response_len > OUT_SIZE) {
            if (send_all(w->fd, n) < 0) {
                conn_close(loop, c);
                return;
            }
            n = 0;
        }
        memcpy(out + n, response, response_len);
        n += response_len;
    }
    memmove(c->in, c->in + start, c->have - start);
    c->have -= start;
    if (c->have == IN_SIZE || (n > 0 && send_all(w->fd, n) < 0)) conn_close(loop, c);
}

static void on_acceptable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (int i = 0; i < BENCH_ACCEPT_BATCH; i++) {
        int fd = bench_accept("http_ev", w->fd);
        if (fd < 0) return;
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->have = 0;
        c->prev = NULL;
        ev_io_init(&c->w, on_readable, fd, EV_READ);
        c->next = conns;
        if (conns) conns->prev = c;
        conns = c;
        ev_io_start(loop, &c->w);
    }
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: http_ev [host:port]\n");
        return 2;
    }
    int listen_fd = bench_bind("http_ev", argc == 2 ? argv[1] : "127.0.0.1:0", SOCK_STREAM);
    if (listen_fd < 0) return 1;
    struct ev_loop *loop = ev_default_loop(0);
    int rc = bench_serve("http_ev", loop, listen_fd, on_acceptable);
    while (conns)
        conn_close(loop, conns);
    close(listen_fd);
    ev_loop_destroy(loop);
    return rc;
}
