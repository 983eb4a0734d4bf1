#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "op.h"
#include "packet.h"

struct lnet_packet_ring {
    unsigned head, count; /* the datagrams not yet handed out */
    struct mmsghdr msgs[LNET_PACKET_RING];
    struct iovec iov[LNET_PACKET_RING];
    struct sockaddr_storage names[LNET_PACKET_RING];
    char data[LNET_PACKET_RING][LNET_RBUF_SIZE];
};

static void close_handle(struct lnet_handle *h) {
    lnet_packet_close(LNET_CONTAINER_OF(h, struct lnet_packet, s.h));
}

struct lnet_packet *lnet_packet_open(struct lnet_loop *loop, int fd) {
    return lnet_sock_new(sizeof(struct lnet_packet), loop, fd, close_handle);
}

void lnet_packet_free(struct lnet_packet *p) {
    if (p == NULL) return;
    lnet_packet_close(p);
    free(p);
}

lnet_err_t lnet_packet_close(struct lnet_packet *p) {
    lnet_err_t rc = lnet_sock_close(&p->s);
    free(p->ring);
    p->ring = NULL;
    return rc;
}

static struct lnet_packet_ring *ring_new(void) {
    struct lnet_packet_ring *r = malloc(sizeof *r);
    if (r == NULL) return NULL;
    r->head = r->count = 0;
    memset(r->msgs, 0, sizeof r->msgs);
    for (int i = 0; i < LNET_PACKET_RING; i++) {
        r->iov[i].iov_base = r->data[i];
        r->iov[i].iov_len = LNET_RBUF_SIZE;
        r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
        r->msgs[i].msg_hdr.msg_name = &r->names[i];
    }
    return r;
}

/*
 * The length to report: the kernel's real length with MSG_TRUNC, except
 * where it cut the datagram and returned only what it copied (-1: unknown).
 */
static int real_size(size_t n, size_t room, int flags) {
    if ((flags & MSG_TRUNC) && n <= room) return -1;
    return (int)n;
}

static void copy_name(struct lnet_sockaddr *from, const void *name, socklen_t len) {
    if (from == NULL) return;
    if (len > sizeof from->u) len = sizeof from->u;
    memcpy(&from->u, name, len);
    from->len = len;
}

/* Hands out the oldest datagram of the ring. */
static int ring_take(struct lnet_packet_ring *r, char *buf, size_t max, struct lnet_sockaddr *from,
                     int *size) {
    unsigned i = r->head;
    const struct msghdr *h = &r->msgs[i].msg_hdr;
    size_t len = r->msgs[i].msg_len, have = len < LNET_RBUF_SIZE ? len : LNET_RBUF_SIZE;
    size_t n = have < max ? have : max;
    memcpy(buf, r->data[i], n);
    copy_name(from, h->msg_name, h->msg_namelen);
    *size = real_size(len, LNET_RBUF_SIZE, h->msg_flags);
    r->head = (i + 1) % LNET_PACKET_RING;
    r->count--;
    return (int)n;
}

/* One recvmmsg into the empty ring: how many came, or -errno. */
static int ring_fill(struct lnet_packet *p) {
    struct lnet_packet_ring *r = p->ring;
    int n;
    for (int i = 0; i < LNET_PACKET_RING; i++)
        r->msgs[i].msg_hdr.msg_namelen = sizeof r->names[i];
    while ((n = recvmmsg(p->s.fd, r->msgs, LNET_PACKET_RING, MSG_TRUNC, NULL)) < 0) {
        if (errno != EINTR) return -errno;
    }
    r->head = 0;
    r->count = (unsigned)n;
    /* Fewer than asked for: the socket is drained, so park before asking again. */
    if (n < LNET_PACKET_RING) p->s.rd.maybe_ready = 0;
    return n;
}

/* One recvmsg straight into buf: bytes copied, or -errno. */
static int recv_one(struct lnet_packet *p, char *buf, size_t max, struct lnet_sockaddr *from,
                    int *size) {
    struct sockaddr_storage name;
    struct iovec iov = {.iov_base = buf, .iov_len = max};
    struct msghdr h = {
        .msg_name = &name, .msg_namelen = sizeof name, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;
    while ((n = recvmsg(p->s.fd, &h, MSG_TRUNC)) < 0) {
        if (errno != EINTR) return -errno;
    }
    copy_name(from, &name, h.msg_namelen);
    *size = real_size((size_t)n, max, h.msg_flags);
    return (int)((size_t)n < max ? (size_t)n : max);
}

int lnet_packet_recvfrom(struct lnet_packet *p, struct lnet_op *op, char *buf, size_t max,
                         struct lnet_sockaddr *from, int *size) {
    struct lnet_side *s = &p->s.rd;
    int rc;
    if (p->s.fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    if (max > LNET_RBUF_SIZE) max = LNET_RBUF_SIZE;
    if ((p->ring == NULL || p->ring->count == 0) && s->maybe_ready) {
        if (p->ring != NULL) {
            rc = ring_fill(p);
        } else {
            rc = recv_one(p, buf, max, from, size);
            if (rc >= 0) {
                if (++p->burst >= LNET_PACKET_BURST) {
                    p->ring = ring_new(); /* NULL: no memory, read one at a time */
                    p->burst = 0;
                }
                lnet_side_leave(s, op);
                return rc;
            }
        }
        if (rc < 0 && rc != -EAGAIN) {
            lnet_side_leave(s, op);
            return rc;
        }
    }
    if (p->ring != NULL && p->ring->count > 0) {
        rc = ring_take(p->ring, buf, max, from, size);
        lnet_side_leave(s, op);
        return rc;
    }
    p->burst = 0;
    return lnet_side_wait(s, op);
}

lnet_err_t lnet_packet_sendto(struct lnet_packet *p, struct lnet_op *op, const char *buf,
                              size_t len, const struct lnet_sockaddr *to) {
    struct lnet_side *s = &p->s.wr;
    int fd = p->s.fd;
    lnet_err_t rc;
    if (fd < 0) return -LNET_ECLOSED;
    if ((rc = lnet_side_enter(s, op)) < 0) return rc;
    for (;;) {
        ssize_t n = to != NULL ? sendto(fd, buf, len, MSG_NOSIGNAL, &to->u.sa, to->len)
                               : send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            rc = 0;
            break;
        }
        if (errno == EAGAIN) return lnet_side_wait(s, op);
        if (errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    lnet_side_leave(s, op);
    return rc;
}

lnet_err_t lnet_packet_connect(struct lnet_packet *p, const struct lnet_sockaddr *a) {
    lnet_err_t rc;
    if (p->s.fd < 0) return -LNET_ECLOSED;
    while ((rc = connect(p->s.fd, &a->u.sa, a->len) < 0 ? -errno : 0) == -EINTR) {
    }
    return rc;
}

lnet_err_t lnet_packet_set_deadline(struct lnet_packet *p, int dirs, double t) {
    return lnet_sock_set_deadline(&p->s, dirs, t);
}

int lnet_packet_fd(const struct lnet_packet *p) {
    return p->s.fd;
}

struct lnet_sock *lnet_packet_sock(struct lnet_packet *p) {
    return &p->s;
}
