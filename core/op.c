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
    lnet_list_push(&loop->ready, op, LNET_READY_LINK);
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
    if (op->state == LNET_OP_READY) lnet_list_remove(&op->loop->ready, op, LNET_READY_LINK);
    op->state = LNET_OP_IDLE;
}
