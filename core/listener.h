/*
 * A listener: a socket handle (sock.h) that accepts on its read side. Several tasks
 * may accept at once; they queue on the side and each new conn goes to the
 * head. Closing wakes them all with -LNET_ECLOSED and leaves the conns they
 * accepted alone. A unix listener removes its socket file on close, as Go's
 * does for the listeners it made.
 */
#ifndef LNET_LISTENER_H
#define LNET_LISTENER_H

#include "addr.h"
#include "sock.h"

struct lnet_listener {
    struct lnet_sock s;
    char *unlink_path; /* NULL, or the socket file to remove on close */
};

/* Takes ownership of a listening fd; unlink_path may be NULL. */
struct lnet_listener *lnet_listener_open(struct lnet_loop *loop, int fd, const char *unlink_path);
void lnet_listener_free(struct lnet_listener *l);
lnet_err_t lnet_listener_close(struct lnet_listener *l);

/* A new non-blocking conn fd, -LNET_EAGAIN, or an error; peer (unless
 * NULL) gets the new conn's peer address. */
int lnet_listener_accept(struct lnet_listener *l, struct lnet_op *op, struct lnet_sockaddr *peer);
lnet_err_t lnet_listener_set_deadline(struct lnet_listener *l, double t);
int lnet_listener_fd(const struct lnet_listener *l);
/* The socket handle inside, for what all sockets share (sock.h). */
struct lnet_sock *lnet_listener_sock(struct lnet_listener *l);

#endif
