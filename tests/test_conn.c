/* Conns over a socketpair: read/write, parking, a deadline timer, close. */
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "wait.h"
#include "conn.h"
#include "op.h"

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    char *buf = lnet_loop_rbuf(loop);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    struct lnet_conn *a = lnet_conn_open(loop, sv[0], 0), *b = lnet_conn_open(loop, sv[1], 0);
    CHECK(lnet_loop_handle_count(loop) == 2);

    op->progress = 0;
    CHECK(lnet_conn_write(a, op, "ping", 4) == 0);
    CHECK(op->progress == 4);
    CHECK(lnet_conn_read(b, op, buf, 100) == 4);
    CHECK(memcmp(buf, "ping", 4) == 0);

    /* Nothing to read: park, then wake when data arrives. */
    CHECK(lnet_conn_read(b, op, buf, 100) == -LNET_EAGAIN);
    CHECK(write(sv[0], "x", 1) == 1);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_conn_read(b, op, buf, 100) == 1);

    /* A deadline 10 ms out wakes a parked read, which then times out. */
    double start = lnet_now();
    lnet_conn_set_deadline(b, LNET_READ, start + 0.01);
    CHECK(lnet_conn_read(b, op, buf, 100) == -LNET_EAGAIN);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_conn_read(b, op, buf, 100) == -LNET_EDEADLINE);
    CHECK(lnet_now() >= start + 0.01);
    lnet_conn_set_deadline(b, LNET_READ, HUGE_VAL);

    /* Close wakes the parked read; every later call reports the close. */
    CHECK(lnet_conn_read(b, op, buf, 100) == -LNET_EAGAIN);
    CHECK(lnet_conn_close(b) == 0);
    CHECK(lnet_loop_ready_next(loop) == op->id);
    CHECK(lnet_conn_read(b, op, buf, 100) == -LNET_ECLOSED);
    CHECK(lnet_conn_close(b) == -LNET_ECLOSED);

    /* The peer sees end of stream. */
    CHECK(lnet_conn_read(a, op, buf, 100) == 0);

    lnet_conn_free(a);
    lnet_conn_free(b);
    CHECK(lnet_loop_handle_count(loop) == 0);
    lnet_op_free(op);
    return CHECK_DONE();
}
