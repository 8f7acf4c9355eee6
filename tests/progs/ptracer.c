// SPDX-License-Identifier: Apache-2.0
// A tracer printed for a native/sandboxed comparison: PTRACE_TRACEME and the SIGSTOP it raises,
// syscall-entry and -exit stops (TRACESYSGOOD), GET_SYSCALL_INFO, a syscall's result changed and a
// syscall skipped, PEEK/POKEDATA, GETREGS/SETREGS, GETFPREGS, single steps, a signal suppressed and
// one injected, fork and exec events with their messages, the exit event, SEIZE + INTERRUPT (of a
// running and of a group-stopped child, SIGCONT and LISTEN), ATTACH
// and DETACH, EXITKILL, process_vm_readv/writev and /proc/PID/mem, PEEKSIGINFO, and the errors of bad
// requests.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile uint64_t word = 0x1122334455667788ull;
static volatile int usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static const char *describe(int st)
{
	static char b[64];
	if (WIFEXITED(st))
		snprintf(b, sizeof(b), "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof(b), "killed by %d", WTERMSIG(st));
	else if (WIFSTOPPED(st) && (st >> 16))
		snprintf(b, sizeof(b), "stopped %d event %d", WSTOPSIG(st), st >> 16);
	else if (WIFSTOPPED(st))
		snprintf(b, sizeof(b), "stopped %#x", WSTOPSIG(st));
	else
		snprintf(b, sizeof(b), "? %#x", st);
	return b;
}

static int wait_stop(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	return st;
}

/* Resume @c and wait for its next stop, passing SIGCHLD stops on to it (when they come is timing). */
static int next_stop(pid_t c)
{
	ptrace(PTRACE_CONT, c, 0, 0);
	for (;;) {
		int st = wait_stop(c);
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGCHLD || (st >> 16))
			return st;
		ptrace(PTRACE_CONT, c, 0, SIGCHLD);
	}
}

/* ptrace's result and errno, as text */
static const char *res(long r)
{
	static char b[8][48];
	static int i;
	int e = errno;
	char *o = b[i++ % 8];
	snprintf(o, 48, "%ld%s%s", r, r < 0 ? " " : "", r < 0 ? strerrorname_np(e) : "");
	return o;
}

/* Step the child to its next syscall-entry stop of @nr; the number of stops on the way. */
static int to_syscall(pid_t c, long nr)
{
	int n = 0;
	for (;;) {
		ptrace(PTRACE_SYSCALL, c, 0, 0);
		int st = wait_stop(c);
		if (!WIFSTOPPED(st))
			return -1;
		n++;
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, c, 0, &r);
		if (WSTOPSIG(st) == (SIGTRAP | 0x80) && (long)r.orig_rax == nr && (long)r.rax == -ENOSYS)
			return n;
	}
}

static void child_body(void)
{
	signal(SIGUSR1, on_usr1);
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	raise(SIGSTOP);
	long a = syscall(SYS_getppid);              /* its result is changed */
	long b = syscall(SYS_getpid);               /* skipped: ENOSYS */
	long c = syscall(SYS_gettid);
	printf("child: getppid %ld, getpid %ld, gettid==pid %d, word %#llx\n", a, b, c == getpid(),
	       (unsigned long long)word);
	fflush(stdout);
	__asm__ volatile("movq $7, %%rax\n\tmovq $9, %%rbx\n\taddq %%rbx, %%rax\n\tint3\n\tnop" ::: "rax", "rbx");
	raise(SIGUSR1);                             /* suppressed by the tracer */
	printf("child: usr1 seen %d\n", usr1_seen);
	fflush(stdout);
	pid_t k = fork();
	if (k == 0)
		_exit(5);
	waitpid(k, NULL, 0);
	execl("/bin/true", "true", (char *)NULL);
	_exit(99);
}

static void traceme_flow(void)
{
	pid_t c = fork();
	if (c == 0)
		child_body();
	printf("first stop: %s\n", describe(wait_stop(c)));
	ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC |
						  PTRACE_O_TRACEEXIT);
	/* getppid: see it at entry (syscall info) and change its result at exit */
	to_syscall(c, SYS_getppid);
	struct __ptrace_syscall_info si;
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof(si), &si);
	printf("syscall info: size %ld op %d nr %s\n", n, si.op, si.entry.nr == SYS_getppid ? "getppid" : "?");
	ptrace(PTRACE_SYSCALL, c, 0, 0);
	int st = wait_stop(c);
	n = ptrace(PTRACE_GET_SYSCALL_INFO, c, sizeof(si), &si);
	printf("exit stop: %s, info size %ld op %d error %d\n", describe(st), n, si.op, si.exit.is_error);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, c, 0, &r);
	r.rax = 4242;
	ptrace(PTRACE_SETREGS, c, 0, &r);
	/* getpid: skipped at its entry */
	to_syscall(c, SYS_getpid);
	ptrace(PTRACE_GETREGS, c, 0, &r);
	r.orig_rax = (unsigned long long)-1;
	ptrace(PTRACE_SETREGS, c, 0, &r);
	/* memory: read and change the child's word */
	errno = 0;
	long w = ptrace(PTRACE_PEEKDATA, c, &word, 0);
	printf("peek: %#lx errno %d\n", w, errno);
	ptrace(PTRACE_POKEDATA, c, &word, 0xabcdefL);
	/* run to the int3: a SIGTRAP signal-delivery-stop, rax = 16 */
	ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT);
	st = next_stop(c);
	ptrace(PTRACE_GETREGS, c, 0, &r);
	siginfo_t info;
	ptrace(PTRACE_GETSIGINFO, c, 0, &info);
	printf("int3: %s, rax %lld, signo %d\n", describe(st), (long long)r.rax, info.si_signo);
	struct user_fpregs_struct fp;
	long fr = ptrace(PTRACE_GETFPREGS, c, 0, &fp);
	printf("fpregs: %ld mxcsr %#x\n", fr, fp.mxcsr & 0xffc0);
	printf("setfpregs unchanged: %s\n", res(ptrace(PTRACE_SETFPREGS, c, 0, &fp)));
	fp.mxcsr = 0xffffffffu; /* reserved bits: refused, the old state kept */
	printf("setfpregs bad mxcsr: %s\n", res(ptrace(PTRACE_SETFPREGS, c, 0, &fp)));
	/* single steps: rip moves, each step is a SIGTRAP stop */
	unsigned long long rip0 = r.rip;
	for (int i = 0; i < 2; i++) {
		ptrace(PTRACE_SINGLESTEP, c, 0, 0);
		st = wait_stop(c);
	}
	ptrace(PTRACE_GETREGS, c, 0, &r);
	printf("two steps: %s, moved %s, TF %s\n", describe(st), r.rip > rip0 ? "forward" : "not",
	       r.eflags & 0x100 ? "left set" : "clear");
	/* SIGUSR1: suppressed (resume with 0) */
	st = next_stop(c);
	printf("signal stop: %s\n", describe(st));
	/* fork event, then the new child's first stop */
	st = next_stop(c);
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
	pid_t g = (pid_t)msg;
	printf("fork event: %s, new pid %s\n", describe(st), g > c ? "after the child's" : "?");
	printf("grandchild first stop: %s\n", describe(wait_stop(g)));
	ptrace(PTRACE_CONT, g, 0, 0);
	printf("grandchild exit event: %s\n", describe(wait_stop(g)));
	ptrace(PTRACE_CONT, g, 0, 0);
	printf("grandchild end: %s\n", describe(wait_stop(g)));
	st = next_stop(c);
	ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
	printf("exec event: %s, former tid %s\n", describe(st), (pid_t)msg == c ? "its own" : "?");
	st = next_stop(c);
	ptrace(PTRACE_GETEVENTMSG, c, 0, &msg);
	printf("exit event: %s, status %lu\n", describe(st), msg);
	ptrace(PTRACE_CONT, c, 0, 0);
	printf("end: %s\n", describe(wait_stop(c)));
}

/* SEIZE a sleeping child, INTERRUPT it, read its memory three ways, DETACH; ATTACH; EXITKILL. */
static void seize_attach(void)
{
	pid_t c = fork();
	if (c == 0) {
		word = 0x5555;
		for (;;)
			pause();
	}
	usleep(50000);
	printf("seize: %s\n", res(ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_EXITKILL)));
	printf("peek while running: %s\n", res(ptrace(PTRACE_PEEKDATA, c, &word, 0)));
	printf("interrupt: %s\n", res(ptrace(PTRACE_INTERRUPT, c, 0, 0)));
	printf("interrupt stop: %s\n", describe(wait_stop(c)));
	uint64_t v = 0;
	struct iovec lo = { &v, 8 }, re = { (void *)&word, 8 };
	ssize_t n = process_vm_readv(c, &lo, 1, &re, 1, 0);
	printf("process_vm_readv: %zd %#llx\n", n, (unsigned long long)v);
	v = 0x6666;
	n = process_vm_writev(c, &lo, 1, &re, 1, 0);
	printf("process_vm_writev: %zd\n", n);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", c);
	int fd = open(path, O_RDWR);
	n = pread(fd, &v, 8, (off_t)(uintptr_t)&word);
	printf("/proc/PID/mem: read %zd %#llx", n, (unsigned long long)v);
	v = 0x7777;
	n = pwrite(fd, &v, 8, (off_t)(uintptr_t)&word);
	printf(", write %zd", n);
	printf(", unmapped %s\n", res(pread(fd, &v, 8, 8)));
	close(fd);
	printf("peek: %#lx\n", ptrace(PTRACE_PEEKDATA, c, &word, 0));
	printf("detach: %s\n", res(ptrace(PTRACE_DETACH, c, 0, 0)));
	printf("after detach: %s\n", res(ptrace(PTRACE_PEEKDATA, c, &word, 0)));
	printf("attach: %s\n", res(ptrace(PTRACE_ATTACH, c, 0, 0)));
	printf("attach again: %s\n", res(ptrace(PTRACE_ATTACH, c, 0, 0)));
	printf("attach stop: %s\n", describe(wait_stop(c)));
	printf("bad request: %s\n", res(ptrace((enum __ptrace_request)0x4fff, c, 0, 0)));
	printf("kill: %s\n", res(ptrace(PTRACE_KILL, c, 0, 0)));
	printf("end: %s\n", describe(wait_stop(c)));
	printf("not traced: %s\n", res(ptrace(PTRACE_CONT, getpid(), 0, 0)));
	printf("self: %s\n", res(ptrace(PTRACE_ATTACH, getpid(), 0, 0)));
}

/* strace's start: a child stopped by its own SIGSTOP is seized, interrupted and sent SIGCONT; the
 * tracer hears of the group stop, LISTENs, and the SIGCONT traps it again at once. Then a SIGCONT to
 * the running seized tracee traps it too (PTRACE_EVENT_STOP with SIGTRAP). */
static void seize_stopped(void)
{
	pid_t c = fork();
	if (c == 0) {
		raise(SIGSTOP);
		for (;;)
			pause();
	}
	int st = 0;
	waitpid(c, &st, WSTOPPED);
	printf("stopped child: %s\n", describe(st));
	printf("seize: %s", res(ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_EXITKILL)));
	printf(", interrupt: %s", res(ptrace(PTRACE_INTERRUPT, c, 0, 0)));
	printf(", SIGCONT: %s\n", res(kill(c, SIGCONT)));
	printf("first stop: %s\n", describe(wait_stop(c)));
	printf("listen: %s\n", res(ptrace(PTRACE_LISTEN, c, 0, 0)));
	printf("next stop: %s\n", describe(wait_stop(c)));
	printf("cont: %s\n", res(ptrace(PTRACE_CONT, c, 0, 0)));
	usleep(50000);
	printf("SIGCONT while running: %s\n", res(kill(c, SIGCONT)));
	printf("its stop: %s\n", describe(wait_stop(c)));
	printf("cont: %s\n", res(ptrace(PTRACE_CONT, c, 0, 0)));
	usleep(50000);
	st = 0;
	pid_t w = waitpid(c, &st, __WALL | WNOHANG);
	printf("then: %s\n", w == c ? describe(st) : "running");
	kill(c, SIGKILL);
	printf("end: %s\n", describe(wait_stop(c)));
}

/* A tracer that exits with PTRACE_O_EXITKILL kills its tracee. */
static void exitkill(void)
{
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	pid_t t = fork();
	if (t == 0) {
		ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_EXITKILL);
		_exit(0);
	}
	waitpid(t, NULL, 0);
	printf("EXITKILL: %s\n", describe(wait_stop(c)));
}

/* PTRACE_PEEKSIGINFO: the tracee's own pending signals (two blocked ones sent to the thread). */
static void peeksiginfo(void)
{
	pid_t c = fork();
	if (c == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		sigset_t b;
		sigemptyset(&b);
		sigaddset(&b, SIGUSR1);
		sigaddset(&b, SIGUSR2);
		sigprocmask(SIG_BLOCK, &b, NULL);
		syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
		syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
		raise(SIGSTOP);
		_exit(0);
	}
	printf("peeksiginfo stop: %s\n", describe(wait_stop(c)));
	struct {
		uint64_t off;
		uint32_t flags;
		int32_t nr;
	} a = { 0, 0, 8 };
	siginfo_t si[8];
	long n = ptrace(PTRACE_PEEKSIGINFO, c, &a, si);
	printf("peeksiginfo: %ld", n);
	for (long i = 0; i < n; i++)
		printf(" sig %d code %d", si[i].si_signo, si[i].si_code);
	a = (typeof(a)){ 1, 0, 8 };
	n = ptrace(PTRACE_PEEKSIGINFO, c, &a, si);
	printf("; from 1: %ld sig %d", n, n > 0 ? si[0].si_signo : 0);
	a = (typeof(a)){ 0, 1, 8 };
	printf("; shared: %ld", ptrace(PTRACE_PEEKSIGINFO, c, &a, si));
	a = (typeof(a)){ 0, 2, 8 };
	printf("; bad flags: %s\n", res(ptrace(PTRACE_PEEKSIGINFO, c, &a, si)));
	kill(c, SIGKILL);
	wait_stop(c);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(40); /* a hang shows where it stopped */
	traceme_flow();
	seize_attach();
	seize_stopped();
	exitkill();
	peeksiginfo();
	return 0;
}
