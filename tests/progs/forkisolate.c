// SPDX-License-Identifier: Apache-2.0
// Guest program: after fork() each process writes at once, while the other still runs, to memory both
// had before: a heap page, initialized data, the stack, a small and a large anonymous mapping. Neither
// may ever see the other's writes (a backend that keeps a stale writable translation after fork's
// write protection lets one process write into the other's page). Dynamic and static glibc both keep
// malloc's state on such pages, so the heap check also runs malloc in both.
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 20
static volatile long data_word = 1;

static void report(const char *who, int round, long heap, long data, long stack, long small, long large, int mallocs)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "%s round %d: heap %ld data %ld stack %ld small %ld large %ld malloc %d\n",
			 who, round, heap, data, stack, small, large, mallocs);
	if (write(1, line, (size_t)n) != n)
		_exit(3);
}

int main(void)
{
	long *heap = malloc(64);
	volatile long *small = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile long *large = mmap(NULL, 1 << 22, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!heap || small == MAP_FAILED || large == MAP_FAILED)
		return 1;
	for (int round = 0; round < ROUNDS; round++) {
		volatile long stack = 1;
		*(volatile long *)heap = 1, data_word = 1, small[0] = 1, large[1 << 18] = 1;
		int go[2], done[2];
		if (pipe(go) < 0 || pipe(done) < 0)
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		int writer_is_child = round & 1;
		bool child = pid == 0;
		char c = 0;
		if (child == writer_is_child) { /* write at once, then let the other look */
			long v = child ? 2 : 3;
			*(volatile long *)heap = v, data_word = v, stack = v, small[0] = v, large[1 << 18] = v;
			char *m = malloc(100);
			if (m)
				memset(m, 'w', 100);
			if (write(go[1], "g", 1) != 1 || read(done[0], &c, 1) != 1)
				_exit(4);
			free(m);
		} else { /* look only after the other wrote: still 1 everywhere */
			if (read(go[0], &c, 1) != 1)
				_exit(4);
			char *m = malloc(100);
			report(child ? "child" : "parent", round, *(volatile long *)heap, data_word, stack, small[0],
			       large[1 << 18], m != NULL);
			free(m);
			if (write(done[1], "d", 1) != 1)
				_exit(4);
		}
		if (child)
			_exit(0);
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("round %d: child status %#x\n", round, st);
			return 1;
		}
		close(go[0]), close(go[1]), close(done[0]), close(done[1]);
	}
	printf("parent after all: heap %ld data %ld\n", *(volatile long *)heap, data_word);
	return 0;
}
