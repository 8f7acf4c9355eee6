// SPDX-License-Identifier: Apache-2.0
// Job control on the sandbox's own pseudo-terminals (script, expect, tmux, a shell under pty.fork):
// the sentry opens every terminal O_NOCTTY, so the host kernel never ties a pty to a session and its
// line discipline has no group to signal. The sentry keeps what Linux keeps per terminal — the
// session it controls and its foreground group — for the ptys a sandbox session leader takes with
// TIOCSCTTY, and acts for the line discipline: a byte the master writes that is the slave's VINTR,
// VQUIT or VSUSP (with ISIG) sends SIGINT, SIGQUIT or SIGTSTP to the foreground group (the host's
// line discipline still swallows it and flushes), and a background group reading its controlling pty
// gets SIGTTIN, writing with TOSTOP SIGTTOU (jobctl.c does the rest, as for the caller's terminal).
// TIOCGPGRP/TIOCSPGRP/TIOCGSID/TIOCNOTTY follow Linux's rules (ENOTTY when it is not the caller's
// controlling terminal). The caller's own terminal keeps the sandbox-wide foreground group (jobctl.c).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include "../sentry.h"

#define PTMX_MAJOR 5
#define PTMX_MINOR 2
#define PTS_MAJOR_FIRST 136

/* A sandbox pty behind host fd @h: its slave's device in *@rdev, *@master for the master side. The
 * caller's terminal is not one (it has the sandbox-wide job control of jobctl.c). */
static bool pty_of(struct sentry *s, int h, dev_t *rdev, bool *master)
{
	struct stat st;
	if (fstat(h, &st) < 0 || !S_ISCHR(st.st_mode))
		return false;
	unsigned n;
	if (major(st.st_rdev) == PTMX_MAJOR && minor(st.st_rdev) == PTMX_MINOR) {
		if (ioctl(h, TIOCGPTN, &n) < 0)
			return false;
		*rdev = makedev(PTS_MAJOR_FIRST + n / 256, n % 256);
		*master = true;
	} else if (major(st.st_rdev) >= PTS_MAJOR_FIRST && major(st.st_rdev) < PTS_MAJOR_FIRST + 8) {
		*rdev = st.st_rdev;
		*master = false;
	} else {
		return false;
	}
	for (int i = 0; i < 3; i++)
		if (s->stdio_rdev[i] == *rdev)
			return false;
	return true;
}

/* The record of the pty whose slave is @rdev (s->lock held), or NULL. */
static struct ptyjob *find(struct sentry *s, dev_t rdev)
{
	for (unsigned i = 0; i < s->n_ptyjobs; i++)
		if (s->ptyjobs[i].rdev == rdev)
			return &s->ptyjobs[i];
	return NULL;
}

static void drop(struct sentry *s, struct ptyjob *j)
{
	*j = s->ptyjobs[--s->n_ptyjobs];
}

/* Is there a live process in group @pgrp of session @sid (s->lock held)? */
static bool group_in(struct sentry *s, int pgrp, int sid)
{
	for (struct process *q = s->procs; q; q = q->next)
		if (!q->zombie && q->pgid == pgrp && q->sid == sid)
			return true;
	return false;
}

static bool group_anywhere(struct sentry *s, int pgrp)
{
	for (struct process *q = s->procs; q; q = q->next)
		if (!q->zombie && q->pgid == pgrp)
			return true;
	return false;
}

bool ptyjob_ioctl(struct process *pr, int h, uint64_t req, uint64_t arg, long *ret)
{
	struct sentry *s = pr->s;
	dev_t rdev;
	bool master;
	if ((req != TIOCSCTTY && req != TIOCNOTTY && req != TIOCGPGRP && req != TIOCSPGRP && req != TIOCGSID) ||
	    !pty_of(s, h, &rdev, &master))
		return false;
	int v = 0;
	pthread_mutex_lock(&s->lock);
	struct ptyjob *j = find(s, rdev);
	bool mine = !master && pr->ctty == rdev; /* the caller's controlling terminal */
	switch (req) {
	case TIOCSCTTY:
		if (j && j->sid == pr->sid && pr->pid == pr->sid)
			*ret = 0; /* already this session's */
		else if (pr->pid != pr->sid || pr->ctty)
			*ret = -EPERM; /* only a session leader without one */
		else if (j && !(arg == 1 && (pr->cred.cap_eff & (1ull << 21)))) /* CAP_SYS_ADMIN steals */
			*ret = -EPERM;
		else if (!j && s->n_ptyjobs == PTYJOB_MAX)
			*ret = -ENOMEM;
		else {
			j = j ? j : &s->ptyjobs[s->n_ptyjobs++];
			*j = (struct ptyjob){ .rdev = rdev, .sid = pr->sid, .fg = pr->pgid };
			pr->ctty = rdev;
			*ret = 0;
		}
		break;
	case TIOCNOTTY:
		if (!mine) {
			*ret = -ENOTTY;
			break;
		}
		if (pr->pid == pr->sid && j) { /* the leader lets go: the session loses its terminal */
			for (struct process *q = s->procs; q; q = q->next)
				if (q->sid == pr->sid && q->ctty == rdev)
					q->ctty = 0;
			drop(s, j);
		}
		pr->ctty = 0;
		*ret = 0;
		break;
	case TIOCGPGRP:
	case TIOCGSID:
		if ((!master && !mine) || !j) {
			*ret = -ENOTTY;
			break;
		}
		v = req == TIOCGSID ? j->sid : group_in(s, j->fg, j->sid) ? j->fg : 0;
		*ret = 1; /* copied out below */
		break;
	case TIOCSPGRP:
		if (!j || pr->ctty != rdev || j->sid != pr->sid) {
			*ret = -ENOTTY;
			break;
		}
		pthread_mutex_unlock(&s->lock);
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0) {
			*ret = -EFAULT;
			return true;
		}
		pthread_mutex_lock(&s->lock);
		j = find(s, rdev);
		if (v < 0)
			*ret = -EINVAL;
		else if (!j)
			*ret = -ENOTTY;
		else if (!group_in(s, v, pr->sid))
			*ret = group_anywhere(s, v) ? -EPERM : -ESRCH; /* another session's, or none */
		else {
			j->fg = v;
			*ret = 0;
		}
		break;
	}
	pthread_mutex_unlock(&s->lock);
	if (*ret == 1)
		*ret = mm_copy_out(pr, arg, &v, sizeof(v));
	return true;
}

void ptyjob_opened(struct process *pr, int h, uint64_t flags)
{
	struct sentry *s = pr->s;
	dev_t rdev;
	bool master;
	if ((flags & O_NOCTTY) || pr->pid != pr->sid || pr->ctty || !pty_of(s, h, &rdev, &master) || master)
		return;
	pthread_mutex_lock(&s->lock); /* Linux's tty_open: a leader without one takes a free terminal */
	if (!find(s, rdev) && s->n_ptyjobs < PTYJOB_MAX && !pr->ctty) {
		s->ptyjobs[s->n_ptyjobs++] = (struct ptyjob){ .rdev = rdev, .sid = pr->sid, .fg = pr->pgid };
		pr->ctty = rdev;
	}
	pthread_mutex_unlock(&s->lock);
}

long ptyjob_fg(struct process *pr, int h)
{
	struct sentry *s = pr->s;
	dev_t rdev;
	bool master;
	if (!__atomic_load_n(&s->n_ptyjobs, __ATOMIC_RELAXED) || !pr->ctty || !pty_of(s, h, &rdev, &master) ||
	    master || rdev != pr->ctty)
		return -1;
	pthread_mutex_lock(&s->lock);
	struct ptyjob *j = find(s, rdev);
	long fg = j ? j->fg : -1;
	pthread_mutex_unlock(&s->lock);
	return fg;
}

void ptyjob_input(struct task *t, int h, uint64_t buf, uint64_t len)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	dev_t rdev;
	bool master;
	if (!__atomic_load_n(&s->n_ptyjobs, __ATOMIC_RELAXED) || !pty_of(s, h, &rdev, &master) || !master)
		return;
	pthread_mutex_lock(&s->lock);
	struct ptyjob *j = find(s, rdev);
	int fg = j ? j->fg : 0;
	pthread_mutex_unlock(&s->lock);
	if (!fg)
		return;
	/* The slave's settings decide (its line discipline is the one the bytes go through). */
	int slave = ioctl(h, TIOCGPTPEER, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios tio;
	bool ok = slave >= 0 && ioctl(slave, TCGETS, &tio) == 0;
	if (slave >= 0)
		close(slave);
	if (!ok || !(tio.c_lflag & ISIG))
		return;
	int sig = 0;
	uint8_t chunk[256];
	for (uint64_t off = 0; off < len && !sig; off += sizeof(chunk)) {
		size_t n = len - off < sizeof(chunk) ? (size_t)(len - off) : sizeof(chunk);
		if (mm_copy_in(pr, buf + off, chunk, n) < 0)
			break;
		for (size_t i = 0; i < n && !sig; i++) {
			uint8_t c = chunk[i];
			sig = c && c == tio.c_cc[VINTR] ? SIGINT : c && c == tio.c_cc[VQUIT] ? SIGQUIT
			    : c && c == tio.c_cc[VSUSP] ? SIGTSTP : 0;
		}
	}
	if (!sig)
		return;
	siginfo_t si = { .si_signo = sig, .si_code = SI_KERNEL };
	pthread_mutex_lock(&s->lock);
	for (struct process *q = s->procs; q; q = q->next)
		if (!q->zombie && q->pgid == fg)
			sig_process_locked(q, sig, &si);
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
}

void ptyjob_leader_gone(struct process *pr)
{
	struct sentry *s = pr->s;
	struct ptyjob *j = pr->ctty && pr->pid == pr->sid ? find(s, pr->ctty) : NULL;
	if (!j || j->sid != pr->sid)
		return;
	/* Linux's disassociate_ctty on exit: SIGHUP to the foreground group, the session lets go */
	siginfo_t si = { .si_signo = SIGHUP, .si_code = SI_KERNEL };
	for (struct process *q = s->procs; q; q = q->next) {
		if (!q->zombie && q->pgid == j->fg)
			sig_process_locked(q, SIGHUP, &si);
		if (q->sid == pr->sid && q->ctty == j->rdev)
			q->ctty = 0;
	}
	drop(s, j);
}
