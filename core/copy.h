/*
 * A copy from one conn to another until end of stream: Go's io.Copy for
 * conns, without a string per chunk. Bytes are read into the loop's shared
 * buffer and written straight out; only when the destination would block
 * does the unsent rest move to a private buffer (made then, one per copy),
 * since the shared one belongs to whoever reads next.
 *
 * The copy is an object of its own, made by lnet.copy for one call (the
 * caller owns it; lnet_copy_release frees its buffer): the task's op only
 * waits, on the source's read side or the destination's write side. Like
 * every core call, lnet_copy_step returns -LNET_EAGAIN after parking the op
 * and is called again when the op is woken.
 */
#ifndef LNET_COPY_H
#define LNET_COPY_H

#include <stddef.h>

struct lnet_conn;
struct lnet_op;

/* How a copy reads its source and writes its destination: called as
 * lnet_conn_read and lnet_conn_write are (a TLS conn's calls, tls.h). */
typedef int (*lnet_copy_read_fn)(void *src, struct lnet_op *op, char *buf, size_t max);
typedef int (*lnet_copy_write_fn)(void *dst, struct lnet_op *op, const char *buf, size_t len);

struct lnet_copy {
    /* The fields the binding reads come first, so its FFI view is a prefix
     * (bindings/layout.c checks that view against this struct). */
    const char *left; /* bytes read but not yet written ... */
    size_t left_len;  /* ... and how many: handed back when the copy ends there */
    double written;   /* bytes written so far (a double: LuaJIT reads it unboxed) */
    int failed;       /* LNET_READ or LNET_WRITE: which side the error came from */
    int writing;      /* a write parked: it is called again before anything more is read */

    char *pending;            /* NULL, or a private buffer of LNET_RBUF_SIZE bytes */
    lnet_copy_read_fn read;   /* the source's read; NULL: src is a struct lnet_conn */
    lnet_copy_write_fn write; /* the destination's write; NULL: dst is a struct lnet_conn */
};

/*
 * Continues the copy cp (zeroed when it starts): 0 at end of stream with
 * everything written, -LNET_EAGAIN, or an error. When it ends on the write
 * side, left[0..left_len) is what was read and not written: in the private
 * buffer, or (-ENOMEM: no buffer could be had) still in the loop's read
 * buffer, where the caller must take it before anything else reads.
 */
int lnet_copy_step(struct lnet_copy *cp, struct lnet_op *op, void *dst, void *src);
/* Frees the private buffer and forgets what was left: when the copy ends (once
 * left is taken), or (a finalizer) when a copy cut short is dropped. */
void lnet_copy_release(struct lnet_copy *cp);

#endif
