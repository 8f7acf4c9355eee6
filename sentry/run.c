// SPDX-License-Identifier: Apache-2.0
// Running one program: set up the platform, memory file, process and task, then the switch loop.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sentry.h"

static void process_free(struct process *pr)
{
	for (int i = 0; i < SENTRY_MAX_FDS; i++)
		if (pr->fds[i] >= 0)
			close(pr->fds[i]);
	if (pr->as)
		mm_destroy(pr);
	cv_as_release(pr->as);
}

/* The switch loop of one task until its process exits. Returns the wait status. */
static int task_loop(struct task *t)
{
	struct process *pr = t->proc;
	for (;;) {
		struct cv_exit ex;
		int ret = cv_ctx_switch(t->ctx, pr->as, &ex);
		if (ret < 0) {
			fprintf(stderr, "cvisor: the sandbox failed: %s\n", cv_strerror(ret));
			return SIGKILL;
		}
		switch (ex.reason) {
		case CV_EXIT_SYSCALL:
			if (do_syscall(t, &ex))
				return pr->exit_status;
			break;
		case CV_EXIT_SIGNAL:
			/* No signal handlers yet: a synchronous signal kills the process, as by default. */
			if (pr->s->opts.trace)
				fprintf(stderr, "[%d] killed by signal %d at %#llx (addr %p)\n", t->tid, ex.info.si_signo,
					(unsigned long long)t->st->regs.rip, ex.info.si_addr);
			return ex.info.si_signo;
		default:
			break;
		}
	}
}

int sentry_run(const struct sentry_opts *opts, const char *path, char *const argv[], char *const envp[])
{
	struct sentry s = { .opts = *opts };
	struct process pr = { .s = &s, .exe = path, .pid = 1, .exit_status = -1 };
	struct task t = { .proc = &pr, .tid = 1 };
	char err[512] = "";
	int ret, status = -1;
	for (int i = 0; i < SENTRY_MAX_FDS; i++)
		pr.fds[i] = -1;

	if ((ret = cv_platform_open(opts->platform, NULL, &s.p)) < 0) {
		snprintf(err, sizeof(err), "cannot open platform %s: %s", opts->platform ? opts->platform : "(best)",
			 cv_strerror(ret));
		goto out;
	}
	cv_platform_caps(s.p, &s.caps);
	if ((ret = cv_memfile_new(NULL, &s.mf)) < 0 || (ret = cv_as_new(s.p, &pr.as)) < 0 ||
	    (ret = cv_ctx_new(s.p, 0, &t.ctx)) < 0) {
		snprintf(err, sizeof(err), "cannot create the sandbox: %s", cv_strerror(ret));
		goto out;
	}
	/* The program's stdio are ours (duplicates, so closing them does not close ours). */
	for (int i = 0; i < 3; i++)
		pr.fds[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
	t.st = cv_ctx_state(t.ctx);
	uint64_t entry, sp;
	if ((ret = load_elf(&pr, path, argv, envp, &entry, &sp, err, sizeof(err))) < 0)
		goto out;
	t.st->regs.rip = entry;
	t.st->regs.rsp = sp;
	status = task_loop(&t);
out:
	if (err[0])
		fprintf(stderr, "cvisor: %s\n", err);
	cv_ctx_release(t.ctx);
	process_free(&pr);
	cv_memfile_close(s.mf);
	cv_platform_close(s.p);
	return status < 0 ? (ret < 0 ? ret : -EIO) : status;
}
