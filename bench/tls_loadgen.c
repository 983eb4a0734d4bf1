/* tls_loadgen: drives a TLS echo server for bench/tls_run.
 *
 *   tls_loadgen rr        ADDR [-c 50] [-s 64] [-d 5]     request/response rate
 *   tls_loadgen bulk      ADDR [-m 256] [-d 60]           one conn streams MiB out and back
 *   tls_loadgen handshake ADDR [-n 2000] [-p 20] [-d 60]  full handshakes, a 1-byte echo, close
 *   tls_loadgen idle      ADDR [-n 2000] [-p 20] [-d 60]  as handshake, but holds each conn open,
 *                                                        prints "idle N held", and waits for
 *                                                        stdin to close (or -d)
 *
 * One thread, epoll, OpenSSL non-blocking over the socket (SSL_set_fd); it
 * does not verify the server (its cost is the client's, and it runs on its
 * own CPU) and never resumes a session, so each handshake is a full one.
 * Every echoed byte is checked. Results go to stdout as "key value" lines
 * (requests, rps, mbps, handshakes, hps, errors, cpu_seconds); exit status
 * 0, 1 when a conn failed or echoed wrong bytes, 2 on bad usage. Every loop
 * is bounded by -d (the run time of rr, the give-up time of the others). */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net.h"

#define CHUNK      (64 * 1024)
#define MAX_EVENTS 256
#define MIB        (1024.0 * 1024.0)
#define PERIOD     65521 /* the bulk stream repeats with a prime period */

enum mode { MODE_RR, MODE_BULK, MODE_HANDSHAKE, MODE_IDLE };
enum state { ST_CONNECTING, ST_HANDSHAKE, ST_RUNNING, ST_HELD, ST_DONE };

struct conn {
    int fd;
    uint32_t events;
    enum state state;
    SSL *ssl;
    uint64_t seq;
    size_t sent, recvd; /* rr: of this message; bulk: of the stream */
    char tx[64 * 1024], rx[64 * 1024];
};

static struct {
    enum mode mode;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    long conns, size, megabytes, count, inflight;
    double seconds;
} opt = {.conns = 50, .size = 64, .megabytes = 256, .count = 2000, .inflight = 20, .seconds = 5};

static int epfd;
static long errors;
static SSL_CTX *ctx;
static char pattern[PERIOD + CHUNK];

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void) {
    fprintf(stderr, "usage: tls_loadgen rr ADDR [-c CONNS] [-s BYTES] [-d SECONDS]\n"
                    "       tls_loadgen bulk ADDR [-m MEGABYTES] [-d SECONDS]\n"
                    "       tls_loadgen handshake ADDR [-n COUNT] [-p INFLIGHT] [-d SECONDS]\n");
    exit(2);
}

static void conn_close(struct conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->events = 0;
    c->state = ST_DONE;
    ERR_clear_error();
}

static void conn_fail(struct conn *c, const char *what) {
    if (errors++ < 5) {
        fprintf(stderr, "tls_loadgen: %s (%s)\n", what, strerror(errno));
        ERR_print_errors_fp(stderr);
    }
    conn_close(c);
}

static void conn_watch(struct conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl");
        return;
    }
    c->events = events;
}

static void conn_open(struct conn *c) {
    int one = 1;
    memset(c, 0, offsetof(struct conn, tx));
    c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "socket");
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect");
        return;
    }
    c->state = ST_CONNECTING;
    conn_watch(c, EPOLLOUT);
}

/* What an SSL call that returned r <= 0 wants: the events, or 0 (failed). */
static uint32_t ssl_wants(struct conn *c, int r, const char *what) {
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return EPOLLIN;
    if (e == SSL_ERROR_WANT_WRITE) return EPOLLOUT;
    conn_fail(c, what);
    return 0;
}

/* ---- the modes: what a running conn does when it may ---- */

static uint64_t done_count; /* requests (rr), bytes echoed (bulk), handshakes */

static void rr_next(struct conn *c) {
    memset(c->tx, 'a' + (int)(c->seq % 26), (size_t)opt.size);
    memcpy(c->tx, &c->seq, opt.size < 8 ? (size_t)opt.size : 8);
    c->sent = c->recvd = 0;
}

static void rr_run(struct conn *c) {
    for (;;) {
        if (c->sent < (size_t)opt.size) {
            int n = SSL_write(c->ssl, c->tx, (int)opt.size);
            if (n <= 0) {
                uint32_t w = ssl_wants(c, n, "write");
                if (w) conn_watch(c, w);
                return;
            }
            c->sent = (size_t)n;
        }
        int n = SSL_read(c->ssl, c->rx + c->recvd, (int)((size_t)opt.size - c->recvd));
        if (n <= 0) {
            uint32_t w = ssl_wants(c, n, "read");
            if (w) conn_watch(c, w);
            return;
        }
        c->recvd += (size_t)n;
        if (c->recvd < (size_t)opt.size) continue;
        if (memcmp(c->rx, c->tx, (size_t)opt.size) != 0) {
            errno = 0;
            conn_fail(c, "echo mismatch");
            return;
        }
        done_count++;
        c->seq++;
        rr_next(c);
    }
}

static void bulk_run(struct conn *c) {
    size_t total = (size_t)opt.megabytes * 1024 * 1024;
    uint32_t want = 0;
    int progress = 1;
    while (progress) {
        progress = 0;
        want = 0;
        if (c->sent < total) {
            size_t len = total - c->sent < CHUNK ? total - c->sent : CHUNK;
            int n = SSL_write(c->ssl, pattern + c->sent % PERIOD, (int)len);
            if (n > 0) {
                c->sent += (size_t)n;
                progress = 1;
            } else if (!(want |= ssl_wants(c, n, "write"))) {
                return;
            }
        }
        int n = SSL_read(c->ssl, c->rx, CHUNK);
        if (n > 0) {
            if (memcmp(c->rx, pattern + c->recvd % PERIOD, (size_t)n) != 0) {
                errno = 0;
                conn_fail(c, "echo mismatch");
                return;
            }
            c->recvd += (size_t)n;
            done_count += (uint64_t)n;
            progress = 1;
            if (c->recvd == total) {
                conn_close(c);
                return;
            }
        } else if (!(want |= ssl_wants(c, n, "read"))) {
            return;
        }
    }
    conn_watch(c, want ? want : EPOLLIN);
}

static void handshake_run(struct conn *c) {
    if (c->sent == 0) {
        int n = SSL_write(c->ssl, "x", 1);
        if (n <= 0) {
            uint32_t w = ssl_wants(c, n, "write");
            if (w) conn_watch(c, w);
            return;
        }
        c->sent = 1;
    }
    char b;
    int n = SSL_read(c->ssl, &b, 1);
    if (n <= 0) {
        uint32_t w = ssl_wants(c, n, "read");
        if (w) conn_watch(c, w);
        return;
    }
    if (b != 'x') {
        errno = 0;
        conn_fail(c, "echo mismatch");
        return;
    }
    done_count++;
    if (opt.mode == MODE_IDLE) {
        c->state = ST_HELD;
        conn_watch(c, EPOLLIN); /* the server closing it is an error */
        return;
    }
    conn_close(c);
}

static void conn_run(struct conn *c) {
    if (opt.mode == MODE_RR)
        rr_run(c);
    else if (opt.mode == MODE_BULK)
        bulk_run(c);
    else
        handshake_run(c);
}

/* Moves c on as far as it goes now. */
static void drive(struct conn *c) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            errno = err;
            conn_fail(c, "connect");
            return;
        }
        c->ssl = SSL_new(ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
            conn_fail(c, "SSL_new");
            return;
        }
        SSL_set_connect_state(c->ssl);
        c->state = ST_HANDSHAKE;
    }
    if (c->state == ST_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            uint32_t w = ssl_wants(c, r, "handshake");
            if (w) conn_watch(c, w);
            return;
        }
        c->state = ST_RUNNING;
        if (opt.mode == MODE_RR) rr_next(c);
        /* rr and bulk wait for every conn to be up before the clock starts */
        if (opt.mode != MODE_HANDSHAKE && opt.mode != MODE_IDLE) {
            conn_watch(c, EPOLLIN);
            return;
        }
    }
    if (c->state == ST_RUNNING) conn_run(c);
    if (c->state == ST_HELD) {
        char b;
        int n = SSL_read(c->ssl, &b, 1);
        if (n > 0 || SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) {
            errno = 0;
            conn_fail(c, "server ended a held conn");
        }
    }
}

static int poll_once(double deadline) {
    struct epoll_event evs[MAX_EVENTS];
    double left = deadline - now_sec();
    if (left <= 0) return -1;
    int n = epoll_wait(epfd, evs, MAX_EVENTS, (int)(left * 1000 + 1));
    if (n < 0 && errno != EINTR) {
        perror("tls_loadgen: epoll_wait");
        exit(1);
    }
    for (int i = 0; i < n; i++)
        drive(evs[i].data.ptr);
    return n;
}

static void parse(int argc, char **argv) {
    if (argc < 3) usage();
    if (strcmp(argv[1], "rr") == 0)
        opt.mode = MODE_RR;
    else if (strcmp(argv[1], "bulk") == 0)
        opt.mode = MODE_BULK, opt.seconds = 60;
    else if (strcmp(argv[1], "handshake") == 0)
        opt.mode = MODE_HANDSHAKE, opt.seconds = 60;
    else if (strcmp(argv[1], "idle") == 0)
        opt.mode = MODE_IDLE, opt.seconds = 60;
    else
        usage();
    struct addrinfo *res;
    if (bench_resolve("tls_loadgen", argv[2], SOCK_STREAM, 0, &res) < 0) usage();
    memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
    opt.addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    for (int i = 3; i + 1 < argc; i += 2) {
        double v = atof(argv[i + 1]);
        if (strcmp(argv[i], "-c") == 0)
            opt.conns = (long)v;
        else if (strcmp(argv[i], "-s") == 0)
            opt.size = (long)v;
        else if (strcmp(argv[i], "-m") == 0)
            opt.megabytes = (long)v;
        else if (strcmp(argv[i], "-n") == 0)
            opt.count = (long)v;
        else if (strcmp(argv[i], "-p") == 0)
            opt.inflight = (long)v;
        else if (strcmp(argv[i], "-d") == 0)
            opt.seconds = v;
        else
            usage();
    }
    if (opt.conns < 1 || opt.size < 1 || opt.size > CHUNK || opt.megabytes < 1 || opt.count < 1 ||
        opt.inflight < 1 || opt.seconds <= 0)
        usage();
}

int main(int argc, char **argv) {
    parse(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (char)(i % PERIOD * 7 + 13);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    epfd = epoll_create1(EPOLL_CLOEXEC);

    long n = opt.mode == MODE_RR ? opt.conns : opt.mode == MODE_BULK ? 1 : opt.inflight;
    if (opt.mode == MODE_IDLE) n = opt.count; /* each held in a slot of its own */
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) return 1;
    double start, give_up;

    if (opt.mode == MODE_HANDSHAKE || opt.mode == MODE_IDLE) {
        long started = 0, limit = opt.mode == MODE_IDLE ? opt.inflight : n;
        start = now_sec();
        give_up = start + opt.seconds;
        for (long i = 0; i < limit && started < opt.count; i++, started++)
            conn_open(&cs[i]);
        while ((long)done_count + errors < opt.count && poll_once(give_up) >= 0) {
            /* Keep `inflight` conns in the making: a finished one frees a
             * slot (handshake), or is held while the next starts (idle). */
            long making = 0;
            for (long i = 0; i < n && i < started; i++)
                making += cs[i].state != ST_DONE && cs[i].state != ST_HELD;
            for (long i = 0; i < n && making < opt.inflight && started < opt.count; i++)
                if (opt.mode == MODE_IDLE ? i == started : cs[i].state == ST_DONE) {
                    conn_open(&cs[i]);
                    started++;
                    making++;
                }
        }
        if (opt.mode == MODE_IDLE) {
            char b;
            printf("idle %llu held\n", (unsigned long long)done_count);
            fflush(stdout);
            /* Held until stdin closes (the runner's signal) or -d runs out. */
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
            epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
            while (now_sec() < give_up) {
                struct epoll_event evs[MAX_EVENTS];
                int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
                int eof = 0;
                for (int i = 0; i < k; i++) {
                    if (evs[i].data.ptr == NULL)
                        eof = read(0, &b, 1) <= 0;
                    else
                        drive(evs[i].data.ptr);
                }
                if (eof) break;
            }
        }
    } else {
        /* Every conn up first: only the traffic is timed. */
        double setup = now_sec() + 10;
        for (long i = 0; i < n; i++)
            conn_open(&cs[i]);
        for (;;) {
            long up = 0, dead = 0;
            for (long i = 0; i < n; i++) {
                up += cs[i].state == ST_RUNNING;
                dead += cs[i].state == ST_DONE;
            }
            if (up + dead == n || poll_once(setup) < 0) break;
        }
        start = now_sec();
        give_up = start + opt.seconds;
        for (long i = 0; i < n; i++)
            if (cs[i].state == ST_RUNNING) conn_run(&cs[i]);
        for (;;) {
            long live = 0;
            for (long i = 0; i < n; i++)
                live += cs[i].state != ST_DONE;
            if (live == 0 || poll_once(give_up) < 0) break;
        }
    }
    double elapsed = now_sec() - start;
    for (long i = 0; i < n; i++)
        conn_close(&cs[i]);

    if (opt.mode == MODE_RR)
        printf("mode rr\nconns %ld\nsize %ld\nrequests %llu\nseconds %.3f\nrps %.1f\n", opt.conns,
               opt.size, (unsigned long long)done_count, elapsed, (double)done_count / elapsed);
    else if (opt.mode == MODE_BULK)
        printf("mode bulk\nbytes %llu\nseconds %.3f\nmbps %.1f\n", (unsigned long long)done_count,
               elapsed, (double)done_count / MIB / elapsed);
    else if (opt.mode == MODE_IDLE)
        printf("mode idle\nheld %llu\n", (unsigned long long)done_count);
    else
        printf("mode handshake\nhandshakes %llu\nseconds %.3f\nhps %.1f\n",
               (unsigned long long)done_count, elapsed, (double)done_count / elapsed);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("errors %ld\ncpu_seconds %.3f\n", errors,
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    int incomplete = opt.mode == MODE_BULK && done_count < (uint64_t)opt.megabytes * 1024 * 1024;
    incomplete |= opt.mode != MODE_RR && opt.mode != MODE_BULK && (long)done_count < opt.count;
    return errors || incomplete ? 1 : 0;
}
