/*
 * The layout of the core's structs and enums as this compiler laid them
 * out, for the Lua side's FFI declarations to be checked against: LuaJIT
 * cannot read a C header, so lua/lnet/ declares the structs it touches
 * again, and a field moved in core/ without its mirror would be read at the
 * wrong offset, silently. lnet.sys checks every mirror when it loads, and
 * the build runs that check (CMakeLists.txt), so a mismatch fails the build.
 *
 * Keys: "struct.field" (offset), "sizeof struct" (size) and enum names.
 * (bench/idle.lua reads the sizes too, for its breakdown of an idle conn.)
 */
#include <stddef.h>

#include <lua.h>

#include "addr.h"
#include "conn.h"
#include "copy.h"
#include "layout.h"
#include "op.h"
#include "process.h"
#include "tls.h"
#include "waitq.h"

static void set(lua_State *L, const char *key, size_t value) {
    lua_pushinteger(L, (lua_Integer)value);
    lua_setfield(L, -2, key);
}

#define FIELD(type, f) set(L, #type "." #f, offsetof(struct type, f))
#define SIZE(type)     set(L, "sizeof " #type, sizeof(struct type))
#define CONST(name)    set(L, #name, (size_t)(name))

void lnet_layout_push(lua_State *L) {
    lua_newtable(L);
    /* lua/lnet/sys.lua */
    FIELD(lnet_op, id);
    FIELD(lnet_op, state);
    FIELD(lnet_op, progress);
    CONST(LNET_OP_IDLE);
    CONST(LNET_OP_PARKED);
    CONST(LNET_OP_READY);
    FIELD(lnet_waitq, l.head);
    FIELD(lnet_waitq, l.tail);
    FIELD(lnet_waitq, n);
    SIZE(lnet_waitq);
    FIELD(lnet_copy, left);
    FIELD(lnet_copy, left_len);
    FIELD(lnet_copy, written);
    FIELD(lnet_copy, failed);
    FIELD(lnet_copy, writing);
    FIELD(lnet_copy, pending);
    FIELD(lnet_copy, read);
    FIELD(lnet_copy, write);
    SIZE(lnet_copy);
    FIELD(lnet_tls, role);
    FIELD(lnet_tls, hs_done);
    FIELD(lnet_tls, released);
    FIELD(lnet_tls, eof);
    FIELD(lnet_tls, fatal);
    FIELD(lnet_tls, verify_error);
    FIELD(lnet_tls, alert_recv);
    FIELD(lnet_tls, alert_sent);
    FIELD(lnet_tls, eof_mid_record);
    FIELD(lnet_tls, last_record_len);
    FIELD(lnet_tls, ssl_error);
    FIELD(lnet_tls, cert_not_before);
    FIELD(lnet_tls, cert_not_after);
    FIELD(lnet_tls, unsent_chunk);
    CONST(LNET_TLS_CLIENT);
    CONST(LNET_TLS_SERVER);
    CONST(LNET_TLS_REQUIRE_AND_VERIFY_CLIENT_CERT);
    CONST(LNET_TLS_SAN_OTHER);
    CONST(LNET_TLS_R_NO_PEM);
    CONST(LNET_TLS_V_PATH_LENGTH);
    FIELD(lnet_sockaddr, u);
    FIELD(lnet_sockaddr, len);
    SIZE(lnet_sockaddr);
    /* lua/lnet/process.lua */
    FIELD(lnet_spawn, argv);
    FIELD(lnet_spawn, envp);
    FIELD(lnet_spawn, dir);
    FIELD(lnet_spawn, stdio);
    FIELD(lnet_spawn, files);
    FIELD(lnet_spawn, nfiles);
    FIELD(lnet_spawn, pipes);
    FIELD(lnet_spawn, failed_step);
    SIZE(lnet_spawn);
    FIELD(lnet_process, pid);
    FIELD(lnet_process, state);
    FIELD(lnet_process, code);
    FIELD(lnet_process, signal);
    CONST(LNET_PROCESS_NEW);
    CONST(LNET_PROCESS_RUNNING);
    CONST(LNET_PROCESS_EXITED);
    CONST(LNET_PROCESS_RELEASED);
    CONST(LNET_STDIO_INHERIT);
    CONST(LNET_STDIO_NULL);
    CONST(LNET_STDIO_PIPE);
    CONST(LNET_SPAWN_EXEC);
    CONST(LNET_SPAWN_CHDIR);
    /* bench/idle.lua's breakdown of an idle conn */
    SIZE(lnet_conn);
    SIZE(lnet_side);
    SIZE(lnet_op);
    set(L, "sizeof ev_io", sizeof(ev_io));
    set(L, "sizeof ev_timer", sizeof(ev_timer));
}
