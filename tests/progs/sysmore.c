// SPDX-License-Identifier: Apache-2.0
// Smaller syscalls conformance suites use (issue 12), printed for a native/sandboxed comparison:
// posix_fadvise, ioprio_get/set, sched_getattr/setattr, the old getdents, clock_settime and
// settimeofday with bad arguments, sync_file_range.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
}

struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

static volatile int xfsz_count;

static void on_xfsz(int sig)
{
	(void)sig;
	xfsz_count++;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	int fd = open("/etc/passwd", O_RDONLY);
	int p[2];
	if (fd < 0 || pipe(p) < 0)
		return 1;
	printf("fadvise sequential: %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
	printf("fadvise dontneed: %d\n", posix_fadvise(fd, 0, 4096, POSIX_FADV_DONTNEED));
	printf("fadvise bad advice: %s\n", strerrorname_np(posix_fadvise(fd, 0, 0, 99)));
	printf("fadvise pipe: %s\n", strerrorname_np(posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL)));
	printf("fadvise bad fd: %s\n", strerrorname_np(posix_fadvise(999, 0, 0, POSIX_FADV_NORMAL)));
	printf("fadvise negative length: %s\n", strerrorname_np(posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL)));
	/* sync_file_range (PostgreSQL's writeback hints): the host's checks */
	show("sync_file_range write", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
	show("sync_file_range wait-write-wait", sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WAIT_BEFORE |
							      SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
	show("sync_file_range bad flags", sync_file_range(fd, 0, 0, 8));
	show("sync_file_range negative offset", sync_file_range(fd, -1, 0, SYNC_FILE_RANGE_WRITE));
	show("sync_file_range pipe", sync_file_range(p[0], 0, 0, SYNC_FILE_RANGE_WRITE));
	show("sync_file_range bad fd", sync_file_range(999, 0, 0, SYNC_FILE_RANGE_WRITE));

	show("ioprio_get self", syscall(SYS_ioprio_get, 1, 0));
	show("ioprio_set best-effort 4", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4));
	show("ioprio_get again", syscall(SYS_ioprio_get, 1, 0));
	show("ioprio_set idle", syscall(SYS_ioprio_set, 1, 0, 3 << 13));
	show("ioprio_get idle", syscall(SYS_ioprio_get, 1, 0));
	show("ioprio_set bad class", syscall(SYS_ioprio_set, 1, 0, 7 << 13));
	show("ioprio_set level with a hint", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 9));
	show("ioprio_set none with a level", syscall(SYS_ioprio_set, 1, 0, 3));
	show("ioprio_get bad which", syscall(SYS_ioprio_get, 9, 0));
	show("ioprio_get no such pid", syscall(SYS_ioprio_get, 1, 999999));

	struct sched_attr a;
	memset(&a, 0x55, sizeof(a));
	show("sched_getattr", syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0));
	printf("  size %u policy %u flags %llu nice %d prio %u\n", a.size, a.sched_policy,
	       (unsigned long long)a.sched_flags, a.sched_nice, a.sched_priority);
	show("sched_getattr small", syscall(SYS_sched_getattr, 0, &a, 20, 0));
	show("sched_getattr flags", syscall(SYS_sched_getattr, 0, &a, sizeof(a), 1));
	show("sched_getattr no such pid", syscall(SYS_sched_getattr, 999999, &a, sizeof(a), 0));
	memset(&a, 0, sizeof(a));
	a.size = 48;
	a.sched_policy = SCHED_BATCH;
	a.sched_nice = 5;
	show("sched_setattr batch nice 5", syscall(SYS_sched_setattr, 0, &a, 0));
	printf("  scheduler %d nice %d\n", sched_getscheduler(0), getpriority(0, 0));
	a.sched_policy = 42;
	show("sched_setattr bad policy", syscall(SYS_sched_setattr, 0, &a, 0));
	a.sched_policy = SCHED_OTHER;
	a.sched_nice = 5;
	show("sched_setattr back", syscall(SYS_sched_setattr, 0, &a, 0));

	/* The old getdents: the same names as readdir gives. */
	int d = open("/etc", O_RDONLY | O_DIRECTORY);
	char buf[8192], *names[4096];
	int n = 0;
	long got;
	while ((got = syscall(SYS_getdents, d, buf, sizeof(buf))) > 0)
		for (long at = 0; at < got;) {
			unsigned short reclen;
			memcpy(&reclen, buf + at + 16, 2);
			char type = buf[at + reclen - 1];
			if (n < 4096 && (type == DT_DIR || type == DT_REG || type == DT_LNK))
				names[n++] = strdup(buf + at + 18);
			at += reclen;
		}
	show("getdents end", got);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	DIR *dir = opendir("/etc");
	char *want[4096];
	int m = 0;
	for (struct dirent *e; (e = readdir(dir));)
		if (m < 4096 && (e->d_type == DT_DIR || e->d_type == DT_REG || e->d_type == DT_LNK))
			want[m++] = strdup(e->d_name);
	qsort(want, (size_t)m, sizeof(want[0]), cmp);
	int same = n == m;
	for (int i = 0; same && i < n; i++)
		same = strcmp(names[i], want[i]) == 0;
	printf("getdents names as readdir's: %d\n", same);
	show("getdents on a file", syscall(SYS_getdents, fd, buf, sizeof(buf)));
	show("getdents bad fd", syscall(SYS_getdents, 999, buf, sizeof(buf)));

	/* RLIMIT_FSIZE: writes cut at the limit, SIGXFSZ and EFBIG past it; the default action kills. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/cvisor-fsize-%d", (int)getpid());
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		struct rlimit l = { 100, 100 };
		setrlimit(RLIMIT_FSIZE, &l);
		signal(SIGXFSZ, on_xfsz);
		int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		char big[200];
		memset(big, 'a', sizeof(big));
		show("write across the limit", write(f, big, sizeof(big)));
		show("write at the limit", write(f, big, 10));
		show("pwrite across it", pwrite(f, big, 100, 50));
		show("ftruncate past it", ftruncate(f, 200));
		show("ftruncate below it", ftruncate(f, 50));
		show("fallocate past it", fallocate(f, 0, 0, 4096));
		printf("  SIGXFSZ handled %d times\n", xfsz_count);
		signal(SIGXFSZ, SIG_DFL);
		lseek(f, 0, SEEK_END);
		fflush(stdout);
		if (ftruncate(f, 100) < 0 || lseek(f, 100, SEEK_SET) < 0)
			_exit(1);
		show("not reached", write(f, big, 1)); /* killed here */
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("past the limit without a handler: killed by %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	unlink(path);

	/* RLIMIT_AS: mappings, brk and mremap growth past it fail with ENOMEM. */
	fflush(stdout);
	c = fork();
	if (c == 0) {
		struct rlimit l = { 1ul << 30, 1ul << 30 };
		setrlimit(RLIMIT_AS, &l);
		void *a = mmap(NULL, 512ul << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		show("mmap 512 MiB under a 1 GiB RLIMIT_AS", a == MAP_FAILED ? -1 : 0);
		void *b = mmap(NULL, 512ul << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		show("mmap 512 MiB more", b == MAP_FAILED ? -1 : 0);
		void *g = mremap(a, 512ul << 20, 900ul << 20, MREMAP_MAYMOVE);
		show("mremap it to 900 MiB", g == MAP_FAILED ? -1 : 0);
		void *f = mmap(a, 256ul << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		show("mmap MAP_FIXED over it", f == MAP_FAILED ? -1 : 0);
		munmap(a, 512ul << 20);
		void *brk0 = sbrk(0);
		show("brk 600 MiB", syscall(SYS_brk, (char *)brk0 + (600ul << 20)) == (long)(uintptr_t)brk0 ? -1 : 0);
		show("brk 50 MiB", syscall(SYS_brk, (char *)brk0 + (50ul << 20)) == (long)(uintptr_t)brk0 ? -1 : 0);
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, &st, 0);

	struct timespec bad = { 0, -1 };
	show("clock_settime bad nsec", clock_settime(CLOCK_REALTIME, &bad));
	show("clock_settime bad clock", clock_settime(99, &bad));
	show("clock_settime monotonic", clock_settime(CLOCK_MONOTONIC, &(struct timespec){ 1, 0 }));
	struct timeval tv = { 0, 2000000 };
	show("settimeofday bad usec", settimeofday(&tv, NULL));
	return 0;
}
