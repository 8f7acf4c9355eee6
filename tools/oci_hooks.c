// SPDX-License-Identifier: Apache-2.0
// The bundle's lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"): programs of the
// engine's, run on the host in the runtime's namespaces with the container's state on stdin. Docker
// always gives one (prestart: libnetwork-setkey, which sets up the network namespace the container's
// process joined). prestart, createRuntime and createContainer run at create once the container's
// process exists (a failure fails create); poststart after start and poststop at delete only warn,
// as the spec says. startContainer would have to run inside the sandbox: refused at create.
// The hooks are kept in ROOT/ID/hooks.json between the verbs.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "oci.h"

static const char *const stages[] = { "prestart", "createRuntime", "createContainer", "startContainer",
				      "poststart", "poststop", NULL };

static bool strings(json_t *a)
{
	size_t i;
	json_t *v;
	if (!a)
		return true;
	if (!json_is_array(a))
		return false;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return false;
	return true;
}

int oci_hooks_check(json_t *hooks)
{
	const char *k;
	json_t *list;
	if (!hooks)
		return 0;
	if (!json_is_object(hooks)) {
		oci_error("config.json: hooks: not an object");
		return -1;
	}
	json_object_foreach(hooks, k, list) {
		int s = 0;
		while (stages[s] && strcmp(stages[s], k) != 0)
			s++;
		if (!stages[s]) {
			oci_error("config.json: hooks.%s: unknown hook stage", k);
			return -1;
		}
		if (!json_is_array(list)) {
			oci_error("config.json: hooks.%s: not an array", k);
			return -1;
		}
		if (json_array_size(list) && strcmp(k, "startContainer") == 0) {
			oci_error("config.json: hooks.startContainer: not supported (it would run inside the sandbox)");
			return -1;
		}
		size_t i;
		json_t *h;
		json_array_foreach(list, i, h) {
			const char *path = json_string_value(json_object_get(h, "path"));
			json_t *t = json_object_get(h, "timeout");
			if (!path || path[0] != '/' || !strings(json_object_get(h, "args")) ||
			    !strings(json_object_get(h, "env")) || (t && (!json_is_integer(t) || json_integer_value(t) <= 0))) {
				oci_error("config.json: hooks.%s[%zu]: needs an absolute path, string args and env, "
					  "a positive timeout", k, i);
				return -1;
			}
		}
	}
	return 0;
}

/* A NULL-terminated copy of string array @a (its strings are @a's), or { @dflt } if it is empty. */
static char **string_array(json_t *a, const char *dflt)
{
	size_t n = json_array_size(a), i;
	char **v = calloc(n + 2, sizeof(*v));
	json_t *s;
	if (v && !n)
		v[0] = (char *)dflt;
	if (v)
		json_array_foreach(a, i, s)
			v[i] = (char *)json_string_value(s);
	return v;
}

/* One hook: 0, or -1 with @why filled. */
static int run_one(json_t *h, const char *state_json, char *why, size_t why_len)
{
	const char *path = json_string_value(json_object_get(h, "path"));
	json_t *args = json_object_get(h, "args");
	char **argv = string_array(args, path), **envp = string_array(json_object_get(h, "env"), NULL);
	errno = 0;
	json_t *t = json_object_get(h, "timeout");
	long timeout_ms = t ? (long)json_integer_value(t) * 1000 : -1;
	int in[2] = { -1, -1 };
	if (!argv || !envp || pipe2(in, O_CLOEXEC) < 0) {
		snprintf(why, why_len, "%s", strerror(errno ? errno : ENOMEM));
		free(argv);
		free(envp);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		execve(path, argv, envp);
		_exit(127);
	}
	close(in[0]);
	free(argv);
	free(envp);
	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		close(in[1]);
		return -1;
	}
	/* The state, then EOF; a hook that does not read it must not block us (SIGPIPE is ignored). */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	ssize_t wr = write(in[1], state_json, strlen(state_json)); /* short or EPIPE: the hook's business */
	(void)wr;
	close(in[1]);
	signal(SIGPIPE, old);
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	int r = pfd >= 0 ? poll(&p, 1, (int)timeout_ms) : 1;
	if (r == 0) {
		kill(pid, SIGKILL);
		snprintf(why, why_len, "timed out after %ld s", timeout_ms / 1000);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pfd >= 0)
		close(pfd);
	if (r == 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, why_len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, why_len, "killed by signal %d", WTERMSIG(status));
	return -1;
}

static char *state_json(const struct oci_state *st, const char *status)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", OCI_VERSION, "id", st->id, "status", status,
			      "pid", st->pid, "bundle", st->bundle);
	if (o && st->annotations)
		json_object_set(o, "annotations", st->annotations);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (o)
		json_decref(o);
	return text;
}

int oci_hooks_run(json_t *hooks, const char *stage, const struct oci_state *st, const char *status)
{
	json_t *list = json_object_get(hooks, stage), *h;
	if (!json_array_size(list))
		return 0;
	bool fatal = strcmp(stage, "poststart") != 0 && strcmp(stage, "poststop") != 0;
	char *text = state_json(st, status);
	if (!text) {
		oci_error("%s hooks: cannot make the state", stage);
		return -1;
	}
	size_t i;
	int ret = 0;
	json_array_foreach(list, i, h) {
		char why[128] = "";
		if (run_one(h, text, why, sizeof(why)) == 0)
			continue;
		const char *path = json_string_value(json_object_get(h, "path"));
		if (fatal) {
			oci_error("%s hook #%zu (%s) failed: %s", stage, i, path, why);
			ret = -1;
			break;
		}
		oci_warn("%s hook #%zu (%s) failed: %s", stage, i, path, why);
	}
	free(text);
	return ret;
}

int oci_hooks_save(const struct oci_state *st, json_t *hooks)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/hooks.json", st->dir);
	if (!json_object_size(hooks))
		return 0;
	return json_dump_file(hooks, path, JSON_COMPACT) == 0 ? 0 : -EIO;
}

json_t *oci_hooks_load(const struct oci_state *st)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/hooks.json", st->dir);
	if (access(path, F_OK) != 0)
		return NULL;
	return json_load_file(path, 0, NULL);
}
