// SPDX-License-Identifier: Apache-2.0
// Guest program for sentry tests: handlers, frames, masks, altstacks, fault recovery, SIGCHLD, kill.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_usr2, got_chld, on_alt;
static sigjmp_buf jb;
static volatile void *fault_addr;
static char altstack[1 << 16];

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_usr1 = sig == SIGUSR1 && si->si_signo == SIGUSR1;
	volatile double clobber = 1.0;
	for (int i = 0; i < 10; i++)
		clobber = clobber * 3.7; /* use the FPU/SSE registers inside the handler */
	(void)clobber;
	char here;
	on_alt = &here >= altstack && &here < altstack + sizeof(altstack);
}

static void on_usr2(int sig)
{
	got_usr2 += sig == SIGUSR2;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_addr = si->si_addr;
	siglongjmp(jb, sig);
}

static void on_chld(int sig)
{
	(void)sig;
	got_chld++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	/* 1. A handler with siginfo, on an alternate stack; FP state survives around it. */
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	volatile double keep = 2.5;
	raise(SIGUSR1);
	printf("usr1 handled %d on altstack %d fp kept %d\n", (int)got_usr1, (int)on_alt, keep * 2 == 5.0);

	/* 2. Blocked signals stay pending until unblocked. */
	sa.sa_handler = on_usr2;
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR2);
	sigpending(&pend);
	printf("usr2 pending %d delivered %d\n", sigismember(&pend, SIGUSR2), (int)got_usr2);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("usr2 delivered after unblock %d\n", (int)got_usr2);

	/* 3. Recovering from faults with siglongjmp. */
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	int sig = sigsetjmp(jb, 1);
	if (sig == 0)
		*(volatile int *)0x1234 = 1;
	printf("segv recovered %d at %p\n", sig, (void *)fault_addr);
	sig = sigsetjmp(jb, 1);
	if (sig == 0) {
		int q, zero = 0;
		__asm__ volatile("cltd; idivl %2" : "=a"(q) : "a"(1), "r"(zero) : "rdx");
		printf("%d\n", q);
	}
	printf("fpe recovered %d\n", sig);

	/* 4. SIGCHLD, and a child killed by a signal. */
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	int st;
	waitpid(c, &st, 0);
	printf("child exited %d status %d\n", WIFEXITED(st), WEXITSTATUS(st));
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	kill(c, SIGTERM);
	while (waitpid(c, &st, 0) < 0)
		;
	printf("child killed %d by %d; sigchld seen %d\n", WIFSIGNALED(st), WTERMSIG(st), got_chld > 0);

	/* 5. SA_RESETHAND: the second delivery takes the default action (ignored for SIGWINCH). */
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGWINCH, &sa, NULL);
	raise(SIGWINCH);
	raise(SIGWINCH);
	printf("resethand ok\n");
	fflush(stdout);
	/* 6. Death by an unhandled signal. */
	raise(SIGABRT);
	return 0;
}
