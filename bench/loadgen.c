/* loadgen: drives an echo server for bench/run.
 *
 *   loadgen rr      ADDR [-c 50] [-s 64] [-d 5]    request/response rate
 *   loadgen bulk    ADDR [-c 1] [-m 1024] [-d 60]  streaming throughput
 *   loadgen connect ADDR [-n 20000] [-p 50] [-d 60] connection rate
 *   loadgen idle    ADDR [-n 5000] [-p 50] [-hold 10] [-d 60]
 *                                                   hold parked connections
 *   loadgen udp     ADDR [-p 50] [-s 64] [-d 5]    UDP echo datagrams/s
 *
 * One thread, plain epoll, level-triggered; bench/run pins it to its own
 * core so the server's CPU time is the server's alone. Every echoed byte
 * is checked against what was sent. Results go to stdout as "key value"
 * lines for the runner to parse; diagnostics go to stderr. Exit status is
 * 0 on success, 1 if any connection failed or echoed wrong bytes, 2 on bad
 * usage. Every loop is bounded by a deadline or a count: -d is the run
 * time for rr and udp and the give-up time for the other modes. */

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

#include "net.h"

#define CHUNK      (64 * 1024)
#define MAX_EVENTS 256
#define MIB        (1024.0 * 1024.0)

/* The bulk byte stream repeats with a prime period, so a dropped,
 * duplicated or reordered chunk never lines up with the expected bytes. */
#define PATTERN_PERIOD 65521

enum mode { MODE_RR, MODE_BULK, MODE_CONNECT, MODE_IDLE, MODE_UDP };

/* Where a connection is in the connect/idle handshake. */
enum hs_state { HS_CONNECTING, HS_ECHOING, HS_HELD };

struct conn {
    int fd;
    uint32_t events; /* what epoll watches now; 0 = not registered */
    enum hs_state state;
    uint64_t seq;  /* rr: requests completed, stamped into the message */
    size_t sent;   /* rr: of this message; bulk: of the stream */
    size_t recvd;  /* likewise */
    size_t target; /* bulk: bytes this connection streams */
    char *tx, *rx; /* rr: this connection's message and its echo */
};

static struct {
    enum mode mode;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    long conns;     /* -c */
    long size;      /* -s */
    double seconds; /* -d */
    long megabytes; /* -m */
    long count;     /* -n */
    long inflight;  /* -p */
    double hold;    /* -hold */
} opt;

static int epfd;
static long errors;
static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask; /* signals open only while in epoll_pwait */
static char pattern[PATTERN_PERIOD + CHUNK];
static char rx_chunk[CHUNK];

/* Sentinel epoll payload for stdin, which ends an idle hold at EOF. */
static struct conn stdin_conn = {.fd = 0};

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen rr      ADDR [-c CONNS] [-s BYTES] [-d SECONDS]\n"
            "       loadgen bulk    ADDR [-c CONNS] [-m MEGABYTES] [-d SECONDS]\n"
            "       loadgen connect ADDR [-n COUNT] [-p INFLIGHT] [-d SECONDS]\n"
            "       loadgen idle    ADDR [-n COUNT] [-p INFLIGHT] [-hold SECONDS] [-d SECONDS]\n"
            "       loadgen udp     ADDR [-p INFLIGHT] [-s BYTES] [-d SECONDS]\n"
            "ADDR is host:port or [v6]:port.\n");
    exit(2);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Our own CPU time, so the runner can tell how much of the machine was
 * neither us nor the server: a measure of the noise in its figures. */
static void print_own_cpu(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("cpu_seconds %.3f\n", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Report the first few failures in full; after that only count them, so a
 * dead server cannot flood the runner's log. */
static void conn_fail(struct conn *c, const char *what, int err) {
    if (errors++ < 5) {
        if (err)
            fprintf(stderr, "loadgen: %s: %s\n", what, strerror(err));
        else
            fprintf(stderr, "loadgen: %s\n", what);
    }
    if (c->fd >= 0) close(c->fd); /* also drops it from the epoll set */
    c->fd = -1;
    c->events = 0;
}

static int conn_watch(struct conn *c, uint32_t events) {
    if (c->events == events) return 0;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    int op = c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl", errno);
        return -1;
    }
    c->events = events;
    return 0;
}

/* Start a nonblocking connect. Returns 0 when the socket is waiting for
 * EPOLLOUT, -1 (after conn_fail) otherwise. */
static int conn_open(struct conn *c) {
    c->events = 0;
    c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "socket", errno);
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect", errno);
        return -1;
    }
    c->state = HS_CONNECTING;
    return conn_watch(c, EPOLLOUT);
}

/* Wait for events until `deadline`; returns the count, 0 on timeout or
 * signal. SIGINT/SIGTERM are blocked except inside epoll_pwait, so one
 * arriving between our checks cannot be lost. */
static int wait_events(struct epoll_event *evs, double deadline) {
    double left = deadline - now_sec();
    if (left <= 0 || stop_requested) return 0;
    int ms = (int)(left * 1000.0 + 0.999); /* round up: never wake early */
    int n = epoll_pwait(epfd, evs, MAX_EVENTS, ms, &wait_mask);
    if (n < 0) {
        if (errno != EINTR) die("loadgen: epoll_pwait");
        return 0;
    }
    return n;
}

/* Open every connection and wait until each is established, so that rr
 * and bulk time only the traffic. Returns how many are up. */
static long connect_all(struct conn *cs, long n, double deadline) {
    long pending = 0, up = 0;
    struct epoll_event evs[MAX_EVENTS];

    for (long i = 0; i < n; i++)
        if (conn_open(&cs[i]) == 0) pending++;
    while (pending > 0 && now_sec() < deadline && !stop_requested) {
        int ready = wait_events(evs, deadline);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            int err = 0;
            socklen_t len = sizeof err;
            pending--;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
            if (err) {
                conn_fail(c, "connect", err);
                continue;
            }
            if (conn_watch(c, EPOLLIN) == 0) up++;
        }
    }
    if (pending > 0) fprintf(stderr, "loadgen: %ld connects timed out\n", pending);
    return up;
}

/* ---- rr: one message in flight per connection ---- */

static void rr_flush(struct conn *c) {
    size_t size = (size_t)opt.size;
    while (c->sent < size) {
        ssize_t n = send(c->fd, c->tx + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (!bench_would_block(errno)) {
                conn_fail(c, "send", errno);
                return;
            }
            conn_watch(c, EPOLLIN | EPOLLOUT);
            return;
        }
        c->sent += (size_t)n;
    }
    conn_watch(c, EPOLLIN);
}

static void rr_next(struct conn *c) {
    /* A fresh sequence number per request, so a stale or repeated echo
     * fails the compare instead of passing as this one's. */
    size_t stamp = opt.size < 8 ? (size_t)opt.size : 8;
    memcpy(c->tx, &c->seq, stamp);
    c->sent = 0;
    c->recvd = 0;
    rr_flush(c);
}

/* One recv into buf: the byte count, or 0 when there is nothing yet or the
 * conn failed (then marked failed: the server closed it, or recv erred). */
static size_t conn_recv(struct conn *c, char *buf, size_t len) {
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n == 0) {
        conn_fail(c, "server closed the connection", 0);
        return 0;
    }
    if (n < 0) {
        if (!bench_would_block(errno)) conn_fail(c, "recv", errno);
        return 0;
    }
    return (size_t)n;
}

/* Returns 1 when a full echo arrived and matched. */
static int rr_read(struct conn *c) {
    size_t size = (size_t)opt.size;
    size_t n = conn_recv(c, c->rx + c->recvd, size - c->recvd);
    if (n == 0) return 0;
    c->recvd += n;
    if (c->recvd < size) return 0;
    if (memcmp(c->rx, c->tx, size) != 0) {
        conn_fail(c, "echo mismatch", 0);
        return 0;
    }
    c->seq++;
    return 1;
}

static int run_rr(void) {
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    if (!cs) die("loadgen: calloc");
    for (long i = 0; i < opt.conns; i++) {
        cs[i].tx = malloc((size_t)opt.size);
        cs[i].rx = malloc((size_t)opt.size);
        if (!cs[i].tx || !cs[i].rx) die("loadgen: malloc");
        for (long j = 0; j < opt.size; j++)
            cs[i].tx[j] = (char)('a' + (i + j) % 26);
    }

    long live = connect_all(cs, opt.conns, now_sec() + 10.0);
    uint64_t requests = 0;
    double start = now_sec(), deadline = start + opt.seconds;
    struct epoll_event evs[MAX_EVENTS];

    for (long i = 0; i < opt.conns; i++)
        if (cs[i].fd >= 0) rr_next(&cs[i]);
    live = 0;
    for (long i = 0; i < opt.conns; i++)
        live += cs[i].fd >= 0;
    while (live > 0 && now_sec() < deadline && !stop_requested) {
        int ready = wait_events(evs, deadline);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) rr_flush(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && rr_read(c)) {
                requests++;
                rr_next(c);
            }
            if (c->fd < 0) live--;
        }
    }
    double elapsed = now_sec() - start;

    for (long i = 0; i < opt.conns; i++) {
        if (cs[i].fd >= 0) close(cs[i].fd);
        free(cs[i].tx);
        free(cs[i].rx);
    }
    free(cs);

    printf("mode rr\nconns %ld\nsize %ld\nrequests %llu\nseconds %.3f\nrps %.1f\nerrors %ld\n",
           opt.conns, opt.size, (unsigned long long)requests, elapsed, (double)requests / elapsed,
           errors);
    return errors ? 1 : 0;
}

/* ---- bulk: stream bytes out and read the echo back concurrently ---- */

static void bulk_write(struct conn *c) {
    size_t chunk = c->target - c->sent < CHUNK ? c->target - c->sent : CHUNK;
    ssize_t n = send(c->fd, pattern + c->sent % PATTERN_PERIOD, chunk, MSG_NOSIGNAL);
    if (n < 0) {
        if (!bench_would_block(errno)) conn_fail(c, "send", errno);
        return;
    }
    c->sent += (size_t)n;
    if (c->sent == c->target) conn_watch(c, EPOLLIN);
}

/* Returns 1 when the whole stream has come back intact. */
static int bulk_read(struct conn *c) {
    size_t want = c->target - c->recvd < CHUNK ? c->target - c->recvd : CHUNK;
    size_t n = conn_recv(c, rx_chunk, want);
    if (n == 0) return 0;
    if (memcmp(rx_chunk, pattern + c->recvd % PATTERN_PERIOD, n) != 0) {
        conn_fail(c, "echo mismatch", 0);
        return 0;
    }
    c->recvd += n;
    if (c->recvd < c->target) return 0;
    close(c->fd);
    c->fd = -1;
    return 1;
}

static int run_bulk(void) {
    uint32_t x = 2463534242u; /* xorshift32: cheap bytes that are not a run */
    for (size_t i = 0; i < PATTERN_PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern[i] = (char)x;
    }
    /* The tail repeats the head, so any chunk starting inside one period
     * can be sent or compared from a single contiguous span. */
    for (size_t i = PATTERN_PERIOD; i < sizeof pattern; i++)
        pattern[i] = pattern[i - PATTERN_PERIOD];

    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    if (!cs) die("loadgen: calloc");
    uint64_t total = (uint64_t)opt.megabytes * 1024 * 1024;
    for (long i = 0; i < opt.conns; i++)
        cs[i].target = total / (uint64_t)opt.conns + (i == 0 ? total % (uint64_t)opt.conns : 0);

    double deadline = now_sec() + opt.seconds;
    long live = connect_all(cs, opt.conns, deadline);
    double start = now_sec();
    struct epoll_event evs[MAX_EVENTS];

    for (long i = 0; i < opt.conns; i++)
        if (cs[i].fd >= 0) conn_watch(&cs[i], EPOLLIN | EPOLLOUT);
    live = 0;
    for (long i = 0; i < opt.conns; i++)
        live += cs[i].fd >= 0;
    while (live > 0 && now_sec() < deadline && !stop_requested) {
        int ready = wait_events(evs, deadline);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->sent < c->target) bulk_write(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) bulk_read(c);
            if (c->fd < 0) live--;
        }
    }
    double elapsed = now_sec() - start;

    uint64_t echoed = 0;
    for (long i = 0; i < opt.conns; i++) {
        echoed += cs[i].recvd;
        if (cs[i].fd >= 0) {
            conn_fail(&cs[i], "bulk stream unfinished", 0);
        }
    }
    free(cs);

    printf("mode bulk\nconns %ld\nbytes %llu\nseconds %.3f\nmbps %.1f\nerrors %ld\n", opt.conns,
           (unsigned long long)echoed, elapsed, (double)echoed / MIB / elapsed, errors);
    return errors ? 1 : 0;
}

/* ---- connect and idle: open, one 1-byte round trip, then close or hold ---- */

/* Advance one connection through connect -> send 1 byte -> read it back.
 * Returns 1 once the echo has arrived, 0 while pending, -1 on failure. */
static int handshake_step(struct conn *c, uint32_t events) {
    if (c->state == HS_CONNECTING) {
        /* If the connect failed, send reports why. */
        ssize_t n = send(c->fd, "x", 1, MSG_NOSIGNAL);
        if (n < 0 && bench_would_block(errno)) return 0;
        if (n != 1) {
            conn_fail(c, "connect/send", errno);
            return -1;
        }
        c->state = HS_ECHOING;
        return conn_watch(c, EPOLLIN);
    }
    if (c->state == HS_ECHOING && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        char byte;
        ssize_t n = recv(c->fd, &byte, 1, 0);
        if (n < 0 && bench_would_block(errno)) return 0;
        if (n != 1 || byte != 'x') {
            conn_fail(c, n == 0 ? "server closed the connection" : "echo recv", n < 0 ? errno : 0);
            return -1;
        }
        c->state = HS_HELD;
        return 1;
    }
    return 0;
}

static int run_connect(void) {
    struct conn *slots = calloc((size_t)opt.inflight, sizeof *slots);
    struct conn **free_slots = calloc((size_t)opt.inflight, sizeof *free_slots);
    if (!slots || !free_slots) die("loadgen: calloc");
    long nfree = 0;
    for (long i = opt.inflight - 1; i >= 0; i--) {
        slots[i].fd = -1;
        free_slots[nfree++] = &slots[i];
    }

    long started = 0, finished = 0;
    double start = now_sec(), deadline = start + opt.seconds;
    struct epoll_event evs[MAX_EVENTS];

    while (finished + errors < opt.count && now_sec() < deadline && !stop_requested) {
        while (nfree > 0 && started < opt.count) {
            struct conn *c = free_slots[--nfree];
            started++;
            if (conn_open(c) < 0) free_slots[nfree++] = c;
        }
        int ready = wait_events(evs, deadline);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            int rc = handshake_step(c, evs[i].events);
            if (rc == 1) {
                close(c->fd);
                c->fd = -1;
                finished++;
            }
            if (rc != 0) free_slots[nfree++] = c;
        }
    }
    double elapsed = now_sec() - start;

    for (long i = 0; i < opt.inflight; i++)
        if (slots[i].fd >= 0) close(slots[i].fd);
    free(slots);
    free(free_slots);

    printf("mode connect\nconnects %ld\nseconds %.3f\ncps %.1f\nerrors %ld\n", finished, elapsed,
           (double)finished / elapsed, errors);
    return errors || finished < opt.count ? 1 : 0;
}

static int run_idle(void) {
    struct conn *cs = calloc((size_t)opt.count, sizeof *cs);
    if (!cs) die("loadgen: calloc");
    for (long i = 0; i < opt.count; i++)
        cs[i].fd = -1;

    long started = 0, inflight = 0, held = 0;
    double start = now_sec(), deadline = start + opt.seconds;
    struct epoll_event evs[MAX_EVENTS];

    /* Each connection makes one round trip before it counts as held, so
     * the server has accepted it and its reader is parked again. */
    while (held + errors < opt.count && now_sec() < deadline && !stop_requested) {
        while (inflight < opt.inflight && started < opt.count) {
            if (conn_open(&cs[started++]) == 0) inflight++;
        }
        int ready = wait_events(evs, deadline);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state == HS_HELD) {
                conn_fail(c, "server closed a held connection", 0);
                held--;
                continue;
            }
            int rc = handshake_step(c, evs[i].events);
            if (rc != 0) inflight--;
            if (rc == 1) held++;
        }
    }
    double setup = now_sec() - start;
    printf("idle %ld held\n", held);
    fflush(stdout);

    /* Hold until -hold passes, a signal arrives, or stdin reaches EOF.
     * epoll refuses regular files and /dev/null, so stdin is watched only
     * when it is a pipe or terminal the runner can close. */
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &stdin_conn};
    int watch_stdin = epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev) == 0;
    long dropped = 0;
    double hold_start = now_sec(), hold_end = hold_start + opt.hold;
    int stdin_open = 1;
    while (stdin_open && now_sec() < hold_end && !stop_requested) {
        int ready = wait_events(evs, hold_end);
        for (int i = 0; i < ready; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == &stdin_conn) {
                char buf[256];
                ssize_t n = read(0, buf, sizeof buf);
                if (n == 0 || (n < 0 && !bench_would_block(errno))) stdin_open = 0;
                continue;
            }
            if (c->fd >= 0) {
                conn_fail(c, "server closed a held connection", 0);
                dropped++;
            }
        }
    }
    double held_for = now_sec() - hold_start;
    if (watch_stdin) epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);

    for (long i = 0; i < opt.count; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    free(cs);

    printf("mode idle\nconns %ld\nconnect_seconds %.3f\nheld_seconds %.3f\ndropped %ld\n"
           "errors %ld\n",
           held, setup, held_for, dropped, errors);
    return errors || held < opt.count ? 1 : 0;
}

/* ---- udp: -p datagrams in flight over one connected socket ---- */

/* How many datagrams one sendmmsg or recvmmsg moves. The load generator
 * batches both ways so that it spends less per datagram than any server
 * it drives: the figure measured is the server's, not ours. */
#define UDP_BATCH 64

/* A window with no reply for this long is taken as lost and refilled. */
#define UDP_LOSS_TIMEOUT 0.2

static struct {
    char *tx, *rx; /* UDP_BATCH messages of opt.size (+1 for rx, to see oversize) */
    struct mmsghdr tmsg[UDP_BATCH], rmsg[UDP_BATCH];
    struct iovec tiov[UDP_BATCH], riov[UDP_BATCH];
    uint64_t next_seq;
    long inflight;
} u;

/* Sends until -p datagrams are in flight or the socket would block. */
static void udp_fill(struct conn *c) {
    size_t size = (size_t)opt.size, stamp = size < 8 ? size : 8;
    while (c->fd >= 0 && u.inflight < opt.inflight) {
        long room = opt.inflight - u.inflight;
        int n = room < UDP_BATCH ? (int)room : UDP_BATCH;
        for (int i = 0; i < n; i++) {
            uint64_t seq = u.next_seq + (uint64_t)i;
            memcpy(u.tx + (size_t)i * size, &seq, stamp);
        }
        int sent = sendmmsg(c->fd, u.tmsg, (unsigned)n, 0);
        if (sent < 0) {
            if (!bench_would_block(errno)) conn_fail(c, "sendmmsg", errno);
            break;
        }
        u.inflight += sent;
        u.next_seq += (uint64_t)sent;
        if (sent < n) break;
    }
}

/* Takes every reply waiting; returns how many were good echoes. */
static long udp_drain(struct conn *c) {
    size_t size = (size_t)opt.size, stamp = size < 8 ? size : 8;
    long good = 0;
    for (;;) {
        int n = recvmmsg(c->fd, u.rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (!bench_would_block(errno)) conn_fail(c, "recvmmsg", errno);
            return good;
        }
        for (int i = 0; i < n; i++) {
            const char *rx = u.rx + (size_t)i * (size + 1);
            uint64_t seq = 0;
            memcpy(&seq, rx, stamp);
            /* Every byte past the stamp is the pattern; the stamp names a
             * datagram we sent. */
            if (u.rmsg[i].msg_len != size || seq >= u.next_seq ||
                memcmp(rx + stamp, u.tx + stamp, size - stamp) != 0) {
                conn_fail(c, "echo mismatch", 0);
                return good;
            }
            good++;
        }
        u.inflight -= n;
        if (u.inflight < 0) u.inflight = 0;
        if (n < UDP_BATCH) return good;
    }
}

static int run_udp(void) {
    size_t size = (size_t)opt.size;
    u.tx = malloc(UDP_BATCH * size);
    u.rx = malloc(UDP_BATCH * (size + 1));
    if (!u.tx || !u.rx) die("loadgen: malloc");
    for (int i = 0; i < UDP_BATCH; i++) {
        for (size_t j = 0; j < size; j++)
            u.tx[(size_t)i * size + j] = (char)('a' + j % 26);
        u.tiov[i] = (struct iovec){.iov_base = u.tx + (size_t)i * size, .iov_len = size};
        u.riov[i] = (struct iovec){.iov_base = u.rx + (size_t)i * (size + 1), .iov_len = size + 1};
        u.tmsg[i].msg_hdr = (struct msghdr){.msg_iov = &u.tiov[i], .msg_iovlen = 1};
        u.rmsg[i].msg_hdr = (struct msghdr){.msg_iov = &u.riov[i], .msg_iovlen = 1};
    }

    struct conn c = {.fd =
                         socket(opt.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (c.fd < 0) die("loadgen: socket");
    /* Connected: only the server's datagrams reach us, and send needs no address. */
    if (connect(c.fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0) die("loadgen: connect");

    uint64_t datagrams = 0;
    long lost = 0;
    double start = now_sec(), deadline = start + opt.seconds, progress = start;
    struct epoll_event evs[MAX_EVENTS];

    /* The server must never wait on us: we poll without sleeping (this CPU
     * is ours alone), so the rate measured is the rate the server echoes at.
     * The zero-timeout epoll_pwait is also where SIGINT/SIGTERM get in. */
    if (conn_watch(&c, EPOLLIN) < 0) return 1;
    udp_fill(&c);
    while (c.fd >= 0 && !stop_requested) {
        int ready = epoll_pwait(epfd, evs, MAX_EVENTS, 0, &wait_mask);
        long good = 0;
        if (ready > 0) good = udp_drain(&c);
        datagrams += (uint64_t)good;
        double now = now_sec();
        if (now >= deadline) break;
        if (good > 0) {
            progress = now;
        } else if (now - progress >= UDP_LOSS_TIMEOUT && u.inflight > 0) {
            lost += u.inflight;
            u.inflight = 0;
            progress = now;
        }
        udp_fill(&c);
    }
    double elapsed = now_sec() - start;

    if (c.fd >= 0) close(c.fd);
    free(u.tx);
    free(u.rx);

    printf("mode udp\ninflight %ld\nsize %ld\ndatagrams %llu\nseconds %.3f\ndps %.1f\nlost %ld\n"
           "errors %ld\n",
           opt.inflight, opt.size, (unsigned long long)datagrams, elapsed,
           (double)datagrams / elapsed, lost, errors);
    return errors ? 1 : 0;
}

/* ---- setup ---- */

static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void parse_addr(const char *spec) {
    struct addrinfo *res;
    int rc = bench_resolve("loadgen", spec, SOCK_STREAM, 0, &res);
    if (rc == -1) usage();
    if (rc < 0) exit(2);
    memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
    opt.addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

static long parse_long(const char *s, long min, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) usage();
    return v;
}

static double parse_seconds(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 86400) usage();
    return v;
}

static void parse_args(int argc, char **argv) {
    if (argc < 3) usage();
    if (strcmp(argv[1], "rr") == 0)
        opt.mode = MODE_RR;
    else if (strcmp(argv[1], "bulk") == 0)
        opt.mode = MODE_BULK;
    else if (strcmp(argv[1], "connect") == 0)
        opt.mode = MODE_CONNECT;
    else if (strcmp(argv[1], "idle") == 0)
        opt.mode = MODE_IDLE;
    else if (strcmp(argv[1], "udp") == 0)
        opt.mode = MODE_UDP;
    else
        usage();
    parse_addr(argv[2]);

    /* Defaults depend on the mode; -1 marks "not given". */
    opt.conns = opt.size = opt.megabytes = opt.count = opt.inflight = -1;
    opt.seconds = opt.hold = -1;
    for (int i = 3; i < argc; i += 2) {
        const char *flag = argv[i], *val = argv[i + 1];
        if (!val) usage();
        if (strcmp(flag, "-c") == 0)
            opt.conns = parse_long(val, 1, 100000);
        else if (strcmp(flag, "-s") == 0)
            opt.size = parse_long(val, 1, 16L << 20);
        else if (strcmp(flag, "-d") == 0)
            opt.seconds = parse_seconds(val);
        else if (strcmp(flag, "-m") == 0)
            opt.megabytes = parse_long(val, 1, 1L << 30);
        else if (strcmp(flag, "-n") == 0)
            opt.count = parse_long(val, 1, 10000000);
        else if (strcmp(flag, "-p") == 0)
            opt.inflight = parse_long(val, 1, 100000);
        else if (strcmp(flag, "-hold") == 0 || strcmp(flag, "--hold") == 0)
            opt.hold = parse_seconds(val);
        else
            usage();
    }

    if (opt.conns < 0) opt.conns = opt.mode == MODE_RR ? 50 : 1;
    if (opt.size < 0) opt.size = 64;
    if (opt.seconds < 0) opt.seconds = opt.mode == MODE_RR || opt.mode == MODE_UDP ? 5 : 60;
    if (opt.megabytes < 0) opt.megabytes = 1024;
    if (opt.count < 0) opt.count = opt.mode == MODE_CONNECT ? 20000 : 5000;
    if (opt.inflight < 0) opt.inflight = 50;
    if (opt.hold < 0) opt.hold = 10;
    if (opt.seconds <= 0) usage();
    if (opt.mode == MODE_UDP && opt.size > 65507) usage(); /* one IPv4 datagram */
}

int main(int argc, char **argv) {
    parse_args(argc, argv);

    /* Idle mode holds thousands of sockets; take all the fds we may. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_set, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("loadgen: epoll_create1");

    int rc = 2;
    switch (opt.mode) {
    case MODE_RR:
        rc = run_rr();
        break;
    case MODE_BULK:
        rc = run_bulk();
        break;
    case MODE_CONNECT:
        rc = run_connect();
        break;
    case MODE_IDLE:
        rc = run_idle();
        break;
    case MODE_UDP:
        rc = run_udp();
        break;
    }
    print_own_cpu();
    return rc;
}
