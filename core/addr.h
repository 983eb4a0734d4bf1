/*
 * Socket addresses between the binding and the kernel. The binding builds
 * one from address bytes (it parses text itself, in lnet.ip) and reads the
 * parts back out of what accept/getsockname/recvfrom filled in; no text is
 * made in C. Unix paths that start with '@' name the abstract namespace, as
 * in Go.
 */
#ifndef LNET_ADDR_H
#define LNET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "errors.h"

struct lnet_sockaddr {
    union {
        struct sockaddr sa;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
};

/* An IPv4 (4 bytes) or IPv6 (16 bytes) address and port. */
lnet_err_t lnet_sockaddr_ip(struct lnet_sockaddr *a, const void *ip, size_t iplen, int port,
                            unsigned scope);
lnet_err_t lnet_sockaddr_unix(struct lnet_sockaddr *a, const char *path, size_t len);

int lnet_sockaddr_family(const struct lnet_sockaddr *a);
int lnet_sockaddr_port(const struct lnet_sockaddr *a);
unsigned lnet_sockaddr_scope(const struct lnet_sockaddr *a);
/* The address bytes (4 or 16) and, for unix, the path; *len gets the size. */
const char *lnet_sockaddr_ip_bytes(const struct lnet_sockaddr *a, size_t *len);
const char *lnet_sockaddr_path(const struct lnet_sockaddr *a, size_t *len);

#endif
