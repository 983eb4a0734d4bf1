/*
 * Socket options that need more than one int (lnet_fd_setsockopt_int covers
 * the rest: nodelay, buffer sizes, keepalive switches), and what the kernel
 * tells about a socket's queues.
 */
#ifndef LNET_SOCKOPT_H
#define LNET_SOCKOPT_H

#include "errors.h"

/* SO_LINGER: sec < 0 turns lingering off (the default), else on for sec. */
lnet_err_t lnet_sockopt_linger(int fd, int sec);

/* The bytes of a TCP socket's send queue the peer has not acknowledged yet
 * (SIOCOUTQ: unsent and unacknowledged), or an error. A reset sent before
 * it is 0 discards them; chaos's reset_peer waits for it. */
int lnet_sockopt_unsent(int fd);

#endif
