#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "loop.h"
#include "op.h"

static struct lnet_loop *default_loop;

struct lnet_loop *lnet_loop_default(void) {
    if (default_loop != NULL) return default_loop;
    struct lnet_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL) return NULL;
    loop->ev = ev_default_loop(EVFLAG_AUTO);
    if (loop->ev == NULL) {
        free(loop);
        return NULL;
    }
    loop->handles.prev = loop->handles.next = &loop->handles;
    lnet_timers_init(&loop->timers);
    /* A peer that goes away must be an EPIPE from write, not a dead process. */
    signal(SIGPIPE, SIG_IGN);
    default_loop = loop;
    return loop;
}

char *lnet_loop_rbuf(struct lnet_loop *loop) {
    return loop->rbuf;
}

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double lnet_now(void) {
    return clock_seconds(CLOCK_MONOTONIC);
}

double lnet_time(void) {
    return clock_seconds(CLOCK_REALTIME);
}

int lnet_loop_poll(struct lnet_loop *loop, int block) {
    int active = ev_run(loop->ev, block && loop->ready.head == NULL ? EVRUN_ONCE : EVRUN_NOWAIT);
    return active || loop->ready.head != NULL;
}

int lnet_loop_ready_next(struct lnet_loop *loop) {
    struct lnet_op *op = loop->ready.head;
    if (op == NULL) return 0;
    lnet_list_remove(&loop->ready, op, LNET_READY_LINK);
    op->state = LNET_OP_IDLE;
    return op->id;
}

void lnet_handle_link(struct lnet_loop *loop, struct lnet_handle *h) {
    h->next = loop->handles.next;
    h->prev = &loop->handles;
    h->next->prev = h;
    loop->handles.next = h;
}

void lnet_handle_unlink(struct lnet_handle *h) {
    if (h->next == NULL) return;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

void lnet_loop_close_all(struct lnet_loop *loop) {
    /* Each close unlinks its handle, so always take the first. */
    while (loop->handles.next != &loop->handles) {
        struct lnet_handle *h = loop->handles.next;
        lnet_handle_unlink(h);
        h->close(h);
    }
}

int lnet_loop_handle_count(struct lnet_loop *loop) {
    int n = 0;
    for (struct lnet_handle *h = loop->handles.next; h != &loop->handles; h = h->next)
        n++;
    return n;
}
