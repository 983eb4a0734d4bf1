/*
 * Signals through the loop: an ev_signal watcher counts deliveries and wakes
 * an event op; the binding runs its Lua side from the run loop, never from
 * the handler. One watcher per signal at a time. When it stops, the
 * disposition the signal had before is back (libev would leave SIG_DFL:
 * wrong for SIGPIPE, which lnet ignores, or a test runner's own handler).
 * A signal blocked when watching starts (inherited so from whoever started
 * us) is unblocked meanwhile, as Go does, or it would never arrive.
 */
#ifndef LNET_SIGWATCH_H
#define LNET_SIGWATCH_H

#include <ev.h>
#include <signal.h>

struct lnet_loop;
struct lnet_op;

struct lnet_signal {
    ev_signal w;
    struct lnet_loop *loop;
    struct lnet_op *op;     /* woken on every delivery; the caller re-parks it */
    unsigned pending;       /* deliveries not yet taken */
    struct sigaction saved; /* the disposition to restore */
    int was_blocked;        /* block it again when done */
};

/* Starts watching signum; op is parked until the first delivery. */
struct lnet_signal *lnet_signal_new(struct lnet_loop *loop, int signum, struct lnet_op *op);
/* The deliveries since the last take, and zero from now. */
unsigned lnet_signal_take(struct lnet_signal *s);
void lnet_signal_free(struct lnet_signal *s);

#endif
