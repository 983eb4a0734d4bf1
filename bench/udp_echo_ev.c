/* udp_echo_ev: the floor for lnet's UDP echo benchmark.
 *
 * A UDP echo server written straight against libev: one socket, one
 * read watcher, every datagram sent back to where it came from. bench/run
 * compares lnet's scripts/udp_echo.lua against this, so it is the plain
 * loop an expert would write first: on readiness, recvfrom and sendto
 * until the socket is drained (at most UDP_BATCH datagrams, so one
 * readiness event cannot hold the loop forever).
 *
 * A reply that finds the send buffer full is dropped, as UDP may drop it
 * anywhere on the way; the load generator counts what did not come back.
 *
 * Usage: udp_echo_ev [host:port]    (default 127.0.0.1:0)
 * Prints one line, "listening HOST:PORT", once the socket is bound.
 * SIGINT or SIGTERM closes the socket and exits 0. */

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "net.h"

#define READ_BUF_SIZE 65536
#define UDP_BATCH     64

static char read_buf[READ_BUF_SIZE];

static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;

    for (int i = 0; i < UDP_BATCH; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t got =
            recvfrom(w->fd, read_buf, sizeof read_buf, 0, (struct sockaddr *)&from, &fromlen);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("udp_echo_ev: recvfrom");
            return;
        }
        while (sendto(w->fd, read_buf, (size_t)got, 0, (struct sockaddr *)&from, fromlen) < 0 &&
               errno == EINTR) {
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: udp_echo_ev [host:port]\n");
        return 2;
    }

    int fd = bench_bind("udp_echo_ev", argc == 2 ? argv[1] : "127.0.0.1:0", SOCK_DGRAM);
    if (fd < 0) return 1;

    struct ev_loop *loop = ev_default_loop(0);
    ev_io read_w;
    ev_signal int_w, term_w;
    ev_io_init(&read_w, on_readable, fd, EV_READ);
    ev_io_start(loop, &read_w);
    ev_signal_init(&int_w, bench_on_signal, SIGINT);
    ev_signal_start(loop, &int_w);
    ev_signal_init(&term_w, bench_on_signal, SIGTERM);
    ev_signal_start(loop, &term_w);

    if (bench_print_listening(fd) < 0) {
        perror("udp_echo_ev: stdout");
        return 1;
    }

    ev_run(loop, 0);

    ev_io_stop(loop, &read_w);
    close(fd);
    ev_signal_stop(loop, &int_w);
    ev_signal_stop(loop, &term_w);
    ev_loop_destroy(loop);
    return 0;
}
