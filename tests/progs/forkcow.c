// SPDX-License-Identifier: Apache-2.0
// Guest program: fork() shares private memory copy-on-write — every way a process or the kernel can
// write it (the program itself, read(2) into it, syscall results, signal frames, another thread's
// read in progress, madvise) must leave the other process's copy untouched; and mremap/madvise.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG (8u << 20)
static char global[3 * 4096] = "global data";
static unsigned char *big;
static sigjmp_buf jb;
static volatile int handled;

static void on_segv(int sig)
{
	siglongjmp(jb, sig);
}

static void on_usr1(int sig)
{
	handled = sig;
}

/* Does reading @p fault? */
static int faults(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

static unsigned long sum(const unsigned char *p, size_t n)
{
	unsigned long s = 0;
	for (size_t i = 0; i < n; i += 4096)
		s = s * 31 + p[i] + p[i + 4095];
	return s;
}

static void fill(unsigned char *p, size_t n, int seed)
{
	for (size_t i = 0; i < n; i += 4096) {
		p[i] = (unsigned char)(seed + i / 4096);
		p[i + 4095] = (unsigned char)(seed * 7 + i / 4096);
	}
}

static int wait_child(pid_t c)
{
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The child writes everywhere; the parent checks its own copy is untouched, then writes too. */
static void writes_stay_private(void)
{
	char stackbuf[20000];
	strcpy(stackbuf, "stack data");
	fill(big, BIG, 1);
	unsigned long before = sum(big, BIG);
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		fill(big + 4096 * 100, 4096 * 50, 9);   /* a run of pages */
		big[BIG - 1] = 0xee;                      /* the last page */
		strcpy(global, "child global");
		strcpy(stackbuf + 10000, "child stack");
		char msg[64];
		snprintf(msg, sizeof(msg), "%s|%s|%d", global, stackbuf + 10000, big[BIG - 1]);
		_exit(write(p[1], msg, strlen(msg)) > 0 ? 0 : 1);
	}
	char got[64] = { 0 };
	int n = (int)read(p[0], got, sizeof(got) - 1);
	printf("child wrote its copy: %.*s (exit %d)\n", n, got, wait_child(c));
	printf("parent copy untouched: %s %s %d %s\n", global, stackbuf, big[BIG - 1],
	       sum(big, BIG) == before ? "same" : "CHANGED");
	fill(big, BIG, 3); /* the parent writes after the child is gone: its pages are its own again */
	printf("parent writes after: %s\n", sum(big, BIG) != before ? "ok" : "unchanged?");
	close(p[0]);
	close(p[1]);
}

/* The kernel writes into shared copy-on-write memory: read(2), pipe(2), clock_gettime(2), a frame. */
static void kernel_writes_stay_private(void)
{
	static char buf[3 * 4096];
	static int fds[2] = { -7, -7 };
	memset(buf, 'p', sizeof(buf));
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		char chunk[8192];
		memset(chunk, 'c', sizeof(chunk));
		if (write(p[1], chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			_exit(1);
		if (pipe(fds) < 0)       /* results written into a copy-on-write page */
			_exit(2);
		signal(SIGUSR1, on_usr1); /* a signal frame on a copy-on-write stack */
		raise(SIGUSR1);
		_exit(handled == SIGUSR1 && fds[0] >= 0 && buf[0] == 'p' ? 0 : 3);
	}
	ssize_t n = 0, r;
	while (n < 8192 && (r = read(p[0], buf + 100 + n, (size_t)(8192 - n))) > 0)
		n += r; /* the parent reads into its copy while the child still shares it */
	int st = wait_child(c);
	printf("read %zd into the parent's copy: %c%c%c, child exit %d, parent's fds untouched: %d %d\n", n,
	       buf[99], buf[100], buf[100 + 8191], st, fds[0], fds[1]);
	close(p[0]);
	close(p[1]);
}

struct reader {
	int fd;
	unsigned char *buf;
	ssize_t got;
};

static void *read_thread(void *arg)
{
	struct reader *r = arg;
	r->got = 0;
	ssize_t n;
	while (r->got < 65536 && (n = read(r->fd, r->buf + r->got, (size_t)(65536 - r->got))) > 0)
		r->got += n;
	return NULL;
}

/* A thread blocked in read(2) into a buffer while another thread forks: the data is the parent's. */
static void fork_during_read(void)
{
	unsigned char *buf = malloc(65536);
	memset(buf, 'z', 65536);
	int p[2];
	if (!buf || pipe(p) < 0)
		return;
	struct reader r = { p[0], buf, 0 };
	pthread_t th;
	pthread_create(&th, NULL, read_thread, &r);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL); /* let it block in read */
	pid_t c = fork();
	if (c == 0) {
		nanosleep(&ts, NULL);
		_exit(buf[0] == 'z' || buf[0] == 'd' ? 0 : 1);
	}
	unsigned char data[65536];
	memset(data, 'd', sizeof(data));
	if (write(p[1], data, sizeof(data)) != (ssize_t)sizeof(data))
		printf("short write\n");
	pthread_join(th, NULL);
	int ok = 1;
	for (int i = 0; i < 65536; i++)
		ok &= buf[i] == 'd';
	printf("fork during a read: the parent got %zd bytes, all its own: %d, child exit %d\n", r.got, ok,
	       wait_child(c));
	free(buf);
	close(p[0]);
	close(p[1]);
}

/* Three generations each writing the same pages. */
static void generations(void)
{
	static char word[4096];
	strcpy(word, "first");
	pid_t c = fork();
	if (c == 0) {
		strcpy(word, "second");
		pid_t g = fork();
		if (g == 0) {
			strcpy(word, "third");
			_exit(strcmp(word, "third") == 0 ? 0 : 1);
		}
		int st = wait_child(g);
		_exit(st == 0 && strcmp(word, "second") == 0 ? 0 : 2);
	}
	printf("three generations: child exit %d, parent still %s\n", wait_child(c), word);
}

static void remap(void)
{
	long pg = 4096;
	char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 4; i++)
		a[i * pg] = (char)('A' + i);
	char *b = mremap(a, 4 * pg, 2 * pg, 0); /* shrink in place */
	printf("mremap shrink: %s, tail unmapped: %d\n", b == a ? "same address" : "moved", faults(a + 3 * pg));
	/* Block growing in place, then grow with MAYMOVE: the pages move, no copy needed. */
	char *block = mmap(a + 2 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	errno = 0;
	void *noway = mremap(a, 2 * pg, 8 * pg, 0);
	printf("grow without MAYMOVE: %s %s\n", noway == MAP_FAILED ? "failed" : "?", strerror(errno));
	char *m = mremap(a, 2 * pg, 8 * pg, MREMAP_MAYMOVE);
	printf("grow with MAYMOVE: %s, data %c%c, new part %d, old gone %d\n", m != a ? "moved" : "same?", m[0],
	       m[pg], m[7 * pg], faults(a));
	munmap(block, pg);
	/* Grow in place when the addresses after it are free. */
	char *g = mmap(NULL, 16 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(g + pg, 15 * pg);
	mprotect(g, pg, PROT_READ | PROT_WRITE);
	g[0] = 'g';
	char *g2 = mremap(g, pg, 4 * pg, 0);
	printf("grow in place: %s %c\n", g2 == g ? "same address" : "moved?", g2[0]);
	/* MREMAP_FIXED onto another mapping, and DONTUNMAP leaving zeroes behind. */
	char *t = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t[0] = 't';
	char *f = mremap(m, 8 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	printf("FIXED: %s %c%c\n", f == t ? "at the target" : "elsewhere?", f[0], f[pg]);
	char *k = mremap(f, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	printf("DONTUNMAP: moved %c%c, old reads %d %d\n", k[0], k[pg], f[0], f[pg]);
	/* A shared mapping moved: still shared with a child. */
	int *sh = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *sh2 = mremap(sh, pg, 2 * pg, MREMAP_MAYMOVE);
	pid_t c = fork();
	if (c == 0) {
		sh2[0] = 42;
		_exit(0);
	}
	wait_child(c);
	printf("moved shared mapping still shared: %d\n", sh2[0]);
	char *hole = mmap(NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 4 * pg);
	const char *e[4];
	e[0] = mremap(a + 1, pg, pg, 0) == MAP_FAILED ? strerror(errno) : "?";
	e[1] = mremap(hole, pg, 2 * pg, MREMAP_MAYMOVE) == MAP_FAILED ? strerror(errno) : "?";
	e[2] = mremap(k, pg, pg, MREMAP_FIXED) == MAP_FAILED ? strerror(errno) : "?";
	e[3] = mremap(k, pg, 0, MREMAP_MAYMOVE) == MAP_FAILED ? strerror(errno) : "?";
	printf("errors: %s, %s, %s, %s\n", e[0], e[1], e[2], e[3]);
}

/* madvise(@p, @len, @advice), then its result and errno as text. */
static const char *adv(void *p, size_t len, int advice)
{
	static char out[4][64];
	static int n;
	errno = 0;
	int r = madvise(p, len, advice);
	char *o = out[n++ % 4];
	snprintf(o, 64, "%d %s", r, r ? strerror(errno) : "");
	return o;
}

static void advise(void)
{
	long pg = 4096;
	char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(a, 'a', 4 * pg);
	const char *r = adv(a + pg, 2 * pg, MADV_DONTNEED);
	printf("DONTNEED: %s, then %d %c\n", r, a[pg], a[0]);
	/* After fork, DONTNEED in the child drops only the child's copy. */
	memset(a, 'b', 4 * pg);
	pid_t c = fork();
	if (c == 0) {
		madvise(a, 4 * pg, MADV_DONTNEED);
		_exit(a[0] == 0 && a[3 * pg] == 0 ? 0 : 1);
	}
	int st = wait_child(c);
	printf("child DONTNEED: exit %d, parent still %c%c\n", st, a[0], a[3 * pg]);
	/* Shared memory keeps its data under DONTNEED; MADV_REMOVE empties it for everyone. */
	char *s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s[0] = 's';
	r = adv(s, pg, MADV_DONTNEED);
	printf("shared DONTNEED: %s %c", r, s[0]);
	r = adv(s, pg, MADV_REMOVE);
	printf(", REMOVE: %s %d\n", r, s[0]);
	/* WIPEONFORK: the child sees zeroes; DONTFORK: the child has no mapping. */
	char *w = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *d = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w[0] = 'w';
	d[0] = 'd';
	r = adv(w, pg, MADV_WIPEONFORK);
	printf("WIPEONFORK %s, DONTFORK %s\n", r, adv(d, pg, MADV_DONTFORK));
	c = fork();
	if (c == 0)
		_exit(w[0] == 0 && faults(d) ? 0 : 1);
	printf("child saw zeroes and no mapping: exit %d; parent %c%c\n", wait_child(c), w[0], d[0]);
	madvise(d, pg, MADV_DOFORK);
	c = fork();
	if (c == 0)
		_exit(d[0] == 'd' ? 0 : 1);
	printf("after DOFORK: exit %d\n", wait_child(c));
	const char *e[6];
	e[0] = adv(a + 1, pg, MADV_DONTNEED);
	e[1] = adv(a, pg, 12345);
	e[2] = adv(s, pg, MADV_WIPEONFORK);
	e[3] = adv(a, pg, MADV_REMOVE);
	printf("errors: %s, %s, %s, %s\n", e[0], e[1], e[2], e[3]);
	munmap(a + pg, pg);
	e[4] = adv(a, 3 * pg, MADV_WILLNEED);
	e[5] = adv(a, 3 * pg, MADV_DONTNEED);
	printf("with a hole: %s, %s, then %d\n", e[4], e[5], a[0]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGSEGV, on_segv);
	big = malloc(BIG);
	if (!big)
		return 1;
	writes_stay_private();
	kernel_writes_stay_private();
	fork_during_read();
	generations();
	remap();
	advise();
	return 0;
}
