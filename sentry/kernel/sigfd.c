// SPDX-License-Identifier: Apache-2.0
// signalfd: signals read as data. Signals are the sentry's, so a signalfd is too: the application's
// descriptor is the read end of a host pipe, which the sentry keeps readable (a byte written to its
// write end) while a signal in the fd's mask is pending for the process — so poll, select and epoll
// see it like any descriptor — and a read(2) of it is served here: pending signals of the mask are
// dequeued and returned as struct signalfd_siginfo. A signalfd is recognised by its pipe's inode, so
// dup'd, inherited and exec'd copies are the same signalfd, as in Linux.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#define SIG_BIT(sig) (1ull << ((sig) - 1))

/* The signals of @mask pending for process @p (s->lock held). */
static uint64_t pending_of(const struct process *p, uint64_t mask)
{
	uint64_t set = 0;
	for (const struct task *o = p->tasks; o; o = o->next)
		if (!o->exited)
			set |= o->pending;
	return set & mask;
}

/* Make @f's pipe readable while a signal of its mask is pending (s->lock held): one byte in it. A read
 * that finds nothing pending drains it (drain()). */
static void make_ready(const struct process *p, struct sigfd *f)
{
	int queued = 0;
	if (pending_of(p, f->mask) && ioctl(f->wr, FIONREAD, &queued) == 0 && !queued) {
		ssize_t w = write(f->wr, "s", 1);
		(void)w;
	}
}

/* Empty the pipe behind read end @h: nothing of its mask is pending (s->lock held). */
static void drain(int h)
{
	int queued = 0;
	char b[64];
	ioctl(h, FIONREAD, &queued);
	while (queued > 0) {
		ssize_t r = read(h, b, queued < (int)sizeof(b) ? (size_t)queued : sizeof(b));
		if (r <= 0)
			break;
		queued -= (int)r;
	}
}

/* Forget the signalfds whose every descriptor is closed (the write end then polls POLLERR), so a
 * program that makes and closes them in a loop holds no host fds for them (s->lock held). */
static void prune(struct process *p)
{
	for (struct sigfd **pp = &p->sigfds; *pp;) {
		struct pollfd q = { (*pp)->wr, POLLOUT, 0 };
		if (poll(&q, 1, 0) == 1 && (q.revents & POLLERR)) {
			struct sigfd *dead = *pp;
			*pp = dead->next;
			close(dead->wr);
			free(dead);
			continue;
		}
		pp = &(*pp)->next;
	}
}

void sigfd_signalled(struct process *p)
{
	for (struct sigfd *f = p->sigfds; f; f = f->next)
		make_ready(p, f);
}

/* The signalfd host fd @h belongs to, or NULL (s->lock held). */
static struct sigfd *sigfd_of(const struct process *p, int h)
{
	struct stat st;
	if (!p->sigfds || fstat(h, &st) < 0 || !S_ISFIFO(st.st_mode))
		return NULL;
	for (struct sigfd *f = p->sigfds; f; f = f->next)
		if (f->ino == st.st_ino)
			return f;
	return NULL;
}

bool sigfd_is(struct process *p, int h)
{
	struct sentry *s = p->s;
	if (!__atomic_load_n(&p->sigfds, __ATOMIC_RELAXED))
		return false; /* the common case: one load, no syscall */
	pthread_mutex_lock(&s->lock);
	bool is = sigfd_of(p, h) != NULL;
	pthread_mutex_unlock(&s->lock);
	return is;
}

long sys_signalfd(struct task *t, int64_t fd, uint64_t umask, uint64_t size, uint64_t flags)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	uint64_t mask;
	if (size != 8 || (flags & ~(uint64_t)(SFD_NONBLOCK | SFD_CLOEXEC)))
		return -EINVAL;
	if (mm_copy_in(pr, umask, &mask, sizeof(mask)) < 0)
		return -EFAULT;
	mask &= ~(SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP));
	if (fd != -1) { /* a new mask for an existing one */
		int h = app_host_fd(pr, (uint64_t)fd);
		if (h < 0)
			return -EBADF;
		pthread_mutex_lock(&s->lock);
		struct sigfd *f = sigfd_of(pr, h);
		if (f) {
			f->mask = mask;
			if (!pending_of(pr, mask))
				drain(h);
			make_ready(pr, f);
		}
		pthread_mutex_unlock(&s->lock);
		return f ? fd : -EINVAL;
	}
	int p[2];
	struct stat st;
	struct sigfd *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(f);
		return -errno == -EMFILE ? -EMFILE : -ENFILE;
	}
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (flags & SFD_NONBLOCK)
		fcntl(p[0], F_SETFL, O_NONBLOCK);
	fstat(p[0], &st);
	*f = (struct sigfd){ .ino = st.st_ino, .wr = p[1], .mask = mask };
	pthread_mutex_lock(&s->lock);
	prune(pr);
	f->next = pr->sigfds;
	__atomic_store_n(&pr->sigfds, f, __ATOMIC_RELEASE);
	make_ready(pr, f);
	pthread_mutex_unlock(&s->lock);
	return fd_install(pr, p[0], flags & SFD_CLOEXEC);
}

/* Dequeue up to @max signals of @mask pending for the process, caller's own first (s->lock held). */
static int dequeue(struct task *t, uint64_t mask, struct signalfd_siginfo *out, int max)
{
	int n = 0;
	for (int pass = 0; pass < 2 && n < max; pass++)
		for (struct task *o = pass ? t->proc->tasks : t; o && n < max; o = pass ? o->next : NULL) {
			uint64_t ready = o->exited ? 0 : o->pending & mask;
			for (int sig = 1; sig <= 64 && n < max && ready; sig++) {
				if (!(ready & SIG_BIT(sig)))
					continue;
				ready &= ~SIG_BIT(sig);
				o->pending &= ~SIG_BIT(sig);
				const siginfo_t *si = &o->pinfo[sig - 1];
				out[n++] = (struct signalfd_siginfo){
					.ssi_signo = (uint32_t)sig, .ssi_errno = si->si_errno, .ssi_code = si->si_code,
					.ssi_pid = (uint32_t)si->si_pid, .ssi_uid = si->si_uid,
					.ssi_status = si->si_code > 0 && sig == SIGCHLD ? si->si_status : 0,
					.ssi_int = si->si_value.sival_int, .ssi_ptr = (uint64_t)si->si_value.sival_ptr,
				};
			}
		}
	return n;
}

long sigfd_read(struct task *t, int h, uint64_t buf, uint64_t len)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct signalfd_siginfo got[16];
	if (len < sizeof(got[0]))
		return -EINVAL;
	int max = len / sizeof(got[0]) < 16 ? (int)(len / sizeof(got[0])) : 16;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		struct sigfd *f = sigfd_of(pr, h);
		int n = f ? dequeue(t, f->mask, got, max) : 0;
		if (f && !pending_of(pr, f->mask))
			drain(h); /* quiet until the next one (others sharing the signals drain on their read) */
		pthread_mutex_unlock(&s->lock);
		if (!f)
			return -EBADF;
		if (n)
			return mm_copy_out(pr, buf, got, (size_t)n * sizeof(got[0])) < 0 ? -EFAULT
											  : (long)(n * sizeof(got[0]));
		int fl = fcntl(h, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			return -EAGAIN;
		long w = host_wait(t, h, POLLIN, -1); /* a matching signal makes the pipe readable */
		if (w < 0)
			return w;
	}
}

void sigfd_fork(struct process *parent, struct process *child)
{
	for (struct sigfd *f = parent->sigfds; f; f = f->next) {
		struct sigfd *c = calloc(1, sizeof(*c));
		if (!c)
			continue;
		*c = *f;
		c->wr = fcntl(f->wr, F_DUPFD_CLOEXEC, 3);
		c->next = child->sigfds;
		child->sigfds = c;
	}
}

void sigfd_free(struct process *p)
{
	while (p->sigfds) {
		struct sigfd *f = p->sigfds;
		p->sigfds = f->next;
		close(f->wr);
		free(f);
	}
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(signalfd, sys_signalfd(t, (int32_t)a[0], a[1], a[2], 0))
SYSCALL_ENTRY(signalfd4, sys_signalfd(t, (int32_t)a[0], a[1], a[2], a[3]))
