// SPDX-License-Identifier: Apache-2.0
// Guest program: fcntl record locks between processes — a write lock refuses another process's lock
// (F_SETLK: EAGAIN), F_GETLK reports it, F_SETLKW waits for the unlock — and the OFD forms.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int lock(int fd, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	return fcntl(fd, cmd, &fl) < 0 ? -errno : 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char path[] = "/tmp/cvisor-locks-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16)
		return 1;
	printf("parent write lock: %d\n", lock(fd, F_SETLK, F_WRLCK));
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		int cfd = open(path, O_RDWR);
		int r = lock(cfd, F_SETLK, F_WRLCK);
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
		fcntl(cfd, F_GETLK, &q);
		printf("child: F_SETLK %s; F_GETLK sees %s at %ld+%ld\n", strerror(-r),
		       q.l_type == F_WRLCK ? "a write lock" : "no lock", (long)q.l_start, (long)q.l_len);
		printf("child: other bytes: %d\n", lock(cfd, F_SETLK, F_UNLCK) == 0 &&
							   fcntl(cfd, F_SETLK, &(struct flock){ .l_type = F_WRLCK, .l_start = 12, .l_len = 2 }) == 0);
		write(p[1], "w", 1);
		r = lock(cfd, F_SETLKW, F_RDLCK); /* waits for the parent's unlock */
		printf("child: F_SETLKW after the unlock: %d\n", r);
		_exit(0);
	}
	char b;
	read(p[0], &b, 1);
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	nanosleep(&nap, NULL);
	int un = lock(fd, F_SETLK, F_UNLCK);
	int st;
	waitpid(c, &st, 0); /* the child's line first: the output is compared */
	printf("parent unlocked: %d\n", un);
	/* OFD locks: two opens of the file conflict even in one process. */
	int a = open(path, O_RDWR), d = open(path, O_RDWR);
	int first = lock(a, F_OFD_SETLK, F_WRLCK), second = lock(d, F_OFD_SETLK, F_WRLCK);
	printf("OFD: first %d, second %s\n", first, strerror(-second));
	unlink(path);
	return 0;
}
