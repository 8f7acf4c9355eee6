// SPDX-License-Identifier: Apache-2.0
// The file cache: a private file mapping without write access (the text of ld.so, libc, every shared
// library) is a copy of the file that nobody can change, so every process mapping the same range of
// the same unchanged file can share one copy in the memory file. Such VMAs are marked copy-on-write:
// mprotect to writable gives the process its own copy first. An entry is valid while the file's
// device, inode, size, mtime and ctime are unchanged; the cache holds one reference per entry until
// the sentry ends, up to FC_MAX_BYTES.
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

#define FC_MAX_BYTES (512ull << 20)

struct fc_entry {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	uint64_t foff, len, mf_off;
	struct fc_entry *next;
};

static bool same_file(const struct fc_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Fresh memory-file pages holding the file range (the caller's reference). */
static int copy_in(struct sentry *s, int fd, uint64_t foff, uint64_t len, uint64_t *mf_off)
{
	if (vm_alloc_pages(s, len, mf_off) < 0)
		return -ENOMEM;
	void *p;
	if (cv_memfile_ptr(s->mf, *mf_off, len, &p) < 0) {
		cv_memfile_decref(s->mf, *mf_off, len);
		return -ENOMEM;
	}
	for (uint64_t done = 0; done < len;) {
		ssize_t r = pread(fd, (char *)p + done, len - done, (off_t)(foff + done));
		if (r <= 0)
			break; /* past the end: the pages stay zero */
		done += (uint64_t)r;
	}
	return 0;
}

int fc_get(struct sentry *s, int fd, uint64_t foff, uint64_t len, uint64_t *mf_off)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return copy_in(s, fd, foff, len, mf_off);
	pthread_mutex_lock(&s->fc_lock);
	for (struct fc_entry *e = s->fc; e; e = e->next)
		if (e->foff == foff && e->len == len && same_file(e, &st) &&
		    cv_memfile_incref(s->mf, e->mf_off, len) == 0) {
			*mf_off = e->mf_off;
			pthread_mutex_unlock(&s->fc_lock);
			return 0;
		}
	pthread_mutex_unlock(&s->fc_lock);
	int ret = copy_in(s, fd, foff, len, mf_off);
	if (ret < 0)
		return ret;
	struct fc_entry *e = malloc(sizeof(*e));
	pthread_mutex_lock(&s->fc_lock);
	if (e && s->fc_bytes + len <= FC_MAX_BYTES && cv_memfile_incref(s->mf, *mf_off, len) == 0) {
		*e = (struct fc_entry){ st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim, foff, len, *mf_off, s->fc };
		s->fc = e;
		s->fc_bytes += len;
		e = NULL;
	}
	pthread_mutex_unlock(&s->fc_lock);
	free(e);
	return 0;
}

void fc_destroy(struct sentry *s)
{
	while (s->fc) {
		struct fc_entry *e = s->fc;
		s->fc = e->next;
		cv_memfile_decref(s->mf, e->mf_off, e->len);
		free(e);
	}
	s->fc_bytes = 0;
}
