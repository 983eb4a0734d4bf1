/*
 * A child process: started with a vfork-style clone and exec, reaped
 * through the loop.
 *
 * lnet_process_spawn clones, sets up the child's fds, working directory,
 * signal dispositions and mask, and execs. An exec (or chdir, or dup)
 * failure comes back to the parent through a close-on-exec pipe as the
 * child's errno, so spawn fails with it instead of starting a child that
 * exits 127. Our ends of the stdio pipes are non-blocking and close-on-exec,
 * ready for lnet_conn_open; the child's ends are plain blocking fds.
 *
 * States: NEW (never started), RUNNING, EXITED (the loop reaped it: code or
 * signal is set), RELEASED (teardown stopped watching it; the child runs on,
 * unknown to us). A running process is a handle with an ev_child watcher on
 * the default loop; leaving RUNNING stops the watcher, unlinks the handle
 * and wakes `notify` (parked by spawn), exactly once.
 *
 * Special problem of reaping: libev's SIGCHLD callback reaps every child
 * with waitpid(-1) and hands each status to the watchers of its pid, so a
 * status with no watcher is lost. The watcher is started before spawn
 * returns, before the loop can next run that callback, so no exit is missed.
 * The same waitpid(-1) means any other waitpid user in the process (Lua's
 * io.popen) can lose its child's status to libev.
 *
 * Special problem of pid reuse: once reaped, the pid may name another
 * process, so kill refuses every state but RUNNING.
 */
#ifndef LNET_PROCESS_H
#define LNET_PROCESS_H

#include "loop.h"

enum { LNET_PROCESS_NEW, LNET_PROCESS_RUNNING, LNET_PROCESS_EXITED, LNET_PROCESS_RELEASED };

/* What the child's fd 0, 1 or 2 is. */
enum { LNET_STDIO_INHERIT, LNET_STDIO_NULL, LNET_STDIO_PIPE };

/* Which step of the child's set-up failed: its error names that step. */
enum { LNET_SPAWN_EXEC, LNET_SPAWN_CHDIR };

/* What to start. The caller owns every pointer; files stay the caller's. */
struct lnet_spawn {
    const char *const *argv; /* NULL-terminated; argv[0] is looked up on our PATH */
    const char *const *envp; /* NULL-terminated, or NULL for our environment */
    const char *dir;         /* NULL: our working directory */
    int stdio[3];            /* LNET_STDIO_* for fds 0, 1, 2 */
    const int *files;        /* nfiles fds that become the child's 3, 4, ... */
    int nfiles;
    int pipes[3];    /* out: our end of each LNET_STDIO_PIPE (the caller owns it), else -1 */
    int failed_step; /* out, when spawn fails: LNET_SPAWN_* */
};

struct lnet_process {
    /* The fields the binding reads come first, so its FFI view is a prefix. */
    int pid;
    int state;  /* LNET_PROCESS_* */
    int code;   /* EXITED: the exit status, or -1 when a signal ended it */
    int signal; /* EXITED: the signal that ended it, or 0 */

    struct lnet_handle h;
    ev_child child;
    struct lnet_loop *loop;
    struct lnet_op *notify;
};

/* A NEW process that will wake notify (the caller's) when it leaves RUNNING. */
struct lnet_process *lnet_process_new(struct lnet_loop *loop, struct lnet_op *notify);
/* Stops watching if still running (the child is not signalled), then frees. */
void lnet_process_free(struct lnet_process *p);

/* NEW -> RUNNING; or -errno, s->failed_step set and nothing left open. */
lnet_err_t lnet_process_spawn(struct lnet_process *p, struct lnet_spawn *s);
/* kill(2) while RUNNING; -ESRCH in any other state. */
lnet_err_t lnet_process_kill(struct lnet_process *p, int sig);

/* The CPUs this process may run on (its affinity mask, as Go's NumCPU
 * counts them): how many workers `lnet --workers 0` starts. At least 1. */
int lnet_process_ncpu(void);

#endif
