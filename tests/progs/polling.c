// SPDX-License-Identifier: Apache-2.0
// Guest program: poll, ppoll, select, pselect6, epoll and eventfd on pipes, with data arriving later
// from another thread, timeouts, and blocking waits and reads interrupted by a signal. Prints what it
// sees; the test compares the output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int p[2];
static volatile sig_atomic_t got;

static void *later(void *arg)
{
	usleep(50000);
	if (write(p[1], arg, strlen(arg)) < 0)
		perror("write");
	return NULL;
}

static void *signal_later(void *arg)
{
	(void)arg;
	usleep(50000);
	kill(getpid(), SIGUSR1);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
	got++;
}

static void drain(void)
{
	char b[64];
	ssize_t n = read(p[0], b, sizeof(b));
	printf("  read %zd: %.*s\n", n, n > 0 ? (int)n : 0, b);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(p) < 0)
		return 1;
	pthread_t th;

	struct pollfd pf = { .fd = p[0], .events = POLLIN };
	printf("poll empty, 10 ms: %d\n", poll(&pf, 1, 10));
	pthread_create(&th, NULL, later, "poll");
	int pn = poll(&pf, 1, 5000);
	printf("poll waits: %d revents %#x\n", pn, pf.revents);
	pthread_join(th, NULL);
	drain();
	struct pollfd bad[2] = { { .fd = 999, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	pn = poll(bad, 2, 0);
	printf("poll bad fd: %d revents %#x %#x\n", pn, bad[0].revents, bad[1].revents);

	struct timespec ts = { 0, 10000000 };
	printf("ppoll empty: %d\n", ppoll(&pf, 1, &ts, NULL));
	pthread_create(&th, NULL, later, "ppoll");
	printf("ppoll waits: %d\n", ppoll(&pf, 1, NULL, NULL));
	pthread_join(th, NULL);
	drain();

	fd_set r;
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timeval tv = { 0, 10000 };
	printf("select empty: %d\n", select(p[0] + 1, &r, NULL, NULL, &tv));
	pthread_create(&th, NULL, later, "select");
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	fd_set w;
	FD_ZERO(&w);
	FD_SET(p[1], &w);
	pn = select(p[1] + 1, NULL, &w, NULL, NULL);
	printf("select write side ready: %d %d\n", pn, FD_ISSET(p[1], &w));
	pn = select(p[0] + 1, &r, NULL, NULL, NULL);
	printf("select waits: %d %d\n", pn, FD_ISSET(p[0], &r));
	pthread_join(th, NULL);
	drain();
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	printf("pselect empty: %d\n", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234 };
	printf("epoll_ctl add: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	struct epoll_event out[4];
	printf("epoll_wait empty: %d\n", epoll_wait(ep, out, 4, 10));
	pthread_create(&th, NULL, later, "epoll");
	int n = epoll_wait(ep, out, 4, 5000);
	printf("epoll_wait waits: %d data %#llx events %#x\n", n, (unsigned long long)out[0].data.u64, out[0].events);
	pthread_join(th, NULL);
	drain();
	pn = epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
	int again = epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
	printf("epoll_ctl del: %d, again: %d %s\n", pn, again, strerror(errno));

	int e = eventfd(3, EFD_CLOEXEC);
	uint64_t v = 0;
	ssize_t er = read(e, &v, 8);
	printf("eventfd read: %zd %llu\n", er, (unsigned long long)v);
	v = 5;
	printf("eventfd write: %zd\n", write(e, &v, 8));
	ev.data.u64 = 0xe;
	epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
	n = epoll_wait(ep, out, 4, 0);
	printf("epoll on eventfd: %d data %#llx\n", n, n > 0 ? (unsigned long long)out[0].data.u64 : 0ull);

	/* Signals interrupt waits and blocking reads (a handler without SA_RESTART). */
	struct sigaction sa = { 0 };
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pthread_create(&th, NULL, signal_later, NULL);
	int pr = poll(&pf, 1, -1);
	printf("poll interrupted: %d %s got %d\n", pr, pr < 0 ? strerror(errno) : "-", (int)got);
	pthread_join(th, NULL);
	pthread_create(&th, NULL, signal_later, NULL);
	char b[8];
	ssize_t rr = read(p[0], b, sizeof(b));
	printf("read interrupted: %zd %s got %d\n", rr, rr < 0 ? strerror(errno) : "-", (int)got);
	pthread_join(th, NULL);
	pthread_create(&th, NULL, signal_later, NULL);
	n = epoll_wait(ep, out, 4, -1); /* the eventfd is still readable: no wait */
	printf("epoll_wait ready: %d\n", n);
	epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL);
	n = epoll_wait(ep, out, 4, -1);
	printf("epoll_wait interrupted: %d %s got %d\n", n, n < 0 ? strerror(errno) : "-", (int)got);
	pthread_join(th, NULL);
	close(p[1]);
	pf.events = POLLIN;
	pn = poll(&pf, 1, 1000);
	printf("poll after close: %d revents %#x\n", pn, pf.revents);
	return 0;
}
