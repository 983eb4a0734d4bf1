/*
 * A stream conn (tcp, unix, a process pipe): a socket handle (sock.h).
 *
 * Every call takes the calling task's op. A call returns its result, or
 * -LNET_EAGAIN after parking the op; the task yields and, once woken, makes
 * the same call again, which picks up where it stopped (a write's progress
 * is kept in op->progress). After close every call returns -LNET_ECLOSED.
 */
#ifndef LNET_CONN_H
#define LNET_CONN_H

#include <netinet/in.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "addr.h"
#include "sock.h"

struct lnet_conn {
    struct lnet_sock s;
    unsigned char is_socket;  /* send/recv; 0 once a call said ENOTSOCK: write/read (pipes) */
    unsigned char connecting; /* a connect(2) is in flight */
    unsigned char net;        /* the binding's name for the network (tcp, unix, ...) */
    unsigned char peer_len;   /* the size of peer; 0: none kept */
    /* An accepted IP conn's peer as accept(2) named it: once the peer has
     * reset, getpeername(2) fails, and errors must still name it. */
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
};

/* Takes ownership of fd (closing it if the conn cannot be made); net is the
 * binding's name for its network, kept for it (lnet_conn_net). */
struct lnet_conn *lnet_conn_open(struct lnet_loop *loop, int fd, int net);
int lnet_conn_net(const struct lnet_conn *c);
/* The binding's finalizer: closes if still open, then frees. */
void lnet_conn_free(struct lnet_conn *c);

/* Keeps a as the peer's address if it is an IP one (accept's peer). */
void lnet_conn_keep_peer(struct lnet_conn *c, const struct lnet_sockaddr *a);
/* The kept peer into out: 0, or -ENOTCONN when none was kept. */
lnet_err_t lnet_conn_peer(const struct lnet_conn *c, struct lnet_sockaddr *out);

lnet_err_t lnet_conn_close(struct lnet_conn *c);

/*
 * Bytes read, at most min(max, LNET_RBUF_SIZE) (0 at end of stream),
 * -LNET_EAGAIN, or an error. Results are ints so LuaJIT returns them
 * unboxed.
 */
int lnet_conn_read(struct lnet_conn *c, struct lnet_op *op, char *buf, size_t max);
/* 0 once all of buf went out; op->progress counts what did, also on failure
 * (a write starts it at 0, and a write resumed after a park goes on from it). */
lnet_err_t lnet_conn_write(struct lnet_conn *c, struct lnet_op *op, const char *buf, size_t len);
/*
 * Gathers iov[0..n) into as few syscalls as the kernel allows (sendmsg, or
 * writev on a pipe), at most LNET_CONN_IOV entries a call: 0 once every byte
 * went out. As for lnet_conn_write, op->progress counts the bytes sent across
 * parks and on failure, and the call that resumes skips them; iov must
 * describe the same bytes on every call (the caller may rebuild it, e.g.
 * after its buffers moved). iov is not changed.
 */
lnet_err_t lnet_conn_writev(struct lnet_conn *c, struct lnet_op *op, const struct iovec *iov,
                            int n);
/* Starts, then finishes, a connect to a; deadline: the write side's. */
lnet_err_t lnet_conn_connect(struct lnet_conn *c, struct lnet_op *op,
                             const struct lnet_sockaddr *a);

/* shutdown(2) of one direction: LNET_READ or LNET_WRITE. */
lnet_err_t lnet_conn_shutdown(struct lnet_conn *c, int dir);
/* Sets the deadline of the sides in dirs (LNET_READ | LNET_WRITE). */
lnet_err_t lnet_conn_set_deadline(struct lnet_conn *c, int dirs, double t);
int lnet_conn_fd(const struct lnet_conn *c);
/* The socket handle inside, for what all sockets share (sock.h). */
struct lnet_sock *lnet_conn_sock(struct lnet_conn *c);

#endif
