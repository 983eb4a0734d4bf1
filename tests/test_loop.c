/* The loop and ops: wake-once, FIFO ready queue, sleeps that never end early. */
#include "check.h"
#include "loop.h"
#include "op.h"

static void test_wake_once(struct lnet_loop *loop) {
    struct lnet_op *a = lnet_op_new(loop, 1), *b = lnet_op_new(loop, 2);
    lnet_op_wake(a); /* IDLE: a wake is a no-op */
    CHECK(lnet_loop_ready_next(loop) == 0);
    lnet_op_park(a);
    lnet_op_park(b);
    lnet_op_wake(b);
    lnet_op_wake(a);
    lnet_op_wake(b); /* late completer: already READY */
    CHECK(lnet_loop_ready_next(loop) == b->id);
    CHECK(lnet_loop_ready_next(loop) == a->id);
    CHECK(lnet_loop_ready_next(loop) == 0);
    CHECK(a->state == LNET_OP_IDLE && b->state == LNET_OP_IDLE);
    lnet_op_free(a);
    lnet_op_free(b);
}

static void test_free_while_ready(struct lnet_loop *loop) {
    struct lnet_op *a = lnet_op_new(loop, 1), *b = lnet_op_new(loop, 2), *c = lnet_op_new(loop, 3);
    lnet_op_park(a);
    lnet_op_park(b);
    lnet_op_park(c);
    lnet_op_wake(a);
    lnet_op_wake(b);
    lnet_op_wake(c);
    lnet_op_free(c); /* the tail */
    lnet_op_free(a); /* the head */
    CHECK(lnet_loop_ready_next(loop) == b->id);
    CHECK(lnet_loop_ready_next(loop) == 0);
    lnet_op_free(b);
}

/* Taking an op out of the middle of a long ready queue keeps the queue whole,
 * in order, both ways (the O(1) unlink of a task that gives up). */
static void test_unlink_middle(struct lnet_loop *loop) {
    enum { N = 5 };
    struct lnet_op *ops[N];
    for (int i = 0; i < N; i++) {
        ops[i] = lnet_op_new(loop, i + 1);
        lnet_op_park(ops[i]);
        lnet_op_wake(ops[i]);
    }
    lnet_op_abandon(ops[2]);
    lnet_op_abandon(ops[4]);
    CHECK(ops[2]->state == LNET_OP_IDLE);
    CHECK(loop->ready.tail == ops[3] && ops[3]->ready.next == NULL && ops[3]->ready.prev == ops[1]);
    CHECK(lnet_loop_ready_next(loop) == 1);
    CHECK(lnet_loop_ready_next(loop) == 2);
    CHECK(lnet_loop_ready_next(loop) == 4);
    CHECK(lnet_loop_ready_next(loop) == 0);
    CHECK(loop->ready.head == NULL && loop->ready.tail == NULL);
    for (int i = 0; i < N; i++)
        lnet_op_free(ops[i]);
}

static void test_sleep(struct lnet_loop *loop) {
    struct lnet_op *op = lnet_op_new(loop, 1);
    double start = lnet_now(), until = start + 0.02;
    int polls = 0;
    lnet_op_sleep(op, until);
    while (lnet_loop_ready_next(loop) != op->id && polls++ < 1000)
        lnet_loop_poll(loop, 1);
    CHECK(lnet_now() >= until);
    CHECK(lnet_now() - start < 2.0);
    /* Nothing else is active: the loop reports that no op can be woken. */
    CHECK(lnet_loop_poll(loop, 1) == 0);
    lnet_op_free(op);
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    CHECK(loop != NULL);
    test_wake_once(loop);
    test_free_while_ready(loop);
    test_unlink_middle(loop);
    test_sleep(loop);
    return CHECK_DONE();
}
