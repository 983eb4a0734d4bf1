#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "copy.h"
#include "op.h"

/* One write of buf[0..n) to dst, counted; op->progress says how much went. */
static int write_some(struct lnet_copy *cp, struct lnet_op *op, void *dst, const char *buf,
                      size_t n) {
    int rc;
    op->progress = 0;
    rc = cp->write != NULL ? cp->write(dst, op, buf, n) : lnet_conn_write(dst, op, buf, n);
    cp->written += (double)op->progress;
    cp->writing = rc == -LNET_EAGAIN;
    if (rc < 0 && rc != -LNET_EAGAIN) cp->failed = LNET_WRITE;
    return rc;
}

/* Writes what is left over from an earlier step. */
static int write_left(struct lnet_copy *cp, struct lnet_op *op, void *dst) {
    int rc = write_some(cp, op, dst, cp->left, cp->left_len);
    cp->left += op->progress;
    cp->left_len -= op->progress;
    return rc;
}

/*
 * Writes bytes just read into the shared buffer. What dst does not take now
 * moves to the private buffer: the shared one is the next reader's. Without
 * memory for it, the rest is handed back where it is and the copy ends, so
 * no byte read is lost.
 */
static int write_fresh(struct lnet_copy *cp, struct lnet_op *op, void *dst, const char *buf,
                       size_t n) {
    int rc = write_some(cp, op, dst, buf, n);
    const char *rest = buf + op->progress;
    if (rc == 0) return 0;
    cp->left = rest;
    cp->left_len = n - op->progress;
    if (cp->left_len == 0) return rc; /* all taken, the write goes on (writing) */
    if (cp->pending == NULL && (cp->pending = malloc(LNET_RBUF_SIZE)) == NULL) {
        lnet_op_abandon(op);
        cp->failed = LNET_WRITE;
        return -ENOMEM;
    }
    memcpy(cp->pending, rest, cp->left_len);
    cp->left = cp->pending;
    return rc;
}

int lnet_copy_step(struct lnet_copy *cp, struct lnet_op *op, void *dst, void *src) {
    char *rbuf = lnet_loop_rbuf(op->loop);
    for (;;) {
        int n, rc;
        if ((cp->left_len > 0 || cp->writing) && (rc = write_left(cp, op, dst)) != 0) return rc;
        n = cp->read != NULL ? cp->read(src, op, rbuf, LNET_RBUF_SIZE)
                             : lnet_conn_read(src, op, rbuf, LNET_RBUF_SIZE);
        if (n == 0) return 0;
        if (n < 0) {
            if (n != -LNET_EAGAIN) cp->failed = LNET_READ;
            return n;
        }
        if ((rc = write_fresh(cp, op, dst, rbuf, (size_t)n)) != 0) return rc;
    }
}

void lnet_copy_release(struct lnet_copy *cp) {
    free(cp->pending);
    cp->pending = NULL;
    cp->left = NULL;
    cp->left_len = 0;
}
