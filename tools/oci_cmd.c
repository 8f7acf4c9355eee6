// SPDX-License-Identifier: Apache-2.0
// The OCI verbs that look at or end a container: state, kill, delete; and the log every verb writes
// its errors to (runc's --log/--log-format: engines read the last error from it).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "cvisor.h"
#include "oci.h"
#include "../sentry/control.h"

struct oci_global oci_g = { .root = OCI_DEFAULT_ROOT };

__attribute__((format(printf, 2, 0))) static void log_line(const char *level, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "cvisor: %s%s\n", strcmp(level, "error") == 0 ? "" : "warning: ", msg);
	if (!oci_g.log)
		return;
	FILE *f = fopen(oci_g.log, "ae");
	if (!f)
		return;
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (oci_g.log_json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", when);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(f, "%s\n", s);
		free(s);
		if (o)
			json_decref(o);
	} else {
		fprintf(f, "time=\"%s\" level=%s msg=\"%s\"\n", when, level, msg);
	}
	fclose(f);
}

void oci_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("error", fmt, ap);
	va_end(ap);
}

void oci_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("warning", fmt, ap);
	va_end(ap);
}

/* The one container id a verb takes after its options (argv[i]). */
static const char *one_id(int argc, char **argv, int i, const char *verb)
{
	if (i >= argc) {
		oci_error("%s: no container id given", verb);
		return NULL;
	}
	if (i + 1 < argc && strcmp(verb, "kill") != 0) {
		oci_error("%s: unexpected argument '%s'", verb, argv[i + 1]);
		return NULL;
	}
	return argv[i];
}

int oci_state_cmd(int argc, char **argv)
{
	const char *id = one_id(argc, argv, 1, "state");
	struct oci_state st;
	int lock = id ? oci_state_open(id, &st) : -1;
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "ociVersion", OCI_VERSION, "id", st.id, "status",
			      oci_status_name(s), "pid", s == OCI_STOPPED ? 0 : st.pid, "bundle", st.bundle, "rootfs",
			      st.rootfs, "created", st.created);
	if (o && st.annotations)
		json_object_set(o, "annotations", st.annotations);
	char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	if (o)
		json_decref(o);
	oci_state_free(&st);
	close(lock);
	return text ? 0 : 1;
}

/* A signal by number or name, with or without SIG ("TERM", "SIGTERM", "15"); 0 if unknown. */
static int parse_signal(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < 65 ? (int)n : 0;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (int sig = 1; sig < 32; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcasecmp(abbrev, s) == 0)
			return sig;
	}
	return 0;
}

/*
 * The signals the container's process passes on to the sandbox's first process (jail.c) before the
 * sandbox runs (a created container: its process waits for start, and a signal ends it), or SIGKILL,
 * which ends the sandbox at once. A running container gets every other signal through the sentry's
 * control channel (sentry/kernel/control.c): to pid 1, or to every process with --all, from outside
 * (si_pid 0), so pid 1's init rules hold.
 */
static bool deliverable(int sig)
{
	static const int ok[] = { SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == sig)
			return true;
	return false;
}

int oci_kill(int argc, char **argv)
{
	int i = 1;
	bool all = false;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--all") != 0 && strcmp(argv[i], "-a") != 0) {
			oci_error("kill: unknown option '%s'", argv[i]);
			return 1;
		}
		all = true;
	}
	const char *id = one_id(argc, argv, i, "kill");
	if (!id)
		return 1;
	if (i + 2 < argc) {
		oci_error("kill: unexpected argument '%s'", argv[i + 2]);
		return 1;
	}
	int sig = parse_signal(i + 1 < argc ? argv[i + 1] : "TERM");
	if (!sig) {
		oci_error("kill: unknown signal '%s'", argv[i + 1]);
		return 1;
	}
	struct oci_state st;
	int lock = oci_state_open(id, &st);
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	int ret = 0;
	if (s != OCI_CREATED && s != OCI_RUNNING && s != OCI_PAUSED) {
		oci_error("container %s is not running", id);
		ret = 1;
	} else if (sig != SIGKILL && s != OCI_CREATED) {
		struct ctl_req rq = { .op = CTL_KILL, .sig = sig, .all = all };
		ret = oci_ctl_simple(lock, id, &rq) < 0;
	} else if (!deliverable(sig)) {
		oci_error("kill: container %s has not started: signal %d (%s) cannot reach it yet", id, sig,
			  sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		ret = 1;
	} else if (kill(st.pid, sig) < 0) {
		oci_error("kill %s: %s", id, strerror(errno));
		ret = 1;
	}
	oci_state_free(&st);
	close(lock);
	return ret;
}

/* SIGKILL the container's process and wait until it has exited (its reaper collects the status). */
static void kill_and_wait(const struct oci_state *st)
{
	int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	if (pfd < 0)
		return;
	if (oci_proc_start_time(st->pid) == st->start_time) { /* still the container's: not a reused pid */
		syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
	}
	close(pfd);
}

int oci_delete(int argc, char **argv)
{
	int i = 1;
	bool force = false;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
			force = true;
		} else {
			oci_error("delete: unknown option '%s'", argv[i]);
			return 1;
		}
	}
	const char *id = one_id(argc, argv, i, "delete");
	struct oci_state st;
	int lock = id ? oci_state_open(id, &st) : -1;
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	if ((s == OCI_RUNNING || s == OCI_PAUSED) && !force) {
		oci_error("cannot delete container %s that is not stopped: %s (use --force)", id, oci_status_name(s));
		oci_state_free(&st);
		close(lock);
		return 1;
	}
	if (s == OCI_RUNNING || s == OCI_PAUSED || s == OCI_CREATED) /* a created one was never started: runc deletes it too */
		kill_and_wait(&st);
	oci_cgroup_remove(&st);
	json_t *hooks = oci_hooks_load(&st);
	oci_hooks_run(hooks, "poststop", &st, "stopped");
	if (hooks)
		json_decref(hooks);
	oci_state_remove(&st);
	oci_state_free(&st);
	close(lock);
	return 0;
}
