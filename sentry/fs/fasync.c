// SPDX-License-Identifier: Apache-2.0
// Signal-driven I/O and directory notification, as the sandbox's own: O_ASYNC (fcntl F_SETFL, ioctl
// FIOASYNC), the owner (F_SETOWN, F_SETOWN_EX, FIOSETOWN/SIOCSPGRP), the signal (F_SETSIG), SIGURG,
// and F_NOTIFY. The host never learns of any of it — its owner would be a host pid and its signals
// would reach the sentry — so one sentry thread watches the files instead: per armed description two
// edge-triggered epoll sets (a new arrival is a new edge, as Linux's kill_fasync fires per arrival;
// one for arrivals, one for room to write, so that an always-writable socket does not turn every
// arrival into a POLL_OUT too: an epoll item reports only what it asked for), nested in the thread's
// set, and an inotify instance for F_NOTIFY's directories; it queues the signal to the owner as Linux's
// send_sigio does (F_SETSIG 0: SIGIO with SI_KERNEL; else that signal with the POLL_* reason, the band
// and the descriptor).
//
// The owner, signal and async flag belong to the open file description, shared by dups and by fork's
// copies. The sandbox's descriptions are the host's, but nothing names one, so a record lists the
// sentry's host fds that refer to it: the dup paths add the copy (fasync_dup), the close path drops
// one (fasync_closed), and the record goes with its last fd. A description passed over a unix socket
// arrives as a host fd nobody listed: its receiver starts with no owner (a documented limit).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

#define ID_STOP 1 /* epoll data: the stop eventfd */
#define ID_INOTIFY 2 /* the inotify instance */
#define ID_FIRST 16 /* a record's sets: its id * 2, + 1 for room to write */
#define EV_BATCH 16
#define OUT_MAX 64

struct fasync {
	struct fasync *next;
	uint64_t id;       /* epoll data for its watched fd */
	int *hfds;         /* the sentry's host fds that refer to the description */
	int nh, cap;
	int watched;       /* the member in the epoll sets, -1 none */
	uint32_t watching; /* its events, both sets together */
	int ep_in, ep_out; /* its epoll sets (arrivals, room to write), -1 until first watched */
	uint32_t last_in;  /* what arrivals reported last: a hangup or error is signalled once */
	bool async;        /* O_ASYNC armed */
	bool sock, fifo;
	int sig;           /* F_SETSIG: 0 plain SIGIO */
	int fd;            /* the sandbox fd O_ASYNC was armed through (si_fd) */
	int owner_type;    /* F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP */
	int owner;         /* sandbox pid, tid or group; 0 none */
	bool owner_set;    /* F_SETOWN was called (F_GETOWN_EX's type) */
	uint32_t dn_mask;  /* F_NOTIFY's DN_* bits, 0 none */
	int dn_wd;         /* its inotify watch */
	int dn_fd;         /* the sandbox fd it was asked through */
	uint64_t dn_dev, dn_ino; /* the directory (watches of one inode share a wd) */
};

/* A signal the thread decided on, sent after fa_lock is dropped. */
struct fa_out {
	int owner_type, owner, sig, code, fd;
	long band;
	bool urg;
};

static struct fasync *find(struct sentry *s, int h)
{
	for (struct fasync *f = s->fa_list; f; f = f->next)
		for (int i = 0; i < f->nh; i++)
			if (f->hfds[i] == h)
				return f;
	return NULL;
}

static int add_member(struct fasync *f, int h)
{
	if (f->nh == f->cap) {
		int cap = f->cap ? f->cap * 2 : 4;
		int *n = realloc(f->hfds, (size_t)cap * sizeof(int));
		if (!n)
			return -ENOMEM;
		f->hfds = n;
		f->cap = cap;
	}
	f->hfds[f->nh++] = h;
	return 0;
}

static struct fasync *get(struct sentry *s, int h)
{
	struct fasync *f = find(s, h);
	if (f)
		return f;
	struct stat st;
	if (fstat(h, &st) < 0 || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->id = ID_FIRST + s->fa_next_id++;
	f->watched = f->dn_wd = f->ep_in = f->ep_out = -1;
	f->owner_type = F_OWNER_TID; /* a fresh description's type, as Linux reports it */
	f->sock = S_ISSOCK(st.st_mode);
	f->fifo = S_ISFIFO(st.st_mode);
	if (add_member(f, h) < 0) {
		free(f);
		return NULL;
	}
	f->next = s->fa_list;
	s->fa_list = f;
	__atomic_store_n(&s->fa_n, s->fa_n + 1, __ATOMIC_RELAXED);
	return f;
}

static void unwatch(struct sentry *s, struct fasync *f)
{
	if (f->watched >= 0) {
		epoll_ctl(f->ep_in, EPOLL_CTL_DEL, f->watched, NULL);
		epoll_ctl(f->ep_out, EPOLL_CTL_DEL, f->watched, NULL);
	}
	f->watched = -1;
	f->watching = 0;
}

/* The events @f needs watched: all of them while O_ASYNC is armed, urgent data for SIGURG while a
 * socket has an owner. */
static uint32_t wanted(const struct fasync *f)
{
	uint32_t ev = f->async ? EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP : 0;
	if (f->sock && f->owner)
		ev |= EPOLLPRI;
	return ev;
}

static void *fa_main(void *arg);

/* Start the watching thread on first use (fa_lock held). */
static int start(struct sentry *s)
{
	if (s->fa_running)
		return 0;
	s->fa_ep = epoll_create1(EPOLL_CLOEXEC);
	s->fa_stop = eventfd(0, EFD_CLOEXEC);
	s->fa_inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	const int fds[2] = { s->fa_stop, s->fa_inotify };
	bool ok = s->fa_ep >= 0 && s->fa_stop >= 0 && s->fa_inotify >= 0;
	for (int i = 0; i < 2 && ok; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = ID_STOP + (uint64_t)i };
		ok = epoll_ctl(s->fa_ep, EPOLL_CTL_ADD, fds[i], &e) == 0;
	}
	if (!ok || pthread_create(&s->fa_thread, NULL, fa_main, s) != 0) {
		int *all[3] = { &s->fa_ep, &s->fa_stop, &s->fa_inotify };
		for (int i = 0; i < 3; i++) {
			if (*all[i] >= 0)
				close(*all[i]);
			*all[i] = -1;
		}
		return -EAGAIN;
	}
	s->fa_running = true;
	return 0;
}

/* Make @f's two epoll sets and put them in the thread's (fa_lock held). */
static int sets(struct sentry *s, struct fasync *f)
{
	if (f->ep_in >= 0)
		return 0;
	f->ep_in = epoll_create1(EPOLL_CLOEXEC);
	f->ep_out = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ein = { .events = EPOLLIN, .data.u64 = f->id * 2 };
	struct epoll_event eout = { .events = EPOLLIN, .data.u64 = f->id * 2 + 1 };
	if (f->ep_in >= 0 && f->ep_out >= 0 && epoll_ctl(s->fa_ep, EPOLL_CTL_ADD, f->ep_in, &ein) == 0 &&
	    epoll_ctl(s->fa_ep, EPOLL_CTL_ADD, f->ep_out, &eout) == 0)
		return 0;
	if (f->ep_in >= 0)
		close(f->ep_in);
	if (f->ep_out >= 0)
		close(f->ep_out);
	f->ep_in = f->ep_out = -1;
	return -ENOMEM;
}

/* Register, change or drop @f's watch to match what it needs (fa_lock held). The readiness at that
 * moment is drained at once from the record's own sets: Linux signals only what happens after
 * O_ASYNC is armed. */
static void rewatch(struct sentry *s, struct fasync *f)
{
	uint32_t ev = wanted(f);
	if (!ev) {
		unwatch(s, f);
		return;
	}
	if (ev == f->watching && f->watched >= 0)
		return;
	if (start(s) < 0 || sets(s, f) < 0)
		return;
	int h = f->watched >= 0 ? f->watched : f->hfds[0];
	unwatch(s, f);
	struct epoll_event ein = { .events = (ev & ~(uint32_t)EPOLLOUT) | EPOLLET, .data.u64 = f->id };
	struct epoll_event eout = { .events = EPOLLOUT | EPOLLET, .data.u64 = f->id };
	if (epoll_ctl(f->ep_in, EPOLL_CTL_ADD, h, &ein) < 0)
		return; /* a regular file or directory: nothing to signal, as on Linux */
	if ((ev & EPOLLOUT) && epoll_ctl(f->ep_out, EPOLL_CTL_ADD, h, &eout) < 0) {
		epoll_ctl(f->ep_in, EPOLL_CTL_DEL, h, NULL);
		return;
	}
	struct epoll_event now;
	f->last_in = epoll_wait(f->ep_in, &now, 1, 0) == 1 ? now.events : 0; /* what already holds */
	while (epoll_wait(f->ep_out, &now, 1, 0) == 1)
		;
	f->watched = h;
	f->watching = ev;
}

static void drop_record(struct sentry *s, struct fasync *f)
{
	unwatch(s, f);
	if (f->ep_in >= 0) { /* closing them takes them out of the thread's set */
		close(f->ep_in);
		close(f->ep_out);
	}
	for (struct fasync **pp = &s->fa_list; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	__atomic_store_n(&s->fa_n, s->fa_n - 1, __ATOMIC_RELAXED);
	free(f->hfds);
	free(f);
}

/* F_NOTIFY's events as inotify's, and back. */
static uint32_t dn_to_in(uint32_t dn)
{
	uint32_t m = 0;
	m |= dn & DN_ACCESS ? IN_ACCESS : 0;
	m |= dn & DN_MODIFY ? IN_MODIFY : 0;
	m |= dn & DN_CREATE ? IN_CREATE | IN_MOVED_TO : 0;
	m |= dn & DN_DELETE ? IN_DELETE | IN_MOVED_FROM : 0;
	m |= dn & DN_RENAME ? IN_MOVED_FROM : 0; /* Linux's FS_RENAME goes to the old directory */
	m |= dn & DN_ATTRIB ? IN_ATTRIB : 0;
	return m;
}

static uint32_t in_to_dn(uint32_t in)
{
	uint32_t m = 0;
	m |= in & IN_ACCESS ? DN_ACCESS : 0;
	m |= in & IN_MODIFY ? DN_MODIFY : 0;
	m |= in & (IN_CREATE | IN_MOVED_TO) ? DN_CREATE : 0;
	m |= in & (IN_DELETE | IN_MOVED_FROM) ? DN_DELETE : 0;
	m |= in & IN_MOVED_FROM ? DN_RENAME : 0;
	m |= in & IN_ATTRIB ? DN_ATTRIB : 0;
	return m;
}

/* Set watch @wd's mask to what its records still ask, or remove it (fa_lock held). */
static void dn_rewatch(struct sentry *s, int wd)
{
	uint32_t m = 0;
	int h = -1;
	for (struct fasync *f = s->fa_list; f; f = f->next)
		if (f->dn_mask && f->dn_wd == wd) {
			m |= dn_to_in(f->dn_mask);
			h = f->hfds[0];
		}
	if (!m) {
		inotify_rm_watch(s->fa_inotify, wd);
		return;
	}
	char link[40];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", h);
	inotify_add_watch(s->fa_inotify, link, m); /* same inode, same wd: the mask is replaced */
}

static void dn_drop(struct sentry *s, struct fasync *f)
{
	if (!f->dn_mask)
		return;
	f->dn_mask = 0;
	if (f->dn_wd >= 0)
		dn_rewatch(s, f->dn_wd);
	f->dn_wd = -1;
}

static bool unused(const struct fasync *f)
{
	return !f->async && !f->sig && !f->owner_set && !f->dn_mask;
}

void fasync_dup(struct sentry *s, int h, int d)
{
	if (!__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED) || d < 0)
		return;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = find(s, h);
	if (f)
		add_member(f, d);
	pthread_mutex_unlock(&s->fa_lock);
}

void fasync_closed(struct sentry *s, int h)
{
	if (!__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = find(s, h);
	if (f) {
		for (int i = 0; i < f->nh; i++)
			if (f->hfds[i] == h)
				f->hfds[i] = f->hfds[--f->nh];
		/* Linux's dnotify_flush: closing the descriptor ends its F_NOTIFY */
		dn_drop(s, f);
		if (f->watched == h) {
			unwatch(s, f);
			if (f->nh)
				rewatch(s, f);
		}
		if (!f->nh)
			drop_record(s, f);
	}
	pthread_mutex_unlock(&s->fa_lock);
}

bool fasync_armed(struct sentry *s, int h)
{
	if (!__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = find(s, h);
	bool on = f && f->async;
	pthread_mutex_unlock(&s->fa_lock);
	return on;
}

long fasync_set_async(struct process *pr, int fd, int h, bool on)
{
	struct sentry *s = pr->s;
	if (!on && !__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = on ? get(s, h) : find(s, h);
	long ret = on && !f ? -ENOMEM : 0;
	if (f && f->async != on) {
		f->async = on;
		f->fd = fd;
		rewatch(s, f);
	}
	if (f && unused(f))
		drop_record(s, f);
	pthread_mutex_unlock(&s->fa_lock);
	return ret;
}

/* Does sandbox id @id name anything F_SETOWN may point at (Linux: any live pid number)? */
static bool id_exists(struct sentry *s, int id)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	for (struct process *p = s->procs; p && !found; p = p->next) {
		if (p->zombie)
			continue;
		found = p->pid == id || p->pgid == id || p->sid == id;
		for (struct task *t = p->tasks; t && !found; t = t->next)
			found = !t->exited && t->tid == id;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Is process group @g alive (F_GETOWN of a group reads 0 once it is gone, as Linux's does)? */
static bool group_alive(struct sentry *s, int g)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	for (struct process *p = s->procs; p && !found; p = p->next)
		found = !p->zombie && p->pgid == g;
	pthread_mutex_unlock(&s->lock);
	return found;
}

long fasync_setown(struct process *pr, int h, int type, int id)
{
	struct sentry *s = pr->s;
	if (type != F_OWNER_TID && type != F_OWNER_PID && type != F_OWNER_PGRP)
		return -EINVAL;
	if (id < 0)
		return -EINVAL;
	if (id && !id_exists(s, id))
		return -ESRCH;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = get(s, h);
	if (f) {
		f->owner_type = type;
		f->owner = id;
		f->owner_set = true;
		rewatch(s, f);
	}
	pthread_mutex_unlock(&s->fa_lock);
	return f ? 0 : -ENOMEM;
}

void fasync_getown(struct process *pr, int h, int *type, int *id)
{
	struct sentry *s = pr->s;
	*type = F_OWNER_TID;
	*id = 0;
	if (!__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = find(s, h);
	if (f) {
		*type = f->owner_type;
		*id = f->owner;
	}
	pthread_mutex_unlock(&s->fa_lock);
	if (*type == F_OWNER_PGRP && *id && !group_alive(s, *id))
		*id = 0;
}

long fasync_setsig(struct process *pr, int h, uint64_t sig)
{
	struct sentry *s = pr->s;
	if (sig > 64)
		return -EINVAL;
	if (!sig && !__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = sig ? get(s, h) : find(s, h);
	if (f) {
		f->sig = (int)sig;
		if (unused(f))
			drop_record(s, f);
	}
	pthread_mutex_unlock(&s->fa_lock);
	return sig && !f ? -ENOMEM : 0;
}

long fasync_getsig(struct process *pr, int h)
{
	struct sentry *s = pr->s;
	if (!__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&s->fa_lock);
	struct fasync *f = find(s, h);
	long sig = f ? f->sig : 0;
	pthread_mutex_unlock(&s->fa_lock);
	return sig;
}

long fasync_notify(struct process *pr, int fd, int h, uint32_t mask)
{
	struct sentry *s = pr->s;
	if (!(mask & ~(uint32_t)DN_MULTISHOT)) { /* no events: stop notifying */
		if (__atomic_load_n(&s->fa_n, __ATOMIC_RELAXED)) {
			pthread_mutex_lock(&s->fa_lock);
			struct fasync *f = find(s, h);
			if (f) {
				dn_drop(s, f);
				if (unused(f))
					drop_record(s, f);
			}
			pthread_mutex_unlock(&s->fa_lock);
		}
		return 0;
	}
	struct stat st;
	if (fstat(h, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	pthread_mutex_lock(&s->fa_lock);
	long ret = 0;
	struct fasync *f = get(s, h);
	if (!f || start(s) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	/* Linux makes the caller the owner */
	f->owner_type = F_OWNER_PID;
	f->owner = pr->pid;
	f->owner_set = true;
	uint32_t old = f->dn_mask;
	f->dn_mask |= mask;
	f->dn_fd = fd;
	char link[40];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", h);
	uint32_t m = dn_to_in(f->dn_mask);
	for (struct fasync *o = s->fa_list; o; o = o->next)
		if (o != f && o->dn_mask && o->dn_ino == (uint64_t)st.st_ino && o->dn_dev == (uint64_t)st.st_dev)
			m |= dn_to_in(o->dn_mask);
	int wd = inotify_add_watch(s->fa_inotify, link, m);
	if (wd < 0) {
		ret = -errno;
		f->dn_mask = old;
		if (unused(f))
			drop_record(s, f);
		goto out;
	}
	f->dn_wd = wd;
	f->dn_ino = (uint64_t)st.st_ino;
	f->dn_dev = (uint64_t)st.st_dev;
out:
	pthread_mutex_unlock(&s->fa_lock);
	return ret;
}

/* Linux's band_table, by POLL_* reason (the x86 poll bits are the epoll bits). */
static long band(int code)
{
	switch (code) {
	case POLL_IN: return POLLIN | POLLRDNORM;
	case POLL_OUT: return POLLOUT | POLLWRNORM | POLLWRBAND;
	case POLL_MSG: return POLLIN | POLLRDNORM | POLLMSG;
	case POLL_ERR: return POLLERR;
	case POLL_PRI: return POLLPRI | POLLRDBAND;
	default: return POLLHUP | POLLERR;
	}
}

static void out_add(struct fa_out *o, int *n, const struct fasync *f, int code, int fd, bool urg)
{
	if (*n >= OUT_MAX || !f->owner)
		return;
	o[*n] = (struct fa_out){ .owner_type = f->owner_type, .owner = f->owner, .sig = f->sig, .code = code,
				 .fd = fd, .band = band(code), .urg = urg };
	(*n)++;
}

/* The signals an epoll report @ev on @f means (fa_lock held): @out from the set of room to write. */
static void on_events(struct fasync *f, uint32_t ev, bool out, struct fa_out *o, int *n)
{
	if (out) { /* a socket's hangup is the other set's POLL_HUP; a pipe's reader leaving is POLL_OUT */
		if ((ev & EPOLLOUT) && f->async && !(f->sock && (ev & (EPOLLHUP | EPOLLERR))))
			out_add(o, n, f, POLL_OUT, f->fd, false);
		return;
	}
	uint32_t fresh = ev & ~f->last_in & (EPOLLHUP | EPOLLRDHUP | EPOLLERR); /* once each */
	if (f->fifo)
		fresh &= ~(uint32_t)EPOLLERR; /* a pipe's writer sees its reader leave as room (POLL_OUT) */
	f->last_in = ev;
	if ((ev & EPOLLPRI) && f->sock)
		out_add(o, n, f, 0, f->fd, true); /* SIGURG: to the owner, armed or not */
	if (!f->async)
		return;
	if (fresh & (EPOLLHUP | EPOLLRDHUP)) /* Linux: a socket's peer left POLL_HUP, a pipe's writer POLL_IN */
		out_add(o, n, f, f->sock ? POLL_HUP : POLL_IN, f->fd, false);
	else if (ev & EPOLLIN)
		out_add(o, n, f, POLL_IN, f->fd, false);
	if (ev & EPOLLPRI)
		out_add(o, n, f, POLL_PRI, f->fd, false);
	if (fresh & EPOLLERR)
		out_add(o, n, f, POLL_ERR, f->fd, false);
}

/* Take what record @id's set (@out: room to write) reports, without waiting (fa_lock held). */
static void on_set(struct sentry *s, uint64_t id, bool out, struct fa_out *o, int *n)
{
	struct fasync *f = s->fa_list;
	while (f && f->id != id)
		f = f->next;
	struct epoll_event ev;
	if (f && f->ep_in >= 0 && epoll_wait(out ? f->ep_out : f->ep_in, &ev, 1, 0) == 1)
		on_events(f, ev.events, out, o, n);
}

/* Read the inotify events and turn those an F_NOTIFY asked for into signals (fa_lock held). */
static void on_inotify(struct sentry *s, struct fa_out *o, int *n)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;
	while ((len = read(s->fa_inotify, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof(*e) + e->len;
			uint32_t dn = in_to_dn(e->mask);
			for (struct fasync *f = s->fa_list; f; f = f->next) {
				if (f->dn_wd != e->wd || !f->dn_mask)
					continue;
				if (e->mask & IN_IGNORED) { /* the directory is gone */
					f->dn_mask = 0;
					f->dn_wd = -1;
					continue;
				}
				if (!(f->dn_mask & dn))
					continue;
				out_add(o, n, f, POLL_MSG, f->dn_fd, false);
				if (!(f->dn_mask & DN_MULTISHOT)) /* one shot: the first event ends it */
					dn_drop(s, f);
			}
		}
	}
}

/* Queue the signals (s->lock taken here): to a thread, a process, or each process of a group. */
static void deliver(struct sentry *s, const struct fa_out *o, int n)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < n; i++) {
		int sig = o[i].urg ? SIGURG : o[i].sig ? o[i].sig : SIGIO;
		siginfo_t si = { .si_signo = sig, .si_code = SI_KERNEL };
		if (!o[i].urg && o[i].sig) {
			si.si_code = o[i].code;
			si.si_band = o[i].band;
			si.si_fd = o[i].fd;
		}
		for (struct process *p = s->procs; p; p = p->next) {
			if (p->zombie)
				continue;
			if (o[i].owner_type == F_OWNER_TID) {
				for (struct task *t = p->tasks; t; t = t->next)
					if (!t->exited && t->tid == o[i].owner)
						sig_queue_locked(t, sig, &si);
			} else if (o[i].owner_type == F_OWNER_PID ? p->pid == o[i].owner : p->pgid == o[i].owner) {
				sig_process_locked(p, sig, &si);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
}

static void *fa_main(void *arg)
{
	struct sentry *s = arg;
	struct epoll_event ev[EV_BATCH];
	struct fa_out out[OUT_MAX];
	for (bool stop = false; !stop;) {
		int k = epoll_wait(s->fa_ep, ev, EV_BATCH, -1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int n = 0;
		pthread_mutex_lock(&s->fa_lock);
		for (int i = 0; i < k; i++) {
			if (ev[i].data.u64 == ID_STOP) {
				stop = true;
			} else if (ev[i].data.u64 == ID_INOTIFY) {
				on_inotify(s, out, &n);
			} else {
				on_set(s, ev[i].data.u64 / 2, ev[i].data.u64 & 1, out, &n);
			}
		}
		pthread_mutex_unlock(&s->fa_lock);
		if (n)
			deliver(s, out, n);
	}
	return NULL;
}

void fasync_stop(struct sentry *s)
{
	pthread_mutex_lock(&s->fa_lock);
	bool running = s->fa_running;
	pthread_mutex_unlock(&s->fa_lock);
	if (running) {
		uint64_t one = 1;
		if (write(s->fa_stop, &one, sizeof(one)) == sizeof(one))
			pthread_join(s->fa_thread, NULL);
		close(s->fa_ep);
		close(s->fa_stop);
		close(s->fa_inotify);
		s->fa_running = false;
	}
	while (s->fa_list) {
		struct fasync *f = s->fa_list;
		s->fa_list = f->next;
		if (f->ep_in >= 0) {
			close(f->ep_in);
			close(f->ep_out);
		}
		free(f->hfds);
		free(f);
	}
	s->fa_n = 0;
}

int host_dup(struct sentry *s, int h)
{
	int d = fcntl(h, F_DUPFD_CLOEXEC, 3);
	fasync_dup(s, h, d);
	return d;
}
