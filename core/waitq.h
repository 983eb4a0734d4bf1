/*
 * A wait queue: a FIFO of parked ops waiting on something the Lua side keeps
 * (a channel, a join, a wait group, a pipe, a process's exit), linked
 * through the ops themselves: no wait allocates, and pushing, taking the
 * first, and taking out any one (a wait cut short) are O(1) however many
 * wait.
 *
 * An op waits on one thing at a time: a queue here, or a side's FIFO
 * (side.h), through the same links. While it waits it may also be watched
 * by one queue more, through links of its own: a context's, whose cancel
 * wakes every op watching it. Freeing an op takes it out of both (it leaves
 * nothing behind for a later wake to find), as does abandoning its wait.
 * A queue takes an op out before it wakes it, so no op is woken twice.
 */
#ifndef LNET_WAITQ_H
#define LNET_WAITQ_H

#include "list.h"

struct lnet_op;

struct lnet_waitq {
    struct lnet_list l;
    unsigned n; /* how many wait */
};

/* Parks nothing: the caller parks op (lnet_op_park) before it yields. */
void lnet_waitq_push(struct lnet_waitq *q, struct lnet_op *op);
/* Takes op out of the queue it waits in, if any. */
void lnet_waitq_remove(struct lnet_op *op);
/* Takes the first op out (not woken) and returns its id; 0 when empty. */
int lnet_waitq_shift(struct lnet_waitq *q);
/* Takes the first op out, wakes it and returns its id; 0 when empty. */
int lnet_waitq_wake_first(struct lnet_waitq *q);
/* Takes every op out and wakes each, in order. */
void lnet_waitq_wake_all(struct lnet_waitq *q);
/* Wakes every op, leaving each in the queue (each finds out why itself). */
void lnet_waitq_wake_each(struct lnet_waitq *q);
/* The first op and the one after op, for walking a queue (NULL: no more). */
struct lnet_op *lnet_waitq_first(const struct lnet_waitq *q);
struct lnet_op *lnet_waitq_next(const struct lnet_op *op);

/* op, while it waits, is watched by q too (at most one watcher). */
void lnet_waitq_watch(struct lnet_waitq *q, struct lnet_op *op);
/* op is no longer watched, if it was. */
void lnet_waitq_unwatch(struct lnet_op *op);
/* Takes every watching op out and wakes each: a context's cancel. */
void lnet_waitq_wake_watchers(struct lnet_waitq *q);

#endif
