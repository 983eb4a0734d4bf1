/*
 * The "system" resolver: getaddrinfo(3) and getnameinfo(3), so nsswitch,
 * /etc/hosts, mDNS and the rest apply, run on a small pool of worker threads
 * so that no lookup ever blocks the loop.
 *
 * A job is one call. The loop thread makes it and queues it; a worker runs
 * the call and puts the job on the done list; one ev_async brings the loop
 * back, which wakes the job's op. The pool holds at most LNET_SYSRES_MAX
 * jobs (queued or running, abandoned ones included); past that a start
 * fails with -LNET_EAGAIN and the caller waits for a slot (see
 * lnet_sysres_slot_event).
 *
 * Special problem of cancelling: a thread inside getaddrinfo cannot be
 * stopped. A cancelled job that a worker has not taken yet is freed at once;
 * one that runs is marked abandoned, and its result is freed when it
 * arrives. Either way the caller is free at once. A job in flight is an
 * lnet_handle on the loop, so teardown abandons it too.
 *
 * Ownership: the loop thread owns a job, except while a worker runs it (the
 * worker touches only the call's inputs and outputs); the mutex guards the
 * queue, the done list and each job's state.
 */
#ifndef LNET_RESOLVER_SYSTEM_H
#define LNET_RESOLVER_SYSTEM_H

#include <stddef.h>

#include "addr.h"

#define LNET_SYSRES_THREADS 4
#define LNET_SYSRES_MAX     256
/* Addresses kept of one answer. */
#define LNET_SYSRES_ADDRS 32

struct lnet_loop;
struct lnet_op;
struct lnet_sysres_job;

/*
 * Starts getaddrinfo(host) for family (AF_INET, AF_INET6, AF_UNSPEC); with
 * canon, also the canonical name (AI_CANONNAME). Returns the job, done
 * already (a numeric shorthand such as "127.1", which to Go is a name no
 * resolver knows) or with op parked; NULL with *err -LNET_EAGAIN when the
 * pool is full, or -ENOMEM, -EAGAIN when no thread could start.
 */
struct lnet_sysres_job *lnet_sysres_start(struct lnet_loop *loop, struct lnet_op *op,
                                          const char *host, int family, int canon, int *err);
/* The same for getnameinfo of an IP address (4 or 16 bytes). */
struct lnet_sysres_job *lnet_sysres_start_reverse(struct lnet_loop *loop, struct lnet_op *op,
                                                  const char *ip, size_t len, int *err);
int lnet_sysres_done(const struct lnet_sysres_job *j);
/*
 * A done job's outcome: how many addresses (copied into out, up to max), or
 * a negative code (-LNET_EAI_*, -errno).
 */
int lnet_sysres_result(const struct lnet_sysres_job *j, struct lnet_sockaddr *out, int max);
/* The canonical name, or getnameinfo's host name; "" when none. */
const char *lnet_sysres_name(const struct lnet_sysres_job *j);
/* Releases a done job; a job not done yet is abandoned (its thread's result
 * is dropped when it comes). */
void lnet_sysres_free(struct lnet_sysres_job *j);

/* The op woken whenever a slot frees after a start found the pool full. */
void lnet_sysres_slot_event(struct lnet_op *op);
/* Jobs not yet retired, abandoned ones included: what the threads still do. */
int lnet_sysres_pending(void);

#endif
