/* Waiting for ops in the core's unit tests, without Lua's run loop. */
#ifndef LNET_TEST_WAIT_H
#define LNET_TEST_WAIT_H

#include "loop.h"
#include "op.h"

/* Polls until op is woken (and takes it off the ready queue); bounded, so
 * a bug fails the test instead of hanging it. */
static inline int wait_ready(struct lnet_loop *loop, const struct lnet_op *op) {
    for (int i = 0; i < 1000; i++) {
        if (lnet_loop_ready_next(loop) == op->id) return 1;
        lnet_loop_poll(loop, 1);
    }
    return 0;
}

#endif
