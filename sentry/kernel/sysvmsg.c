// SPDX-License-Identifier: Apache-2.0
// SysV message queues (msgget, msgsnd, msgrcv, msgctl) in the sandbox's own IPC namespace, as
// kernel/sysvsem.c's semaphores: queues are the sentry's memory under the futex lock, and a sender
// waiting for room or a receiver waiting for a message sleeps as a futex waiter (a token of this file
// and the queue's slot as key), so signals, the group's end and the shutdown interrupt it, and every
// change to a queue wakes its waiters to look again. Linux's rules: a message of type > 0 and at most
// MSGMAX bytes, a queue holding at most msg_qbytes bytes and as many messages, msgrcv's types (0: the
// first; > 0: the first of that type, or of another with MSG_EXCEPT; < 0: the first of the lowest type
// up to its absolute value), MSG_NOERROR (else E2BIG, the message kept), IPC_NOWAIT (EAGAIN to send,
// ENOMSG to receive), MSG_COPY, EIDRM, EINTR whatever SA_RESTART says; IPC_STAT/IPC_SET (msg_qbytes
// past MSGMNB needs CAP_SYS_RESOURCE)/IPC_RMID, IPC_INFO/MSG_INFO/MSG_STAT(_ANY); a default namespace's
// limits and the x86-64 msqid_ds layout. Nothing is copied from or to the application under the lock.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

#define MSQ_SLOTS 32000u /* MSGMNI */
#define MSG_MAX 8192     /* MSGMAX: bytes in one message */
#define MSG_MNB 16384    /* MSGMNB: a new queue's msg_qbytes */
#define MSQ_ID_SHIFT 15
#define MSQ_SEQ_MAX (0x7fffffffu >> MSQ_ID_SHIFT)
#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

_Static_assert(sizeof(struct msqid_ds) == 120, "x86-64 msqid64_ds");

struct msg {
	long type;
	size_t len;
	struct msg *next;
	char text[];
};

struct msg_q {
	int32_t key;
	uint32_t seq;
	struct ipc_ids ids;
	struct msg *head, **tail;
	uint64_t cbytes, qnum, qbytes;
	int64_t stime, rtime, ctime;
	int lspid, lrpid;
};

static _Alignas(8) const char token; /* the waiters' key: never a memory's or a file's */

/* (futex lock held for everything below but the syscall entries) */

static struct msg_q *by_id(const struct sentry *s, int64_t id, uint32_t *slot)
{
	if (id < 0 || id > 0x7fffffff || !s->msq)
		return NULL;
	uint64_t i = (uint64_t)id & ((1u << MSQ_ID_SHIFT) - 1);
	struct msg_q *q = i < MSQ_SLOTS ? s->msq[i] : NULL;
	if (!q || q->seq != (uint64_t)id >> MSQ_ID_SHIFT)
		return NULL;
	if (slot)
		*slot = (uint32_t)i;
	return q;
}

static long id_of(const struct msg_q *q, uint32_t slot)
{
	return (long)q->seq << MSQ_ID_SHIFT | slot;
}

static void wake_queue(struct sentry *s, uint32_t slot)
{
	for (struct futex_waiter *w = s->futex_waiters; w; w = w->next)
		if (w->key == &token && w->addr == slot)
			pthread_cond_signal(&w->cond);
}

static void free_queue(struct msg_q *q)
{
	while (q->head) {
		struct msg *m = q->head;
		q->head = m->next;
		free(m);
	}
	free(q);
}

static long msq_get(struct process *pr, int32_t key, uint64_t flg)
{
	struct sentry *s = pr->s;
	if (!s->msq && !(s->msq = calloc(MSQ_SLOTS, sizeof(*s->msq))))
		return -ENOMEM;
	uint32_t slot = MSQ_SLOTS;
	for (uint32_t i = 0; i < MSQ_SLOTS; i++) {
		struct msg_q *q = s->msq[i];
		if (!q) {
			slot = slot == MSQ_SLOTS ? i : slot;
		} else if (key != IPC_PRIVATE && q->key == key) {
			if ((flg & IPC_CREAT) && (flg & IPC_EXCL))
				return -EEXIST;
			return ipc_allowed(pr, &q->ids, (unsigned)flg & 0777) ? id_of(q, i) : -EACCES;
		}
	}
	if (key != IPC_PRIVATE && !(flg & IPC_CREAT))
		return -ENOENT;
	struct msg_q *q = slot < MSQ_SLOTS ? calloc(1, sizeof(*q)) : NULL;
	if (!q)
		return slot < MSQ_SLOTS ? -ENOMEM : -ENOSPC;
	const struct creds *c = &pr->cred;
	*q = (struct msg_q){ .key = key, .seq = s->msq_seq,
			     .ids = { c->uid[1], c->gid[1], c->uid[1], c->gid[1], (uint32_t)flg & 0777 },
			     .qbytes = MSG_MNB, .ctime = time(NULL) };
	q->tail = &q->head;
	s->msq_seq = s->msq_seq >= MSQ_SEQ_MAX ? 0 : s->msq_seq + 1;
	s->msq[slot] = q;
	return id_of(q, slot);
}

/*
 * Wait on queue @slot (futex lock held) until something changes there: 0 to look again, -EINTR,
 * -EIDRM (the queue went: @q is not looked at again) or, past @deadline if any, -EAGAIN.
 */
static int wait_change(struct task *t, uint32_t slot, const struct msg_q *q, uint32_t seq)
{
	struct sentry *s = t->proc->s;
	struct futex_waiter w = { .key = &token, .addr = slot, .bitset = ~0u, .next = s->futex_waiters };
	pthread_cond_init(&w.cond, NULL);
	s->futex_waiters = &w;
	int ret = 0;
	if (__atomic_load_n(&s->shutting_down, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&t->proc->group_exit, __ATOMIC_ACQUIRE) || sig_interrupting(t)) {
		ret = -EINTR;
	} else {
		cpu_block_begin(t);
		pthread_cond_wait(&w.cond, &s->futex_lock);
		cpu_block_end(t);
	}
	for (struct futex_waiter **pp = &s->futex_waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_cond_destroy(&w.cond);
	if (s->msq[slot] != q || q->seq != seq)
		return -EIDRM;
	if (ret == 0 && (__atomic_load_n(&t->proc->group_exit, __ATOMIC_ACQUIRE) || sig_interrupting(t)))
		ret = -EINTR;
	return ret;
}

static long msq_snd(struct task *t, int64_t id, uint64_t umsg, int64_t size, uint64_t flg)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (size < 0 || size > MSG_MAX || id < 0)
		return -EINVAL;
	long type;
	if (mm_copy_in(pr, umsg, &type, sizeof(type)) < 0)
		return -EFAULT;
	if (type < 1)
		return -EINVAL;
	struct msg *m = malloc(sizeof(*m) + (size_t)size);
	if (!m)
		return -ENOMEM;
	*m = (struct msg){ .type = type, .len = (size_t)size };
	if (mm_copy_in(pr, umsg + sizeof(long), m->text, (size_t)size) < 0) {
		free(m);
		return -EFAULT;
	}
	pthread_mutex_lock(&s->futex_lock);
	uint32_t slot;
	struct msg_q *q = by_id(s, id, &slot);
	uint32_t seq = q ? q->seq : 0;
	long ret = !q ? -EINVAL : !ipc_allowed(pr, &q->ids, 0222) ? -EACCES : 1;
	while (ret == 1) {
		if (q->cbytes + (uint64_t)size <= q->qbytes && q->qnum + 1 <= q->qbytes) {
			*q->tail = m;
			q->tail = &m->next;
			q->cbytes += (uint64_t)size;
			q->qnum++;
			q->stime = time(NULL);
			q->lspid = pr->pid;
			m = NULL;
			wake_queue(s, slot);
			ret = 0;
		} else if (flg & IPC_NOWAIT) {
			ret = -EAGAIN;
		} else {
			int r = wait_change(t, slot, q, seq);
			ret = r < 0 ? r : 1;
		}
	}
	pthread_mutex_unlock(&s->futex_lock);
	free(m);
	return ret;
}

/* The message msgrcv's @type and @flg pick (its link in *@at), or NULL. */
static struct msg *pick(struct msg_q *q, long type, uint64_t flg, struct msg ***at)
{
	struct msg *best = NULL, **best_at = NULL;
	long index = 0;
	for (struct msg **pp = &q->head; *pp; pp = &(*pp)->next, index++) {
		struct msg *m = *pp;
		bool take = (flg & MSG_COPY) ? index == type
			    : type == 0 ? true
			    : type > 0 ? ((flg & MSG_EXCEPT) ? m->type != type : m->type == type)
			    : m->type <= -type && (!best || m->type < best->type);
		if (!take)
			continue;
		best = m, best_at = pp;
		if (type >= 0 || (flg & MSG_COPY) || m->type == 1)
			break; /* (for a negative type, 1 is the lowest there can be) */
	}
	*at = best_at;
	return best;
}

static long msq_rcv(struct task *t, int64_t id, uint64_t umsg, int64_t size, long type, uint64_t flg)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (id < 0 || size < 0)
		return -EINVAL;
	if ((flg & MSG_COPY) && (!(flg & IPC_NOWAIT) || (flg & MSG_EXCEPT) || type < 0))
		return -EINVAL;
	pthread_mutex_lock(&s->futex_lock);
	uint32_t slot;
	struct msg_q *q = by_id(s, id, &slot);
	uint32_t seq = q ? q->seq : 0;
	long ret = !q ? -EINVAL : !ipc_allowed(pr, &q->ids, 0444) ? -EACCES : 1;
	struct msg *got = NULL;
	while (ret == 1) {
		struct msg **at, *m = pick(q, type, flg, &at);
		if (m && (size_t)size < m->len && !(flg & MSG_NOERROR)) {
			ret = -E2BIG; /* (it stays) */
		} else if (m && (flg & MSG_COPY)) {
			if ((got = malloc(sizeof(*got) + m->len)))
				memcpy(got, m, sizeof(*got) + m->len);
			ret = got ? 0 : -ENOMEM;
		} else if (m) {
			*at = m->next;
			if (q->tail == &m->next)
				q->tail = at;
			q->cbytes -= m->len;
			q->qnum--;
			q->rtime = time(NULL);
			q->lrpid = pr->pid;
			got = m;
			wake_queue(s, slot);
			ret = 0;
		} else if (flg & IPC_NOWAIT) {
			ret = -ENOMSG;
		} else {
			int r = wait_change(t, slot, q, seq);
			ret = r < 0 ? r : 1;
		}
	}
	pthread_mutex_unlock(&s->futex_lock);
	if (ret < 0)
		return ret;
	size_t n = got->len < (size_t)size ? got->len : (size_t)size; /* (MSG_NOERROR cuts it) */
	ret = (long)n;
	if (mm_copy_out(pr, umsg, &got->type, sizeof(got->type)) < 0 ||
	    mm_copy_out(pr, umsg + sizeof(long), got->text, n) < 0)
		ret = -EFAULT; /* the message is gone, as on Linux */
	free(got);
	return ret;
}

static void fill_ds(const struct msg_q *q, struct msqid_ds *ds)
{
	memset(ds, 0, sizeof(*ds));
	ipc_perm_fill(&ds->msg_perm, q->key, &q->ids, q->seq, 0);
	ds->msg_stime = q->stime;
	ds->msg_rtime = q->rtime;
	ds->msg_ctime = q->ctime;
	ds->__msg_cbytes = q->cbytes;
	ds->msg_qnum = q->qnum;
	ds->msg_qbytes = q->qbytes;
	ds->msg_lspid = q->lspid;
	ds->msg_lrpid = q->lrpid;
}

static long msq_ctl(struct process *pr, int64_t id, int64_t cmd, uint64_t ubuf)
{
	struct sentry *s = pr->s;
	long ret;
	switch (cmd) {
	case IPC_INFO:
	case MSG_INFO: {
		struct msginfo in = { .msgpool = MSQ_SLOTS * MSG_MNB / 1024, .msgmap = MSG_MNB,
				      .msgmax = MSG_MAX, .msgmnb = MSG_MNB, .msgmni = MSQ_SLOTS, .msgssz = 16,
				      .msgtql = MSG_MNB, .msgseg = 0xffff };
		long hi = 0;
		pthread_mutex_lock(&s->futex_lock);
		int queues = 0;
		uint64_t msgs = 0, bytes = 0;
		for (uint32_t i = 0; s->msq && i < MSQ_SLOTS; i++)
			if (s->msq[i]) {
				hi = i, queues++;
				msgs += s->msq[i]->qnum;
				bytes += s->msq[i]->cbytes;
			}
		pthread_mutex_unlock(&s->futex_lock);
		if (cmd == MSG_INFO) {
			in.msgpool = queues;
			in.msgmap = (int)msgs;
			in.msgtql = (int)bytes;
		}
		return mm_copy_out(pr, ubuf, &in, sizeof(in)) < 0 ? -EFAULT : hi;
	}
	case MSG_STAT:
	case MSG_STAT_ANY:
	case IPC_STAT: {
		struct msqid_ds ds;
		pthread_mutex_lock(&s->futex_lock);
		uint32_t slot = (uint32_t)id;
		struct msg_q *q = cmd == IPC_STAT ? by_id(s, id, &slot)
				  : id >= 0 && id < MSQ_SLOTS && s->msq ? s->msq[id] : NULL;
		ret = !q ? -EINVAL : cmd != MSG_STAT_ANY && !ipc_allowed(pr, &q->ids, 0444) ? -EACCES
		      : cmd == IPC_STAT ? 0 : id_of(q, slot);
		if (q)
			fill_ds(q, &ds);
		pthread_mutex_unlock(&s->futex_lock);
		return ret < 0 ? ret : mm_copy_out(pr, ubuf, &ds, sizeof(ds)) < 0 ? -EFAULT : ret;
	}
	case IPC_SET: {
		struct msqid_ds ds;
		if (mm_copy_in(pr, ubuf, &ds, sizeof(ds)) < 0)
			return -EFAULT;
		pthread_mutex_lock(&s->futex_lock);
		uint32_t slot;
		struct msg_q *q = by_id(s, id, &slot);
		bool resource = pr->cred.cap_eff & (1ull << 24 /* CAP_SYS_RESOURCE */);
		ret = !q ? -EINVAL : !ipc_owner(pr, &q->ids) ? -EPERM
		      : ds.msg_qbytes > MSG_MNB && !resource ? -EPERM : 0;
		if (ret == 0 && (ret = ipc_set_perm(&q->ids, &ds.msg_perm)) == 0) {
			q->qbytes = ds.msg_qbytes;
			q->ctime = time(NULL);
			wake_queue(s, slot); /* more room, maybe */
		}
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	case IPC_RMID: {
		pthread_mutex_lock(&s->futex_lock);
		uint32_t slot;
		struct msg_q *q = by_id(s, id, &slot);
		ret = !q ? -EINVAL : !ipc_owner(pr, &q->ids) ? -EPERM : 0;
		if (ret == 0) {
			s->msq[slot] = NULL;
			free_queue(q);
			wake_queue(s, slot); /* its waiters end with EIDRM */
		}
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	default:
		return -EINVAL;
	}
}

void msq_free(struct sentry *s)
{
	for (uint32_t i = 0; s->msq && i < MSQ_SLOTS; i++)
		if (s->msq[i])
			free_queue(s->msq[i]);
	free(s->msq);
	s->msq = NULL;
}

static long msq_get_locked(struct process *pr, int32_t key, uint64_t flg)
{
	pthread_mutex_lock(&pr->s->futex_lock);
	long r = msq_get(pr, key, flg);
	pthread_mutex_unlock(&pr->s->futex_lock);
	return r;
}

SYSCALL_ENTRY(msgget, msq_get_locked(t->proc, (int32_t)a[0], a[1]))
SYSCALL_ENTRY(msgsnd, msq_snd(t, (int32_t)a[0], a[1], (int64_t)a[2], a[3]))
SYSCALL_ENTRY(msgrcv, msq_rcv(t, (int32_t)a[0], a[1], (int64_t)a[2], (long)a[3], a[4]))
SYSCALL_ENTRY(msgctl, msq_ctl(t->proc, (int32_t)a[0], (int32_t)a[1], a[2]))
