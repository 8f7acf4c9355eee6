// SPDX-License-Identifier: Apache-2.0
// Guest program: futexes shared between processes — raw FUTEX_WAIT/WAKE on a MAP_SHARED page across a
// fork, and a process-shared pthread mutex and condition variable — and a private mapping, where the
// same address in parent and child is two different futexes. Prints what happens; the test compares
// the output with a native run.
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
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
	return 0;
}
