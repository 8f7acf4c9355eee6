// SPDX-License-Identifier: Apache-2.0
// Guest program: lookups relative to directory fds while the directories move (the sentry remembers a
// directory's sandbox path by inode, sentry/fs/spcache.c). An fd follows its directory through renames
// of it and of its parents, a removed directory's fd finds nothing even when a new one takes its name,
// an exchange swaps what two fds see, and threads renaming while others look up never see a name in
// the wrong place. Prints results only; the test compares the output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];

static const char *p(const char *rel)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, rel);
	return buf[k];
}

static void mk(const char *rel, const char *content)
{
	int fd = open(p(rel), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, content, strlen(content)) < 0)
			perror("write");
		close(fd);
	}
}

/* What a lookup of @name relative to @dfd gives: the file's first bytes, or the errno. */
static void look(const char *what, int dfd, const char *name)
{
	struct stat st;
	char buf[32] = "";
	int r = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW);
	int fd = openat(dfd, name, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	printf("%-34s stat %s open %s\n", what, r == 0 ? "ok" : strerror(errno), fd >= 0 ? buf : strerror(errno));
}

static volatile int stop;

static void *renamer(void *arg)
{
	(void)arg;
	for (int i = 0; !stop; i++)
		if (rename(p(i % 2 ? "r2" : "r1"), p(i % 2 ? "r1" : "r2")) < 0)
			break;
	return NULL;
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/cvt-dirfds-%d", getpid());
	mkdir(base, 0755);
	mkdir(p("a"), 0755);
	mkdir(p("a/b"), 0755);
	mk("a/b/f", "in-b");
	int b = open(p("a/b"), O_RDONLY | O_DIRECTORY);
	look("before", b, "f");
	rename(p("a/b"), p("a/c"));
	look("dir renamed", b, "f");
	rename(p("a"), p("z"));
	look("parent renamed", b, "f");
	mkdir(p("a"), 0755);
	mkdir(p("a/b"), 0755);
	mk("a/b/f", "new-b");
	look("old name reused", b, "f");
	int nb = open(p("a/b"), O_RDONLY | O_DIRECTORY);
	look("new dir", nb, "f");

	/* Removed and made again under the same name: the old fd finds nothing. */
	unlink(p("z/c/f"));
	rmdir(p("z/c"));
	mkdir(p("z/c"), 0755);
	mk("z/c/f", "again");
	look("removed dir", b, "f");

	/* An exchange swaps what two fds name. */
	mkdir(p("x"), 0755);
	mkdir(p("y"), 0755);
	mk("x/f", "in-x");
	mk("y/f", "in-y");
	int x = open(p("x"), O_RDONLY | O_DIRECTORY), y = open(p("y"), O_RDONLY | O_DIRECTORY);
	look("x", x, "f");
	renameat2(AT_FDCWD, p("x"), AT_FDCWD, p("y"), RENAME_EXCHANGE);
	look("x after exchange", x, "f");
	look("y after exchange", y, "f");
	look("by name y after exchange", AT_FDCWD, p("y/f"));

	/* A file renamed over a directory's entry, then the directory replaced by rename. */
	mkdir(p("d1"), 0755);
	mkdir(p("d2"), 0755);
	mk("d1/f", "in-d1");
	int d1 = open(p("d1"), O_RDONLY | O_DIRECTORY), d2 = open(p("d2"), O_RDONLY | O_DIRECTORY);
	rename(p("d1"), p("d2")); /* d2 (empty) replaced: its fd names a removed directory */
	look("replaced dir", d2, "f");
	look("moved over it", d1, "f");

	/* Threads: one renames a directory back and forth, another looks up through an fd of it. */
	mkdir(p("r1"), 0755);
	mk("r1/f", "race");
	int r = open(p("r1"), O_RDONLY | O_DIRECTORY);
	pthread_t th;
	pthread_create(&th, NULL, renamer, NULL);
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		char buf[8] = "";
		int fd = openat(r, "f", O_RDONLY);
		if (fd < 0 || read(fd, buf, 4) != 4 || memcmp(buf, "race", 4) != 0)
			bad++;
		if (fd >= 0)
			close(fd);
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("lookups through a directory being renamed: %d failed\n", bad);

	/* A closed directory fd's number reused for another directory: lookups are the new one's. */
	for (int i = 0; i < 3; i++) {
		int root = open("/", O_RDONLY | O_DIRECTORY);
		struct stat st;
		int a = fstatat(root, "proc", &st, AT_SYMLINK_NOFOLLOW), b = fstatat(root, "tmp", &st, 0);
		close(root);
		int etc = open("/etc", O_RDONLY | O_DIRECTORY);
		int c = fstatat(etc, "proc", &st, AT_SYMLINK_NOFOLLOW), d = fstatat(etc, "tmp", &st, 0);
		int e = fstatat(etc, "hostname", &st, 0);
		printf("fd %s reused: / has proc %d tmp %d, /etc has proc %d tmp %d hostname %d\n",
		       root == etc ? "number" : "not", a, b, c, d, e);
		close(etc);
	}

	/* Duplicates of a directory fd (F_DUPFD, dup2) look up in it after the original closes and its
	 * number goes to another directory; a dup2 over a duplicate makes it the other's. */
	{
		struct stat st;
		int bin = open("/usr/bin", O_RDONLY | O_DIRECTORY);
		int d = fcntl(bin, F_DUPFD_CLOEXEC, 40), e = dup2(bin, 50);
		close(bin);
		int lib = open("/usr/lib", O_RDONLY | O_DIRECTORY);
		printf("dups: number %s, via F_DUPFD env %d, via dup2 env %d, via the new fd env %d os-release %d\n",
		       lib == bin ? "reused" : "not reused", fstatat(d, "env", &st, 0), fstatat(e, "env", &st, 0),
		       fstatat(lib, "env", &st, 0), fstatat(lib, "os-release", &st, AT_SYMLINK_NOFOLLOW));
		dup2(lib, d);
		printf("dup2 over a duplicate: env %d os-release %d\n", fstatat(d, "env", &st, 0),
		       fstatat(d, "os-release", &st, AT_SYMLINK_NOFOLLOW));
		close(d);
		close(e);
		close(lib);
	}

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	return system(cmd) == 0 ? 0 : 1;
}
