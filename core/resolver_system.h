/*
 * The system resolver: getaddrinfo(3), so nsswitch and /etc/hosts apply.
 * This first form blocks the loop for the call; it serves names such as
 * "localhost" until the threaded and c-ares resolvers exist.
 */
#ifndef LNET_RESOLVER_SYSTEM_H
#define LNET_RESOLVER_SYSTEM_H

#include "addr.h"

/*
 * Up to max addresses of host (family AF_INET, AF_INET6 or AF_UNSPEC) into
 * out, in the order getaddrinfo gives them; returns how many, or a negative
 * code.
 */
int lnet_resolve_blocking(const char *host, int family, struct lnet_sockaddr *out, int max);

#endif
