#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stdfd.h"

int lnet_stdfd_open(int fd) {
    char path[32];
    struct stat st;
    int flags = fcntl(fd, F_GETFL), own;
    if (flags < 0 || fstat(fd, &st) < 0) return -errno;
    if (S_ISREG(st.st_mode)) {
        /* A file never blocks, and its offset must stay the one the process
         * shares (a shell's >> or an earlier write): a plain dup. */
        own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return own < 0 ? -errno : own;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    own = open(path, (flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (own >= 0) return own;
    /* A socket cannot be opened by path (ENXIO): share it, non-blocking. */
    own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) return -errno;
    if (fcntl(own, F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = errno;
        close(own);
        return -err;
    }
    return own;
}
