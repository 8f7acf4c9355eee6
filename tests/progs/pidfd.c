// SPDX-License-Identifier: Apache-2.0
// pidfds, printed for a native/sandboxed comparison: pidfd_open, poll before and after the process
// ends, waitid(P_PIDFD), pidfd_send_signal, close-on-exec, and the errors.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static int pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static volatile pid_t thread_tid;

static void *a_thread(void *arg)
{
	(void)arg;
	thread_tid = gettid();
	pause();
	return NULL;
}

int main(void)
{
	int go[2];
	if (pipe(go) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		char b;
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		_exit(7);
	}
	int fd = pidfd_open(c, 0);
	show("pidfd_open child", fd >= 0 ? 0 : -1);
	printf("  close-on-exec: %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC);
	printf("  readable before it ends: %d\n", readable(fd, 0));
	if (write(go[1], "g", 1) != 1)
		return 1;
	printf("  readable after it ends: %d\n", readable(fd, 5000));
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	show("waitid P_PIDFD", waitid(P_PIDFD, (id_t)fd, &si, WEXITED));
	printf("  pid ok %d code %d status %d\n", si.si_pid == c, si.si_code, si.si_status);
	show("pidfd_send_signal after reaping", syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0));
	close(fd);

	c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	fd = pidfd_open(c, PIDFD_NONBLOCK);
	show("pidfd_open nonblock", fd >= 0 ? 0 : -1);
	printf("  nonblock: %d\n", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	show("waitid P_PIDFD nonblocking, running", waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG));
	show("pidfd_send_signal SIGKILL", syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0));
	int st;
	show("waitpid", waitpid(c, &st, 0) == c);
	printf("  killed by %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	close(fd);

	pthread_t t;
	pthread_create(&t, NULL, a_thread, NULL);
	while (!thread_tid)
		usleep(1000);
	show("pidfd_open of a thread", pidfd_open(thread_tid, 0));
	show("pidfd_open bad flags", pidfd_open(getpid(), 1));
	show("pidfd_open pid 0", pidfd_open(0, 0));
	show("pidfd_open no such pid", pidfd_open(999999, 0));
	show("pidfd_send_signal not a pidfd", syscall(SYS_pidfd_send_signal, 0, SIGTERM, NULL, 0));
	fd = pidfd_open(getpid(), 0);
	show("pidfd_send_signal to the thread", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 1));
	show("pidfd_send_signal bad flags", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 8));
	show("pidfd_send_signal two flags", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 3));
	show("pidfd_send_signal 0 to self", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0));
	show("waitid P_PIDFD bad fd", waitid(P_PIDFD, 999, &si, WEXITED));
	char self[32];
	snprintf(self, sizeof(self), "/proc/%d", (int)getpid());
	int dirfd = open(self, O_RDONLY | O_DIRECTORY);
	show("pidfd_send_signal by a /proc/PID descriptor", syscall(SYS_pidfd_send_signal, dirfd, 0, NULL, 0));
	show("waitid P_PIDFD by a /proc/PID descriptor", waitid(P_PIDFD, (id_t)dirfd, &si, WEXITED | WNOHANG));
	return 0;
}
