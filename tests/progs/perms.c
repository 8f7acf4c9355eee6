// SPDX-License-Identifier: Apache-2.0
// Guest program: access checks by the credentials — root makes a tree, then a process that became
// uid 1000 (groups 1000 and 2000) opens, creates, removes, renames, chmods, touches, truncates,
// executes and searches in it; mode bits, owner-before-group-before-other, sticky and setgid
// directories, access(2) with real and effective ids, setfsuid. Every line is compared with native.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char d[64];

static const char *at(const char *name)
{
	static char buf[4][128];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", d, name);
	return buf[i];
}

static void say(const char *what, int r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

static int try_open(const char *name, int flags)
{
	int fd = open(at(name), flags | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	return fd;
}

static void mk(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "#!/bin/sh\nexit 0\n", 17) != 17 || fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		printf("setup %s: %s\n", name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void mkd(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(at(name), 0700) < 0 || chown(at(name), uid, gid) < 0 || chmod(at(name), mode) < 0)
		printf("setup %s: %s\n", name, strerror(errno));
}

static void as_user(void)
{
	gid_t groups[] = { 2000 };
	if (setgroups(1, groups) < 0 || setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
		printf("become 1000: %s\n", strerror(errno));
		return;
	}
	say("read 0600 root", try_open("f600", O_RDONLY));
	say("read 0644 root", try_open("f644", O_RDONLY));
	say("write 0644 root", try_open("f644", O_WRONLY));
	say("trunc 0644 root", try_open("f644", O_RDONLY | O_TRUNC));
	say("rdwr 0666 root", try_open("f666", O_RDWR));
	say("write 0400 mine", try_open("mine400", O_WRONLY));
	say("read 0440 group 2000", try_open("g440", O_RDONLY));
	say("read 0004 mine (owner bits first)", try_open("mine004", O_RDONLY));
	say("read 0404 group 2000 (group bits first)", try_open("g404", O_RDONLY));
	say("open dir 0700 root", try_open("d700", O_RDONLY | O_DIRECTORY));
	say("access R 0600", access(at("f600"), R_OK));
	say("access R 0644", access(at("f644"), R_OK));
	say("access W 0644", access(at("f644"), W_OK));
	say("access X 0700", access(at("x700"), X_OK));
	say("access F 0600", access(at("f600"), F_OK));
	struct stat st;
	say("stat in 0700 root dir", stat(at("d700/inner"), &st));
	say("chdir 0700 root dir", chdir(at("d700")));
	say("chdir 0711 root dir", chdir(at("d711")));
	say("stat in 0711 after chdir", stat("inner", &st));
	say("readdir 0711 (no read)", try_open("d711", O_RDONLY | O_DIRECTORY));
	say("create in 0555", try_open("d555/new", O_CREAT | O_WRONLY));
	say("mkdir in 0555", mkdir(at("d555/m"), 0755));
	say("unlink in 0555", unlink(at("d555/inner")));
	say("symlink in 0555", symlink("x", at("d555/l")));
	say("rename out of 0555", rename(at("d555/inner"), at("sticky/stolen")));
	say("unlink root's in sticky", unlink(at("sticky/rootfile")));
	say("rename root's in sticky", rename(at("sticky/rootfile"), at("sticky/x")));
	say("create in sticky", try_open("sticky/mine", O_CREAT | O_WRONLY));
	if (stat(at("sticky/mine"), &st) == 0)
		printf("mine: uid %u gid %u mode %o\n", st.st_uid, st.st_gid, st.st_mode & 07777);
	say("rename mine in sticky", rename(at("sticky/mine"), at("sticky/mine2")));
	say("unlink mine in sticky", unlink(at("sticky/mine2")));
	say("mkdir in setgid 3000", mkdir(at("sgid/sub"), 0755));
	if (stat(at("sgid/sub"), &st) == 0)
		printf("sub: uid %u gid %u setgid %d\n", st.st_uid, st.st_gid, (st.st_mode & S_ISGID) != 0);
	say("create in setgid 3000", try_open("sgid/f", O_CREAT | O_WRONLY));
	if (stat(at("sgid/f"), &st) == 0)
		printf("sgid/f: uid %u gid %u\n", st.st_uid, st.st_gid);
	say("chmod g+s, group not mine", chmod(at("sgid/f"), 02644));
	if (stat(at("sgid/f"), &st) == 0)
		printf("sgid/f mode %o\n", st.st_mode & 07777);
	say("chmod root's", chmod(at("f666"), 0600));
	say("chmod mine", chmod(at("mine400"), 0600));
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	say("utimes given, root's 0666", utimensat(AT_FDCWD, at("f666"), ts, 0));
	say("utimes now, root's 0666", utimensat(AT_FDCWD, at("f666"), NULL, 0));
	say("utimes now, root's 0644", utimensat(AT_FDCWD, at("f644"), NULL, 0));
	say("utimes given, mine", utimensat(AT_FDCWD, at("mine400"), ts, 0));
	say("truncate root's 0644", truncate(at("f644"), 0));
	say("truncate root's 0666", truncate(at("f666"), 0));
	char *const argv[] = { "x", NULL };
	say("exec root's 0700", execv(at("x700"), argv));
	int fd = open(at("f666"), O_RDONLY);
	say("fchmod root's", fd < 0 ? -1 : fchmod(fd, 0600));
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0) {
		printf("not root: nothing to compare\n");
		return 0;
	}
	umask(022);
	snprintf(d, sizeof(d), "/tmp/cvisor-perms-XXXXXX");
	if (!mkdtemp(d) || chmod(d, 0755) < 0)
		return 1;
	mk("f600", 0600, 0, 0);
	mk("f644", 0644, 0, 0);
	mk("f666", 0666, 0, 0);
	mk("x700", 0700, 0, 0);
	mk("mine400", 0400, 1000, 1000);
	mk("mine004", 0004, 1000, 1000);
	mk("g440", 0440, 0, 2000);
	mk("g404", 0404, 0, 2000);
	mkd("d700", 0700, 0, 0);
	mk("d700/inner", 0644, 0, 0);
	mkd("d711", 0711, 0, 0);
	mk("d711/inner", 0644, 0, 0);
	mkd("d555", 0755, 0, 0);
	mk("d555/inner", 0644, 0, 0);
	chmod(at("d555"), 0555);
	mkd("sticky", 01777, 0, 0);
	mk("sticky/rootfile", 0666, 0, 0);
	mkd("sgid", 02777, 0, 3000);
	pid_t c = fork();
	if (c == 0) {
		as_user();
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	/* Real uid 1000, effective 0: access asks as the real one, AT_EACCESS as the effective. */
	c = fork();
	if (c == 0) {
		if (setresuid(1000, 0, 0) < 0)
			printf("setresuid: %s\n", strerror(errno));
		say("access R 0600, real 1000", access(at("f600"), R_OK));
		say("faccessat R 0600 AT_EACCESS", faccessat(AT_FDCWD, at("f600"), R_OK, AT_EACCESS));
		say("open 0600, effective 0", try_open("f600", O_RDONLY));
		setfsuid(1000);
		say("open 0600, fsuid 1000", try_open("f600", O_RDONLY));
		say("open 0644, fsuid 1000", try_open("f644", O_RDONLY));
		_exit(0);
	}
	waitpid(c, &st, 0);
	/* Root again: every mode bit is overridden, but execution needs some x bit. */
	say("root reads 0600", try_open("f600", O_RDONLY));
	say("root writes 0400", try_open("mine400", O_WRONLY));
	say("root opens dir 0700", try_open("d700", O_RDONLY | O_DIRECTORY));
	/* A directory without search bits is still opened for reading (shutil.copytree of a 0600 one):
	 * opening it is no lookup in it. */
	mkd("d600", 0755, 0, 0);
	chmod(at("d600"), 0600);
	say("root opens dir 0600", try_open("d600", O_RDONLY | O_DIRECTORY));
	chmod(at("d600"), 0755);
	chmod(at("f644"), 0644);
	char *const argv[] = { "x", NULL };
	c = fork();
	if (c == 0) {
		execv(at("f644"), argv);
		say("root execs 0644", -1);
		_exit(0);
	}
	waitpid(c, &st, 0);
	chmod(at("d555"), 0755);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	return system(cmd) == 0 ? 0 : 1;
}
