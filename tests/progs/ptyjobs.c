// SPDX-License-Identifier: Apache-2.0
// Guest program: job control on a pseudo-terminal the program makes (as script, expect and
// pty.fork do): a session leader takes the slave with TIOCSCTTY; ^C and ^Z written to the master
// reach the foreground group (SIGINT ends it, SIGTSTP stops it); a background group reading the
// terminal gets SIGTTIN; TIOCGPGRP/TIOCGSID/TIOCSPGRP and their errors, from inside the session and
// from outside it (master and slave). Every line is compared with native.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int up[2], down[2]; /* the session leader tells the parent when to type, the parent says done */

static void tell(char c)
{
	if (write(up[1], &c, 1) != 1)
		_exit(9);
}

static char hear(int fd)
{
	char c = 0;
	if (read(fd, &c, 1) != 1)
		return 0;
	return c;
}

static const char *how(int st)
{
	static char buf[64];
	if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by %s", strsignal(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		snprintf(buf, sizeof(buf), "stopped by %s", strsignal(WSTOPSIG(st)));
	else
		snprintf(buf, sizeof(buf), "exited %d", WEXITSTATUS(st));
	return buf;
}

/* A child in a group of its own that waits (pause) or reads the terminal. */
static pid_t job(int tty, bool reads)
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		if (reads) {
			char b;
			ssize_t n = read(tty, &b, 1);
			_exit(n < 0 ? 2 : 3);
		}
		pause();
		_exit(4);
	}
	setpgid(c, c);
	return c;
}

static void leader(const char *slave_name)
{
	setsid();
	signal(SIGTTOU, SIG_IGN); /* as a shell: it hands the terminal to its jobs from the background */
	int tty = open(slave_name, O_RDWR | O_NOCTTY);
	int v = -1;
	printf("TIOCGPGRP before TIOCSCTTY: %s\n", ioctl(tty, TIOCGPGRP, &v) < 0 ? strerror(errno) : "ok");
	printf("TIOCSCTTY: %s\n", ioctl(tty, TIOCSCTTY, 0) < 0 ? strerror(errno) : "ok");
	printf("TIOCSCTTY again: %s\n", ioctl(tty, TIOCSCTTY, 0) < 0 ? strerror(errno) : "ok");
	printf("foreground is me: %d\n", tcgetpgrp(tty) == getpid());
	pid_t sid = -1;
	printf("TIOCGSID is me: %d\n", ioctl(tty, TIOCGSID, &sid) == 0 && sid == getpid());
	printf("tcsetpgrp to a missing group: %s\n", tcsetpgrp(tty, 999999) < 0 ? strerror(errno) : "ok");

	pid_t b = job(tty, false);
	printf("tcsetpgrp to the job: %s\n", tcsetpgrp(tty, b) < 0 ? strerror(errno) : "ok");
	tell('c'); /* type ^C */
	int st;
	waitpid(b, &st, 0);
	printf("^C: job %s\n", how(st));
	hear(down[0]);

	pid_t c = job(tty, false);
	tcsetpgrp(tty, c);
	tell('z'); /* type ^Z */
	waitpid(c, &st, WUNTRACED);
	printf("^Z: job %s\n", how(st));
	hear(down[0]);
	kill(c, SIGKILL);
	waitpid(c, &st, 0);

	printf("tcsetpgrp back to me: %s\n", tcsetpgrp(tty, getpgrp()) < 0 ? strerror(errno) : "ok");
	pid_t d = job(tty, true);
	waitpid(d, &st, WUNTRACED);
	printf("background read: job %s\n", how(st));
	kill(d, SIGKILL);
	waitpid(d, &st, 0);
	pid_t e = fork(); /* a background job taking the terminal gets SIGTTOU first */
	if (e == 0) {
		setpgid(0, 0);
		signal(SIGTTOU, SIG_DFL);
		_exit(tcsetpgrp(tty, getpgrp()) < 0 ? 2 : 3);
	}
	setpgid(e, e);
	waitpid(e, &st, WUNTRACED);
	printf("background tcsetpgrp: job %s\n", how(st));
	kill(e, SIGKILL);
	waitpid(e, &st, 0);
	tell('q');
	hear(down[0]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return 1;
	char name[64];
	if (ptsname_r(m, name, sizeof(name)) != 0)
		return 1;
	if (pipe(up) < 0 || pipe(down) < 0)
		return 1;
	pid_t a = fork();
	if (a == 0) {
		leader(name);
		_exit(0);
	}
	int outside = open(name, O_RDWR | O_NOCTTY), v = -1;
	for (char c; (c = hear(up[0])) != 'q' && c;) {
		if (c == 'c' || c == 'z') {
			char key = c == 'c' ? 3 : 26;
			if (write(m, &key, 1) != 1)
				return 1;
		}
		if (write(down[1], "k", 1) != 1)
			return 1;
	}
	printf("outside: TIOCGPGRP on the master is the leader's group: %d\n", ioctl(m, TIOCGPGRP, &v) == 0 && v == a);
	/* A session leader that opens a free pty without O_NOCTTY takes it as its terminal. */
	int m2 = posix_openpt(O_RDWR | O_NOCTTY);
	char name2[64];
	if (m2 < 0 || grantpt(m2) < 0 || unlockpt(m2) < 0 || ptsname_r(m2, name2, sizeof(name2)) != 0)
		return 1;
	pid_t l2 = fork();
	if (l2 == 0) {
		setsid();
		int t2 = open(name2, O_RDWR); /* no O_NOCTTY */
		printf("opened without O_NOCTTY: foreground is me %d\n", tcgetpgrp(t2) == getpid());
		_exit(0);
	}
	waitpid(l2, NULL, 0);
	printf("outside: TIOCGPGRP on the slave: %s\n", ioctl(outside, TIOCGPGRP, &v) < 0 ? strerror(errno) : "ok");
	printf("outside: TIOCSPGRP on the slave: %s\n", ioctl(outside, TIOCSPGRP, &v) < 0 ? strerror(errno) : "ok");
	if (write(down[1], "k", 1) != 1)
		return 1;
	int st;
	waitpid(a, &st, 0);
	printf("leader %s\n", how(st));
	return 0;
}
