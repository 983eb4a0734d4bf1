#include <math.h>

#include "loop.h"
#include "op.h"
#include "side.h"

/* The io watcher stops counting as a loop reference: no call is parked on it. */
static void release_io(struct lnet_side *s, struct ev_loop *ev) {
    if (!s->held) return;
    s->held = 0;
    ev_unref(ev);
}

/* libev asks that an unref'ed watcher be ref'ed again before it stops. */
static void stop_io(struct lnet_side *s, struct ev_loop *ev) {
    if (!ev_is_active(&s->io)) return;
    if (!s->held) ev_ref(ev);
    s->held = 0;
    ev_io_stop(ev, &s->io);
}

static void io_cb(struct ev_loop *ev, ev_io *w, int revents) {
    struct lnet_side *s = LNET_CONTAINER_OF(w, struct lnet_side, io);
    (void)revents;
    s->maybe_ready = 1;
    if (s->fifo.head != NULL && s->fifo.head->state == LNET_OP_PARKED) {
        lnet_op_wake(s->fifo.head);
        release_io(s, ev);
    } else {
        stop_io(s, ev); /* the lazy stop: no one is waiting */
    }
}

/*
 * The parked head's deadline, at the side's. Should the timer heap be out
 * of memory, the wait is ended at once: the call finds its deadline has not
 * passed and waits again, so a deadline is never lost, only polled.
 */
static void arm_deadline(struct lnet_side *s, struct lnet_op *op) {
    if (s->deadline == HUGE_VAL)
        lnet_op_sleep_stop(op);
    else if (lnet_op_wake_at(op, s->deadline) < 0)
        lnet_op_wake(op);
}

void lnet_side_init(struct lnet_side *s, int fd, int events) {
    ev_io_init(&s->io, io_cb, fd, events);
    s->deadline = HUGE_VAL;
    s->fifo.head = s->fifo.tail = NULL;
    s->maybe_ready = 1;
    s->held = 0;
}

lnet_err_t lnet_side_enter(struct lnet_side *s, struct lnet_op *op) {
    if (op->side == NULL) {
        op->side = s;
        lnet_list_push(&s->fifo, op, LNET_QUEUE_LINK);
    }
    if (s->fifo.head != op) {
        lnet_op_park(op);
        return -LNET_EAGAIN;
    }
    release_io(s, op->loop->ev); /* the head runs: it is parked on nothing */
    if (++op->streak > LNET_FAIR_STREAK) {
        op->streak = 0;
        lnet_op_park(op);
        lnet_op_wake(op);
        return -LNET_EAGAIN;
    }
    if (s->deadline != HUGE_VAL && s->deadline <= lnet_now()) {
        lnet_side_leave(s, op);
        return -LNET_EDEADLINE;
    }
    return 0;
}

lnet_err_t lnet_side_wait(struct lnet_side *s, struct lnet_op *op) {
    struct ev_loop *ev = op->loop->ev;
    s->maybe_ready = 0;
    op->streak = 0;
    if (!ev_is_active(&s->io)) {
        ev_io_start(ev, &s->io);
    } else if (!s->held) {
        ev_ref(ev);
    }
    s->held = 1;
    lnet_op_park(op);
    if (s->deadline != HUGE_VAL) arm_deadline(s, op);
    return -LNET_EAGAIN;
}

void lnet_side_leave(struct lnet_side *s, struct lnet_op *op) {
    int was_head = s->fifo.head == op;
    if (op->side != s) return;
    lnet_list_remove(&s->fifo, op, LNET_QUEUE_LINK);
    op->side = NULL;
    if (!was_head) return;
    release_io(s, op->loop->ev);
    if (s->fifo.head != NULL) lnet_op_wake(s->fifo.head); /* its turn: it calls again */
}

void lnet_side_set_deadline(struct lnet_side *s, double t) {
    struct lnet_op *head = s->fifo.head;
    s->deadline = t;
    if (head == NULL || head->state != LNET_OP_PARKED) return;
    if (t <= lnet_now())
        lnet_op_wake(head);
    else
        arm_deadline(s, head);
}

void lnet_side_set_events(struct lnet_side *s, struct ev_loop *ev, int events) {
    if ((s->io.events & (EV_READ | EV_WRITE)) == events) return;
    stop_io(s, ev);
    ev_io_modify(&s->io, events);
}

void lnet_side_wake_each(struct lnet_side *s) {
    for (struct lnet_op *op = s->fifo.head; op != NULL; op = op->q.next)
        lnet_op_wake(op);
}

void lnet_side_close(struct lnet_side *s, struct lnet_loop *loop) {
    stop_io(s, loop->ev);
    /* Each leaves the FIFO before it is woken: a woken call finds it empty. */
    while (s->fifo.head != NULL) {
        struct lnet_op *op = s->fifo.head;
        lnet_list_remove(&s->fifo, op, LNET_QUEUE_LINK);
        op->side = NULL;
        lnet_op_wake(op);
    }
}
