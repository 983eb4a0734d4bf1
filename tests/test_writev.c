/*
 * lnet_conn_writev: gathers the entries into one stream, more entries than
 * one syscall takes, keeps its progress across parks (a full send buffer),
 * skips empty entries, falls back to writev on a pipe, reports a close.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "wait.h"

#define ENTRIES 200 /* more than one syscall's worth (LNET_CONN_IOV) */
#define ENTRY   1000

static char data[ENTRIES][ENTRY];
static char got[ENTRIES * ENTRY];

/* Reads what r has until n bytes came in all; returns how many. */
static size_t drain(int fd, char *out, size_t have, size_t n) {
    while (have < n) {
        ssize_t k = read(fd, out + have, n - have);
        if (k <= 0) break;
        have += (size_t)k;
    }
    return have;
}

int main(void) {
    struct lnet_loop *loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    struct iovec iov[ENTRIES];
    int sv[2], pv[2], small = 4096;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    struct lnet_conn *a = lnet_conn_open(loop, sv[0], 0);

    /* Three entries, one empty: one stream, in order. */
    iov[0] = (struct iovec){"GET ", 4};
    iov[1] = (struct iovec){"", 0};
    iov[2] = (struct iovec){"/\r\n", 3};
    op->progress = 0;
    CHECK(lnet_conn_writev(a, op, iov, 3) == 0);
    CHECK(op->progress == 7);
    CHECK(drain(sv[1], got, 0, 7) == 7 && memcmp(got, "GET /\r\n", 7) == 0);

    /* No entries: one call, nothing sent. */
    op->progress = 0;
    CHECK(lnet_conn_writev(a, op, iov, 0) == 0);
    CHECK(op->progress == 0);

    /* 200 KB in 200 entries through a 4 KiB send buffer: the call parks,
     * and each call after a wake resumes where the last stopped. */
    for (int i = 0; i < ENTRIES; i++) {
        memset(data[i], 'a' + i % 26, ENTRY);
        iov[i] = (struct iovec){data[i], ENTRY};
    }
    op->progress = 0;
    size_t have = 0;
    int rc, parks = 0;
    while ((rc = lnet_conn_writev(a, op, iov, ENTRIES)) == -LNET_EAGAIN) {
        parks++;
        have = drain(sv[1], got, have, ENTRIES * ENTRY); /* make room: all there is */
        CHECK(wait_ready(loop, op));
        CHECK(parks < 100000);
        if (parks >= 100000) break;
    }
    CHECK(rc == 0);
    CHECK(parks > 0);
    CHECK(op->progress == ENTRIES * ENTRY);
    CHECK(drain(sv[1], got, have, ENTRIES * ENTRY) == ENTRIES * ENTRY);
    CHECK(memcmp(got, data, sizeof got) == 0);

    /* A pipe is no socket: the same bytes go out through writev. */
    CHECK(pipe2(pv, O_NONBLOCK) == 0);
    struct lnet_conn *p = lnet_conn_open(loop, pv[1], 0);
    op->progress = 0;
    CHECK(lnet_conn_writev(p, op, iov, 3) == 0);
    CHECK(op->progress == 3 * ENTRY);
    CHECK(drain(pv[0], got, 0, 3 * ENTRY) == 3 * ENTRY && memcmp(got, data, 3 * ENTRY) == 0);

    /* After close every call says so. */
    CHECK(lnet_conn_close(a) == 0);
    CHECK(lnet_conn_writev(a, op, iov, 3) == -LNET_ECLOSED);

    lnet_conn_free(a);
    lnet_conn_free(p);
    close(sv[1]);
    close(pv[0]);
    CHECK(lnet_loop_handle_count(loop) == 0);
    lnet_op_free(op);
    return CHECK_DONE();
}
