// SPDX-License-Identifier: Apache-2.0
// The sandbox path of a directory the application holds open, remembered by inode. A walk that
// starts at an application's directory fd (fstatat(dirfd, name), openat(dirfd, ...): what find, fts,
// du and os.walk do for every entry) needs the directory's canonical sandbox path; asking the host
// (readlink of the sentry's /proc/self/fd/N) costs a host call on every lookup. The answer depends
// only on where the directory is, so it is kept by (device, inode, mount id) and forgotten:
// - whenever the sandbox renames or removes a directory anywhere (a generation bumped by rename and
//   rmdir: every path below the renamed one moves, a removed directory has no path left), and
// - SPC_TTL_NS after it was asked, so that a directory the host renames under a policy mount (the
//   host's changes to what the sandbox sees are not the sandbox's to order) is seen within 1 s.
// Nothing else moves a directory: the sandbox cannot mount, and a directory has one name.
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include "../sentry.h"

#define SPC_SLOTS 256                 /* direct-mapped by inode */
#define SPC_PATH 256                  /* longer paths are not kept */
#define SPC_TTL_NS 1000000000ULL

struct spc_ent {
	uint64_t dev, ino, mnt;
	uint64_t gen;   /* 0: empty */
	uint64_t when;  /* CLOCK_MONOTONIC ns of the host's answer */
	char sp[SPC_PATH];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static size_t slot_of(const struct statx *sx)
{
	uint64_t h = sx->stx_ino * 0x9e3779b97f4a7c15ULL ^ sx->stx_dev_minor;
	return (size_t)(h >> 56) % SPC_SLOTS;
}

static bool same(const struct spc_ent *e, const struct statx *sx)
{
	return e->ino == sx->stx_ino && e->dev == ((uint64_t)sx->stx_dev_major << 32 | sx->stx_dev_minor) &&
	       e->mnt == sx->stx_mnt_id;
}

int spcache_get(struct sentry *s, const struct statx *sx, char *sp)
{
	if (!(sx->stx_mask & STATX_MNT_ID))
		return -1;
	int ret = -1;
	pthread_mutex_lock(&s->spc_lock);
	const struct spc_ent *e = s->spc ? &s->spc[slot_of(sx)] : NULL;
	if (e && e->gen == s->spc_gen && same(e, sx) && mono_ns() - e->when < SPC_TTL_NS) {
		strcpy(sp, e->sp);
		ret = 0;
	}
	pthread_mutex_unlock(&s->spc_lock);
	return ret;
}

void spcache_put(struct sentry *s, const struct statx *sx, uint64_t gen, const char *sp)
{
	size_t l = strlen(sp);
	if (!(sx->stx_mask & STATX_MNT_ID) || l >= SPC_PATH)
		return;
	pthread_mutex_lock(&s->spc_lock);
	if (!s->spc)
		s->spc = calloc(SPC_SLOTS, sizeof(*s->spc));
	if (s->spc && gen == s->spc_gen) { /* nothing moved while the host was asked */
		struct spc_ent *e = &s->spc[slot_of(sx)];
		*e = (struct spc_ent){ .dev = (uint64_t)sx->stx_dev_major << 32 | sx->stx_dev_minor,
				       .ino = sx->stx_ino, .mnt = sx->stx_mnt_id, .gen = gen, .when = mono_ns() };
		memcpy(e->sp, sp, l + 1);
	}
	pthread_mutex_unlock(&s->spc_lock);
}

uint64_t spcache_gen(struct sentry *s)
{
	pthread_mutex_lock(&s->spc_lock);
	uint64_t g = s->spc_gen;
	pthread_mutex_unlock(&s->spc_lock);
	return g;
}

void spcache_moved(struct sentry *s)
{
	pthread_mutex_lock(&s->spc_lock);
	s->spc_gen++;
	pthread_mutex_unlock(&s->spc_lock);
}

void spcache_free(struct sentry *s)
{
	free(s->spc);
	s->spc = NULL;
}
