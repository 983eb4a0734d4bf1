/*
 * The host executable: `lnet script.lua args...`, `lnet -e code`, or a REPL.
 * It makes a Lua state with lnet.core built in and hands the command line
 * to lnet.host, which runs the script as the main task. Core's symbols are
 * exported from this executable (ENABLE_EXPORTS), so the FFI finds them in
 * ffi.C.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_lnet_core(lua_State *L);

#ifndef LNET_LUA_DIR
#define LNET_LUA_DIR "lua"
#endif

/* lnet's Lua files come first, then LNET_PATH, then the usual path. */
static void set_path(lua_State *L) {
    const char *extra = getenv("LNET_PATH");
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s%s", LNET_LUA_DIR, LNET_LUA_DIR,
                    extra != NULL ? extra : "", extra != NULL ? ";" : "");
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_lnet_core);
    lua_setfield(L, -2, "lnet.core");
    lua_pop(L, 2);
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
    set_path(L);
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
        status = lua_pcall(L, 1, 1, -4);
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
