/*
 * The "ares" resolver: c-ares driven by the loop. A struct lnet_ares is one
 * configuration (resolv.conf as c-ares reads it, or explicit servers, a
 * timeout and attempts); a struct lnet_ares_lookup is one lookup in flight:
 * one or two DNS queries (A and AAAA go together), or a reverse lookup.
 *
 * Each lookup runs on a c-ares channel of its own. c-ares 1.18 cannot cancel
 * one query of a channel (ares_cancel ends them all), so a channel per
 * lookup is what makes a cancel real: the lookup's channel is destroyed,
 * which ends its queries (ARES_EDESTRUCTION) and closes its sockets. Like
 * Go's resolver, every lookup then also sends from a fresh UDP socket (a
 * fresh source port). Finished lookups keep their channel, which holds no
 * socket once its queries are over (c-ares closes them without STAYOPEN),
 * on a small idle list for the next lookup, so the channel set-up is paid
 * once per concurrent lookup, not once per lookup.
 *
 * Ownership: a lookup owns its channel, its ev_io watchers (one per socket
 * c-ares opens, made and dropped by c-ares's socket-state callback, which
 * c-ares calls before it closes the fd) and its one ev_timer (ares_timeout).
 * A lookup in flight is an lnet_handle on the loop, so teardown cancels it.
 * It is released once: lnet_ares_lookup_free after it is done, or
 * lnet_ares_lookup_cancel at any time, or by teardown.
 *
 * Completion wakes the lookup's op exactly once (lnet_op_wake); a lookup that
 * completes within lnet_ares_lookup_start (c-ares may answer "even before the
 * return of the function call", a bad name for one) is done on return and
 * parks nothing.
 */
#ifndef LNET_RESOLVER_ARES_H
#define LNET_RESOLVER_ARES_H

#include <stddef.h>

#include "errors.h"

struct lnet_loop;
struct lnet_op;
struct lnet_ares;
struct lnet_ares_lookup;

/* c-ares's status codes live above lnet's own, so no errno collides. */
#define LNET_ARES_EBASE (LNET_EBASE + 200)

/* Query types a lookup may ask (RFC 1035 numbers); PTR goes by address. */
enum {
    LNET_DNS_A = 1,
    LNET_DNS_NS = 2,
    LNET_DNS_CNAME = 5,
    LNET_DNS_PTR = 12,
    LNET_DNS_MX = 15,
    LNET_DNS_TXT = 16,
    LNET_DNS_AAAA = 28,
    LNET_DNS_SRV = 33,
};

/*
 * A resolver: servers_csv is NULL for resolv.conf's, or c-ares's CSV form
 * ("127.0.0.1:5353,[::1]:53"); timeout_ms and attempts <= 0 keep
 * resolv.conf's (or c-ares's defaults). NULL, with *err the negative c-ares
 * status, when c-ares cannot be set up or a server does not parse.
 */
struct lnet_ares *lnet_ares_new(struct lnet_loop *loop, const char *servers_csv, int timeout_ms,
                                int attempts, int *err);
/* Frees the idle channels and the template; no lookup may be in flight. */
void lnet_ares_free(struct lnet_ares *r);

/* The configuration c-ares read: ndots, the search list, the servers. */
int lnet_ares_ndots(const struct lnet_ares *r);
int lnet_ares_ndomains(const struct lnet_ares *r);
const char *lnet_ares_domain(const struct lnet_ares *r, int i);
/* The servers as "ip:port" text, comma-separated, into buf; its length. */
int lnet_ares_servers(const struct lnet_ares *r, char *buf, size_t size);

/*
 * Starts a lookup of the absolute name (no search list is applied: the
 * caller walks it, as Go does) for qtype, and for qtype2 too unless it is 0;
 * for LNET_DNS_PTR, name is the reverse (arpa) name. Returns the lookup,
 * done already or with op parked; NULL on ENOMEM.
 */
struct lnet_ares_lookup *lnet_ares_lookup_start(struct lnet_ares *r, struct lnet_op *op,
                                                const char *name, int qtype, int qtype2);
int lnet_ares_lookup_done(const struct lnet_ares_lookup *l);
/* Ends the lookup now, whatever its state: its queries are destroyed. */
void lnet_ares_lookup_cancel(struct lnet_ares_lookup *l);
/* Releases a done lookup (its results with it). */
void lnet_ares_lookup_free(struct lnet_ares_lookup *l);

/*
 * The results of query i (0 or 1): its status (0, or a negative
 * LNET_ARES_EBASE + ARES_* code), its record count, and each record's text
 * (a name, TXT's joined strings, or an address's 4 or 16 bytes) and numbers
 * (MX: pref; SRV: priority, weight, port). cname is the name the answer's
 * records belong to (the end of its CNAME chain), or NULL.
 */
int lnet_ares_lookup_status(const struct lnet_ares_lookup *l, int i);
int lnet_ares_lookup_count(const struct lnet_ares_lookup *l, int i);
const char *lnet_ares_lookup_text(const struct lnet_ares_lookup *l, int i, int j, size_t *len);
int lnet_ares_lookup_num(const struct lnet_ares_lookup *l, int i, int j, int k);
const char *lnet_ares_lookup_cname(const struct lnet_ares_lookup *l, int i);
/* The server that answered last (or was asked last), "ip:port", or "". */
const char *lnet_ares_lookup_server(const struct lnet_ares_lookup *l);

/* What ares_version reports, for the README's claims and the trace. */
const char *lnet_ares_version(void);

#endif
