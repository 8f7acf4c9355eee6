// SPDX-License-Identifier: Apache-2.0
// bench/floors.sh: the machine's primitive costs, one per run, each the median of its repetitions —
// the numbers every workload's floor on a machine is made of (a VM's page faults, process creation
// and context switches can cost ten times bare metal's). Run natively and under `cvisor run`, the same
// binary gives the sandbox's cost of each primitive beside the host's.
// Usage: floors WHAT [N]
//   fault-anon   µs per first touch of a fresh anonymous page (N pages, 4096)
//   fault-file   µs per fault on a cached file mapping, touching every 16th page (a fault maps its
//                neighbours), and µs per page touching all of them (N: the file, /proc/self/exe)
//   fork         µs per fork, _exit and waitpid of this small process (N times, 50)
//   spawn        µs per fork, execve of /bin/true and waitpid (N times, 30)
//   pipe         µs per round trip of one byte between two processes over two pipes (N, 20000)
//   getpid       ns per getpid (N calls, 1000000)
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static int fault_anon(long n)
{
	volatile char *p = mmap(NULL, (size_t)n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	double t = now_us();
	for (long i = 0; i < n; i++)
		p[i * 4096] = 1;
	printf("fault-anon: %.2f us per page\n", (now_us() - t) / (double)n);
	return 0;
}

static int fault_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 64 * 4096)
		return 1;
	long pages = st.st_size / 4096;
	volatile char sum = 0;
	char *buf = malloc(65536);
	while (buf && read(fd, buf, 65536) > 0) /* in the page cache first */
		;
	free(buf);
	const volatile char *a = mmap(NULL, (size_t)pages * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	const volatile char *b = mmap(NULL, (size_t)pages * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return 1;
	double t = now_us();
	for (long i = 0; i < pages; i += 16)
		sum += a[i * 4096];
	double sparse = (now_us() - t) / (double)((pages + 15) / 16);
	t = now_us();
	for (long i = 0; i < pages; i++)
		sum += b[i * 4096];
	printf("fault-file: %.2f us per fault, %.2f us per page touching all\n", sparse, (now_us() - t) / (double)pages);
	return 0;
}

static int fork_loop(int n, int spawn)
{
	double *v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return 1;
	for (int i = 0; i < n; i++) {
		double t = now_us();
		pid_t pid = fork();
		if (pid == 0) {
			if (spawn)
				execl("/bin/true", "true", (char *)NULL);
			_exit(spawn ? 127 : 0);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return 1;
		v[i] = now_us() - t;
	}
	printf("%s: %.0f us\n", spawn ? "spawn" : "fork", median(v, n));
	return 0;
}

static int pipe_loop(int n)
{
	int a[2], b[2];
	if (pipe(a) < 0 || pipe(b) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		for (int i = 0; i < n; i++)
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	char c = 0;
	double t = now_us();
	for (int i = 0; i < n; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			return 1;
	double us = (now_us() - t) / n;
	waitpid(pid, NULL, 0);
	printf("pipe: %.2f us per round trip\n", us);
	return 0;
}

static int getpid_loop(long n)
{
	double t = now_us();
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	printf("getpid: %.0f ns per call\n", (now_us() - t) * 1e3 / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;
	if (strcmp(what, "fault-anon") == 0)
		return fault_anon(n > 0 ? n : 4096);
	if (strcmp(what, "fault-file") == 0)
		return fault_file(argc > 2 ? argv[2] : "/proc/self/exe");
	if (strcmp(what, "fork") == 0)
		return fork_loop(n > 0 ? (int)n : 50, 0);
	if (strcmp(what, "spawn") == 0)
		return fork_loop(n > 0 ? (int)n : 30, 1);
	if (strcmp(what, "pipe") == 0)
		return pipe_loop(n > 0 ? (int)n : 20000);
	if (strcmp(what, "getpid") == 0)
		return getpid_loop(n > 0 ? n : 1000000);
	fprintf(stderr, "usage: floors fault-anon|fault-file|fork|spawn|pipe|getpid [N]\n");
	return 2;
}
