/*
 * What conns, listeners and packet conns share, over a socketpair: the raw
 * readiness wait (lnet_sock_ready: a first try at once, parking once the
 * script's function found the fd not ready, the deadline, close), fd
 * handover (dup, adopt) and the socket option helpers.
 */
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "fd.h"
#include "op.h"
#include "sockopt.h"
#include "wait.h"

static void raw_wait(struct lnet_loop *loop, struct lnet_op *op) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    struct lnet_conn *c = lnet_conn_open(loop, sv[0], 0);
    struct lnet_sock *s = lnet_conn_sock(c);
    CHECK(lnet_sock_fd(s) == sv[0]);

    /* A first try goes ahead at once: the fd may be ready. */
    CHECK(lnet_sock_ready(s, op, LNET_READ, 0) == 0);
    /* The function found nothing: park until the peer writes. */
    CHECK(lnet_sock_ready(s, op, LNET_READ, 1) == -LNET_EAGAIN);
    CHECK(op->state == LNET_OP_PARKED);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(wait_ready(loop, op));
    /* Woken by readiness: the same call now says go ahead. */
    CHECK(lnet_sock_ready(s, op, LNET_READ, 1) == 0);

    /* An empty send buffer is writable: a wait for it ends at once. */
    CHECK(lnet_sock_ready(s, op, LNET_WRITE, 1) == -LNET_EAGAIN);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_sock_ready(s, op, LNET_WRITE, 1) == 0);

    /* The side's deadline ends a wait; a past one fails the next call. */
    char drain[8];
    CHECK(read(sv[0], drain, sizeof drain) == 1);
    double start = lnet_now();
    lnet_conn_set_deadline(c, LNET_READ, start + 0.01);
    CHECK(lnet_sock_ready(s, op, LNET_READ, 1) == -LNET_EAGAIN);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_sock_ready(s, op, LNET_READ, 1) == -LNET_EDEADLINE);
    CHECK(lnet_now() >= start + 0.01);
    CHECK(lnet_sock_ready(s, op, LNET_READ, 0) == -LNET_EDEADLINE);
    lnet_conn_set_deadline(c, LNET_READ, HUGE_VAL);

    /* Close wakes a parked wait, and every later call says closed. */
    CHECK(lnet_sock_ready(s, op, LNET_READ, 1) == -LNET_EAGAIN);
    CHECK(lnet_conn_close(c) == 0);
    CHECK(lnet_loop_ready_next(loop) == op->id);
    CHECK(lnet_sock_ready(s, op, LNET_READ, 0) == -LNET_ECLOSED);
    CHECK(lnet_sock_fd(s) == -1);
    lnet_conn_free(c);
    close(sv[1]);
}

static void handover(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* blocking, as an inherited one may be */
    CHECK(fd >= 0);
    int d = lnet_fd_dup(fd);
    CHECK(d >= 0 && d != fd);
    CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);
    CHECK(lnet_fd_adopt(fd) == 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* O_NONBLOCK belongs to the open socket: the dup has it too. */
    CHECK(fcntl(d, F_GETFL) & O_NONBLOCK);
    CHECK(lnet_fd_dup(-1) == -EBADF);
    CHECK(lnet_fd_adopt(-1) == -EBADF);

    int sec = 0;
    CHECK(lnet_sockopt_get_linger(fd, &sec) == 0 && sec == -1);
    CHECK(lnet_sockopt_linger(fd, 0) == 0);
    CHECK(lnet_sockopt_get_linger(fd, &sec) == 0 && sec == 0);

    /* Keepalive: a negative value leaves that option as it was. */
    int v = 0;
    unsigned len = sizeof v;
    CHECK(lnet_sockopt_keepalive(fd, 1, 15, 15, 9) == 0);
    CHECK(lnet_sockopt_keepalive(fd, -1, 30, -1, -1) == 0);
    CHECK(lnet_sockopt_get(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 && v == 1 &&
          len == sizeof v);
    CHECK(lnet_sockopt_get(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len) == 0 && v == 30);
    CHECK(lnet_sockopt_get(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len) == 0 && v == 15);
    CHECK(lnet_sockopt_get(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len) == 0 && v == 9);
    CHECK(lnet_sockopt_keepalive(fd, 0, -1, 0, -1) == -EINVAL); /* an interval of 0 */

    char name[16];
    len = sizeof name;
    CHECK(lnet_sockopt_set(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0);
    CHECK(lnet_sockopt_get(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0);
    CHECK(len > 4 && memcmp(name, "reno", 5) == 0);
    close(d);
    close(fd);
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    raw_wait(loop, op);
    handover();
    CHECK(lnet_loop_handle_count(loop) == 0);
    lnet_op_free(op);
    return CHECK_DONE();
}
