// SPDX-License-Identifier: Apache-2.0
// Running a program natively and under the sentry, its output collected (tests/sandbox_run.h).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"

extern char **environ;

void collect(int fd, struct outcome *o)
{
	size_t cap = 1 << 16;
	o->out = malloc(cap + 1);
	o->len = 0;
	ASSERT_TRUE(o->out != NULL);
	ssize_t r;
	while ((r = read(fd, o->out + o->len, cap - o->len)) > 0) {
		o->len += (size_t)r;
		if (o->len == cap) {
			o->out = realloc(o->out, (cap *= 2) + 1);
			ASSERT_TRUE(o->out != NULL);
		}
	}
	o->out[o->len] = 0;
	close(fd);
}

void run_native(const char *prog, char *const argv[], struct outcome *o)
{
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	pid_t pid;
	ASSERT_EQ(posix_spawn(&pid, prog, &fa, NULL, argv, environ), 0);
	close(p[1]);
	collect(p[0], o);
	ASSERT_EQ(waitpid(pid, &o->status, 0), pid);
	posix_spawn_file_actions_destroy(&fa);
}

void run_boxed(const struct sentry_opts *opts, const char *prog, char *const argv[], struct outcome *o)
{
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) { /* the sentry runs in a child so its stdout can be the pipe */
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		signal(SIGALRM, SIG_DFL); /* a test's timeout handler is not the sentry's business */
		int st = sentry_run(opts, prog, argv, environ);
		if (st > 0 && (st & 0x7f)) { /* die of the same signal, so our parent sees what native gives */
			struct rlimit no_core = { 0, 0 };
			setrlimit(RLIMIT_CORE, &no_core);
			signal(st & 0x7f, SIG_DFL);
			raise(st & 0x7f);
		}
		_exit(st < 0 ? 126 : WEXITSTATUS(st));
	}
	close(p[1]);
	collect(p[0], o);
	ASSERT_EQ(waitpid(pid, &o->status, 0), pid);
}

void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ASSERT_TRUE(in >= 0 && out >= 0);
	char b[65536];
	ssize_t n;
	while ((n = read(in, b, sizeof(b))) > 0)
		ASSERT_EQ(write(out, b, (size_t)n), n);
	close(in);
	close(out);
}

pid_t start_boxed(const struct sentry_opts *opts, const char *prog, char *const argv[], int *out)
{
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		int st = sentry_run(opts, prog, argv, environ);
		_exit(st < 0 ? 126 : (st & 0x7f) ? 128 + (st & 0x7f) : WEXITSTATUS(st));
	}
	close(p[1]);
	char ready[6];
	size_t got = 0; /* "ready\n": the program runs */
	for (ssize_t n; got < sizeof(ready) && (n = read(p[0], ready + got, sizeof(ready) - got)) > 0;)
		got += (size_t)n;
	EXPECT_EQ(got, sizeof(ready));
	*out = p[0];
	return pid;
}
