// SPDX-License-Identifier: Apache-2.0
// Guest program: the vDSO as Linux offers it — AT_SYSINFO_EHDR names a valid ELF whose versioned
// symbols (LINUX_2.6) are found by hand, its clocks agree with the syscall (a vDSO read, the syscall,
// a vDSO read come out in order), never go backwards across threads (a value one thread saw, another
// never reads below it), fork and exec; gettimeofday and time agree with clock_gettime; other clock ids
// answer as the syscall does; [vdso] in /proc/self/maps; its data page refuses to become writable or
// executable; after munmap the syscall still works and a call into the unmapped vDSO faults.
// Printed as plain answers, compared with native.
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define SPAN_NS 300000000ull /* each thread reads for this long by its own clock (several republishes) */

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*tod_fn)(struct timeval *, void *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static gettime_fn v_gettime, v_getres;
static tod_fn v_tod;
static time_fn v_time;
static getcpu_fn v_getcpu;

static uint64_t ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static uint64_t sys_now(clockid_t c)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, c, &ts);
	return ns(&ts);
}

static uint64_t v_now(clockid_t c)
{
	struct timespec ts;
	v_gettime(c, &ts);
	return ns(&ts);
}

/* Look @name@@LINUX_2.6 up in the vDSO at @eh as a dynamic linker would (dlvsym by hand). */
static void *lookup(const Elf64_Ehdr *eh, const char *name)
{
	const Elf64_Phdr *ph = (const void *)((const char *)eh + eh->e_phoff);
	uintptr_t bias = 0;
	const Elf64_Dyn *dyn = NULL;
	bool load = false;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load) {
			bias = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
			load = true;
		}
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const void *)((const char *)eh + ph[i].p_offset);
	}
	if (!load || !dyn)
		return NULL;
	const Elf64_Sym *sym = NULL;
	const char *str = NULL;
	const Elf32_Word *hash = NULL;
	const Elf64_Versym *versym = NULL;
	const Elf64_Verdef *verdef = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = bias + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: sym = (const void *)p; break;
		case DT_STRTAB: str = (const void *)p; break;
		case DT_HASH: hash = (const void *)p; break;
		case DT_VERSYM: versym = (const void *)p; break;
		case DT_VERDEF: verdef = (const void *)p; break;
		}
	}
	if (!sym || !str || !hash || !versym || !verdef)
		return NULL;
	for (Elf32_Word i = 0; i < hash[1]; i++) {
		if (strcmp(str + sym[i].st_name, name) != 0 || sym[i].st_shndx == SHN_UNDEF ||
		    ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC)
			continue;
		for (const Elf64_Verdef *d = verdef;; d = (const void *)((const char *)d + d->vd_next)) {
			const Elf64_Verdaux *aux = (const void *)((const char *)d + d->vd_aux);
			if (d->vd_ndx == (versym[i] & 0x7fff) && strcmp(str + aux->vda_name, "LINUX_2.6") == 0)
				return (void *)(bias + sym[i].st_value);
			if (!d->vd_next)
				break;
		}
	}
	return NULL;
}

static _Atomic uint64_t seen; /* the highest CLOCK_MONOTONIC any thread has read */
static _Atomic int backwards;

static void *reader(void *arg)
{
	uint64_t start = v_now(CLOCK_MONOTONIC), last = start;
	for (long i = 0; i < 50000000 && last - start < SPAN_NS; i++) {
		uint64_t other = atomic_load(&seen);
		uint64_t t = (i % 1024) == 0 ? sys_now(CLOCK_MONOTONIC) : v_now(CLOCK_MONOTONIC);
		if (t < last || t < other)
			atomic_fetch_add(&backwards, 1);
		last = t;
		uint64_t s = atomic_load(&seen);
		while (s < t && !atomic_compare_exchange_weak(&seen, &s, t))
			;
	}
	return arg;
}

static bool in_order(clockid_t c)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t a = v_now(c), b = sys_now(c), d = v_now(c);
		if (!(a <= b && b <= d))
			return false;
	}
	return true;
}

/* The [vdso] or [vvar] line of /proc/self/maps: its range. */
static bool maps_range(const char *name, uintptr_t *lo, uintptr_t *hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, name) && sscanf(line, "%lx-%lx", lo, hi) == 2) {
			found = true;
			break;
		}
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && strcmp(argv[1], "exec") == 0) { /* after exec: later than the caller's reading */
		printf("exec: %s\n", sys_now(CLOCK_MONOTONIC) >= strtoull(argv[2], NULL, 10) ? "later" : "EARLIER");
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("exec, vDSO: %s\n", ns(&ts) >= strtoull(argv[2], NULL, 10) ? "later" : "EARLIER");
		return 0;
	}
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	printf("AT_SYSINFO_EHDR: %s\n", eh ? "set" : "none");
	if (!eh)
		return 1;
	printf("ELF: %s\n", memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
				    eh->e_type == ET_DYN && eh->e_machine == EM_X86_64
			    ? "a 64-bit shared object"
			    : "bad");
	v_gettime = (gettime_fn)lookup(eh, "__vdso_clock_gettime");
	v_getres = (gettime_fn)lookup(eh, "__vdso_clock_getres");
	v_tod = (tod_fn)lookup(eh, "__vdso_gettimeofday");
	v_time = (time_fn)lookup(eh, "__vdso_time");
	v_getcpu = (getcpu_fn)lookup(eh, "__vdso_getcpu");
	printf("symbols: %s %s %s %s %s\n", v_gettime ? "clock_gettime" : "-", v_getres ? "clock_getres" : "-",
	       v_tod ? "gettimeofday" : "-", v_time ? "time" : "-", v_getcpu ? "getcpu" : "-");
	if (!v_gettime || !v_getres || !v_tod || !v_time || !v_getcpu)
		return 1;
	printf("plain clock_gettime: %s\n", lookup(eh, "clock_gettime") == (void *)v_gettime ? "the same" : "differs");

	/* vDSO, syscall, vDSO: in order, for every clock the vDSO computes */
	static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_COARSE,
					    CLOCK_MONOTONIC_COARSE };
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++)
		printf("clock %d vDSO/syscall/vDSO: %s\n", (int)clocks[i], in_order(clocks[i]) ? "in order" : "OUT OF ORDER");
	uint64_t coarse = v_now(CLOCK_MONOTONIC_COARSE), fine = v_now(CLOCK_MONOTONIC);
	printf("coarse <= fine: %s\n", coarse <= fine ? "yes" : "no");
	struct timespec r1, r2;
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		v_getres(clocks[i], &r1);
		syscall(SYS_clock_getres, clocks[i], &r2);
		printf("clock_getres %d: %s\n", (int)clocks[i], ns(&r1) == ns(&r2) ? "same" : "differs");
	}

	/* Threads: nobody reads below what another already read, across republishes */
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	printf("threads, monotonic: %s\n", atomic_load(&backwards) ? "WENT BACKWARDS" : "never backwards");

	/* gettimeofday and time between two clock_gettime readings */
	bool tod_ok = true, time_ok = true;
	for (int i = 0; i < 1000; i++) {
		struct timeval tv;
		uint64_t a = v_now(CLOCK_REALTIME);
		v_tod(&tv, NULL);
		long t = v_time(NULL), t2;
		v_time(&t2);
		uint64_t b = v_now(CLOCK_REALTIME), us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
		tod_ok &= a / 1000 <= us && us <= b / 1000;
		/* (Linux's time is coarse: up to a tick behind) */
		time_ok &= t <= t2 && (uint64_t)t + 1 >= a / 1000000000u && (uint64_t)t2 <= b / 1000000000u;
	}
	printf("gettimeofday within clock_gettime: %s\n", tod_ok ? "yes" : "no");
	printf("time within clock_gettime: %s\n", time_ok ? "yes" : "no");
	struct timeval tv;
	printf("gettimeofday with a timezone: %d\n", v_tod(&tv, &(struct timezone){ 0 }));

	/* Clock ids the vDSO passes on: as the syscall */
	static const int other[] = { CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_TAI,
				     10, 12, 100, -1, -8 };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		struct timespec a, b;
		int rv = v_gettime(other[i], &a);
		long rs = syscall(SYS_clock_gettime, other[i], &b);
		printf("clock %d: vDSO %d, syscall %ld%s\n", other[i], rv, rs < 0 ? -errno : rs,
		       rv == 0 && rs == 0 && (int64_t)(ns(&b) - ns(&a)) >= 0 ? ", in order" : "");
	}
	printf("NULL timespec: %d\n", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, NULL) < 0 ? -errno : 0);

	unsigned cpu = ~0u, node = ~0u;
	long gr = v_getcpu(&cpu, &node, NULL);
	printf("getcpu: %ld, %s\n", gr, cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF) && node < 64 ? "sane" : "INSANE");

	/* Across fork: the child reads later than the parent did, through the same vDSO address */
	uint64_t before = v_now(CLOCK_MONOTONIC);
	pid_t pid = fork();
	if (pid == 0)
		_exit(v_now(CLOCK_MONOTONIC) >= before && getauxval(AT_SYSINFO_EHDR) == (uintptr_t)eh ? 0 : 1);
	int st;
	waitpid(pid, &st, 0);
	printf("fork: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "later" : "EARLIER");
	pid = fork();
	if (pid == 0) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%llu", (unsigned long long)v_now(CLOCK_MONOTONIC));
		execl("/proc/self/exe", "vdso", "exec", arg, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);

	uintptr_t lo, hi, vlo, vhi;
	bool in_maps = maps_range("[vdso]", &lo, &hi);
	printf("[vdso] in maps: %s\n", in_maps && lo == (uintptr_t)eh ? "at AT_SYSINFO_EHDR" : "no");
	if (maps_range("[vvar]", &vlo, &vhi)) {
		int w = mprotect((void *)vlo, 4096, PROT_READ | PROT_WRITE), we = errno;
		int x = mprotect((void *)vlo, 4096, PROT_READ | PROT_EXEC), xe = errno;
		printf("[vvar] writable: %d %s, executable: %d %s\n", w, strerror(we), x, strerror(xe));
	}

	/* A debugger may write the image (a breakpoint: the tracee's own copy) but not the data page */
	pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(v_now(CLOCK_MONOTONIC) >= before ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	if (in_maps) {
		errno = 0;
		long word = ptrace(PTRACE_PEEKDATA, pid, (void *)lo, NULL);
		long poke_img = ptrace(PTRACE_POKEDATA, pid, (void *)lo, (void *)word);
		int img_err = errno;
		long poke_vvar = maps_range("[vvar]", &vlo, &vhi) ? ptrace(PTRACE_POKEDATA, pid, (void *)vlo, NULL) : -2;
		printf("POKEDATA: image %ld %s, data page %ld %s\n", poke_img, strerror(img_err), poke_vvar, strerror(errno));
	}
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	waitpid(pid, &st, 0);
	printf("traced child: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "later" : "EARLIER");

	/* Unmapped: the syscall still answers; glibc's saved pointer into the vDSO faults (as on Linux) */
	if (in_maps && munmap((void *)lo, hi - lo) == 0) {
		struct timespec ts;
		printf("after munmap, syscall: %ld\n", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
		pid = fork();
		if (pid == 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		printf("after munmap, clock_gettime: %s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "returned");
	}
	return 0;
}
