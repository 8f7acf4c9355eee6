// SPDX-License-Identifier: Apache-2.0
// Opens of files the sandbox sees read-only, and path strings passed from file mappings: the shortcuts
// the sentry takes for both (a stat and an open by name, walk.c; strings remembered, strcache.c) must
// give what Linux gives. Run natively and sandboxed on a directory DIR the test prepared:
//   f ("hello\n"), d/g ("inner\n"), l -> d, abs -> DIR/d, lf -> f, dangling -> nowhere, fifo (FIFO),
//   names (a page with "f" at 0 and "d/g" at 16), names2 ("d/g" at 0), and with a second argument TMP,
//   tl -> TMP: a link out of the read-only place into /tmp, which the program fills (TMP/f, TMP/sub/).
// Prints one line per check; the test compares the two outputs.
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int dirfd_;

/* openat(dirfd, @name, @flags): the first line of the file, or the errno's name. */
static void show_open(const char *what, const char *name, int flags)
{
	int fd = openat(dirfd_, name, flags | O_CLOEXEC);
	if (fd < 0) {
		printf("%s: %s\n", what, strerrorname_np(errno));
		return;
	}
	struct stat st;
	char buf[64] = "";
	if (fstat(fd, &st) < 0) {
		printf("%s: fstat %s\n", what, strerrorname_np(errno));
	} else if (S_ISDIR(st.st_mode)) {
		printf("%s: a directory\n", what);
	} else if (S_ISFIFO(st.st_mode)) {
		printf("%s: a fifo\n", what);
	} else if (S_ISLNK(st.st_mode)) {
		printf("%s: a link\n", what);
	} else {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		printf("%s: size %lld, %s", what, (long long)st.st_size, buf);
	}
	close(fd);
}

static void opens(const char *dir, const char *tmp)
{
	static const struct {
		const char *what, *name;
		int flags;
	} cases[] = {
		{ "f", "f", O_RDONLY },
		{ "d/g", "d/g", O_RDONLY },
		{ "./d/./g", "./d/./g", O_RDONLY },
		{ "d/../f", "d/../f", O_RDONLY },
		{ "through a link", "l/g", O_RDONLY },
		{ "through an absolute link", "abs/g", O_RDONLY },
		{ "last link", "lf", O_RDONLY },
		{ "last link, nofollow", "lf", O_RDONLY | O_NOFOLLOW },
		{ "last link, O_PATH nofollow", "lf", O_PATH | O_NOFOLLOW },
		{ "dangling", "dangling", O_RDONLY },
		{ "dir", "d", O_RDONLY },
		{ "dir, O_DIRECTORY", "d", O_RDONLY | O_DIRECTORY },
		{ "dir link, O_DIRECTORY", "l", O_RDONLY | O_DIRECTORY },
		{ "file, O_DIRECTORY", "f", O_RDONLY | O_DIRECTORY },
		{ "file/", "f/", O_RDONLY },
		{ "file/x", "f/x", O_RDONLY },
		{ "missing", "nothing", O_RDONLY },
		{ "missing/x", "nothing/x", O_RDONLY },
		{ "dir for writing", "d", O_WRONLY },
		{ "file, O_CREAT", "f", O_RDONLY | O_CREAT },
		{ "file, O_CREAT|O_EXCL", "f", O_RDONLY | O_CREAT | O_EXCL },
		{ "fifo, nonblocking", "fifo", O_RDONLY | O_NONBLOCK },
		{ "fifo, O_DIRECTORY", "fifo", O_RDONLY | O_NONBLOCK | O_DIRECTORY },
		{ "fifo/", "fifo/", O_RDONLY | O_NONBLOCK },
		{ "missing in a link", "l/nothing", O_RDONLY },
	};
	char abs_g[4096];
	snprintf(abs_g, sizeof(abs_g), "%s/d/g", dir);
	show_open("abs path", abs_g, O_RDONLY);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		show_open(cases[i].what, cases[i].name, cases[i].flags);
	int fd;
	if (tmp) { /* the host's stat of tl/... follows the link; the answer must be the walk's */
		char p[256];
		snprintf(p, sizeof(p), "%s/sub", tmp);
		mkdir(tmp, 0755);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/f", tmp);
		close(open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
		static const struct {
			const char *what, *name;
			int flags;
		} out[] = {
			{ "write through a link to /tmp", "tl/f", O_WRONLY },
			{ "O_DIRECTORY through a link to /tmp", "tl/f", O_RDONLY | O_DIRECTORY },
			{ "directory through a link to /tmp", "tl/sub", O_RDONLY | O_DIRECTORY },
			{ "directory for writing through a link", "tl/sub", O_WRONLY },
		};
		for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
			show_open(out[i].what, out[i].name, out[i].flags);
		unlink(p);
		snprintf(p, sizeof(p), "%s/sub", tmp);
		rmdir(p);
		rmdir(tmp);
	}
	fd = openat(dirfd_, "f", O_RDONLY | O_NONBLOCK);
	printf("O_NONBLOCK kept: %d\n", fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	close(fd);
	fd = openat(dirfd_, "f", O_RDONLY);
	printf("O_NONBLOCK absent: %d\n", fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK));
	close(fd);
	fd = openat(dirfd_, "d", O_RDONLY | O_DIRECTORY);
	printf("O_NONBLOCK absent on a directory: %d\n", fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK));
	close(fd);
	fd = openat(dirfd_, "fifo", O_RDONLY | O_NONBLOCK);
	printf("O_NONBLOCK kept on a fifo: %d\n", fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	close(fd);
}

/* The fstat after an open may take the stat the open's walk saw (fs.c fd_seed_*): it must be that
 * file's, not the one the number named before, nor another's. */
static void fstat_after_open(void)
{
	struct stat a, b, c;
	int f = openat(dirfd_, "f", O_RDONLY | O_CLOEXEC);
	close(f); /* opened, not looked at: the number goes to another file */
	int g = openat(dirfd_, "d/g", O_RDONLY | O_CLOEXEC);
	bool ok = fstat(g, &a) == 0 && fstatat(dirfd_, "d/g", &b, 0) == 0;
	printf("fstat after the number is reused: %s\n",
	       g == f && ok && a.st_ino == b.st_ino && a.st_size == b.st_size && a.st_mode == b.st_mode ? "that file" : "WRONG");
	printf("fstat again: %s\n", fstat(g, &c) == 0 && c.st_ino == a.st_ino && c.st_size == a.st_size ? "same" : "WRONG");
	int d = dup(g);
	printf("fstat of a dup: %s\n", fstat(d, &c) == 0 && c.st_ino == a.st_ino ? "same" : "WRONG");
	close(d);
	close(g);
	int dd = openat(dirfd_, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok = fstat(dd, &a) == 0 && fstatat(dirfd_, "d", &b, 0) == 0;
	printf("fstat of an opened directory: %s, %s\n", ok && S_ISDIR(a.st_mode) ? "a directory" : "WRONG",
	       ok && a.st_ino == b.st_ino && a.st_nlink == b.st_nlink && a.st_mtime == b.st_mtime ? "as stat says" : "WRONG");
	int x = openat(dd, "g", O_RDONLY | O_CLOEXEC);
	ok = fstatat(x, "", &a, AT_EMPTY_PATH) == 0 && fstatat(dd, "g", &b, 0) == 0;
	printf("fstatat(fd, \"\", AT_EMPTY_PATH) after an open from a dirfd: %s\n",
	       ok && a.st_ino == b.st_ino && a.st_size == b.st_size ? "that file" : "WRONG");
	close(x);
	close(dd);
}

/* openat(dirfd, @p) where @p points into a file mapping. */
static void open_at(const char *what, const char *p)
{
	int fd = openat(dirfd_, p, O_RDONLY | O_CLOEXEC);
	char buf[64] = "";
	if (fd < 0) {
		printf("%s: %s\n", what, strerrorname_np(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("%s: %s", what, buf);
	close(fd);
}

static void strings(const char *dir)
{
	int nf = openat(dirfd_, "names", O_RDONLY), nf2 = openat(dirfd_, "names2", O_RDONLY);
	char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, nf, 0);
	if (p == MAP_FAILED || nf2 < 0) {
		printf("map: %s\n", strerror(errno));
		return;
	}
	for (int i = 0; i < 3; i++)
		open_at("mapped name", p);
	open_at("mapped name +16", p + 16);
	open_at("mapped name again", p);
	/* Another file mapped at the same address: its name now. */
	if (mmap(p, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, nf2, 0) != p)
		printf("remap: %s\n", strerror(errno));
	open_at("remapped name", p);
	open_at("remapped name again", p);
	if (mmap(p, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, nf, 0) != p)
		printf("remap: %s\n", strerror(errno));
	open_at("first file again", p);
	/* Its access taken away, then written (a private copy). */
	mprotect(p, 4096, PROT_NONE);
	open_at("no access", p);
	mprotect(p, 4096, PROT_READ | PROT_WRITE);
	open_at("readable again", p);
	strcpy(p, "lf");
	open_at("written", p);
	munmap(p, 4096);
	open_at("unmapped", p);
	/* A file the program can write, mapped privately: a write to the file shows in the mapping. */
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "/tmp/cvt-rofiles-%d", getpid());
	int wf = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char page[4096] = { 0 };
	snprintf(page, sizeof(page), "%s/f", dir);
	if (wf < 0 || write(wf, page, sizeof(page)) != (ssize_t)sizeof(page)) {
		printf("tmp: %s\n", strerror(errno));
		return;
	}
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wf, 0);
	open_at("writable file's name", p);
	open_at("writable file's name again", p);
	snprintf(page, sizeof(page), "%s/d/g", dir);
	pwrite(wf, page, strlen(page) + 1, 0);
	open_at("after a write to the file", p);
	munmap(p, 4096);
	close(wf);
	unlink(tmp);
	/* fstat's empty name (libc's) over and over, and one of the program's own. */
	struct stat st;
	int n = 0;
	for (int i = 0; i < 100; i++)
		n += fstat(nf, &st) == 0 && st.st_size == 4096;
	printf("fstat x100: %d\n", n);
	printf("fstatat empty name: %d\n", fstatat(nf2, "", &st, AT_EMPTY_PATH) == 0 && st.st_size == 4096);
	close(nf);
	close(nf2);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || (dirfd_ = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0 || chdir(argv[1]) < 0) {
		fprintf(stderr, "usage: rofiles DIR [TMP]\n");
		return 2;
	}
	opens(argv[1], argc == 3 ? argv[2] : NULL);
	fstat_after_open();
	strings(argv[1]);
	return 0;
}
