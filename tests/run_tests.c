// SPDX-License-Identifier: Apache-2.0
// Test runner: runs every registered test in a forked child with a timeout, platform tests once per
// backend, prints TAP lines and ends with "N passed, N failed, N skipped".
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

#define MAX_TESTS 512

struct test_entry {
	const char *name;
	test_fn fn;
	int per_platform;
	int timeout;
};

static struct test_entry tests[MAX_TESTS];
static int n_tests;
int harness_failures;

void harness_register(const char *name, test_fn fn, int per_platform, int timeout_s)
{
	if (n_tests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[n_tests++] = (struct test_entry){ name, fn, per_platform, timeout_s };
}

static int cmp_tests(const void *a, const void *b)
{
	return strcmp(((const struct test_entry *)a)->name, ((const struct test_entry *)b)->name);
}

/* Does "name" or "platform.name" match any filter (substring)? */
static int selected(const char *full, int nfilters, char **filters)
{
	if (nfilters == 0)
		return 1;
	for (int i = 0; i < nfilters; i++)
		if (strstr(full, filters[i]))
			return 1;
	return 0;
}

static int run_one(const struct test_entry *t, const char *platform)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		alarm((unsigned)t->timeout);
		harness_failures = 0;
		t->fn(platform);
		fflush(NULL);
		_exit(harness_failures ? 1 : 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	kill(-pid, SIGKILL); /* anything the test left behind in its process group */
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
		WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	return 1;
}

int main(int argc, char **argv)
{
	const char *only_platform = NULL;
	char **filters = argv + 1;
	int nfilters = argc - 1;
	if (nfilters >= 2 && strcmp(argv[1], "-p") == 0) {
		only_platform = argv[2];
		filters += 2;
		nfilters -= 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tests, (size_t)n_tests, sizeof(tests[0]), cmp_tests);

	const char *names[8];
	int n_platforms = cv_platform_list(names, 8);
	int passed = 0, failed = 0, skipped = 0, num = 0;
	char full[256];

	for (int i = 0; i < n_tests; i++) {
		const struct test_entry *t = &tests[i];
		for (int pi = 0; pi < (t->per_platform ? n_platforms : 1); pi++) {
			const char *plat = t->per_platform ? names[pi] : NULL;
			if (plat)
				snprintf(full, sizeof(full), "%s.%s", plat, t->name);
			else
				snprintf(full, sizeof(full), "%s", t->name);
			if (!selected(full, nfilters, filters))
				continue;
			if (plat && only_platform && strcmp(plat, only_platform) != 0)
				continue;
			num++;
			char why[256] = "";
			if (plat && cv_platform_probe(plat, why, sizeof(why)) < 0) {
				printf("ok %d - %s # SKIP %s\n", num, full, why);
				skipped++;
				continue;
			}
			int rc = run_one(t, plat);
			if (rc == 0) {
				printf("ok %d - %s\n", num, full);
				passed++;
			} else if (rc == 77) {
				printf("ok %d - %s # SKIP\n", num, full);
				skipped++;
			} else {
				printf("not ok %d - %s\n", num, full);
				failed++;
			}
		}
	}
	printf("1..%d\n", num);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
