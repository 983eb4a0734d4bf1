/*
 * A copy from one conn to another until end of stream: Go's io.Copy for
 * conns, without a string per chunk. Bytes are read into the loop's shared
 * buffer and written straight out; only when the destination would block
 * does the unsent rest move to a private buffer (made then, one per copy),
 * since the shared one belongs to whoever reads next.
 *
 * Like every core call, lnet_copy_step returns -LNET_EAGAIN after parking
 * the op (on the source's read side or the destination's write side) and
 * is called again when the op is woken.
 */
#ifndef LNET_COPY_H
#define LNET_COPY_H

#include <stddef.h>

struct lnet_conn;
struct lnet_op;

/*
 * A copy in flight: it lives in the task's op, one copy per task at a time.
 * When the copy ends on the destination's side, pending[off..len) holds
 * what was read but not written.
 */
struct lnet_copy {
    char *pending;   /* NULL, or a private buffer of LNET_RBUF_SIZE bytes */
    size_t off, len; /* pending[off..len) still to be written */
    double written;  /* bytes written so far (a double: LuaJIT reads it unboxed) */
    int failed;      /* LNET_READ or LNET_WRITE: which side the error came from */
};

/*
 * Starts a copy with op's state (lnet_copy_step then continues it): 0 at end
 * of stream with everything written, -LNET_EAGAIN, or an error.
 */
void lnet_copy_start(struct lnet_op *op);
int lnet_copy_step(struct lnet_op *op, struct lnet_conn *dst, struct lnet_conn *src);
/* Frees the private buffer; lnet_op_free calls it too, for a copy cut short. */
void lnet_copy_release(struct lnet_copy *cp);

#endif
