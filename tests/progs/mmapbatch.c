// SPDX-License-Identifier: Apache-2.0
// Test program: mappings used the moment mmap returns, in every way the sentry may have held their
// install back (sentry/mm/mm_defer.c) — a loader's reservation with segments and a bss over it, a touch
// with no syscall in between, another thread's touch, a syscall reading the new memory, munmap and
// mprotect before any touch, fork, a long run of mmaps, a shared mapping written then read back with
// pread, execve right after an mmap. Prints what it sees; the output is the same on Linux.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096ul
#define FILE_PAGES 128

static sigjmp_buf jb;
static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* Read a byte at @p: its value, or -1 for a SIGSEGV. */
static int peek(volatile unsigned char *p)
{
	if (sigsetjmp(jb, 1) == 0)
		return *p;
	return -1;
}

static int poke(volatile unsigned char *p, unsigned char v)
{
	if (sigsetjmp(jb, 1) == 0) {
		*p = v;
		return 0;
	}
	return -1;
}

/* Page i of the file holds byte (i * 7 + 1) & 0xff everywhere. */
static unsigned char want(unsigned long page)
{
	return (unsigned char)(page * 7 + 1);
}

static int make_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unsigned char buf[PG];
	for (unsigned long i = 0; i < FILE_PAGES; i++) {
		memset(buf, want(i), sizeof(buf));
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return -1;
	}
	return fd;
}

static volatile unsigned char *volatile published, *volatile acked;
static volatile int stop_reader;

/* Reads each mapping published (before the main thread's next syscall, if it gets there first) and
 * acknowledges it; the main thread unmaps it only then. */
static void *reader(void *arg)
{
	(void)arg;
	long wrong = 0;
	while (!stop_reader) {
		volatile unsigned char *p = published;
		if (!p || p == acked)
			continue;
		wrong += p[5 * PG + 3] != want(5);
		acked = p;
	}
	return (void *)(wrong ? -1l : 0l);
}

int main(void)
{
	char path[] = "/tmp/cvt-mmapbatch-XXXXXX";
	int tfd = mkstemp(path);
	if (tfd < 0)
		return 1;
	close(tfd);
	int fd = make_file(path);
	if (fd < 0)
		return 1;
	signal(SIGSEGV, on_segv);

	/* A loader's pattern: a reservation of the file, a segment over part of it, a private writable
	 * page read from the file, a bss, then the first touches with no syscall in between. */
	unsigned char *r = mmap(NULL, 8 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	unsigned char *seg = mmap(r + 2 * PG, 2 * PG, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 10 * PG);
	unsigned char *data = mmap(r + 4 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 20 * PG);
	unsigned char *bss = mmap(r + 5 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
	int ok = seg == r + 2 * PG && data == r + 4 * PG && bss == r + 5 * PG;
	data[100] = 0x55;
	printf("loader: placed %d, pages %d %d %d %d %d %d %d %d, data written %d\n", ok, peek(r), peek(r + PG),
	       peek(r + 2 * PG), peek(r + 3 * PG + 9), peek(r + 4 * PG), peek(r + 5 * PG), peek(r + 6 * PG + 4095),
	       peek(r + 7 * PG), data[100]);
	munmap(r, 8 * PG);
	printf("after munmap: %d\n", peek(r + 2 * PG));

	/* Unmapped, and made read-only, before any touch. */
	unsigned char *g = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	munmap(g + PG, PG);
	printf("hole: %d %d %d\n", peek(g), peek(g + PG), peek(g + 2 * PG));
	munmap(g, 4 * PG);
	unsigned char *w = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * PG);
	mprotect(w, 2 * PG, PROT_READ);
	printf("read-only: read %d, write %d\n", peek(w + 5), poke(w + 5, 9));
	munmap(w, 2 * PG);

	/* A syscall reading the new mapping (a pipe write), and fork right after an mmap. */
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	unsigned char *m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 7 * PG);
	unsigned char got[16] = { 0 };
	ssize_t wr = write(pfd[1], m + 10, sizeof(got));
	ssize_t rd = read(pfd[0], got, sizeof(got));
	printf("pipe: wrote %zd, read %zd, byte %d (want %d)\n", wr, rd, got[15], want(7));
	unsigned char *cw = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 9 * PG);
	pid_t pid = fork();
	if (pid == 0) {
		cw[0] = 0xaa;
		_exit(m[1] == want(7) && cw[1] == want(9) && cw[0] == 0xaa ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("fork: child %s, parent sees %d (want %d)\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "wrong",
	       cw[0], want(9));

	/* A long run of mmaps, one page each over a reservation, then every page read. */
	unsigned char *big = mmap(NULL, FILE_PAGES * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (unsigned long i = 0; i < FILE_PAGES; i++)
		mmap(big + i * PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, (FILE_PAGES - 1 - i) * PG);
	long wrong = 0;
	for (unsigned long i = 0; i < FILE_PAGES; i++)
		wrong += peek(big + i * PG + 17) != want(FILE_PAGES - 1 - i);
	printf("run of %d mmaps: %ld wrong\n", FILE_PAGES, wrong);
	munmap(big, FILE_PAGES * PG);

	/* A shared mapping written through, then read back from the file. */
	unsigned char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 30 * PG);
	sh[1] = 0x77;
	unsigned char b = 0;
	ssize_t n = pread(fd, &b, 1, 30 * PG + 1);
	printf("shared: pread %zd byte %d\n", n, b);
	munmap(sh, PG);

	/* Another thread touching mappings as soon as they are published. */
	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	for (int i = 0; i < 300; i++) {
		unsigned char *p = mmap(NULL, 8 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
		published = p;
		int mine = p[5 * PG + 3] == want(5); /* (racing the reader's touch) */
		while (acked != p)
			;
		published = NULL;
		if (!mine)
			printf("threads: wrong in the main thread\n");
		munmap(p, 8 * PG);
	}
	stop_reader = 1;
	void *res;
	pthread_join(th, &res);
	printf("threads: %s\n", res ? "wrong" : "ok");

	/* execve right after an mmap: the new program starts clean. */
	unsigned char *last = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	(void)last;
	unlink(path);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
		execl("/bin/sh", "sh", "-c", "echo exec: ok", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return 0;
}
