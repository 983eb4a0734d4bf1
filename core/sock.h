/*
 * A socket handle: what conns, packet conns and listeners have in common,
 * and their one open and close path. It owns an fd and its two sides (a
 * listener accepts on its read side and never writes), and is linked on the
 * loop while open, so teardown can close what the tasks left behind.
 *
 * After close the struct stays valid with fd -1 until its owner frees it,
 * and every call on it returns -LNET_ECLOSED (cqueues #141: accept after
 * close must not touch a freed controller).
 */
#ifndef LNET_SOCK_H
#define LNET_SOCK_H

#include <stddef.h>

#include "loop.h"
#include "side.h"

/* Directions, for deadlines and shutdown. */
enum { LNET_READ = 1, LNET_WRITE = 2 };

struct lnet_sock {
    struct lnet_handle h;
    struct lnet_loop *loop;
    struct lnet_side rd, wr;
    int fd;
};

/*
 * Allocates a zeroed object of `size` bytes that starts with a struct
 * lnet_sock, takes ownership of fd and links it on loop; `close` is what
 * teardown calls. NULL (fd closed) when out of memory.
 */
void *lnet_sock_new(size_t size, struct lnet_loop *loop, int fd,
                    void (*close)(struct lnet_handle *));

/* Unlinks, wakes every call on both sides and closes the fd; -LNET_ECLOSED
 * when already closed. */
lnet_err_t lnet_sock_close(struct lnet_sock *s);

/* The fd, -1 once closed. */
int lnet_sock_fd(const struct lnet_sock *s);

/* Sets the deadline of the sides in dirs (LNET_READ | LNET_WRITE). */
lnet_err_t lnet_sock_set_deadline(struct lnet_sock *s, int dirs, double t);

/*
 * A raw read or write (Go's RawConn.Read/Write): the script's function
 * makes the syscall, the side does the rest. Takes op's turn on the side
 * of dir (LNET_READ or LNET_WRITE), checks the deadline, and returns 0,
 * op having left the FIFO, when the fd may be ready: the caller runs its
 * function then, with no call of the core in flight, so the function may
 * even block (a script's mistake costs it its turn, nothing else). Else
 * parks op on readiness (-LNET_EAGAIN). `tried` says the function just
 * found the fd not ready: then only readiness seen from now on counts.
 */
lnet_err_t lnet_sock_ready(struct lnet_sock *s, struct lnet_op *op, int dir, int tried);

#endif
