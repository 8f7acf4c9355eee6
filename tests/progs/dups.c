// SPDX-License-Identifier: Apache-2.0
// Duplicated descriptors (dup, dup2, dup3, F_DUPFD) name one open file: offset and status flags
// shared, close-on-exec each its own, the file closed with the last of them; epoll keys its interest
// list by descriptor. The sentry lets duplicates share one host fd: the output must match native.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *what, long got, long want)
{
	printf("%s: %s\n", what, got == want ? "ok" : "WRONG");
	if (got != want)
		printf("  got %ld, want %ld (errno %s)\n", got, want, strerror(errno));
}

/* The reader sees end-of-file only once every write end is closed. */
static int eof_now(int rd)
{
	char c;
	fcntl(rd, F_SETFL, O_NONBLOCK);
	ssize_t n = read(rd, &c, 1);
	int eof = n == 0 ? 1 : (n < 0 && errno == EAGAIN) ? 0 : -1;
	fcntl(rd, F_SETFL, 0);
	return eof;
}

static void offsets_and_flags(void)
{
	char path[] = "/tmp/dupsXXXXXX";
	int a = mkstemp(path);
	unlink(path);
	int b = dup(a), c = fcntl(a, F_DUPFD_CLOEXEC, 40), d = dup3(a, 50, O_CLOEXEC);
	check("dup, F_DUPFD_CLOEXEC above 40, dup3 at 50", b > a && c >= 40 && d == 50, 1);
	check("write through one", write(a, "hello world", 11), 11);
	check("offset seen through another", lseek(b, 0, SEEK_CUR), 11);
	check("lseek through a third", lseek(c, 6, SEEK_SET), 6);
	char buf[16] = "";
	check("read through the fourth at it", read(d, buf, 5), 5);
	check("... reads world", strcmp(buf, "world"), 0);
	check("O_APPEND set through one", fcntl(b, F_SETFL, O_APPEND), 0);
	check("... is everyone's", (fcntl(a, F_GETFL) & O_APPEND) && (fcntl(d, F_GETFL) & O_APPEND), 1);
	check("close-on-exec: the original's clear", fcntl(a, F_GETFD), 0);
	check("... F_DUPFD_CLOEXEC's set", fcntl(c, F_GETFD), FD_CLOEXEC);
	check("... dup3's set", fcntl(d, F_GETFD), FD_CLOEXEC);
	check("F_SETFD on one", fcntl(b, F_SETFD, FD_CLOEXEC), 0);
	check("... not the original", fcntl(a, F_GETFD), 0);
	check("close the original", close(a), 0);
	check("the rest still write", write(b, "!", 1), 1);
	check("... and see it", lseek(c, 0, SEEK_END), 12);
	check("dup2 onto itself", dup2(b, b), b);
	check("dup2 onto a duplicate of the same file", dup2(b, c), c);
	check("... which still works", lseek(c, 0, SEEK_CUR), 12);
	check("close two", close(b) | close(c), 0);
	check("the last reads from the start", pread(d, buf, 5, 0), 5);
	check("close the last", close(d), 0);
	check("then it is gone", fcntl(d, F_GETFD) == -1 && errno == EBADF, 1);
}

static void last_close_ends_the_pipe(void)
{
	int p[2];
	if (pipe(p) < 0)
		exit(1);
	int w2 = dup(p[1]), w3 = dup2(p[1], 60);
	close(p[1]);
	check("pipe: a write through a dup", write(w2, "x", 1), 1);
	char c;
	check("... read", read(p[0], &c, 1), 1);
	close(w2);
	check("one dup left: no end-of-file", eof_now(p[0]), 0);
	int many[300];
	for (int i = 0; i < 300; i++)
		many[i] = dup(w3);
	close(w3);
	check("300 more: no end-of-file", eof_now(p[0]), 0);
	for (int i = 0; i < 300; i++)
		close(many[i]);
	check("all closed: end-of-file", eof_now(p[0]), 1);
	close(p[0]);
}

static void across_fork(void)
{
	int p[2];
	if (pipe(p) < 0)
		exit(1);
	int w = dup(p[1]);
	pid_t k = fork();
	if (k == 0) { /* the child's copies go at its exit; its closes leave the parent's */
		close(p[1]);
		_exit(write(w, "c", 1) == 1 ? 0 : 1);
	}
	int st;
	waitpid(k, &st, 0);
	check("fork: the child wrote through its dup", WIFEXITED(st) && WEXITSTATUS(st) == 0, 1);
	char c;
	check("... read", read(p[0], &c, 1), 1);
	close(p[1]);
	check("the parent's dup keeps the pipe", eof_now(p[0]), 0);
	close(w);
	check("closed: end-of-file", eof_now(p[0]), 1);
	close(p[0]);
}

static void epoll_keys(void)
{
	int p[2];
	if (pipe(p) < 0)
		exit(1);
	int ep = epoll_create1(0), r2 = dup(p[0]), r3 = dup(p[0]);
	struct epoll_event e = { .events = EPOLLIN, .data.u32 = 1 };
	check("epoll: add a pipe's read end", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e), 0);
	e.data.u32 = 2;
	check("... and a duplicate of it", epoll_ctl(ep, EPOLL_CTL_ADD, r2, &e), 0);
	check("... the same one again", epoll_ctl(ep, EPOLL_CTL_ADD, r2, &e) == -1 && errno == EEXIST, 1);
	check("... delete one never added", epoll_ctl(ep, EPOLL_CTL_DEL, r3, NULL) == -1 && errno == ENOENT, 1);
	e.data.u32 = 3;
	check("... modify the first", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e), 0);
	if (write(p[1], "z", 1) != 1)
		exit(1);
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 1000);
	unsigned seen = 0;
	for (int i = 0; i < n; i++)
		seen |= 1u << out[i].data.u32;
	check("... both report, with their own data", n == 2 && seen == ((1u << 2) | (1u << 3)), 1);
	check("... delete the duplicate", epoll_ctl(ep, EPOLL_CTL_DEL, r2, NULL), 0);
	n = epoll_wait(ep, out, 4, 1000);
	check("... the first still reports", n == 1 && out[0].data.u32 == 3, 1);
	char c;
	check("... read through the third", read(r3, &c, 1), 1);
	int r4 = dup(p[0]); /* made after its original was added */
	e.data.u32 = 4;
	check("... a later duplicate: MOD says it was never added",
	      epoll_ctl(ep, EPOLL_CTL_MOD, r4, &e) == -1 && errno == ENOENT, 1);
	check("... and DEL", epoll_ctl(ep, EPOLL_CTL_DEL, r4, NULL) == -1 && errno == ENOENT, 1);
	check("... ADD works", epoll_ctl(ep, EPOLL_CTL_ADD, r4, &e), 0);
	check("... the first was left as it was", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) == -1 && errno == EEXIST, 1);
	close(r4);
	close(r2);
	close(r3);
	close(p[0]);
	close(p[1]);
	close(ep);
}

static void out_of_descriptors(void)
{
	struct rlimit old, lim = { 64, 64 };
	getrlimit(RLIMIT_NOFILE, &old);
	setrlimit(RLIMIT_NOFILE, &lim);
	int p[2];
	if (pipe(p) < 0)
		exit(1);
	int last = -1, n = 0;
	for (int d; (d = dup(p[1])) >= 0; n++)
		last = d;
	check("dup up to the limit: EMFILE", errno, EMFILE);
	check("F_DUPFD past the free ones: EMFILE", fcntl(p[1], F_DUPFD, 10) == -1 && errno == EMFILE, 1);
	check("F_DUPFD at the limit: EINVAL", fcntl(p[1], F_DUPFD, 64) == -1 && errno == EINVAL, 1);
	check("dup2 past the limit: EBADF", dup2(p[1], 64) == -1 && errno == EBADF, 1);
	check("the original still writes", write(p[1], "y", 1), 1);
	for (int d = p[1] + 1; d <= last; d++)
		close(d);
	close(p[1]);
	char c;
	check("... read", read(p[0], &c, 1), 1);
	check("every copy closed: end-of-file", eof_now(p[0]), 1);
	printf("duplicates made: %s\n", n > 50 ? "many" : "few");
	close(p[0]);
	setrlimit(RLIMIT_NOFILE, &old);
}

int main(void)
{
	alarm(20); /* a miscounted last close would leave a reader waiting */
	setvbuf(stdout, NULL, _IONBF, 0);
	offsets_and_flags();
	last_close_ends_the_pipe();
	across_fork();
	epoll_keys();
	out_of_descriptors();
	return 0;
}
