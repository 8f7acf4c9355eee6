// SPDX-License-Identifier: Apache-2.0
// Guest program: lookups through symlinks while the links change (the sentry remembers the links a walk
// followed, sentry/fs/linkcache.c). A link retargeted, replaced by rename, by a directory or by another
// link; a directory holding a link renamed; chains, absolute and ".." targets, a link as the last
// component; and a thread swapping a link while another looks up through it, which must always find
// one of the two targets. And readlink of names that are not links (remembered too: notlink_known),
// each turned into a link by unlink, rmdir or rename, from absolute and cwd-relative paths, and
// through a link. Prints results only; the test compares the output with a native run.
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
	static char buf[8][256];
	static int k;
	k = (k + 1) % 8;
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

/* What opening @path (absolute, or relative to the cwd) gives: its first bytes, or the errno. */
static void look(const char *what, const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	struct stat st;
	int l = lstat(path, &st);
	printf("%-36s open %-8s lstat %s\n", what, fd >= 0 ? buf : strerror(errno),
	       l < 0 ? strerror(errno) : S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir" : "file");
}

/* What readlink(@path) gives: the target or the errno. */
static void rl(const char *what, const char *path)
{
	char buf[128];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("%-36s readlink %s\n", what, n >= 0 ? buf : strerror(errno));
}

/* Names that are not links, asked twice (the second answer may be remembered), then made links. */
static void readlinks(void)
{
	mkdir(p("r"), 0755);
	mk("r/f", "file");
	mkdir(p("r/d"), 0755);
	mkdir(p("r/m"), 0755);
	for (int i = 0; i < 2; i++) {
		rl("a file", p("r/f"));
		rl("a directory", p("r/d"));
		rl("a directory, trailing slash", p("r/d/"));
		rl("missing", p("r/none"));
		rl("/usr", "/usr");
	}
	unlink(p("r/f"));
	symlink("to-f", p("r/f"));
	rl("the file, now a link (unlink)", p("r/f"));
	rmdir(p("r/d"));
	symlink("to-d", p("r/d"));
	rl("the directory, now a link (rmdir)", p("r/d"));
	symlink("to-m", p("r/m.new"));
	rl("r/m", p("r/m"));
	rmdir(p("r/m"));
	rename(p("r/m.new"), p("r/m"));
	rl("r/m, now a link (rename)", p("r/m"));
	mk("r/g", "g");
	if (chdir(p("r")) == 0) {
		rl("g from the cwd", "g");
		rl("g from the cwd, again", "./g");
		unlink("g");
		symlink("to-g", "g");
		rl("g from the cwd, now a link", "g");
		if (chdir("/") < 0)
			perror("chdir");
	}
	mkdir(p("r/real"), 0755);
	mk("r/real/h", "h");
	symlink("real", p("r/via"));
	rl("through a link", p("r/via/h"));
	rl("through a link, again", p("r/via/h"));
	rl("the same by its own path", p("r/real/h"));
	unlink(p("r/real/h"));
	symlink("to-h", p("r/real/h"));
	rl("through a link, now a link", p("r/via/h"));
}

static volatile int stop;

/* Swap link "s" between d1 and d2 atomically (a new link renamed over it). */
static void *swapper(void *arg)
{
	(void)arg;
	char tmp[128], s[128]; /* (p()'s buffers are the main thread's) */
	snprintf(tmp, sizeof(tmp), "%s/s.new", base);
	snprintf(s, sizeof(s), "%s/s", base);
	for (int i = 0; !stop; i++) {
		unlink(tmp);
		if (symlink(i % 2 ? "d1" : "d2", tmp) < 0 || rename(tmp, s) < 0)
			break;
	}
	return NULL;
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/cvt-links-%d", getpid());
	mkdir(base, 0755);
	mkdir(p("d1"), 0755);
	mkdir(p("d2"), 0755);
	mk("d1/f", "one");
	mk("d2/f", "two");

	symlink("d1", p("L"));
	look("through L", p("L/f"));
	look("through L again", p("L/f"));
	unlink(p("L"));
	symlink("d2", p("L"));
	look("L retargeted", p("L/f"));
	symlink("d1", p("M"));
	rename(p("M"), p("L"));
	look("L replaced by rename", p("L/f"));
	unlink(p("L"));
	mkdir(p("L"), 0755);
	mk("L/f", "dir");
	look("L now a directory", p("L/f"));
	rmdir(p("L")); /* not empty: stays */
	unlink(p("L/f"));
	rmdir(p("L"));
	look("L gone", p("L/f"));
	symlink("d2", p("L"));
	look("L a link again", p("L/f"));

	readlinks();

	/* A directory holding a link (relative target with ".."), renamed. */
	mkdir(p("x"), 0755);
	symlink("../d1", p("x/l"));
	look("x/l (../d1)", p("x/l/f"));
	rename(p("x"), p("y"));
	look("x/l after x moved", p("x/l/f"));
	look("y/l", p("y/l/f"));
	mkdir(p("x"), 0755);
	symlink("../d2", p("x/l"));
	look("new x/l", p("x/l/f"));

	/* A target with ".." after a name that is itself a link (CPython's test_tarfile
	 * test_parent_symlink): z/up -> current/.., current -> ".", so z/up is the directory above z
	 * (base, where d1 is), not z itself as a textual ".." would make it. */
	mkdir(p("z"), 0755);
	symlink(".", p("z/current"));
	symlink("current/..", p("z/up"));
	rl("z/up", p("z/up"));
	look("z/up/d1/f (current/..)", p("z/up/d1/f"));
	look("z/up/d1/f again", p("z/up/d1/f"));

	/* Chains, and a link in the middle replaced by a directory. */
	symlink("b", p("a"));
	symlink("d2", p("b"));
	look("a -> b -> d2", p("a/f"));
	unlink(p("b"));
	mkdir(p("b"), 0755);
	mk("b/f", "bee");
	look("b now a directory", p("a/f"));

	/* Absolute targets, the last component, "..", relative to the cwd. */
	char abs[128];
	snprintf(abs, sizeof(abs), "%s/d1", base);
	symlink(abs, p("A"));
	look("absolute A", p("A/f"));
	symlink("d1/f", p("F"));
	look("F -> d1/f", p("F"));
	unlink(p("F"));
	symlink("d2/f", p("F"));
	look("F -> d2/f", p("F"));
	look("L/../d1/f", p("L/../d1/f"));
	look("L/./f", p("L/./f"));
	look("L/f/", p("L/f/"));
	look("L/", p("L/"));
	if (chdir(base) == 0) {
		look("relative L/f", "L/f");
		unlink("L");
		symlink("d1", "L");
		look("relative L/f retargeted", "L/f");
		look("relative A/f", "A/f");
		if (chdir("/") < 0)
			perror("chdir");
	}
	/* A loop: ELOOP both ways. */
	symlink("loop2", p("loop1"));
	symlink("loop1", p("loop2"));
	look("loop", p("loop1/f"));
	look("loop again", p("loop1/f"));

	/* Threads: one swaps link s between d1 and d2, another opens s/f: always one of the two. */
	symlink("d1", p("s"));
	pthread_t th;
	pthread_create(&th, NULL, swapper, NULL);
	int bad = 0;
	const char *sf = p("s/f");
	for (int i = 0; i < 2000; i++) {
		char buf[8] = "";
		int fd = open(sf, O_RDONLY);
		if (fd < 0 || read(fd, buf, 3) != 3 || (memcmp(buf, "one", 3) != 0 && memcmp(buf, "two", 3) != 0))
			bad++;
		if (fd >= 0)
			close(fd);
	}
	stop = 1;
	pthread_join(th, NULL);
	printf("lookups through a link being swapped: %d failed\n", bad);
	unlink(p("s.new"));
	symlink("d2", p("s.new"));
	rename(p("s.new"), p("s"));
	look("s after the swaps", p("s/f"));

	/* The system's own links (merged /usr): the same objects either way. */
	struct stat a, b;
	printf("/bin/sh is /usr/bin/sh: %d\n", stat("/bin/sh", &a) == 0 && stat("/usr/bin/sh", &b) == 0 &&
						     a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	printf("/bin/sh twice: %d\n", stat("/bin/sh", &b) == 0 && a.st_ino == b.st_ino);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	return system(cmd) == 0 ? 0 : 1;
}
