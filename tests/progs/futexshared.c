// SPDX-License-Identifier: Apache-2.0
// Guest program: futexes shared between processes — raw FUTEX_WAIT/WAKE on a MAP_SHARED page across a
// fork, and a process-shared pthread mutex and condition variable — and a private mapping, where the
// same address in parent and child is two different futexes; and a futex in a shared file mapping
// that two processes map at different addresses. Prints what happens; the test compares
// the output with a native run.
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	_Atomic uint32_t word;
	pthread_mutex_t m;
	pthread_cond_t c;
	int ready;
};

static long futex(void *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* A futex word in a file both processes map shared, at different addresses: a wait in the child
 * meets the parent's wake. */
static void file_futex(void)
{
	char path[] = "/tmp/cvisor-futex-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		return;
	_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pid_t c = fork();
	if (c == 0) {
		void *pad = mmap(NULL, 8 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		_Atomic uint32_t *cw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		(void)pad;
		atomic_store(&cw[1], cw != w); /* mapped elsewhere */
		while (atomic_load(cw) == 0)
			futex((void *)cw, FUTEX_WAIT, 0, NULL);
		_exit(atomic_load(cw) == 7 ? 0 : 1);
	}
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	nanosleep(&nap, NULL);
	atomic_store(w, 7);
	long woken = futex((void *)w, FUTEX_WAKE, 1, NULL);
	int st;
	waitpid(c, &st, 0);
	printf("file futex: child mapped it elsewhere %u, woke %ld, child exit %d\n", (unsigned)atomic_load(&w[1]), woken,
	       WEXITSTATUS(st));
	unlink(path);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&sh->m, &ma);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&sh->c, &ca);

	pid_t c = fork();
	if (c == 0) {
		usleep(50000);
		atomic_store(&sh->word, 1);
		futex(&sh->word, FUTEX_WAKE, 1, NULL); /* shared: no FUTEX_PRIVATE_FLAG */
		pthread_mutex_lock(&sh->m);
		sh->ready = 1;
		pthread_cond_signal(&sh->c);
		pthread_mutex_unlock(&sh->m);
		_exit(0);
	}
	while (atomic_load(&sh->word) == 0)
		futex(&sh->word, FUTEX_WAIT, 0, NULL);
	printf("woken by the child: %u\n", atomic_load(&sh->word));
	pthread_mutex_lock(&sh->m);
	while (!sh->ready)
		pthread_cond_wait(&sh->c, &sh->m);
	pthread_mutex_unlock(&sh->m);
	printf("condition variable across processes: %d\n", sh->ready);
	int st;
	waitpid(c, &st, 0);

	/* A private page: the child's wake does not reach the parent's wait (it times out). */
	static _Atomic uint32_t priv;
	c = fork();
	if (c == 0) {
		usleep(20000);
		futex(&priv, FUTEX_WAKE, 1, NULL);
		_exit(0);
	}
	struct timespec ts = { 0, 200000000 };
	long r = futex(&priv, FUTEX_WAIT, 0, &ts);
	printf("private page, wait: %ld (timed out: %d)\n", r, r < 0);
	waitpid(c, &st, 0);
	file_futex();
	return 0;
}
