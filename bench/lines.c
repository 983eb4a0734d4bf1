/* lines: the floor for lnet.bufio's read_line benchmark, and its feeder.
 *
 *   lines split PATH        listen on the unix socket PATH, take one conn,
 *                           split what comes into lines with memchr, count
 *   lines feed PATH BYTES   connect to PATH and send BYTES of 100-byte lines
 *                           (99 bytes and a LF), then close
 *
 * split prints "listening PATH" once it listens, and at the end
 * "lines N bytes B seconds S" (S: from the first byte to end of stream).
 * Reads go into one 64 KiB buffer; a line cut by a read's end is moved to
 * its front, as a C programmer would split a stream. bench/lines.lua is the
 * same splitter with read_line; bench/toolkit.lua runs both. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF  65536
#define LINE 100

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int unix_socket(const char *path, struct sockaddr_un *sa) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (fd < 0 || strlen(path) >= sizeof sa->sun_path) return -1;
    strcpy(sa->sun_path, path);
    return fd;
}

static int split(const char *path) {
    static char buf[BUF];
    struct sockaddr_un sa;
    int ln = unix_socket(path, &sa);
    unlink(path);
    if (ln < 0 || bind(ln, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ln, 1) < 0) {
        perror("lines: listen");
        return 1;
    }
    printf("listening %s\n", path);
    fflush(stdout);
    int fd = accept(ln, NULL, NULL);
    if (fd < 0) {
        perror("lines: accept");
        return 1;
    }
    size_t have = 0, lines = 0, bytes = 0, longest = 0;
    double t0 = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, BUF - have);
        if (n <= 0) break;
        if (t0 == 0) t0 = now();
        have += (size_t)n;
        char *p = buf, *end = buf + have, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            size_t len = (size_t)(nl - p);
            if (len > longest) longest = len;
            bytes += len + 1;
            lines++;
            p = nl + 1;
        }
        have = (size_t)(end - p);
        memmove(buf, p, have);
    }
    printf("lines %zu bytes %zu seconds %.6f longest %zu\n", lines, bytes, now() - t0, longest);
    close(fd);
    close(ln);
    unlink(path);
    return 0;
}

static int feed(const char *path, double total) {
    static char buf[BUF / LINE * LINE];
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("lines: connect");
        return 1;
    }
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (i % LINE == LINE - 1) ? '\n' : (char)('a' + i % 26);
    double sent = 0;
    while (sent < total) {
        size_t want = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
        ssize_t n = write(fd, buf, want - want % LINE);
        if (n <= 0) {
            perror("lines: write");
            return 1;
        }
        sent += (double)n;
        if ((size_t)n % LINE != 0) { /* finish the line a short write cut */
            size_t off = (size_t)n, rest = LINE - (size_t)n % LINE;
            while (rest > 0) {
                ssize_t k = write(fd, buf + off, rest);
                if (k <= 0) return 1;
                off += (size_t)k, rest -= (size_t)k, sent += (double)k;
            }
        }
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "split") == 0) return split(argv[2]);
    if (argc == 4 && strcmp(argv[1], "feed") == 0) return feed(argv[2], atof(argv[3]));
    fprintf(stderr, "usage: lines split PATH | lines feed PATH BYTES\n");
    return 2;
}
