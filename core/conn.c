#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "fd.h"
#include "op.h"

static void close_handle(struct lnet_handle *h) {
    lnet_sock_close(LNET_CONTAINER_OF(h, struct lnet_sock, h));
}

struct lnet_conn *lnet_conn_open(struct lnet_loop *loop, int fd, int net) {
    struct lnet_conn *c = lnet_sock_new(sizeof *c, loop, fd, close_handle);
    if (c == NULL) return NULL;
    c->is_socket = 1; /* until a call says ENOTSOCK: no fstat per accept */
    c->net = (unsigned char)net;
    return c;
}

int lnet_conn_net(const struct lnet_conn *c) {
    return c->net;
}

void lnet_conn_free(struct lnet_conn *c) {
    if (c == NULL) return;
    lnet_conn_close(c);
    free(c);
}

void lnet_conn_keep_peer(struct lnet_conn *c, const struct lnet_sockaddr *a) {
    if (a->len > sizeof c->peer) return; /* a unix peer: the kernel keeps it */
    memcpy(&c->peer, &a->u, a->len);
    c->peer_len = (unsigned char)a->len;
}

lnet_err_t lnet_conn_peer(const struct lnet_conn *c, struct lnet_sockaddr *out) {
    if (c->peer_len == 0) return -ENOTCONN;
    memcpy(&out->u, &c->peer, c->peer_len);
    out->len = c->peer_len;
    return 0;
}

lnet_err_t lnet_conn_close(struct lnet_conn *c) {
    return lnet_sock_close(&c->s);
}

int lnet_conn_read(struct lnet_conn *c, struct lnet_op *op, char *buf, size_t max) {
    struct lnet_side *s = &c->s.rd;
    int fd = c->s.fd;
    lnet_err_t rc;
    if (fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    if (max > LNET_RBUF_SIZE) max = LNET_RBUF_SIZE;
    while (s->maybe_ready) {
        ssize_t n = c->is_socket ? recv(fd, buf, max, 0) : read(fd, buf, max);
        if (n < 0 && errno == ENOTSOCK) {
            c->is_socket = 0;
            continue;
        }
        if (n >= 0) {
            /* A short read drained the socket: park before the next recv. */
            if (n > 0 && (size_t)n < max) s->maybe_ready = 0;
            lnet_side_leave(s, op);
            return (int)n;
        }
        if (errno == EAGAIN) break;
        if (errno != EINTR) {
            rc = -errno;
            lnet_side_leave(s, op);
            return rc;
        }
    }
    return lnet_side_wait(s, op);
}

lnet_err_t lnet_conn_write(struct lnet_conn *c, struct lnet_op *op, const char *buf, size_t len) {
    struct lnet_side *s = &c->s.wr;
    int fd = c->s.fd;
    lnet_err_t rc;
    if (fd < 0) return -LNET_ECLOSED;
    if (op->side == NULL) op->progress = 0; /* a new write, not one resumed */
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    /* At least one call, as Go makes: an empty write still reports a pending
     * error (a reset), and on a seqpacket socket it sends an empty record. */
    for (;;) {
        const char *p = buf + op->progress;
        size_t left = len - op->progress;
        ssize_t n = c->is_socket ? send(fd, p, left, MSG_NOSIGNAL) : write(fd, p, left);
        if (n < 0 && errno == ENOTSOCK) {
            c->is_socket = 0;
            continue;
        }
        if (n >= 0) {
            op->progress += (size_t)n;
            if (op->progress >= len) break;
        } else if (errno == EAGAIN) {
            return lnet_side_wait(s, op);
        } else if (errno != EINTR) {
            rc = -errno;
            lnet_side_leave(s, op);
            return rc;
        }
    }
    lnet_side_leave(s, op);
    return 0;
}

/*
 * The entries of one gathering syscall: copied, since the first may start
 * part way (the progress of an earlier call) and the caller's iov is const.
 * 64 keeps the copy on the stack small; a writer's iov is a few entries
 * (its small writes share one buffer), so one call nearly always suffices.
 */
#define LNET_CONN_IOV 64

/* Fills out[] with the entries of iov[0..n) after skipping `skip` bytes;
 * returns how many (0: nothing is left). */
static int iov_window(const struct iovec *iov, int n, size_t skip, struct iovec *out) {
    int i = 0, k = 0;
    while (i < n && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    for (; i < n && k < LNET_CONN_IOV; i++) {
        if (iov[i].iov_len == skip) {
            skip = 0; /* an empty entry (or the skipped one's end) */
            continue;
        }
        out[k].iov_base = (char *)iov[i].iov_base + skip;
        out[k].iov_len = iov[i].iov_len - skip;
        skip = 0;
        k++;
    }
    return k;
}

lnet_err_t lnet_conn_writev(struct lnet_conn *c, struct lnet_op *op, const struct iovec *iov,
                            int n) {
    struct lnet_side *s = &c->s.wr;
    struct iovec win[LNET_CONN_IOV];
    struct msghdr msg;
    int fd = c->s.fd, first = 1;
    lnet_err_t rc;
    if (fd < 0) return -LNET_ECLOSED;
    if (op->side == NULL) op->progress = 0; /* as in lnet_conn_write */
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = win;
    /* At least one call, as lnet_conn_write makes, even with nothing to send. */
    for (;;) {
        ssize_t sent;
        int k = iov_window(iov, n, op->progress, win);
        if (k == 0 && !first) break;
        first = 0;
        msg.msg_iovlen = (size_t)k;
        sent = c->is_socket ? sendmsg(fd, &msg, MSG_NOSIGNAL) : writev(fd, win, k);
        if (sent < 0 && errno == ENOTSOCK) {
            c->is_socket = 0;
            first = 1;
            continue;
        }
        if (sent >= 0) {
            op->progress += (size_t)sent;
            if (k == 0) break;
        } else if (errno == EAGAIN) {
            return lnet_side_wait(s, op);
        } else if (errno != EINTR) {
            rc = -errno;
            lnet_side_leave(s, op);
            return rc;
        }
    }
    lnet_side_leave(s, op);
    return 0;
}

/*
 * Woken during a connect: SO_ERROR says whether it failed, and only a peer
 * name says it succeeded (a wake can come before either, from a deadline
 * change), as Go's netFD.connect does.
 */
static lnet_err_t connect_result(struct lnet_conn *c) {
    struct lnet_sockaddr peer;
    int err = 0;
    lnet_err_t rc = lnet_fd_getsockopt_int(c->s.fd, SOL_SOCKET, SO_ERROR, &err);
    if (rc < 0) return rc;
    if (err != 0) return -err;
    if (lnet_fd_peername(c->s.fd, &peer) == 0) return 0;
    return -EINPROGRESS;
}

lnet_err_t lnet_conn_connect(struct lnet_conn *c, struct lnet_op *op,
                             const struct lnet_sockaddr *a) {
    struct lnet_side *s = &c->s.wr;
    lnet_err_t rc;
    if (c->s.fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    if (!c->connecting) {
        while ((rc = connect(c->s.fd, &a->u.sa, a->len) < 0 ? -errno : 0) == -EINTR) {
        }
        c->connecting = rc == -EINPROGRESS;
    } else if ((rc = connect_result(c)) != -EINPROGRESS) {
        c->connecting = 0;
    }
    if (rc == -EINPROGRESS) return lnet_side_wait(s, op);
    lnet_side_leave(s, op);
    return rc;
}

lnet_err_t lnet_conn_shutdown(struct lnet_conn *c, int dir) {
    if (c->s.fd < 0) return -LNET_ECLOSED;
    return shutdown(c->s.fd, dir == LNET_READ ? SHUT_RD : SHUT_WR) < 0 ? -errno : 0;
}

lnet_err_t lnet_conn_set_deadline(struct lnet_conn *c, int dirs, double t) {
    return lnet_sock_set_deadline(&c->s, dirs, t);
}

int lnet_conn_fd(const struct lnet_conn *c) {
    return c->s.fd;
}

struct lnet_sock *lnet_conn_sock(struct lnet_conn *c) {
    return &c->s;
}
