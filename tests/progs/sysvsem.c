// SPDX-License-Identifier: Apache-2.0
// SysV semaphores, printed so that native and sandboxed runs compare line by line (ids are never
// printed): semget by IPC_PRIVATE and by key, SETVAL/GETVAL/SETALL/GETALL/GETPID, semop all or nothing,
// IPC_NOWAIT, a child blocked until the parent's semop (GETNCNT, GETZCNT), semtimedop's timeout,
// SEM_UNDO undone at exit and cleared by SETVAL, EIDRM for a waiter whose set goes, EINTR on a
// signal (SA_RESTART or not), IPC_STAT/IPC_SET, IPC_INFO/SEM_INFO/SEM_STAT and the errors. Every set
// made is removed again.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static const char *err(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

static int val(int id, int n)
{
	return semctl(id, n, GETVAL);
}

/* Wait (up to 5 s) until semctl(id, n, cmd) says @want: a child has gone to sleep in a semop. */
static int until(int id, int n, int cmd, int want)
{
	for (int i = 0; i < 5000; i++) {
		if (semctl(id, n, cmd) == want)
			return 1;
		usleep(1000);
	}
	return 0;
}

static int op(int id, unsigned short n, short delta, short flags)
{
	struct sembuf b = { n, delta, flags };
	return semop(id, &b, 1);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A child that waits in a semop on semaphore @n for @delta; exits with 0 and errno's name printed. */
static pid_t waiter(int id, unsigned short n, short delta, const char *what)
{
	pid_t c = fork();
	if (c == 0) {
		int r = op(id, n, delta, 0);
		printf("%s: %s\n", what, err(r));
		_exit(0);
	}
	return c;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	printf("private: %s\n", err(id));
	struct semid_ds ds;
	union semun u = { .buf = &ds };
	semctl(id, 0, IPC_STAT, u);
	printf("stat: nsems %lu mode %o otime %ld ctime-set %d uid-is-me %d\n", (unsigned long)ds.sem_nsems,
	       ds.sem_perm.mode & 0777, (long)ds.sem_otime, ds.sem_ctime != 0, ds.sem_perm.uid == geteuid());
	printf("values at first: %d %d %d\n", val(id, 0), val(id, 1), val(id, 2));

	u.val = 5;
	const char *e = err(semctl(id, 1, SETVAL, u));
	printf("SETVAL: %s, GETVAL %d, GETPID-is-me %d\n", e, val(id, 1), semctl(id, 1, GETPID) == getpid());
	unsigned short all[3] = { 1, 2, 3 }, got[3] = { 0 };
	u.array = all;
	e = err(semctl(id, 0, SETALL, u));
	u.array = got;
	const char *e2 = err(semctl(id, 0, GETALL, u));
	printf("SETALL: %s, GETALL: %s %d %d %d\n", e, e2, got[0], got[1], got[2]);

	struct sembuf two[2] = { { 0, 1, 0 }, { 1, -5, IPC_NOWAIT } };
	e = err(semop(id, two, 2));
	printf("all or nothing: %s, values %d %d\n", e, val(id, 0), val(id, 1));
	two[1].sem_op = -2;
	e = err(semop(id, two, 2));
	semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds });
	printf("both: %s, values %d %d, otime-set %d\n", e, val(id, 0), val(id, 1), ds.sem_otime != 0);
	e = err(op(id, 2, 0, IPC_NOWAIT));
	printf("wait-for-zero, nowait, value 3: %s\n", e);

	/* A child waits to take 4 from semaphore 0 (now 2); the parent gives 2 more. */
	pid_t c = waiter(id, 0, -4, "child took 4");
	printf("child waits (GETNCNT 1): %d\n", until(id, 0, GETNCNT, 1));
	op(id, 0, 2, 0);
	int st;
	waitpid(c, &st, 0);
	printf("value after: %d, GETNCNT %d\n", val(id, 0), semctl(id, 0, GETNCNT));
	/* One waits for semaphore 2 to be 0 */
	c = waiter(id, 2, 0, "child saw zero");
	printf("child waits (GETZCNT 1): %d\n", until(id, 2, GETZCNT, 1));
	op(id, 2, -3, 0);
	waitpid(c, &st, 0);

	struct timespec t0, t1, to = { 0, 50 * 1000 * 1000 };
	struct sembuf take = { 0, -1, 0 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = err(semtimedop(id, &take, 1, &to));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("semtimedop 50 ms: %s, waited >= 45 ms %d\n", e, ms >= 45);
	to.tv_nsec = 2000000000;
	printf("semtimedop bad timeout: %s\n", err(semtimedop(id, &take, 1, &to)));

	/* SEM_UNDO: a child's +2 and -1 are undone when it exits; SETVAL clears what it would undo. */
	u.val = 1;
	semctl(id, 1, SETVAL, u);
	c = fork();
	if (c == 0) {
		op(id, 1, 2, SEM_UNDO);
		op(id, 1, -1, SEM_UNDO);
		_exit(val(id, 1) == 2 ? 0 : 1);
	}
	waitpid(c, &st, 0);
	printf("SEM_UNDO: child saw 2 %d, after its exit %d\n", WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       val(id, 1));
	c = fork();
	if (c == 0) {
		op(id, 1, 3, SEM_UNDO);
		union semun v = { .val = 10 };
		semctl(id, 1, SETVAL, v);
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("SETVAL cleared the undo: %d\n", val(id, 1));
	printf("undo past the range: %s\n", err(op(id, 1, -20000, SEM_UNDO | IPC_NOWAIT)));

	/* Interrupted by a signal, with SA_RESTART too: EINTR. */
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	u.val = 0;
	semctl(id, 0, SETVAL, u);
	c = waiter(id, 0, -1, "signalled waiter");
	until(id, 0, GETNCNT, 1);
	kill(c, SIGUSR1);
	waitpid(c, &st, 0);
	/* Removed while one waits: EIDRM. */
	c = waiter(id, 0, -1, "waiter of a removed set");
	printf("waits: %d\n", until(id, 0, GETNCNT, 1));
	e = err(semctl(id, 0, IPC_RMID));
	waitpid(c, &st, 0);
	printf("IPC_RMID: %s, then GETVAL: %s\n", e, err(val(id, 0)));

	/* By key. */
	key_t key = (key_t)(0x43570000 | (getpid() & 0xffff));
	while (semget(key, 0, 0) >= 0) /* (natively: a key nobody uses) */
		key++;
	int k = semget(key, 2, IPC_CREAT | IPC_EXCL | 0640);
	printf("key create: %s\n", err(k));
	printf("key again: same %d, fewer: same %d\n", semget(key, 2, 0) == k, semget(key, 0, 0) == k);
	printf("key more: %s\n", err(semget(key, 3, 0)));
	printf("key excl: %s\n", err(semget(key, 2, IPC_CREAT | IPC_EXCL | 0600)));
	printf("key missing: %s\n", err(semget(key + 1, 1, 0)));
	semctl(k, 0, IPC_STAT, (union semun){ .buf = &ds });
	ds.sem_perm.mode = 0604;
	e = err(semctl(k, 0, IPC_SET, (union semun){ .buf = &ds }));
	semctl(k, 0, IPC_STAT, (union semun){ .buf = &ds });
	printf("IPC_SET: %s, mode %o, key matches %d\n", e, ds.sem_perm.mode & 0777,
	       ds.sem_perm.__key == key);
	ds.sem_perm.uid = (uid_t)-1;
	printf("IPC_SET uid -1: %s\n", err(semctl(k, 0, IPC_SET, (union semun){ .buf = &ds })));

	struct seminfo in;
	long hi = semctl(0, 0, IPC_INFO, (union semun){ .__buf = &in });
	printf("IPC_INFO: %s semmsl %d semopm %d semvmx %d\n", err(hi), in.semmsl, in.semopm, in.semvmx);
	hi = semctl(0, 0, SEM_INFO, (union semun){ .__buf = &in });
	printf("SEM_INFO: %s sets >= 1 %d\n", err(hi), in.semusz >= 1);
	int found = 0;
	for (long i = 0; i <= hi; i++)
		found += semctl((int)i, 0, SEM_STAT, (union semun){ .buf = &ds }) == k;
	printf("SEM_STAT finds it: %d\n", found);

	/* Errors. */
	u.val = 40000;
	printf("SETVAL 40000: %s\n", err(semctl(k, 0, SETVAL, u)));
	u.val = 32767;
	semctl(k, 0, SETVAL, u);
	printf("past 32767: %s\n", err(op(k, 0, 1, 0)));
	static struct sembuf many[501];
	printf("501 operations: %s\n", err(semop(k, many, 501)));
	printf("no operations: %s\n", err(semop(k, many, 0)));
	printf("semaphore 5 of 2: %s\n", err(op(k, 5, 1, 0)));
	printf("bad id: %s\n", err(op(-1, 0, 1, 0)));
	printf("bad operations: %s\n", err(semop(k, (struct sembuf *)8, 1)));
	printf("GETVAL of 2: %s\n", err(semctl(k, 2, GETVAL)));
	printf("bad cmd: %s\n", err(semctl(k, 0, 12345)));
	printf("zero semaphores: %s\n", err(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600)));
	printf("too many: %s\n", err(semget(IPC_PRIVATE, 40000, IPC_CREAT | 0600)));
	e = err(semctl(k, 0, IPC_RMID));
	printf("remove: %s, again: %s\n", e, err(semctl(k, 0, IPC_RMID)));
	return 0;
}
