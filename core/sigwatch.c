#include <pthread.h>
#include <stdlib.h>

#include "loop.h"
#include "op.h"
#include "sigwatch.h"

static void signal_cb(struct ev_loop *ev, ev_signal *w, int revents) {
    struct lnet_signal *s = LNET_CONTAINER_OF(w, struct lnet_signal, w);
    (void)ev;
    (void)revents;
    s->pending++;
    lnet_op_wake(s->op);
}

/* Blocks or unblocks signum in this thread's mask; returns whether it was
 * blocked before. */
static int set_blocked(int signum, int how) {
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signum);
    pthread_sigmask(how, &one, &old);
    return sigismember(&old, signum) == 1;
}

struct lnet_signal *lnet_signal_new(struct lnet_loop *loop, int signum, struct lnet_op *op) {
    struct lnet_signal *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->loop = loop;
    s->op = op;
    sigaction(signum, NULL, &s->saved);
    s->was_blocked = set_blocked(signum, SIG_UNBLOCK);
    ev_signal_init(&s->w, signal_cb, signum);
    ev_signal_start(loop->ev, &s->w);
    lnet_op_park(op);
    return s;
}

unsigned lnet_signal_take(struct lnet_signal *s) {
    unsigned n = s->pending;
    s->pending = 0;
    return n;
}

void lnet_signal_free(struct lnet_signal *s) {
    if (s == NULL) return;
    ev_signal_stop(s->loop->ev, &s->w);
    sigaction(s->w.signum, &s->saved, NULL);
    if (s->was_blocked) set_blocked(s->w.signum, SIG_BLOCK);
    free(s);
}
