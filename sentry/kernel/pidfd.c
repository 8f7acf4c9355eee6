// SPDX-License-Identifier: Apache-2.0
// pidfds (issue 12): pidfd_open gives the application the read end of a host pipe of the sentry's
// own, which becomes readable when the process ends (a byte is written, as Linux's pidfd polls
// readable then); pidfd_send_signal and waitid(P_PIDFD) find the process again by the pipe's inode.
// asyncio's PidfdChildWatcher and subprocess-style waiters work as natively; read(2) on a pidfd gives
// that byte where Linux says EINVAL (nothing uses it). The sentry keeps the write end until no read
// end is left anywhere (the pipe then reports POLLERR on it): each pidfd_open first forgets those, so
// the records and host fds follow what the application holds, and a pipe's inode is never reused
// while a record names it.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

struct pidfd {
	dev_t dev;
	ino_t ino;
	int pid;
	int wfd;    /* the pipe's write end, kept while any read end is open */
	bool ended; /* the byte that says so is written */
	struct pidfd *next;
};

static struct pidfd *pidfds; /* s->lock; one sentry per process */

/* Forget the pidfds whose every read end is closed (s->lock held). */
static void sweep(void)
{
	for (struct pidfd **pp = &pidfds; *pp;) {
		struct pollfd p = { .fd = (*pp)->wfd, .events = POLLOUT };
		if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) {
			struct pidfd *e = *pp;
			*pp = e->next;
			close(e->wfd);
			free(e);
			continue;
		}
		pp = &(*pp)->next;
	}
}

long sys_pidfd_open(struct task *t, uint64_t pid, uint64_t flags)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (flags & ~(uint64_t)PIDFD_NONBLOCK)
		return -EINVAL;
	if ((int32_t)pid <= 0)
		return -EINVAL;
	int p[2];
	if (pipe2(p, O_CLOEXEC | ((flags & PIDFD_NONBLOCK) ? O_NONBLOCK : 0)) < 0)
		return -errno;
	struct stat st;
	struct pidfd *e = calloc(1, sizeof(*e));
	if (!e || fstat(p[0], &st) < 0) {
		free(e);
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	long ret = -ESRCH;
	pthread_mutex_lock(&s->lock);
	sweep();
	for (struct process *q = s->procs; q; q = q->next) {
		if (q->pid == (int)pid) {
			ret = 0;
			if (q->zombie) { /* ended already: readable from the start */
				ssize_t n = write(p[1], "x", 1);
				(void)n;
				e->ended = true;
			}
			break;
		}
		for (struct task *o = q->zombie ? NULL : q->tasks; o; o = o->next)
			if (o->tid == (int)pid && !o->exited)
				ret = -ENOENT; /* a thread, not a process */
	}
	if (ret == 0) {
		*e = (struct pidfd){ st.st_dev, st.st_ino, (int)pid, p[1], e->ended, pidfds };
		pidfds = e;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0) {
		free(e);
		close(p[0]);
		close(p[1]);
		return ret;
	}
	return fd_install(pr, p[0], true); /* pidfds are close-on-exec */
}

void pidfd_process_ended(struct process *pr)
{
	for (struct pidfd *e = pidfds; e; e = e->next)
		if (e->pid == pr->pid && !e->ended) {
			ssize_t n = write(e->wfd, "x", 1);
			(void)n;
			e->ended = true;
		}
}

/* The pid a pidfd (application fd @fd) stands for: > 0, or -EBADF. A descriptor of a /proc/PID
 * directory is one too, as Linux takes it. */
static long pidfd_pid(struct process *pr, uint64_t fd, bool proc_dir_too)
{
	int h = fd < SENTRY_MAX_FDS ? __atomic_load_n(&pr->fds[fd], __ATOMIC_RELAXED) : -1;
	struct stat st;
	if (h < 0 || fstat(h, &st) < 0)
		return -EBADF;
	if (S_ISDIR(st.st_mode) && proc_dir_too) {
		char sp[SENTRY_PATH_MAX], *end;
		if (fs_fd_spath(pr, h, sp) < 0 || strncmp(sp, "/proc/", 6) != 0)
			return -EBADF;
		long pid = strcmp(sp + 6, "self") == 0 ? pr->pid : strtol(sp + 6, &end, 10);
		return pid > 0 && (strcmp(sp + 6, "self") == 0 || !*end) ? pid : -EBADF;
	}
	if (!S_ISFIFO(st.st_mode))
		return -EBADF;
	long pid = -EBADF;
	pthread_mutex_lock(&pr->s->lock);
	for (struct pidfd *e = pidfds; e && pid < 0; e = e->next)
		if (e->dev == st.st_dev && e->ino == st.st_ino)
			pid = e->pid;
	pthread_mutex_unlock(&pr->s->lock);
	return pid;
}

#define PIDFD_SIGNAL_THREAD 1u        /* Linux 6.9: the thread the pidfd names */
#define PIDFD_SIGNAL_THREAD_GROUP 2u  /* its process (the default) */
#define PIDFD_SIGNAL_PROCESS_GROUP 4u /* its process group */

long sys_pidfd_send_signal(struct task *t, uint64_t fd, uint64_t sig, uint64_t uinfo, uint64_t flags)
{
	if ((flags & ~(uint64_t)7) || __builtin_popcountll(flags) > 1)
		return -EINVAL;
	long pid = pidfd_pid(t->proc, fd, true);
	if (pid < 0)
		return pid;
	int pgid = 0;
	bool alive = false;
	pthread_mutex_lock(&t->proc->s->lock);
	for (struct process *q = t->proc->s->procs; q; q = q->next)
		if (q->pid == pid && !q->zombie)
			alive = true, pgid = q->pgid;
	pthread_mutex_unlock(&t->proc->s->lock);
	if (!alive)
		return -ESRCH;
	int64_t target = flags == PIDFD_SIGNAL_PROCESS_GROUP ? -(int64_t)pgid : pid;
	int64_t tid = flags == PIDFD_SIGNAL_THREAD ? pid : 0;
	if (uinfo)
		return sig_queueinfo(t, target, tid, sig, uinfo);
	return sig_kill(t, target, tid, sig, SI_USER);
}

long pidfd_waitid_pid(struct process *pr, uint64_t fd)
{
	return pidfd_pid(pr, fd, false); /* waitid takes no /proc/PID directory */
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(pidfd_open, sys_pidfd_open(t, a[0], a[1]))
SYSCALL_ENTRY(pidfd_send_signal, sys_pidfd_send_signal(t, a[0], a[1], a[2], a[3]))
