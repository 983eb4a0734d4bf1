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

/* Sets the deadline of the sides in dirs (LNET_READ | LNET_WRITE). */
lnet_err_t lnet_sock_set_deadline(struct lnet_sock *s, int dirs, double t);

#endif
