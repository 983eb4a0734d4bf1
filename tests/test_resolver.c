/*
 * The resolvers from C alone: a c-ares lookup against a server that never
 * answers is parked, then cancelled with nothing left (watchers, fds); one
 * against a closed port fails and wakes its op once; the system pool
 * answers /etc/hosts' localhost, and a job cancelled while queued or
 * running frees the caller at once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "fd.h"
#include "loop.h"
#include "op.h"
#include "resolver_ares.h"
#include "resolver_system.h"
#include "wait.h"

/* A bound UDP socket on 127.0.0.1 that nobody reads: a black hole. */
static int black_hole(char *csv, size_t size) {
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    snprintf(csv, size, "127.0.0.1:%d", ntohs(sin.sin_port));
    return fd;
}

static void test_ares_cancel(struct lnet_loop *loop) {
    char csv[64];
    int err = 0, hole = black_hole(csv, sizeof csv), fds = lnet_fd_count();
    struct lnet_ares *r = lnet_ares_new(loop, csv, 5000, 2, &err);
    struct lnet_op *op = lnet_op_new(loop, 1);
    struct lnet_ares_lookup *l;
    CHECK(r != NULL);
    l = lnet_ares_lookup_start(r, op, "hole.test.", LNET_DNS_A, LNET_DNS_AAAA);
    CHECK(l != NULL && !lnet_ares_lookup_done(l));
    CHECK(op->state == LNET_OP_PARKED);
    CHECK(lnet_fd_count() > fds); /* the query's socket */
    CHECK(lnet_loop_handle_count(loop) == 1);
    lnet_loop_poll(loop, 0);
    lnet_op_abandon(op);
    lnet_ares_lookup_cancel(l);
    CHECK(lnet_fd_count() == fds);
    CHECK(lnet_loop_handle_count(loop) == 0);
    CHECK(lnet_loop_ready_next(loop) == 0);
    lnet_ares_free(r);
    lnet_op_free(op);
    close(hole);
}

static void test_ares_refused(struct lnet_loop *loop) {
    char csv[64];
    int err = 0, hole = black_hole(csv, sizeof csv);
    struct lnet_ares *r;
    struct lnet_op *op = lnet_op_new(loop, 1);
    struct lnet_ares_lookup *l;
    close(hole); /* the port is closed now: ICMP port unreachable */
    r = lnet_ares_new(loop, csv, 1000, 1, &err);
    l = lnet_ares_lookup_start(r, op, "refused.test.", LNET_DNS_MX, 0);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_ares_lookup_done(l));
    CHECK(lnet_ares_lookup_status(l, 0) < 0);
    CHECK(strcmp(lnet_ares_lookup_server(l), csv) == 0);
    lnet_ares_lookup_free(l);
    CHECK(lnet_loop_ready_next(loop) == 0); /* woken once */
    lnet_ares_free(r);
    lnet_op_free(op);
}

static void test_ares_bad_servers(struct lnet_loop *loop) {
    int err = 0;
    CHECK(lnet_ares_new(loop, "not an address", 0, 0, &err) == NULL);
    CHECK(err <= -LNET_ARES_EBASE);
}

static void test_system_localhost(struct lnet_loop *loop) {
    struct lnet_op *op = lnet_op_new(loop, 1);
    struct lnet_sockaddr out[LNET_SYSRES_ADDRS];
    int err = 0, n;
    struct lnet_sysres_job *j = lnet_sysres_start(loop, op, "localhost", AF_INET, 0, &err);
    CHECK(j != NULL);
    CHECK(wait_ready(loop, op));
    CHECK(lnet_sysres_done(j));
    n = lnet_sysres_result(j, out, LNET_SYSRES_ADDRS);
    CHECK(n >= 1);
    CHECK(n >= 1 && lnet_sockaddr_family(&out[0]) == AF_INET);
    lnet_sysres_free(j);
    CHECK(lnet_sysres_pending() == 0);
    lnet_op_free(op);
}

static void test_system_shorthand(struct lnet_loop *loop) {
    struct lnet_op *op = lnet_op_new(loop, 1);
    int err = 0;
    struct lnet_sysres_job *j = lnet_sysres_start(loop, op, "127.1", AF_UNSPEC, 0, &err);
    CHECK(j != NULL && lnet_sysres_done(j)); /* done at once, never queued */
    CHECK(lnet_sysres_result(j, NULL, 0) == -LNET_EAI_NONAME);
    CHECK(op->state == LNET_OP_IDLE);
    lnet_sysres_free(j);
    lnet_op_free(op);
}

/* Cancelled at once, whatever the worker is doing; the pool drains. */
static void test_system_cancel(struct lnet_loop *loop) {
    enum { N = 16 };
    struct lnet_op *ops[N];
    struct lnet_sysres_job *jobs[N];
    int err = 0;
    for (int i = 0; i < N; i++) {
        ops[i] = lnet_op_new(loop, i + 1);
        jobs[i] = lnet_sysres_start(loop, ops[i], "localhost", AF_UNSPEC, 1, &err);
        CHECK(jobs[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        lnet_op_abandon(ops[i]);
        lnet_sysres_free(jobs[i]);
    }
    CHECK(lnet_loop_handle_count(loop) == 0);
    for (int i = 0; i < 1000 && lnet_sysres_pending() > 0; i++)
        lnet_loop_poll(loop, 1);
    CHECK(lnet_sysres_pending() == 0);
    CHECK(lnet_loop_ready_next(loop) == 0);
    for (int i = 0; i < N; i++)
        lnet_op_free(ops[i]);
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    test_ares_cancel(loop);
    test_ares_refused(loop);
    test_ares_bad_servers(loop);
    test_system_localhost(loop);
    test_system_shorthand(loop);
    test_system_cancel(loop);
    return CHECK_DONE();
}
