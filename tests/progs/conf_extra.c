// SPDX-License-Identifier: Apache-2.0
// The rest of issue 12's cause list, each printed for a native/sandboxed comparison: pipe and FIFO
// waits ended by a signal, xattr errors, execveat(AT_EMPTY_PATH), __WCLONE/__WNOTHREAD, a raw
// clone() on a stack of its own, waitid without WEXITED, trailing-slash and `.` path rules, SIGBUS
// past the end of a mapped file, errno order on the read-only root, O_PATH descriptors,
// sigaltstack after fork, EBADF before EPERM, SCM_RIGHTS fd flags, FUTEX_WAKE(0), get_robust_list,
// pwritev of two pages, RLIMIT_FSIZE and RLIMIT_AS. No timers: a signal is sent once the target
// is seen asleep in /proc.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static char dir[64];

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static const char *at(const char *name)
{
	static char buf[4][160];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Wait until @tid (a thread of @pid, or the process) sleeps, then give it @sig. */
static void signal_when_asleep(pid_t pid, pid_t tid, int sig)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	for (;;) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			_exit(2);
		buf[n] = 0;
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			break;
		usleep(1000);
	}
	syscall(SYS_tgkill, pid, tid, sig);
}

static volatile sig_atomic_t caught;
static int note_fd = -1;

static void on_usr1(int sig)
{
	(void)sig;
	caught++;
	if (note_fd >= 0 && write(note_fd, "n", 1) < 0)
		caught += 100;
}

static void handle(int sig, int flags)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = flags };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A child that signals us once we sleep; then, with @then_write, fills @then_write with a byte. */
static pid_t poke_me(int then_note, int then_write)
{
	pid_t me = getpid();
	pid_t c = fork();
	if (c == 0) {
		signal_when_asleep(me, me, SIGUSR1);
		char b;
		if (then_note >= 0 && read(then_note, &b, 1) != 1)
			_exit(3);
		if (then_write >= 0 && write(then_write, "w", 1) != 1)
			_exit(4);
		_exit(0);
	}
	return c;
}

static void reap(const char *what, pid_t c)
{
	int st;
	waitpid(c, &st, 0);
	printf("%s helper: %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
}

static void interrupted_waits(void)
{
	int p[2], note[2];
	char buf[70000];
	if (pipe(p) < 0 || pipe(note) < 0)
		return;
	show("write read end", write(p[0], "x", 1));
	show("read write end", read(p[1], buf, 1));
	/* A full pipe: the write sleeps; a handler without SA_RESTART ends it with EINTR. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	long filled = 0, n;
	while ((n = write(p[1], buf, sizeof(buf))) > 0)
		filled += n;
	fcntl(p[1], F_SETFL, 0);
	printf("pipe holds %ld\n", filled);
	handle(SIGUSR1, 0);
	pid_t c = poke_me(-1, -1);
	caught = 0;
	show("full pipe write, signal", write(p[1], "x", 1));
	printf("caught %d\n", (int)caught);
	reap("pipe write", c);
	close(p[0]);
	close(p[1]);

	/* An empty pipe's read with SA_RESTART: restarted, it gets the byte written after the handler ran. */
	if (pipe(p) < 0)
		return;
	handle(SIGUSR1, SA_RESTART);
	note_fd = note[1];
	caught = 0;
	c = poke_me(note[0], p[1]);
	show("restarted pipe read", read(p[0], buf, 1));
	printf("caught %d\n", (int)caught);
	reap("restart", c);
	note_fd = -1;

	/* A FIFO's open for writing waits for a reader; a signal ends it (EINTR without SA_RESTART). */
	if (mkfifo(at("fifo"), 0600) < 0)
		return;
	handle(SIGUSR1, 0);
	caught = 0;
	c = poke_me(-1, -1);
	show("fifo open, signal", open(at("fifo"), O_WRONLY));
	printf("caught %d\n", (int)caught);
	reap("fifo open", c);
	show("fifo open nonblock no reader", open(at("fifo"), O_WRONLY | O_NONBLOCK));
	int r = open(at("fifo"), O_RDONLY | O_NONBLOCK);
	show("fifo open nonblock reader", r >= 0 ? 0 : -1);
	int w = open(at("fifo"), O_WRONLY);
	show("fifo open with reader", w >= 0 ? 0 : -1);
	close(r);
	show("fifo write no reader", write(w, "x", 1)); /* SIGPIPE ignored below */
	close(w);
	unlink(at("fifo"));
	close(p[0]);
	close(p[1]);
	close(note[0]);
	close(note[1]);
}

static void xattrs(void)
{
	char buf[256];
	int fd = open(at("xf"), O_CREAT | O_RDWR, 0644);
	show("getxattr missing", getxattr(at("xf"), "user.none", buf, sizeof(buf)));
	long set = setxattr(at("xf"), "user.a", "value", 5, 0);
	show("setxattr user.a", set);
	if (set == 0) {
		show("getxattr user.a", getxattr(at("xf"), "user.a", buf, sizeof(buf)));
		show("getxattr size query", getxattr(at("xf"), "user.a", NULL, 0));
		show("getxattr too small", getxattr(at("xf"), "user.a", buf, 2));
		show("setxattr create exists", setxattr(at("xf"), "user.a", "v", 1, XATTR_CREATE));
		show("setxattr replace missing", setxattr(at("xf"), "user.b", "v", 1, XATTR_REPLACE));
		show("listxattr", listxattr(at("xf"), buf, sizeof(buf)));
		show("flistxattr", flistxattr(fd, buf, sizeof(buf)));
		show("fgetxattr", fgetxattr(fd, "user.a", buf, sizeof(buf)));
		show("removexattr", removexattr(at("xf"), "user.a"));
		show("removexattr again", removexattr(at("xf"), "user.a"));
	}
	show("getxattr unknown namespace", getxattr(at("xf"), "bogus.a", buf, sizeof(buf)));
	show("setxattr unknown namespace", setxattr(at("xf"), "bogus.a", "v", 1, 0));
	show("getxattr empty name", getxattr(at("xf"), "", buf, sizeof(buf)));
	show("getxattr missing file", getxattr(at("nofile"), "user.a", buf, sizeof(buf)));
	show("setxattr bad flags", setxattr(at("xf"), "user.a", "v", 1, 8));
	if (symlink("xf", at("xl")) == 0) {
		show("lsetxattr user on symlink", lsetxattr(at("xl"), "user.a", "v", 1, 0));
		show("lgetxattr user on symlink", lgetxattr(at("xl"), "user.a", buf, sizeof(buf)));
		unlink(at("xl"));
	}
	int p[2];
	if (pipe(p) == 0) {
		show("fsetxattr pipe", fsetxattr(p[0], "user.a", "v", 1, 0));
		show("fgetxattr pipe", fgetxattr(p[0], "user.a", buf, sizeof(buf)));
		close(p[0]);
		close(p[1]);
	}
	show("fgetxattr bad fd", fgetxattr(999, "user.a", buf, sizeof(buf)));
	close(fd);
	unlink(at("xf"));
}

static void exec_at(void)
{
	const char *const paths[] = { "/bin/true", "/bin/false" };
	int flags[] = { O_RDONLY | O_CLOEXEC, O_PATH };
	for (int i = 0; i < 2; i++) {
		int fd = open(paths[i], flags[i]);
		pid_t c = fork();
		if (c == 0) {
			char *argv[] = { (char *)paths[i], NULL }, *envp[] = { NULL };
			syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
			_exit(100 + errno);
		}
		int st;
		waitpid(c, &st, 0);
		printf("execveat(AT_EMPTY_PATH) %s %s: %d\n", paths[i], i ? "O_PATH" : "O_RDONLY", WEXITSTATUS(st));
		close(fd);
	}
	int d = open("/bin", O_PATH | O_DIRECTORY);
	pid_t c = fork();
	if (c == 0) {
		char *argv[] = { "true", NULL }, *envp[] = { NULL };
		syscall(SYS_execveat, d, "true", argv, envp, 0);
		_exit(100 + errno);
	}
	int st;
	waitpid(c, &st, 0);
	printf("execveat(dirfd, \"true\"): %d\n", WEXITSTATUS(st));
	char *argv[] = { "x", NULL }, *envp[] = { NULL };
	show("execveat empty without flag", syscall(SYS_execveat, d, "", argv, envp, 0));
	show("execveat dir AT_EMPTY_PATH", syscall(SYS_execveat, d, "", argv, envp, AT_EMPTY_PATH));
	show("execveat bad flag", syscall(SYS_execveat, d, "true", argv, envp, 0x40000000));
	close(d);
}

static int clone_fn(void *arg)
{
	*(int *)arg += 1; /* the child's own copy without CLONE_VM */
	return *(int *)arg + 10;
}

/* clone(2) itself: the child runs on @stack (a push and a pop there) and exits with @code. */
static pid_t raw_clone_exit(unsigned long flags, char *stack, int code)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "push %%rbx\n\t"
			 "pop %%rdi\n\t"
			 "mov $60, %%eax\n\t"
			 "syscall\n\t"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)SYS_clone), "D"(flags), "S"(stack), "d"(0L), "r"(r10), "r"(r8), "b"((long)code)
			 : "rcx", "r11", "memory");
	return (pid_t)ret;
}

static void *wait_sibling(void *arg)
{
	pid_t c = *(pid_t *)arg;
	int st;
	long r1 = waitpid(c, &st, __WNOTHREAD | WNOHANG);
	int e1 = errno;
	long r2 = waitpid(c, &st, 0);
	printf("thread __WNOTHREAD: %ld %s, plain: %d exit %d\n", r1, r1 < 0 ? strerrorname_np(e1) : "",
	       r2 == c, WEXITSTATUS(st));
	return NULL;
}

static void clones(void)
{
	size_t sz = 256 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	int value = 5, st;
	/* A raw clone on a stack of its own, as fork: SIGCHLD at exit. */
	pid_t c = clone(clone_fn, stack + sz, SIGCHLD, &value);
	show("clone(SIGCHLD) stack", c > 0 ? 0 : -1);
	show("__WCLONE on a SIGCHLD child", waitpid(c, &st, __WCLONE));
	show("plain wait", waitpid(c, &st, 0) == c ? WEXITSTATUS(st) : -1);
	printf("parent's value %d\n", value);
	/* No exit signal: a "clone" child, seen only with __WCLONE or __WALL. */
	c = clone(clone_fn, stack + sz, 0, &value);
	show("clone(0) stack", c > 0 ? 0 : -1);
	show("plain wait on a clone child", waitpid(c, &st, WNOHANG));
	show("__WCLONE wait", waitpid(c, &st, __WCLONE) == c ? WEXITSTATUS(st) : -1);
	c = clone(clone_fn, stack + sz, 0, &value);
	show("__WALL wait", waitpid(c, &st, __WALL) == c ? WEXITSTATUS(st) : -1);
	/* The raw system call: the child starts on the stack given with nothing pushed; returns 0 there. */
	c = raw_clone_exit(SIGCHLD, stack + sz, 7);
	show("raw clone wait", waitpid(c, &st, 0) == c ? WEXITSTATUS(st) : -1);
	munmap(stack, sz);
	/* __WNOTHREAD: another thread's child is not ours to wait for with it. */
	c = fork();
	if (c == 0) {
		char b;
		if (read(0, &b, 0) < 0)
			_exit(1);
		_exit(9);
	}
	pthread_t th;
	pthread_create(&th, NULL, wait_sibling, &c);
	pthread_join(th, NULL);
	show("__WNOTHREAD own child none", waitpid(-1, &st, __WNOTHREAD | WNOHANG));
	show("bad wait option", waitpid(-1, &st, 0x10000));
}

static void waits(void)
{
	siginfo_t si;
	show("waitid WSTOPPED no children", waitid(P_ALL, 0, &si, WSTOPPED));
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	/* The child ends without stopping: WSTOPPED alone never reports it, and ends in ECHILD. */
	show("waitid WSTOPPED exiting child", waitid(P_PID, (id_t)c, &si, WSTOPPED));
	show("waitid WCONTINUED exited child", waitid(P_PID, (id_t)c, &si, WCONTINUED));
	memset(&si, 0, sizeof(si));
	show("waitid WEXITED", waitid(P_PID, (id_t)c, &si, WEXITED));
	printf("status %d code %d\n", si.si_status, si.si_code);
	show("waitid no flags", waitid(P_ALL, 0, &si, 0));
	show("waitid bad idtype", waitid(9, 0, &si, WEXITED));
	show("sched_getaffinity(-1)", syscall(SYS_sched_getaffinity, -1, sizeof(cpu_set_t), &(cpu_set_t){ 0 }));
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	show("sched_setaffinity(-1)", sched_setaffinity(-1, sizeof(set), &set));
	show("getpriority(-1)", getpriority(PRIO_PROCESS, (id_t)-1) == -1 && errno ? -1 : 0);
}

static void path_rules(void)
{
	close(open(at("f"), O_CREAT | O_WRONLY, 0644));
	mkdir(at("d"), 0755);
	symlink("d", at("sd"));
	symlink("f", at("sf"));
	struct stat st;
	show("open f/", open(at("f/"), O_RDONLY));
	show("open new/ O_CREAT", open(at("new/"), O_CREAT | O_WRONLY, 0644));
	show("open d O_CREAT", open(at("d"), O_CREAT | O_WRONLY, 0644));
	show("open . O_CREAT", open(at("."), O_CREAT | O_RDONLY, 0644));
	show("open d O_WRONLY", open(at("d"), O_WRONLY));
	show("stat f/", stat(at("f/"), &st));
	show("stat f/.", stat(at("f/."), &st));
	show("stat sf/", stat(at("sf/"), &st));
	show("lstat sd/ is dir", lstat(at("sd/"), &st) == 0 ? S_ISDIR(st.st_mode) : -1);
	show("mkdir d2/", mkdir(at("d2/"), 0755));
	show("mkdir d/.", mkdir(at("d/."), 0755));
	show("mkdir d/..", mkdir(at("d/.."), 0755));
	show("rmdir d2/.", rmdir(at("d2/.")));
	show("rmdir d2/..", rmdir(at("d2/..")));
	show("rmdir f", rmdir(at("f")));
	show("rmdir sd/", rmdir(at("sd/")));
	show("rmdir d2/", rmdir(at("d2/")));
	show("unlink f/", unlink(at("f/")));
	show("unlink d/", unlink(at("d/")));
	show("unlink d", unlink(at("d")));
	show("unlink sd/", unlink(at("sd/")));
	show("unlink d/.", unlink(at("d/.")));
	show("unlink missing/", unlink(at("missing/")));
	show("rename f g/", rename(at("f"), at("g/")));
	show("rename f/ g", rename(at("f/"), at("g")));
	show("rename sd/ x", rename(at("sd/"), at("x")));
	show("rename d/. x", rename(at("d/."), at("x")));
	show("rename d x/.", rename(at("d"), at("x/.")));
	show("rename d d/sub", rename(at("d"), at("d/sub")));
	show("rename f d", rename(at("f"), at("d")));
	show("rename d f", rename(at("d"), at("f")));
	show("rename d e/", rename(at("d"), at("e/")));
	show("rename e/ d", rename(at("e/"), at("d")));
	show("rename f f", rename(at("f"), at("f")));
	show("link f h/", link(at("f"), at("h/")));
	show("link f/ h", link(at("f/"), at("h")));
	show("link d h", link(at("d"), at("h")));
	show("symlink s/", symlink("f", at("s/")));
	show("mknod p/", mknod(at("p/"), S_IFIFO | 0600, 0));
	show("mkfifo f", mkfifo(at("f"), 0600));
	show("truncate f/", truncate(at("f/"), 0));
	show("chdir f", chdir(at("f")));
	show("access sf/", access(at("sf/"), F_OK));
	show("readlink sd/", readlink(at("sd/"), (char[64]){ 0 }, 64));
	show("mkdir sd", mkdir(at("sd"), 0755));
	show("mkdir sdangle/", symlink("nowhere", at("dangle")) ?: mkdir(at("dangle/"), 0755));
	show("open dangle O_CREAT|O_EXCL", open(at("dangle"), O_CREAT | O_EXCL | O_WRONLY, 0600));
	show("open dangle O_CREAT", open(at("dangle"), O_CREAT | O_WRONLY, 0600) >= 0 ? 0 : -1);
	show("nowhere made", access(at("nowhere"), F_OK));
	unlink(at("nowhere"));
	unlink(at("dangle"));
	unlink(at("sd"));
	unlink(at("sf"));
	unlink(at("f"));
	rmdir(at("d"));
	rmdir(at("e"));
}

static sigjmp_buf jump;

static void on_fault(int sig)
{
	siglongjmp(jump, sig);
}

static int touch(volatile char *p)
{
	int sig = sigsetjmp(jump, 1);
	if (sig == 0) {
		char c = *p;
		(void)c;
	}
	return sig;
}

static void map_end(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd = open(at("m"), O_CREAT | O_RDWR, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return;
	char *m = mmap(NULL, 3 * pg, PROT_READ, MAP_SHARED, fd, 0);
	signal(SIGBUS, on_fault);
	signal(SIGSEGV, on_fault);
	printf("map: in the file %d, rest of its page %d (byte %d), next page %d, third %d\n", touch(m), touch(m + 100),
	       m[100], touch(m + pg), touch(m + 2 * pg));
	show("ftruncate 0", ftruncate(fd, 0));
	printf("map after truncate: first page %d\n", touch(m));
	show("ftruncate 2 pages", ftruncate(fd, 2 * pg));
	printf("map after growth: %d %d %d\n", touch(m), touch(m + pg), touch(m + 2 * pg));
	munmap(m, 3 * pg);
	char *priv = mmap(NULL, 3 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	printf("private read-only map: %d %d\n", touch(priv + pg), touch(priv + 2 * pg));
	munmap(priv, 3 * pg);
	/* Writable and private: a copy of the file as it is, its pages past the end still SIGBUS (on
	 * reads, writes, in a forked child); read(2) into them EFAULT; the tail of the last page is zeros. */
	if (write(fd, "ab", 2) != 2)
		return;
	priv = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	printf("private writable map: %d %d %d byte %d\n", touch(priv + 2 * pg - 1), touch(priv + 2 * pg),
	       touch(priv + 3 * pg + 5), priv[2 * pg - 1]);
	int sig = sigsetjmp(jump, 1);
	if (sig == 0)
		priv[2 * pg + 8] = 1;
	printf("private writable map, write past the end: %d\n", sig);
	priv[2 * pg - 1] = 7;
	int in = open("/etc/passwd", O_RDONLY);
	show("read into the page past the end", read(in, priv + 2 * pg, 16));
	close(in);
	pid_t c = fork();
	if (c == 0) {
		printf("child: %d %d byte %d\n", touch(priv + pg), touch(priv + 2 * pg), priv[2 * pg - 1]);
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	char *past = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 8 * pg);
	printf("private writable map wholly past the end: %d\n", touch(past));
	munmap(past, pg);
	mprotect(priv, 4 * pg, PROT_NONE);
	printf("past the end, PROT_NONE: %d\n", touch(priv + 3 * pg));
	munmap(priv, 4 * pg);
	signal(SIGBUS, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	close(fd);
	unlink(at("m"));
}

/* On the root (read-only in the sandbox, refused natively), the error Linux gives before EROFS: the
 * lookups that come first (rename, rmdir and unlink check the mount before the name: EROFS there). */
static void root_order(void)
{
	struct stat st;
	if (stat("/", &st) != 0)
		return;
	show("rmdir /", rmdir("/"));
	show("rename / x", rename("/", "/cvx-nowhere-x"));
	show("mkdir /etc", mkdir("/etc", 0755));
	show("mkdir /missing/x", mkdir("/cvx-missing/x", 0755));
	show("open /missing/x O_CREAT", open("/cvx-missing/x", O_CREAT | O_WRONLY, 0644));
	show("open /etc/passwd O_CREAT|O_EXCL", open("/etc/passwd", O_CREAT | O_EXCL | O_WRONLY, 0644));
	show("open /etc O_WRONLY", open("/etc", O_WRONLY));
	show("open /etc O_CREAT", open("/etc", O_CREAT | O_RDONLY, 0644));
	show("symlink onto /etc/passwd", symlink("x", "/etc/passwd"));
	show("mknod /etc", mknod("/etc", S_IFIFO | 0600, 0));
	show("link missing", link("/cvx-missing", "/cvx-missing2"));
	show("link onto existing", link("/etc/passwd", "/etc/hostname"));
	show("mkdir /etc/passwd/x", mkdir("/etc/passwd/x", 0755));
	show("truncate /missing", truncate("/cvx-missing", 0));
	show("chmod /missing", chmod("/cvx-missing", 0644));
	show("utimensat /missing", utimensat(AT_FDCWD, "/cvx-missing", NULL, 0));
}

static void opath(void)
{
	close(open(at("o"), O_CREAT | O_WRONLY, 0644));
	symlink("o", at("ol"));
	int fd = open(at("o"), O_PATH);
	struct stat st;
	char b[8];
	show("O_PATH open", fd >= 0 ? 0 : -1);
	show("O_PATH read", read(fd, b, 1));
	show("O_PATH write", write(fd, b, 1));
	show("O_PATH fstat size", fstat(fd, &st) == 0 ? st.st_size : -1);
	show("O_PATH F_GETFL has O_PATH", (fcntl(fd, F_GETFL) & O_PATH) != 0);
	show("O_PATH fchmod", fchmod(fd, 0600));
	show("O_PATH fchown", fchown(fd, -1, -1));
	show("O_PATH ftruncate", ftruncate(fd, 0));
	show("O_PATH mmap", mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
	show("O_PATH ioctl", ioctl(fd, FIONREAD, &(int){ 0 }));
	show("O_PATH fsync", fsync(fd));
	int d = dup(fd);
	show("O_PATH dup", d >= 0 ? 0 : -1);
	close(d);
	show("O_PATH fstatat empty", fstatat(fd, "", &st, AT_EMPTY_PATH));
	close(fd);
	fd = open(at("ol"), O_PATH | O_NOFOLLOW);
	show("O_PATH|O_NOFOLLOW on symlink", fd >= 0 && fstat(fd, &st) == 0 ? S_ISLNK(st.st_mode) : -1);
	show("readlinkat O_PATH link", readlinkat(fd, "", b, sizeof(b)));
	close(fd);
	show("O_PATH|O_DIRECTORY on file", open(at("o"), O_PATH | O_DIRECTORY));
	show("O_PATH|O_CREAT missing", open(at("o-missing"), O_PATH | O_CREAT, 0644));
	show("O_PATH|O_TRUNC|O_WRONLY keeps", open(at("o"), O_PATH | O_WRONLY | O_TRUNC) >= 0 ? 0 : -1);
	int dd = open(dir, O_PATH | O_DIRECTORY);
	show("openat via O_PATH dir", (fd = openat(dd, "o", O_RDONLY)) >= 0 ? 0 : -1);
	close(fd);
	show("getdents on O_PATH dir", syscall(SYS_getdents64, dd, b, sizeof(b)));
	int here = open(".", O_RDONLY | O_DIRECTORY);
	show("fchdir O_PATH dir", fchdir(dd));
	show("stat relative after fchdir", stat("o", &st));
	if (fchdir(here) != 0)
		printf("fchdir back failed\n");
	close(here);
	close(dd);
	unlink(at("ol"));
	unlink(at("o"));
}

static void *sleeper(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

/* unshare and setns without making a namespace (natively as root they would: not compared here). */
static void namespaces(void)
{
	show("unshare 0", syscall(SYS_unshare, 0));
	show("unshare CLONE_FILES|CLONE_FS|CLONE_SYSVSEM alone", syscall(SYS_unshare, CLONE_FILES | CLONE_FS | CLONE_SYSVSEM));
	show("unshare CLONE_THREAD|CLONE_VM|CLONE_SIGHAND alone", syscall(SYS_unshare, CLONE_THREAD | CLONE_VM | CLONE_SIGHAND));
	show("unshare unknown flag", syscall(SYS_unshare, 0x1));
	pthread_t th;
	pthread_create(&th, NULL, sleeper, NULL);
	show("unshare CLONE_VM beside a thread", syscall(SYS_unshare, CLONE_VM));
	show("unshare CLONE_SIGHAND beside a thread", syscall(SYS_unshare, CLONE_SIGHAND));
	pthread_cancel(th);
	pthread_join(th, NULL);
	show("setns bad fd", syscall(SYS_setns, 999, 0));
	int fd = open("/etc/passwd", O_RDONLY);
	show("setns on a file", syscall(SYS_setns, fd, 0));
	close(fd);
}

static void altstack_fork(void)
{
	stack_t ss = { .ss_size = 64 * 1024 }, old;
	ss.ss_sp = malloc(ss.ss_size);
	show("sigaltstack", sigaltstack(&ss, NULL));
	pid_t c = fork();
	if (c == 0) {
		int ok = sigaltstack(NULL, &old) == 0 && old.ss_sp == ss.ss_sp && old.ss_flags == 0;
		stack_t mine = { .ss_size = 32 * 1024 };
		mine.ss_sp = malloc(mine.ss_size);
		int set = sigaltstack(&mine, NULL);
		stack_t tiny = { .ss_sp = mine.ss_sp, .ss_size = 1024 };
		int small = sigaltstack(&tiny, NULL) == -1 && errno == ENOMEM;
		stack_t off = { .ss_flags = SS_DISABLE };
		int dis = sigaltstack(&off, NULL);
		printf("child: inherited %d, set %d, too small ENOMEM %d, disable %d\n", ok, set, small, dis);
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	stack_t off = { .ss_flags = SS_DISABLE };
	sigaltstack(&off, NULL);
	free(ss.ss_sp);
}

static void bad_fds(void)
{
	close(open(at("c"), O_CREAT | O_WRONLY, 0644));
	show("chown -1 -1", chown(at("c"), -1, -1));
	show("fchown bad fd -1 -1", fchown(999, -1, -1));
	show("fchown bad fd", fchown(999, 5, 5));
	show("fchmod bad fd", fchmod(999, 0644));
	show("fchownat bad dirfd", fchownat(999, "c", 5, 5, 0));
	show("fchownat bad flag", fchownat(AT_FDCWD, at("c"), 5, 5, 0x8000000));
	show("fchmodat bad dirfd", fchmodat(999, "c", 0644, 0));
	show("fchdir bad fd", fchdir(999));
	show("fsync bad fd", fsync(999));
	show("flock bad fd", flock(999, LOCK_EX));
	show("fstatfs bad fd", fstatfs(999, &(struct statfs){ 0 }));
	show("fchown then", fchown(-1, 0, 0));
	unlink(at("c"));
}

static void rights(void)
{
	int sv[2], p[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	for (int round = 0; round < 2; round++) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} u;
		char data = 'd';
		struct iovec iov = { &data, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &p[0], sizeof(int));
		if (sendmsg(sv[0], &m, 0) != 1)
			return;
		memset(u.b, 0, sizeof(u.b));
		m.msg_controllen = sizeof(u.b);
		long n = recvmsg(sv[1], &m, round ? MSG_CMSG_CLOEXEC : 0);
		c = CMSG_FIRSTHDR(&m);
		int got = -1;
		if (n == 1 && c && c->cmsg_type == SCM_RIGHTS)
			memcpy(&got, CMSG_DATA(c), sizeof(int));
		printf("SCM_RIGHTS%s: fd flags %d, status O_NONBLOCK %d, msg_flags %#x\n", round ? " MSG_CMSG_CLOEXEC" : "",
		       fcntl(got, F_GETFD), (fcntl(got, F_GETFL) & O_NONBLOCK) != 0, (unsigned)m.msg_flags);
		close(got);
	}
	/* Too little control room: the descriptor is dropped and MSG_CTRUNC said. */
	char data = 'e', small[CMSG_SPACE(0)];
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), p, 2 * sizeof(int));
	show("sendmsg two fds", sendmsg(sv[0], &m, 0));
	m.msg_control = small;
	m.msg_controllen = sizeof(small);
	show("recvmsg no room", recvmsg(sv[1], &m, 0));
	printf("msg_flags %#x controllen %zu\n", (unsigned)m.msg_flags, (size_t)m.msg_controllen);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static uint32_t fword;

static void *futex_waiter(void *arg)
{
	*(pid_t *)arg = gettid();
	long r = syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return (void *)r;
}

static void futexes(void)
{
	pid_t tid = 0;
	pthread_t th;
	pthread_create(&th, NULL, futex_waiter, &tid);
	while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
		sched_yield();
	/* /proc/self/task/TID/stat is that thread's: its tid first, S while it waits (the process's other
	 * thread, reading it, runs). */
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	int asleep = 0, named = 0;
	for (int i = 0; i < 5000 && !asleep; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = 0;
		char *p = strrchr(buf, ')');
		named = atoi(buf) == tid;
		asleep = p && p[1] == ' ' && p[2] == 'S';
		if (!asleep)
			usleep(1000);
	}
	printf("waiting thread: asleep %d, its tid first %d\n", asleep, named);
	/* Linux wakes one waiter for a count of 0: once the thread waits, the wake returns 1 (a sandbox that
	 * woke nobody would spin here, and fail at the bound). */
	long woke = 0;
	for (long i = 0; i < 20000000 && woke == 0; i++) {
		woke = syscall(SYS_futex, &fword, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0);
		if (woke == 0)
			sched_yield();
	}
	show("FUTEX_WAKE 0 wakes", woke);
	void *r;
	pthread_join(th, &r);
	printf("waiter: %ld\n", (long)r);
	struct robust_list_head *head;
	size_t len = 0;
	show("get_robust_list self", syscall(SYS_get_robust_list, 0, &head, &len));
	printf("robust len %zu set %d\n", len, head != NULL);
	show("get_robust_list no pid", syscall(SYS_get_robust_list, 0x3fffffff, &head, &len));
	show("set_robust_list bad len", syscall(SYS_set_robust_list, head, 1));
	fword = 1;
	show("FUTEX_WAKE_OP", syscall(SYS_futex, &fword, FUTEX_WAKE_OP_PRIVATE, 1, 1, &fword,
				      FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 1)));
	printf("word %u\n", fword);
}

static void io_limits(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *a = malloc(2 * pg), *b = calloc(1, 2 * pg);
	memset(a, 'a', pg);
	memset(a + pg, 'b', pg);
	int fd = open(at("w"), O_CREAT | O_RDWR | O_TRUNC, 0600);
	struct iovec v[2] = { { a, pg }, { a + pg, pg } };
	show("pwritev two pages", pwritev(fd, v, 2, 0));
	show("pwritev two pages at offset", pwritev(fd, v, 2, 3 * pg));
	struct stat st;
	fstat(fd, &st);
	printf("size %ld\n", (long)st.st_size);
	struct iovec r[2] = { { b, pg }, { b + pg, pg } };
	show("preadv back", preadv(fd, r, 2, 3 * pg));
	printf("same %d\n", memcmp(a, b, 2 * pg) == 0);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, lim = { 10, 10 };
	getrlimit(RLIMIT_FSIZE, &old);
	lim.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_FSIZE, &lim);
	show("write across RLIMIT_FSIZE", pwrite(fd, a, 100, 0 + 5));
	show("write at RLIMIT_FSIZE", pwrite(fd, a, 1, 10));
	show("ftruncate past RLIMIT_FSIZE", ftruncate(fd, 11));
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
	unlink(at("w"));
	free(a);
	free(b);
	getrlimit(RLIMIT_AS, &old);
	lim = (struct rlimit){ 1UL << 34, old.rlim_max };
	show("setrlimit AS 16G", setrlimit(RLIMIT_AS, &lim));
	void *big = mmap(NULL, 1UL << 35, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	show("mmap 32G over RLIMIT_AS", big == MAP_FAILED ? -1 : 0);
	void *ok = mmap(NULL, 1UL << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	show("mmap 1G under it", ok == MAP_FAILED ? -1 : 0);
	munmap(ok, 1UL << 30);
	setrlimit(RLIMIT_AS, &old);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cvx-conf-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0); /* children that return through exit() flush no copy of it */
	signal(SIGPIPE, SIG_IGN);
	interrupted_waits();
	xattrs();
	exec_at();
	clones();
	waits();
	path_rules();
	map_end();
	root_order();
	opath();
	altstack_fork();
	bad_fds();
	rights();
	futexes();
	io_limits();
	namespaces();
	show("rmdir workdir", rmdir(dir));
	return 0;
}
