// SPDX-License-Identifier: Apache-2.0
// `cvisor run`: run a program in the sandbox; its exit status becomes ours (128+N if killed by signal N).
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../sentry/sentry.h"
#include "cvisor.h"

extern char **environ;

/* PROG as execvp would find it. */
/*
 * PROG as the sandbox will see it. Without --root the sandbox's tree is the host's, so the host's PATH
 * search and realpath answer; with --root DIR the search happens inside DIR and the result is a path
 * in the sandbox (the sentry resolves its links through the policy).
 */
static int resolve_in_root(const char *root, const char *cwd, const char *prog, char *out, size_t len)
{
	char host[2 * PATH_MAX + 2];
	if (strchr(prog, '/')) {
		int n = prog[0] == '/' ? snprintf(out, len, "%s", prog) : snprintf(out, len, "%s/%s", cwd, prog);
		if (n < 0 || (size_t)n >= len || snprintf(host, sizeof(host), "%s/%s", root, out) >= (int)sizeof(host))
			return -ENAMETOOLONG;
		return access(host, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n && path[0] == '/') {
			int w = snprintf(out, len, "%.*s/%s", (int)n, path, prog);
			if (w > 0 && (size_t)w < len && snprintf(host, sizeof(host), "%s/%s", root, out) < (int)sizeof(host) &&
			    access(host, X_OK) == 0)
				return 0;
		}
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}

static int resolve(const char *prog, char *out, size_t len)
{
	if (strchr(prog, '/')) {
		if (!realpath(prog, out))
			return -errno;
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char cand[PATH_MAX];
		snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, n ? path : ".", prog);
		if (access(cand, X_OK) == 0 && realpath(cand, out) && strlen(out) < len)
			return 0;
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}

/* The environment: ours, with --env K=V entries replacing or adding. */
static char **make_env(char **extra, int n_extra)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + (size_t)n_extra + 1, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (int j = 0; j < n_extra; j++) {
			size_t l = strcspn(extra[j], "=");
			replaced |= strncmp(environ[i], extra[j], l) == 0 && environ[i][l] == '=';
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (int j = 0; j < n_extra; j++)
		env[k++] = extra[j];
	return env;
}

static void check_dir(const char *opt, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		usage_error("%s %s: not a directory", opt, path);
}

/* "512M", "2G", "1048576": bytes, or -1. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	if (end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || v > (~0ull >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct sentry_opts o = { .quick_exit = true };
	char *envs[64];
	int n_env = 0;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		bool has_arg = i + 1 < argc;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			run_help(stdout);
			return 0;
		} else if (strcmp(a, "--platform") == 0 && has_arg) {
			o.platform = argv[++i];
		} else if (strcmp(a, "--trace") == 0) {
			o.trace = true;
		} else if (strcmp(a, "--stats") == 0) {
			o.stats = true;
		} else if (strcmp(a, "--no-patch") == 0) {
			o.no_patch = true;
		} else if (strcmp(a, "--net") == 0) {
			o.net = true;
		} else if (strcmp(a, "--root") == 0 && has_arg) {
			check_dir(a, argv[i + 1]);
			o.root = argv[++i];
		} else if (strcmp(a, "--unsafe-no-confine") == 0) {
			o.no_confine = true;
		} else if ((strcmp(a, "--ro") == 0 || strcmp(a, "--rw") == 0 || strcmp(a, "--ro-as-root") == 0) && has_arg) {
			if (o.n_binds == (int)(sizeof(o.binds) / sizeof(o.binds[0])))
				usage_error("too many --ro/--rw options");
			check_dir(a, argv[i + 1]);
			if (argv[i + 1][0] != '/')
				usage_error("%s %s: give an absolute path", a, argv[i + 1]);
			o.binds[o.n_binds++] = (struct sentry_bind){ argv[++i], strcmp(a, "--rw") == 0, strcmp(a, "--ro-as-root") == 0 };
		} else if (strcmp(a, "--cwd") == 0 && has_arg) {
			if (argv[i + 1][0] != '/')
				usage_error("--cwd %s: give an absolute path", argv[i + 1]);
			o.cwd = argv[++i];
		} else if (strcmp(a, "--memory") == 0 && has_arg) {
			if (parse_size(argv[i + 1], &o.mem_limit) < 0 || o.mem_limit < (1u << 20))
				usage_error("--memory %s: want a size of at least 1M (bytes, or with K, M, G)", argv[i + 1]);
			i++;
		} else if (strcmp(a, "--pids") == 0 && has_arg) {
			char *end;
			unsigned long n = strtoul(argv[i + 1], &end, 10);
			if (end == argv[i + 1] || *end || n == 0 || n > 1000000)
				usage_error("--pids %s: want a number of tasks from 1 to 1000000", argv[i + 1]);
			o.pids_limit = (uint32_t)n;
			i++;
		} else if (strcmp(a, "--env") == 0 && has_arg) {
			if (!strchr(argv[i + 1], '=') || argv[i + 1][0] == '=')
				usage_error("--env %s: want NAME=VALUE", argv[i + 1]);
			if (n_env == 64)
				usage_error("too many --env options");
			envs[n_env++] = argv[++i];
		} else if (a[0] == '-') {
			usage_error("run: unknown option '%s'", argv[i]);
		} else {
			break;
		}
	}
	if (i >= argc)
		usage_error("run: no program given (cvisor run [OPTIONS] -- PROG [ARGS...])");
	if (o.platform && cv_platform_probe(o.platform, NULL, 0) == -ENOENT)
		usage_error("unknown platform '%s'", o.platform);
	char path[PATH_MAX], here[PATH_MAX];
	int ret = o.root ? resolve_in_root(o.root, o.cwd ? o.cwd : getcwd(here, sizeof(here)) ? here : "/", argv[i],
					   path, sizeof(path))
			 : resolve(argv[i], path, sizeof(path));
	if (ret < 0) {
		fprintf(stderr, "cvisor: %s: %s\n", argv[i], strerror(-ret));
		return 127;
	}
	char **env = make_env(envs, n_env);
	if (!env) {
		fprintf(stderr, "cvisor: out of memory\n");
		return 126;
	}
	int status = sentry_run(&o, path, argv + i, env);
	free(env);
	if (status < 0)
		return 126;
	if (WIFSIGNALED(status) || (status & 0x7f))
		return 128 + (status & 0x7f);
	return WEXITSTATUS(status);
}
