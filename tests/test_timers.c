/* The timer heap: deadlines fire in order, moved and cleared ones too, and
 * the heap stays a heap through sets, moves, clears and firings. */
#include <stdlib.h>

#include "check.h"
#include "loop.h"
#include "op.h"
#include "timers.h"

enum { N = 200 };

static int is_heap(const struct lnet_timers *t) {
    for (int i = 1; i < t->n; i++)
        if (t->heap[(i - 1) / 2]->wake_at > t->heap[i]->wake_at) return 0;
    for (int i = 0; i < t->n; i++)
        if (t->heap[i]->timer_slot != i + 1) return 0;
    return 1;
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_timers *t = &loop->timers;
    struct lnet_op *ops[N];
    double start = lnet_now();
    srand(8);
    for (int i = 0; i < N; i++) {
        ops[i] = lnet_op_new(loop, i + 1);
        CHECK(lnet_op_sleep(ops[i], start + 0.01 + (rand() % 1000) * 1e-4) == 0);
    }
    CHECK(t->n == N && is_heap(t));
    /* Move some, clear some: a cleared op is never woken. */
    for (int i = 0; i < N; i += 3)
        CHECK(lnet_op_wake_at(ops[i], start + 0.01 + (rand() % 1000) * 1e-4) == 0);
    for (int i = 1; i < N; i += 5)
        lnet_op_sleep_stop(ops[i]);
    CHECK(is_heap(t));
    int want = t->n, woken = 0, in_order = 1, early = 0, polls = 0;
    double last = 0;
    while (woken < want && polls++ < 10000) {
        int id;
        lnet_loop_poll(loop, 1);
        while ((id = lnet_loop_ready_next(loop)) != 0) {
            struct lnet_op *op = ops[id - 1];
            if (op->wake_at < last) in_order = 0;
            if (lnet_now() < op->wake_at) early = 1;
            last = op->wake_at;
            woken++;
        }
        CHECK(is_heap(t));
    }
    CHECK(woken == want);
    CHECK(in_order);
    CHECK(!early);
    CHECK(t->n == 0);
    CHECK(lnet_loop_poll(loop, 1) == 0); /* no deadline left: nothing can wake an op */
    for (int i = 0; i < N; i++)
        lnet_op_free(ops[i]);
    return CHECK_DONE();
}
