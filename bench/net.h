/* net.h: the plumbing echo_ev, udp_echo_ev, http_ev, tls_echo_ev and loadgen
 * share: parsing "host:port", resolving it, opening a bound (and for TCP
 * listening) socket, accepting, and a TCP server's loop from its listening
 * line to SIGINT/SIGTERM. */

#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <errno.h>
#include <netdb.h>

struct ev_loop;
struct ev_signal;
struct ev_io;

/* How many connections one readiness event may accept. Draining the
 * backlog saves an epoll round trip per connect under a connect storm;
 * the bound keeps established connections from starving meanwhile. */
#define BENCH_ACCEPT_BATCH 64

/* True for the errors that mean "try again later", not failure. Inline,
 * since the echo floor calls it on every recv and send. */
static inline int bench_would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Split "host:port" or "[v6]:port" in place. Returns 0, or -1 if malformed. */
int bench_split_host_port(char *spec, char **host, char **port);

/* Resolve SPEC (numeric port) for SOCKTYPE; FLAGS are extra ai_flags. With
 * AI_PASSIVE an empty host means any address. Returns 0 with *res set (the
 * caller frees it), -1 if SPEC is malformed (nothing printed), or -2 after
 * printing "PROG: SPEC: reason" when the lookup failed. */
int bench_resolve(const char *prog, const char *spec, int socktype, int flags,
                  struct addrinfo **res);

/* A nonblocking socket bound to SPEC: SOCK_STREAM also gets SO_REUSEADDR
 * and listens. Returns the fd, or -1 after printing why. */
int bench_bind(const char *prog, const char *spec, int socktype);

/* Prints "listening HOST:PORT" for the bound fd and flushes: the line the
 * runners read to learn the port the kernel picked. 0, or -1. */
int bench_print_listening(int fd);

/* ev_signal callback: leave the loop, so the program can clean up. */
void bench_on_signal(struct ev_loop *loop, struct ev_signal *w, int revents);

/* The next connection on LISTEN_FD, non-blocking and close-on-exec, with
 * TCP_NODELAY (the servers' replies are small and immediate: Nagle must not
 * hold a tail back waiting for an ACK; Go sets it by default too). -1 once
 * the queue is empty, or on an error (printed; e.g. EMFILE, retried on the
 * next event). */
int bench_accept(const char *prog, int listen_fd);

/* Serves LISTEN_FD on LOOP, ON_ACCEPT called on each readiness, until
 * SIGINT or SIGTERM, after printing the listening line (bench/run waits for
 * it). Returns 0, or 1 if that line could not be written. The caller then
 * closes its conns and LISTEN_FD. */
int bench_serve(const char *prog, struct ev_loop *loop, int listen_fd,
                void (*on_accept)(struct ev_loop *, struct ev_io *, int));

#endif
