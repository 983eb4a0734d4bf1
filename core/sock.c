#include <stdlib.h>

#include "fd.h"
#include "op.h"
#include "sock.h"

void *lnet_sock_new(size_t size, struct lnet_loop *loop, int fd,
                    void (*close)(struct lnet_handle *)) {
    struct lnet_sock *s = calloc(1, size);
    if (s == NULL) {
        lnet_fd_close(&fd);
        return NULL;
    }
    s->fd = fd;
    s->loop = loop;
    lnet_side_init(&s->rd, fd, EV_READ);
    lnet_side_init(&s->wr, fd, EV_WRITE);
    s->h.close = close;
    lnet_handle_link(loop, &s->h);
    return s;
}

lnet_err_t lnet_sock_close(struct lnet_sock *s) {
    if (s->fd < 0) return -LNET_ECLOSED;
    lnet_handle_unlink(&s->h);
    lnet_side_close(&s->rd, s->loop);
    lnet_side_close(&s->wr, s->loop);
    lnet_fd_close(&s->fd);
    return 0;
}

int lnet_sock_fd(const struct lnet_sock *s) {
    return s->fd;
}

lnet_err_t lnet_sock_set_deadline(struct lnet_sock *s, int dirs, double t) {
    if (s->fd < 0) return -LNET_ECLOSED;
    if (dirs & LNET_READ) lnet_side_set_deadline(&s->rd, t);
    if (dirs & LNET_WRITE) lnet_side_set_deadline(&s->wr, t);
    return 0;
}

lnet_err_t lnet_sock_ready(struct lnet_sock *s, struct lnet_op *op, int dir, int tried) {
    struct lnet_side *side = dir == LNET_READ ? &s->rd : &s->wr;
    lnet_err_t rc;
    if (s->fd < 0) return -LNET_ECLOSED;
    /* Not in the FIFO: a first try, or the function said "not ready" (a
     * woken op is still in it, and what woke it stands). */
    if (tried && op->side != side) side->maybe_ready = 0;
    if ((rc = lnet_side_enter(side, op)) < 0) return rc;
    if (!side->maybe_ready) return lnet_side_wait(side, op);
    lnet_side_leave(side, op);
    return 0;
}
