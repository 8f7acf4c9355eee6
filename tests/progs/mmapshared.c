// SPDX-License-Identifier: Apache-2.0
// Guest program: MAP_SHARED file mappings are the file itself — writes through a mapping reach the
// file, other mappings and forked children, file writes show in the mapping, the fd's mode limits the
// protection, past the end is SIGBUS — plus /dev/zero shared memory and mmap's argument errors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

/* The signal reading @p raises, or 0. */
static int probe(volatile char *p)
{
	int sig = sigsetjmp(jb, 1);
	if (sig)
		return sig;
	(void)*p;
	return 0;
}

static const char *err(void *r)
{
	return r == MAP_FAILED ? strerror(errno) : "mapped";
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGBUS, on_fault);
	signal(SIGSEGV, on_fault);
	char path[] = "/tmp/cvisor-shared-XXXXXX";
	int fd = mkstemp(path);
	char page[2 * PG];
	memset(page, '.', sizeof(page));
	memcpy(page, "file start", 10);
	if (fd < 0 || write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
		return 1;
	char *a = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return 2;
	memcpy(a + 100, "via mapping a", 13);
	char got[16] = { 0 };
	pread(fd, got, 13, 100);
	printf("file sees the mapping's write: %s; mapping b too: %.13s\n", got, b + 100);
	pwrite(fd, "via write(2)", 12, PG + 7);
	printf("mappings see the file's write: %.12s %.12s\n", a + PG + 7, b + PG + 7);

	pid_t c = fork();
	if (c == 0) {
		memcpy(a + 200, "from the child", 14);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("the child's write is shared: %.14s\n", a + 200);

	/* The kernel reading from and writing into a shared file mapping. */
	int p[2];
	pipe(p);
	write(p[1], a, 10);
	memset(got, 0, sizeof(got));
	read(p[0], got, 10);
	write(p[1], "PIPED", 5);
	read(p[0], a + 300, 5);
	memset(got + 10, 0, 6);
	char back[6] = { 0 };
	pread(fd, back, 5, 300);
	printf("write(2) from it: %s; read(2) into it reaches the file: %s\n", got, back);

	/* A private mapping: untouched pages show the file's later writes; its own writes never reach
	 * the file, and from then on the page is its own. */
	char *pv = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	pwrite(fd, "LIVE", 4, 50);
	printf("a private mapping sees a later file write: %.4s", pv + 50);
	mprotect(pv, PG, PROT_READ | PROT_WRITE);
	pv[60] = 'X';
	pwrite(fd, "LATE", 4, 70);
	char at60 = 0;
	pread(fd, &at60, 1, 60);
	printf("; its write stays private: %c %c; then its copy keeps: %.4s\n", pv[60], at60, pv + 70);

	/* The fd's mode limits the protection. */
	int ro = open(path, O_RDONLY);
	errno = 0;
	void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	printf("writable shared mapping of a read-only fd: %s\n", err(w));
	char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
	errno = 0;
	int pr = mprotect(r, PG, PROT_READ | PROT_WRITE);
	printf("mprotect it writable: %d %s; private writable is fine: %s\n", pr, pr ? strerror(errno) : "",
	       err(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0)));

	/* Past the end of the file: SIGBUS; growing the file and the mapping shows the new part. */
	char *big = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("past the end: signal %d", probe(big + 3 * PG));
	pwrite(fd, "grown", 5, 3 * PG);
	printf(", after growing the file: %d %.5s\n", probe(big + 3 * PG), big + 3 * PG);
	char *moved = mremap(a, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
	printf("mremap grows it over the file: %.5s %.10s\n", moved + 3 * PG, moved);
	msync(moved, 4 * PG, MS_SYNC);
	munmap(moved, 4 * PG);
	munmap(big, 4 * PG);
	munmap(b, 2 * PG);
	memset(got, 0, sizeof(got));
	pread(fd, got, 14, 200);
	printf("after munmap the file keeps: %s\n", got);

	/* /dev/zero shared: anonymous shared memory, shared with a child. */
	int z = open("/dev/zero", O_RDWR);
	int *zs = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	c = fork();
	if (c == 0) {
		zs[1] = 77;
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("/dev/zero shared with the child: %d %d\n", zs[0], zs[1]);

	const char *e[4];
	e[0] = err(mmap(zs, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
	e[1] = err(mmap((char *)zs + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	e[2] = err(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0));
	e[3] = err(mmap(NULL, PG, PROT_READ, MAP_SHARED, 999, 0));
	printf("errors: %s, %s, %s, %s\n", e[0], e[1], e[2], e[3]);
	unlink(path);
	return 0;
}
