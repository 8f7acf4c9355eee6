// SPDX-License-Identifier: Apache-2.0
// Path resolution under the sentry, with tests/progs/pathescape (every path syscall through every way a
// name can point elsewhere):
//  - escape: from each writable place (the private /tmp and /dev/shm, a --rw directory, and both again
//    under --root), the pointers lead to a host victim outside them; afterwards the victim must be
//    exactly as it was (mode, owner, size, link count, mtime, ctime, content, xattrs) and nothing new
//    may exist beside it, nor anywhere the program's names could land on the host.
//  - inside: the same pointers lead inside the writable place, and Linux's path-walk rules case by case:
//    the output (results and the state after each op) must be the same as natively.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "harness.h"
#include "sandbox_run.h"

#define PATHESCAPE PROGS_DIR "/pathescape"
#define NAME_PREFIX "cvpe"      /* every name the program makes outside its fixed set starts so */
#define VICTIM_TEXT "victim content\n"
#define VICTIM_SCRIPT_FMT "#!/bin/sh\n{ echo pwned > %s/cvpe-marker; } 2>/dev/null\nexit 3\n"
#define VICTIM_ATIME 2000000000 /* atime > mtime: relatime reads leave both alone */
#define VICTIM_MTIME 1500000000
#define MAX_LISTED 40           /* mismatching lines shown in a failure */

/* ---- Host files: everything below one directory, removed at the end whatever happens ---- */

static char base[64]; /* /var/tmp/cvisor-paths-PID */
static pid_t base_owner; /* the test's process: never a child that inherited the atexit handler */

/* rm -rf @path: fork and exec only, so that the timeout's signal handler may use it too. */
static void rm_tree(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/rm", "rm", "-rf", "--", path, (char *)NULL);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void remove_base(void)
{
	if (base[0] && getpid() == base_owner)
		rm_tree(base);
}

/* The timeout (SIGALRM) ends the test: remove the host files first, then die of it as the harness
 * expects. */
static void on_timeout(int sig)
{
	remove_base();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void make_base(void)
{
	if (access(PATHESCAPE, X_OK) != 0)
		SKIP("%s not built", PATHESCAPE);
	base_owner = getpid();
	snprintf(base, sizeof(base), "/var/tmp/cvisor-paths-%d", (int)base_owner);
	rm_tree(base);
	ASSERT_OK(mkdir(base, 0755) == 0 ? 0 : -errno);
	atexit(remove_base); /* ASSERT_* exit(); the harness _exit()s after the test: each ends with remove_base() */
	signal(SIGALRM, on_timeout);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ASSERT_OK(fchmod(fd, mode) == 0 ? 0 : -errno);
	close(fd);
}

/* mkdir -p @path with @mode. */
static void make_dirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	ASSERT_LT(strlen(path), sizeof(p));
	memcpy(p, path, strlen(path) + 1);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != 0)
			continue;
		char c = *s;
		*s = 0;
		ASSERT_OK(mkdir(p, mode) == 0 || errno == EEXIST ? 0 : -errno);
		if (!(*s = c))
			break;
	}
}

/* ---- The victim and what is recorded of it ---- */

struct victim {
	char dir[128];         /* base/victim */
	char file[160];        /* dir/victim: 0640, known content, a user.cvisor xattr, fixed times */
	char script[160];      /* dir/vscript: a #!/bin/sh script that would leave dir/cvpe-marker */
	char sub[160];         /* dir/vdir: empty */
};

enum { OBJ_FILE, OBJ_SCRIPT, OBJ_DIR, OBJ_SUB, OBJ_BASE, N_OBJ };

struct fstate {
	int err;               /* lstat's */
	struct stat st;
	char data[4096];       /* content of a file; the sorted names in a directory, '/'-separated */
	ssize_t len;
	char xlist[1024];      /* llistxattr */
	ssize_t xlen;
	char xval[256];        /* user.cvisor */
	ssize_t vlen;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in host directory @dir, sorted, '/'-separated into @buf (those starting with @prefix if not
 * NULL); their count. */
static int names_in(const char *dir, const char *prefix, char *buf, size_t cap)
{
	char *names[256];
	int n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d)) && n < 256;)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    (!prefix || strncmp(e->d_name, prefix, strlen(prefix)) == 0))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s/", names[i]);
		free(names[i]);
	}
	return n;
}

static void record(const char *path, struct fstate *s)
{
	memset(s, 0, sizeof(*s));
	if (lstat(path, &s->st) < 0) {
		s->err = errno;
		return;
	}
	if (S_ISDIR(s->st.st_mode)) {
		names_in(path, NULL, s->data, sizeof(s->data));
		s->len = (ssize_t)strlen(s->data);
	} else if (S_ISREG(s->st.st_mode)) {
		int fd = open(path, O_RDONLY | O_NOATIME | O_CLOEXEC);
		s->len = fd < 0 ? -errno : read(fd, s->data, sizeof(s->data));
		if (fd >= 0)
			close(fd);
	}
	s->xlen = llistxattr(path, s->xlist, sizeof(s->xlist));
	s->vlen = lgetxattr(path, "user.cvisor", s->xval, sizeof(s->xval));
}

/* @len bytes of @s, newlines escaped, cut to fit @cap. */
static const char *printable(const char *s, ssize_t len, char *out, size_t cap)
{
	size_t n = 0;
	for (ssize_t i = 0; i < len && n + 6 < cap; i++) {
		if (s[i] == '\n')
			out[n++] = '\\', out[n++] = 'n';
		else
			out[n++] = s[i];
	}
	if (n + 6 >= cap)
		memcpy(out + n, "...", 3), n += 3;
	out[n] = 0;
	return out;
}

/* Report every difference between the recorded @was and @now of @what; the count. */
static int compare(const char *what, const struct fstate *was, const struct fstate *now)
{
	int bad = 0;
#define FIELD(name, fmt, a, b)                                                                         \
	do {                                                                                           \
		if ((long long)(a) != (long long)(b)) {                                                \
			HARNESS_FAIL(0, "%s: %s changed: " fmt " -> " fmt, what, name, (long long)(a),     \
				     (long long)(b));                                                      \
			bad++;                                                                         \
		}                                                                                      \
	} while (0)
	FIELD("existence (errno)", "%lld", was->err, now->err);
	FIELD("inode", "%lld", was->st.st_ino, now->st.st_ino);
	FIELD("mode", "%#llo", was->st.st_mode, now->st.st_mode);
	FIELD("uid", "%lld", was->st.st_uid, now->st.st_uid);
	FIELD("gid", "%lld", was->st.st_gid, now->st.st_gid);
	FIELD("size", "%lld", was->st.st_size, now->st.st_size);
	FIELD("link count", "%lld", was->st.st_nlink, now->st.st_nlink);
	FIELD("mtime", "%lld", was->st.st_mtim.tv_sec, now->st.st_mtim.tv_sec);
	FIELD("mtime ns", "%lld", was->st.st_mtim.tv_nsec, now->st.st_mtim.tv_nsec);
	FIELD("ctime", "%lld", was->st.st_ctim.tv_sec, now->st.st_ctim.tv_sec);
	FIELD("ctime ns", "%lld", was->st.st_ctim.tv_nsec, now->st.st_ctim.tv_nsec);
	FIELD("xattr list length", "%lld", was->xlen, now->xlen);
	FIELD("user.cvisor length", "%lld", was->vlen, now->vlen);
#undef FIELD
	if (was->len != now->len || (was->len > 0 && memcmp(was->data, now->data, (size_t)was->len) != 0)) {
		char a[128], b[128];
		HARNESS_FAIL(0, "%s: %s changed: \"%s\" -> \"%s\"", what, S_ISDIR(was->st.st_mode) ? "entries" : "content",
			     printable(was->data, was->len, a, sizeof(a)), printable(now->data, now->len, b, sizeof(b)));
		bad++;
	}
	if ((was->xlen > 0 && memcmp(was->xlist, now->xlist, (size_t)was->xlen) != 0) ||
	    (was->vlen > 0 && memcmp(was->xval, now->xval, (size_t)was->vlen) != 0)) {
		HARNESS_FAIL(0, "%s: xattrs changed", what);
		bad++;
	}
	return bad;
}

static void make_victim(struct victim *v)
{
	snprintf(v->dir, sizeof(v->dir), "%s/victim", base);
	snprintf(v->file, sizeof(v->file), "%s/victim", v->dir);
	snprintf(v->script, sizeof(v->script), "%s/vscript", v->dir);
	snprintf(v->sub, sizeof(v->sub), "%s/vdir", v->dir);
	rm_tree(v->dir);
	ASSERT_OK(mkdir(v->dir, 0755) == 0 ? 0 : -errno);
	ASSERT_OK(mkdir(v->sub, 0755) == 0 ? 0 : -errno);
	write_file(v->file, VICTIM_TEXT, 0640);
	char script[sizeof(v->dir) + sizeof(VICTIM_SCRIPT_FMT)];
	snprintf(script, sizeof(script), VICTIM_SCRIPT_FMT, v->dir);
	write_file(v->script, script, 0750);
	ASSERT_OK(setxattr(v->file, "user.cvisor", "original", 8, 0) == 0 ? 0 : -errno);
	const struct timespec ts[2] = { { VICTIM_ATIME, 0 }, { VICTIM_MTIME, 0 } };
	const char *const fixed[] = { v->file, v->script, v->sub, v->dir };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ASSERT_OK(utimensat(AT_FDCWD, fixed[i], ts, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno);
}

static void record_all(const struct victim *v, struct fstate s[N_OBJ])
{
	record(v->file, &s[OBJ_FILE]);
	record(v->script, &s[OBJ_SCRIPT]);
	record(v->dir, &s[OBJ_DIR]);
	record(v->sub, &s[OBJ_SUB]);
	record(base, &s[OBJ_BASE]);
}

/* Host directories where a name the program makes could land if a path escaped: its names there. */
static const char *const watched[] = { "/", "/tmp", "/var/tmp", "/dev/shm", "/var" };
#define N_WATCHED (sizeof(watched) / sizeof(watched[0]))

static void record_names(char names[N_WATCHED][4096])
{
	for (size_t i = 0; i < N_WATCHED; i++)
		names_in(watched[i], NAME_PREFIX, names[i], sizeof(names[i]));
}

/* Lines of @o containing @mark, shown (at most MAX_LISTED); their count. */
static int lines_with(const struct outcome *o, const char *mark)
{
	int n = 0;
	for (const char *l = o->out; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (memmem(l, len, mark, strlen(mark)) && n++ < MAX_LISTED)
			fprintf(stderr, "    %.*s\n", (int)len, l);
		l = end ? end + 1 : NULL;
	}
	return n;
}

/*
 * One sandbox run of "pathescape escape" from @place (a path in the sandbox), with --root @root and the
 * --rw directory @rw if not NULL. The victim is made afresh, recorded, and compared afterwards.
 */
static void escape_from(const char *platform, const char *root, const char *rw, const char *place)
{
	struct victim v;
	struct fstate was[N_OBJ], now[N_OBJ];
	static char names_was[N_WATCHED][4096], names_now[N_WATCHED][4096];
	make_victim(&v);
	record_all(&v, was);
	record_names(names_was);

	struct sentry_opts opts = { .platform = platform, .root = root };
	if (rw)
		opts.binds[opts.n_binds++] = (struct sentry_bind){ .path = rw, .rw = true };
	char *const argv[] = { "pathescape", "escape", v.file, v.dir, (char *)place, NULL };
	struct outcome o;
	run_boxed(&opts, root ? "/pathescape" : PATHESCAPE, argv, &o);

	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "from %s%s", place, root ? " under --root" : "");
	/* The program ran to its end (alarm(60) kills it otherwise): every attempt was made. */
	if (o.status != 0 || o.len < 5 || memcmp(o.out + o.len - 5, "done\n", 5) != 0)
		HARNESS_FAIL(0, "%s: the program did not finish (status %#x): ...%.300s", what, o.status,
			     o.out + (o.len > 300 ? o.len - 300 : 0));
	EXPECT_TRUE(memmem(o.out, o.len, "\nrace: done", 11) != NULL);
	/* What the program saw change (the victim as the sandbox shows it; blind under --root). */
	int n = lines_with(&o, " ESCAPED");
	if (n > 0)
		HARNESS_FAIL(0, "%s: the victim changed (as the sandbox sees it) after the %d attempts above", what, n);
	if ((n = lines_with(&o, " MUST-FAIL")) > 0)
		HARNESS_FAIL(0, "%s: the %d operations above must fail in the sandbox", what, n);
	/* What the host says. */
	record_all(&v, now);
	static const char *const obj_names[N_OBJ] = { "victim file", "victim script", "victim directory",
						      "victim directory/vdir", "the victim's parent" };
	int bad = 0;
	for (int i = 0; i < N_OBJ; i++) {
		char w[sizeof(what) + 32];
		snprintf(w, sizeof(w), "%s: %s", what, obj_names[i]);
		bad += compare(w, &was[i], &now[i]);
	}
	record_names(names_now);
	for (size_t i = 0; i < N_WATCHED; i++)
		if (strcmp(names_was[i], names_now[i]) != 0) {
			HARNESS_FAIL(0, "%s: new names in the host's %s: %s (before: %s)", what, watched[i], names_now[i],
				     names_was[i]);
			bad++;
		}
	if (bad)
		fprintf(stderr, "  %s: the host's victim changed (%d differences)\n", what, bad);
	free(o.out);
}

static void make_rw(char *rw, size_t cap)
{
	snprintf(rw, cap, "%s/rw", base);
	ASSERT_OK(mkdir(rw, 0755) == 0 || errno == EEXIST ? 0 : -errno);
}

/* Test 1: nothing escapes the private /tmp, the private /dev/shm (another file system: no hard links
 * across) or a --rw directory (the victim's file system). One writable place per test: each run makes
 * some 5000 attempts and a 2000-round race, several seconds under ptrace. */
PLATFORM_TEST_TIMEOUT(run_paths_escape_matrix_tmp, 60)
{
	make_base();
	escape_from(platform, NULL, NULL, "/tmp/cvpe-place");
	remove_base();
}

PLATFORM_TEST_TIMEOUT(run_paths_escape_matrix_shm, 60)
{
	make_base();
	escape_from(platform, NULL, NULL, "/dev/shm/cvpe-place");
	remove_base();
}

PLATFORM_TEST_TIMEOUT(run_paths_escape_matrix_rw, 60)
{
	char rw[PATH_MAX];
	make_base();
	make_rw(rw, sizeof(rw));
	escape_from(platform, NULL, rw, rw);
	remove_base();
}

/* A root directory holding the (dynamic) program at /pathescape and, at their host paths, the
 * libraries and interpreter ldd names for it. */
static void make_root(char *root, size_t cap)
{
	char cmd[PATH_MAX], line[PATH_MAX], to[2 * PATH_MAX];
	snprintf(root, cap, "%s/root", base);
	ASSERT_OK(mkdir(root, 0755) == 0 ? 0 : -errno);
	snprintf(to, sizeof(to), "%s/pathescape", root);
	copy_file(PATHESCAPE, to, 0755);
	snprintf(cmd, sizeof(cmd), "ldd %s 2>/dev/null", PATHESCAPE);
	FILE *f = popen(cmd, "r");
	int libs = 0;
	while (f && fgets(line, sizeof(line), f)) {
		/* "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)" */
		char *lib = strchr(line, '/'), *end = lib ? strpbrk(lib, " \t\n") : NULL;
		if (!lib)
			continue;
		if (end)
			*end = 0;
		snprintf(to, sizeof(to), "%s%s", root, lib);
		*strrchr(to, '/') = 0;
		make_dirs(to, 0755);
		snprintf(to, sizeof(to), "%s%s", root, lib);
		copy_file(lib, to, 0755);
		libs++;
	}
	if (f)
		pclose(f);
	if (libs == 0)
		SKIP("ldd names no libraries for %s: cannot build a root for it", PATHESCAPE);
}

/* Test 1 under --root: the absolute links' text names another file for the host than for the sandbox
 * (the victim does not exist in the root), so only the host's view catches a host kernel following
 * them (the program's own check is blind here). The root itself is read-only: the writable places
 * are the private /tmp and a --rw directory. */
PLATFORM_TEST_TIMEOUT(run_paths_escape_matrix_root_tmp, 60)
{
	char root[PATH_MAX];
	make_base();
	make_root(root, sizeof(root));
	escape_from(platform, root, NULL, "/tmp/cvpe-place");
	remove_base();
}

PLATFORM_TEST_TIMEOUT(run_paths_escape_matrix_root_rw, 60)
{
	char rw[PATH_MAX], root[PATH_MAX], mount_point[2 * PATH_MAX];
	make_base();
	make_rw(rw, sizeof(rw));
	make_root(root, sizeof(root));
	snprintf(mount_point, sizeof(mount_point), "%s%s", root, rw); /* where the root shows the --rw directory */
	make_dirs(mount_point, 0755);
	escape_from(platform, root, rw, rw);
	remove_base();
}

/* ---- Test 2: inside the writable place, the same results as Linux ---- */

/* Compare @native and @boxed line by line; show the first differing pairs. */
static void same_lines(const char *what, const struct outcome *native, const struct outcome *boxed)
{
	const char *a = native->out, *b = boxed->out;
	int diffs = 0, line = 0;
	while ((a && *a) || (b && *b)) {
		const char *ea = a ? strchr(a, '\n') : NULL, *eb = b ? strchr(b, '\n') : NULL;
		size_t la = a ? (ea ? (size_t)(ea - a) : strlen(a)) : 0, lb = b ? (eb ? (size_t)(eb - b) : strlen(b)) : 0;
		line++;
		if (la != lb || memcmp(a ? a : "", b ? b : "", la) != 0) {
			if (diffs++ < MAX_LISTED)
				fprintf(stderr, "  %s line %d\n    native: %.*s\n    cvisor: %.*s\n", what, line, (int)la,
					a ? a : "", (int)lb, b ? b : "");
		}
		a = ea ? ea + 1 : NULL;
		b = eb ? eb + 1 : NULL;
	}
	if (diffs)
		HARNESS_FAIL(0, "%s: %d of %d lines differ from the native run", what, diffs, line);
}

/* "pathescape inside" natively in a fresh host directory, then in the sandbox at @dir (with the --rw
 * directory @rw if not NULL); the outputs must be the same. Every DIR is named cvpe-w (links made
 * relative through its parent spell it) and never printed. */
static void inside_at(const char *platform, const char *rw, const char *dir)
{
	char native_dir[PATH_MAX];
	snprintf(native_dir, sizeof(native_dir), "%s/native", base);
	rm_tree(native_dir);
	ASSERT_OK(mkdir(native_dir, 0755) == 0 ? 0 : -errno);
	strcat(native_dir, "/cvpe-w");
	char *const native_argv[] = { "pathescape", "inside", native_dir, NULL };
	struct outcome native, boxed;
	run_native(PATHESCAPE, native_argv, &native);
	if (native.status != 0 || native.len < 5 || memcmp(native.out + native.len - 5, "done\n", 5) != 0)
		HARNESS_FAIL(1, "the native run failed (status %#x): ...%.300s", native.status,
			     native.out + (native.len > 300 ? native.len - 300 : 0));

	struct sentry_opts opts = { .platform = platform };
	if (rw)
		opts.binds[opts.n_binds++] = (struct sentry_bind){ .path = rw, .rw = true };
	char *const argv[] = { "pathescape", "inside", (char *)dir, NULL };
	run_boxed(&opts, PATHESCAPE, argv, &boxed);
	char what[PATH_MAX + 16];
	snprintf(what, sizeof(what), "in %s", dir);
	same_lines(what, &native, &boxed);
	EXPECT_EQ(boxed.status, 0);
	free(native.out);
	free(boxed.out);
}

/* Test 2, one writable place each (each run prints the whole state after every op: several seconds
 * under ptrace). Left out of the compared output, as different by design (test 1 still tries them):
 * chown (the sandbox refuses it), xattrs (no writes yet), named unix sockets (refused without --net),
 * mount, umount2, pivot_root, chroot and open_by_handle_at (privileged natively, refused here). */
PLATFORM_TEST_TIMEOUT(run_paths_inside_matrix_tmp, 60)
{
	make_base();
	inside_at(platform, NULL, "/tmp/cvpe-w");
	remove_base();
}

PLATFORM_TEST_TIMEOUT(run_paths_inside_matrix_shm, 60)
{
	make_base();
	inside_at(platform, NULL, "/dev/shm/cvpe-w");
	remove_base();
}

PLATFORM_TEST_TIMEOUT(run_paths_inside_matrix_rw, 60)
{
	char rw[PATH_MAX], dir[PATH_MAX + 8];
	make_base();
	make_rw(rw, sizeof(rw));
	snprintf(dir, sizeof(dir), "%s/cvpe-w", rw);
	inside_at(platform, rw, dir);
	remove_base();
}
