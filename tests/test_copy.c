/*
 * lnet.copy's core: bytes move intact through partial writes, and when no
 * buffer can be had for what the destination did not take, that rest is
 * handed back (still in the loop's read buffer), never dropped.
 * Built with -Wl,--wrap=malloc: fail_rbuf makes the copy's allocation fail.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "copy.h"
#include "wait.h"

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static int fail_rbuf;

void *__wrap_malloc(size_t size) {
    if (fail_rbuf && size == LNET_RBUF_SIZE) return NULL;
    return __real_malloc(size);
}

/* A conn pair over a unix socketpair; sndbuf > 0 shrinks a's send buffer. */
static void pair(struct lnet_loop *loop, struct lnet_conn **a, struct lnet_conn **b, int sndbuf) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    if (sndbuf > 0) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    *a = lnet_conn_open(loop, sv[0], 0);
    *b = lnet_conn_open(loop, sv[1], 0);
}

/* Fills src's peer with n patterned bytes, as much as fits. */
static size_t feed(struct lnet_conn *w, size_t n) {
    char chunk[1024];
    size_t sent = 0;
    while (sent < n) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (char)((sent + i) % 251);
        ssize_t k = send(lnet_conn_fd(w), chunk, sizeof chunk, MSG_DONTWAIT);
        if (k <= 0) break;
        sent += (size_t)k;
    }
    return sent;
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    struct lnet_conn *src_w, *src, *dst, *dst_r;
    struct lnet_copy cp;
    pair(loop, &src_w, &src, 0);
    pair(loop, &dst, &dst_r, 4096);

    /* The destination takes a part and blocks; the rest cannot be kept. */
    size_t fed = feed(src_w, 32 * 1024);
    CHECK(fed > 8 * 1024);
    memset(&cp, 0, sizeof cp);
    fail_rbuf = 1;
    int rc = lnet_copy_step(&cp, op, dst, src);
    fail_rbuf = 0;
    CHECK(rc == -ENOMEM);
    CHECK(cp.failed == LNET_WRITE);
    CHECK(cp.left_len > 0);
    CHECK(cp.left >= lnet_loop_rbuf(loop) && cp.left < lnet_loop_rbuf(loop) + LNET_RBUF_SIZE);
    /* Nothing lost: what went out and what is handed back are all that was read ... */
    size_t read_n = (size_t)cp.written + cp.left_len;
    CHECK(read_n <= fed);
    /* ... and the rest is the stream's next bytes, in order. */
    int in_order = 1;
    for (size_t i = 0; i < cp.left_len; i++)
        if (cp.left[i] != (char)(((size_t)cp.written + i) % 251)) in_order = 0;
    CHECK(in_order);
    CHECK(op->state == LNET_OP_IDLE && op->side == NULL);
    lnet_copy_release(&cp);

    lnet_conn_free(src_w);
    lnet_conn_free(src);
    lnet_conn_free(dst);
    lnet_conn_free(dst_r);
    lnet_op_free(op);
    return CHECK_DONE();
}
