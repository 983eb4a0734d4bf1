/* net.h: the plumbing echo_ev, udp_echo_ev, http_ev and loadgen share: parsing
 * "host:port", resolving it, opening a bound (and for TCP listening)
 * socket, and the libev signal callback that stops a server's loop. */

#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <errno.h>
#include <netdb.h>

struct ev_loop;
struct ev_signal;

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

#endif
