/* SPDX-License-Identifier: Apache-2.0 */
/* Running a program natively and under the sentry, its output collected: shared by the sentry tests. */
#ifndef CVISOR_TEST_SANDBOX_RUN_H
#define CVISOR_TEST_SANDBOX_RUN_H

#include <stddef.h>
#include <sys/types.h>
#include "../sentry/sentry.h"

struct outcome {
	char *out;   /* stdout and stderr together, NUL-terminated (free it) */
	size_t len;
	int status;  /* wait status */
};

/* Read everything until EOF (never stop early: the writer would block and never exit). */
void collect(int fd, struct outcome *o);
/* posix_spawn @prog natively, stdout and stderr into @o. */
void run_native(const char *prog, char *const argv[], struct outcome *o);
/* sentry_run() in a forked child, stdout and stderr into @o; a program killed by a signal makes the
 * child die of the same signal, so the status compares with run_native()'s. */
void run_boxed(const struct sentry_opts *opts, const char *prog, char *const argv[], struct outcome *o);

/* sentry_run() in a forked child, its stdout into a pipe (*out: the read end); returns the child's pid
 * once the program has printed "ready\n". The child exits with the program's status (128+N if killed). */
pid_t start_boxed(const struct sentry_opts *opts, const char *prog, char *const argv[], int *out);
/* Copy host file @from (following links) to @to, created with mode @mode. */
void copy_file(const char *from, const char *to, mode_t mode);

#endif
