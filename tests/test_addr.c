/* Socket addresses: build and read back IPv4, IPv6 and unix forms. */
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "check.h"

int main(void) {
    struct lnet_sockaddr a;
    size_t len;
    const unsigned char v4[4] = {127, 0, 0, 1};
    unsigned char v6[16] = {0};
    v6[15] = 1;

    CHECK(lnet_sockaddr_ip(&a, v4, 4, 8080, 0) == 0);
    CHECK(lnet_sockaddr_family(&a) == AF_INET);
    CHECK(lnet_sockaddr_port(&a) == 8080);
    CHECK(memcmp(lnet_sockaddr_ip_bytes(&a, &len), v4, 4) == 0 && len == 4);

    CHECK(lnet_sockaddr_ip(&a, v6, 16, 65535, 3) == 0);
    CHECK(lnet_sockaddr_family(&a) == AF_INET6);
    CHECK(lnet_sockaddr_port(&a) == 65535);
    CHECK(lnet_sockaddr_scope(&a) == 3);
    CHECK(memcmp(lnet_sockaddr_ip_bytes(&a, &len), v6, 16) == 0 && len == 16);

    CHECK(lnet_sockaddr_ip(&a, v4, 5, 1, 0) == -EAFNOSUPPORT);

    CHECK(lnet_sockaddr_unix(&a, "/tmp/x.sock", 11) == 0);
    CHECK(lnet_sockaddr_family(&a) == AF_UNIX);
    CHECK(strncmp(lnet_sockaddr_path(&a, &len), "/tmp/x.sock", 11) == 0 && len == 11);

    /* '@' names the abstract namespace: a leading NUL, exact length. */
    CHECK(lnet_sockaddr_unix(&a, "@abs", 4) == 0);
    const char *p = lnet_sockaddr_path(&a, &len);
    CHECK(len == 4 && p[0] == '\0' && memcmp(p + 1, "abs", 3) == 0);

    char long_path[200];
    memset(long_path, 'a', sizeof long_path);
    CHECK(lnet_sockaddr_unix(&a, long_path, sizeof long_path) == -EINVAL);

    /* No name: the family alone, for the kernel to bind a fresh one. */
    CHECK(lnet_sockaddr_unix(&a, "", 0) == 0);
    CHECK(a.len == sizeof(sa_family_t));
    return CHECK_DONE();
}
