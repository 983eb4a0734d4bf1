/* Sides: the FIFO hands the turn on, deadlines fail entry, close wakes all. */
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "side.h"
#include "wait.h"

static void test_fifo(struct lnet_loop *loop, struct lnet_side *s, struct lnet_op *a,
                      struct lnet_op *b) {
    /* a takes the turn; b queues behind it and is woken when a leaves. */
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_enter(s, b) == -LNET_EAGAIN);
    CHECK(b->state == LNET_OP_PARKED);
    lnet_side_leave(s, a);
    CHECK(lnet_loop_ready_next(loop) == b->id);
    CHECK(lnet_side_enter(s, b) == 0);
    lnet_side_leave(s, b);
    CHECK(s->fifo.head == NULL && s->fifo.tail == NULL);
}

/* One queued behind the call in flight gives up: the head, parked on
 * readiness, has nothing new to learn and is not woken. */
static void test_leave_behind(struct lnet_loop *loop, struct lnet_side *s, struct lnet_op *a,
                              struct lnet_op *b) {
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    CHECK(lnet_side_enter(s, b) == -LNET_EAGAIN);
    lnet_op_abandon(b);
    CHECK(a->state == LNET_OP_PARKED);
    CHECK(lnet_loop_ready_next(loop) == 0);
    CHECK(s->fifo.head == a && s->fifo.tail == a);
    lnet_op_abandon(a);
    CHECK(s->fifo.head == NULL);
}

static void test_deadlines(struct lnet_loop *loop, struct lnet_side *s, struct lnet_op *a) {
    /* A deadline at now fails entry at once, and stays until cleared. */
    lnet_side_set_deadline(s, lnet_now());
    CHECK(lnet_side_enter(s, a) == -LNET_EDEADLINE);
    CHECK(lnet_side_enter(s, a) == -LNET_EDEADLINE);
    CHECK(a->side == NULL);
    lnet_side_set_deadline(s, HUGE_VAL);
    CHECK(lnet_side_enter(s, a) == 0);

    /* Moving the deadline of a parked wait into the past wakes it. */
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    lnet_side_set_deadline(s, 1.0);
    CHECK(lnet_loop_ready_next(loop) == a->id);
    CHECK(lnet_side_enter(s, a) == -LNET_EDEADLINE);
    lnet_side_set_deadline(s, HUGE_VAL);
}

/*
 * The window between a wake and the resume: the call in flight is READY
 * (woken by readiness, say) when its deadline is moved from 5 s to 0.2 s.
 * It runs, finds nothing and parks again: the timer must be at the new time.
 */
static void test_shortened_while_ready(struct lnet_loop *loop, struct lnet_side *s,
                                       struct lnet_op *a) {
    double start = lnet_now();
    lnet_side_set_deadline(s, start + 5);
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    lnet_op_wake(a);
    CHECK(a->state == LNET_OP_READY);
    lnet_side_set_deadline(s, start + 0.2);
    CHECK(lnet_loop_ready_next(loop) == a->id);
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    CHECK(wait_ready(loop, a));
    CHECK(lnet_now() >= start + 0.2);
    CHECK(lnet_now() < start + 2.5);
    CHECK(lnet_side_enter(s, a) == -LNET_EDEADLINE);
    lnet_side_set_deadline(s, HUGE_VAL);
}

/*
 * The lazily kept watcher holds the loop only while a call is parked on it:
 * once the wake went out and the call is over, the loop reports that
 * nothing can wake an op, so a deadlock is seen (and libev's reference
 * count survives a close of the unref'ed watcher).
 */
static void test_idle_watcher(struct lnet_loop *loop, struct lnet_side *s, struct lnet_op *a,
                              int peer, int fd) {
    char c;
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    CHECK(lnet_loop_poll(loop, 0) == 1);
    CHECK(write(peer, "x", 1) == 1);
    CHECK(wait_ready(loop, a));
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(read(fd, &c, 1) == 1);
    lnet_side_leave(s, a);
    CHECK(ev_is_active(&s->io));         /* kept, lazily */
    CHECK(lnet_loop_poll(loop, 1) == 0); /* but nothing can wake anyone */

    /* Parking again takes the reference back; a close drops it for good. */
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    CHECK(lnet_loop_poll(loop, 0) == 1);
    lnet_op_abandon(a);
    CHECK(lnet_loop_poll(loop, 1) == 0);
    lnet_side_close(s, loop);
    CHECK(!ev_is_active(&s->io));
    CHECK(lnet_loop_poll(loop, 1) == 0);
}

static void test_close(struct lnet_loop *loop, struct lnet_side *s, struct lnet_op *a,
                       struct lnet_op *b) {
    /* Close wakes the head and everyone queued, and empties the FIFO. */
    CHECK(lnet_side_enter(s, a) == 0);
    CHECK(lnet_side_wait(s, a) == -LNET_EAGAIN);
    CHECK(lnet_side_enter(s, b) == -LNET_EAGAIN);
    lnet_side_close(s, loop);
    CHECK(lnet_loop_ready_next(loop) == a->id);
    CHECK(lnet_loop_ready_next(loop) == b->id);
    CHECK(s->fifo.head == NULL && a->side == NULL && b->side == NULL);
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_side s;
    struct lnet_op *a = lnet_op_new(loop, 1), *b = lnet_op_new(loop, 2);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    lnet_side_init(&s, sv[0], EV_READ);

    test_fifo(loop, &s, a, b);
    test_leave_behind(loop, &s, a, b);
    test_deadlines(loop, &s, a);
    test_shortened_while_ready(loop, &s, a);
    test_idle_watcher(loop, &s, a, sv[1], sv[0]);
    lnet_side_init(&s, sv[0], EV_READ);
    test_close(loop, &s, a, b);

    lnet_op_free(a);
    lnet_op_free(b);
    close(sv[0]);
    close(sv[1]);
    return CHECK_DONE();
}
