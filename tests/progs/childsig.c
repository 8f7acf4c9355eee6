// SPDX-License-Identifier: Apache-2.0
// Guest program: SIGCHLD reaches the thread Linux would pick. A helper thread blocks every signal (as
// runtimes' worker threads do); the main thread waits in epoll for its SIGCHLD handler's self-pipe
// byte (libuv's way: node's execSync hung on this). Also sent while the main thread blocked it.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

static int p[2];

static void on_chld(int sig)
{
	(void)sig;
	ssize_t w = write(p[1], "c", 1);
	(void)w;
}

static void *blocker(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;)
		pause();
	return NULL;
}

static int wait_byte(int ep)
{
	struct epoll_event out;
	int n;
	do
		n = epoll_wait(ep, &out, 1, 3000);
	while (n < 0 && errno == EINTR);
	char b;
	if (n == 1 && read(p[0], &b, 1) != 1)
		return -1;
	return n;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(p) < 0)
		return 1;
	pthread_t t;
	pthread_create(&t, NULL, blocker, NULL);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	printf("SIGCHLD while waiting in epoll: %d\n", wait_byte(ep));
	waitpid(c, NULL, 0);
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	sigprocmask(SIG_SETMASK, &old, NULL); /* pending until now: delivered on unblocking */
	printf("SIGCHLD sent while blocked, then unblocked: %d\n", wait_byte(ep));
	return 0;
}
