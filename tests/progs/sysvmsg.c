// SPDX-License-Identifier: Apache-2.0
// SysV message queues, printed so that native and sandboxed runs compare line by line (ids are never
// printed): msgget by IPC_PRIVATE and by key, msgsnd/msgrcv by type (0, > 0, < 0, MSG_EXCEPT),
// MSG_NOERROR and E2BIG, MSG_COPY, IPC_NOWAIT both ways, a full queue whose sender waits for a
// receiver, a receiver that waits for a sender (a child), EIDRM, EINTR, IPC_STAT/IPC_SET (msg_qbytes),
// IPC_INFO/MSG_INFO/MSG_STAT and the errors. Every queue made is removed again.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

struct m {
	long type;
	char text[64];
};

static const char *err(long r)
{
	return r < 0 ? strerrorname_np(errno) : "ok";
}

static int snd(int q, long type, const char *text, int flags)
{
	struct m b = { .type = type };
	strcpy(b.text, text);
	return msgsnd(q, &b, strlen(text) + 1, flags);
}

/* Receive and print what came (or the error). */
static void rcv(int q, const char *what, size_t size, long type, int flags)
{
	struct m b = { 0 };
	long n = msgrcv(q, &b, size, type, flags);
	if (n < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld bytes, type %ld, \"%.*s\"\n", what, n, b.type, (int)n, b.text);
}

static unsigned long qnum(int q)
{
	struct msqid_ds ds;
	return msgctl(q, IPC_STAT, &ds) == 0 ? (unsigned long)ds.msg_qnum : 999;
}

/* Wait (up to 5 s) until process @pid sleeps (its state in /proc/PID/stat is S): in its msgrcv. */
static void sleeping(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		const char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		usleep(1000);
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("private: %s\n", err(q));
	struct msqid_ds ds;
	msgctl(q, IPC_STAT, &ds);
	printf("stat: qnum %lu cbytes %lu qbytes %lu mode %o ctime-set %d\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777,
	       ds.msg_ctime != 0);

	snd(q, 3, "three", 0);
	snd(q, 1, "one", 0);
	snd(q, 2, "two", 0);
	snd(q, 1, "uno", 0);
	msgctl(q, IPC_STAT, &ds);
	printf("sent 4: qnum %lu cbytes %lu lspid-is-me %d\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, ds.msg_lspid == getpid());
	rcv(q, "copy of index 2", sizeof(struct m) - sizeof(long), 2, MSG_COPY | IPC_NOWAIT);
	rcv(q, "copy of index 9", sizeof(struct m) - sizeof(long), 9, MSG_COPY | IPC_NOWAIT);
	rcv(q, "copy without IPC_NOWAIT", sizeof(struct m) - sizeof(long), 0, MSG_COPY);
	rcv(q, "type 2", 64, 2, 0);
	rcv(q, "too small", 2, 0, IPC_NOWAIT);
	rcv(q, "cut (MSG_NOERROR)", 2, 0, MSG_NOERROR);
	rcv(q, "lowest up to 3", 64, -3, 0);
	rcv(q, "not type 1 (MSG_EXCEPT)", 64, 1, MSG_EXCEPT | IPC_NOWAIT);
	rcv(q, "type 1", 64, 1, IPC_NOWAIT);
	rcv(q, "empty, nowait", 64, 0, IPC_NOWAIT);
	msgctl(q, IPC_STAT, &ds);
	printf("now: qnum %lu cbytes %lu lrpid-is-me %d\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, ds.msg_lrpid == getpid());

	/* A child waits for a message of type 7; the parent sends one of type 5, then 7. */
	pid_t c = fork();
	if (c == 0) {
		rcv(q, "child got", 64, 7, 0);
		_exit(0);
	}
	snd(q, 5, "five", 0);
	usleep(20000);
	snd(q, 7, "seven", 0);
	int st;
	waitpid(c, &st, 0);
	printf("left: %lu\n", qnum(q));
	rcv(q, "then", 64, 0, IPC_NOWAIT);

	/* A small queue: the sender waits until a receiver makes room. */
	ds.msg_qbytes = 10;
	msgctl(q, IPC_STAT, &ds);
	ds.msg_qbytes = 10;
	printf("IPC_SET qbytes 10: %s\n", err(msgctl(q, IPC_SET, &ds)));
	snd(q, 1, "12345678", 0);
	printf("full, nowait: %s\n", err(snd(q, 1, "abc", IPC_NOWAIT)));
	c = fork();
	if (c == 0) {
		printf("child's send: %s\n", err(snd(q, 2, "abc", 0)));
		_exit(0);
	}
	sleeping(c);
	struct m room;
	long n = msgrcv(q, &room, 64, 0, 0);
	waitpid(c, &st, 0); /* (its line first, then this one) */
	printf("made room: %ld bytes, \"%s\"\n", n, n > 0 ? room.text : "");
	rcv(q, "the waiting sender's", 64, 0, IPC_NOWAIT);

	/* Interrupted (with SA_RESTART too): EINTR; removed while waiting: EIDRM. */
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	c = fork();
	if (c == 0) {
		rcv(q, "signalled receiver", 64, 0, 0);
		_exit(0);
	}
	sleeping(c);
	while (waitpid(c, &st, WNOHANG) == 0) { /* (again, should one come before its msgrcv) */
		kill(c, SIGUSR1);
		usleep(20000);
	}
	c = fork();
	if (c == 0) {
		rcv(q, "receiver of a removed queue", 64, 0, 0);
		_exit(0);
	}
	sleeping(c);
	const char *e = err(msgctl(q, IPC_RMID, NULL));
	waitpid(c, &st, 0);
	printf("IPC_RMID: %s, then send: %s\n", e, err(snd(q, 1, "x", 0)));

	/* By key. */
	key_t key = (key_t)(0x43580000 | (getpid() & 0xffff));
	while (msgget(key, 0) >= 0) /* (natively: a key nobody uses) */
		key++;
	int k = msgget(key, IPC_CREAT | IPC_EXCL | 0640);
	printf("key create: %s, again: same %d\n", err(k), msgget(key, 0) == k);
	e = err(msgget(key, IPC_CREAT | IPC_EXCL));
	printf("key excl: %s, missing: %s\n", e, err(msgget(key + 1, 0)));
	msgctl(k, IPC_STAT, &ds);
	printf("key matches %d mode %o\n", ds.msg_perm.__key == key, ds.msg_perm.mode & 0777);
	ds.msg_perm.gid = (gid_t)-1;
	printf("IPC_SET gid -1: %s\n", err(msgctl(k, IPC_SET, &ds)));

	struct msginfo in;
	long hi = msgctl(0, IPC_INFO, (struct msqid_ds *)&in);
	printf("IPC_INFO: %s msgmax %d msgmnb %d\n", err(hi), in.msgmax, in.msgmnb);
	snd(k, 4, "four", 0);
	hi = msgctl(0, MSG_INFO, (struct msqid_ds *)&in);
	printf("MSG_INFO: %s queues >= 1 %d\n", err(hi), in.msgpool >= 1);
	int found = 0;
	for (long i = 0; i <= hi; i++)
		found += msgctl((int)i, MSG_STAT, &ds) == k;
	printf("MSG_STAT finds it: %d\n", found);

	/* Errors. */
	printf("type 0: %s\n", err(snd(k, 0, "x", 0)));
	static struct m big;
	big.type = 1;
	printf("too big: %s\n", err(msgsnd(k, &big, 8193, 0)));
	printf("bad buffer: %s\n", err(msgsnd(k, (void *)8, 4, 0)));
	printf("bad id: %s\n", err(snd(-1, 1, "x", 0)));
	printf("negative size: %s\n", err(msgrcv(k, &big, (size_t)-1, 0, IPC_NOWAIT)));
	printf("copy with except: %s\n", err(msgrcv(k, &big, 64, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT)));
	printf("bad cmd: %s\n", err(msgctl(k, 12345, &ds)));
	e = err(msgctl(k, IPC_RMID, NULL));
	printf("remove: %s, again: %s\n", e, err(msgctl(k, IPC_RMID, NULL)));
	return 0;
}
