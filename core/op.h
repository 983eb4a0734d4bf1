/*
 * An op is a task's one wait record: what a blocking call parks and what a
 * completion (readiness, a deadline, a close, a cancel) wakes. A task owns
 * exactly one and waits on one thing at a time, so no call allocates.
 *
 * States: IDLE (its task runs, or is finished), PARKED (waiting), READY
 * (woken, on the loop's ready queue). Only lnet_op_wake moves PARKED to
 * READY, so a task is resumed exactly once however many completers race;
 * late completers find it READY or IDLE and do nothing. A woken task does
 * not learn why: it calls again and the call re-reads the state it waits on.
 *
 * Apart from its state, an op may stand in one side's FIFO (struct
 * lnet_side; the head of that queue is the call in flight, parked or not)
 * or in one wait queue (struct lnet_waitq), through the same links, and be
 * watched by one more queue (a context's) while it waits.
 *
 * The op's deadline is what ends its wait in time: an lnet.sleep, or the
 * deadline of the side it waits on (an op waits on one thing at a time, so
 * a conn needs no timer of its own). It is a slot in the loop's timer heap
 * (timers.h), not a timer of the op's own. Any wake clears it: the woken
 * call sets it again if it waits again, so no stale deadline can end a
 * later, unrelated wait.
 *
 * An op is state, queue links and a timer, nothing of any one call: what a
 * call keeps across its parks (lnet.copy's buffer) lives in an object of
 * that call's own.
 */
#ifndef LNET_OP_H
#define LNET_OP_H

#include <stddef.h>

#include "errors.h"
#include "list.h"

enum { LNET_OP_IDLE, LNET_OP_PARKED, LNET_OP_READY };

struct lnet_loop;
struct lnet_side;
struct lnet_waitq;

struct lnet_op {
    /* The fields the binding reads come first, so its FFI view is a prefix
     * (bindings/layout.c checks that view against this struct). */
    int id;          /* the binding's name for the task that owns the op */
    int state;       /* LNET_OP_* */
    size_t progress; /* bytes the write in flight has sent so far */

    struct lnet_loop *loop;
    struct lnet_link ready;     /* in the loop's ready queue (list.h) */
    struct lnet_link q;         /* in the FIFO or wait queue it stands in ... */
    struct lnet_side *side;     /* ... a side's FIFO, or NULL */
    struct lnet_waitq *waitq;   /* ... or a wait queue, or NULL */
    struct lnet_link w;         /* in the queue watching its wait ... */
    struct lnet_waitq *watcher; /* ... or NULL */
    unsigned streak;            /* calls completed in a row without parking */
    int timer_slot;             /* in the loop's timer heap (timers.c), or 0 */
    double wake_at;             /* the deadline there: an lnet_now() time */
};

/* Which link a list of ops goes through (list.h). */
#define LNET_READY_LINK offsetof(struct lnet_op, ready)
#define LNET_QUEUE_LINK offsetof(struct lnet_op, q)
#define LNET_WATCH_LINK offsetof(struct lnet_op, w)

struct lnet_op *lnet_op_new(struct lnet_loop *loop, int id);
/* Leaves any queue and stops the timer first: the one release path. */
void lnet_op_free(struct lnet_op *op);

/* IDLE -> PARKED: the caller is about to yield. */
void lnet_op_park(struct lnet_op *op);
/* PARKED -> READY and onto the ready queue, its deadline cleared; anything
 * else: no-op. */
void lnet_op_wake(struct lnet_op *op);

/* op's wait ends at t (an lnet_now() time) unless something wakes it
 * first: its deadline. 0, or -ENOMEM when the heap cannot grow. */
lnet_err_t lnet_op_wake_at(struct lnet_op *op, double t);
/* Parks op until lnet_now() >= t (or another waker comes first). */
lnet_err_t lnet_op_sleep(struct lnet_op *op, double t);
/* Clears the deadline: the wait no longer has one. */
void lnet_op_sleep_stop(struct lnet_op *op);

/*
 * The call owning op gives up (its task was cancelled, or is dropped): leave
 * the FIFO or queue and any watcher, clear the deadline, and back to IDLE
 * even if already woken.
 */
void lnet_op_abandon(struct lnet_op *op);

#endif
