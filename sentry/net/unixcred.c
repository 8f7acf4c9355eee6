// SPDX-License-Identifier: Apache-2.0
// Unix socket credentials as the sandbox's own: SO_PEERCRED and SCM_CREDENTIALS. The host's answers
// name the sentry (its pid, its one host identity), so the sentry keeps, by socket inode, what Linux
// keeps: the creator's credentials for a socketpair, the listener's at listen() for a connecting
// socket, the connector's at connect() for the socket accept() returns (connections are matched to
// accepts in order, per listener), and the credentials of the last message a socket sent (sendmsg and
// sendto: the sender's pid and real ids, or the SCM_CREDENTIALS it gave, checked as Linux checks
// them). A receiver with SO_PASSCRED gets its peer's last message's credentials in place of the
// host's (a datagram to a bound name: the last sender to it). Limits: a message sent with write(2)
// reads as the peer's credentials at connect time, and two senders interleaving on one socket may
// read each other's (the record is per socket, not per message).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "../sentry.h"

#define UC_MAX 4096  /* records kept; the least recently used goes */
#define UC_QUEUE 16  /* connections waiting for accept() per listener */
#define NO_ID ((uint32_t)-1) /* no peer: Linux reports pid 0 and ids -1 */

struct uc_ent {
	uint64_t ino;        /* the socket's inode, 0: free */
	uint64_t used;
	struct ucred own;    /* what a peer connecting to it, or accepted from it, sees */
	struct ucred peer;   /* SO_PEERCRED */
	bool has_peer, has_sent, has_to;
	uint64_t peer_ino;   /* its peer socket, when known */
	struct ucred sent;   /* the last message it sent */
	struct ucred to;     /* the last datagram sent to it by name */
	uint64_t fdev, fino; /* the socket file it is bound to */
	char abs[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t abs_len;      /* an abstract name it is bound to */
	struct {
		uint64_t ino;
		struct ucred cred;
	} q[UC_QUEUE];       /* a listener's connections, oldest first */
	int qn;
	uint64_t pend[UC_QUEUE]; /* sockets it accepted before their connect() was seen here */
	int pn;
};

static pthread_mutex_t uc_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t ino_of(int h)
{
	struct stat st;
	return fstat(h, &st) == 0 && S_ISSOCK(st.st_mode) ? (uint64_t)st.st_ino : 0;
}

static bool is_unix(int h)
{
	int dom = 0;
	socklen_t l = sizeof(dom);
	return getsockopt(h, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX;
}

/* The record of inode @ino (uc_lock held), made if @make (a fresh one replaces the least used). */
static struct uc_ent *ent(struct sentry *s, uint64_t ino, bool make)
{
	struct uc_ent *free_e = NULL, *old = NULL;
	if (!ino)
		return NULL;
	for (size_t i = 0; i < s->uc_n; i++) {
		struct uc_ent *e = &s->uc[i];
		if (e->ino == ino) {
			e->used = ++s->uc_clock;
			return e;
		}
		if (!e->ino && !free_e)
			free_e = e;
		if (!old || e->used < old->used)
			old = e;
	}
	if (!make)
		return NULL;
	if (!free_e && s->uc_n < UC_MAX) {
		if (s->uc_n == s->uc_cap) {
			size_t cap = s->uc_cap ? s->uc_cap * 2 : 16;
			struct uc_ent *n = realloc(s->uc, cap * sizeof(*n));
			if (!n)
				return NULL;
			s->uc = n;
			s->uc_cap = cap;
		}
		free_e = &s->uc[s->uc_n++];
	}
	struct uc_ent *e = free_e ? free_e : old;
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->used = ++s->uc_clock;
	return e;
}

/* Who @pr is for a peer: its pid and effective ids (Linux's peer credentials). */
static struct ucred effective(const struct process *pr)
{
	return (struct ucred){ .pid = pr->pid, .uid = pr->cred.uid[1], .gid = pr->cred.gid[1] };
}

/* ... and for a message: pid and real ids (Linux's default SCM_CREDENTIALS). */
static struct ucred real(const struct process *pr)
{
	return (struct ucred){ .pid = pr->pid, .uid = pr->cred.uid[0], .gid = pr->cred.gid[0] };
}

void uc_created(struct process *pr, int h)
{
	struct sentry *s = pr->s;
	if (!is_unix(h))
		return;
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(s, ino_of(h), true);
	if (e) {
		uint64_t ino = e->ino, used = e->used;
		memset(e, 0, sizeof(*e)); /* an inode number the host reused */
		e->ino = ino;
		e->used = used;
		e->own = effective(pr);
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_pair(struct process *pr, int a, int b)
{
	uc_created(pr, a);
	uc_created(pr, b);
	pthread_mutex_lock(&uc_lock);
	uint64_t ia = ino_of(a), ib = ino_of(b);
	struct uc_ent *ea = ent(pr->s, ia, false), *eb = ent(pr->s, ib, false); /* made above */
	if (ea && eb) {
		ea->peer = eb->peer = effective(pr);
		ea->has_peer = eb->has_peer = true;
		ea->peer_ino = ib;
		eb->peer_ino = ia;
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_listen(struct process *pr, int h)
{
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(pr->s, ino_of(h), false);
	if (e)
		e->own = effective(pr);
	pthread_mutex_unlock(&uc_lock);
}

/* The listener a unix address names: the bound socket file @file (an O_PATH fd, or -1) or the
 * abstract name in @sun (uc_lock held). */
static struct uc_ent *named(struct sentry *s, int file, const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	bool abs = file < 0 && sun && len > off && sun->sun_path[0] == 0;
	if (file >= 0 && fstat(file, &st) < 0)
		return NULL;
	for (size_t i = 0; i < s->uc_n; i++) {
		struct uc_ent *e = &s->uc[i];
		if (!e->ino)
			continue;
		if (file >= 0 && e->fino == (uint64_t)st.st_ino && e->fdev == (uint64_t)st.st_dev)
			return e;
		if (abs && e->abs_len == len - off && memcmp(e->abs, sun->sun_path, len - off) == 0)
			return e;
	}
	return NULL;
}

void uc_bound(struct process *pr, int h, int dir, const char *name, const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	bool by_file = dir >= 0 && name && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(pr->s, ino_of(h), true);
	if (e && by_file) {
		e->fdev = (uint64_t)st.st_dev;
		e->fino = (uint64_t)st.st_ino;
	} else if (e && sun && len > off && sun->sun_path[0] == 0 && len - off <= sizeof(e->abs)) {
		memcpy(e->abs, sun->sun_path, len - off);
		e->abs_len = len - off;
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_connected(struct process *pr, int h, int file, const struct sockaddr_un *sun, socklen_t len)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	if (!is_unix(h) || getsockopt(h, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type == SOCK_DGRAM)
		return; /* a datagram socket's connect sets no peer credentials (Linux) */
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *l = named(pr->s, file, sun, len);
	struct ucred lc = l ? l->own : (struct ucred){ 0, NO_ID, NO_ID };
	bool found = l != NULL;
	struct uc_ent *e = ent(pr->s, ino_of(h), true);
	if (e) {
		e->own = effective(pr);
		e->peer = lc;
		e->has_peer = found;
		l = found ? named(pr->s, file, sun, len) : NULL; /* ent() may have moved the table */
		struct uc_ent *n = l && l->pn ? ent(pr->s, l->pend[0], false) : NULL;
		if (l && l->pn) { /* accept() was quicker than this record: that socket is ours */
			memmove(&l->pend[0], &l->pend[1], (size_t)(--l->pn) * sizeof(l->pend[0]));
			if (n) {
				n->peer = e->own;
				n->peer_ino = e->ino;
				n->has_peer = true;
				e->peer_ino = n->ino;
			}
		} else if (l && l->qn < UC_QUEUE) {
			l->q[l->qn].ino = e->ino;
			l->q[l->qn++].cred = e->own;
		}
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_unconnected(struct process *pr, int h, int file, const struct sockaddr_un *sun, socklen_t len)
{
	uint64_t ino = ino_of(h);
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *l = named(pr->s, file, sun, len), *e = ent(pr->s, ino, false);
	for (int i = 0; l && i < l->qn; i++)
		if (l->q[i].ino == ino) {
			memmove(&l->q[i], &l->q[i + 1], (size_t)(--l->qn - i) * sizeof(l->q[0]));
			break;
		}
	if (e)
		e->has_peer = false;
	pthread_mutex_unlock(&uc_lock);
}

void uc_accepted(struct process *pr, int lh, int nh)
{
	uint64_t li = ino_of(lh), ni = ino_of(nh);
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *n = ent(pr->s, ni, true);
	struct uc_ent *l = ent(pr->s, li, false);
	if (n && l) {
		memset(n, 0, sizeof(*n));
		n->ino = ni;
		n->used = ++pr->s->uc_clock;
		n->own = l->own;
		if (l->qn > 0) {
			n->peer = l->q[0].cred;
			n->peer_ino = l->q[0].ino;
			n->has_peer = true;
			memmove(&l->q[0], &l->q[1], (size_t)(--l->qn) * sizeof(l->q[0]));
			struct uc_ent *c = ent(pr->s, n->peer_ino, false);
			if (c)
				c->peer_ino = ni;
		} else if (l->pn < UC_QUEUE) {
			l->pend[l->pn++] = ni;
		}
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_peercred(struct process *pr, int h, struct ucred *out)
{
	*out = (struct ucred){ 0, NO_ID, NO_ID };
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(pr->s, ino_of(h), false);
	if (e && e->has_peer)
		*out = e->peer;
	pthread_mutex_unlock(&uc_lock);
}

long uc_check(struct process *pr, const struct ucred *c)
{
	const struct creds *k = &pr->cred;
	if (c->uid == (uid_t)-1 || c->gid == (gid_t)-1)
		return -EINVAL;
	bool uid_ok = c->uid == k->uid[0] || c->uid == k->uid[1] || c->uid == k->uid[2] || (k->cap_eff & (1ull << 7));
	bool gid_ok = c->gid == k->gid[0] || c->gid == k->gid[1] || c->gid == k->gid[2] || (k->cap_eff & (1ull << 6));
	bool pid_ok = c->pid == pr->pid || (k->cap_eff & (1ull << 21)); /* CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN */
	if (!uid_ok || !gid_ok || !pid_ok)
		return -EPERM;
	if (c->pid == pr->pid)
		return 0;
	bool found = false; /* another pid must exist in the sandbox (Linux: ESRCH) */
	pthread_mutex_lock(&pr->s->lock);
	for (struct process *p = pr->s->procs; p && !found; p = p->next)
		found = p->pid == c->pid; /* a zombie too: its pid is still taken */
	pthread_mutex_unlock(&pr->s->lock);
	return found ? 0 : -ESRCH;
}

void uc_sent(struct process *pr, int h, const struct ucred *given, int file, const struct sockaddr_un *sun, socklen_t len)
{
	if (!__atomic_load_n(&pr->s->uc_n, __ATOMIC_RELAXED) || !is_unix(h))
		return; /* no unix socket was ever made: nothing to ask the host per send */
	struct ucred c = given ? *given : real(pr);
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(pr->s, ino_of(h), true);
	if (e) {
		e->sent = c;
		e->has_sent = true;
	}
	struct uc_ent *to = file >= 0 || sun ? named(pr->s, file, sun, len) : NULL;
	if (to) {
		to->to = c;
		to->has_to = true;
	}
	pthread_mutex_unlock(&uc_lock);
}

void uc_received(struct process *pr, int h, struct ucred *out)
{
	*out = (struct ucred){ 0, NO_ID, NO_ID };
	pthread_mutex_lock(&uc_lock);
	struct uc_ent *e = ent(pr->s, ino_of(h), false);
	struct uc_ent *p = e && e->peer_ino ? ent(pr->s, e->peer_ino, false) : NULL;
	if (p && p->has_sent)
		*out = p->sent;
	else if (e && e->has_to)
		*out = e->to;
	else if (e && e->has_peer)
		*out = e->peer;
	pthread_mutex_unlock(&uc_lock);
}

void uc_free(struct sentry *s)
{
	free(s->uc);
	s->uc = NULL;
	s->uc_n = s->uc_cap = 0;
}
