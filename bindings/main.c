/*
 * The host executable, `lnet`: a Lua state with lnet.core and the line
 * editor built in, handed the command line by lnet.host, which does what
 * lua(1) would (options, scripts as tasks, the REPL). Core's symbols are
 * exported from this executable (ENABLE_EXPORTS), so the FFI finds them in
 * ffi.C.
 *
 * The host finds lnet's Lua files next to itself, so no environment is
 * needed and an installed tree may move (a DESTDIR, a luarocks tree,
 * dpkg -x): ../share/lua/5.1 from its directory once installed, or
 * lua/ in the build tree (a link to the checkout's lua/). The path is the
 * one /proc/self/exe gives, with links resolved, so a link to the host
 * elsewhere on PATH still finds its own tree.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ares.h>
#include <ev.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_lnet_core(lua_State *L);
int luaopen_lnet_lineedit(lua_State *L);

/* Relative to the host's directory: an installed tree's Lua files and C
 * modules (the latter so that other rocks of a luarocks tree load too),
 * and the build tree's link to the checkout's Lua files. */
#define INSTALLED_LUA_DIR  "../share/lua/5.1"
#define INSTALLED_CMOD_DIR "../lib/lua/5.1"
#define BUILD_LUA_DIR      "lua"

/* The directory of the running executable into dir; 0 if unknown. */
static int exe_dir(char *dir, size_t size) {
    ssize_t n = readlink("/proc/self/exe", dir, size);
    char *slash;
    if (n <= 0 || (size_t)n >= size) return 0;
    dir[n] = '\0';
    slash = strrchr(dir, '/');
    if (slash == NULL) return 0;
    *slash = '\0';
    return 1;
}

/* package[field] = (the string on top) .. ";" .. package[field], with
 * package just below that string, which it pops. */
static void prepend(lua_State *L, const char *field) {
    lua_pushliteral(L, ";");
    lua_getfield(L, -3, field);
    lua_concat(L, 3);
    lua_setfield(L, -2, field);
}

/* dir's Lua files first on package.path (package on top). */
static void prepend_lua_dir(lua_State *L, const char *dir) {
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
    prepend(L, "path");
}

/* dir, made canonical, if exe/rel is a directory holding lnet/host.lua. */
static int lnet_dir(const char *exe, const char *rel, char *dir) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", exe, rel);
    if (realpath(path, dir) == NULL) return 0;
    snprintf(path, sizeof path, "%s/lnet/host.lua", dir);
    return access(path, R_OK) == 0;
}

/* With package on top of the stack: lnet's Lua files come first. */
static void set_paths(lua_State *L) {
    char exe[PATH_MAX], dir[PATH_MAX];
    if (!exe_dir(exe, sizeof exe)) return;
    if (lnet_dir(exe, INSTALLED_LUA_DIR, dir)) {
        char path[PATH_MAX + 32];
        prepend_lua_dir(L, dir);
        snprintf(path, sizeof path, "%s/" INSTALLED_CMOD_DIR, exe);
        if (realpath(path, dir) != NULL) {
            lua_pushfstring(L, "%s/?.so", dir);
            prepend(L, "cpath");
        }
    } else if (lnet_dir(exe, BUILD_LUA_DIR, dir)) {
        prepend_lua_dir(L, dir);
    }
}

static void preload(lua_State *L, const char *name, lua_CFunction open) {
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, open);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

static int traceback(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    int status;
    if (L == NULL) {
        fputs("lnet: cannot create a Lua state\n", stderr);
        return 1;
    }
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    set_paths(L);
    preload(L, "lnet.core", luaopen_lnet_core);
    preload(L, "lnet.lineedit", luaopen_lnet_lineedit);
    lua_pop(L, 1);

    /* lnet.host.main(argv, versions of the C libraries for `lnet -v`) */
    lua_pushcfunction(L, traceback);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lnet.host");
    status = lua_pcall(L, 1, 1, -3);
    if (status == 0) {
        lua_getfield(L, -1, "main");
        lua_createtable(L, argc, 0);
        for (int i = 0; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i);
        }
        lua_pushfstring(L, "libev %d.%d, c-ares %s", ev_version_major(), ev_version_minor(),
                        ares_version(NULL));
        status = lua_pcall(L, 2, 1, -5);
    }
    if (status != 0) {
        fprintf(stderr, "lnet: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    status = (int)lua_tointeger(L, -1);
    lua_close(L);
    return status;
}
