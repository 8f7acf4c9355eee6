// SPDX-License-Identifier: Apache-2.0
// Hostile applications against the memory a stub shares with them (systrap): an application thread
// overwrites or races its slot, the queue, the thread pages, the alternate stacks and the state words.
// The address space may die with an error; the sentry, other address spaces and the host never
// notice, and nothing leaks. Platforms that share no memory with the application skip.
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <dirent.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "as_util.h"
#include "systrap/systrap_internal.h"

GUEST_BLOB(g_tamper);
GUEST_BLOB(g_tamper_race);

struct shared_view {
	uint64_t shm;   /* the shared file's first (read-only) page in the stub */
	uint64_t alt;   /* the alternate stacks */
};

/* Where the application can find the stub's shared memory (it could: it is in its address space). */
static bool find_shared(int pid, struct shared_view *v)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	memset(v, 0, sizeof(*v));
	uint64_t shm_end = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) != 3)
			continue;
		if (strstr(line, "cvisor-systrap (deleted)") || strstr(line, "cvisor-systrap\n")) {
			if (!v->shm)
				v->shm = a;
			shm_end = b;
		} else if (shm_end && a == shm_end && !v->alt && perms[0] == 'r' && perms[1] == 'w') {
			v->alt = a;
		}
	}
	fclose(f);
	return v->shm != 0;
}

/* Run the tamper guest in a fresh address space of @p until its address space dies or 20 rounds pass. */
static void tamper_once(struct guest *g, uint64_t off, uint64_t len, uint64_t pattern, bool use_alt)
{
	struct cv_as *as;
	int pid = as_new_find_stub(g->p, &as);
	struct shared_view mine;
	ASSERT_TRUE(find_shared(pid, &mine));
	map_blob(g, as, GUEST_CODE_ADDR, g_tamper_start, g_tamper_end);
	struct cv_ctx *c = new_ctx(g, 0, GUEST_CODE_ADDR);
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	r->rdi = (use_alt ? mine.alt : mine.shm) + off;
	r->rsi = len;
	r->rdx = pattern;
	for (int round = 0; round < 20; round++) {
		struct cv_exit e;
		int ret = cv_ctx_switch(c, as, &e);
		if (ret < 0) {
			EXPECT_TRUE(ret == -CV_ETAMPERED || ret == -CV_EASDEAD);
			break;
		}
		/* Whatever came back must be a well-formed exit. */
		EXPECT_TRUE(e.reason >= CV_EXIT_SYSCALL && e.reason <= CV_EXIT_INTERRUPT);
		if (e.reason == CV_EXIT_SIGNAL)
			break; /* the guest's own write faulted (the range was not writable) */
		r->rax = 0;
	}
	ASSERT_OK(cv_ctx_release(c));
	ASSERT_OK(cv_as_release(as));
}

PLATFORM_TEST_TIMEOUT(tamper_shared_memory_with_garbage, 180)
{
	struct guest g;
	guest_setup(&g, platform, g_tamper_start, g_tamper_end);
	struct cv_as *probe;
	int pid = as_new_find_stub(g.p, &probe);
	struct shared_view v;
	bool shared = find_shared(pid, &v);
	ASSERT_OK(cv_as_release(probe));
	if (!shared) {
		guest_teardown(&g);
		SKIP("%s shares no memory with the application", platform);
	}
	/* The bystander: its own address space, checked after every attack. */
	struct cv_as *other;
	ASSERT_OK(cv_as_new(g.p, &other));
	map_blob(&g, other, GUEST_CODE_ADDR, g_tamper_start, g_tamper_end);
	struct cv_ctx *oc = new_ctx(&g, 0, GUEST_CODE_ADDR);
	uint64_t ooff = mf_alloc(&g, PG, NULL);
	ASSERT_OK(cv_as_map(other, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), ooff, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	struct counts before = take_counts();

	static const struct {
		const char *what;
		uint64_t off, len;
		bool alt;
	} regions[] = {
		{ "control page and queue", 0x1000, 0x2000, false },
		{ "queue ring only", 0x2000, 0x1000, false },
		{ "thread pages (state, self, ctx, register file)", 0x10000, 0x4000, false },
		{ "slot headers and registers", 0x200000, 0x10000, false },
		{ "slot state words only", 0x200000 + 0x180, 8, false }, /* ST_SLOT_STATE_OFF */
		{ "thread 0's mailbox", 0x10000 + 0x40, 4, false },
		{ "alternate stacks", 0, 0x20000, true },
		{ "the read-only request page", 0, 0x1000, false },
	};
	static const uint64_t patterns[] = { 0, ~0ull, 0x4141414100000003ull, 0x0000000100000002ull };
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
			tamper_once(&g, regions[i].off, regions[i].len, patterns[k], regions[i].alt);
			/* The other address space is untouched and works. */
			cv_ctx_state(oc)->regs.rip = GUEST_CODE_ADDR;
			cv_ctx_state(oc)->regs.rdi = GUEST_DATA_ADDR;
			cv_ctx_state(oc)->regs.rsi = 8;
			cv_ctx_state(oc)->regs.rdx = 0x5eed + i;
			run_expect_syscall(oc, other, 0x620);
		}
	EXPECT_COUNTS(before);
	ASSERT_OK(cv_ctx_release(oc));
	ASSERT_OK(cv_as_release(other));
	guest_teardown(&g);
}

struct racer {
	struct guest *g;
	struct cv_as *as;
	struct cv_ctx *c;
	int ret;
	pthread_t t;
};

/* Run the racer until the test interrupts it (or its address space dies). */
static void *race_main(void *arg)
{
	struct racer *rc = arg;
	struct cv_exit e;
	rc->ret = cv_ctx_switch(rc->c, rc->as, &e);
	return NULL;
}

struct nagger {
	struct cv_ctx *c;
	atomic_bool stop;
	pthread_t t;
};

/* The sentry asks for the victim back now and then, as a kernel does (timers, signals, exit). */
static void *nag_main(void *arg)
{
	struct nagger *n = arg;
	while (!atomic_load(&n->stop)) {
		usleep(200000);
		cv_ctx_interrupt(n->c);
	}
	return NULL;
}

/*
 * A second application thread keeps rewriting the shared memory while the first makes syscalls. A
 * forged state word can keep the victim looking busy, like an application thread that loops; when the
 * sentry asks for it back, it gets it or an error for the address space.
 */
PLATFORM_TEST_TIMEOUT(tamper_races_with_running_contexts, 180)
{
	struct guest g;
	guest_setup(&g, platform, g_tamper_start, g_tamper_end);
	static const struct {
		uint64_t off, len;
	} targets[] = { { 0x200000, 0x40 },   { 0x200000, 0x4000 }, { 0x1040, 0x20 }, { 0x10000, 0x2000 },
			{ 0x2000, 0x40 },     { 0x200180, 0x8 } /* the slot's state word */,
			{ 0x10040, 0x4 } /* thread 0's mailbox: context numbers handed to it */,
			/* thread 0's parked and must_ring words: parks that never ring */
			{ ST_THREAD_FOFF + offsetof(struct st_thread, parked), 0x8 },
			/* park_ok: parking where the sentry says not to */
			{ ST_CTL_FOFF + offsetof(struct st_control, park_ok), 0x4 } };
	struct counts before = take_counts();
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct cv_as *as;
		int pid = as_new_find_stub(g.p, &as);
		struct shared_view v;
		if (!find_shared(pid, &v)) {
			ASSERT_OK(cv_as_release(as));
			guest_teardown(&g);
			SKIP("%s shares no memory with the application", platform);
		}
		map_blob(&g, as, GUEST_CODE_ADDR, g_tamper_start, g_tamper_end);
		map_blob(&g, as, GUEST_CODE_ADDR + PG, g_tamper_race_start, g_tamper_race_end);
		uint64_t doff = mf_alloc(&g, PG, NULL);
		ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), doff, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
		/* The racer rewrites the target forever; the victim writes only its own data page. */
		struct racer rc = { .g = &g, .as = as, .c = new_ctx(&g, 0, GUEST_CODE_ADDR + PG) };
		struct cv_regs *rr = &cv_ctx_state(rc.c)->regs;
		rr->rdi = v.shm + targets[i].off;
		rr->rsi = targets[i].len;
		rr->rdx = 0x0000000300000001ull * (i + 1);
		ASSERT_EQ(pthread_create(&rc.t, NULL, race_main, &rc), 0);
		struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
		struct cv_regs *r = &cv_ctx_state(c)->regs;
		r->rdi = GUEST_DATA_ADDR;
		r->rsi = 8;
		r->rdx = 1;
		struct nagger ng = { .c = c };
		ASSERT_EQ(pthread_create(&ng.t, NULL, nag_main, &ng), 0);
		for (int round = 0; round < 200; round++) {
			struct cv_exit e;
			int ret = cv_ctx_switch(c, as, &e);
			if (ret < 0) {
				/* -EINVAL: the registers that came back are the application's to forge (an FS
				 * base past user space, as wrfsbase could set), and the next switch refuses them */
				EXPECT_TRUE(ret == -CV_ETAMPERED || ret == -CV_EASDEAD || ret == -EINVAL);
				break;
			}
			EXPECT_TRUE(e.reason >= CV_EXIT_SYSCALL && e.reason <= CV_EXIT_INTERRUPT);
		}
		atomic_store(&ng.stop, true);
		pthread_join(ng.t, NULL);
		cv_ctx_interrupt(rc.c);
		pthread_join(rc.t, NULL);
		EXPECT_TRUE(rc.ret == 0 || rc.ret == -CV_ETAMPERED || rc.ret == -CV_EASDEAD);
		ASSERT_OK(cv_ctx_release(c));
		ASSERT_OK(cv_ctx_release(rc.c));
		ASSERT_OK(cv_as_release(as));
		ASSERT_OK(cv_memfile_decref(g.mf, doff, PG));
		/* The platform still works. */
		g.st->regs.rip = GUEST_CODE_ADDR;
		g.st->regs.rdi = GUEST_STACK_ADDR;
		g.st->regs.rsi = 8;
		g.st->regs.rdx = 7;
		ASSERT_EQ(guest_run_syscall(&g), 0x620);
	}
	EXPECT_COUNTS(before);
	guest_teardown(&g);
}

/* SIGKILL to one stub thread (it takes its whole stub down): an error for that address space only. */
PLATFORM_TEST_TIMEOUT(tamper_stub_thread_killed, 60)
{
	struct guest g;
	guest_setup(&g, platform, g_tamper_start, g_tamper_end);
	struct counts before = take_counts();
	struct cv_as *as;
	int pid = as_new_find_stub(g.p, &as);
	map_blob(&g, as, GUEST_CODE_ADDR, g_tamper_start, g_tamper_end);
	uint64_t doff = mf_alloc(&g, PG, NULL);
	ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), doff, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	r->rdi = GUEST_DATA_ADDR;
	r->rsi = 8;
	run_expect_syscall(c, as, 0x620);
	/* The last thread of the stub is the newest (one that runs contexts where there are such). */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	ASSERT_TRUE(d != NULL);
	int victim = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (atoi(de->d_name) > victim)
			victim = atoi(de->d_name);
	closedir(d);
	ASSERT_GT(victim, 0);
	ASSERT_OK((int)syscall(SYS_tgkill, pid, victim, SIGKILL));
	wait_dead(pid);
	struct cv_exit e;
	EXPECT_EQ(cv_ctx_switch(c, as, &e), -CV_EASDEAD);
	EXPECT_EQ(cv_as_map(as, GUEST_DATA_ADDR + PG, cv_memfile_fd(g.mf), doff, PG, CV_ACCESS_READ, false), -CV_EASDEAD);
	ASSERT_OK(cv_ctx_release(c));
	ASSERT_OK(cv_as_release(as));
	ASSERT_OK(cv_memfile_decref(g.mf, doff, PG));
	EXPECT_COUNTS(before);
	g.st->regs.rdi = GUEST_STACK_ADDR;
	g.st->regs.rsi = 8;
	ASSERT_EQ(guest_run_syscall(&g), 0x620);
	guest_teardown(&g);
}

GUEST_BLOB(g_plant);
GUEST_BLOB(g_loiter);

/*
 * An application leaves a context of its own running in its stub: it queues a slot again behind the
 * sentry's back, and a stub thread takes it after the application's last trap. Whatever it does there,
 * it must not reach memory the caller frees after cv_as_release(): without the stub pool the stub has
 * ended when the release returns (the count stands still); with it, the stub ends later on the pool's
 * thread, and the pages the caller frees meanwhile are not handed out again before it has (fences on
 * the memory file): a page that comes back from cv_memfile_alloc() stays zero.
 */
static void planted_context_run(const char *platform, bool pool)
{
	struct counts before = take_counts();
	struct guest g;
	memset(&g, 0, sizeof(g));
	struct cv_platform_opts o = { .size = sizeof(o), .flags = pool ? CV_PLATFORM_STUB_POOL : 0 };
	ASSERT_OK(cv_platform_open(platform, &o, &g.p));
	struct cv_memfile_opts mo = { .size = sizeof(mo), .flags = CV_MEMFILE_ASYNC_FREE };
	ASSERT_OK(cv_memfile_new(&mo, &g.mf));
	struct cv_as *as;
	ASSERT_OK(cv_as_new(g.p, &as));
	map_blob(&g, as, GUEST_CODE_ADDR, g_plant_start, g_plant_end);
	map_blob(&g, as, GUEST_CODE_ADDR + PG, g_loiter_start, g_loiter_end);
	volatile uint64_t *counter;
	uint64_t coff = mf_alloc(&g, PG, (void **)&counter);
	ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), coff, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	/* The context to plant: its slot holds its registers at its trap, before the counting loop. */
	struct cv_ctx *loiter = new_ctx(&g, 0, GUEST_CODE_ADDR + PG);
	cv_ctx_state(loiter)->regs.r8 = GUEST_DATA_ADDR;
	run_expect_syscall(loiter, as, 0x623);
	/* Where the application finds the queue: the window is at the same address in every stub. */
	uint64_t shm = st_platform(g.p)->base + ST_SHM_OFF;
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	r->rdi = shm + ST_CTL_FOFF + offsetof(struct st_control, q_tail);
	r->rsi = shm + ST_QUEUE_FOFF;
	r->rdx = ((struct st_ctx *)loiter->priv)->slot;
	r->r10 = ST_QUEUE_LEN - 1;
	run_expect_syscall(c, as, 0x622);
	/* The planted context runs (counts) with no switch of the sentry's: the threat this is about. */
	for (int i = 0; i < 2000 && *counter == 0; i++)
		usleep(1000);
	ASSERT_NE(*counter, 0);
	ASSERT_OK(cv_ctx_release(c));
	ASSERT_OK(cv_ctx_release(loiter));
	/* A second address space keeps the pool's thread busy making new stubs (a millisecond each), as
	 * a forking program does: the released stub waits for its kill meanwhile. */
	struct cv_as *spare;
	ASSERT_OK(cv_as_new(g.p, &spare));
	ASSERT_OK(cv_as_release(as));
	if (!pool) {
		uint64_t at_release = *counter;
		usleep(50000);
		EXPECT_EQ(*counter, at_release);
	} else {
		/* Free the page the planted context writes; allocate page after page (first fit: it is the
		 * lowest free one once clean) until it comes back, then watch it. */
		cv_memfile_decref(g.mf, coff, PG);
		bool back = false;
		for (int i = 0; i < 10000 && !back; i++) {
			void *p;
			uint64_t off = mf_alloc(&g, PG, &p);
			if (off != coff) {
				usleep(200);
				continue;
			}
			back = true;
			EXPECT_EQ(*(volatile uint64_t *)p, 0);
			usleep(20000);
			EXPECT_EQ(*(volatile uint64_t *)p, 0);
		}
		EXPECT_TRUE(back);
	}
	ASSERT_OK(cv_as_release(spare));
	cv_memfile_close(g.mf);
	ASSERT_OK(cv_platform_close(g.p));
	EXPECT_COUNTS(before);
}

PLATFORM_TEST_TIMEOUT(tamper_planted_context_stops_at_release, 60)
{
	if (strcmp(platform, "systrap") != 0)
		SKIP("%s shares no queue with the application", platform);
	planted_context_run(platform, false);
	planted_context_run(platform, true);
}
