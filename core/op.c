#include <stdlib.h>

#include "loop.h"
#include "op.h"
#include "side.h"
#include "waitq.h"

struct lnet_op *lnet_op_new(struct lnet_loop *loop, int id) {
    struct lnet_op *op = calloc(1, sizeof *op);
    if (op == NULL) return NULL;
    op->id = id;
    op->state = LNET_OP_IDLE;
    op->loop = loop;
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
    lnet_timers_clear(&loop->timers, op);
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

lnet_err_t lnet_op_wake_at(struct lnet_op *op, double t) {
    return lnet_timers_set(&op->loop->timers, op, t);
}

lnet_err_t lnet_op_sleep(struct lnet_op *op, double t) {
    lnet_err_t rc = lnet_op_wake_at(op, t);
    if (rc == 0) lnet_op_park(op);
    return rc;
}

void lnet_op_sleep_stop(struct lnet_op *op) {
    lnet_timers_clear(&op->loop->timers, op);
}

void lnet_op_abandon(struct lnet_op *op) {
    if (op->side != NULL) lnet_side_leave(op->side, op);
    lnet_waitq_remove(op);
    lnet_waitq_unwatch(op);
    lnet_op_sleep_stop(op);
    if (op->state == LNET_OP_READY) lnet_op_unready(op);
    op->state = LNET_OP_IDLE;
}
