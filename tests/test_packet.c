/* Packet conns over UDP on 127.0.0.1: truncation sizes, EMSGSIZE, the ring, ECONNREFUSED, close. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wait.h"
#include "fd.h"
#include "op.h"
#include "packet.h"

static struct lnet_loop *loop;

/* A packet conn on 127.0.0.1, an ephemeral port; *a gets its address. */
static struct lnet_packet *udp_open(struct lnet_sockaddr *a) {
    static const unsigned char lo[4] = {127, 0, 0, 1};
    int fd = lnet_fd_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    CHECK(lnet_sockaddr_ip(a, lo, 4, 0, 0) == 0);
    CHECK(lnet_fd_bind(fd, a) == 0);
    CHECK(lnet_fd_sockname(fd, a) == 0);
    return lnet_packet_open(loop, fd);
}

/* Reads one datagram, waiting for it if need be. */
static int read_one(struct lnet_packet *p, struct lnet_op *op, char *buf, size_t max,
                    struct lnet_sockaddr *from, int *size) {
    int n = lnet_packet_recvfrom(p, op, buf, max, from, size);
    while (n == -LNET_EAGAIN) {
        if (!wait_ready(loop, op)) return -LNET_EAGAIN;
        n = lnet_packet_recvfrom(p, op, buf, max, from, size);
    }
    return n;
}

/* Sends one datagram, waiting for a turn if need be (the side's fairness may ask for one). */
static int send_one(struct lnet_packet *p, struct lnet_op *op, const char *buf, size_t len,
                    const struct lnet_sockaddr *to) {
    int rc = lnet_packet_sendto(p, op, buf, len, to);
    while (rc == -LNET_EAGAIN) {
        if (!wait_ready(loop, op)) return -LNET_EAGAIN;
        rc = lnet_packet_sendto(p, op, buf, len, to);
    }
    return rc;
}

int main(void) {
    loop = lnet_loop_default();
    struct lnet_op *op = lnet_op_new(loop, 1);
    char *buf = lnet_loop_rbuf(loop);
    char *big = calloc(1, 65508);
    struct lnet_sockaddr aa, ba, from;
    struct lnet_packet *a = udp_open(&aa), *b = udp_open(&ba);
    int size = 0;
    CHECK(big != NULL);
    CHECK(lnet_loop_handle_count(loop) == 2);

    /* Nothing there: the read parks. */
    CHECK(lnet_packet_recvfrom(b, op, buf, 100, &from, &size) == -LNET_EAGAIN);
    lnet_op_abandon(op);

    /* 100, 1500 and 9000 bytes into a 10-byte buffer: 10 bytes, the real size. */
    static const size_t sizes[] = {100, 1500, 9000};
    for (size_t i = 0; i < 3; i++) {
        memset(big, (int)('a' + i), sizes[i]);
        CHECK(send_one(a, op, big, sizes[i], &ba) == 0);
        CHECK(read_one(b, op, buf, 10, &from, &size) == 10);
        CHECK(size == (int)sizes[i]);
        CHECK(buf[0] == (char)('a' + i) && buf[9] == (char)('a' + i));
        CHECK(from.len == aa.len && memcmp(&from.u, &aa.u, aa.len) == 0);
    }

    /* A read of max 0 still takes the datagram. */
    CHECK(send_one(a, op, "xyz", 3, &ba) == 0);
    CHECK(read_one(b, op, buf, 0, NULL, &size) == 0);
    CHECK(size == 3);

    /* UDP over IPv4 carries 65,507 bytes and refuses one more. */
    CHECK(send_one(a, op, big, 65508, &ba) == -EMSGSIZE);
    CHECK(send_one(a, op, big, 65507, &ba) == 0);
    CHECK(read_one(b, op, buf, LNET_RBUF_SIZE, NULL, &size) == 65507);
    CHECK(size == 65507);

    /* A burst: the ring reads ahead, and each datagram comes out once, in order. */
    enum { BURST = 3 * LNET_PACKET_RING + 5 };
    for (int i = 0; i < BURST; i++) {
        unsigned char d[2] = {(unsigned char)i, (unsigned char)(i * 7)};
        CHECK(send_one(a, op, (const char *)d, 1 + (size_t)(i % 2), &ba) == 0);
    }
    for (int i = 0; i < BURST; i++) {
        CHECK(read_one(b, op, buf, 100, &from, &size) == 1 + i % 2);
        CHECK(size == 1 + i % 2 && (unsigned char)buf[0] == (unsigned char)i);
    }
    CHECK(b->ring != NULL);
    /* Truncation reads the same through the ring. */
    memset(big, 'r', 9000);
    CHECK(send_one(a, op, big, 9000, &ba) == 0);
    CHECK(send_one(a, op, big, 100, &ba) == 0);
    CHECK(read_one(b, op, buf, 50, NULL, &size) == 50 && size == 9000);
    CHECK(read_one(b, op, buf, 1000, NULL, &size) == 100 && size == 100);

    /* A deadline wakes a parked read, which then times out. */
    double start = lnet_now();
    CHECK(lnet_packet_set_deadline(b, LNET_READ, start + 0.01) == 0);
    CHECK(read_one(b, op, buf, 100, NULL, &size) == -LNET_EDEADLINE);
    CHECK(lnet_now() >= start + 0.01);
    CHECK(lnet_packet_set_deadline(b, LNET_READ, HUGE_VAL) == 0);

    /* Connected to a port no one listens on: the refusal comes on the next read. */
    struct lnet_sockaddr dead = ba;
    struct lnet_packet *c;
    lnet_packet_close(b);
    c = udp_open(&aa);
    CHECK(lnet_packet_connect(c, &dead) == 0);
    CHECK(send_one(c, op, "x", 1, NULL) == 0);
    CHECK(read_one(c, op, buf, 100, NULL, &size) == -ECONNREFUSED);

    /* Close wakes a parked read; every later call reports the close. */
    CHECK(lnet_packet_recvfrom(a, op, buf, 100, NULL, &size) == -LNET_EAGAIN);
    CHECK(lnet_packet_close(a) == 0);
    CHECK(lnet_loop_ready_next(loop) == op->id);
    CHECK(lnet_packet_recvfrom(a, op, buf, 100, NULL, &size) == -LNET_ECLOSED);
    CHECK(send_one(a, op, "x", 1, &ba) == -LNET_ECLOSED);
    CHECK(lnet_packet_close(a) == -LNET_ECLOSED);

    lnet_packet_free(a);
    lnet_packet_free(b);
    lnet_packet_free(c);
    CHECK(lnet_loop_handle_count(loop) == 0);
    lnet_op_free(op);
    free(big);
    return CHECK_DONE();
}
