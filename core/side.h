/*
 * A side is one direction of an fd (a conn's reads, its writes, a
 * listener's accepts): the FIFO of calls, the readiness watcher, and the
 * deadline.
 *
 * The head of the FIFO is the call in flight; the others are parked until
 * it leaves, which is what keeps each call's bytes contiguous. The head
 * parks on readiness, the deadline, or close; any of them wakes it and it
 * calls again. The deadline is absolute (lnet_now() seconds, HUGE_VAL for
 * none), stays until changed, and is checked on every entry, so a past
 * deadline fails the next call at once even when data is buffered. Only a
 * parked head waits for it, on its op's own timer (op.h), so a side holds
 * no timer.
 *
 * Special problem of level-triggered readiness: a watcher left on while no
 * call waits would fire on every iteration; stopping it after each wake would
 * cost two epoll_ctl per request. So the watcher stays on while calls come
 * and goes off lazily, in its callback, when it fires and no one is parked.
 *
 * Special problem of that lazy watcher: an active watcher keeps libev's loop
 * alive, so a conn read once and then left alone would hide a deadlock (every
 * task asleep on something nothing can wake) forever. So the watcher holds
 * a loop reference only while a call is parked on it (`held`), and is
 * ev_unref'ed as soon as no one is: when its wake goes out, and when the
 * head call runs again or leaves.
 */
#ifndef LNET_SIDE_H
#define LNET_SIDE_H

#include <ev.h>

#include "errors.h"
#include "list.h"

struct lnet_loop;
struct lnet_op;

struct lnet_side {
    ev_io io;
    double deadline;       /* absolute; HUGE_VAL: none */
    struct lnet_list fifo; /* of ops, through their queue link */
    int maybe_ready;       /* try the syscall before parking */
    int held;              /* io counts as a loop reference: a call is parked on it */
};

void lnet_side_init(struct lnet_side *s, int fd, int events);

/*
 * A task whose calls never block would never yield (a copy between two busy
 * conns, a reader whose peer always keeps up): after this many calls in a
 * row that completed at once, the next one yields its turn, queued behind
 * the tasks already ready, as Go's scheduler preempts a busy goroutine.
 */
#define LNET_FAIR_STREAK 64

/*
 * Takes op's turn: 0 when op heads the FIFO and may try its syscall;
 * -LNET_EAGAIN when op is parked behind another call, or yields for
 * fairness (woken at once); -LNET_EDEADLINE when the deadline has passed
 * (op has left the FIFO).
 */
lnet_err_t lnet_side_enter(struct lnet_side *s, struct lnet_op *op);

/* The syscall would block: park op on readiness and the deadline. */
lnet_err_t lnet_side_wait(struct lnet_side *s, struct lnet_op *op);

/* op's call is over, whatever its result: the next in line gets the turn
 * (woken only when op was the head; one behind others changes nothing). */
void lnet_side_leave(struct lnet_side *s, struct lnet_op *op);

/* Stores t and moves (or fires) the deadline of the call in flight if it is
 * parked; a call already woken arms the new time if it parks again. */
void lnet_side_set_deadline(struct lnet_side *s, double t);

/*
 * The readiness the watcher waits for (EV_READ, EV_WRITE or both): its own
 * direction unless a call says otherwise. A TLS call may need the other
 * direction (a reader must send the handshake's flight, a writer read the
 * peer's), and sets it before it waits and back when it leaves (tls.h).
 */
void lnet_side_set_events(struct lnet_side *s, struct ev_loop *ev, int events);

/* Wakes every parked call, leaving each in its place: each finds out why
 * (a TLS handshake that ended, which any call on the conn may wait for). */
void lnet_side_wake_each(struct lnet_side *s);

/* Stops the watcher and wakes every call: each will find the fd closed. */
void lnet_side_close(struct lnet_side *s, struct lnet_loop *loop);

#endif
