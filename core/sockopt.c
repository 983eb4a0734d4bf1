#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sockopt.h"

lnet_err_t lnet_sockopt_linger(int fd, int sec) {
    struct linger l = {.l_onoff = sec >= 0, .l_linger = sec >= 0 ? sec : 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0 ? -errno : 0;
}

int lnet_sockopt_unsent(int fd) {
    int n = 0;
    return ioctl(fd, SIOCOUTQ, &n) < 0 ? -errno : n;
}
