/* Processes: exit codes, signals, exec failures, stdio and extra fds, release. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fd.h"
#include "op.h"
#include "process.h"

static struct lnet_loop *loop;
static struct lnet_op *notify, *guard;

/* Polls until the process wakes notify; a 10 s guard fails a hang instead. */
static int wait_notify(void) {
    int id;
    lnet_op_sleep(guard, lnet_now() + 10);
    while ((id = lnet_loop_ready_next(loop)) == 0)
        lnet_loop_poll(loop, 1);
    lnet_op_sleep_stop(guard);
    return id == notify->id;
}

static struct lnet_spawn request(const char *const *argv) {
    struct lnet_spawn s;
    memset(&s, 0, sizeof s);
    s.argv = argv;
    s.stdio[0] = s.stdio[1] = s.stdio[2] = LNET_STDIO_NULL;
    return s;
}

/* Spawns argv (no fds) and returns how it ended: the exit code, or -signal. */
static int run(const char *const *argv) {
    struct lnet_spawn s = request(argv);
    struct lnet_process *p = lnet_process_new(loop, notify);
    int result = -1000;
    if (lnet_process_spawn(p, &s) == 0 && wait_notify() && p->state == LNET_PROCESS_EXITED)
        result = p->signal != 0 ? -p->signal : p->code;
    lnet_process_free(p);
    return result;
}

/* What fd holds, up to a line. */
static void read_line(int fd, char *buf, size_t len) {
    ssize_t n = read(fd, buf, len - 1);
    buf[n > 0 ? n : 0] = '\0';
}

static void test_exit_and_signals(void) {
    const char *exit3[] = {"sh", "-c", "exit 3", NULL};
    const char *pipe_self[] = {"sh", "-c", "kill -PIPE $$; exit 0", NULL};
    const char *usr1_self[] = {"sh", "-c", "kill -USR1 $$; exit 0", NULL};
    sigset_t usr1, old;

    CHECK(run(exit3) == 3);
    /* lnet ignores SIGPIPE; the child must not inherit that. */
    CHECK(run(pipe_self) == -SIGPIPE);
    /* Nor a blocked signal. */
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    CHECK(run(usr1_self) == -SIGUSR1);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_exec_failures(void) {
    const char *missing[] = {"/nonexistent/lnet-test", NULL};
    const char *not_on_path[] = {"lnet-no-such-program", NULL};
    const char *sh[] = {"sh", "-c", "exit 0", NULL};
    struct lnet_process *p = lnet_process_new(loop, notify);
    struct lnet_spawn s = request(missing);
    int fds = lnet_fd_count();

    s.stdio[1] = LNET_STDIO_PIPE;
    CHECK(lnet_process_spawn(p, &s) == -ENOENT);
    CHECK(s.failed_step == LNET_SPAWN_EXEC);
    CHECK(s.pipes[1] == -1);
    CHECK(p->state == LNET_PROCESS_NEW);
    CHECK(notify->state == LNET_OP_IDLE);
    CHECK(lnet_process_kill(p, SIGKILL) == -ESRCH);

    s = request(not_on_path);
    CHECK(lnet_process_spawn(p, &s) == -ENOENT);

    s = request(sh);
    s.dir = "/nonexistent/lnet-test";
    CHECK(lnet_process_spawn(p, &s) == -ENOENT);
    CHECK(s.failed_step == LNET_SPAWN_CHDIR);

    CHECK(lnet_fd_count() == fds);
    CHECK(lnet_loop_handle_count(loop) == 0);
    lnet_process_free(p);
}

/* argv[0] found on PATH, fd 1 a pipe, dir and env applied. */
static void test_stdout_pipe(void) {
    const char *argv[] = {"sh", "-c", "echo \"$FOO\" $(pwd)", NULL};
    const char *envp[] = {"FOO=bar", NULL};
    struct lnet_process *p = lnet_process_new(loop, notify);
    struct lnet_spawn s = request(argv);
    char line[64];

    s.envp = envp;
    s.dir = "/";
    s.stdio[1] = LNET_STDIO_PIPE;
    CHECK(lnet_process_spawn(p, &s) == 0);
    CHECK(s.pipes[0] == -1 && s.pipes[1] >= 0 && s.pipes[2] == -1);
    CHECK((fcntl(s.pipes[1], F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(s.pipes[1], F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(wait_notify());
    CHECK(p->state == LNET_PROCESS_EXITED && p->code == 0 && p->signal == 0);
    read_line(s.pipes[1], line, sizeof line);
    CHECK(strcmp(line, "bar /\n") == 0);
    lnet_fd_close(&s.pipes[1]);
    lnet_process_free(p);
}

/*
 * Extra fds whose sources are the targets of others: a and b, at fds x and
 * x+1, swap places; c, at x+2, stays where it is (only its close-on-exec
 * flag must go). Fds 3..x-1 get /dev/null.
 */
static void test_extra_files(void) {
    int a[2] = {-1, -1}, b[2] = {-1, -1}, c[2] = {-1, -1}, x = 3, files[64];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char cmd[128], line[16];
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct lnet_process *p = lnet_process_new(loop, notify);
    struct lnet_spawn s = request(argv);

    CHECK(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0 && pipe2(c, O_CLOEXEC) == 0);
    while (fcntl(x, F_GETFD) >= 0 || fcntl(x + 1, F_GETFD) >= 0 || fcntl(x + 2, F_GETFD) >= 0)
        x++;
    CHECK(x + 2 - 3 < 64);
    CHECK(dup3(a[1], x, O_CLOEXEC) == x && dup3(b[1], x + 1, O_CLOEXEC) == x + 1);
    CHECK(dup3(c[1], x + 2, O_CLOEXEC) == x + 2);
    for (int i = 3; i < x; i++)
        files[i - 3] = devnull;
    files[x - 3] = x + 1;
    files[x + 1 - 3] = x;
    files[x + 2 - 3] = x + 2;
    /* dash's >&n takes one digit only: open the fds by name instead. */
    snprintf(cmd, sizeof cmd, "echo a >/dev/fd/%d; echo b >/dev/fd/%d; echo c >/dev/fd/%d", x + 1,
             x, x + 2);
    s.files = files;
    s.nfiles = x + 3 - 3;
    CHECK(lnet_process_spawn(p, &s) == 0);
    CHECK(wait_notify());
    CHECK(p->code == 0);
    close(x);
    close(x + 1);
    close(x + 2);
    close(a[1]);
    close(b[1]);
    close(c[1]);
    read_line(a[0], line, sizeof line);
    CHECK(strcmp(line, "a\n") == 0);
    read_line(b[0], line, sizeof line);
    CHECK(strcmp(line, "b\n") == 0);
    read_line(c[0], line, sizeof line);
    CHECK(strcmp(line, "c\n") == 0);
    close(a[0]);
    close(b[0]);
    close(c[0]);
    close(devnull);
    lnet_process_free(p);
}

static void test_kill_and_release(void) {
    const char *argv[] = {"sleep", "10", NULL};
    struct lnet_process *p = lnet_process_new(loop, notify);
    struct lnet_spawn s = request(argv);
    int pid;

    CHECK(lnet_process_spawn(p, &s) == 0);
    CHECK(lnet_loop_handle_count(loop) == 1);
    CHECK(lnet_process_kill(p, SIGTERM) == 0);
    CHECK(wait_notify());
    CHECK(p->state == LNET_PROCESS_EXITED && p->code == -1 && p->signal == SIGTERM);
    CHECK(lnet_loop_handle_count(loop) == 0);
    /* Reaped: the pid may be someone else's now. */
    CHECK(lnet_process_kill(p, SIGTERM) == -ESRCH);
    lnet_process_free(p);

    /* Teardown releases a running process: unwatched, woken, not killed. */
    p = lnet_process_new(loop, notify);
    s = request(argv);
    CHECK(lnet_process_spawn(p, &s) == 0);
    pid = p->pid;
    lnet_loop_close_all(loop);
    CHECK(p->state == LNET_PROCESS_RELEASED);
    CHECK(!ev_is_active(&p->child));
    CHECK(lnet_loop_ready_next(loop) == notify->id);
    CHECK(lnet_process_kill(p, SIGKILL) == -ESRCH);
    CHECK(kill(pid, 0) == 0);
    lnet_process_free(p);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, NULL, 0) == pid);

    /* Freeing a running process stops its watcher (and leaves the child). */
    p = lnet_process_new(loop, notify);
    s = request(argv);
    CHECK(lnet_process_spawn(p, &s) == 0);
    pid = p->pid;
    lnet_process_free(p);
    CHECK(lnet_loop_handle_count(loop) == 0);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, NULL, 0) == pid);
}

int main(void) {
    loop = lnet_loop_default();
    notify = lnet_op_new(loop, -1);
    guard = lnet_op_new(loop, -2);
    test_exit_and_signals();
    test_exec_failures();
    test_stdout_pipe();
    test_extra_files();
    test_kill_and_release();
    lnet_op_free(notify);
    lnet_op_free(guard);
    return CHECK_DONE();
}
