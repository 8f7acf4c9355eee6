// SPDX-License-Identifier: Apache-2.0
// Guest program: read and write keep their semantics when a descriptor's number passes from a file
// that never blocks (a regular file, /dev/null, /dev/zero) to one that does (a pipe). The sentry
// remembers each descriptor's file type; a type remembered past a close, dup2 or dup3 would make
// it read the pipe without waiting where a signal can interrupt it (the read would never end).
// And pipes and sockets themselves (read and written without waiting first when they can be): a
// large write or send completes across a slow reader, one interrupted when the pipe or socket is full
// returns what it wrote; MSG_WAITALL and SO_RCVLOWAT still wait for what they ask.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

/* A read of @fd (an empty pipe with a writer) that the alarm interrupts. */
static void interrupted_read(const char *what, int fd)
{
	char c;
	alarm(1);
	ssize_t n = read(fd, &c, 1);
	int e = errno;
	alarm(0);
	printf("%s: read %zd %s\n", what, n, n < 0 ? strerror(e) : "");
}

/* A write to @fd (a full pipe with a reader) that the alarm interrupts. */
static void interrupted_write(const char *what, int fd)
{
	static char buf[1 << 16];
	alarm(1);
	ssize_t n = write(fd, buf, sizeof(buf));
	int e = errno;
	alarm(0);
	printf("%s: write %zd %s\n", what, n, n < 0 ? strerror(e) : "");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: the read ends with EINTR */
	sigaction(SIGALRM, &sa, NULL);
	char buf[64];

	/* A file's number taken by a pipe after close. */
	int f = open("/etc/passwd", O_RDONLY);
	printf("file read %d\n", read(f, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	close(f);
	int p[2];
	if (pipe(p) < 0)
		return 1;
	printf("the pipe took the number: %d\n", p[0] == f);
	interrupted_read("pipe after a file", p[0]);

	/* dup2 of a pipe over a file's number, and dup3. */
	int g = open("/etc/passwd", O_RDONLY);
	printf("file read %d\n", read(g, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	dup2(p[0], g);
	interrupted_read("pipe dup2'd over a file", g);
	int z = open("/dev/zero", O_RDONLY);
	printf("/dev/zero read %zd\n", read(z, buf, sizeof(buf)));
	dup3(p[0], z, O_CLOEXEC);
	interrupted_read("pipe dup3'd over /dev/zero", z);

	/* A full pipe's write end dup2'd over /dev/null's number. */
	int n = open("/dev/null", O_WRONLY);
	printf("/dev/null write %zd\n", write(n, buf, sizeof(buf)));
	int q[2];
	if (pipe(q) < 0)
		return 1;
	fcntl(q[1], F_SETFL, O_NONBLOCK);
	while (write(q[1], buf, sizeof(buf)) > 0)
		;
	fcntl(q[1], F_SETFL, 0);
	dup2(q[1], n);
	interrupted_write("full pipe dup2'd over /dev/null", n);

	/* 1 MB in one write to a pipe whose reader takes 1000 bytes at a time: all of it. */
	int r[2];
	if (pipe(r) < 0)
		return 1;
	pid_t kid = fork();
	if (kid == 0) {
		close(r[1]);
		long total = 0;
		ssize_t k;
		char small[1000];
		while ((k = read(r[0], small, sizeof(small))) > 0)
			total += k;
		printf("the reader got %ld\n", total);
		_exit(0);
	}
	close(r[0]);
	char *big = calloc(1, 1 << 20);
	printf("a 1 MB write: %zd\n", write(r[1], big, 1 << 20));
	close(r[1]);
	waitpid(kid, NULL, 0);
	/* 100,000 bytes into an empty pipe nobody reads: the first 65,536 go, the alarm ends the wait. */
	int e[2];
	if (pipe(e) < 0)
		return 1;
	alarm(1);
	ssize_t part = write(e[1], big, 100000);
	alarm(0);
	printf("a write interrupted when the pipe filled: %zd\n", part);
	printf("a 10-byte read of it: %zd\n", read(e[0], buf, 10));

	/* The same on a stream socket pair, with send and recv. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	kid = fork();
	if (kid == 0) {
		close(sv[0]);
		long total = 0;
		ssize_t k;
		char small[1000];
		while ((k = recv(sv[1], small, sizeof(small), 0)) > 0)
			total += k;
		printf("the socket reader got %ld\n", total);
		_exit(0);
	}
	close(sv[1]);
	printf("a 1 MB send: %zd\n", send(sv[0], big, 1 << 20, 0));
	close(sv[0]);
	waitpid(kid, NULL, 0);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	alarm(1);
	part = send(sv[0], big, 1 << 20, 0);
	alarm(0);
	printf("a send interrupted when the socket filled: some went %d\n", part > 0 && part < (1 << 20));
	close(sv[0]);
	close(sv[1]);

	/* A receiver that asks for more than the first piece: MSG_WAITALL, then SO_RCVLOWAT. */
	for (int lowat = 0; lowat < 2; lowat++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 1;
		kid = fork();
		if (kid == 0) {
			struct timespec nap = { 0, 100 * 1000 * 1000 };
			for (int i = 0; i < 4; i++) {
				if (send(sv[1], "12345", 5, 0) != 5)
					_exit(1);
				nanosleep(&nap, NULL);
			}
			_exit(0);
		}
		int ten = 10;
		if (lowat)
			setsockopt(sv[0], SOL_SOCKET, SO_RCVLOWAT, &ten, sizeof(ten));
		printf("%s: recv %zd\n", lowat ? "SO_RCVLOWAT 10" : "MSG_WAITALL of 15",
		       recv(sv[0], buf, lowat ? 10 : 15, lowat ? 0 : MSG_WAITALL));
		waitpid(kid, NULL, 0);
		close(sv[0]);
		close(sv[1]);
	}
	free(big);

	/* The same numbers as files again: they read and write at once. */
	close(p[0]);
	close(g);
	close(z);
	close(n);
	int again = open("/etc/passwd", O_RDONLY);
	printf("file read again %d\n", read(again, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	int nul = open("/dev/null", O_WRONLY);
	printf("/dev/null write again %zd\n", write(nul, buf, sizeof(buf)));
	return 0;
}
