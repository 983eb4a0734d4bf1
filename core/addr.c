#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

lnet_err_t lnet_sockaddr_ip(struct lnet_sockaddr *a, const void *ip, size_t iplen, int port,
                            unsigned scope) {
    memset(&a->u, 0, sizeof a->u);
    if (iplen == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&a->u.ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        memcpy(&in->sin_addr, ip, 4);
        a->len = sizeof *in;
    } else if (iplen == 16) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->u.ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_scope_id = scope;
        memcpy(&in6->sin6_addr, ip, 16);
        a->len = sizeof *in6;
    } else {
        return -EAFNOSUPPORT;
    }
    return 0;
}

lnet_err_t lnet_sockaddr_unix(struct lnet_sockaddr *a, const char *path, size_t len) {
    struct sockaddr_un *un = (struct sockaddr_un *)&a->u.ss;
    memset(&a->u, 0, sizeof a->u);
    /* A path needs room for its NUL; an abstract name fills all of it. */
    if (len > sizeof un->sun_path || (len == sizeof un->sun_path && path[0] != '@')) return -EINVAL;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len);
    if (len > 0 && path[0] == '@') un->sun_path[0] = '\0';
    /* Abstract names are exactly len bytes; paths carry their NUL; no name
     * is the family alone, which Linux binds to a fresh abstract name. */
    a->len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (len > 0 && path[0] != '@'));
    return 0;
}

int lnet_sockaddr_family(const struct lnet_sockaddr *a) {
    return a->u.ss.ss_family;
}

int lnet_sockaddr_port(const struct lnet_sockaddr *a) {
    if (a->u.ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->u.ss)->sin_port);
    if (a->u.ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->u.ss)->sin6_port);
    return 0;
}

unsigned lnet_sockaddr_scope(const struct lnet_sockaddr *a) {
    if (a->u.ss.ss_family != AF_INET6) return 0;
    return ((const struct sockaddr_in6 *)&a->u.ss)->sin6_scope_id;
}

const char *lnet_sockaddr_ip_bytes(const struct lnet_sockaddr *a, size_t *len) {
    if (a->u.ss.ss_family == AF_INET) {
        *len = 4;
        return (const char *)&((const struct sockaddr_in *)&a->u.ss)->sin_addr;
    }
    if (a->u.ss.ss_family == AF_INET6) {
        *len = 16;
        return (const char *)&((const struct sockaddr_in6 *)&a->u.ss)->sin6_addr;
    }
    *len = 0;
    return NULL;
}

/* An unnamed socket (socketpair, an unbound client) has an empty path. */
const char *lnet_sockaddr_path(const struct lnet_sockaddr *a, size_t *len) {
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a->u.ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (a->u.ss.ss_family != AF_UNIX || a->len <= off) {
        *len = 0;
        return "";
    }
    *len = a->len - off;
    if (un->sun_path[0] != '\0') *len = strnlen(un->sun_path, *len);
    return un->sun_path;
}
