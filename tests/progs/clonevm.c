// SPDX-License-Identifier: Apache-2.0
// Guest program: clone(CLONE_VM) without CLONE_THREAD — two processes in one memory. Writes, mmap,
// munmap, mprotect and brk of one are the other's; futexes (private and shared) meet across them;
// /proc/PID/maps of both list the same map; the child's exec leaves the parent its memory; either may
// end first; a fork from the child copies the shared memory. Output only through write(2): both
// processes share glibc's state (stdio buffers, errno's thread block), so nothing buffers.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK (256 * 1024)
static char stacks[4][STACK] __attribute__((aligned(64)));
static volatile int value, phase;
static char *volatile addr;
static uint32_t fword;         /* a futex word both processes wait on */
static volatile pid_t ctid, ptid;
static sigjmp_buf jb;

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(1, buf, (size_t)n) != n)
		_exit(99);
}

static long futex(void *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static pid_t spawn(int (*fn)(void *), int i, int flags, void *arg, void *tls)
{
	ctid = 1; /* CLONE_CHILD_SETTID writes it in the child, maybe after clone returns here */
	pid_t p = clone(fn, stacks[i] + STACK, flags, arg, (pid_t *)&ptid, tls, (pid_t *)&ctid);
	if (p < 0) {
		say("clone: %s\n", strerror(errno));
		_exit(1);
	}
	return p;
}

/* Wait for the child's CLONE_CHILD_CLEARTID word to become 0, as pthread_join does. */
static void join_tid(void)
{
	pid_t v;
	while ((v = ctid) != 0)
		futex((void *)&ctid, FUTEX_WAIT, (uint32_t)v);
}

static void on_segv(int sig)
{
	siglongjmp(jb, sig);
}

static int faults_on_write(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	*p = 1;
	return 0;
}

static int faults_on_read(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return 1;
	(void)*p;
	return 0;
}

/* 1: the child writes, maps, moves the break and write-protects; the parent sees it all. */
static int child_writes(void *arg)
{
	value = 42 + (int)(intptr_t)arg;
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	strcpy(p, "written by the child");
	addr = p;
	char *b = sbrk(8192);
	if (b == (void *)-1)
		return 3;
	strcpy(b, "on the child's brk");
	*(char *volatile *)(p + 2048) = b;
	return getppid() == (pid_t)(intptr_t)arg ? 0 : 4;
}

static void test_writes(void)
{
	pid_t me = getpid();
	pid_t c = spawn(child_writes, 0, CLONE_VM | SIGCHLD | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
						 CLONE_CHILD_CLEARTID, (void *)(intptr_t)me, NULL);
	join_tid(); /* cleared at its exit: the memory is still used (by us) */
	int st;
	pid_t w = waitpid(c, &st, 0);
	say("writes: waited %d own pid %d ptid %d status %d value %d\n", w == c, c != me, ptid == c,
	    WEXITSTATUS(st), value - me);
	char *p = addr, *b = *(char **)(p + 2048);
	say("  mmap: %s; brk: %s; brk now past it %d\n", p, b, (char *)sbrk(0) >= b + 8192);
	mprotect(p, 4096, PROT_READ); /* ours now: the child's mapping stays in our memory */
	say("  write after mprotect faults %d\n", faults_on_write(p));
	munmap(p, 4096);
	say("  read after munmap faults %d\n", faults_on_read(p));
}

/* 2: the parent unmaps and write-protects while the child waits; futexes wake across processes. */
static char *shared_page;

static int child_waits(void *arg)
{
	int op = (int)(intptr_t)arg;
	struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
	sigaction(SIGBUS, &sa, NULL); /* its own signal actions (the parent's stay default) */
	int before = shared_page[0];
	phase = 1;
	long r = futex(&fword, FUTEX_WAIT | op, 0); /* until the parent wakes it: the word stays 0 */
	int gone = faults_on_read(shared_page);
	unsigned char vec;
	int mc = mincore(shared_page, 4096, &vec) < 0 ? errno : 0;
	say("  child: read %c before, futex %ld, after munmap: faults %d mincore %s\n", before, r, gone,
	    mc == ENOMEM ? "ENOMEM" : "mapped");
	return 0;
}

static void test_wait_unmap(int op, const char *name)
{
	shared_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared_page[0] = 'x';
	fword = 0;
	phase = 0;
	pid_t c = spawn(child_waits, 1, CLONE_VM | SIGCHLD, (void *)(intptr_t)op, NULL);
	while (phase != 1) /* it has read the page */
		sched_yield();
	munmap(shared_page, 4096);
	/* Wake until one waiter was there: the child waits exactly once, so this ends when it sleeps. */
	long n;
	while ((n = futex(&fword, FUTEX_WAKE | op, 1)) == 0)
		sched_yield();
	int st;
	waitpid(c, &st, 0);
	struct sigaction old;
	sigaction(SIGBUS, NULL, &old);
	say("futex %s: woke %ld, child status %d, parent's SIGBUS action default %d\n", name, n,
	    WEXITSTATUS(st), old.sa_handler == SIG_DFL);
}

/* 3: /proc/PID/maps of both list one map. */
static char *read_file(const char *path, size_t *len)
{
	static char bufs[2][1 << 16];
	static int which;
	char *buf = bufs[which++ & 1];
	int fd = open(path, O_RDONLY);
	size_t n = 0;
	ssize_t r;
	while (fd >= 0 && (r = read(fd, buf + n, sizeof(bufs[0]) - 1 - n)) > 0)
		n += (size_t)r;
	if (fd >= 0)
		close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

static int child_maps(void *arg)
{
	(void)arg;
	addr = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	phase = 1;
	while (phase == 1)
		futex((void *)&phase, FUTEX_WAIT, 1);
	return 0;
}

static void test_maps(void)
{
	phase = 0;
	pid_t c = spawn(child_maps, 1, CLONE_VM | SIGCHLD, NULL, NULL);
	while (phase != 1)
		sched_yield();
	char path[64], want[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", c);
	snprintf(want, sizeof(want), "%lx-%lx r--p", (unsigned long)addr, (unsigned long)addr + 3 * 4096);
	size_t a, b;
	char *mine = read_file("/proc/self/maps", &a), *theirs = read_file(path, &b);
	say("maps: the same %d, the child's mapping in both %d %d\n", a == b && memcmp(mine, theirs, a) == 0,
	    strstr(mine, want) != NULL, strstr(theirs, want) != NULL);
	phase = 2;
	futex((void *)&phase, FUTEX_WAKE, 1);
	waitpid(c, NULL, 0);
	munmap(addr, 3 * 4096);
}

/* 4: the child execs; the parent goes on in the memory meanwhile and after. */
static int child_execs(void *arg)
{
	(void)arg;
	char *argv[] = { "true", NULL };
	execve("/bin/true", argv, environ);
	return 127;
}

static void test_exec(void)
{
	pid_t c = spawn(child_execs, 2, CLONE_VM | SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID, NULL, NULL);
	unsigned long sum = 0, rounds = 0;
	while (ctid != 0 || rounds < 4) { /* cleared at its exec (the memory it leaves is still ours) */
		char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (int i = 0; i < 65536; i += 4096)
			p[i] = (char)(i >> 12), sum += (unsigned char)p[i];
		munmap(p, 65536);
		rounds++;
	}
	int st;
	waitpid(c, &st, 0);
	char *m = malloc(100000);
	memset(m, 7, 100000);
	say("exec: child status %d, parent's memory fine %d %d\n", WEXITSTATUS(st), sum == rounds * 120, m[99999]);
	free(m);
}

/* 5: the parent ends first; the child goes on in the memory and forks. */
static int pipe_done[2], pipe_gone[2];

static int orphan(void *arg)
{
	(void)arg;
	close(pipe_gone[1]);
	char c;
	while (read(pipe_gone[0], &c, 1) > 0) /* EOF: its parent has ended */
		;
	value = 1000;
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(p, "still here");
	pid_t f = (pid_t)syscall(SYS_fork);
	if (f == 0) { /* a copy: its writes stay its own */
		value = 2000;
		strcpy(p, "the fork's");
		say("  fork of the child: %s %d\n", p, value);
		syscall(SYS_exit_group, 0);
	}
	int st;
	waitpid(f, &st, 0);
	say("  child after its parent ended: %s %d, fork status %d\n", p, value, WEXITSTATUS(st));
	return 0;
}

static void test_parent_first(void)
{
	if (pipe(pipe_done) < 0 || pipe(pipe_gone) < 0)
		_exit(1);
	pid_t m = fork();
	if (m == 0) {
		close(pipe_done[0]);
		spawn(orphan, 3, CLONE_VM | SIGCHLD, NULL, NULL);
		close(pipe_gone[0]);
		close(pipe_done[1]);
		value = 500;
		_exit(5);
	}
	close(pipe_done[1]);
	close(pipe_gone[0]);
	close(pipe_gone[1]);
	int st;
	waitpid(m, &st, 0);
	char c;
	while (read(pipe_done[0], &c, 1) > 0) /* EOF: the child has ended */
		;
	close(pipe_done[0]);
	say("parent first: it ended with %d, then the child\n", WEXITSTATUS(st));
}

/* 6: no exit signal (only __WCLONE or __WALL waits for it); CLONE_SETTLS with our own TLS. */
static int child_plain(void *arg)
{
	unsigned long fs;
	syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs);
	return fs == (unsigned long)arg ? 9 : 8;
}

static void test_flags(void)
{
	unsigned long fs;
	syscall(SYS_arch_prctl, 0x1003, &fs);
	pid_t c = spawn(child_plain, 0, CLONE_VM | CLONE_SETTLS, (void *)fs, (void *)fs);
	int st;
	pid_t plain = waitpid(c, &st, WNOHANG);
	pid_t w = waitpid(c, &st, __WCLONE);
	say("flags: plain wait %s, __WCLONE %d status %d\n", plain < 0 && errno == ECHILD ? "ECHILD" : "?", w == c,
	    WEXITSTATUS(st));
	errno = 0;
	long r = clone(child_plain, stacks[0] + STACK, CLONE_SIGHAND | SIGCHLD, NULL);
	say("  CLONE_SIGHAND without CLONE_VM: %ld %s\n", r, strerror(errno));
}

/* 7: many children come and go while the parent changes the map; one is killed in a wait. */
static int child_brief(void *arg)
{
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p[0] = 1;
	munmap(p, 4096);
	__atomic_add_fetch(&value, (int)(intptr_t)arg, __ATOMIC_RELAXED);
	return 0;
}

static int child_sleeps(void *arg)
{
	(void)arg;
	phase = 1;
	for (;;)
		futex(&fword, FUTEX_WAIT_PRIVATE, 0);
	return 0;
}

static void test_many(void)
{
	value = 0;
	for (int round = 0; round < 40; round++) {
		pid_t c = spawn(child_brief, round & 1, CLONE_VM | SIGCHLD, (void *)(intptr_t)(round + 1), NULL);
		char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		p[4096] = 2;
		munmap(p, 8192);
		waitpid(c, NULL, 0);
	}
	fword = 0;
	phase = 0;
	pid_t c = spawn(child_sleeps, 2, CLONE_VM | SIGCHLD, NULL, NULL);
	while (phase != 1)
		sched_yield();
	kill(c, SIGKILL);
	int st;
	waitpid(c, &st, 0);
	say("many: sum %d; killed by %d, memory still ours %d\n", value, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	    phase == 1);
}

int main(void)
{
	signal(SIGSEGV, on_segv);
	test_writes();
	test_wait_unmap(FUTEX_PRIVATE_FLAG, "private");
	test_wait_unmap(0, "shared");
	test_maps();
	test_exec();
	test_flags();
	test_many();
	test_parent_first();
	return 0;
}
