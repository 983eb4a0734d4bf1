/*
 * The loop: one libev loop per process, the queue of ops ready to resume,
 * the shared read buffer, and the list of open handles that teardown closes.
 *
 * Invariants: an op is on the ready queue iff its state is LNET_OP_READY;
 * only lnet_op_wake puts it there, and only lnet_loop_ready_next (or the op
 * giving up, lnet_op_abandon) takes it off. The queue is doubly linked, so
 * every one of those steps is O(1) however many ops are ready.
 * Watcher callbacks never run a task: they wake ops, and the binding resumes
 * the tasks from the ready queue after the callbacks return.
 */
#ifndef LNET_LOOP_H
#define LNET_LOOP_H

#include <stddef.h>
#include <ev.h>

#include "errors.h"
#include "list.h"
#include "timers.h"

/* The struct that holds member m at p: watchers live inside their owners. */
#define LNET_CONTAINER_OF(p, type, m) ((type *)(void *)((char *)(p)-offsetof(type, m)))

/* One read lands here and is copied out once; 64 KiB is the largest read. */
#define LNET_RBUF_SIZE 65536

struct lnet_op;

/*
 * A handle is anything that owns an fd or a watcher past a single call
 * (conns, listeners). Each is linked on its loop while open, so teardown can
 * close what the tasks left behind.
 */
struct lnet_handle {
    struct lnet_handle *prev, *next;
    void (*close)(struct lnet_handle *h);
};

struct lnet_loop {
    struct ev_loop *ev;
    struct lnet_list ready;     /* ops woken, to resume in order */
    struct lnet_handle handles; /* sentinel of a circular list */
    struct lnet_timers timers;  /* the deadlines of waiting ops */
    char rbuf[LNET_RBUF_SIZE];
};

/* The process's loop, made on first use and never freed. */
struct lnet_loop *lnet_loop_default(void);
char *lnet_loop_rbuf(struct lnet_loop *loop);

/* Monotonic seconds: the clock of every deadline and lnet.now(). */
double lnet_now(void);
/* Wall-clock seconds since the epoch: lnet.time(). */
double lnet_time(void);

/*
 * Runs one libev iteration: blocks for I/O when `block` and nothing is ready,
 * else only collects what is pending. Returns 0 when nothing could ever wake
 * an op again (no active watchers and an empty ready queue), 1 otherwise.
 */
int lnet_loop_poll(struct lnet_loop *loop, int block);

/*
 * Takes the next op to resume off the ready queue (it is IDLE again) and
 * returns its id, or 0 when none is ready. An id, not the op: a pointer
 * returned to LuaJIT is a boxed cdata, an allocation per resume.
 */
int lnet_loop_ready_next(struct lnet_loop *loop);

void lnet_handle_link(struct lnet_loop *loop, struct lnet_handle *h);
void lnet_handle_unlink(struct lnet_handle *h);
/* Closes every open handle: what lnet.run does with what is left. */
void lnet_loop_close_all(struct lnet_loop *loop);
/* How many handles are open: the spec harness's leak check. */
int lnet_loop_handle_count(struct lnet_loop *loop);

#endif
