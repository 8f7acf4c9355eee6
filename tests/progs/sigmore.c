// SPDX-License-Identifier: Apache-2.0
// Signal corners printed for a native/sandboxed comparison: SA_RESTART restarts a blocking pipe read,
// a wait and a futex wait (without it, EINTR); another thread's and process's CPU clocks by id;
// recvmsg's msg_flags; the Sig* lines of /proc/self/status.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int handled;

static void on_alrm(int sig)
{
	(void)sig;
	handled++;
}

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

/* A child that signals us (SIGALRM) after 50 ms, then writes a byte to @fd after 100 ms more. */
static pid_t poke(int fd)
{
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		usleep(50000);
		kill(parent, SIGALRM);
		usleep(100000);
		if (fd >= 0 && write(fd, "y", 1) != 1)
			_exit(1);
		_exit(3);
	}
	return c;
}

static uint32_t fword;

static void *spin(void *arg)
{
	(void)arg;
	for (volatile long i = 0; i < 50000000; i++)
		;
	syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0); /* until main wakes it */
	return NULL;
}

int main(void)
{
	alarm(20);
	for (int restart = 0; restart < 2; restart++) {
		struct sigaction sa = { .sa_handler = on_alrm, .sa_flags = restart ? SA_RESTART : 0 };
		sigaction(SIGALRM, &sa, NULL);
		printf("SA_RESTART %s:\n", restart ? "on" : "off");
		int p[2];
		if (pipe(p) < 0)
			return 1;
		char b;
		handled = 0;
		pid_t c = poke(p[1]);
		show("  pipe read", read(p[0], &b, 1));
		printf("  handler ran %d\n", handled);
		int st;
		handled = 0;
		pid_t w = waitpid(c, &st, 0);
		if (w < 0)
			show("  waitpid", w);
		c = poke(-1);
		w = waitpid(c, &st, 0);
		show("  waitpid", w == c ? 0 : w);
		if (w < 0)
			waitpid(c, &st, 0);
		printf("  handler ran %d, status %d\n", handled, WEXITSTATUS(st));
		c = poke(-1);
		show("  futex wait", syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, &(struct timespec){ 0, 300000000 }, NULL, 0));
		waitpid(c, NULL, 0);
		close(p[0]);
		close(p[1]);
	}

	pthread_t t;
	pthread_create(&t, NULL, spin, NULL);
	usleep(200000);
	clockid_t tc, pc;
	pthread_getcpuclockid(t, &tc);
	clock_getcpuclockid(0, &pc);
	struct timespec ts, res;
	show("another thread's CPU clock", clock_gettime(tc, &ts));
	printf("  ran %d\n", ts.tv_sec > 0 || ts.tv_nsec > 1000000);
	show("its resolution", clock_getres(tc, &res));
	show("the process's CPU clock by id", clock_gettime(pc, &ts));
	show("no such thread's clock", clock_gettime((clockid_t)(((unsigned)~999999 << 3) | 6), &ts));
	fword = 1;
	syscall(SYS_futex, &fword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(t, NULL);

	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int pp[2];
	if (pipe(pp) < 0)
		return 1;
	char cb[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { "x", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof(cb) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pp[0], sizeof(int));
	sendmsg(sv[0], &m, 0);
	send(sv[0], "z", 1, 0);
	char buf[4], cb2[64];
	struct iovec iov2 = { buf, 1 };
	struct msghdr m2 = { .msg_iov = &iov2, .msg_iovlen = 1, .msg_control = cb2, .msg_controllen = sizeof(cb2) };
	show("recvmsg with a descriptor", recvmsg(sv[1], &m2, 0));
	printf("  msg_flags %#x\n", m2.msg_flags);
	m2.msg_controllen = sizeof(cb2);
	show("recvmsg plain", recvmsg(sv[1], &m2, 0));
	printf("  msg_flags %#x\n", m2.msg_flags);

	signal(SIGUSR2, SIG_IGN);
	signal(SIGHUP, on_alrm);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long v;
	/* glibc's own signals 32 and 33 left out: posix_spawn (the native run) sets them ignored */
	while (f && fgets(line, sizeof(line), f))
		if ((!strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7) || !strncmp(line, "SigCgt:", 7) ||
		     !strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7)) &&
		    sscanf(line + 7, "%llx", &v) == 1)
			printf("%.7s %016llx\n", line, v & ~(3ull << 31));
	return 0;
}
