// SPDX-License-Identifier: Apache-2.0
// Guest program: signalfd — blocked signals read as data (raise, kill, SIGCHLD with the child's status),
// readiness for poll and epoll, a new mask, EAGAIN when nothing is pending, a read blocked until a
// signal comes, a dup reading the same signalfd, a too-small buffer.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int sfd;

static const char *name(unsigned sig)
{
	return sig == SIGUSR1 ? "USR1" : sig == SIGUSR2 ? "USR2" : sig == SIGCHLD ? "CHLD" : "?";
}

static void *later(void *arg)
{
	(void)arg;
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	nanosleep(&nap, NULL);
	kill(getpid(), SIGUSR1);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigset_t mine;
	sigemptyset(&mine);
	sigaddset(&mine, SIGUSR1);
	sigaddset(&mine, SIGCHLD);
	sfd = signalfd(-1, &mine, SFD_CLOEXEC | SFD_NONBLOCK);
	struct signalfd_siginfo si;
	ssize_t n = read(sfd, &si, sizeof(si));
	printf("nothing pending: %zd %s\n", n, strerror(errno));
	raise(SIGUSR1);
	struct pollfd pfd = { sfd, POLLIN, 0 };
	printf("poll after raise: %d\n", poll(&pfd, 1, 1000));
	n = read(sfd, &si, sizeof(si));
	printf("read %zd: %s code %d from itself %d\n", n, name(si.ssi_signo), si.ssi_code, si.ssi_pid == (unsigned)getpid());
	printf("then not ready: %d\n", poll(&pfd, 1, 0));
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	poll(&pfd, 1, 2000);
	n = read(sfd, &si, sizeof(si));
	printf("read %zd: %s status %d code %s pid matches %d\n", n, name(si.ssi_signo), si.ssi_status,
	       si.ssi_code == CLD_EXITED ? "CLD_EXITED" : "?", si.ssi_pid == (unsigned)c);
	waitpid(c, NULL, 0);
	sigaddset(&mine, SIGUSR2);
	printf("new mask: %d\n", signalfd(sfd, &mine, 0) == sfd);
	kill(getpid(), SIGUSR2);
	int d = dup(sfd);
	n = read(d, &si, sizeof(si));
	printf("dup reads %zd: %s code %s\n", n, name(si.ssi_signo), si.ssi_code == SI_USER ? "SI_USER" : "?");
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 }, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	raise(SIGUSR1);
	int k = epoll_wait(ep, &out, 1, 1000);
	printf("epoll: %d tag %u\n", k, out.data.u32);
	read(sfd, &si, sizeof(si));
	char small[16];
	n = read(sfd, small, sizeof(small));
	printf("small buffer: %zd %s\n", n, strerror(errno));
	/* A blocking signalfd: the read waits for a signal another thread sends. */
	int bfd = signalfd(-1, &mine, 0);
	pthread_t th;
	pthread_create(&th, NULL, later, NULL);
	n = read(bfd, &si, sizeof(si));
	printf("blocked read: %zd %s\n", n, name(si.ssi_signo));
	pthread_join(th, NULL);
	return 0;
}
