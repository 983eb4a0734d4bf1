/*
 * lnet's core from C, with no Lua: a listener on 127.0.0.1, a conn dialed
 * to it and the conn it accepts, one message between them, and a read deadline
 * that fires. Built against an installed lnet, as a user's program is:
 *
 *   cc tests/pkgconfig_core.c $(pkg-config --cflags --libs lnet)
 *
 * (spec/install_spec.lua does so). A C program has no tasks to park: each
 * call that answers -LNET_EAGAIN has parked the op, and the program polls
 * the loop until the ready queue hands the op back, then calls again.
 * Prints each step; exits 0 if all went as they should.
 */
#include <stdio.h>
#include <string.h>

#include <lnet/conn.h>
#include <lnet/fd.h>
#include <lnet/listener.h>
#include <lnet/op.h>
#include <lnet/version.h>

#define FAIL(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), 1)

/* Polls until op is woken: 1, or 0 if nothing can wake it or 5 s pass. */
static int await(struct lnet_loop *loop, const struct lnet_op *op) {
    double give_up = lnet_now() + 5;
    while (lnet_now() < give_up) {
        int ready = lnet_loop_ready_next(loop);
        if (ready == op->id) return 1;
        if (ready == 0 && !lnet_loop_poll(loop, 1)) return 0;
    }
    return 0;
}

/* r = call, made again each time it parked op and op was woken. */
#define AWAIT(r, loop, op, call)                                                                   \
    do {                                                                                           \
    } while (((r) = (call)) == -LNET_EAGAIN && await(loop, op))

static struct lnet_listener *listen_loopback(struct lnet_loop *loop, struct lnet_sockaddr *a) {
    static const unsigned char ip[4] = {127, 0, 0, 1};
    int fd = lnet_fd_socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    if (lnet_sockaddr_ip(a, ip, sizeof ip, 0, 0) != 0 || lnet_fd_bind(fd, a) != 0 ||
        lnet_fd_listen(fd, 16) != 0 || lnet_fd_sockname(fd, a) != 0) {
        lnet_fd_close(&fd);
        return NULL;
    }
    return lnet_listener_open(loop, fd, NULL);
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    char *buf = lnet_loop_rbuf(loop);
    struct lnet_sockaddr addr, peer;
    struct lnet_listener *ln = listen_loopback(loop, &addr);
    struct lnet_conn *client, *server;
    int fd, r, n;
    double start, waited;

    printf("lnet %s\n", LNET_VERSION);
    if (ln == NULL) return FAIL("listen failed");
    printf("listening on 127.0.0.1:%d\n", lnet_sockaddr_port(&addr));

    fd = lnet_fd_socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return FAIL("socket: %d", fd);
    client = lnet_conn_open(loop, fd, 0);
    if (client == NULL) return FAIL("conn failed");
    AWAIT(r, loop, op, lnet_conn_connect(client, op, &addr));
    if (r != 0) return FAIL("connect: %d", r);
    AWAIT(fd, loop, op, lnet_listener_accept(ln, op, &peer));
    if (fd < 0) return FAIL("accept: %d", fd);
    server = lnet_conn_open(loop, fd, 0);
    if (server == NULL) return FAIL("accepted conn failed");
    printf("accepted a conn from port %d\n", lnet_sockaddr_port(&peer));

    op->progress = 0;
    AWAIT(r, loop, op, lnet_conn_write(client, op, "ping", 4));
    if (r != 0) return FAIL("write: %d", r);
    AWAIT(n, loop, op, lnet_conn_read(server, op, buf, 64));
    if (n != 4 || memcmp(buf, "ping", 4) != 0) return FAIL("read %d bytes, not ping", n);
    printf("server read %.*s\n", n, buf);

    start = lnet_now();
    lnet_conn_set_deadline(server, LNET_READ, start + 0.05);
    AWAIT(n, loop, op, lnet_conn_read(server, op, buf, 64));
    waited = lnet_now() - start;
    if (n != -LNET_EDEADLINE || waited < 0.05) return FAIL("read gave %d after %.3fs", n, waited);
    printf("read deadline fired after %.2fs\n", waited);

    lnet_conn_free(client);
    lnet_conn_free(server);
    lnet_listener_free(ln);
    lnet_op_free(op);
    if (lnet_loop_handle_count(loop) != 0) return FAIL("handles left open");
    puts("done");
    return 0;
}
