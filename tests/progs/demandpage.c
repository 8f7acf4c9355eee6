// SPDX-License-Identifier: Apache-2.0
// Test program: memory populated on first touch. Huge sparse reservations (mprotect a little and touch
// it), SIGSEGV codes on reserved and unmapped addresses, syscalls reading and writing memory nobody
// touched yet (read, write, process_vm_readv, /proc/self/mem, futex), fork of partly populated
// memory, mremap, MADV_DONTNEED, MAP_POPULATE, mlock, a signal on an untouched altstack, threads
// faulting one page together, and VmRSS following what is touched. Prints what it sees; the output is
// the same on Linux.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1ul << 20)

static sigjmp_buf jb;
static volatile int seg_code;
static void *volatile seg_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	seg_code = si->si_code;
	seg_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* Touch @p (write if @wr): "ok", or the SIGSEGV's code and whether si_addr is @p. */
static const char *probe(volatile char *p, int wr)
{
	static char out[64];
	if (sigsetjmp(jb, 1) == 0) {
		if (wr)
			*p = 1;
		else
			(void)*p;
		return "ok";
	}
	snprintf(out, sizeof(out), "SIGSEGV %s addr %s", seg_code == SEGV_MAPERR ? "MAPERR" : seg_code == SEGV_ACCERR ? "ACCERR" : "?",
		 seg_addr == (void *)p ? "right" : "wrong");
	return out;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static char *page_shared;
static void *toucher(void *arg)
{
	long k = (long)arg;
	page_shared[k * 64] = (char)(k + 1);
	return NULL;
}

static int altstack_ran;
static void on_usr1(int sig)
{
	volatile char buf[256];
	buf[0] = (char)sig;
	altstack_ran = buf[0] == SIGUSR1;
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigaction(SIGSEGV, &sa, NULL);

	/* A 64 GiB reservation (JVM/V8 style): a little of it made accessible and touched. */
	char *res = mmap(NULL, 64ul << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	printf("reserve 64 GiB: %s\n", res == MAP_FAILED ? strerror(errno) : "ok");
	if (res == MAP_FAILED)
		return 1;
	printf("reserved read: %s\n", probe(res + 5 * MiB, 0));
	printf("mprotect: %d\n", mprotect(res + 32 * MiB, 2 * MiB, PROT_READ | PROT_WRITE));
	memset(res + 32 * MiB, 7, 2 * MiB);
	printf("touched: %d %d\n", res[32 * MiB], res[34 * MiB - 1]);
	printf("past it: %s\n", probe(res + 34 * MiB, 1));
	int ro = mprotect(res + 32 * MiB, MiB, PROT_READ);
	printf("read-only: %d %s\n", ro, probe(res + 32 * MiB, 1));
	printf("unmapped: %s\n", probe(res - 4096 * 16, 0));
	printf("munmap: %d\n", munmap(res, 64ul << 30));
	printf("after munmap: %s\n", probe(res + 32 * MiB, 0));

	/* Syscalls on memory nobody touched. */
	char *m = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int p[2];
	pipe(p);
	printf("write from untouched: %zd\n", write(p[1], m + 3 * MiB, 100));
	printf("read into untouched: %zd\n", read(p[0], m + 5 * MiB + 17, 100));
	printf("zeroes: %d\n", m[5 * MiB + 17] == 0 && m[5 * MiB + 116] == 0);
	write(p[1], "hello", 5);
	printf("read again: %zd %.5s\n", read(p[0], m + 6 * MiB + 4000, 5), m + 6 * MiB + 4000);
	char src[16] = "vm_readv", *big = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec l = { big + 40 * MiB, 9 }, r = { src, 9 };
	printf("process_vm_readv: %zd %s\n", process_vm_readv(getpid(), &l, 1, &r, 1, 0), big + 40 * MiB);
	int mem = open("/proc/self/mem", O_RDWR);
	printf("/proc/self/mem: %zd %s\n", pread(mem, big + 50 * MiB, 9, (off_t)(uintptr_t)src), big + 50 * MiB);
	printf("/proc/self/mem write: %zd %s\n", pwrite(mem, "poked", 6, (off_t)(uintptr_t)(big + 60 * MiB)), big + 60 * MiB);
	close(mem);
	struct timespec ts = { 0, 1000 };
	long fr = syscall(SYS_futex, big + 20 * MiB, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
	printf("futex on untouched: %ld %s\n", fr, fr < 0 && errno == EAGAIN ? "EAGAIN" : "?");

	/* Fork of partly populated memory: copy-on-write of what is there, zeroes of what is not. */
	memset(m, 'a', MiB);
	pid_t c = fork();
	if (c == 0) {
		int ok = m[0] == 'a' && m[MiB - 1] == 'a' && m[MiB] == 0 && m[7 * MiB] == 0;
		m[0] = 'c';
		m[7 * MiB] = 'c';
		_exit(ok ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	printf("fork: child %d, parent sees %c %d\n", WEXITSTATUS(st), m[0], m[7 * MiB]);

	/* mremap: grow and move a partly populated mapping. */
	memset(m + 2 * MiB, 'r', 4096);
	char *g = mremap(m, 8 * MiB, 64 * MiB, MREMAP_MAYMOVE);
	printf("mremap: %s %c %c %d %d\n", g == MAP_FAILED ? "failed" : "ok", g[0], g[2 * MiB], g[3 * MiB], g[40 * MiB]);
	g[63 * MiB] = 'e';
	char *h = mremap(g + 2 * MiB, MiB, MiB, MREMAP_MAYMOVE | MREMAP_FIXED, big + 10 * MiB);
	printf("mremap fixed: %c %d\n", h[0], h[4096]);

	/* MADV_DONTNEED: zeroes again, on demand. */
	g[5 * MiB] = 'x';
	int dn = madvise(g + 4 * MiB, 4 * MiB, MADV_DONTNEED);
	printf("dontneed: %d %d %d\n", dn, g[5 * MiB], g[0]);

	/* MAP_POPULATE and mlock. */
	char *pop = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	printf("populate: %d\n", pop[4096]);
	char *lk = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ml = mlock(lk, 64 * 1024);
	printf("mlock: %d %d\n", ml, lk[100]);

	/* A signal delivered on an altstack nobody touched. */
	stack_t ss = { .ss_sp = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		       .ss_size = 64 * 1024 };
	sigaltstack(&ss, NULL);
	struct sigaction su = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK };
	sigaction(SIGUSR1, &su, NULL);
	raise(SIGUSR1);
	printf("altstack: %d\n", altstack_ran);

	/* Threads faulting the same untouched page at once. */
	page_shared = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) + 33 * MiB;
	pthread_t th[8];
	for (long k = 0; k < 8; k++)
		pthread_create(&th[k], NULL, toucher, (void *)k);
	int all = 1;
	for (long k = 0; k < 8; k++) {
		pthread_join(th[k], NULL);
		all &= page_shared[k * 64] == k + 1;
	}
	printf("threads: %d\n", all);

	/* VmRSS follows what is touched: 1 GiB mapped, 32 MiB of it touched. */
	long before = rss_kb();
	char *gig = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long mapped = rss_kb();
	for (size_t o = 0; o < 32 * MiB; o += 4096)
		gig[256 * MiB + o] = 1;
	long touched = rss_kb();
	printf("rss: mapping adds < 4 MiB: %d; touching 32 MiB adds 28-40 MiB: %d\n", mapped - before < 4096,
	       touched - mapped >= 28 * 1024 && touched - mapped <= 40 * 1024);

	/* Memory freed and mapped again reads as zero (cvisor keeps freed pages committed and zeroes them
	 * in place): sizes around the fault window, every page, some touched and some not, a fork between. */
	static const size_t sizes[] = { 4096, 64 << 10, 1 * MiB, 3 * MiB + 4096, 2 * MiB };
	static char zero[4096];
	int zeroed = 1;
	for (int round = 0; round < 40; round++) {
		size_t len = sizes[round % 5];
		unsigned char *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (size_t o = 0; o < len; o += 4096)
			zeroed &= memcmp(q + o, zero, 4096) == 0;
		for (size_t o = 0; o < len; o += 4096)
			if (round % 3 || (o / 4096) % 3)
				memset(q + o, 0xa5 ^ round, 4096);
		if (round % 8 == 7) {
			pid_t c = fork();
			if (c == 0)
				_exit(q[0] == (round % 3 ? (0xa5 ^ round) : 0));
			int st;
			waitpid(c, &st, 0);
			zeroed &= WIFEXITED(st) && WEXITSTATUS(st) == 1;
		}
		munmap(q, len);
	}
	printf("freed and mapped again: zeroes: %d\n", zeroed);
	return 0;
}
