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

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Split "host:port" or "[v6]:port" in place. */
static int split_host_port(char *spec, char **host, char **port) {
    char *colon = strrchr(spec, ':');
    if (!colon) return -1;
    *colon = '\0';
    *port = colon + 1;
    *host = spec;
    if (spec[0] == '[') {
        size_t len = strlen(spec);
        if (len < 2 || spec[len - 1] != ']') return -1;
        spec[len - 1] = '\0';
        *host = spec + 1;
    }
    return 0;
}

static int bind_on(const char *spec_in) {
    char spec[256];
    char *host, *port;
    if (snprintf(spec, sizeof spec, "%s", spec_in) >= (int)sizeof spec ||
        split_host_port(spec, &host, &port) < 0) {
        fprintf(stderr, "udp_echo_ev: bad address '%s' (want host:port)\n", spec_in);
        return -1;
    }

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "udp_echo_ev: %s: %s\n", spec_in, gai_strerror(rc));
        return -1;
    }

    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        perror("udp_echo_ev: bind");
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The runner reads this line to learn the port the kernel picked. */
static int print_listening(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    printf(strchr(host, ':') ? "listening [%s]:%s\n" : "listening %s:%s\n", host, port);
    return fflush(stdout) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: udp_echo_ev [host:port]\n");
        return 2;
    }

    int fd = bind_on(argc == 2 ? argv[1] : "127.0.0.1:0");
    if (fd < 0) return 1;

    struct ev_loop *loop = ev_default_loop(0);
    ev_io read_w;
    ev_signal int_w, term_w;
    ev_io_init(&read_w, on_readable, fd, EV_READ);
    ev_io_start(loop, &read_w);
    ev_signal_init(&int_w, on_signal, SIGINT);
    ev_signal_start(loop, &int_w);
    ev_signal_init(&term_w, on_signal, SIGTERM);
    ev_signal_start(loop, &term_w);

    if (print_listening(fd) < 0) {
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
