#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd.h"

int lnet_fd_socket(int family, int type, int protocol) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

/*
 * close(2) may fail with EINTR, and on Linux the fd is gone all the same:
 * retrying would close someone else's fd, so never retry.
 */
void lnet_fd_close(int *fd) {
    if (*fd < 0) return;
    close(*fd);
    *fd = -1;
}

int lnet_fd_dup(int fd) {
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return d < 0 ? -errno : d;
}

lnet_err_t lnet_fd_adopt(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_bind(int fd, const struct lnet_sockaddr *a) {
    return bind(fd, &a->u.sa, a->len) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_listen(int fd, int backlog) {
    return listen(fd, backlog) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_sockname(int fd, struct lnet_sockaddr *a) {
    a->len = sizeof a->u;
    return getsockname(fd, &a->u.sa, &a->len) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_peername(int fd, struct lnet_sockaddr *a) {
    a->len = sizeof a->u;
    return getpeername(fd, &a->u.sa, &a->len) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

lnet_err_t lnet_fd_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

int lnet_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL) return -errno;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}
