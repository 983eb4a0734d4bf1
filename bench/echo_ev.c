/* echo_ev: the floor for lnet's echo benchmark.
 *
 * A TCP echo server written straight against libev, the way one would
 * write it in C with no scripting layer in between. bench/run compares
 * lnet's scripts/echo.lua against this, so every choice here is the
 * cheap one an expert would make, and lnet's costs show as the ratio.
 *
 * Per connection we hold one small struct: two ev_io watchers and a
 * pointer to unsent bytes. Reads land in one static 64 KiB buffer shared
 * by all connections; that is safe because each read is echoed (or its
 * unsent tail copied out) before the callback returns.
 *
 * Usage: echo_ev [host:port]    (default 127.0.0.1:0)
 * Prints one line, "listening HOST:PORT", once the socket is listening.
 * SIGINT or SIGTERM closes everything and exits 0. */

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

#include "net.h"

#define READ_BUF_SIZE (64 * 1024)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct conn {
    ev_io read_w;  /* active while nothing is pending */
    ev_io write_w; /* active only while pending bytes remain */
    char *pending; /* unsent tail of the last echo, or NULL */
    size_t pending_len;
    size_t pending_off;
    struct conn *prev, *next; /* all live conns, so shutdown can free them */
};

static char read_buf[READ_BUF_SIZE];
static struct conn *conns;

/* The one close path: stop both watchers before close(), because libev
 * must never see an fd that was closed under an active watcher (ev.pod,
 * "The special problem of disappearing file descriptors"). */
static void conn_close(struct ev_loop *loop, struct conn *c) {
    ev_io_stop(loop, &c->read_w);
    ev_io_stop(loop, &c->write_w);
    close(c->read_w.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->pending);
    free(c);
}

/* Keep what send() could not take and stop reading until it drains. Not
 * reading lets the peer's socket buffers fill, so a fast writer is slowed
 * by TCP itself rather than by our memory growing (backpressure). */
static void conn_park_tail(struct ev_loop *loop, struct conn *c, const char *tail, size_t len) {
    c->pending = malloc(len);
    if (!c->pending) {
        conn_close(loop, c);
        return;
    }
    memcpy(c->pending, tail, len);
    c->pending_len = len;
    c->pending_off = 0;
    ev_io_stop(loop, &c->read_w);
    ev_io_start(loop, &c->write_w);
}

/* One recv per wakeup: the watcher is level-triggered, so if more data is
 * queued libev calls us again, and we skip the recv that would only say
 * EAGAIN. It also keeps one busy connection from hogging the loop. */
static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    struct conn *c = container_of(w, struct conn, read_w);
    (void)revents;

    ssize_t got = recv(w->fd, read_buf, sizeof read_buf, 0);
    if (got == 0 || (got < 0 && !bench_would_block(errno))) {
        conn_close(loop, c);
        return;
    }
    if (got < 0) return;

    ssize_t sent = send(w->fd, read_buf, (size_t)got, MSG_NOSIGNAL);
    if (sent == got) return;
    if (sent < 0) {
        if (!bench_would_block(errno)) {
            conn_close(loop, c);
            return;
        }
        sent = 0;
    }
    conn_park_tail(loop, c, read_buf + sent, (size_t)(got - sent));
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents) {
    struct conn *c = container_of(w, struct conn, write_w);
    (void)revents;

    ssize_t sent =
        send(w->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
    if (sent < 0) {
        if (!bench_would_block(errno)) conn_close(loop, c);
        return;
    }
    c->pending_off += (size_t)sent;
    if (c->pending_off < c->pending_len) return;

    /* Drained: give the memory back, since an idle connection should
     * cost only its struct, and resume reading. */
    free(c->pending);
    c->pending = NULL;
    ev_io_stop(loop, &c->write_w);
    ev_io_start(loop, &c->read_w);
}

static void on_acceptable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;

    for (int i = 0; i < BENCH_ACCEPT_BATCH; i++) {
        int fd = bench_accept("echo_ev", w->fd);
        if (fd < 0) return;
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        ev_io_init(&c->read_w, on_readable, fd, EV_READ);
        ev_io_init(&c->write_w, on_writable, fd, EV_WRITE);
        c->next = conns;
        if (conns) conns->prev = c;
        conns = c;
        ev_io_start(loop, &c->read_w);
    }
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: echo_ev [host:port]\n");
        return 2;
    }

    int listen_fd = bench_bind("echo_ev", argc == 2 ? argv[1] : "127.0.0.1:0", SOCK_STREAM);
    if (listen_fd < 0) return 1;

    struct ev_loop *loop = ev_default_loop(0);
    int rc = bench_serve("echo_ev", loop, listen_fd, on_acceptable);
    while (conns)
        conn_close(loop, conns);
    close(listen_fd);
    ev_loop_destroy(loop);
    return rc;
}
