#include <errno.h>
#include <stdlib.h>

#include "loop.h"
#include "op.h"
#include "timers.h"

/* op->timer_slot is its index in the heap plus one; 0: not in it. */
static void place(struct lnet_timers *t, int i, struct lnet_op *op) {
    t->heap[i] = op;
    op->timer_slot = i + 1;
}

static void sift_up(struct lnet_timers *t, int i) {
    struct lnet_op *op = t->heap[i];
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (t->heap[parent]->wake_at <= op->wake_at) break;
        place(t, i, t->heap[parent]);
        i = parent;
    }
    place(t, i, op);
}

static void sift_down(struct lnet_timers *t, int i) {
    struct lnet_op *op = t->heap[i];
    for (;;) {
        int child = 2 * i + 1;
        if (child >= t->n) break;
        if (child + 1 < t->n && t->heap[child + 1]->wake_at < t->heap[child]->wake_at) child++;
        if (op->wake_at <= t->heap[child]->wake_at) break;
        place(t, i, t->heap[child]);
        i = child;
    }
    place(t, i, op);
}

static struct lnet_loop *loop_of(struct lnet_timers *t) {
    return LNET_CONTAINER_OF(t, struct lnet_loop, timers);
}

/* The libev timer follows the heap's first deadline. */
static void rearm(struct lnet_timers *t) {
    struct ev_loop *ev = loop_of(t)->ev;
    ev_timer_stop(ev, &t->w);
    if (t->n == 0) return;
    ev_timer_set(&t->w, t->heap[0]->wake_at - lnet_now(), 0.);
    ev_timer_start(ev, &t->w);
}

static void remove_at(struct lnet_timers *t, int i) {
    struct lnet_op *last = t->heap[--t->n];
    t->heap[i]->timer_slot = 0;
    if (i == t->n) return;
    place(t, i, last);
    sift_up(t, i);
    sift_down(t, last->timer_slot - 1);
}

static void fire(struct ev_loop *ev, ev_timer *w, int revents) {
    struct lnet_timers *t = LNET_CONTAINER_OF(w, struct lnet_timers, w);
    double now = lnet_now();
    (void)ev;
    (void)revents;
    while (t->n > 0 && t->heap[0]->wake_at <= now) {
        struct lnet_op *op = t->heap[0];
        remove_at(t, 0);
        lnet_op_wake(op);
    }
    rearm(t);
}

void lnet_timers_init(struct lnet_timers *t) {
    t->heap = NULL;
    t->n = t->cap = 0;
    ev_init(&t->w, fire);
}

int lnet_timers_set(struct lnet_timers *t, struct lnet_op *op, double at) {
    int was_first = op->timer_slot == 1;
    op->wake_at = at;
    if (op->timer_slot == 0) {
        if (t->n == t->cap) {
            int cap = t->cap > 0 ? 2 * t->cap : 64;
            struct lnet_op **heap = realloc(t->heap, (size_t)cap * sizeof *heap);
            if (heap == NULL) return -ENOMEM;
            t->heap = heap;
            t->cap = cap;
        }
        place(t, t->n++, op);
    }
    sift_up(t, op->timer_slot - 1);
    sift_down(t, op->timer_slot - 1);
    if (was_first || op->timer_slot == 1) rearm(t);
    return 0;
}

void lnet_timers_clear(struct lnet_timers *t, struct lnet_op *op) {
    int was_first = op->timer_slot == 1;
    if (op->timer_slot == 0) return;
    remove_at(t, op->timer_slot - 1);
    if (was_first) rearm(t);
}
