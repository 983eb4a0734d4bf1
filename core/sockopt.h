/*
 * Socket options: the ones that need more than one int, keepalive as Go
 * sets it, any option as bytes (a script's raw:setsockopt), the table of
 * options scripts may name, and what the kernel tells about a socket's
 * queues.
 */
#ifndef LNET_SOCKOPT_H
#define LNET_SOCKOPT_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "errors.h"

/*
 * The options a script names (raw:setsockopt("SOL_SOCKET", "SO_REUSEPORT",
 * true)): level, name, and what the value is: bool (an int read as
 * true/false), int, string (bytes: TCP_CONGESTION's algorithm, an
 * interface for SO_BINDTODEVICE) or linger (struct linger as seconds, -1
 * for off, as set_linger takes it). Any other option is reached by number.
 */
#define LNET_SOCKOPT_MAP(X)                                                                        \
    X(SOL_SOCKET, SO_ACCEPTCONN, bool)                                                             \
    X(SOL_SOCKET, SO_BINDTODEVICE, string)                                                         \
    X(SOL_SOCKET, SO_BROADCAST, bool)                                                              \
    X(SOL_SOCKET, SO_DOMAIN, int)                                                                  \
    X(SOL_SOCKET, SO_ERROR, int)                                                                   \
    X(SOL_SOCKET, SO_INCOMING_CPU, int)                                                            \
    X(SOL_SOCKET, SO_KEEPALIVE, bool)                                                              \
    X(SOL_SOCKET, SO_LINGER, linger)                                                               \
    X(SOL_SOCKET, SO_MARK, int)                                                                    \
    X(SOL_SOCKET, SO_OOBINLINE, bool)                                                              \
    X(SOL_SOCKET, SO_PRIORITY, int)                                                                \
    X(SOL_SOCKET, SO_PROTOCOL, int)                                                                \
    X(SOL_SOCKET, SO_RCVBUF, int)                                                                  \
    X(SOL_SOCKET, SO_RCVLOWAT, int)                                                                \
    X(SOL_SOCKET, SO_REUSEADDR, bool)                                                              \
    X(SOL_SOCKET, SO_REUSEPORT, bool)                                                              \
    X(SOL_SOCKET, SO_SNDBUF, int)                                                                  \
    X(SOL_SOCKET, SO_TYPE, int)                                                                    \
    X(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, bool)                                                   \
    X(IPPROTO_IP, IP_FREEBIND, bool)                                                               \
    X(IPPROTO_IP, IP_MTU_DISCOVER, int)                                                            \
    X(IPPROTO_IP, IP_MULTICAST_LOOP, bool)                                                         \
    X(IPPROTO_IP, IP_MULTICAST_TTL, int)                                                           \
    X(IPPROTO_IP, IP_RECVERR, bool)                                                                \
    X(IPPROTO_IP, IP_TOS, int)                                                                     \
    X(IPPROTO_IP, IP_TRANSPARENT, bool)                                                            \
    X(IPPROTO_IP, IP_TTL, int)                                                                     \
    X(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int)                                                      \
    X(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, bool)                                                     \
    X(IPPROTO_IPV6, IPV6_RECVERR, bool)                                                            \
    X(IPPROTO_IPV6, IPV6_TCLASS, int)                                                              \
    X(IPPROTO_IPV6, IPV6_UNICAST_HOPS, int)                                                        \
    X(IPPROTO_IPV6, IPV6_V6ONLY, bool)                                                             \
    X(IPPROTO_TCP, TCP_CONGESTION, string)                                                         \
    X(IPPROTO_TCP, TCP_CORK, bool)                                                                 \
    X(IPPROTO_TCP, TCP_DEFER_ACCEPT, int)                                                          \
    X(IPPROTO_TCP, TCP_FASTOPEN, int)                                                              \
    X(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, bool)                                                     \
    X(IPPROTO_TCP, TCP_KEEPCNT, int)                                                               \
    X(IPPROTO_TCP, TCP_KEEPIDLE, int)                                                              \
    X(IPPROTO_TCP, TCP_KEEPINTVL, int)                                                             \
    X(IPPROTO_TCP, TCP_LINGER2, int)                                                               \
    X(IPPROTO_TCP, TCP_MAXSEG, int)                                                                \
    X(IPPROTO_TCP, TCP_NODELAY, bool)                                                              \
    X(IPPROTO_TCP, TCP_NOTSENT_LOWAT, int)                                                         \
    X(IPPROTO_TCP, TCP_QUICKACK, bool)                                                             \
    X(IPPROTO_TCP, TCP_SYNCNT, int)                                                                \
    X(IPPROTO_TCP, TCP_USER_TIMEOUT, int)                                                          \
    X(IPPROTO_TCP, TCP_WINDOW_CLAMP, int)

/* The levels those options live at, by name. */
#define LNET_SOCKOPT_LEVELS(X)                                                                     \
    X(SOL_SOCKET) X(IPPROTO_IP) X(IPPROTO_IPV6) X(IPPROTO_TCP) X(IPPROTO_UDP)

/* SO_LINGER: sec < 0 turns lingering off (the default), else on for sec. */
lnet_err_t lnet_sockopt_linger(int fd, int sec);
/* SO_LINGER read back as lnet_sockopt_linger takes it: -1 when off. */
lnet_err_t lnet_sockopt_get_linger(int fd, int *sec);

/*
 * TCP keepalive, as Go's SetKeepAliveConfig: SO_KEEPALIVE on (1) or off
 * (0), then TCP_KEEPIDLE and TCP_KEEPINTVL (seconds) and TCP_KEEPCNT; each
 * is left as it is when negative. Stops at the first that fails.
 */
lnet_err_t lnet_sockopt_keepalive(int fd, int on, int idle, int interval, int count);

/* Any option as len bytes at val. */
lnet_err_t lnet_sockopt_set(int fd, int level, int name, const void *val, unsigned len);
/* Any option into val, *len bytes of room; *len becomes what the kernel wrote. */
lnet_err_t lnet_sockopt_get(int fd, int level, int name, void *val, unsigned *len);

/* The bytes of a TCP socket's send queue the peer has not acknowledged yet
 * (SIOCOUTQ: unsent and unacknowledged), or an error. A reset sent before
 * it is 0 discards them; chaos's reset_peer waits for it. */
int lnet_sockopt_unsent(int fd);

#endif
