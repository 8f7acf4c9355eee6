// SPDX-License-Identifier: Apache-2.0
// The sentry's syscall table (sentry/kernel/systable.c): every entry well formed, its numbers the kernel's,
// and docs/syscalls.md exactly what `cvisor syscalls --markdown` prints, so the docs cannot go stale.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "../sentry/systable.h"

#define KNOWN_FLAGS (SC_UNLOCKED | SC_NORETURN | SC_PARTIAL | SC_REFUSED)

/* All of @f, NUL-terminated (malloc'd), or NULL. */
static char *read_all(FILE *f)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	for (size_t n; buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
		len += n;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap *= 2);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	if (buf)
		buf[len] = 0;
	return buf;
}

/* The first line where @a and @b differ (1-based), for the failure message. */
static int first_difference(const char *a, const char *b)
{
	int line = 1;
	for (; *a && *a == *b; a++, b++)
		line += *a == '\n';
	return line;
}

TEST(systable_docs_match_cvisor_syscalls)
{
	FILE *doc = fopen("docs/syscalls.md", "r");
	if (!doc)
		SKIP("docs/syscalls.md: %s (run from the source tree)", strerror(errno));
	char *want = read_all(doc);
	fclose(doc);
	ASSERT_TRUE(want != NULL);

	/* The command itself, built next to the guest programs; the table's own printer if it is not. */
	const char *cvisor = PROGS_DIR "/../cvisor";
	bool built = access(cvisor, X_OK) == 0;
	FILE *out;
	if (built) {
		out = popen(PROGS_DIR "/../cvisor syscalls --markdown", "r");
	} else {
		out = tmpfile();
		if (out) {
			syscall_table_print(out, true);
			rewind(out);
		}
	}
	ASSERT_TRUE(out != NULL);
	char *got = read_all(out);
	ASSERT_TRUE(got != NULL);
	if (built)
		ASSERT_EQ(pclose(out), 0);
	else
		fclose(out);
	if (strcmp(want, got) != 0)
		HARNESS_FAIL(1, "docs/syscalls.md differs from `cvisor syscalls --markdown` at line %d: "
				"regenerate it with build/cvisor syscalls --markdown >docs/syscalls.md",
			     first_difference(want, got));
	free(want);
	free(got);
}

/* Every named number has a handler or is plainly not implemented; formats, flags and notes make sense. */
TEST(systable_entries_well_formed)
{
	unsigned handlers = 0;
	for (uint64_t nr = 0; nr < SYSCALL_TABLE_SIZE + 8; nr++) {
		const struct syscall_def *d = syscall_def(nr);
		if (!d)
			continue;
		ASSERT_LT(nr, SYSCALL_TABLE_SIZE);
		if (!d->name[0])
			HARNESS_FAIL(0, "syscall %llu: empty name", (unsigned long long)nr);
		for (uint64_t other = 0; other < nr; other++)
			if (syscall_def(other) && strcmp(syscall_def(other)->name, d->name) == 0)
				HARNESS_FAIL(0, "%s: numbers %llu and %llu", d->name, (unsigned long long)other,
					     (unsigned long long)nr);
		if (d->flags & ~(unsigned)KNOWN_FLAGS)
			HARNESS_FAIL(0, "%s: unknown flags %#x", d->name, d->flags);
		if (!d->fn && (d->flags || d->args || d->note))
			HARNESS_FAIL(0, "%s: no handler, yet flags, trace formats or a note", d->name);
		if ((d->flags & (SC_PARTIAL | SC_REFUSED)) && !d->note)
			HARNESS_FAIL(0, "%s: partial or refused without a note saying how", d->name);
		if ((d->flags & SC_PARTIAL) && (d->flags & SC_REFUSED))
			HARNESS_FAIL(0, "%s: both partial and refused", d->name);
		if (d->args && (strlen(d->args) > 6 || strspn(d->args, SYSCALL_ARG_FORMATS) != strlen(d->args)))
			HARNESS_FAIL(0, "%s: trace formats \"%s\": at most 6 of \"%s\"", d->name, d->args,
				     SYSCALL_ARG_FORMATS);
		handlers += d->fn != NULL;
	}
	/* The ones the dispatcher treats specially are there, with what it expects of them. */
	static const struct {
		uint64_t nr;
		const char *name;
		unsigned flags;
	} special[] = {
		{ 0, "read", SC_UNLOCKED }, { 15, "rt_sigreturn", 0 }, { 59, "execve", SC_UNLOCKED },
		{ 60, "exit", SC_UNLOCKED | SC_NORETURN }, { 72, "fcntl", 0 },
		{ 231, "exit_group", SC_UNLOCKED | SC_NORETURN }, { 202, "futex", SC_UNLOCKED },
	};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		const struct syscall_def *d = syscall_def(special[i].nr);
		ASSERT_TRUE(d != NULL && d->fn != NULL);
		EXPECT_EQ(strcmp(d->name, special[i].name), 0);
		EXPECT_EQ(d->flags & (SC_UNLOCKED | SC_NORETURN), special[i].flags);
	}
	EXPECT_GT(handlers, 200);
	EXPECT_TRUE(syscall_def(SYSCALL_TABLE_SIZE) == NULL);
	EXPECT_TRUE(syscall_def(UINT64_MAX) == NULL);
}

/* The table's numbers against the kernel headers this machine has (<asm/unistd.h>, through cc). */
TEST(systable_numbers_match_kernel_headers)
{
	FILE *p = popen("echo '#include <asm/unistd.h>' | ${CC:-cc} -E -dM - 2>/dev/null", "r");
	ASSERT_TRUE(p != NULL);
	char line[256], name[128];
	unsigned nr, checked = 0;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "#define __NR_%127s %u", name, &nr) == 2) {
			const struct syscall_def *d = syscall_def(nr);
			if (!d || strcmp(d->name, name) != 0)
				HARNESS_FAIL(0, "%s is %u in the kernel headers, the table says %s", name, nr,
					     d ? d->name : "nothing");
			checked++;
		}
	pclose(p);
	if (!checked)
		SKIP("no compiler to read <asm/unistd.h> with");
	EXPECT_GT(checked, 300);
}
