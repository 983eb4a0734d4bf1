/*
 * The run loop's C side, and the one place that resumes tasks.
 *
 * lnet_sched_drive pops woken ops off the core's ready queue and resumes
 * their tasks with lua_resume, polling libev when nothing is ready. Being C,
 * the loop costs no trace exit on its side of a switch: a task's yield
 * leaves its trace once, and its resume re-enters it directly. The Lua side
 * (lua/lnet/sched.lua) keeps every policy: what a task is, what finishing
 * means, what an event does.
 */
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "loop.h"
#include "sched.h"

/* How many tasks may run back to back before pending I/O is collected. */
#define RESUME_BURST 64

/* The coroutine of each task id; the Lua side keeps them reachable. */
static lua_State **threads;
static int nthreads;

/* sched_bind(id, co): id's task runs in coroutine co from now on. */
static int sched_bind(lua_State *L) {
    int id = (int)luaL_checkinteger(L, 1);
    lua_State *co = lua_tothread(L, 2);
    luaL_argcheck(L, id > 0, 1, "task id expected");
    luaL_argcheck(L, co != NULL, 2, "coroutine expected");
    if (id >= nthreads) {
        int n = id * 2;
        lua_State **grown = realloc(threads, (size_t)n * sizeof *grown);
        if (grown == NULL) return luaL_error(L, "lnet: out of memory");
        for (int i = nthreads; i < n; i++)
            grown[i] = NULL;
        threads = grown;
        nthreads = n;
    }
    threads[id] = co;
    return 0;
}

/* Resumes task id; true once it has finished. A task's own errors are
 * caught in the task, so an error here is lnet's bug: raised in L. */
static int resume(lua_State *L, int id) {
    lua_State *co = threads[id];
    int status = lua_resume(co, 0);
    if (status == LUA_YIELD) {
        lua_settop(co, 0);
        return 0;
    }
    if (status != 0) {
        lua_pushfstring(L, "lnet: scheduler: %s", lua_tostring(co, -1));
        lua_error(L);
    }
    return 1;
}

/*
 * sched_drive(main_id, on_event): runs until task main_id finishes.
 * on_event(id) handles a woken event op (id < 0). Raises "all tasks are
 * asleep - deadlock!" when nothing could ever wake a task again.
 */
static int sched_drive(lua_State *L) {
    struct lnet_loop *loop = lnet_loop_default();
    int main_id = (int)luaL_checkinteger(L, 1);
    int burst = 0;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    for (;;) {
        int id = lnet_loop_ready_next(loop);
        if (id > 0) {
            if (resume(L, id) && id == main_id) return 0;
        } else if (id < 0) {
            lua_pushvalue(L, 2);
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
