// SPDX-License-Identifier: Apache-2.0
// Job control printed for a native/sandboxed comparison: SIGSTOP/SIGCONT and the wait statuses and
// SIGCHLD codes they give (WUNTRACED, WCONTINUED, waitid WSTOPPED with WNOWAIT), /proc state T, a
// blocked read that goes on after the stop, signals held while stopped, every thread frozen, SIGTSTP
// stopping a group that is not orphaned and discarded in one that is, SIGCONT discarding a pending
// stop, SA_NOCLDSTOP, SIGKILL ending a stopped process, a process stopping itself.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int chld_codes[8], n_chld;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (n_chld < 8)
		chld_codes[n_chld++] = si->si_code;
}

static void show_status(const char *what, int st)
{
	if (WIFSTOPPED(st))
		printf("%s: stopped by %d\n", what, WSTOPSIG(st));
	else if (WIFCONTINUED(st))
		printf("%s: continued\n", what);
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
	else
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	fflush(stdout);
}

static char proc_state(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

static int wait_for(pid_t pid, int options)
{
	int st = -1;
	while (waitpid(pid, &st, options) < 0 && errno == EINTR)
		;
	return st;
}

/* A child that sleeps until killed. */
static pid_t sleeper(void)
{
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	return c;
}

static void stop_continue_kill(void)
{
	pid_t c = sleeper();
	kill(c, SIGSTOP);
	show_status("SIGSTOP", wait_for(c, WUNTRACED));
	printf("state while stopped: %c\n", proc_state(c));
	kill(c, SIGCONT);
	show_status("SIGCONT", wait_for(c, WCONTINUED));
	usleep(20000);
	printf("state after SIGCONT: %c\n", proc_state(c) == 'T' ? 'T' : 'S');
	kill(c, SIGTERM);
	show_status("SIGTERM", wait_for(c, 0));
	usleep(20000);
	printf("SIGCHLD codes:");
	for (int i = 0; i < n_chld; i++)
		printf(" %s", chld_codes[i] == CLD_STOPPED ? "stopped" : chld_codes[i] == CLD_CONTINUED ? "continued"
			      : chld_codes[i] == CLD_KILLED ? "killed" : "other");
	printf("\n");
}

static void waitid_reports(void)
{
	pid_t c = sleeper();
	kill(c, SIGSTOP);
	siginfo_t si;
	for (int i = 0; i < 3; i++) {
		memset(&si, 0, sizeof(si));
		int opts = WSTOPPED | (i == 0 ? WNOWAIT : 0) | (i == 2 ? WNOHANG : 0);
		int r = waitid(P_PID, (id_t)c, &si, opts);
		printf("waitid %d: %d pid %s code %s status %d\n", i, r, si.si_pid == c ? "child" : si.si_pid ? "?" : "0",
		       si.si_code == CLD_STOPPED ? "stopped" : si.si_code ? "other" : "0", si.si_status);
	}
	kill(c, SIGCONT);
	memset(&si, 0, sizeof(si));
	int r = waitid(P_PID, (id_t)c, &si, WCONTINUED);
	printf("waitid continued: %d code %s status %d\n", r, si.si_code == CLD_CONTINUED ? "continued" : "other",
	       si.si_status);
	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)c, &si, WCONTINUED | WNOHANG);
	printf("waitid continued again: %d pid %d\n", r, si.si_pid);
	kill(c, SIGKILL);
	show_status("SIGKILL while running", wait_for(c, 0));
}

/* A read blocked when the stop came goes on after SIGCONT (no EINTR: no handler ran). */
static void blocked_read(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		char b[4];
		ssize_t n = read(p[0], b, sizeof(b));
		_exit(n == 1 ? 10 : n < 0 && errno == EINTR ? 11 : 12);
	}
	usleep(50000);
	kill(c, SIGSTOP);
	show_status("reader stopped", wait_for(c, WUNTRACED));
	kill(c, SIGCONT);
	usleep(50000);
	if (write(p[1], "x", 1) != 1)
		return;
	show_status("reader (10: read the byte)", wait_for(c, 0));
	close(p[0]);
	close(p[1]);
}

static int note_fd = -1;

static void on_usr1(int sig)
{
	char b = sig == SIGUSR1 ? 'u' : 'c';
	if (write(note_fd, &b, 1) != 1)
		_exit(9);
}

/* A signal sent while stopped is held until SIGCONT; SIGCONT's own handler runs then too. */
static void held_while_stopped(void)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		note_fd = p[1];
		signal(SIGUSR1, on_usr1);
		signal(SIGCONT, on_usr1);
		for (;;)
			pause();
	}
	usleep(50000);
	kill(c, SIGSTOP);
	wait_for(c, WUNTRACED);
	kill(c, SIGUSR1);
	usleep(100000);
	char b[8];
	ssize_t n = read(p[0], b, sizeof(b));
	printf("while stopped: %s\n", n < 0 && errno == EAGAIN ? "nothing ran" : "a handler ran");
	kill(c, SIGCONT);
	usleep(100000);
	n = read(p[0], b, sizeof(b));
	if (n == 2 && b[0] > b[1]) { /* the order the handlers ran in is not what this checks */
		char x = b[0];
		b[0] = b[1];
		b[1] = x;
	}
	printf("after SIGCONT: %.*s\n", n > 0 ? (int)n : 0, b);
	kill(c, SIGKILL);
	wait_for(c, 0);
	close(p[0]);
	close(p[1]);
}

static volatile unsigned long *counter;

static void *spin(void *arg)
{
	(void)arg;
	for (;;)
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Every thread of a stopped process is frozen. */
static void threads_frozen(void)
{
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED)
		return;
	pid_t c = fork();
	if (c == 0) {
		pthread_t th;
		pthread_create(&th, NULL, spin, NULL);
		for (;;)
			pause();
	}
	usleep(100000);
	kill(c, SIGSTOP);
	wait_for(c, WUNTRACED);
	usleep(50000);
	unsigned long a = *counter;
	usleep(100000);
	unsigned long b = *counter;
	printf("a thread of a stopped process: %s\n", a && a == b ? "frozen" : "runs");
	kill(c, SIGCONT);
	usleep(100000);
	printf("after SIGCONT: %s\n", *counter != b ? "runs" : "frozen");
	kill(c, SIGKILL);
	show_status("SIGKILL", wait_for(c, 0));
	munmap((void *)counter, 4096);
}

/* SIGTSTP stops a process whose group has a parent outside it in the session; not an orphaned one. */
static void tstp_and_orphans(void)
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	usleep(50000);
	kill(c, SIGTSTP);
	show_status("SIGTSTP (own group)", wait_for(c, WUNTRACED));
	kill(c, SIGKILL);
	show_status("SIGKILL while stopped", wait_for(c, 0));

	c = fork();
	if (c == 0) {
		setsid(); /* a new session: its group is orphaned */
		for (;;)
			pause();
	}
	usleep(50000);
	kill(c, SIGTSTP);
	usleep(100000);
	int st = 0;
	pid_t r = waitpid(c, &st, WUNTRACED | WNOHANG);
	printf("SIGTSTP (orphaned group): %s\n", r == 0 ? "discarded" : "stopped");
	kill(c, SIGSTOP); /* SIGSTOP stops it all the same */
	show_status("SIGSTOP (orphaned group)", wait_for(c, WUNTRACED));
	kill(c, SIGKILL);
	wait_for(c, 0);
}

/* SIGCONT discards a pending stop signal; a process can stop itself. */
static void cont_discards_stop(void)
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTSTP);
		sigprocmask(SIG_BLOCK, &set, NULL);
		usleep(150000);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		usleep(100000);
		raise(SIGSTOP);
		_exit(4);
	}
	usleep(50000);
	kill(c, SIGTSTP);
	kill(c, SIGCONT);
	usleep(150000);
	int st = 0;
	pid_t r = waitpid(c, &st, WUNTRACED | WNOHANG);
	printf("blocked SIGTSTP then SIGCONT: %s\n", r == 0 ? "not stopped" : "stopped");
	show_status("raise(SIGSTOP)", wait_for(c, WUNTRACED));
	kill(c, SIGCONT);
	show_status("then", wait_for(c, 0));
}

/* SA_NOCLDSTOP: no SIGCHLD for stops and continues, only for the end. */
static void nocldstop(void)
{
	struct sigaction sa = { .sa_sigaction = on_chld, .sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	n_chld = 0;
	pid_t c = sleeper();
	kill(c, SIGSTOP);
	wait_for(c, WUNTRACED);
	kill(c, SIGCONT);
	wait_for(c, WCONTINUED);
	kill(c, SIGKILL);
	wait_for(c, 0);
	usleep(20000);
	printf("SA_NOCLDSTOP: %d SIGCHLD, %s\n", n_chld, n_chld == 1 && chld_codes[0] == CLD_KILLED ? "killed" : "?");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa = { .sa_sigaction = on_chld, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigaction(SIGCHLD, &sa, NULL);
	stop_continue_kill();
	signal(SIGCHLD, SIG_DFL);
	waitid_reports();
	blocked_read();
	held_while_stopped();
	threads_frozen();
	tstp_and_orphans();
	cont_discards_stop();
	nocldstop();
	return 0;
}
