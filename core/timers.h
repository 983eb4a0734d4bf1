/*
 * The deadlines of waiting ops: a binary min-heap by wake time, owned by
 * the loop, and one libev timer armed at the earliest. An op's deadline is
 * a slot in the heap (its index kept in the op), so an op carries a double
 * and an int where an ev_timer of its own would be 48 bytes, and every task
 * has one. Setting, moving and clearing a deadline are O(log n); firing
 * wakes every op whose time has come, earliest first.
 *
 * Special problem of libev's clock: it measures from its cached loop time,
 * which can lag ours, so the timer may fire a little early by lnet_now().
 * The callback wakes only ops whose time has come by lnet_now() and re-arms
 * for the rest (ev.pod, "Be smart about timeouts"), so no wait ends early.
 */
#ifndef LNET_TIMERS_H
#define LNET_TIMERS_H

#include <ev.h>

struct lnet_op;

struct lnet_timers {
    struct lnet_op **heap; /* heap[0] wakes first */
    int n, cap;
    ev_timer w; /* armed at heap[0]'s time while n > 0 */
};

void lnet_timers_init(struct lnet_timers *t);
/* Sets (or moves) op's deadline to t, an lnet_now() time; 0, or -ENOMEM. */
int lnet_timers_set(struct lnet_timers *t, struct lnet_op *op, double at);
/* Clears op's deadline, if it has one. */
void lnet_timers_clear(struct lnet_timers *t, struct lnet_op *op);

#endif
