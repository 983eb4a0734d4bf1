/*
 * File descriptors: creation in the mode every lnet fd has (non-blocking,
 * close-on-exec), the steps of a socket's set-up, and the one close path.
 */
#ifndef LNET_FD_H
#define LNET_FD_H

#include "addr.h"
#include "errors.h"

/* A new non-blocking, close-on-exec socket, or -errno. */
int lnet_fd_socket(int family, int type, int protocol);
/* Closes *fd once and sets it to -1; a second call does nothing. */
void lnet_fd_close(int *fd);

/*
 * fd handover. A dup is the same open socket under another number, so it
 * shares the socket's O_NONBLOCK (a flag of the open file, not of the fd).
 */
/* A close-on-exec duplicate of fd, or -errno. */
int lnet_fd_dup(int fd);
/* Gives an fd that came from elsewhere lnet's mode: non-blocking, close-on-exec. */
lnet_err_t lnet_fd_adopt(int fd);

lnet_err_t lnet_fd_bind(int fd, const struct lnet_sockaddr *a);
lnet_err_t lnet_fd_listen(int fd, int backlog);
lnet_err_t lnet_fd_sockname(int fd, struct lnet_sockaddr *a);
lnet_err_t lnet_fd_peername(int fd, struct lnet_sockaddr *a);
lnet_err_t lnet_fd_setsockopt_int(int fd, int level, int name, int value);
lnet_err_t lnet_fd_getsockopt_int(int fd, int level, int name, int *value);

/* Open fds of this process: the spec harness's leak check. */
int lnet_fd_count(void);

#endif
