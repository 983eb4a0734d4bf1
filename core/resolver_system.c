#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <string.h>

#include "resolver_system.h"

static int eai_code(int eai) {
    switch (eai) {
    case EAI_NONAME:
    case EAI_NODATA:
        return -LNET_EAI_NONAME;
    case EAI_AGAIN:
        return -LNET_EAI_AGAIN;
    case EAI_SYSTEM:
        return -errno;
    case EAI_MEMORY:
        return -ENOMEM;
    default:
        return -LNET_EAI_FAIL;
    }
}

/*
 * Callers parse IP literals the strict way (lnet.ip, as Go's netip) and send
 * any other string here as a name. getaddrinfo would still read inet_aton's
 * shorthand ("127.1", "0x7f000001", "1.2.3") as an address; to Go those are
 * names that no resolver knows.
 */
static bool is_numeric_shorthand(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    return inet_aton(host, &a4) != 0 || inet_pton(AF_INET6, host, &a6) == 1;
}

int lnet_resolve_blocking(const char *host, int family, struct lnet_sockaddr *out, int max) {
    struct addrinfo hints, *res, *ai;
    int n = 0, rc;
    if (is_numeric_shorthand(host)) return -LNET_EAI_NONAME;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM; /* one entry per address, not per socket type */
    if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) return eai_code(rc);
    for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof out[n].u) continue;
        memcpy(&out[n].u, ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    return n;
}
