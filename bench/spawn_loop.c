// SPDX-License-Identifier: Apache-2.0
// bench/workloads.sh: N posix_spawn of a program, each waited for — how glibc's system() and popen(),
// make, gcc and CPython's subprocess start programs (clone(CLONE_VM|CLONE_VFORK), then execve).
// Usage: spawn_loop [N (200)] [PROGRAM (/bin/true)]
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	char *prog = argc > 2 ? argv[2] : "/bin/true";
	char *args[] = { prog, NULL };
	for (int i = 0; i < n; i++) {
		pid_t pid;
		if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0)
			return 1;
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 2;
	}
	return 0;
}
