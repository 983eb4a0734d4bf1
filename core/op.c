#include <stdlib.h>

#include "loop.h"
#include "op.h"
#include "side.h"

static void sleep_cb(struct ev_loop *ev, ev_timer *w, int revents) {
    struct lnet_op *op = LNET_CONTAINER_OF(w, struct lnet_op, timer);
    (void)revents;
    (void)ev;
    if (lnet_loop_timer_due(op->loop, w, op->wake_at)) lnet_op_wake(op);
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

void lnet_op_free(struct lnet_op *op) {
    if (op == NULL) return;
    lnet_op_abandon(op);
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
    op->ready_prev = loop->ready_tail;
    if (loop->ready_tail != NULL)
        loop->ready_tail->ready_next = op;
    else
        loop->ready_head = op;
    loop->ready_tail = op;
}

void lnet_op_unready(struct lnet_op *op) {
    struct lnet_loop *loop = op->loop;
    if (op->ready_prev != NULL)
        op->ready_prev->ready_next = op->ready_next;
    else
        loop->ready_head = op->ready_next;
    if (op->ready_next != NULL)
        op->ready_next->ready_prev = op->ready_prev;
    else
        loop->ready_tail = op->ready_prev;
    op->ready_prev = op->ready_next = NULL;
}

void lnet_op_sleep(struct lnet_op *op, double t) {
    op->wake_at = t;
    lnet_loop_timer_at(op->loop, &op->timer, t);
    lnet_op_park(op);
}

void lnet_op_sleep_stop(struct lnet_op *op) {
    ev_timer_stop(op->loop->ev, &op->timer);
}

void lnet_op_abandon(struct lnet_op *op) {
    if (op->side != NULL) lnet_side_leave(op->side, op);
    ev_timer_stop(op->loop->ev, &op->timer);
    if (op->state == LNET_OP_READY) lnet_op_unready(op);
    op->state = LNET_OP_IDLE;
}
