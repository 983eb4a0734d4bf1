/* Sides: the FIFO hands the turn on, deadlines fail entry, close wakes all. */
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "loop.h"
#include "op.h"
#include "side.h"

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_side s;
    struct lnet_op *a = lnet_op_new(loop, 1), *b = lnet_op_new(loop, 2);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    lnet_side_init(&s, loop, sv[0], EV_READ);

    /* a takes the turn; b queues behind it and is woken when a leaves. */
    CHECK(lnet_side_enter(&s, a) == 0);
    CHECK(lnet_side_enter(&s, b) == -LNET_EAGAIN);
    CHECK(b->state == LNET_OP_PARKED);
    lnet_side_leave(&s, a);
    CHECK(lnet_loop_ready_pop(loop) == b);
    CHECK(lnet_side_enter(&s, b) == 0);
    lnet_side_leave(&s, b);
    CHECK(s.head == NULL && s.tail == NULL);

    /* A deadline at now fails entry at once, and stays until cleared. */
    lnet_side_set_deadline(&s, lnet_now());
    CHECK(lnet_side_enter(&s, a) == -LNET_EDEADLINE);
    CHECK(lnet_side_enter(&s, a) == -LNET_EDEADLINE);
    CHECK(a->side == NULL);
    lnet_side_set_deadline(&s, HUGE_VAL);
    CHECK(lnet_side_enter(&s, a) == 0);

    /* Moving the deadline of a parked wait into the past wakes it. */
    CHECK(lnet_side_wait(&s, a) == -LNET_EAGAIN);
    lnet_side_set_deadline(&s, 1.0);
    CHECK(lnet_loop_ready_pop(loop) == a);
    CHECK(lnet_side_enter(&s, a) == -LNET_EDEADLINE);
    lnet_side_set_deadline(&s, HUGE_VAL);

    /* Close wakes the head and everyone queued, and empties the FIFO. */
    CHECK(lnet_side_enter(&s, a) == 0);
    CHECK(lnet_side_wait(&s, a) == -LNET_EAGAIN);
    CHECK(lnet_side_enter(&s, b) == -LNET_EAGAIN);
    lnet_side_close(&s);
    CHECK(lnet_loop_ready_pop(loop) == a);
    CHECK(lnet_loop_ready_pop(loop) == b);
    CHECK(s.head == NULL && a->side == NULL && b->side == NULL);

    lnet_op_free(a);
    lnet_op_free(b);
    close(sv[0]);
    close(sv[1]);
    return CHECK_DONE();
}
