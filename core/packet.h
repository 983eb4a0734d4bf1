/*
 * A packet conn (udp, unixgram, raw IP, the ICMP datagram socket): a socket
 * handle (sock.h) and the datagrams it has read ahead.
 *
 * Calls follow conn.h: a result, or -LNET_EAGAIN after parking the op, and
 * the woken task makes the same call again. Each call moves exactly one
 * whole datagram. Several tasks may read at once: they queue on the read
 * side and each datagram goes to the head of the queue, so to one task.
 * After close every call returns -LNET_ECLOSED.
 *
 * Truncation is reported: a read asks the kernel for the real length
 * (MSG_TRUNC), copies at most max bytes and says how long the datagram was,
 * so a 9000-byte datagram read into 1500 bytes is never mistaken for a
 * 1500-byte one. Writes never split a datagram: an oversized one fails with
 * EMSGSIZE, as the kernel reports it.
 *
 * Special problem of datagram rates: one recvmsg per datagram makes the
 * syscall, not the work, the cost of a busy socket. So once a burst is
 * seen (LNET_PACKET_BURST reads in a row found a datagram without waiting
 * for readiness in between), the conn gets a ring of LNET_PACKET_RING slots,
 * refilled with one recvmmsg whenever it runs empty; reads take datagrams
 * from it in arrival order before they ask the kernel again. A quiet
 * socket never gets one. Every slot holds LNET_RBUF_SIZE bytes, the largest
 * read, so a datagram in the ring is cut exactly where a direct read would
 * cut it and its real length is kept. The ring is one allocation, bounded
 * (LNET_PACKET_RING * 64 KiB of address space; a small datagram touches one
 * page of its slot), made once and freed at close.
 *
 * Writes are not batched: a sendmmsg of several write_to calls would have to
 * hold a datagram past the call that wrote it, and its error (EMSGSIZE,
 * ECONNREFUSED) would then reach the wrong call, or none.
 */
#ifndef LNET_PACKET_H
#define LNET_PACKET_H

#include "addr.h"
#include "sock.h"

#define LNET_PACKET_RING  16
#define LNET_PACKET_BURST 2

struct lnet_packet_ring;

struct lnet_packet {
    struct lnet_sock s;
    int burst;                     /* datagrams read since the last wait for readiness */
    struct lnet_packet_ring *ring; /* NULL until a burst is seen */
};

/* Takes ownership of a datagram or raw socket fd (closing it on failure). */
struct lnet_packet *lnet_packet_open(struct lnet_loop *loop, int fd);
/* The binding's finalizer: closes if still open, then frees. */
void lnet_packet_free(struct lnet_packet *p);
lnet_err_t lnet_packet_close(struct lnet_packet *p);

/*
 * Reads one datagram: copies at most min(max, LNET_RBUF_SIZE) bytes of it to
 * buf and returns how many, or -LNET_EAGAIN, or an error. *size gets the
 * datagram's real length, or -1 when the kernel said it was cut without
 * saying its length (ICMP datagram sockets). from, unless NULL, gets the
 * sender's address.
 */
int lnet_packet_recvfrom(struct lnet_packet *p, struct lnet_op *op, char *buf, size_t max,
                         struct lnet_sockaddr *from, int *size);
/* Sends buf as one datagram to `to` (NULL: the connected peer); 0 or an error. */
lnet_err_t lnet_packet_sendto(struct lnet_packet *p, struct lnet_op *op, const char *buf,
                              size_t len, const struct lnet_sockaddr *to);
/* connect(2): fixes the peer and filters what arrives; a datagram socket never waits. */
lnet_err_t lnet_packet_connect(struct lnet_packet *p, const struct lnet_sockaddr *a);

/* Sets the deadline of the sides in dirs (LNET_READ | LNET_WRITE). */
lnet_err_t lnet_packet_set_deadline(struct lnet_packet *p, int dirs, double t);
int lnet_packet_fd(const struct lnet_packet *p);
/* The socket handle inside, for what all sockets share (sock.h). */
struct lnet_sock *lnet_packet_sock(struct lnet_packet *p);

#endif
