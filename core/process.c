#include <assert.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "fd.h"
#include "op.h"
#include "process.h"

/* The one place a process stops being watched: exit, release, free. */
static void unwatch(struct lnet_process *p) {
    ev_child_stop(p->loop->ev, &p->child);
    lnet_handle_unlink(&p->h);
}

static void leave_running(struct lnet_process *p, int state) {
    unwatch(p);
    p->state = state;
    lnet_op_wake(p->notify);
}

/* The watcher traces no stops, so every status it sees is an exit. */
static void child_cb(struct ev_loop *ev, ev_child *w, int revents) {
    struct lnet_process *p = LNET_CONTAINER_OF(w, struct lnet_process, child);
    int status = w->rstatus;
    (void)ev;
    (void)revents;
    if (WIFEXITED(status)) {
        p->code = WEXITSTATUS(status);
    } else {
        p->code = -1;
        p->signal = WTERMSIG(status);
    }
    leave_running(p, LNET_PROCESS_EXITED);
}

/*
 * Teardown: stop watching and leave the child running, as a Go program's
 * children outlive it. libev's waitpid(-1) still reaps it, so no zombie.
 */
static void close_handle(struct lnet_handle *h) {
    leave_running(LNET_CONTAINER_OF(h, struct lnet_process, h), LNET_PROCESS_RELEASED);
}

struct lnet_process *lnet_process_new(struct lnet_loop *loop, struct lnet_op *notify) {
    struct lnet_process *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->state = LNET_PROCESS_NEW;
    p->code = -1;
    p->loop = loop;
    p->notify = notify;
    p->h.close = close_handle;
    ev_child_init(&p->child, child_cb, 0, 0);
    return p;
}

void lnet_process_free(struct lnet_process *p) {
    if (p == NULL) return;
    if (p->state == LNET_PROCESS_RUNNING) unwatch(p);
    free(p);
}

/*
 * What the child needs, on the parent's memory (the child shares it until
 * it execs): it reads these and writes only its own stack and fd[], a copy
 * the parent discards.
 */
struct child_args {
    const struct lnet_spawn *s;
    int *fd; /* fd[i] becomes the child's fd i */
    int n;
    int report; /* the close-on-exec pipe that carries {step, errno} on failure */
};

/*
 * The child's set-up, between clone and exec: returns only on failure, with
 * errno set, giving the step that failed; *report follows the report pipe
 * if it has to move. Only async-signal-safe calls, and
 * nothing the parent will read: it runs in the parent's address space, on a
 * stack of its own. (glibc's execvpe searches PATH in a stack buffer.)
 */
static int exec_child(const struct child_args *a, int *report) {
    const struct lnet_spawn *s = a->s;
    int *fd = a->fd, n = a->n;
    struct sigaction dfl;
    sigset_t none;
    int rc;

    /*
     * A handler of ours must not run in the child, and an ignored signal
     * stays ignored across exec (lnet ignores SIGPIPE). The child has its
     * own copy of the dispositions (no CLONE_SIGHAND), so this changes
     * nothing of ours. sigaction fails, harmlessly, for SIGKILL, SIGSTOP
     * and the signals glibc keeps.
     */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /*
     * fd[i] becomes fd i, in order of i (Go's forkAndExecInChild). Moving
     * fd[i] onto i closes whatever i was, so first lift out of the way
     * every source a lower target would overwrite (fd[i] < i), and the
     * report pipe if it is a target. F_DUPFD_CLOEXEC takes only free fds,
     * at or above n, so lifting overwrites nothing.
     */
    if (*report < n && (*report = fcntl(*report, F_DUPFD_CLOEXEC, n)) < 0) return LNET_SPAWN_EXEC;
    for (int i = 0; i < n; i++)
        if (fd[i] >= 0 && fd[i] < i && (fd[i] = fcntl(fd[i], F_DUPFD_CLOEXEC, n)) < 0)
            return LNET_SPAWN_EXEC;
    for (int i = 0; i < n; i++) {
        if (fd[i] < 0) continue; /* inherited as it is */
        /* dup2(i, i) would leave our close-on-exec flag set. */
        rc = fd[i] == i ? fcntl(i, F_SETFD, 0) : dup2(fd[i], i);
        if (rc < 0) return LNET_SPAWN_EXEC;
    }

    if (s->dir != NULL && chdir(s->dir) < 0) return LNET_SPAWN_CHDIR;
    execvpe(s->argv[0], (char *const *)s->argv, s->envp != NULL ? (char *const *)s->envp : environ);
    return LNET_SPAWN_EXEC;
}

/* The child's entry: set up and exec, or report why not and exit 127. */
static int child_main(void *arg) {
    const struct child_args *a = arg;
    int report = a->report, msg[2];
    msg[0] = exec_child(a, &report);
    msg[1] = errno;
    /* Should this fail too, the parent sees a child that exits 127. */
    (void)!write(report, msg, sizeof msg);
    _exit(127);
}

/* A pipe for the child's fd `which`: returns our end, sets *theirs. */
static int open_pipe(int which, int *theirs) {
    int ends[2], ours;
    if (pipe2(ends, O_CLOEXEC) < 0) return -errno;
    ours = which == 0 ? ends[1] : ends[0];
    *theirs = which == 0 ? ends[0] : ends[1];
    /* Only ours: the child expects the blocking stdio every program has. */
    if (fcntl(ours, F_SETFL, O_NONBLOCK) < 0) {
        int rc = -errno;
        lnet_fd_close(&ours);
        lnet_fd_close(theirs);
        return rc;
    }
    return ours;
}

/*
 * Fills fd[0..2], what the child gets as 0, 1 and 2 (-1: ours, inherited),
 * opening /dev/null and pipes as asked; the fds for the child are in
 * theirs[] and *devnull, ours in s->pipes[].
 */
static lnet_err_t open_stdio(struct lnet_spawn *s, int *fd, int *theirs, int *devnull) {
    for (int i = 0; i < 3; i++) {
        switch (s->stdio[i]) {
        case LNET_STDIO_NULL:
            if (*devnull < 0 && (*devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                return -errno;
            fd[i] = *devnull;
            break;
        case LNET_STDIO_PIPE:
            if ((s->pipes[i] = open_pipe(i, &theirs[i])) < 0) {
                lnet_err_t rc = s->pipes[i];
                s->pipes[i] = -1;
                return rc;
            }
            fd[i] = theirs[i];
            break;
        default:
            fd[i] = -1;
        }
    }
    return 0;
}

/*
 * The child's stack: execvpe needs little (a PATH buffer, and argv again
 * for a script without #!); the pages it never touches cost nothing.
 */
#define CHILD_STACK (256 * 1024)

/*
 * Special problem of fork: it copies the page tables of the whole process,
 * the LuaJIT heap included, so its cost grows with the heap and the loop
 * stalls for it. So the child is a clone that shares our memory and runs on
 * a stack of its own until it execs (CLONE_VM | CLONE_VFORK, as glibc's
 * posix_spawn does; posix_spawn itself cannot say which step failed).
 * Every signal is blocked across the clone, so no handler of ours runs in
 * the child before it resets them. Then the report pipe: it closes at a
 * successful exec, or brings {step, errno}; with CLONE_VFORK both have
 * happened when clone returns. The loop is blocked only until the exec.
 */
static lnet_err_t fork_exec(struct lnet_spawn *s, int *fd, int n, pid_t *pid) {
    int report[2], msg[2];
    sigset_t all, old;
    lnet_err_t rc = 0;
    struct child_args args = {.s = s, .fd = fd, .n = n};
    char *stack;

    if (pipe2(report, O_CLOEXEC) < 0) return -errno;
    stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) {
        rc = -errno;
        lnet_fd_close(&report[0]);
        lnet_fd_close(&report[1]);
        return rc;
    }
    args.report = report[1];
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    *pid = clone(child_main, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    if (*pid < 0) rc = -errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#if defined(__SANITIZE_ADDRESS__)
    /* The child's instrumented frames left their redzones poisoned on this
     * stack, and it never returned to unpoison them: an mmap that reuses
     * the pages (LuaJIT's allocator) would then trip ASan on a memset. */
    __asan_unpoison_memory_region(stack, CHILD_STACK);
#endif
    munmap(stack, CHILD_STACK);
    lnet_fd_close(&report[1]);
    if (rc == 0) {
        ssize_t got;
        while ((got = read(report[0], msg, sizeof msg)) < 0 && errno == EINTR) {
        }
        if (got == (ssize_t)sizeof msg) {
            /* Reap it now: the loop's waitpid(-1) would, with no one watching. */
            while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR) {
            }
            s->failed_step = msg[0];
            rc = -msg[1];
        }
    }
    lnet_fd_close(&report[0]);
    return rc;
}

lnet_err_t lnet_process_spawn(struct lnet_process *p, struct lnet_spawn *s) {
    int n = 3 + s->nfiles, theirs[3] = {-1, -1, -1}, devnull = -1;
    pid_t pid = -1;
    int *fd; /* the child's fd table: fd[i] becomes its fd i */
    lnet_err_t rc;

    assert(p->state == LNET_PROCESS_NEW);
    s->failed_step = LNET_SPAWN_EXEC;
    for (int i = 0; i < 3; i++)
        s->pipes[i] = -1;
    fd = malloc((size_t)n * sizeof *fd);
    if (fd == NULL) return -ENOMEM;
    for (int i = 0; i < s->nfiles; i++) {
        if (s->files[i] < 0) {
            free(fd);
            return -EBADF;
        }
        fd[3 + i] = s->files[i];
    }

    rc = open_stdio(s, fd, theirs, &devnull);
    if (rc == 0) rc = fork_exec(s, fd, n, &pid);
    free(fd);
    lnet_fd_close(&devnull);
    for (int i = 0; i < 3; i++) {
        lnet_fd_close(&theirs[i]);
        if (rc < 0) lnet_fd_close(&s->pipes[i]);
    }
    if (rc < 0) return rc;

    p->pid = pid;
    p->state = LNET_PROCESS_RUNNING;
    ev_child_set(&p->child, pid, 0);
    ev_child_start(p->loop->ev, &p->child);
    lnet_handle_link(p->loop, &p->h);
    lnet_op_park(p->notify);
    return 0;
}

lnet_err_t lnet_process_kill(struct lnet_process *p, int sig) {
    if (p->state != LNET_PROCESS_RUNNING) return -ESRCH;
    return kill(p->pid, sig) < 0 ? -errno : 0;
}

int lnet_process_ncpu(void) {
    cpu_set_t set;
    long n;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
