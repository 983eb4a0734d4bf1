#include <stddef.h>

#include "op.h"
#include "waitq.h"

void lnet_waitq_push(struct lnet_waitq *q, struct lnet_op *op) {
    op->waitq = q;
    op->q_next = NULL;
    op->q_prev = q->tail;
    if (q->tail != NULL)
        q->tail->q_next = op;
    else
        q->head = op;
    q->tail = op;
    q->n++;
}

void lnet_waitq_remove(struct lnet_op *op) {
    struct lnet_waitq *q = op->waitq;
    if (q == NULL) return;
    if (op->q_prev != NULL)
        op->q_prev->q_next = op->q_next;
    else
        q->head = op->q_next;
    if (op->q_next != NULL)
        op->q_next->q_prev = op->q_prev;
    else
        q->tail = op->q_prev;
    op->waitq = NULL;
    op->q_prev = op->q_next = NULL;
    q->n--;
}

int lnet_waitq_shift(struct lnet_waitq *q) {
    struct lnet_op *op = q->head;
    if (op == NULL) return 0;
    lnet_waitq_remove(op);
    return op->id;
}

int lnet_waitq_wake_first(struct lnet_waitq *q) {
    struct lnet_op *op = q->head;
    if (op == NULL) return 0;
    lnet_waitq_remove(op);
    lnet_op_wake(op);
    return op->id;
}

void lnet_waitq_wake_all(struct lnet_waitq *q) {
    while (q->head != NULL)
        lnet_waitq_wake_first(q);
}

void lnet_waitq_wake_each(struct lnet_waitq *q) {
    for (struct lnet_op *op = q->head; op != NULL; op = op->q_next)
        lnet_op_wake(op);
}

struct lnet_op *lnet_waitq_first(const struct lnet_waitq *q) {
    return q->head;
}

struct lnet_op *lnet_waitq_next(const struct lnet_op *op) {
    return op->q_next;
}

void lnet_waitq_watch(struct lnet_waitq *q, struct lnet_op *op) {
    lnet_waitq_unwatch(op);
    op->watcher = q;
    op->w_next = NULL;
    op->w_prev = q->tail;
    if (q->tail != NULL)
        q->tail->w_next = op;
    else
        q->head = op;
    q->tail = op;
    q->n++;
}

void lnet_waitq_unwatch(struct lnet_op *op) {
    struct lnet_waitq *q = op->watcher;
    if (q == NULL) return;
    if (op->w_prev != NULL)
        op->w_prev->w_next = op->w_next;
    else
        q->head = op->w_next;
    if (op->w_next != NULL)
        op->w_next->w_prev = op->w_prev;
    else
        q->tail = op->w_prev;
    op->watcher = NULL;
    op->w_prev = op->w_next = NULL;
    q->n--;
}

void lnet_waitq_wake_watchers(struct lnet_waitq *q) {
    while (q->head != NULL) {
        struct lnet_op *op = q->head;
        lnet_waitq_unwatch(op);
        lnet_op_wake(op);
    }
}
