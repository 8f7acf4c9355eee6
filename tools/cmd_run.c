// SPDX-License-Identifier: Apache-2.0
// `cvisor run`: run a program in the sandbox; its exit status becomes ours (128+N if killed by signal N).
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "../sentry/sentry.h"
#include "cvisor.h"

extern char **environ;

/* PROG as execvp would find it. */
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

int cmd_run(int argc, char **argv)
{
	struct sentry_opts o = { 0 };
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) {
			o.platform = argv[++i];
		} else if (strcmp(argv[i], "--trace") == 0) {
			o.trace = true;
		} else if (argv[i][0] == '-') {
			usage_error("run: unknown option '%s'", argv[i]);
		} else {
			break;
		}
	}
	if (i >= argc)
		usage_error("run: no program given (cvisor run [--platform P] [--trace] -- PROG [ARGS...])");
	if (o.platform && cv_platform_probe(o.platform, NULL, 0) == -ENOENT)
		usage_error("unknown platform '%s'", o.platform);
	char path[PATH_MAX];
	int ret = resolve(argv[i], path, sizeof(path));
	if (ret < 0) {
		fprintf(stderr, "cvisor: %s: %s\n", argv[i], strerror(-ret));
		return 127;
	}
	int status = sentry_run(&o, path, argv + i, environ);
	if (status < 0)
		return 126;
	if (WIFSIGNALED(status) || (status & 0x7f))
		return 128 + (status & 0x7f);
	return WEXITSTATUS(status);
}
