// SPDX-License-Identifier: Apache-2.0
// Resource limits printed for a native/sandboxed comparison: RLIMIT_DATA (private writable mappings
// and the break), RLIMIT_STACK (the stack an exec'd program gets), RLIMIT_NPROC (forks of a user past
// it fail; root is not held to it) and RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL at the hard).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1ul << 20)

static const char *ok(int failed)
{
	return failed ? strerrorname_np(errno) : "ok";
}

static void end_of(const char *what, pid_t c)
{
	int st;
	waitpid(c, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
	else
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	fflush(stdout);
}

static void data_limit(void)
{
	pid_t c = fork();
	if (c == 0) {
		setrlimit(RLIMIT_DATA, &(struct rlimit){ 64 * MIB, 64 * MIB });
		void *a = mmap(NULL, 32 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		printf("data: 32 MiB private writable: %s\n", ok(a == MAP_FAILED));
		void *b = mmap(NULL, 64 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		printf("data: 64 MiB more: %s\n", ok(b == MAP_FAILED));
		b = mmap(NULL, 64 * MIB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		printf("data: 64 MiB read-only: %s\n", ok(b == MAP_FAILED));
		b = mmap(NULL, 64 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		printf("data: 64 MiB shared: %s\n", ok(b == MAP_FAILED));
		char *brk0 = sbrk(0);
		printf("data: brk 100 MiB: %s\n", syscall(SYS_brk, brk0 + 100 * MIB) == (long)brk0 ? "refused" : "ok");
		printf("data: brk 1 MiB: %s\n", syscall(SYS_brk, brk0 + MIB) == (long)brk0 ? "refused" : "ok");
		fflush(stdout);
		_exit(0);
	}
	end_of("data", c);
}

static int recurse(int depth)
{
	volatile char frame[4096];
	frame[0] = (char)depth;
	return depth ? recurse(depth - 1) + frame[0] : 0;
}

static void stack_limit(const char *self)
{
	for (int kib = 512; kib <= 2048; kib *= 4) {
		pid_t c = fork();
		if (c == 0) {
			setrlimit(RLIMIT_STACK, &(struct rlimit){ MIB, MIB });
			char arg[16];
			snprintf(arg, sizeof(arg), "%d", kib);
			execl(self, self, "stack", arg, (char *)NULL);
			_exit(127);
		}
		char what[64];
		snprintf(what, sizeof(what), "stack: %d KiB of frames under a 1 MiB RLIMIT_STACK", kib);
		end_of(what, c);
	}
}

static void nproc_limit(void)
{
	pid_t c = fork();
	if (c == 0) {
		setrlimit(RLIMIT_NPROC, &(struct rlimit){ 3, 3 });
		if (geteuid() != 0) { /* a user's tasks outside the sandbox count natively, not inside */
			printf("nproc: not root\n");
			_exit(0);
		}
		pid_t k = fork();
		if (k == 0)
			_exit(0);
		printf("nproc: root forks past the limit: %s\n", ok(k < 0));
		fflush(stdout);
		waitpid(k, NULL, 0);
		if (setresgid(54321, 54321, 54321) < 0 || setresuid(54321, 54321, 54321) < 0) {
			printf("nproc: cannot become another user\n");
			_exit(0);
		}
		pid_t kids[8];
		int n = 0;
		for (; n < 8; n++) {
			kids[n] = fork();
			if (kids[n] == 0) {
				pause();
				_exit(0);
			}
			if (kids[n] < 0)
				break;
		}
		printf("nproc: forks of user 54321 under a limit of 3: %d, then %s\n", n, strerrorname_np(errno));
		fflush(stdout);
		for (int i = 0; i < n; i++) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		_exit(0);
	}
	end_of("nproc", c);
}

static void on_xcpu(int sig)
{
	(void)sig;
	static const char m[] = "cpu: SIGXCPU\n";
	if (write(1, m, sizeof(m) - 1) < 0)
		_exit(3);
}

static void cpu_limit(void)
{
	pid_t c = fork();
	if (c == 0) {
		signal(SIGXCPU, on_xcpu);
		setrlimit(RLIMIT_CPU, &(struct rlimit){ 1, 2 });
		for (volatile unsigned long i = 0;; i++)
			;
	}
	end_of("cpu: spinning past the hard limit", c);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "stack") == 0) {
		recurse(atoi(argv[2]) / 4);
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	data_limit();
	stack_limit(argv[0]);
	nproc_limit();
	cpu_limit();
	return 0;
}
