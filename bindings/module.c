/*
 * luaopen_lnet_core: the private module lnet.core. The Lua side calls the
 * core through the FFI; this module hands it what the FFI cannot do or see:
 * the run loop that resumes tasks (sched.c), the errno table of
 * core/errors.h, the socket and signal constants of this platform, the
 * layout of the structs the FFI mirrors (layout.c), lnet's version, and
 * where the shared object lives so lnet can ffi.load it.
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <lauxlib.h>
#include <lua.h>
#include <lnet/version.h>

#include "errors.h"
#include "layout.h"
#include "sched.h"
#include "sockopt.h"
#include "resolver_ares.h"
#include "resolver_system.h"

int luaopen_lnet_core(lua_State *L);

static void set_int(lua_State *L, const char *name, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

static void push_errno_table(lua_State *L) {
    lua_newtable(L);
#define X(name, msg)                                                                               \
    lua_createtable(L, 3, 0);                                                                      \
    lua_pushstring(L, #name);                                                                      \
    lua_rawseti(L, -2, 1);                                                                         \
    lua_pushinteger(L, name);                                                                      \
    lua_rawseti(L, -2, 2);                                                                         \
    lua_pushstring(L, msg);                                                                        \
    lua_rawseti(L, -2, 3);                                                                         \
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    LNET_ERRNO_MAP(X)
#undef X
}

static void push_codes(lua_State *L) {
    lua_newtable(L);
#define X(name) set_int(L, #name, LNET_##name);
    LNET_CODE_MAP(X)
#undef X
}

static void push_constants(lua_State *L) {
    lua_newtable(L);
#define C(name) set_int(L, #name, name)
    C(AF_UNSPEC);
    C(AF_INET);
    C(AF_INET6);
    C(AF_UNIX);
    C(SOCK_STREAM);
    C(SOCK_DGRAM);
    C(SOCK_SEQPACKET);
    C(SOCK_RAW);
    C(SOL_SOCKET);
    C(NSIG); /* signal numbers are 1 .. NSIG - 1 */
    C(SO_REUSEADDR);
    C(SO_RCVBUF);
    C(SO_SNDBUF);
    C(SO_KEEPALIVE);
    C(SO_BROADCAST);
    C(IPPROTO_TCP);
    C(TCP_NODELAY);
    C(TCP_KEEPIDLE);
    C(TCP_KEEPINTVL);
    C(TCP_KEEPCNT);
    C(IPPROTO_IPV6);
    C(IPV6_V6ONLY);
    C(SOMAXCONN);
    C(SO_REUSEPORT);
    C(SO_DOMAIN);
    C(SO_TYPE);
    C(SO_PROTOCOL);
    C(SO_ACCEPTCONN);
    C(TCP_USER_TIMEOUT);
    C(IPPROTO_IP);
    C(IPPROTO_UDP);
    C(IPPROTO_ICMP);
    C(IPPROTO_ICMPV6);
    C(LNET_ARES_EBASE);   /* c-ares statuses, as -(base + ARES_*) */
    C(LNET_SYSRES_ADDRS); /* addresses one getaddrinfo answer keeps */
#undef C
}

/* The socket options scripts name (sockopt.h): name -> {level, level_name,
 * name, kind}; and the levels by name. */
static void push_sockopts(lua_State *L) {
    lua_newtable(L);
#define X(level, name, kind)                                                                       \
    lua_createtable(L, 0, 4);                                                                      \
    set_int(L, "level", level);                                                                    \
    lua_pushliteral(L, #level);                                                                    \
    lua_setfield(L, -2, "level_name");                                                             \
    set_int(L, "name", name);                                                                      \
    lua_pushliteral(L, #kind);                                                                     \
    lua_setfield(L, -2, "kind");                                                                   \
    lua_setfield(L, -2, #name);
    LNET_SOCKOPT_MAP(X)
#undef X
}

static void push_sockopt_levels(lua_State *L) {
    lua_newtable(L);
#define X(level) set_int(L, #level, level);
    LNET_SOCKOPT_LEVELS(X)
#undef X
}

/* The signals scripts name: lnet.signal and lnet.process take the names. */
static void push_signals(lua_State *L) {
    lua_newtable(L);
#define S(name) set_int(L, #name, name)
    S(SIGHUP);
    S(SIGINT);
    S(SIGQUIT);
    S(SIGILL);
    S(SIGABRT);
    S(SIGFPE);
    S(SIGKILL);
    S(SIGSEGV);
    S(SIGPIPE);
    S(SIGALRM);
    S(SIGTERM);
    S(SIGUSR1);
    S(SIGUSR2);
    S(SIGCHLD);
    S(SIGCONT);
    S(SIGSTOP);
    S(SIGTSTP);
    S(SIGTTIN);
    S(SIGTTOU);
    S(SIGWINCH);
    /* And the rest a child may die of, so lnet.process can name them. */
    S(SIGTRAP);
    S(SIGBUS);
    S(SIGSYS);
    S(SIGXCPU);
    S(SIGXFSZ);
    S(SIGVTALRM);
    S(SIGPROF);
    S(SIGIO);
    S(SIGURG);
    S(SIGPWR);
    S(SIGSTKFLT);
    S(SIGRTMIN); /* glibc's first free real-time signal; SIGRTMAX the last */
    S(SIGRTMAX);
#undef S
}

int luaopen_lnet_core(lua_State *L) {
    Dl_info info;
    lua_newtable(L);
    push_errno_table(L);
    lua_setfield(L, -2, "errno");
    push_codes(L);
    lua_setfield(L, -2, "codes");
    push_constants(L);
    lua_setfield(L, -2, "const");
    lnet_sched_register(L);
    push_signals(L);
    lua_setfield(L, -2, "signals");
    push_sockopts(L);
    lua_setfield(L, -2, "sockopts");
    push_sockopt_levels(L);
    lua_setfield(L, -2, "sockopt_levels");
    lnet_layout_push(L);
    lua_setfield(L, -2, "layout");
    lua_pushliteral(L, LNET_VERSION);
    lua_setfield(L, -2, "version");
    if (dladdr((void *)luaopen_lnet_core, &info) != 0 && info.dli_fname != NULL) {
        lua_pushstring(L, info.dli_fname);
        lua_setfield(L, -2, "path");
    }
    return 1;
}
