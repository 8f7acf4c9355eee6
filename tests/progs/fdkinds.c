// SPDX-License-Identifier: Apache-2.0
// Guest program: read and write keep their semantics when a descriptor's number passes from a file
// that never blocks (a regular file, /dev/null, /dev/zero) to one that does (a pipe). The sentry
// remembers each descriptor's file type; a type remembered past a close, dup2 or dup3 would make
// it read the pipe without waiting where a signal can interrupt it (the read would never end).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
