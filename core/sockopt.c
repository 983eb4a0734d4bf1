#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sockopt.h"

lnet_err_t lnet_sockopt_linger(int fd, int sec) {
    struct linger l = {.l_onoff = sec >= 0, .l_linger = sec >= 0 ? sec : 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0 ? -errno : 0;
}

lnet_err_t lnet_sockopt_get_linger(int fd, int *sec) {
    struct linger l;
    socklen_t len = sizeof l;
    if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) < 0) return -errno;
    *sec = l.l_onoff ? l.l_linger : -1;
    return 0;
}

static lnet_err_t set_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

lnet_err_t lnet_sockopt_keepalive(int fd, int on, int idle, int interval, int count) {
    lnet_err_t rc = on >= 0 ? set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on != 0) : 0;
    if (rc == 0 && idle >= 0) rc = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle);
    if (rc == 0 && interval >= 0) rc = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval);
    if (rc == 0 && count >= 0) rc = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
    return rc;
}

lnet_err_t lnet_sockopt_set(int fd, int level, int name, const void *val, unsigned len) {
    return setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
}

lnet_err_t lnet_sockopt_get(int fd, int level, int name, void *val, unsigned *len) {
    socklen_t n = *len;
    if (getsockopt(fd, level, name, val, &n) < 0) return -errno;
    *len = n;
    return 0;
}

int lnet_sockopt_unsent(int fd) {
    int n = 0;
    return ioctl(fd, SIOCOUTQ, &n) < 0 ? -errno : n;
}
