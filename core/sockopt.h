/*
 * Socket options that need more than one int (lnet_fd_setsockopt_int covers
 * the rest: nodelay, buffer sizes, keepalive switches).
 */
#ifndef LNET_SOCKOPT_H
#define LNET_SOCKOPT_H

#include "errors.h"

/* SO_LINGER: sec < 0 turns lingering off (the default), else on for sec. */
lnet_err_t lnet_sockopt_linger(int fd, int sec);

#endif
