// SPDX-License-Identifier: Apache-2.0
// Guest program: inotify — a watched directory reports a file created, written, closed and removed;
// a watch on a missing path or with a bad descriptor fails; a watch is removed.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static void drain(int in)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd p = { in, POLLIN, 0 };
	while (poll(&p, 1, 200) == 1) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *q = buf; q < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)q;
			printf("event%s%s%s%s %s\n", (e->mask & IN_CREATE) ? " CREATE" : "", (e->mask & IN_MODIFY) ? " MODIFY" : "",
			       (e->mask & IN_CLOSE_WRITE) ? " CLOSE_WRITE" : "", (e->mask & IN_DELETE) ? " DELETE" : "",
			       e->len ? e->name : "");
			q += sizeof(*e) + e->len;
		}
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char dir[] = "/tmp/cvisor-inotify-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	int wd = inotify_add_watch(in, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE);
	printf("watch: %d\n", wd > 0);
	char f[64];
	snprintf(f, sizeof(f), "%s/file", dir);
	int fd = open(f, O_WRONLY | O_CREAT, 0600);
	write(fd, "x", 1);
	close(fd);
	unlink(f);
	drain(in);
	errno = 0;
	int missing = inotify_add_watch(in, "/nonexistent/dir", IN_CREATE);
	printf("missing path: %d %s\n", missing, strerror(errno));
	errno = 0;
	int bad = inotify_add_watch(12345, dir, IN_CREATE);
	printf("bad fd: %d %s\n", bad, strerror(errno));
	printf("rm_watch: %d\n", inotify_rm_watch(in, wd));
	rmdir(dir);
	return 0;
}
