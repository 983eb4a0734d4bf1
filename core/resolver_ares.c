#include <arpa/inet.h>
#include <ares.h>
#include <ares_dns.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "op.h"
#include "resolver_ares.h"

/* Idle channels a resolver keeps for reuse: the most lookups it expects at once. */
#define IDLE_MAX 128

struct lnet_ares {
    struct lnet_loop *loop;
    ares_channel tmpl; /* configured once; every lookup's channel is its copy */
    struct ares_options opts;
    int optmask;
    struct ares_addr_port_node *servers;
    struct lnet_ares_lookup *idle; /* finished lookups whose channel is reusable */
    int nidle;
};

struct rr {
    char *text;
    size_t len;
    int num[3];
};

struct answer {
    int status;
    int count;
    struct rr *rr;
    char *cname;
};

struct sock {
    ev_io io;
    struct lnet_ares_lookup *l;
    struct sock *next;
};

struct lnet_ares_lookup {
    struct lnet_handle handle; /* linked while in flight */
    struct lnet_ares *r;
    ares_channel ch;
    struct lnet_op *op;
    ev_timer timer;
    struct sock *socks;
    int pending; /* queries not yet answered */
    int nq;
    int qtype[2];
    struct answer ans[2];
    int last_fd; /* the socket heard from (or opened) last: the server to name */
    char server[80];
    struct lnet_ares_lookup *next_idle;
};

static int code(int status) {
    return status == ARES_SUCCESS ? 0 : -(LNET_ARES_EBASE + status);
}

static void library_init(void) {
    static int done;
    if (!done) done = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS;
}

static void format_servers(const struct ares_addr_port_node *n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (; n != NULL && used + 56 < size; n = n->next) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(n->family, &n->addr, ip, sizeof ip);
        used += (size_t)snprintf(buf + used, size - used,
                                 n->family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d",
                                 used > 0 ? "," : "", ip, n->udp_port ? n->udp_port : 53);
    }
}

struct lnet_ares *lnet_ares_new(struct lnet_loop *loop, const char *servers_csv, int timeout_ms,
                                int attempts, int *err) {
    struct ares_options o;
    int mask = 0, rc;
    struct lnet_ares *r = calloc(1, sizeof *r);
    library_init();
    if (r == NULL) {
        *err = code(ARES_ENOMEM);
        return NULL;
    }
    r->loop = loop;
    memset(&o, 0, sizeof o);
    /*
     * Special problem of c-ares 1.18's SERVFAIL: when it moves on from a
     * server that answered SERVFAIL or REFUSED, it forgets the rcode and the
     * query ends as ARES_ECONNREFUSED. NOCHECKRESP hands that first answer
     * to ares_query, which reports its rcode (ARES_ESERVFAIL...), as Go does
     * when no other server answers better.
     */
    o.flags = ARES_FLAG_NOCHECKRESP;
    mask |= ARES_OPT_FLAGS;
    if (timeout_ms > 0) {
        o.timeout = timeout_ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (attempts > 0) {
        o.tries = attempts;
        mask |= ARES_OPT_TRIES;
    }
    rc = ares_init_options(&r->tmpl, &o, mask);
    if (rc == ARES_SUCCESS && servers_csv != NULL)
        rc = ares_set_servers_ports_csv(r->tmpl, servers_csv);
    if (rc == ARES_SUCCESS) rc = ares_save_options(r->tmpl, &r->opts, &r->optmask);
    if (rc == ARES_SUCCESS) rc = ares_get_servers_ports(r->tmpl, &r->servers);
    if (rc != ARES_SUCCESS) {
        *err = code(rc);
        if (r->tmpl != NULL) ares_destroy(r->tmpl);
        free(r);
        return NULL;
    }
    /* The socket-state callback is per channel (its data is the lookup),
     * so each lookup's channel is made from these options, not ares_dup. */
    r->optmask |= ARES_OPT_SOCK_STATE_CB;
    return r;
}

static void answer_clear(struct answer *a) {
    for (int j = 0; j < a->count; j++)
        free(a->rr[j].text);
    free(a->rr);
    free(a->cname);
    memset(a, 0, sizeof *a);
}

static void lookup_destroy(struct lnet_ares_lookup *l) {
    /* ares_destroy ends the queries (our callback sees no op) and, through
     * the socket-state callback, drops every watcher before its fd closes. */
    l->op = NULL;
    if (l->ch != NULL) ares_destroy(l->ch);
    ev_timer_stop(l->r->loop->ev, &l->timer);
    for (int i = 0; i < 2; i++)
        answer_clear(&l->ans[i]);
    free(l);
}

void lnet_ares_free(struct lnet_ares *r) {
    if (r == NULL) return;
    while (r->idle != NULL) {
        struct lnet_ares_lookup *l = r->idle;
        r->idle = l->next_idle;
        lookup_destroy(l);
    }
    ares_free_data(r->servers);
    ares_destroy_options(&r->opts);
    ares_destroy(r->tmpl);
    free(r);
}

int lnet_ares_ndots(const struct lnet_ares *r) {
    return r->opts.ndots;
}

int lnet_ares_ndomains(const struct lnet_ares *r) {
    return r->opts.ndomains;
}

const char *lnet_ares_domain(const struct lnet_ares *r, int i) {
    return i >= 0 && i < r->opts.ndomains ? r->opts.domains[i] : NULL;
}

int lnet_ares_servers(const struct lnet_ares *r, char *buf, size_t size) {
    format_servers(r->servers, buf, size);
    return (int)strlen(buf);
}

/* The loop side ------------------------------------------------------------ */

static void rearm(struct lnet_ares_lookup *l) {
    struct timeval tv, *t;
    struct ev_loop *ev = l->r->loop->ev;
    ev_timer_stop(ev, &l->timer);
    if (l->pending == 0) return;
    t = ares_timeout(l->ch, NULL, &tv);
    if (t == NULL) return;
    ev_timer_set(&l->timer, (double)t->tv_sec + (double)t->tv_usec * 1e-6, 0.);
    ev_timer_start(ev, &l->timer);
}

static void io_cb(struct ev_loop *ev, ev_io *w, int revents) {
    struct sock *s = LNET_CONTAINER_OF(w, struct sock, io);
    struct lnet_ares_lookup *l = s->l;
    int fd = w->fd;
    (void)ev;
    if (revents & EV_READ) l->last_fd = fd;
    /* s may be freed inside (c-ares closes the socket): use only l after. */
    ares_process_fd(l->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    rearm(l);
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents) {
    struct lnet_ares_lookup *l = LNET_CONTAINER_OF(w, struct lnet_ares_lookup, timer);
    (void)ev;
    (void)revents;
    ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(l);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
    struct lnet_ares_lookup *l = data;
    struct ev_loop *ev = l->r->loop->ev;
    struct sock **link = &l->socks, *s;
    while (*link != NULL && (*link)->io.fd != fd)
        link = &(*link)->next;
    s = *link;
    if (!readable && !writable) {
        if (s == NULL) return;
        ev_io_stop(ev, &s->io);
        *link = s->next;
        free(s);
        return;
    }
    if (s == NULL) {
        if ((s = calloc(1, sizeof *s)) == NULL) return; /* the query times out */
        s->l = l;
        s->next = l->socks;
        l->socks = s;
        l->last_fd = fd; /* a socket opens to the server asked next */
        ev_init(&s->io, io_cb);
    }
    ev_io_stop(ev, &s->io);
    ev_io_set(&s->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(ev, &s->io);
}

/* Answers ------------------------------------------------------------------- */

static struct rr *add_rr(struct answer *a, const void *text, size_t len) {
    struct rr *grown = realloc(a->rr, (size_t)(a->count + 1) * sizeof *grown), *x;
    if (grown == NULL) return NULL;
    a->rr = grown;
    x = &a->rr[a->count];
    memset(x, 0, sizeof *x);
    if ((x->text = malloc(len + 1)) == NULL) return NULL;
    memcpy(x->text, text, len);
    x->text[len] = '\0';
    x->len = len;
    a->count++;
    return x;
}

static int set_cname(struct answer *a, const char *name) {
    return name == NULL || (a->cname = strdup(name)) != NULL ? ARES_SUCCESS : ARES_ENOMEM;
}

/*
 * The owner of the first answer record of qtype: the end of the CNAME chain
 * for A and AAAA (Go's canonical name), the SRV records' name. c-ares's
 * parsers do not give it (ares_parse_a_reply's h_name stops one link short
 * of a longer chain). NULL when there is none or the message is cut short.
 */
static char *answer_owner(const unsigned char *abuf, int alen, int qtype) {
    const unsigned char *p = abuf + 12, *end = abuf + alen;
    char *name = NULL;
    long len;
    if (alen < 12) return NULL;
    for (int q = DNS_HEADER_QDCOUNT(abuf); q > 0; q--) {
        if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS) return NULL;
        ares_free_string(name);
        p += len + 4;
        if (p > end) return NULL;
    }
    for (int n = DNS_HEADER_ANCOUNT(abuf); n > 0; n--) {
        if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS) return NULL;
        p += len;
        if (p + 10 > end) break;
        if (DNS_RR_TYPE(p) == qtype) return name;
        ares_free_string(name);
        name = NULL;
        p += 10 + DNS_RR_LEN(p);
    }
    ares_free_string(name);
    return NULL;
}

static int set_owner(struct answer *a, int qtype, const unsigned char *abuf, int alen) {
    char *owner = answer_owner(abuf, alen, qtype);
    int rc = set_cname(a, owner);
    ares_free_string(owner);
    return rc;
}

static int parse_host(struct answer *a, int qtype, const unsigned char *abuf, int alen) {
    struct hostent *h = NULL;
    unsigned char dummy[16] = {0};
    int rc;
    switch (qtype) {
    case LNET_DNS_A:
        rc = ares_parse_a_reply(abuf, alen, &h, NULL, NULL);
        break;
    case LNET_DNS_AAAA:
        rc = ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);
        break;
    case LNET_DNS_NS:
        rc = ares_parse_ns_reply(abuf, alen, &h);
        break;
    default:
        rc = ares_parse_ptr_reply(abuf, alen, dummy, 16, AF_INET6, &h);
        break;
    }
    if (rc != ARES_SUCCESS) return rc;
    if (qtype == LNET_DNS_A || qtype == LNET_DNS_AAAA) {
        rc = set_owner(a, qtype, abuf, alen);
        for (char **p = h->h_addr_list; rc == ARES_SUCCESS && *p != NULL; p++)
            if (add_rr(a, *p, (size_t)h->h_length) == NULL) rc = ARES_ENOMEM;
    } else {
        /* NS and PTR names are the aliases (h_name is the owner, or a
         * repeat of the last PTR name). */
        for (char **p = h->h_aliases; rc == ARES_SUCCESS && *p != NULL; p++)
            if (add_rr(a, *p, strlen(*p)) == NULL) rc = ARES_ENOMEM;
    }
    ares_free_hostent(h);
    return rc;
}

static int parse_mx(struct answer *a, const unsigned char *abuf, int alen) {
    struct ares_mx_reply *mx = NULL;
    int rc = ares_parse_mx_reply(abuf, alen, &mx);
    for (struct ares_mx_reply *m = mx; rc == ARES_SUCCESS && m != NULL; m = m->next) {
        struct rr *x = add_rr(a, m->host, strlen(m->host));
        if (x == NULL)
            rc = ARES_ENOMEM;
        else
            x->num[0] = m->priority;
    }
    ares_free_data(mx);
    return rc;
}

static int parse_srv(struct answer *a, const unsigned char *abuf, int alen) {
    struct ares_srv_reply *srv = NULL;
    int rc = ares_parse_srv_reply(abuf, alen, &srv);
    for (struct ares_srv_reply *s = srv; rc == ARES_SUCCESS && s != NULL; s = s->next) {
        struct rr *x = add_rr(a, s->host, strlen(s->host));
        if (x == NULL) {
            rc = ARES_ENOMEM;
        } else {
            x->num[0] = s->priority;
            x->num[1] = s->weight;
            x->num[2] = s->port;
        }
    }
    ares_free_data(srv);
    return rc;
}

/* Go joins the character-strings of one TXT record into one string. */
static int parse_txt(struct answer *a, const unsigned char *abuf, int alen) {
    struct ares_txt_ext *txt = NULL;
    int rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
    for (struct ares_txt_ext *t = txt; rc == ARES_SUCCESS && t != NULL; t = t->next) {
        struct rr *x = a->count > 0 ? &a->rr[a->count - 1] : NULL;
        if (t->record_start || x == NULL) {
            if (add_rr(a, t->txt, t->length) == NULL) rc = ARES_ENOMEM;
            continue;
        }
        char *joined = realloc(x->text, x->len + t->length + 1);
        if (joined == NULL) {
            rc = ARES_ENOMEM;
            continue;
        }
        memcpy(joined + x->len, t->txt, t->length);
        x->len += t->length;
        joined[x->len] = '\0';
        x->text = joined;
    }
    ares_free_data(txt);
    return rc;
}

static int parse_answer(struct answer *a, int qtype, const unsigned char *abuf, int alen) {
    switch (qtype) {
    case LNET_DNS_MX:
        return parse_mx(a, abuf, alen);
    case LNET_DNS_SRV: {
        int rc = parse_srv(a, abuf, alen);
        return rc == ARES_SUCCESS ? set_owner(a, qtype, abuf, alen) : rc;
    }
    case LNET_DNS_TXT:
        return parse_txt(a, abuf, alen);
    default:
        return parse_host(a, qtype, abuf, alen);
    }
}

/*
 * Special problem of naming the server: c-ares does not say which one
 * answered. The socket last heard from (or opened) is connected to it, but
 * only while it is still one of ours: a closed fd's number may be anyone's.
 * Otherwise the first server is named.
 */
static void note_server(struct lnet_ares_lookup *l) {
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    struct sock *s = l->socks;
    if (l->server[0] != '\0') return;
    while (s != NULL && s->io.fd != l->last_fd)
        s = s->next;
    if (s == NULL || getpeername(l->last_fd, (struct sockaddr *)&ss, &len) != 0) {
        struct ares_addr_port_node first;
        if (l->r->servers == NULL) return;
        first = *l->r->servers;
        first.next = NULL;
        format_servers(&first, l->server, sizeof l->server);
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(l->server, sizeof l->server, "%s:%d", ip, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(l->server, sizeof l->server, "[%s]:%d", ip, ntohs(in6->sin6_port));
    }
}

struct query_arg {
    struct lnet_ares_lookup *l;
    int i;
};

static void finish_one(struct lnet_ares_lookup *l) {
    if (--l->pending > 0) return;
    lnet_handle_unlink(&l->handle);
    if (l->op != NULL) lnet_op_wake(l->op);
}

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    struct lnet_ares_lookup *l = ((struct query_arg *)arg)[0].l;
    int i = ((struct query_arg *)arg)[0].i;
    struct answer *a = &l->ans[i];
    (void)timeouts;
    free(arg);
    if (status == ARES_EDESTRUCTION) return; /* cancelled: nobody is told */
    if (status == ARES_SUCCESS) {
        status = parse_answer(a, l->qtype[i], abuf, alen);
        if (status != ARES_SUCCESS) answer_clear(a);
    }
    a->status = code(status);
    if (status != ARES_SUCCESS) note_server(l);
    finish_one(l);
}

static void lookup_close(struct lnet_handle *h) {
    lookup_destroy(LNET_CONTAINER_OF(h, struct lnet_ares_lookup, handle));
}

static struct lnet_ares_lookup *lookup_new(struct lnet_ares *r) {
    struct lnet_ares_lookup *l = r->idle;
    struct ares_options o = r->opts;
    if (l != NULL) {
        r->idle = l->next_idle;
        r->nidle--;
        return l;
    }
    if ((l = calloc(1, sizeof *l)) == NULL) return NULL;
    l->r = r;
    ev_init(&l->timer, timer_cb);
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = l;
    if (ares_init_options(&l->ch, &o, r->optmask) != ARES_SUCCESS ||
        ares_set_servers_ports(l->ch, r->servers) != ARES_SUCCESS) {
        lookup_destroy(l);
        return NULL;
    }
    return l;
}

static void start_query(struct lnet_ares_lookup *l, const char *name, int i) {
    struct query_arg *arg = malloc(sizeof *arg);
    if (arg == NULL) {
        l->ans[i].status = code(ARES_ENOMEM);
        finish_one(l);
        return;
    }
    arg->l = l;
    arg->i = i;
    ares_query(l->ch, name, 1 /* class IN */, l->qtype[i], query_cb, arg);
}

struct lnet_ares_lookup *lnet_ares_lookup_start(struct lnet_ares *r, struct lnet_op *op,
                                                const char *name, int qtype, int qtype2) {
    struct lnet_ares_lookup *l = lookup_new(r);
    if (l == NULL) return NULL;
    l->op = NULL; /* nothing to wake while the queries are being sent */
    l->handle.close = lookup_close;
    lnet_handle_link(r->loop, &l->handle);
    l->nq = qtype2 != 0 ? 2 : 1;
    l->pending = l->nq + 1; /* held until both are sent: one may answer at once */
    l->qtype[0] = qtype;
    l->qtype[1] = qtype2;
    l->last_fd = -1;
    l->server[0] = '\0';
    for (int i = 0; i < l->nq; i++)
        start_query(l, name, i);
    finish_one(l);
    if (l->pending == 0) return l; /* done before parking: no yield, no wake */
    l->op = op;
    lnet_op_park(op);
    rearm(l);
    return l;
}

int lnet_ares_lookup_done(const struct lnet_ares_lookup *l) {
    return l->pending == 0;
}

void lnet_ares_lookup_cancel(struct lnet_ares_lookup *l) {
    lnet_handle_unlink(&l->handle);
    lookup_destroy(l);
}

void lnet_ares_lookup_free(struct lnet_ares_lookup *l) {
    struct lnet_ares *r = l->r;
    if (l->pending > 0 || l->socks != NULL || r->nidle >= IDLE_MAX) {
        lnet_ares_lookup_cancel(l);
        return;
    }
    for (int i = 0; i < 2; i++)
        answer_clear(&l->ans[i]);
    l->op = NULL;
    l->next_idle = r->idle;
    r->idle = l;
    r->nidle++;
}

int lnet_ares_lookup_status(const struct lnet_ares_lookup *l, int i) {
    return l->ans[i].status;
}

int lnet_ares_lookup_count(const struct lnet_ares_lookup *l, int i) {
    return l->ans[i].count;
}

const char *lnet_ares_lookup_text(const struct lnet_ares_lookup *l, int i, int j, size_t *len) {
    *len = l->ans[i].rr[j].len;
    return l->ans[i].rr[j].text;
}

int lnet_ares_lookup_num(const struct lnet_ares_lookup *l, int i, int j, int k) {
    return l->ans[i].rr[j].num[k];
}

const char *lnet_ares_lookup_cname(const struct lnet_ares_lookup *l, int i) {
    return l->ans[i].cname;
}

const char *lnet_ares_lookup_server(const struct lnet_ares_lookup *l) {
    return l->server;
}

const char *lnet_ares_version(void) {
    return ares_version(NULL);
}
