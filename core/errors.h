/*
 * The error taxonomy of the core: every function that can fail returns a
 * negative code, either -errno captured at the syscall or one of lnet's own
 * codes from a range no errno reaches. This header is the one table of them;
 * the Lua binding exports it as lnet.errno and the text of Go's messages
 * (Go's syscall tables are glibc's strerror, first letter lowered).
 */
#ifndef LNET_ERRORS_H
#define LNET_ERRORS_H

#include <errno.h>

/* Every errno the core can hand back: X(NAME, go_message). */
#define LNET_ERRNO_MAP(X)                                                                          \
    X(EPERM, "operation not permitted")                                                            \
    X(ENOENT, "no such file or directory")                                                         \
    X(ESRCH, "no such process")                                                                    \
    X(EINTR, "interrupted system call")                                                            \
    X(EIO, "input/output error")                                                                   \
    X(ENXIO, "no such device or address")                                                          \
    X(E2BIG, "argument list too long")                                                             \
    X(ENOEXEC, "exec format error")                                                                \
    X(EBADF, "bad file descriptor")                                                                \
    X(ECHILD, "no child processes")                                                                \
    X(EAGAIN, "resource temporarily unavailable")                                                  \
    X(ENOMEM, "cannot allocate memory")                                                            \
    X(EACCES, "permission denied")                                                                 \
    X(EFAULT, "bad address")                                                                       \
    X(EBUSY, "device or resource busy")                                                            \
    X(EEXIST, "file exists")                                                                       \
    X(ENOTDIR, "not a directory")                                                                  \
    X(EISDIR, "is a directory")                                                                    \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENFILE, "too many open files in system")                                                     \
    X(EMFILE, "too many open files")                                                               \
    X(ETXTBSY, "text file busy")                                                                   \
    X(ENOSPC, "no space left on device")                                                           \
    X(EROFS, "read-only file system")                                                              \
    X(EPIPE, "broken pipe")                                                                        \
    X(ERANGE, "numerical result out of range")                                                     \
    X(ENAMETOOLONG, "file name too long")                                                          \
    X(ENOSYS, "function not implemented")                                                          \
    X(ELOOP, "too many levels of symbolic links")                                                  \
    X(ENOTSOCK, "socket operation on non-socket")                                                  \
    X(EDESTADDRREQ, "destination address required")                                                \
    X(EMSGSIZE, "message too long")                                                                \
    X(EPROTOTYPE, "protocol wrong type for socket")                                                \
    X(ENOPROTOOPT, "protocol not available")                                                       \
    X(EPROTONOSUPPORT, "protocol not supported")                                                   \
    X(ESOCKTNOSUPPORT, "socket type not supported")                                                \
    X(EOPNOTSUPP, "operation not supported")                                                       \
    X(EPFNOSUPPORT, "protocol family not supported")                                               \
    X(EAFNOSUPPORT, "address family not supported by protocol")                                    \
    X(EADDRINUSE, "address already in use")                                                        \
    X(EADDRNOTAVAIL, "cannot assign requested address")                                            \
    X(ENETDOWN, "network is down")                                                                 \
    X(ENETUNREACH, "network is unreachable")                                                       \
    X(ENETRESET, "network dropped connection on reset")                                            \
    X(ECONNABORTED, "software caused connection abort")                                            \
    X(ECONNRESET, "connection reset by peer")                                                      \
    X(ENOBUFS, "no buffer space available")                                                        \
    X(EISCONN, "transport endpoint is already connected")                                          \
    X(ENOTCONN, "transport endpoint is not connected")                                             \
    X(ESHUTDOWN, "cannot send after transport endpoint shutdown")                                  \
    X(ETIMEDOUT, "connection timed out")                                                           \
    X(ECONNREFUSED, "connection refused")                                                          \
    X(EHOSTDOWN, "host is down")                                                                   \
    X(EHOSTUNREACH, "no route to host")                                                            \
    X(EALREADY, "operation already in progress")                                                   \
    X(EINPROGRESS, "operation now in progress")                                                    \
    X(ECANCELED, "operation canceled")

/*
 * lnet's own outcomes, far above any errno: X(NAME) makes LNET_NAME. The
 * binding exports them by name; the Lua side gives each its meaning (Go's
 * sentinel, DNSError). LNET_EAGAIN is not a failure: the operation parked
 * its op and will be retried when the op is woken.
 */
#define LNET_CODE_MAP(X)                                                                           \
    X(EAGAIN)     /* parked: yield, then call again */                                             \
    X(ECLOSED)    /* use of closed network connection */                                           \
    X(EDEADLINE)  /* i/o timeout: the side's deadline passed */                                    \
    X(EAI_NONAME) /* the resolver: no such host */                                                 \
    X(EAI_AGAIN)  /* the resolver: a temporary failure */                                          \
    X(EAI_FAIL)   /* the resolver: a permanent failure */                                          \
    X(ETLS)       /* TLS failed: the TLS conn's state says how (core/tls.h) */

#define LNET_EBASE 10000
enum {
    LNET_CODE_BEFORE_FIRST = LNET_EBASE - 1,
#define X(name) LNET_##name,
    LNET_CODE_MAP(X)
#undef X
};

typedef int lnet_err_t; /* 0 or a negative code from this file */

#endif
