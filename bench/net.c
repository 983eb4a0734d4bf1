/* net.c: the shared plumbing declared in net.h. */

#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

int bench_split_host_port(char *spec, char **host, char **port) {
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

int bench_resolve(const char *prog, const char *spec_in, int socktype, int flags,
                  struct addrinfo **res) {
    char spec[256];
    char *host, *port;
    if (snprintf(spec, sizeof spec, "%s", spec_in) >= (int)sizeof spec ||
        bench_split_host_port(spec, &host, &port) < 0)
        return -1;

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = socktype, .ai_flags = flags | AI_NUMERICSERV};
    int rc = getaddrinfo((flags & AI_PASSIVE) && !host[0] ? NULL : host, port, &hints, res);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, spec_in, gai_strerror(rc));
        return -2;
    }
    return 0;
}

int bench_bind(const char *prog, const char *spec, int socktype) {
    struct addrinfo *res;
    int rc = bench_resolve(prog, spec, socktype, AI_PASSIVE, &res);
    if (rc == -1) fprintf(stderr, "%s: bad address '%s' (want host:port)\n", prog, spec);
    if (rc < 0) return -1;

    int stream = socktype == SOCK_STREAM;
    int fd = socket(res->ai_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || (stream && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || (stream && listen(fd, SOMAXCONN) < 0)) {
        fprintf(stderr, "%s: %s: %s\n", prog, stream ? "listen" : "bind", strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

void bench_on_signal(struct ev_loop *loop, struct ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int bench_print_listening(int fd) {
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

int bench_accept(const char *prog, int listen_fd) {
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            fprintf(stderr, "%s: accept4: %s\n", prog, strerror(errno));
        return -1;
    }
}

int bench_serve(const char *prog, struct ev_loop *loop, int listen_fd,
                void (*on_accept)(struct ev_loop *, struct ev_io *, int)) {
    ev_io accept_w;
    ev_signal int_w, term_w;
    int rc = 0;
    ev_io_init(&accept_w, on_accept, listen_fd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_signal_init(&int_w, bench_on_signal, SIGINT);
    ev_signal_start(loop, &int_w);
    ev_signal_init(&term_w, bench_on_signal, SIGTERM);
    ev_signal_start(loop, &term_w);
    if (bench_print_listening(listen_fd) < 0) {
        fprintf(stderr, "%s: stdout: %s\n", prog, strerror(errno));
        rc = 1;
    } else {
        ev_run(loop, 0);
    }
    ev_io_stop(loop, &accept_w);
    ev_signal_stop(loop, &int_w);
    ev_signal_stop(loop, &term_w);
    return rc;
}
