// SPDX-License-Identifier: Apache-2.0
// Guest program: the less common syscalls real programs make — positioned and vectored IO, truncate,
// sync, fallocate, flock, in-kernel copies, close_range, memfd, timerfd, utimes, mknod, umask, waitid,
// rt_sigtimedwait, sigqueueinfo, prctl, scheduling, affinity, priorities, rlimits, times, sysinfo,
// clocks, credentials, personality, mincore/msync/mlock. Prints results without pids, times or
// addresses; the test compares the output with a native run. Only calls whose result does not depend
// on privileges are made (natively the tests may run as root).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

static char dir[64];

static void show(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void on_alrm(int sig)
{
	(void)sig;
}

/* SIGALRM (no SA_RESTART) every @ms milliseconds, to interrupt a blocking call even when the first
 * one comes before the call starts (a loaded machine); alarm_off() after the call. */
static void alarm_ms(int ms)
{
	struct itimerval v = { { 0, ms * 1000 }, { 0, ms * 1000 } };
	setitimer(ITIMER_REAL, &v, NULL);
}

static void alarm_off(void)
{
	struct itimerval v = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &v, NULL);
}

static char *path(const char *name)
{
	static char p[4][128];
	static int i;
	char *s = p[i++ % 4];
	snprintf(s, 128, "%s/%s", dir, name);
	return s;
}

static void file_io(void)
{
	int fd = open(path("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	show("pwrite", pwrite(fd, "hello", 5, 10));
	char b[32] = "";
	long r = pread(fd, b, sizeof(b), 10);
	printf("pread: %ld %.5s\n", r, b);
	struct iovec w[2] = { { "ab", 2 }, { "cde", 3 } };
	show("pwritev", pwritev(fd, w, 2, 0));
	char x[2], y[3];
	struct iovec rv[2] = { { x, 2 }, { y, 3 } };
	r = preadv(fd, rv, 2, 0);
	printf("preadv: %ld %.2s %.3s\n", r, x, y);
	show("pwritev2 dsync", pwritev2(fd, w, 2, 5, RWF_DSYNC));
	lseek(fd, 2, SEEK_SET);
	r = preadv2(fd, rv, 1, -1, 0);
	long pos = lseek(fd, 0, SEEK_CUR);
	printf("preadv2 at the position: %ld %.2s now at %ld\n", r, x, pos);
	show("pwritev2 bad flag", pwritev2(fd, w, 1, 0, 0x40000000));
	show("pread negative", pread(fd, b, 1, -1));
	show("ftruncate", ftruncate(fd, 3));
	struct stat st;
	fstat(fd, &st);
	printf("size %ld\n", (long)st.st_size);
	show("ftruncate negative", ftruncate(fd, -1));
	show("truncate", truncate(path("f"), 7));
	stat(path("f"), &st);
	printf("size %ld\n", (long)st.st_size);
	show("truncate missing", truncate(path("missing"), 1));
	show("fsync", fsync(fd));
	show("fdatasync", fdatasync(fd));
	show("syncfs", syncfs(fd));
	sync();
	show("fsync bad fd", fsync(999));
	show("fallocate", fallocate(fd, 0, 0, 8192));
	fstat(fd, &st);
	printf("size %ld\n", (long)st.st_size);
	close(fd);
}

static void locks(void)
{
	int a = open(path("f"), O_RDWR), b = open(path("f"), O_RDWR);
	show("flock ex", flock(a, LOCK_EX));
	show("flock ex nb other", flock(b, LOCK_EX | LOCK_NB));
	alarm_ms(50);
	show("flock ex blocking, interrupted", flock(b, LOCK_EX));
	alarm_off();
	show("flock un", flock(a, LOCK_UN));
	show("flock ex other", flock(b, LOCK_EX));
	show("flock bad op", flock(b, 0));
	close(a);
	close(b);
}

static void copies(void)
{
	int in = open(path("src"), O_RDWR | O_CREAT | O_TRUNC, 0644), out = open(path("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	show("write src", write(in, "0123456789", 10));
	off_t off = 2;
	long r = sendfile(out, in, &off, 5);
	printf("sendfile: %ld offset now %ld\n", r, (long)off);
	loff_t oi = 0, oo = 5;
	r = copy_file_range(in, &oi, out, &oo, 3, 0);
	printf("copy_file_range: %ld %ld %ld\n", r, (long)oi, (long)oo);
	char b[16] = "";
	r = pread(out, b, sizeof(b), 0);
	printf("dst: %ld %.8s\n", r, b);
	int p[2], q[2];
	if (pipe(p) < 0 || pipe(q) < 0)
		exit(1);
	loff_t so = 4;
	show("splice file to pipe", splice(in, &so, p[1], NULL, 3, 0));
	show("tee", tee(p[0], q[1], 3, 0));
	memset(b, 0, sizeof(b));
	r = read(q[0], b, sizeof(b));
	printf("tee copy: %ld %.3s\n", r, b);
	show("sendfile bad fd", sendfile(out, 999, NULL, 1));
	close(in);
	close(out);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(q[i]);
	}
}

/* Opens of device nodes again and again (the sentry remembers what its walk found for them,
 * devcache.c), with every kind of flags, and after the sandbox renamed something. */
static void devices(void)
{
	static const struct {
		const char *what, *path;
		int flags;
	} cases[] = {
		{ "null for reading", "/dev/null", O_RDONLY },
		{ "null, O_CREAT|O_TRUNC", "/dev/null", O_WRONLY | O_CREAT | O_TRUNC },
		{ "null, O_CREAT|O_EXCL", "/dev/null", O_WRONLY | O_CREAT | O_EXCL },
		{ "null, O_DIRECTORY", "/dev/null", O_RDONLY | O_DIRECTORY },
		{ "null/", "/dev/null/", O_RDONLY },
		{ "null/x", "/dev/null/x", O_RDONLY },
		{ "zero, O_RDWR", "/dev/zero", O_RDWR },
		{ "zero, O_NONBLOCK", "/dev/zero", O_RDONLY | O_NONBLOCK },
		{ "full, O_WRONLY", "/dev/full", O_WRONLY },
		{ "//dev//./null", "//dev//./null", O_RDONLY },
		{ "missing device", "/dev/nothing-here", O_RDONLY },
	};
	for (int round = 0; round < 3; round++) {
		if (round == 2) { /* a rename inside the sandbox forgets what was remembered */
			char a[300], b[300];
			snprintf(a, sizeof(a), "%s/ren-a", dir);
			snprintf(b, sizeof(b), "%s/ren-b", dir);
			close(open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
			rename(a, b);
			unlink(b);
		}
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int fd = open(cases[i].path, cases[i].flags | O_CLOEXEC, 0644);
			struct stat a, b;
			if (fd < 0) {
				printf("%s: -1 %s\n", cases[i].what, strerror(errno));
				continue;
			}
			int same = fstat(fd, &a) == 0 && stat(cases[i].path, &b) == 0 &&
				   a.st_rdev == b.st_rdev && a.st_ino == b.st_ino && S_ISCHR(a.st_mode);
			bool writes = (cases[i].flags & O_ACCMODE) == O_WRONLY;
			char c = 1;
			long r = writes ? write(fd, "x", 1) : read(fd, &c, 1);
			int fl = fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK | O_APPEND);
			const char *err = r < 0 ? strerror(errno) : "";
			const char *what = same ? "that device" : "WRONG";
			printf("%s: %s, %s %ld%s%s, flags %#o\n", cases[i].what, what,
			       writes ? "write" : "read", r, *err ? " " : "", err, fl);
			close(fd);
		}
	}
}

static void fds(void)
{
	int fd = open("/dev/null", O_RDONLY);
	dup2(fd, 40);
	dup2(fd, 41);
	dup2(fd, 42);
	show("close_range", syscall(SYS_close_range, 40, 41, 0));
	show("fd 41 after", fcntl(41, F_GETFD));
	show("close_range cloexec", syscall(SYS_close_range, 42, 42, 4 /* CLOSE_RANGE_CLOEXEC */));
	show("fd 42 flags", fcntl(42, F_GETFD));
	show("close_range reversed", syscall(SYS_close_range, 5, 4, 0));
	int pp[2];
	if (pipe(pp) == 0) { /* the wrong end: EBADF at once, never a wait for the other direction */
		show("write to a pipe's read end", write(pp[0], "x", 1));
		show("read from a pipe's write end", read(pp[1], &(char){ 0 }, 1));
		close(pp[0]);
		close(pp[1]);
	}
	close(42);
	int m = memfd_create("sysmisc", MFD_CLOEXEC);
	show("memfd write", write(m, "memory", 6));
	char b[8] = "";
	long r = pread(m, b, sizeof(b), 0);
	printf("memfd read: %ld %.6s cloexec %d\n", r, b, fcntl(m, F_GETFD));
	close(m);
	show("memfd bad flags", memfd_create("x", 0x1000));
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = { { 0, 0 }, { 0, 20000000 } }, cur;
	show("timerfd_settime", timerfd_settime(t, 0, &its, NULL));
	uint64_t n = 0;
	r = read(t, &n, sizeof(n));
	printf("timerfd read: %ld expirations %llu\n", r, (unsigned long long)n);
	show("timerfd_gettime", timerfd_gettime(t, &cur));
	printf("disarmed: %d\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	close(t);
	show("timerfd bad clock", timerfd_create(42, 0));
	show("timerfd bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
	close(fd);
}

static void *fifo_writer(void *arg);

static void files(void)
{
	mode_t old = umask(027);
	mode_t back = umask(027);
	printf("umask: %03o then %03o\n", (unsigned)old, (unsigned)back);
	struct stat st;
	int fd = open(path("u"), O_CREAT | O_WRONLY, 0666);
	close(fd);
	mkdir(path("d"), 0777);
	show("mknod fifo", mknod(path("p"), S_IFIFO | 0666, 0));
	show("mknodat regular", mknodat(AT_FDCWD, path("r"), S_IFREG | 0666, 0));
	show("mknod bad type", mknod(path("z"), 0170000, 0));
	stat(path("u"), &st);
	printf("file mode %o\n", (unsigned)st.st_mode);
	stat(path("d"), &st);
	printf("dir mode %o\n", (unsigned)st.st_mode);
	stat(path("p"), &st);
	printf("fifo mode %o\n", (unsigned)st.st_mode);
	stat(path("r"), &st);
	printf("regular mode %o\n", (unsigned)st.st_mode);
	umask(old);
	struct timeval tv[2] = { { 1000000, 0 }, { 1000000, 500000 } };
	show("utimes", utimes(path("u"), tv));
	stat(path("u"), &st);
	printf("mtime %ld\n", (long)st.st_mtime);
	struct utimbuf ub = { 2000000, 2000000 };
	show("utime", utime(path("u"), &ub));
	stat(path("u"), &st);
	printf("mtime %ld\n", (long)st.st_mtime);
	tv[1].tv_sec = 3000000;
	show("futimesat", futimesat(AT_FDCWD, path("u"), tv));
	stat(path("u"), &st);
	printf("mtime %ld\n", (long)st.st_mtime);
	tv[1].tv_usec = 2000000;
	show("utimes bad usec", utimes(path("u"), tv));
	/* a FIFO: the writer's open waits for the reader */
	pid_t c = fork();
	if (c == 0) {
		int w = open(path("p"), O_WRONLY);
		_exit(w >= 0 && write(w, "through the fifo", 16) == 16 ? 0 : 1);
	}
	usleep(50000);
	int rd = open(path("p"), O_RDONLY);
	char b[32] = "";
	long r = read(rd, b, sizeof(b));
	printf("fifo: %ld %.16s\n", r, b);
	close(rd);
	int status;
	waitpid(c, &status, 0);
	printf("fifo writer: %d\n", WEXITSTATUS(status));
	pthread_t th;
	pthread_create(&th, NULL, fifo_writer, path("p"));
	usleep(50000);
	rd = open(path("p"), O_RDONLY);
	memset(b, 0, sizeof(b));
	r = read(rd, b, sizeof(b));
	close(rd);
	void *wrote;
	pthread_join(th, &wrote);
	printf("fifo between threads: %ld %.13s wrote %ld\n", r, b, (long)wrote);
}

static void *fifo_writer(void *arg)
{
	int w = open(arg, O_WRONLY); /* waits for the reader, another thread of this process */
	long r = w >= 0 ? write(w, "from a thread", 13) : -1;
	if (w >= 0)
		close(w);
	return (void *)r;
}

static void waits(void)
{
	siginfo_t si;
	pid_t c = fork();
	if (c == 0)
		_exit(5);
	memset(&si, 0, sizeof(si));
	show("waitid nowait", waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT));
	printf("  signo %d code %d status %d pid ok %d uid ok %d\n", si.si_signo, si.si_code, si.si_status,
	       si.si_pid == c, si.si_uid == getuid());
	memset(&si, 0, sizeof(si));
	show("waitid all", waitid(P_ALL, 0, &si, WEXITED));
	printf("  code %d status %d pid ok %d\n", si.si_code, si.si_status, si.si_pid == c);
	show("waitid none left", waitid(P_ALL, 0, &si, WEXITED));
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	memset(&si, 0xff, sizeof(si));
	show("waitid nohang", waitid(P_PGID, 0, &si, WEXITED | WNOHANG));
	printf("  signo %d pid %d\n", si.si_signo, si.si_pid);
	alarm_ms(50);
	show("waitid interrupted", waitid(P_PID, (id_t)c, &si, WEXITED));
	alarm_off();
	int pp[2];
	static char big[1 << 20];
	if (pipe(pp) == 0) { /* nobody reads: a signal ends the write with what it wrote */
		alarm_ms(50);
		ssize_t w = write(pp[1], big, sizeof(big));
		alarm_off();
		printf("big pipe write interrupted: partial %d\n", w > 0 && w < (ssize_t)sizeof(big));
		alarm_ms(50);
		w = write(pp[1], big, sizeof(big)); /* a full pipe: nothing written */
		alarm_off();
		printf("write to a full pipe interrupted: %s\n", w < 0 && errno == EINTR ? "EINTR" : "no");
		close(pp[0]);
		close(pp[1]);
	}
	kill(c, SIGKILL);
	show("waitid killed", waitid(P_PID, (id_t)c, &si, WEXITED));
	printf("  code %d status %d\n", si.si_code, si.si_status);
	show("waitid no options", waitid(P_ALL, 0, &si, 0));
	show("waitid bad pid", waitid(P_PID, 0, &si, WEXITED));
}

static void sigwaits(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	siginfo_t si;
	raise(SIGUSR1);
	int r = sigwaitinfo(&set, &si);
	printf("sigwaitinfo: %d code %d\n", r, si.si_code);
	struct timespec ts = { 0, 10000000 };
	show("sigtimedwait timeout", sigtimedwait(&set, &si, &ts));
	ts.tv_sec = 5;
	alarm_ms(50);
	show("sigtimedwait interrupted", sigtimedwait(&set, &si, &ts));
	alarm_off();
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	r = sigwaitinfo(&set, &si);
	printf("sigwaitinfo child: %d code %d status %d pid ok %d\n", r, si.si_code, si.si_status, si.si_pid == c);
	waitpid(c, NULL, 0);
	union sigval v = { .sival_int = 42 };
	show("sigqueue", sigqueue(getpid(), SIGUSR1, v));
	r = sigwaitinfo(&set, &si);
	printf("queued: %d code %d value %d\n", r, si.si_code, si.si_value.sival_int);
	memset(&si, 0, sizeof(si));
	si.si_code = SI_QUEUE;
	si.si_value.sival_int = 7;
	show("rt_tgsigqueueinfo", syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGUSR1, &si));
	r = sigwaitinfo(&set, &si);
	printf("queued to the thread: %d value %d\n", r, si.si_value.sival_int);
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	memset(&si, 0, sizeof(si));
	si.si_code = SI_USER; /* posing as kill(2) towards another process */
	show("rt_sigqueueinfo as SI_USER", syscall(SYS_rt_sigqueueinfo, c, SIGUSR1, &si));
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	sigtimedwait(&set, &si, &(struct timespec){ 0, 0 }); /* the SIGCHLD */
	show("sigtimedwait bad size", syscall(SYS_rt_sigtimedwait, &set, NULL, NULL, 4));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void control(void)
{
	char name[16] = "";
	show("PR_SET_NAME", prctl(PR_SET_NAME, "sysmisc-a-long-name"));
	prctl(PR_GET_NAME, name);
	printf("name %s\n", name);
	FILE *f = fopen("/proc/self/comm", "re");
	char comm[32] = "";
	if (f && fgets(comm, sizeof(comm), f))
		printf("comm %s", comm);
	if (f)
		fclose(f);
	show("PR_GET_NAME bad pointer", prctl(PR_GET_NAME, (char *)8));
	int v = -1;
	show("PR_SET_PDEATHSIG", prctl(PR_SET_PDEATHSIG, SIGUSR2));
	prctl(PR_GET_PDEATHSIG, &v);
	printf("pdeathsig %d\n", v);
	prctl(PR_SET_PDEATHSIG, 0);
	show("PR_SET_PDEATHSIG bad", prctl(PR_SET_PDEATHSIG, 99));
	show("PR_SET_DUMPABLE 0", prctl(PR_SET_DUMPABLE, 0));
	show("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));
	prctl(PR_SET_DUMPABLE, 1);
	show("PR_SET_DUMPABLE 2", prctl(PR_SET_DUMPABLE, 2));
	show("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	show("PR_GET_NO_NEW_PRIVS", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	show("PR_SET_NO_NEW_PRIVS 0", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
	show("PR_CAPBSET_READ bad", prctl(PR_CAPBSET_READ, 999));
	show("prctl unknown", prctl(12345, 0, 0, 0, 0));
	show("personality query", personality(0xffffffff));
	show("personality linux", personality(PER_LINUX));

	/* the pdeath signal: a grandchild hears that its parent exited */
	int p[2], ready[2];
	if (pipe(p) < 0 || pipe(ready) < 0)
		exit(1);
	pid_t a = fork();
	if (a == 0) {
		if (fork() == 0) {
			sigset_t s;
			sigemptyset(&s);
			sigaddset(&s, SIGUSR2);
			sigprocmask(SIG_BLOCK, &s, NULL);
			prctl(PR_SET_PDEATHSIG, SIGUSR2);
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			int sig = 0;
			struct timespec ts = { 5, 0 };
			sig = sigtimedwait(&s, NULL, &ts);
			char line[32];
			int n = snprintf(line, sizeof(line), "pdeathsig %d\n", sig);
			_exit(write(p[1], line, (size_t)n) == n ? 0 : 1);
		}
		char c;
		_exit(read(ready[0], &c, 1) == 1 ? 0 : 1);
	}
	waitpid(a, NULL, 0);
	close(p[1]);
	char line[32] = "";
	long n = read(p[0], line, sizeof(line) - 1);
	printf("grandchild: %ld %s", n, line);
	close(p[0]);
	close(ready[0]);
	close(ready[1]);
	show("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1));
	prctl(PR_GET_CHILD_SUBREAPER, &v);
	printf("subreaper %d\n", v);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void scheduling(void)
{
	struct sched_param sp = { 0 };
	show("sched_getscheduler", sched_getscheduler(0));
	show("sched_setscheduler batch", sched_setscheduler(0, SCHED_BATCH, &sp));
	show("sched_getscheduler", sched_getscheduler(0));
	show("sched_setscheduler other", sched_setscheduler(0, SCHED_OTHER, &sp));
	sp.sched_priority = 5;
	show("sched_setscheduler other prio 5", sched_setscheduler(0, SCHED_OTHER, &sp));
	show("sched_setscheduler bad policy", sched_setscheduler(0, 42, &sp));
	show("sched_setparam prio 5", sched_setparam(0, &sp));
	show("sched_getparam", sched_getparam(0, &sp));
	printf("priority %d\n", sp.sched_priority);
	show("sched_getparam bad pid", sched_getparam(-1, &sp));
	show("sched_getscheduler no such pid", sched_getscheduler(999999));
	show("max fifo", sched_get_priority_max(SCHED_FIFO));
	show("min rr", sched_get_priority_min(SCHED_RR));
	show("max other", sched_get_priority_max(SCHED_OTHER));
	show("max bad", sched_get_priority_max(42));
	struct timespec ts;
	show("sched_rr_get_interval", sched_rr_get_interval(0, &ts));

	cpu_set_t orig, one, got;
	long size = syscall(SYS_sched_getaffinity, 0, sizeof(orig), &orig);
	printf("getaffinity: size ok %d, cpus %d\n", size > 0 && size % 8 == 0, CPU_COUNT(&orig) > 0);
	int first = 0;
	while (!CPU_ISSET(first, &orig))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	show("setaffinity one cpu", sched_setaffinity(0, sizeof(one), &one));
	sched_getaffinity(0, sizeof(got), &got);
	printf("now %d cpu, the one asked %d\n", CPU_COUNT(&got), CPU_ISSET(first, &got) != 0);
	unsigned cpu = 9999;
	show("getcpu", syscall(SYS_getcpu, &cpu, NULL, NULL));
	printf("on it: %d\n", cpu == (unsigned)first);
	CPU_ZERO(&one);
	show("setaffinity empty", sched_setaffinity(0, sizeof(one), &one));
	show("setaffinity no such pid", sched_setaffinity(999999, sizeof(orig), &orig));
	show("getaffinity unaligned size", syscall(SYS_sched_getaffinity, 0, 7, &got));
	sched_setaffinity(0, sizeof(orig), &orig);

	errno = 0;
	int base = getpriority(PRIO_PROCESS, 0);
	show("setpriority +3", setpriority(PRIO_PROCESS, 0, base + 3));
	errno = 0;
	printf("getpriority: +%d\n", getpriority(PRIO_PROCESS, 0) - base);
	show("getpriority bad which", getpriority(42, 0));
	show("getpriority no such pid", getpriority(PRIO_PROCESS, 999999));
}

static void limits(void)
{
	struct rlimit orig, rl;
	getrlimit(RLIMIT_NOFILE, &orig);
	rl = (struct rlimit){ 64, orig.rlim_max };
	show("setrlimit nofile 64", setrlimit(RLIMIT_NOFILE, &rl));
	int last = -1, fd;
	while ((fd = dup(0)) >= 0)
		last = fd;
	printf("last fd %d: %s\n", last, strerror(errno));
	for (int i = 3; i <= last; i++)
		close(i);
	show("dup2 above the limit", dup2(0, 100));
	show("F_DUPFD above the limit", fcntl(0, F_DUPFD, 100));
	setrlimit(RLIMIT_NOFILE, &orig);
	rl = (struct rlimit){ 10, 5 };
	show("setrlimit cur above max", setrlimit(RLIMIT_CORE, &rl));
	show("getrlimit bad", getrlimit(99, &rl));
	rl = (struct rlimit){ 0, 0 };
	struct rlimit old;
	show("prlimit core", prlimit(0, RLIMIT_CORE, &rl, &old));
	getrlimit(RLIMIT_CORE, &rl);
	printf("core %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);

	struct tms t0, t1;
	long r0 = (long)times(&t0);
	for (volatile long i = 0; i < 20000000; i++)
		;
	long r1 = (long)times(&t1);
	printf("times: %d, user time does not go back %d\n", r0 != -1 && r1 >= r0, t1.tms_utime >= t0.tms_utime);
	struct rusage ru;
	show("getrusage self", getrusage(RUSAGE_SELF, &ru));
	show("getrusage children", getrusage(RUSAGE_CHILDREN, &ru));
	show("getrusage bad", getrusage(42, &ru));
	struct sysinfo si;
	show("sysinfo", sysinfo(&si));
	printf("ram %d procs %d unit %d\n", si.totalram > 0, si.procs > 0, si.mem_unit >= 1);
	struct timespec res;
	show("clock_getres monotonic", clock_getres(CLOCK_MONOTONIC, &res));
	printf("resolution %ld ns\n", res.tv_nsec);
	show("clock_getres null", clock_getres(CLOCK_REALTIME, NULL));
	show("clock_getres bad", clock_getres(100, &res));
}

static void credentials(void)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	show("getresuid", getresuid(&r, &e, &s));
	printf("same %d\n", r == getuid() && e == geteuid() && s == e);
	show("getresgid", getresgid(&gr, &ge, &gs));
	printf("same %d\n", gr == getgid() && ge == getegid());
	show("setuid same", setuid(getuid()));
	show("setgid same", setgid(getgid()));
	show("setreuid keep", setreuid((uid_t)-1, geteuid()));
	show("setresuid keep", setresuid((uid_t)-1, (uid_t)-1, (uid_t)-1));
	show("setresgid keep", setresgid(gr, ge, gs));
	show("setuid -1", setuid((uid_t)-1));
	gid_t g[64];
	int n = getgroups(64, g);
	show("setgroups same", setgroups((size_t)n, g));
	struct __user_cap_header_struct h = { 0, 0 };
	show("capget probe", syscall(SYS_capget, &h, NULL));
	printf("version %#x\n", h.version);
	show("capget bad header", syscall(SYS_capget, (void *)8, NULL));
}

static void memory(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 1, (size_t)pg * 3);
	unsigned char vec[3] = { 9, 9, 9 };
	show("mincore", mincore(m, (size_t)pg * 3, vec));
	printf("resident %d %d %d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1);
	show("mincore unaligned", mincore(m + 1, 10, vec));
	show("msync", msync(m, (size_t)pg, MS_SYNC));
	show("msync unaligned", msync(m + 1, 10, MS_SYNC));
	show("msync both", msync(m, (size_t)pg, MS_SYNC | MS_ASYNC));
	show("mlock", mlock(m + 1, 10));
	show("munlock", munlock(m, (size_t)pg));
	show("mlock2 bad flags", syscall(SYS_mlock2, m, pg, 99));
	show("mlockall none", mlockall(0));
	show("mlockall current", mlockall(MCL_CURRENT));
	show("munlockall", munlockall());
	munmap(m + pg, (size_t)pg);
	show("mincore over a hole", mincore(m, (size_t)pg * 3, vec));
	show("msync over a hole", msync(m, (size_t)pg * 3, MS_ASYNC));
	show("mlock over a hole", mlock(m, (size_t)pg * 3));
	munmap(m, (size_t)pg * 3);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setpgid(0, 0); /* a group of its own (natively it shares the test runner's) */
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alrm; /* no SA_RESTART: blocking calls see EINTR */
	sigaction(SIGALRM, &sa, NULL);
	snprintf(dir, sizeof(dir), "/tmp/sysmisc-%d", (int)getpid());
	mkdir(dir, 0755);
	file_io();
	locks();
	copies();
	fds();
	devices();
	files();
	waits();
	sigwaits();
	control();
	scheduling();
	limits();
	credentials();
	memory();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
