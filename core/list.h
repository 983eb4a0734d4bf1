/*
 * The one list of the core: ops linked through one of the links each op
 * carries (op.h: its place in the ready queue, in the FIFO or queue it
 * waits in, in the queue that watches its wait), FIFO, O(1) to push, to
 * take out any one, and with no allocation, however many ops are in it.
 * `off` says which link: offsetof(struct lnet_op, <link>).
 */
#ifndef LNET_LIST_H
#define LNET_LIST_H

#include <stddef.h>

struct lnet_op;

struct lnet_link {
    struct lnet_op *prev, *next;
};

struct lnet_list {
    struct lnet_op *head, *tail;
};

static inline struct lnet_link *lnet_link_of(struct lnet_op *op, size_t off) {
    return (struct lnet_link *)(void *)((char *)op + off);
}

static inline void lnet_list_push(struct lnet_list *l, struct lnet_op *op, size_t off) {
    struct lnet_link *k = lnet_link_of(op, off);
    k->next = NULL;
    k->prev = l->tail;
    if (l->tail != NULL)
        lnet_link_of(l->tail, off)->next = op;
    else
        l->head = op;
    l->tail = op;
}

static inline void lnet_list_remove(struct lnet_list *l, struct lnet_op *op, size_t off) {
    struct lnet_link *k = lnet_link_of(op, off);
    if (k->prev != NULL)
        lnet_link_of(k->prev, off)->next = k->next;
    else
        l->head = k->next;
    if (k->next != NULL)
        lnet_link_of(k->next, off)->prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = NULL;
}

#endif
