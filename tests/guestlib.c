// SPDX-License-Identifier: Apache-2.0
// Helpers for platform tests: a tiny guest (code blob + stack) in a fresh address space, and counters
// of this process's fds, threads and children for leak checks.
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include "guestlib.h"

void guest_setup(struct guest *g, const char *platform, const void *code_start, const void *code_end)
{
	guest_setup_opts(g, platform, NULL, code_start, code_end);
}

void guest_setup_opts(struct guest *g, const char *platform, const struct cv_platform_opts *opts,
		      const void *code_start, const void *code_end)
{
	size_t len = (size_t)((const uint8_t *)code_end - (const uint8_t *)code_start);
	ASSERT_LE(len, GUEST_CODE_SIZE);
	memset(g, 0, sizeof(*g));
	ASSERT_OK(cv_platform_open(platform, opts, &g->p));
	ASSERT_OK(cv_platform_caps(g->p, &g->caps));
	ASSERT_OK(cv_memfile_new(NULL, &g->mf));
	ASSERT_OK(cv_as_new(g->p, &g->as));
	ASSERT_OK(cv_ctx_new(g->p, 0, &g->ctx));
	g->st = cv_ctx_state(g->ctx);
	g->code = guest_map_anon(g, GUEST_CODE_ADDR, GUEST_CODE_SIZE, CV_ACCESS_READ | CV_ACCESS_EXEC, NULL);
	memcpy(g->code, code_start, len);
	g->stack = guest_map_anon(g, GUEST_STACK_ADDR, GUEST_STACK_SIZE, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	g->st->regs.rip = GUEST_CODE_ADDR;
	g->st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
}

void guest_teardown(struct guest *g)
{
	ASSERT_OK(cv_ctx_release(g->ctx));
	ASSERT_OK(cv_as_release(g->as));
	cv_memfile_close(g->mf);
	ASSERT_OK(cv_platform_close(g->p));
	memset(g, 0, sizeof(*g));
}

void *guest_map_anon(struct guest *g, uint64_t addr, uint64_t len, unsigned access, uint64_t *off)
{
	uint64_t o;
	void *p;
	ASSERT_OK(cv_memfile_alloc(g->mf, len, 0, &o));
	ASSERT_OK(cv_memfile_ptr(g->mf, o, len, &p));
	ASSERT_OK(cv_as_map(g->as, addr, cv_memfile_fd(g->mf), o, len, access, false));
	if (off)
		*off = o;
	return p;
}

struct cv_exit guest_run(struct guest *g)
{
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(g->ctx, g->as, &e));
	return e;
}

long guest_run_syscall(struct guest *g)
{
	struct cv_exit e = guest_run(g);
	if (e.reason != CV_EXIT_SYSCALL)
		HARNESS_FAIL(1, "expected a syscall exit: reason %d signal %d addr %p rip %#llx", e.reason,
			     e.info.si_signo, e.info.si_addr, (unsigned long long)g->st->regs.rip);
	return (long)g->st->regs.orig_rax;
}

struct cv_exit guest_run_signal(struct guest *g, int signo)
{
	struct cv_exit e = guest_run(g);
	if (e.reason != CV_EXIT_SIGNAL || e.info.si_signo != signo)
		HARNESS_FAIL(1, "expected signal %d: reason %d signal %d nr %lld rip %#llx", signo, e.reason,
			     e.info.si_signo, (long long)g->st->regs.orig_rax, (unsigned long long)g->st->regs.rip);
	return e;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	ASSERT_TRUE(d != NULL);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int count_fds(void)
{
	return count_dir("/proc/self/fd") - 1; /* minus the directory's own fd */
}

/* Is task @tid of this process a worker the kernel made (PF_USER_WORKER: KVM's NX-huge-page recovery
 * since Linux 6.13, vhost, io_uring), which comes and goes with a VM, not with our code? */
static bool kernel_worker(const char *tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	unsigned long flags = 0;
	/* after the name: state ppid pgrp session tty_nr tpgid flags */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x4000; /* PF_USER_WORKER */
}

int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !kernel_worker(de->d_name))
			n++;
	closedir(d);
	return n;
}

int count_threads_settled(int want)
{
	int n = count_threads();
	for (int i = 0; i < 200 && n != want; i++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
		n = count_threads();
	}
	return n;
}

int list_children(int *pids, int max)
{
	DIR *d = opendir("/proc");
	ASSERT_TRUE(d != NULL);
	int n = 0, self = getpid();
	struct dirent *de;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name);
		if (pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t l = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[l] = 0;
		char *rp = strrchr(buf, ')'); /* the command name may contain anything */
		char state;
		int ppid;
		if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self && n < max) {
			if (pids)
				pids[n] = pid;
			n++;
		}
	}
	closedir(d);
	return n;
}

int count_children(void)
{
	return list_children(NULL, 1 << 30);
}
