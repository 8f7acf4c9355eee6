// SPDX-License-Identifier: Apache-2.0
// SysV shared memory, printed so that native and sandboxed runs compare line by line (ids and
// addresses are never printed, only what follows from them): shmget by IPC_PRIVATE and by key
// (IPC_CREAT, IPC_EXCL, ENOENT, a larger size), shmat (NULL, SHM_RND, SHM_RDONLY, SHM_REMAP, an
// occupied range), the pages shared with a fork's child and with a second attach, nattch through
// fork, exit and shmdt, IPC_STAT/IPC_SET/IPC_RMID (an attached segment outlives its removal, its key
// does not), SHM_STAT, IPC_INFO/SHM_INFO, and the errors. Every segment made is removed again.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

static unsigned long nattch(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : 999;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
	printf("private: %s\n", err(id));
	struct shmid_ds ds;
	shmctl(id, IPC_STAT, &ds);
	printf("stat: size %zu nattch %lu mode %o key %d cpid-is-me %d uid-is-me %d\n", (size_t)ds.shm_segsz,
	       (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777, ds.shm_perm.__key,
	       ds.shm_cpid == getpid(), ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid());

	char *p = shmat(id, NULL, 0);
	printf("attach: %s aligned %d zeroed %d nattch %lu\n",
	       p == (void *)-1 ? strerrorname_np(errno) : "ok", ((uintptr_t)p & 4095) == 0,
	       p[0] == 0 && p[9999] == 0 && p[12287] == 0, nattch(id));
	strcpy(p, "parent");
	shmctl(id, IPC_STAT, &ds);
	printf("lpid-is-me %d atime-set %d\n", ds.shm_lpid == getpid(), ds.shm_atime != 0);

	/* A child inherits the attach, shares the pages and attaches once more. */
	pid_t c = fork();
	if (c == 0) {
		printf("child sees \"%s\" nattch %lu\n", p, nattch(id));
		char *q = shmat(id, NULL, 0);
		printf("child second attach: same pages %d nattch %lu\n",
		       q != (void *)-1 && strcmp(q, "parent") == 0, nattch(id));
		strcpy(q + 100, "child");
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("after child: \"%s\" nattch %lu\n", p + 100, nattch(id));

	/* A read-only attach reads the same pages; a write through it faults. */
	char *r = shmat(id, NULL, SHM_RDONLY);
	printf("read-only attach: %s sees \"%s\" nattch %lu\n", err(r == (void *)-1 ? -1 : 0),
	       r != (void *)-1 ? r : "", nattch(id));
	c = fork();
	if (c == 0) {
		r[0] = 'x';
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("write through it: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : "no fault");
	const char *e1 = err(shmdt(r)), *e2 = err(shmdt(r)), *e3 = err(shmdt(p + 1));
	printf("shmdt read-only: %s, again: %s, unaligned: %s, nattch %lu\n", e1, e2, e3, nattch(id));

	/* Addresses: SHM_RND, unaligned without it, an occupied range, SHM_REMAP over it. */
	char *area = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(area, 8 * 4096);
	char *at = shmat(id, area + 4096 + 17, SHM_RND);
	printf("SHM_RND: %s at the rounded address %d sees \"%s\"\n",
	       at == (void *)-1 ? strerrorname_np(errno) : "ok", at == area + 4096,
	       at != (void *)-1 ? at : "");
	shmdt(at);
	errno = 0;
	char *bad = shmat(id, area + 17, 0);
	printf("unaligned without SHM_RND: %s\n", bad == (void *)-1 ? strerrorname_np(errno) : "ok");
	char *busy = mmap(area, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			  0);
	printf("over a mapping: %s\n", shmat(id, busy, 0) == (void *)-1 ? strerrorname_np(errno) : "ok");
	char *re = shmat(id, busy, SHM_REMAP);
	printf("SHM_REMAP: %s sees \"%s\"\n", re == busy ? "ok" : strerrorname_np(errno),
	       re == busy ? re : "");
	shmdt(re);
	munmap(area, 8 * 4096);

	/* By key. */
	key_t key = (key_t)(0x43560000 | (getpid() & 0xffff));
	while (shmget(key, 0, 0) >= 0) /* (natively: a key nobody uses) */
		key++;
	int k = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0640);
	printf("key create: %s\n", err(k));
	printf("key again: same id %d\n", shmget(key, 4096, 0) == k);
	printf("key smaller: same id %d\n", shmget(key, 100, 0) == k);
	printf("key larger: %s\n", err(shmget(key, 8192, 0)));
	printf("key excl: %s\n", err(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)));
	printf("key missing: %s\n", err(shmget(key + 1 == IPC_PRIVATE ? key + 2 : key + 1, 4096, 0)));
	shmctl(k, IPC_STAT, &ds);
	printf("key stat: key matches %d mode %o\n", ds.shm_perm.__key == key, ds.shm_perm.mode & 0777);
	ds.shm_perm.mode = 0604;
	printf("IPC_SET: %s\n", err(shmctl(k, IPC_SET, &ds)));
	shmctl(k, IPC_STAT, &ds);
	printf("mode now %o\n", ds.shm_perm.mode & 0777);
	ds.shm_perm.uid = (uid_t)-1;
	printf("IPC_SET uid -1: %s\n", err(shmctl(k, IPC_SET, &ds)));

	/* Removed while attached: the id and the pages stay, the key goes; the last detach ends it. */
	char *kp = shmat(k, NULL, 0);
	strcpy(kp, "kept");
	printf("IPC_RMID attached: %s\n", err(shmctl(k, IPC_RMID, NULL)));
	shmctl(k, IPC_STAT, &ds);
	printf("after: dest %d nattch %lu key gone %s data \"%s\"\n", (ds.shm_perm.mode & SHM_DEST) != 0,
	       (unsigned long)ds.shm_nattch, err(shmget(key, 4096, 0)), kp);
	c = fork(); /* a child's exit detaches its inherited copy */
	if (c == 0)
		_exit(nattch(k) == 2 ? 0 : 1);
	waitpid(c, &st, 0);
	printf("child saw 2: %d, now %lu\n", WIFEXITED(st) && WEXITSTATUS(st) == 0, nattch(k));
	e1 = err(shmdt(kp));
	printf("last shmdt: %s, then stat: %s\n", e1, err(shmctl(k, IPC_STAT, &ds)));

	/* The namespace's own counts. */
	struct shminfo info;
	e1 = err(shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
	printf("IPC_INFO: %s shmmin %lu shmmni >= 4096 %d\n", e1, (unsigned long)info.shmmin,
	       info.shmmni >= 4096);
	struct shm_info sinfo;
	long hi = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("SHM_INFO: %s used >= 1 %d\n", err(hi), sinfo.used_ids >= 1);
	int found = 0;
	for (long i = 0; i <= hi; i++) {
		int sid = shmctl((int)i, SHM_STAT, &ds);
		found += sid == id;
	}
	printf("SHM_STAT finds the segment: %d\n", found);

	/* Errors. */
	printf("size 0: %s\n", err(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600)));
	printf("bad id attach: %s, stat: %s, rmid: %s\n", err(shmat(-1, NULL, 0) == (void *)-1 ? -1 : 0),
	       err(shmctl(0x7fff0000, IPC_STAT, &ds)), err(shmctl(-5, IPC_RMID, NULL)));
	printf("bad cmd: %s\n", err(shmctl(id, 12345, &ds)));
	printf("an id of the slot past 4096: %s\n", err(shmctl(id + 4096, IPC_STAT, &ds)));
	printf("stat to a bad buffer: %s\n", err(shmctl(id, IPC_STAT, (struct shmid_ds *)8)));

	e1 = err(shmdt(p));
	e2 = err(shmctl(id, IPC_RMID, NULL));
	printf("detach and remove: %s %s, stat after: %s\n", e1, e2, err(shmctl(id, IPC_STAT, &ds)));
	return 0;
}
