// SPDX-License-Identifier: Apache-2.0
// Symlinks on the way, remembered by sandbox path. On a merged-/usr system every exec of /bin/X, every
// library ld.so opens by /lib/x86_64-linux-gnu/..., and the interpreter /lib64/ld-linux-x86-64.so.2
// cross a symlink: the one-call lookup (openat2 RESOLVE_NO_SYMLINKS) refuses with ELOOP and the walk
// goes component by component, four host calls each (walk.c). The walk notes each symlink it follows
// here, by the canonical sandbox path of the link and its target as read; a later path whose canonical
// prefix names a known link is rewritten through it first, and the rewritten path takes the one-call
// lookup. The cache is only a shortcut to what the walk would do, so an entry is forgotten:
// - whenever the sandbox renames anything or removes a symlink or a directory (a generation bumped by
//   fs_change.c: a name that was a link, or a directory holding one, may be something else now), and
// - LNC_TTL_NS after the host's answer, so that a link the host changes under a policy mount is seen
//   within 1 s, the bound spcache.c keeps for directories.
// A key is canonical (every directory in it was a directory when the walk passed it), so a target's
// leading ".." are resolved against the link's directory as the walk would: textually. A ".." after a
// name of the target itself ("current/..", where current is a link to ".") is not textual: such links
// are not kept (CPython's test_tarfile test_parent_symlink wrote through one into the wrong directory).
//
// And names that are not links, for readlink(2): realpath() asks it of every component of every path it
// resolves (gcc's cc1 made 2,357 readlinks of 253 directories compiling one file), and the answer,
// EINVAL, costs the walk's three host calls. Such an entry says "this canonical path names something
// that is not a link"; it goes with its own generation, bumped by everything that removes or replaces
// a name (unlink, rmdir, rename: a link can only be made where no name is), and after LNC_TTL_NS.
// Only walks that skip the search-permission check (the fast walk's condition) use it.
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../sentry.h"

#define LNC_SLOTS 128
#define LNC_LEN 192 /* longer links or targets are not kept */
#define LNC_TTL_NS 1000000000ULL
#define LNC_MAX_REWRITES 8 /* a deeper chain takes the walk, which counts Linux's 40 */
#define NLC_SLOTS 256

struct lnc_ent {
	uint64_t gen; /* 0: empty */
	uint64_t when;
	char link[LNC_LEN], target[LNC_LEN];
};

struct nlc_ent {
	uint64_t gen; /* 0: empty */
	uint64_t when;
	char path[LNC_LEN];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static size_t slot_of(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return (size_t)(h % LNC_SLOTS);
}

uint64_t linkcache_gen(struct sentry *s)
{
	pthread_mutex_lock(&s->spc_lock);
	uint64_t g = s->lnc_gen;
	pthread_mutex_unlock(&s->spc_lock);
	return g;
}

void linkcache_changed(struct sentry *s)
{
	pthread_mutex_lock(&s->spc_lock);
	s->lnc_gen++;
	pthread_mutex_unlock(&s->spc_lock);
}

/* The next component of path *@p (slashes skipped): its start, its length in *@l; *@p moves past it. */
static const char *component(const char **p, size_t *l)
{
	while (**p == '/')
		(*p)++;
	const char *c = *p;
	while (**p && **p != '/')
		(*p)++;
	*l = (size_t)(*p - c);
	return c;
}

/* Does @target have a ".." after a name ("current/..", "a/../b")? That name may be a link itself,
 * after which ".." is not textual: such a link is not kept. Leading ".." ("../lib/x") are: the
 * link's directory, which they climb, is canonical. */
static bool dotdot_after_name(const char *target)
{
	bool named = false;
	for (const char *p = target; *p;) {
		size_t l;
		const char *c = component(&p, &l);
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			if (named)
				return true;
		} else if (l && !(l == 1 && c[0] == '.')) {
			named = true;
		}
	}
	return false;
}

void linkcache_put(struct sentry *s, uint64_t gen, const char *link, const char *target)
{
	size_t l = strlen(link), t = strlen(target);
	if (l >= LNC_LEN || t >= LNC_LEN || link[0] != '/' || !t || dotdot_after_name(target))
		return;
	pthread_mutex_lock(&s->spc_lock);
	if (!s->lnc)
		s->lnc = calloc(LNC_SLOTS, sizeof(*s->lnc));
	if (s->lnc && gen == s->lnc_gen) { /* nothing changed since the walk began */
		struct lnc_ent *e = &s->lnc[slot_of(link, l)];
		e->gen = gen;
		e->when = mono_ns();
		memcpy(e->link, link, l + 1);
		memcpy(e->target, target, t + 1);
	}
	pthread_mutex_unlock(&s->spc_lock);
}

/* The target of the link at canonical path @link[0..n) into @target (LNC_LEN), if known and fresh. */
static bool lookup(struct sentry *s, const char *link, size_t n, uint64_t now, char *target)
{
	bool hit = false;
	pthread_mutex_lock(&s->spc_lock);
	const struct lnc_ent *e = s->lnc ? &s->lnc[slot_of(link, n)] : NULL;
	if (e && e->gen && e->gen == s->lnc_gen && now - e->when < LNC_TTL_NS && strncmp(e->link, link, n) == 0 &&
	    e->link[n] == 0) {
		strcpy(target, e->target);
		hit = true;
	}
	pthread_mutex_unlock(&s->spc_lock);
	return hit;
}

/* Append the components of @p to the canonical path @out (length *@n, "" for "/"), resolving "." and
 * ".." textually; false if it does not fit. */
static bool append(char *out, size_t *n, size_t cap, const char *p)
{
	while (*p) {
		size_t l;
		const char *c = component(&p, &l);
		if (l == 0)
			break;
		if (l == 1 && c[0] == '.') {
		} else if (l == 2 && c[0] == '.' && c[1] == '.') {
			while (*n > 0 && out[--*n] != '/')
				;
		} else {
			if (*n + 1 + l >= cap)
				return false;
			out[(*n)++] = '/';
			memcpy(out + *n, c, l);
			*n += l;
		}
	}
	out[*n] = 0;
	return true;
}

int linkcache_rewrite(struct sentry *s, const char *cwd, const char *path, bool follow_last, char *out, size_t cap)
{
	if (!s->lnc)
		return 0;
	/* ".." after a link is not textual: only a path without it (the walk takes the others) */
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '/' || !p[2]))
			return 0;
	size_t plen = strlen(path);
	bool slash = plen && path[plen - 1] == '/';
	char cur[SENTRY_PATH_MAX], target[LNC_LEN];
	size_t n = 0;
	if (path[0] != '/' && !append(cur, &n, sizeof(cur), cwd))
		return 0;
	if (!append(cur, &n, sizeof(cur), path) || n == 0)
		return 0;
	uint64_t now = mono_ns();
	int rewrites = 0;
	size_t i = 1; /* scan position: the end of each component in turn */
	while (i <= n) {
		if (i < n && cur[i] != '/') {
			i++;
			continue;
		}
		bool last = i == n;
		if ((last && (!follow_last || slash)) || !lookup(s, cur, i, now, target)) {
			i++;
			continue;
		}
		if (++rewrites > LNC_MAX_REWRITES)
			return 0;
		char rest[SENTRY_PATH_MAX];
		strcpy(rest, cur + i);
		size_t m = 0;
		if (target[0] != '/') { /* relative to the link's directory */
			m = i;
			while (m > 0 && cur[--m] != '/')
				;
		}
		if (!append(cur, &m, sizeof(cur), target) || !append(cur, &m, sizeof(cur), rest))
			return 0;
		n = m;
		i = 1; /* the target may cross links itself */
	}
	if (!rewrites)
		return 0;
	if (n == 0) {
		cur[0] = '/';
		cur[1] = 0;
		n = 1;
	}
	if (n + (slash ? 1 : 0) >= cap)
		return 0;
	memcpy(out, cur, n);
	if (slash && n > 1)
		out[n++] = '/';
	out[n] = 0;
	return 1;
}

uint64_t notlink_gen(struct sentry *s)
{
	return __atomic_load_n(&s->nlc_gen, __ATOMIC_ACQUIRE) + 1; /* (never 0: an empty slot's) */
}

void notlink_changed(struct sentry *s)
{
	__atomic_add_fetch(&s->nlc_gen, 1, __ATOMIC_ACQ_REL);
}

void notlink_put(struct sentry *s, uint64_t gen, const char *spath)
{
	size_t l = strlen(spath);
	if (l >= LNC_LEN || spath[0] != '/')
		return;
	pthread_mutex_lock(&s->spc_lock);
	if (!s->nlc)
		s->nlc = calloc(NLC_SLOTS, sizeof(*s->nlc));
	if (s->nlc && gen == notlink_gen(s)) { /* nothing removed or replaced since the walk began */
		struct nlc_ent *e = &s->nlc[slot_of(spath, l) % NLC_SLOTS];
		e->gen = gen;
		e->when = mono_ns();
		memcpy(e->path, spath, l + 1);
	}
	pthread_mutex_unlock(&s->spc_lock);
}

bool notlink_known(struct sentry *s, const char *cwd, const char *path)
{
	size_t plen = strlen(path);
	if (!s->nlc || !plen || path[plen - 1] == '/')
		return false;
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) /* (as linkcache_rewrite) */
		if ((p == path || p[-1] == '/') && (p[2] == '/' || !p[2]))
			return false;
	char cur[SENTRY_PATH_MAX];
	size_t n = 0;
	if (linkcache_rewrite(s, cwd, path, false, cur, sizeof(cur)) == 1) {
		n = strlen(cur); /* through the links known on the way: the walk would end there */
	} else if ((path[0] != '/' && !append(cur, &n, sizeof(cur), cwd)) || !append(cur, &n, sizeof(cur), path)) {
		return false;
	}
	if (n == 0 || n >= LNC_LEN)
		return false; /* ("/" is never a link, but its walk is cheap) */
	uint64_t now = mono_ns();
	pthread_mutex_lock(&s->spc_lock);
	const struct nlc_ent *e = &s->nlc[slot_of(cur, n) % NLC_SLOTS];
	bool hit = e->gen && e->gen == notlink_gen(s) && now - e->when < LNC_TTL_NS && strcmp(e->path, cur) == 0;
	pthread_mutex_unlock(&s->spc_lock);
	return hit;
}

void linkcache_free(struct sentry *s)
{
	free(s->lnc);
	s->lnc = NULL;
	free(s->nlc);
	s->nlc = NULL;
}
