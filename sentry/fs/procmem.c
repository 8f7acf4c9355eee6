// SPDX-License-Identifier: Apache-2.0
// /proc/PID/mem and /proc/PID/task/TID/mem: a process's memory as a file, for debuggers (gdb reads
// and writes an inferior only through it) and for the process itself. The application's fd is a
// memfd the sentry knows by its inode; a read or write is a copy from or to the process's memory at
// the offset (writes past its protection, as Linux's FOLL_FORCE, copy-on-write kept), and the fd's
// position is the memfd's own. Opening needs ptrace access to the process, as in Linux.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

/* The thread id @rel names a mem file of ("self/mem", "12/mem", "12/task/13/mem"), or 0. */
static int64_t mem_of(const struct process *self, const char *rel)
{
	char *end;
	int64_t id;
	if (strncmp(rel, "self/", 5) == 0 || strncmp(rel, "thread-self/", 12) == 0) {
		id = self->pid;
		end = strchr(rel, '/');
	} else {
		id = strtol(rel, &end, 10);
		if (end == rel || id <= 0)
			return 0;
	}
	if (strncmp(end, "/task/", 6) == 0) {
		const char *tid = end + 6;
		id = strtol(tid, &end, 10);
		if (end == tid || id <= 0)
			return 0;
	}
	return strcmp(end, "/mem") == 0 ? id : 0;
}

bool procmem_open(struct process *self, const char *rel, long *hfd)
{
	int64_t id = mem_of(self, rel);
	if (!id)
		return false;
	struct task probe = { .proc = self };
	long err;
	struct process *p = ptrace_pin(&probe, id, &err);
	if (!p) {
		*hfd = err == -ESRCH ? -ENOENT : -EACCES;
		return true;
	}
	int pid = p->pid;
	ptrace_unpin(p);
	int fd = memfd_create("cvisor-procmem", MFD_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*hfd = -ENOMEM;
		if (fd >= 0)
			close(fd);
		return true;
	}
	struct sentry *s = self->s;
	pthread_mutex_lock(&s->lock);
	s->procmem[s->n_procmem++ % PROCMEM_MAX] = (struct procmem_ent){ st.st_dev, st.st_ino, pid };
	self->has_procmem = true;
	pthread_mutex_unlock(&s->lock);
	*hfd = fd;
	return true;
}

bool procmem_is(struct process *pr, int h, int *pid)
{
	struct stat st;
	if (!__atomic_load_n(&pr->has_procmem, __ATOMIC_RELAXED) || fstat(h, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	struct sentry *s = pr->s;
	bool found = false;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < PROCMEM_MAX && !found; i++)
		if (s->procmem[i].ino == st.st_ino && s->procmem[i].dev == st.st_dev && s->procmem[i].pid) {
			*pid = s->procmem[i].pid;
			found = true;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

long procmem_rw(struct task *t, int h, int pid, uint64_t buf, uint64_t len, bool wr, int64_t off)
{
	bool at_pos = off < 0;
	if (at_pos && (off = lseek(h, 0, SEEK_CUR)) < 0)
		return -errno;
	long err;
	struct process *p = ptrace_pin(t, pid, &err);
	if (!p)
		return err == -ESRCH ? 0 : err; /* the process is gone: nothing more to read, as Linux */
	if (len > (1u << 20))
		len = 1u << 20;
	long r = remote_copy(t->proc, p, buf, (uint64_t)off, len, wr, true);
	ptrace_unpin(p);
	if (r == -EFAULT) /* the address is not mapped there (the buffer here is checked below) */
		r = -EIO;
	if (r > 0 && at_pos)
		lseek(h, off + r, SEEK_SET);
	return r;
}
