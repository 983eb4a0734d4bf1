#include <stdlib.h>

#include "loop.h"
#include "op.h"
#include "side.h"

static void arm_sleep(struct lnet_op *op) {
    ev_timer_set(&op->timer, op->wake_at - lnet_now(), 0.);
    ev_timer_start(op->loop->ev, &op->timer);
}

/* Never early: libev's cached clock may lag ours (see side.c). */
static void sleep_cb(struct ev_loop *ev, ev_timer *w, int revents) {
    struct lnet_op *op = LNET_CONTAINER_OF(w, struct lnet_op, timer);
    (void)revents;
    (void)ev;
    if (op->wake_at <= lnet_now())
        lnet_op_wake(op);
    else
        arm_sleep(op);
}

struct lnet_op *lnet_op_new(struct lnet_loop *loop, int id) {
    struct lnet_op *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    op->id = id;
    op->state = LNET_OP_IDLE;
    op->loop = loop;
    ev_init(&op->timer, sleep_cb);
    return op;
}

/* A task that gives up, or is dropped, after a wake but before its resume. */
static void unlink_ready(struct lnet_op *op) {
    struct lnet_loop *loop = op->loop;
    struct lnet_op **link = &loop->ready_head, *prev = NULL;
    while (*link != op) {
        prev = *link;
        link = &prev->ready_next;
    }
    *link = op->ready_next;
    if (loop->ready_tail == op) loop->ready_tail = prev;
}

void lnet_op_free(struct lnet_op *op) {
    if (op == NULL) return;
    lnet_op_abandon(op);
    lnet_copy_release(&op->copy);
    free(op);
}

void lnet_op_park(struct lnet_op *op) {
    op->state = LNET_OP_PARKED;
}

void lnet_op_wake(struct lnet_op *op) {
    struct lnet_loop *loop = op->loop;
    if (op->state != LNET_OP_PARKED) return;
    op->state = LNET_OP_READY;
    op->ready_next = NULL;
    if (loop->ready_tail != NULL)
        loop->ready_tail->ready_next = op;
    else
        loop->ready_head = op;
    loop->ready_tail = op;
}

void lnet_op_sleep(struct lnet_op *op, double t) {
    ev_timer_stop(op->loop->ev, &op->timer);
    op->wake_at = t;
    arm_sleep(op);
    lnet_op_park(op);
}

void lnet_op_sleep_stop(struct lnet_op *op) {
    ev_timer_stop(op->loop->ev, &op->timer);
}

void lnet_op_abandon(struct lnet_op *op) {
    if (op->side != NULL) lnet_side_leave(op->side, op);
    ev_timer_stop(op->loop->ev, &op->timer);
    if (op->state == LNET_OP_READY) unlink_ready(op);
    op->state = LNET_OP_IDLE;
}
