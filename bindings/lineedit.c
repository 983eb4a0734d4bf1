/*
 * lnet.lineedit, the host's private module: the REPL's line editor. On a
 * terminal, libedit's readline: the line can be edited, and the up arrow
 * recalls what was saved before. libedit rather than GNU readline because
 * it is BSD-licensed, so the host's licence is lnet's own.
 *
 *   lineedit.tty          whether stdin is a terminal (only then is it used)
 *   lineedit.read(prompt) the line typed, without its newline; nil at end
 *   lineedit.save(line)   adds line to the history
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>
#include <lua.h>

int luaopen_lnet_lineedit(lua_State *L);

static int lineedit_read(lua_State *L) {
    char *line = readline(luaL_checkstring(L, 1));
    if (line == NULL) return 0;
    lua_pushstring(L, line);
    free(line);
    return 1;
}

static int lineedit_save(lua_State *L) {
    add_history(luaL_checkstring(L, 1));
    return 0;
}

int luaopen_lnet_lineedit(lua_State *L) {
    lua_newtable(L);
    lua_pushboolean(L, isatty(STDIN_FILENO));
    lua_setfield(L, -2, "tty");
    lua_pushcfunction(L, lineedit_read);
    lua_setfield(L, -2, "read");
    lua_pushcfunction(L, lineedit_save);
    lua_setfield(L, -2, "save");
    return 1;
}
