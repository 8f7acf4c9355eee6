// SPDX-License-Identifier: Apache-2.0
// Owners the sandbox gave files with chown. The sentry is one host identity and never changes a host
// file's owner; a chown the sandbox's credentials allow (credentials model, kernel/creds.c: changing
// the user takes CAP_CHOWN, the group CAP_CHOWN or owning the file and being in the group) is recorded
// here, by the file's device and inode, and stat, fstat, statx and the next chown see it for the rest
// of the sandbox's life. The host file keeps its host owner (docs/sentry.md). An entry goes when the
// sandbox removes the file's last link, so a reused inode does not inherit it.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "../sentry.h"

static int cmp(uint64_t dev, uint64_t ino, const struct owner *o)
{
	return dev != o->dev ? (dev < o->dev ? -1 : 1) : ino != o->ino ? (ino < o->ino ? -1 : 1) : 0;
}

/* Index of (dev, ino), or where it would go; *found says which (owners_lock held). */
static size_t find(const struct sentry *s, uint64_t dev, uint64_t ino, bool *found)
{
	const struct owner *tab = s->owners;
	size_t lo = 0, hi = s->n_owners;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp(dev, ino, &tab[mid]);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

void owners_get(struct sentry *s, uint64_t dev, uint64_t ino, uint32_t *uid, uint32_t *gid)
{
	if (!__atomic_load_n(&s->n_owners, __ATOMIC_RELAXED))
		return;
	bool found;
	pthread_mutex_lock(&s->owners_lock);
	size_t i = find(s, dev, ino, &found);
	if (found) {
		*uid = s->owners[i].uid;
		*gid = s->owners[i].gid;
	}
	pthread_mutex_unlock(&s->owners_lock);
}

int owners_set(struct sentry *s, uint64_t dev, uint64_t ino, uint32_t uid, uint32_t gid)
{
	bool found;
	pthread_mutex_lock(&s->owners_lock);
	size_t i = find(s, dev, ino, &found);
	if (!found) {
		size_t n = s->n_owners;
		if (n == s->cap_owners) {
			size_t c = n ? 2 * n : 64;
			struct owner *t = realloc(s->owners, c * sizeof(*t));
			if (!t) {
				pthread_mutex_unlock(&s->owners_lock);
				return -ENOMEM;
			}
			s->owners = t;
			s->cap_owners = c;
		}
		memmove(&s->owners[i + 1], &s->owners[i], (n - i) * sizeof(*s->owners));
		__atomic_store_n(&s->n_owners, n + 1, __ATOMIC_RELAXED);
	}
	s->owners[i] = (struct owner){ dev, ino, uid, gid };
	pthread_mutex_unlock(&s->owners_lock);
	return 0;
}

void owners_forget(struct sentry *s, uint64_t dev, uint64_t ino)
{
	if (!__atomic_load_n(&s->n_owners, __ATOMIC_RELAXED))
		return;
	bool found;
	pthread_mutex_lock(&s->owners_lock);
	size_t i = find(s, dev, ino, &found);
	if (found) {
		memmove(&s->owners[i], &s->owners[i + 1], (s->n_owners - i - 1) * sizeof(*s->owners));
		__atomic_store_n(&s->n_owners, s->n_owners - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->owners_lock);
}

void owners_free(struct sentry *s)
{
	free(s->owners);
	s->owners = NULL;
	s->n_owners = s->cap_owners = 0;
}
