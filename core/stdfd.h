/*
 * The process's standard streams as fds a conn can own: non-blocking and
 * close-on-exec, without changing the fds the process shares with others.
 */
#ifndef LNET_STDFD_H
#define LNET_STDFD_H

#include "errors.h"

/*
 * A new fd onto what fd (0, 1, 2) is. A regular file: a dup (it never
 * blocks, and its offset stays shared). A pipe or a terminal: a fresh open
 * of /proc/self/fd/N, an open file description of its own, so making it
 * non-blocking touches no other process sharing the original (the shell's
 * terminal). A socket, which cannot be opened by path: a dup set
 * non-blocking. -errno on failure.
 */
int lnet_stdfd_open(int fd);

#endif
