#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "op.h"
#include "resolver_system.h"

enum { QUEUED, RUNNING, DONE };

struct lnet_sysres_job {
    struct lnet_handle handle; /* linked while in flight */
    struct lnet_op *op;        /* NULL once abandoned */
    int state;
    bool reverse, canon;
    int family;
    char host[NI_MAXHOST];     /* the name asked, or the answer of a reverse lookup */
    struct lnet_sockaddr addr; /* the address of a reverse lookup */
    int result;                /* address count, or a negative code */
    struct lnet_sockaddr addrs[LNET_SYSRES_ADDRS];
    char canonname[NI_MAXHOST];
    struct lnet_sysres_job *next; /* in the queue or on the done list */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lnet_sysres_job *queue, *queue_tail, *done;
    int pending; /* jobs made and not yet retired */
    int threads;
    bool full_seen; /* a start found the pool full: wake slot_op on the next retire */
    struct lnet_op *slot_op;
    ev_async async;
    struct lnet_loop *loop;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int eai_code(int eai, int saved_errno) {
    switch (eai) {
    case EAI_NONAME:
    case EAI_NODATA:
        return -LNET_EAI_NONAME;
    case EAI_AGAIN:
        return -LNET_EAI_AGAIN;
    case EAI_SYSTEM:
        return -saved_errno;
    case EAI_MEMORY:
        return -ENOMEM;
    default:
        return -LNET_EAI_FAIL;
    }
}

static void run_forward(struct lnet_sysres_job *j) {
    struct addrinfo hints, *res, *ai;
    int n = 0, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = j->family;
    hints.ai_socktype = SOCK_STREAM; /* one entry per address, not per socket type */
    hints.ai_flags = j->canon ? AI_CANONNAME : 0;
    if ((rc = getaddrinfo(j->host, NULL, &hints, &res)) != 0) {
        j->result = eai_code(rc, errno);
        return;
    }
    if (j->canon && res->ai_canonname != NULL) {
        strncpy(j->canonname, res->ai_canonname, sizeof j->canonname - 1);
    }
    for (ai = res; ai != NULL && n < LNET_SYSRES_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof j->addrs[n].u) continue;
        memcpy(&j->addrs[n].u, ai->ai_addr, ai->ai_addrlen);
        j->addrs[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    j->result = n;
}

static void run_reverse(struct lnet_sysres_job *j) {
    int rc = getnameinfo((const struct sockaddr *)&j->addr.u, j->addr.len, j->host, sizeof j->host,
                         NULL, 0, NI_NAMEREQD);
    j->result = rc == 0 ? 1 : eai_code(rc, errno);
}

static void *worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        struct lnet_sysres_job *j;
        while (pool.queue == NULL)
            pthread_cond_wait(&pool.cv, &pool.mu);
        j = pool.queue;
        pool.queue = j->next;
        if (pool.queue == NULL) pool.queue_tail = NULL;
        j->state = RUNNING;
        pthread_mutex_unlock(&pool.mu);
        if (j->reverse)
            run_reverse(j);
        else
            run_forward(j);
        pthread_mutex_lock(&pool.mu);
        j->state = DONE;
        j->next = pool.done;
        pool.done = j;
        ev_async_send(pool.loop->ev, &pool.async);
    }
    return NULL;
}

/* One job leaves the pool: its slot is free again. */
static void retire(struct lnet_sysres_job *j, bool free_it) {
    if (free_it) free(j);
    if (--pool.pending == 0) ev_async_stop(pool.loop->ev, &pool.async);
    if (pool.full_seen && pool.slot_op != NULL) {
        pool.full_seen = false;
        lnet_op_wake(pool.slot_op);
    }
}

/* The loop's side: wake the callers of finished jobs, drop abandoned ones. */
static void async_cb(struct ev_loop *ev, ev_async *w, int revents) {
    struct lnet_sysres_job *j;
    (void)ev;
    (void)w;
    (void)revents;
    pthread_mutex_lock(&pool.mu);
    j = pool.done;
    pool.done = NULL;
    pthread_mutex_unlock(&pool.mu);
    while (j != NULL) {
        struct lnet_sysres_job *next = j->next;
        bool abandoned = j->op == NULL;
        if (!abandoned) {
            lnet_handle_unlink(&j->handle);
            lnet_op_wake(j->op);
        }
        retire(j, abandoned);
        j = next;
    }
}

/*
 * Workers start with every signal blocked, so a signal meant for the loop
 * (lnet.signal, SIGCHLD) is never taken by a thread inside getaddrinfo.
 */
static int start_threads(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.threads < LNET_SYSRES_THREADS) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0) break;
        pthread_detach(t);
        pool.threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool.threads > 0 ? 0 : -EAGAIN;
}

static void job_close(struct lnet_handle *h) {
    lnet_sysres_free(LNET_CONTAINER_OF(h, struct lnet_sysres_job, handle));
}

/*
 * Callers parse IP literals the strict way (lnet.ip, as Go's netip) and send
 * any other string here as a name. getaddrinfo would still read inet_aton's
 * shorthand ("127.1", "0x7f000001", "1.2.3") as an address; to Go those are
 * names that no resolver knows.
 */
static bool is_numeric_shorthand(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    return inet_aton(host, &a4) != 0 || inet_pton(AF_INET6, host, &a6) == 1;
}

static struct lnet_sysres_job *submit(struct lnet_loop *loop, struct lnet_op *op,
                                      struct lnet_sysres_job *j, int *err) {
    j->op = op;
    j->handle.close = job_close;
    if (pool.loop == NULL) {
        pool.loop = loop;
        ev_async_init(&pool.async, async_cb);
    }
    if (pool.threads == 0 && (*err = start_threads()) < 0) {
        free(j);
        return NULL;
    }
    if (pool.pending >= LNET_SYSRES_MAX) {
        pool.full_seen = true;
        free(j);
        *err = -LNET_EAGAIN;
        return NULL;
    }
    if (pool.pending++ == 0) ev_async_start(loop->ev, &pool.async);
    lnet_handle_link(loop, &j->handle);
    lnet_op_park(op);
    pthread_mutex_lock(&pool.mu);
    j->state = QUEUED;
    j->next = NULL;
    if (pool.queue_tail != NULL)
        pool.queue_tail->next = j;
    else
        pool.queue = j;
    pool.queue_tail = j;
    pthread_cond_signal(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    return j;
}

struct lnet_sysres_job *lnet_sysres_start(struct lnet_loop *loop, struct lnet_op *op,
                                          const char *host, int family, int canon, int *err) {
    struct lnet_sysres_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    size_t len = strlen(host);
    if (len >= sizeof j->host || is_numeric_shorthand(host)) {
        j->state = DONE;
        j->result = -LNET_EAI_NONAME;
        return j; /* done at once: never queued, never in the pool */
    }
    memcpy(j->host, host, len + 1);
    j->family = family;
    j->canon = canon != 0;
    return submit(loop, op, j, err);
}

struct lnet_sysres_job *lnet_sysres_start_reverse(struct lnet_loop *loop, struct lnet_op *op,
                                                  const char *ip, size_t len, int *err) {
    struct lnet_sysres_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    j->reverse = true;
    if ((*err = lnet_sockaddr_ip(&j->addr, ip, len, 0, 0)) < 0) {
        free(j);
        return NULL;
    }
    return submit(loop, op, j, err);
}

int lnet_sysres_done(const struct lnet_sysres_job *j) {
    return j->handle.next == NULL && j->state == DONE; /* no worker has it then */
}

int lnet_sysres_result(const struct lnet_sysres_job *j, struct lnet_sockaddr *out, int max) {
    int n = j->result < max ? j->result : max;
    if (j->reverse || n <= 0) return j->result;
    memcpy(out, j->addrs, (size_t)n * sizeof *out);
    return n;
}

const char *lnet_sysres_name(const struct lnet_sysres_job *j) {
    return j->reverse ? j->host : j->canonname;
}

void lnet_sysres_free(struct lnet_sysres_job *j) {
    if (j == NULL) return;
    if (j->handle.next == NULL) { /* done (or never queued): ours alone */
        free(j);
        return;
    }
    lnet_handle_unlink(&j->handle);
    j->op = NULL;
    pthread_mutex_lock(&pool.mu);
    if (j->state == QUEUED) {
        /* No worker has it: take it out of the queue now. */
        struct lnet_sysres_job **link = &pool.queue, *prev = NULL;
        while (*link != j) {
            prev = *link;
            link = &prev->next;
        }
        *link = j->next;
        if (pool.queue_tail == j) pool.queue_tail = prev;
        pthread_mutex_unlock(&pool.mu);
        retire(j, true);
        return;
    }
    /* RUNNING, or DONE but not yet seen by async_cb: it frees the job. */
    pthread_mutex_unlock(&pool.mu);
}

void lnet_sysres_slot_event(struct lnet_op *op) {
    pool.slot_op = op;
}

int lnet_sysres_pending(void) {
    return pool.pending;
}
