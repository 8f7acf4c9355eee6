// SPDX-License-Identifier: Apache-2.0
// Device nodes the walk found, remembered by sandbox path. The sandbox's /dev offers each device as a
// host bind mount on a file of the sentry's own tmpfs (jail/view.c), so the one-call lookup (openat2
// RESOLVE_NO_XDEV) refuses every /dev path with EXDEV and the walk goes component by component: a
// shell's `>/dev/null` cost 13 host calls and ~15 us of the sentry's time, against ~4 for a file under
// /etc. The walk notes here what it found for a character device in a read-only mount directly in
// /dev (not /dev/pts, whose nodes come and go with their ptys): the node's fd, its directory's fd and
// the rest of its answer. A later walk of that canonical path gets copies of both fds and a fresh
// fstat (3 host calls; the open itself then goes by the directory and name, as after the walk). The
// answer is the walk's own, so an entry is forgotten as linkcache.c forgets: when the sandbox renames
// or removes anything (its generation), and 1 s after the walk, for what the host changes under a
// policy mount. The sandbox can neither change a read-only mount nor mount anything.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../sentry.h"

#define DVC_SLOTS 8
#define DVC_TTL_NS 1000000000ULL /* linkcache.c's bound */

struct dvc_ent {
	uint64_t gen; /* 0: empty */
	uint64_t when;
	int fd, dir;  /* the walk's O_PATH fds of the node and its directory, the cache's own copies */
	struct walk w; /* the rest of the walk's answer (its fds are not used) */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool kept(const struct walk *w)
{
	return strncmp(w->spath, "/dev/", 5) == 0 && !strchr(w->spath + 5, '/') && strlen(w->spath) < 64 &&
	       w->fd >= 0 && w->dir >= 0 && !w->rw && !w->proc && !w->unopened && w->last == WALK_LAST_NORM &&
	       S_ISCHR(w->st.st_mode);
}

static void drop(struct dvc_ent *e)
{
	if (e->gen) {
		close(e->fd);
		close(e->dir);
	}
	e->gen = 0;
}

void devcache_put(struct sentry *s, uint64_t gen, const struct walk *w)
{
	if (!kept(w))
		return;
	int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 3), dir = fd < 0 ? -1 : fcntl(w->dir, F_DUPFD_CLOEXEC, 3);
	if (dir < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	uint64_t now = mono_ns();
	pthread_mutex_lock(&s->spc_lock);
	if (!s->dvc)
		s->dvc = calloc(DVC_SLOTS, sizeof(*s->dvc));
	struct dvc_ent *e = NULL;
	for (unsigned i = 0; s->dvc && i < DVC_SLOTS && gen == s->lnc_gen; i++) {
		struct dvc_ent *c = &s->dvc[i];
		bool stale = c->gen && (c->gen != s->lnc_gen || now - c->when >= DVC_TTL_NS);
		if (c->gen && !stale && strcmp(c->w.spath, w->spath) == 0) {
			e = NULL; /* another walk of it came first */
			break;
		}
		if (!e && (!c->gen || stale))
			e = c;
	}
	if (e) {
		drop(e);
		e->w = *w;
		e->fd = fd;
		e->dir = dir;
		e->gen = gen;
		e->when = now;
		fd = dir = -1;
	}
	pthread_mutex_unlock(&s->spc_lock);
	if (fd >= 0) {
		close(fd);
		close(dir);
	}
}

bool devcache_get(struct sentry *s, const char *sp, struct walk *w)
{
	if (strncmp(sp, "/dev/", 5) != 0)
		return false;
	bool hit = false;
	uint64_t now = mono_ns();
	pthread_mutex_lock(&s->spc_lock);
	for (unsigned i = 0; s->dvc && i < DVC_SLOTS; i++) {
		const struct dvc_ent *e = &s->dvc[i];
		if (!e->gen || e->gen != s->lnc_gen || now - e->when >= DVC_TTL_NS ||
		    strcmp(e->w.spath, sp) != 0)
			continue;
		*w = e->w;
		w->fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 3);
		w->dir = w->fd < 0 ? -1 : fcntl(e->dir, F_DUPFD_CLOEXEC, 3);
		hit = true;
		break;
	}
	pthread_mutex_unlock(&s->spc_lock);
	if (!hit)
		return false;
	if (w->dir < 0 || fstat(w->fd, &w->st) < 0 || !S_ISCHR(w->st.st_mode)) {
		walk_done(w);
		*w = (struct walk){ .fd = -1, .dir = -1 };
		return false; /* (out of fds, say: the walk gives the error) */
	}
	return true;
}

void devcache_free(struct sentry *s)
{
	for (unsigned i = 0; s->dvc && i < DVC_SLOTS; i++)
		drop(&s->dvc[i]);
	free(s->dvc);
	s->dvc = NULL;
}
