#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

static void close_handle(struct lnet_handle *h) {
    lnet_listener_close(LNET_CONTAINER_OF(h, struct lnet_listener, s.h));
}

struct lnet_listener *lnet_listener_open(struct lnet_loop *loop, int fd, const char *unlink_path) {
    struct lnet_listener *l = lnet_sock_new(sizeof *l, loop, fd, close_handle);
    if (l != NULL && unlink_path != NULL && (l->unlink_path = strdup(unlink_path)) == NULL) {
        lnet_listener_free(l);
        return NULL;
    }
    return l;
}

void lnet_listener_free(struct lnet_listener *l) {
    if (l == NULL) return;
    lnet_listener_close(l);
    free(l->unlink_path);
    free(l);
}

lnet_err_t lnet_listener_close(struct lnet_listener *l) {
    lnet_err_t rc = lnet_sock_close(&l->s);
    if (rc == 0 && l->unlink_path != NULL) unlink(l->unlink_path);
    return rc;
}

int lnet_listener_accept(struct lnet_listener *l, struct lnet_op *op, struct lnet_sockaddr *peer) {
    struct lnet_side *s = &l->s.rd;
    lnet_err_t rc;
    if (l->s.fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    for (;;) {
        socklen_t len = sizeof peer->u;
        int fd = accept4(l->s.fd, peer ? &peer->u.sa : NULL, peer ? &len : NULL,
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
    return lnet_sock_set_deadline(&l->s, LNET_READ, t);
}

int lnet_listener_fd(const struct lnet_listener *l) {
    return l->s.fd;
}

struct lnet_sock *lnet_listener_sock(struct lnet_listener *l) {
    return &l->s;
}
