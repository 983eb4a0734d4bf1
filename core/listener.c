#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd.h"
#include "listener.h"

static void close_handle(struct lnet_handle *h) {
    lnet_listener_close(LNET_CONTAINER_OF(h, struct lnet_listener, h));
}

struct lnet_listener *lnet_listener_open(struct lnet_loop *loop, int fd, const char *unlink_path) {
    struct lnet_listener *l = calloc(1, sizeof *l);
    if (l == NULL || (unlink_path != NULL && (l->unlink_path = strdup(unlink_path)) == NULL)) {
        free(l);
        lnet_fd_close(&fd);
        return NULL;
    }
    l->fd = fd;
    lnet_side_init(&l->acc, loop, fd, EV_READ);
    l->h.close = close_handle;
    lnet_handle_link(loop, &l->h);
    return l;
}

void lnet_listener_free(struct lnet_listener *l) {
    if (l == NULL) return;
    lnet_listener_close(l);
    free(l->unlink_path);
    free(l);
}

lnet_err_t lnet_listener_close(struct lnet_listener *l) {
    if (l->fd < 0) return -LNET_ECLOSED;
    lnet_handle_unlink(&l->h);
    lnet_side_close(&l->acc);
    lnet_fd_close(&l->fd);
    if (l->unlink_path != NULL) unlink(l->unlink_path);
    return 0;
}

int lnet_listener_accept(struct lnet_listener *l, struct lnet_op *op, struct lnet_sockaddr *peer) {
    struct lnet_side *s = &l->acc;
    lnet_err_t rc;
    if (l->fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    for (;;) {
        socklen_t len = sizeof peer->u;
        int fd = accept4(l->fd, peer ? &peer->u.sa : NULL, peer ? &len : NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (peer) peer->len = len;
            lnet_side_leave(s, op);
            return fd;
        }
        /* A conn reset before we took it is no error of ours (Go does the same). */
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN) return lnet_side_wait(s, op);
        rc = -errno;
        lnet_side_leave(s, op);
        return rc;
    }
}

lnet_err_t lnet_listener_set_deadline(struct lnet_listener *l, double t) {
    if (l->fd < 0) return -LNET_ECLOSED;
    lnet_side_set_deadline(&l->acc, t);
    return 0;
}

int lnet_listener_fd(const struct lnet_listener *l) {
    return l->fd;
}
