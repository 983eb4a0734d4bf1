#include <netdb.h>
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

int lnet_resolve_blocking(const char *host, int family, struct lnet_sockaddr *out, int max) {
    struct addrinfo hints, *res, *ai;
    int n = 0, rc;
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
