// SPDX-License-Identifier: Apache-2.0
// Host waits that sandbox signals interrupt: poll, ppoll, select, pselect6, epoll_wait, and reads or
// writes that would block on a pipe, socket or terminal. Every task has an eventfd that task_kick()
// signals; a wait polls it beside the application's fds and returns -EINTR when the task has a
// deliverable signal or its process or the sandbox is ending.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../sentry.h"

#define POLL_MAX 4096
#define EPOLL_MAX_EVENTS 65536

void task_kick(struct task *t)
{
	cv_ctx_interrupt(t->ctx);
	uint64_t one = 1;
	if (write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway */
	}
}

static bool must_return(struct task *t)
{
	return sig_interrupting(t) || __atomic_load_n(&t->proc->s->shutting_down, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&t->proc->group_exit, __ATOMIC_ACQUIRE);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ppoll over @fds[0..n) and the task's wake fd (@fds has room for n + 1). @timeout_ms < 0: no limit.
 * Returns how many of @fds have events, 0 on timeout, -EINTR, or -errno.
 */
static long wait_fds(struct task *t, struct pollfd *fds, nfds_t n, int64_t timeout_ms)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
	for (;;) {
		uint64_t v;
		while (read(t->wake_fd, &v, sizeof(v)) == sizeof(v))
			; /* drained before looking: a kick after the look makes the fd readable again */
		if (must_return(t))
			return -EINTR;
		fds[n] = (struct pollfd){ .fd = t->wake_fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left < 0)
				left = 0;
			ts = (struct timespec){ left / 1000, (left % 1000) * 1000000 };
			tsp = &ts;
		}
		bool blocks = !tsp || tsp->tv_sec || tsp->tv_nsec; /* (a zero timeout only looks) */
		if (blocks)
			cpu_block_begin(t);
		int r = ppoll(fds, n + 1, tsp, NULL);
		if (blocks)
			cpu_block_end(t);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[n].revents) {
			r--;
			fds[n].revents = 0;
			if (r == 0)
				continue; /* only the kick: look at the signals again */
		}
		return r;
	}
}

long host_wait(struct task *t, int fd, short events, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = events } };
	return wait_fds(t, p, 1, timeout_ms);
}

int sock_timeout_ms(int fd, bool send)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);
	if (getsockopt(fd, SOL_SOCKET, send ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, &l) < 0 || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	int64_t ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

long host_wait_io(struct task *t, int fd, bool wr)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
		return 0;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return 0;
	if (fl & O_NONBLOCK)
		return 1;
	/* The wrong direction (or an O_PATH fd) fails at once, as the call itself would: waiting for
	 * the other direction never ends (a write to a pipe's read end). */
	if ((fl & O_PATH) || (fl & O_ACCMODE) == (wr ? O_RDONLY : O_WRONLY))
		return -EBADF;
	int timeout = S_ISSOCK(st.st_mode) ? sock_timeout_ms(fd, wr) : -1; /* SO_RCVTIMEO, SO_SNDTIMEO */
	long r = host_wait(t, fd, wr ? POLLOUT : POLLIN, timeout);
	return r < 0 ? r : r == 0 && timeout >= 0 ? -EAGAIN : 0;
}

/* ppoll/pselect6's signal mask: in force for the wait, kept for the handler's frame on -EINTR. */
static long with_mask(struct task *t, uint64_t umask, uint64_t size, uint64_t *mask, bool *has)
{
	*has = false;
	if (!umask)
		return 0;
	if (size != 8)
		return -EINVAL;
	if (mm_copy_in(t->proc, umask, mask, 8) < 0)
		return -EFAULT;
	*has = true;
	return 0;
}

static void mask_enter(struct task *t, bool has, uint64_t mask)
{
	if (!has)
		return;
	t->saved_mask = t->blocked;
	t->has_saved_mask = true;
	t->blocked = mask & ~SIG_UNBLOCKABLE;
}

static void mask_leave(struct task *t, bool has, long ret)
{
	if (has && ret != -EINTR) {
		t->blocked = t->saved_mask;
		t->has_saved_mask = false;
	}
}

/* Poll the application's pollfds @a (translated to host fds); fills revents, returns the count. */
static long poll_core(struct task *t, struct pollfd *a, nfds_t n, int64_t timeout_ms)
{
	struct pollfd *h = malloc((n + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	long nval = 0;
	for (nfds_t i = 0; i < n; i++) {
		h[i] = (struct pollfd){ .fd = -1, .events = a[i].events };
		a[i].revents = 0;
		if (a[i].fd < 0)
			continue;
		h[i].fd = app_host_fd(t->proc, (uint64_t)a[i].fd);
		if (h[i].fd < 0) {
			a[i].revents = POLLNVAL;
			nval++;
		}
	}
	long r = wait_fds(t, h, n, nval ? 0 : timeout_ms);
	if (r >= 0) {
		r = 0;
		for (nfds_t i = 0; i < n; i++) {
			if (h[i].fd >= 0)
				a[i].revents = h[i].revents;
			r += a[i].revents != 0;
		}
	}
	free(h);
	return r;
}

static long poll_user(struct task *t, uint64_t ufds, uint64_t nfds, int64_t timeout_ms, uint64_t mask, bool has)
{
	if (nfds > POLL_MAX)
		return -EINVAL;
	struct pollfd *a = malloc((nfds ? nfds : 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	long r = nfds && mm_copy_in(t->proc, ufds, a, nfds * sizeof(*a)) < 0 ? -EFAULT : 0;
	if (r == 0) {
		mask_enter(t, has, mask);
		r = poll_core(t, a, nfds, timeout_ms);
		mask_leave(t, has, r);
	}
	if (r >= 0 && nfds && mm_copy_out(t->proc, ufds, a, nfds * sizeof(*a)) < 0)
		r = -EFAULT;
	free(a);
	return r;
}

long sys_poll(struct task *t, uint64_t ufds, uint64_t nfds, int64_t timeout_ms, uint64_t umask, bool has_mask)
{
	return poll_user(t, ufds, nfds, timeout_ms < 0 ? -1 : timeout_ms, umask, has_mask);
}

/* A timespec timeout in ms (rounded up), -1 for NULL; -EINVAL/-EFAULT. */
static long timeout_of(struct process *pr, uint64_t uts, int64_t *ms)
{
	*ms = -1;
	if (!uts)
		return 0;
	struct timespec ts;
	if (mm_copy_in(pr, uts, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	*ms = ts.tv_sec > INT32_MAX / 1000 ? INT32_MAX : ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ppoll and pselect6 write back the time left, as Linux (none after a timeout; also when a signal
 * interrupted the wait). @t0: when the wait began. */
static long time_left(struct process *pr, uint64_t uts, int64_t t0, long ret)
{
	struct timespec ts;
	if (!uts || (ret < 0 && ret != -EINTR) || mm_copy_in(pr, uts, &ts, sizeof(ts)) < 0)
		return ret;
	int64_t left = ret == 0 ? 0 : ts.tv_sec * 1000000000 + ts.tv_nsec - (mono_ns() - t0);
	if (left < 0)
		left = 0;
	ts = (struct timespec){ left / 1000000000, left % 1000000000 };
	return mm_copy_out(pr, uts, &ts, sizeof(ts)) < 0 && ret >= 0 ? -EFAULT : ret;
}

long sys_ppoll(struct task *t, uint64_t ufds, uint64_t nfds, uint64_t uts, uint64_t umask, uint64_t masksize)
{
	int64_t ms, t0 = mono_ns();
	uint64_t mask = 0;
	bool has = false;
	long r = timeout_of(t->proc, uts, &ms);
	if (r == 0)
		r = with_mask(t, umask, masksize, &mask, &has);
	return r < 0 ? r : time_left(t->proc, uts, t0, poll_user(t, ufds, nfds, ms, mask, has));
}

#define LONGS(n) (((n) + 63) / 64)

long sys_select(struct task *t, uint64_t nfds, uint64_t ur, uint64_t uw, uint64_t ue, int64_t timeout_ms,
		uint64_t mask, bool has)
{
	if (nfds > FD_SETSIZE)
		return -EINVAL;
	uint64_t in[3][LONGS(FD_SETSIZE)] = { { 0 } }, out[3][LONGS(FD_SETSIZE)] = { { 0 } };
	const uint64_t users[3] = { ur, uw, ue };
	size_t bytes = LONGS(nfds) * 8;
	for (int k = 0; k < 3; k++)
		if (users[k] && bytes && mm_copy_in(t->proc, users[k], in[k], bytes) < 0)
			return -EFAULT;
	struct pollfd a[FD_SETSIZE];
	int fdof[FD_SETSIZE];
	nfds_t n = 0;
	static const short ev[3] = { POLLIN, POLLOUT, POLLPRI };
	for (uint64_t fd = 0; fd < nfds; fd++) {
		short e = 0;
		for (int k = 0; k < 3; k++)
			if (in[k][fd / 64] >> (fd % 64) & 1)
				e |= ev[k];
		if (!e)
			continue;
		if (app_host_fd(t->proc, fd) < 0)
			return -EBADF;
		a[n] = (struct pollfd){ .fd = (int)fd, .events = e };
		fdof[n++] = (int)fd;
	}
	mask_enter(t, has, mask);
	long r = poll_core(t, a, n, timeout_ms);
	mask_leave(t, has, r);
	if (r < 0)
		return r;
	long count = 0;
	static const short hit[3] = { POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI };
	for (nfds_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			if ((a[i].events & ev[k]) && (a[i].revents & hit[k])) {
				out[k][fdof[i] / 64] |= 1ull << (fdof[i] % 64);
				count++;
			}
	for (int k = 0; k < 3; k++)
		if (users[k] && bytes && mm_copy_out(t->proc, users[k], out[k], bytes) < 0)
			return -EFAULT;
	return count;
}

long sys_oldselect(struct task *t, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, uint64_t utv)
{
	int64_t ms = -1;
	struct timeval tv;
	if (utv) {
		if (mm_copy_in(t->proc, utv, &tv, sizeof(tv)) < 0)
			return -EFAULT;
		if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
			return -EINVAL;
		ms = tv.tv_sec > INT32_MAX / 1000 ? INT32_MAX : tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	}
	int64_t t0 = now_ms();
	long ret = sys_select(t, nfds, r, w, e, ms, 0, false);
	if (utv && ret >= 0) { /* Linux writes back the time left */
		int64_t left = ms - (now_ms() - t0);
		if (left < 0 || ret == 0)
			left = 0;
		tv = (struct timeval){ left / 1000, (left % 1000) * 1000 };
		if (mm_copy_out(t->proc, utv, &tv, sizeof(tv)) < 0)
			return -EFAULT;
	}
	return ret;
}

long sys_pselect6(struct task *t, uint64_t nfds, uint64_t r, uint64_t w, uint64_t e, uint64_t uts, uint64_t usig)
{
	int64_t ms, t0 = mono_ns();
	long ret = timeout_of(t->proc, uts, &ms);
	if (ret < 0)
		return ret;
	uint64_t sig[2] = { 0, 0 }, mask = 0; /* { const sigset_t *ss; size_t ss_len } */
	bool has = false;
	if (usig) {
		if (mm_copy_in(t->proc, usig, sig, sizeof(sig)) < 0)
			return -EFAULT;
		if ((ret = with_mask(t, sig[0], sig[1], &mask, &has)) < 0)
			return ret;
	}
	return time_left(t->proc, uts, t0, sys_select(t, nfds, r, w, e, ms, mask, has));
}

long sys_epoll_ctl(struct task *t, uint64_t epfd, uint64_t op, uint64_t fd, uint64_t uev)
{
	int he = app_host_fd(t->proc, epfd), hf = app_host_fd(t->proc, fd);
	if (he < 0 || hf < 0)
		return -EBADF;
	struct epoll_event ev = { 0 };
	if (op != EPOLL_CTL_DEL && mm_copy_in(t->proc, uev, &ev, sizeof(ev)) < 0)
		return -EFAULT;
	if (op == EPOLL_CTL_ADD && (hf = fd_own_host(t->proc, fd)) < 0)
		return hf;
	return epoll_ctl(he, (int)op, hf, &ev) < 0 ? -errno : 0;
}

long sys_epoll_wait(struct task *t, uint64_t epfd, uint64_t uevs, uint64_t max, int64_t timeout_ms, uint64_t umask,
		    uint64_t masksize)
{
	int he = app_host_fd(t->proc, epfd);
	if (he < 0)
		return -EBADF;
	if ((int64_t)max <= 0 || max > INT32_MAX / sizeof(struct epoll_event))
		return -EINVAL;
	uint64_t mask = 0;
	bool has;
	long r = with_mask(t, umask, masksize, &mask, &has);
	if (r < 0)
		return r;
	if (max > EPOLL_MAX_EVENTS) /* more than any sandbox has descriptors to watch */
		max = EPOLL_MAX_EVENTS;
	struct epoll_event small[64], *evs = max <= 64 ? small : malloc(max * sizeof(*evs));
	if (!evs)
		return -ENOMEM;
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
	mask_enter(t, has, mask);
	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		r = host_wait(t, he, POLLIN, left < 0 && deadline >= 0 ? 0 : (int)(left > INT32_MAX ? INT32_MAX : left));
		if (r < 0)
			break;
		int n = epoll_wait(he, evs, (int)max, 0);
		if (n < 0) {
			r = errno == EINVAL ? -EINVAL : -errno;
			break;
		}
		if (n > 0 || r == 0) { /* events, or the timeout passed */
			r = n;
			break;
		}
	}
	mask_leave(t, has, r);
	if (r > 0 && mm_copy_out(t->proc, uevs, evs, (size_t)r * sizeof(evs[0])) < 0)
		r = -EFAULT;
	if (evs != small)
		free(evs);
	return r;
}
