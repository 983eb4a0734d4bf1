/*
 * The run loop's C side, and the one place that resumes tasks.
 *
 * lnet_sched_drive pops woken ops off the core's ready queue and resumes
 * their tasks with lua_resume, polling libev when nothing is ready. Being C,
 * the loop costs no trace exit on its side of a switch: a task's yield
 * leaves its trace once, and its resume re-enters it directly.
 *
 * A task's coroutine runs the task's own function, with nothing of lnet's
 * beneath it: that keeps its stack (most of an idle task's memory) small.
 * So the task's end is seen here: its results, or its error and the
 * traceback of its dead stack, go to the Lua side's on_exit, which keeps
 * every policy (lua/lnet/sched.lua).
 */
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "loop.h"
#include "sched.h"

/* How many tasks may run back to back before pending I/O is collected. */
#define RESUME_BURST 64

/* Where on the stack of sched_drive its arguments are. */
enum { ARG_MAIN = 1, ARG_ON_EVENT, ARG_ON_EXIT };

int lnet_sched_current_id;

/* The coroutine of each task id; the Lua side keeps them reachable. */
static lua_State **threads;
static int nthreads;

/*
 * sched_bind(id, co, ...): id's task runs in coroutine co (made by
 * coroutine.create around the task's function), which the first resume
 * calls with the remaining arguments.
 */
static int sched_bind(lua_State *L) {
    int id = (int)luaL_checkinteger(L, 1);
    lua_State *co = lua_tothread(L, 2);
    int nargs = lua_gettop(L) - 2;
    luaL_argcheck(L, id > 0, 1, "task id expected");
    luaL_argcheck(L, co != NULL && lua_status(co) == 0 && lua_gettop(co) == 1, 2,
                  "new coroutine expected");
    if (id >= nthreads) {
        int n = id * 2;
        lua_State **grown = realloc(threads, (size_t)n * sizeof *grown);
        if (grown == NULL) return luaL_error(L, "lnet: out of memory");
        for (int i = nthreads; i < n; i++)
            grown[i] = NULL;
        threads = grown;
        nthreads = n;
    }
    luaL_checkstack(co, nargs, "too many arguments");
    lua_xmove(L, co, nargs);
    threads[id] = co;
    return 0;
}

/* Hands a finished task's outcome to on_exit(id, true, results...) or
 * on_exit(id, false, err, traceback). */
static void report_exit(lua_State *L, lua_State *co, int id, int status) {
    int n = status == 0 ? lua_gettop(co) : 1;
    lua_pushvalue(L, ARG_ON_EXIT);
    lua_pushinteger(L, id);
    lua_pushboolean(L, status == 0);
    luaL_checkstack(L, n + 1, "too many results");
    lua_xmove(co, L, n);
    if (status != 0) luaL_traceback(L, co, NULL, 0);
    lua_call(L, status == 0 ? n + 2 : 4, 0);
}

/* Resumes task id; true once it has finished. */
static int resume(lua_State *L, int id) {
    lua_State *co = threads[id];
    int nargs = lua_status(co) == LUA_YIELD ? 0 : lua_gettop(co) - 1;
    int status;
    lnet_sched_current_id = id;
    status = lua_resume(co, nargs);
    lnet_sched_current_id = 0;
    if (status == LUA_YIELD) {
        lua_settop(co, 0);
        return 0;
    }
    report_exit(L, co, id, status);
    return 1;
}

/*
 * sched_drive(main_id, on_event, on_exit): runs until task main_id
 * finishes. on_event(id) handles a woken event op (id < 0); on_exit as
 * above. Raises "all tasks are asleep - deadlock!" when nothing could ever
 * wake a task again.
 */
static int sched_drive(lua_State *L) {
    struct lnet_loop *loop = lnet_loop_default();
    int main_id = (int)luaL_checkinteger(L, ARG_MAIN);
    int burst = 0;
    luaL_checktype(L, ARG_ON_EVENT, LUA_TFUNCTION);
    luaL_checktype(L, ARG_ON_EXIT, LUA_TFUNCTION);
    for (;;) {
        int id = lnet_loop_ready_next(loop);
        if (id > 0) {
            if (resume(L, id) && id == main_id) return 0;
        } else if (id < 0) {
            lua_pushvalue(L, ARG_ON_EVENT);
            lua_pushinteger(L, id);
            lua_call(L, 1, 0);
        } else {
            burst = 0;
            if (!lnet_loop_poll(loop, 1)) return luaL_error(L, "all tasks are asleep - deadlock!");
            continue;
        }
        if (++burst == RESUME_BURST) {
            burst = 0;
            lnet_loop_poll(loop, 0);
        }
    }
}

void lnet_sched_register(lua_State *L) {
    lua_pushcfunction(L, sched_bind);
    lua_setfield(L, -2, "sched_bind");
    lua_pushcfunction(L, sched_drive);
    lua_setfield(L, -2, "sched_drive");
}
