// SPDX-License-Identifier: Apache-2.0
// Guest program: signal-driven I/O and directory notification — fcntl F_SETOWN/F_GETOWN(_EX),
// F_SETSIG/F_GETSIG, O_ASYNC by F_SETFL and FIOASYNC, FIOSETOWN/FIOGETOWN on sockets, the signal a
// pipe or socket sends its owner (SIGIO with SI_KERNEL, or F_SETSIG's with the POLL_* reason, band
// and fd), shared by dups and a fork's copy, to another process and to a process group; F_NOTIFY
// one-shot and DN_MULTISHOT. Every line is compared with native.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* fcntl as the kernel answers it (glibc turns F_GETOWN into F_GETOWN_EX) */
static long fc(int fd, int cmd, long arg)
{
	long r = syscall(SYS_fcntl, fd, cmd, arg);
	return r < 0 ? -errno : r;
}

/* Wait up to 2 s for one of the blocked signals in @set; print it as a line. */
static void expect(const char *what, const sigset_t *set, int fd)
{
	siginfo_t si;
	struct timespec ts = { 2, 0 };
	int sig = sigtimedwait(set, &si, &ts);
	if (sig < 0) {
		printf("%s: none\n", what);
		return;
	}
	if (si.si_code == SI_KERNEL)
		printf("%s: sig %s code SI_KERNEL\n", what, sig == SIGIO ? "SIGIO" : sig == SIGURG ? "SIGURG" : "other");
	else
		printf("%s: sig %d code %d band %#lx fd %s\n", what, sig == SIGIO ? 0 : sig - SIGRTMIN, si.si_code,
		       si.si_band, si.si_fd == fd ? "right" : "wrong");
}

/* Nothing more is pending within 100 ms. */
static void quiet(const char *what, const sigset_t *set)
{
	siginfo_t si;
	struct timespec ts = { 0, 100000000 };
	int sig = sigtimedwait(set, &si, &ts);
	printf("%s: %s\n", what, sig < 0 ? "quiet" : "a signal");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGURG);
	sigaddset(&set, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &set, NULL);

	int p[2];
	if (pipe(p) < 0)
		return 1;
	struct f_owner_ex o = { 9, 9 };
	long r1 = fc(p[0], F_GETOWN, 0), r2 = fc(p[0], F_GETSIG, 0), r3 = fc(p[0], F_GETOWN_EX, (long)&o);
	printf("fresh: getown %ld getsig %ld getown_ex %ld type %d pid %d async %d\n", r1, r2, r3, o.type, o.pid,
	       (int)(fc(p[0], F_GETFL, 0) & O_ASYNC) != 0);
	r1 = fc(p[0], F_SETOWN, 999999);
	r2 = fc(p[0], F_SETOWN, INT_MIN);
	r3 = fc(p[0], F_SETSIG, 65);
	printf("bad: setown %ld %ld setsig %ld\n", r1, r2, r3);
	o = (struct f_owner_ex){ 7, 0 };
	r1 = fc(p[0], F_SETOWN_EX, (long)&o);
	r2 = fc(p[0], F_SETOWN_EX, 8);
	printf("bad: setown_ex type %ld badptr %ld\n", r1, r2);
	r1 = fc(p[0], F_SETSIG, 64);
	r2 = fc(p[0], F_GETSIG, 0);
	r3 = fc(p[0], F_SETSIG, 0);
	printf("setsig 64 %ld getsig %ld reset %ld\n", r1, r2, r3);

	/* The reading end: SIGIO (SI_KERNEL) on each write, seen through a dup too. */
	r1 = fc(p[0], F_SETOWN, getpid());
	r2 = fc(p[0], F_SETFL, O_ASYNC);
	printf("setown %ld setfl %ld\n", r1, r2);
	int d = dup(p[0]);
	printf("dup: getown is me %d async %d\n", fc(d, F_GETOWN, 0) == getpid(), (int)(fc(d, F_GETFL, 0) & O_ASYNC) != 0);
	quiet("armed, nothing written", &set);
	if (write(p[1], "a", 1) != 1)
		return 1;
	expect("write", &set, p[0]);
	/* F_SETSIG through the dup: the signal carries the reason, the band and the armed fd. */
	printf("setsig %ld\n", fc(d, F_SETSIG, SIGRTMIN + 1));
	if (write(p[1], "b", 1) != 1)
		return 1;
	expect("write with F_SETSIG", &set, p[0]);
	char buf[65536];
	if (read(p[0], buf, sizeof(buf)) != 2)
		return 1;
	/* A fork's copy shares the description: the child's write signals the parent. */
	pid_t c = fork();
	if (c == 0) {
		printf("child sees owner %d\n", fc(p[0], F_GETOWN, 0) == getppid());
		_exit(write(p[1], "c", 1) == 1 ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	expect("child's write", &set, p[0]);
	if (read(p[0], buf, sizeof(buf)) != 1)
		return 1;
	/* The writer closes: the reader's owner gets POLL_IN. */
	close(p[1]);
	expect("writer closed", &set, p[0]);
	close(d);
	close(p[0]);

	/* The writing end: room again after the pipe was full is POLL_OUT. */
	if (pipe2(p, O_NONBLOCK) < 0)
		return 1;
	r1 = fc(p[1], F_SETOWN, getpid());
	r2 = fc(p[1], F_SETSIG, SIGRTMIN + 1);
	r3 = fc(p[1], F_SETFL, O_ASYNC | O_NONBLOCK);
	printf("writer: setown %ld setsig %ld setfl %ld\n", r1, r2, r3);
	quiet("writable, nothing read", &set);
	memset(buf, 'x', sizeof(buf));
	while (write(p[1], buf, 4096) > 0)
		;
	if (read(p[0], buf, 4096) != 4096)
		return 1;
	expect("room to write", &set, p[1]);
	/* Disarmed: no more signals. */
	r1 = fc(p[1], F_SETFL, O_NONBLOCK);
	printf("disarm %ld async %d\n", r1, (int)(fc(p[1], F_GETFL, 0) & O_ASYNC) != 0);
	while (write(p[1], buf, 4096) > 0)
		;
	if (read(p[0], buf, 4096) != 4096)
		return 1;
	quiet("disarmed", &set);
	fc(p[1], F_SETFL, O_ASYNC | O_NONBLOCK);
	close(p[0]);
	expect("reader closed", &set, p[1]);
	quiet("nothing else", &set);
	close(p[1]);

	/* A socket: FIOSETOWN and FIOASYNC; data, then the peer leaving (POLL_HUP). */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	int me = getpid(), on = 1, got = 0;
	int i1 = ioctl(sv[0], FIOSETOWN, &me), i2 = ioctl(sv[0], FIOASYNC, &on), i3 = ioctl(sv[0], FIOGETOWN, &got);
	printf("socket: fiosetown %d fioasync %d fiogetown %d is me %d async %d\n", i1, i2, i3, got == me,
	       (int)(fc(sv[0], F_GETFL, 0) & O_ASYNC) != 0);
	printf("fiosetown on a pipe: %d\n", pipe(p) == 0 && ioctl(p[0], FIOSETOWN, &me) < 0 ? errno : 0);
	close(p[0]);
	close(p[1]);
	quiet("socket writable, nothing sent", &set);
	if (send(sv[1], "hi", 2, 0) != 2)
		return 1;
	expect("socket data", &set, sv[0]);
	printf("setsig %ld\n", fc(sv[0], F_SETSIG, SIGRTMIN + 1));
	if (send(sv[1], "hi", 2, 0) != 2)
		return 1;
	expect("socket data with F_SETSIG", &set, sv[0]);
	close(sv[1]);
	expect("peer closed", &set, sv[0]);
	quiet("nothing else", &set);
	close(sv[0]);

	/* Another process as the owner, and a process group (negative F_SETOWN). */
	for (int group = 0; group < 2; group++) {
		int ready[2], go[2];
		if (pipe(ready) < 0 || pipe(go) < 0 || pipe(p) < 0)
			return 1;
		c = fork();
		if (c == 0) {
			if (group)
				setpgid(0, 0);
			sigset_t w;
			sigemptyset(&w);
			sigaddset(&w, SIGIO);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			siginfo_t si;
			struct timespec ts = { 2, 0 };
			_exit(sigtimedwait(&w, &si, &ts) == SIGIO ? 0 : 1);
		}
		char ch;
		if (read(ready[0], &ch, 1) != 1)
			return 1;
		if (group)
			setpgid(c, c); /* either order wins the race */
		r1 = fc(p[0], F_SETOWN, group ? -c : c);
		/* F_GETOWN of a group is negative: glibc's syscall() takes a small one for an error */
		long back = group ? -c : fc(p[0], F_GETOWN, 0);
		o = (struct f_owner_ex){ 9, 9 };
		fc(p[0], F_GETOWN_EX, (long)&o);
		printf("%s owner: setown %ld getown right %d type %d right %d\n", group ? "group" : "child", r1,
		       back == (group ? -c : c), o.type, o.pid == c);
		fc(p[0], F_SETFL, O_ASYNC);
		if (write(p[1], "x", 1) != 1)
			return 1;
		waitpid(c, &st, 0);
		printf("%s got SIGIO: %d\n", group ? "group" : "child", WIFEXITED(st) && WEXITSTATUS(st) == 0);
		close(p[0]);
		close(p[1]);
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
	}

	/* F_NOTIFY: one shot, then DN_MULTISHOT; closing the fd ends it. */
	char dir[] = "/tmp/cvisor-dnotify-XXXXXX", f[64];
	if (!mkdtemp(dir))
		return 1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int nf = open("/etc/passwd", O_RDONLY); /* a file everywhere (the program may sit in the host's /tmp) */
	r1 = fc(nf, F_NOTIFY, DN_CREATE);
	r2 = fc(dfd, F_NOTIFY, DN_MULTISHOT);
	printf("notify on a file: %ld, no events: %ld\n", r1, r2);
	close(nf);
	r1 = fc(dfd, F_NOTIFY, DN_CREATE);
	printf("notify: %ld getown is me %d\n", r1, fc(dfd, F_GETOWN, 0) == getpid());
	snprintf(f, sizeof(f), "%s/a", dir);
	close(open(f, O_CREAT | O_WRONLY, 0600));
	expect("created", &set, dfd);
	snprintf(f, sizeof(f), "%s/b", dir);
	close(open(f, O_CREAT | O_WRONLY, 0600));
	quiet("one shot", &set);
	r1 = fc(dfd, F_SETSIG, SIGRTMIN + 1);
	r2 = fc(dfd, F_NOTIFY, DN_DELETE | DN_MULTISHOT);
	printf("multishot: %ld %ld\n", r1, r2);
	unlink(f);
	expect("deleted", &set, dfd);
	snprintf(f, sizeof(f), "%s/a", dir);
	unlink(f);
	expect("deleted again", &set, dfd);
	close(dfd);
	rmdir(dir);
	quiet("closed", &set);
	return 0;
}
