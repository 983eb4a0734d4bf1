#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "copy.h"
#include "op.h"

/*
 * Writes buf[0..n) to dst. What is left when dst blocks or fails moves to
 * pending: to be written once dst is ready, or handed back to the caller
 * when the copy ends there (read from src, it would be lost otherwise).
 */
static int write_out(struct lnet_copy *cp, struct lnet_conn *dst, struct lnet_op *op,
                     const char *buf, size_t n) {
    op->progress = 0;
    int rc = lnet_conn_write(dst, op, buf, n);
    cp->written += (double)op->progress;
    if (rc < 0 && buf != cp->pending) {
        if (cp->pending == NULL && (cp->pending = malloc(LNET_RBUF_SIZE)) == NULL) {
            lnet_op_abandon(op);
            cp->failed = LNET_WRITE;
            return -ENOMEM;
        }
        memcpy(cp->pending, buf + op->progress, n - op->progress);
        cp->off = 0;
        cp->len = n - op->progress;
    } else if (buf == cp->pending) {
        cp->off += op->progress;
    }
    if (rc < 0 && rc != -LNET_EAGAIN) cp->failed = LNET_WRITE;
    return rc;
}

void lnet_copy_start(struct lnet_op *op) {
    lnet_copy_release(&op->copy);
    op->copy.written = 0;
    op->copy.failed = 0;
}

int lnet_copy_step(struct lnet_op *op, struct lnet_conn *dst, struct lnet_conn *src) {
    struct lnet_copy *cp = &op->copy;
    char *rbuf = src->rd.loop->rbuf;
    for (;;) {
        int rc;
        if (cp->off < cp->len) {
            if ((rc = write_out(cp, dst, op, cp->pending + cp->off, cp->len - cp->off)) != 0)
                return rc;
            cp->off = cp->len = 0;
        }
        int n = lnet_conn_read(src, op, rbuf, LNET_RBUF_SIZE);
        if (n == 0) return 0;
        if (n < 0) {
            if (n != -LNET_EAGAIN) cp->failed = LNET_READ;
            return n;
        }
        if ((rc = write_out(cp, dst, op, rbuf, (size_t)n)) != 0) return rc;
    }
}

void lnet_copy_release(struct lnet_copy *cp) {
    free(cp->pending);
    cp->pending = NULL;
    cp->off = cp->len = 0;
}
