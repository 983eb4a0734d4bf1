#include <stddef.h>

#include "op.h"
#include "waitq.h"

/* op joins q through one of its links; *in remembers the queue. */
static void join(struct lnet_waitq *q, struct lnet_op *op, struct lnet_waitq **in, size_t link) {
    *in = q;
    lnet_list_push(&q->l, op, link);
    q->n++;
}

/* op leaves the queue *in, if any, through the same link. */
static void part(struct lnet_op *op, struct lnet_waitq **in, size_t link) {
    struct lnet_waitq *q = *in;
    if (q == NULL) return;
    lnet_list_remove(&q->l, op, link);
    *in = NULL;
    q->n--;
}

void lnet_waitq_push(struct lnet_waitq *q, struct lnet_op *op) {
    join(q, op, &op->waitq, LNET_QUEUE_LINK);
}

void lnet_waitq_remove(struct lnet_op *op) {
    part(op, &op->waitq, LNET_QUEUE_LINK);
}

int lnet_waitq_shift(struct lnet_waitq *q) {
    struct lnet_op *op = q->l.head;
    if (op == NULL) return 0;
    lnet_waitq_remove(op);
    return op->id;
}

int lnet_waitq_wake_first(struct lnet_waitq *q) {
    struct lnet_op *op = q->l.head;
    if (op == NULL) return 0;
    lnet_waitq_remove(op);
    lnet_op_wake(op);
    return op->id;
}

void lnet_waitq_wake_all(struct lnet_waitq *q) {
    while (q->l.head != NULL)
        lnet_waitq_wake_first(q);
}

void lnet_waitq_wake_each(struct lnet_waitq *q) {
    for (struct lnet_op *op = q->l.head; op != NULL; op = op->q.next)
        lnet_op_wake(op);
}

struct lnet_op *lnet_waitq_first(const struct lnet_waitq *q) {
    return q->l.head;
}

struct lnet_op *lnet_waitq_next(const struct lnet_op *op) {
    return op->q.next;
}

void lnet_waitq_watch(struct lnet_waitq *q, struct lnet_op *op) {
    lnet_waitq_unwatch(op);
    join(q, op, &op->watcher, LNET_WATCH_LINK);
}

void lnet_waitq_unwatch(struct lnet_op *op) {
    part(op, &op->watcher, LNET_WATCH_LINK);
}

void lnet_waitq_wake_watchers(struct lnet_waitq *q) {
    while (q->l.head != NULL) {
        struct lnet_op *op = q->l.head;
        lnet_waitq_unwatch(op);
        lnet_op_wake(op);
    }
}
