// SPDX-License-Identifier: Apache-2.0
// A stub's seccomp listener: the syscall thread's channel (requests out, results back as the
// arguments of its doorbell's notification) and parked stub threads.
//
// A stub thread of a one-thread address space with nothing to run parks by ringing the same doorbell
// (its inherited notification filter makes that a notification too) instead of sleeping on the queue.
// The sentry answers that notification to hand it the next context. With
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6) both directions are same-CPU hand-offs: the answer
// puts the stub thread on the sentry thread's CPU, and its next doorbell wakes a sentry thread waiting
// on the listener on the stub thread's CPU. A futex wake-up instead lets the scheduler pick another
// CPU, and waking a halted vCPU goes through the hypervisor: a one-CPU ping-pong between two processes
// costs ~35-40 us a round trip here over futexes, ~5 us over the listener.
//
// One thread at a time receives from the listener: the holder of inj_lock. What it receives is sorted
// here: the syscall thread's doorbell (have_notif), a park (the token kept in park_id), anything else
// answered at once.
#include <linux/seccomp.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "systrap/systrap_internal.h"

#define SYNC_FLAG ((unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
#define PARK_WAIT_US 20      /* a parking thread rings (or takes back its word) within microseconds... */
#define PARK_WAIT_ROUNDS 5000 /* ...unless it lost its CPU: after 100 ms the context is queued instead */

int st_rx(struct st_as *sas, int64_t timeout_us, bool nudgeable)
{
	struct pollfd pfd[3] = { { sas->listener, POLLIN, 0 }, { sas->pidfd, POLLIN, 0 },
				 { nudgeable ? sas->nudge_fd : -1, POLLIN, 0 } };
	struct timespec ts = { timeout_us / 1000000, timeout_us % 1000000 * 1000 };
	int n = ppoll(pfd, 3, timeout_us < 0 ? NULL : &ts, NULL);
	if (n < 0 && errno == EINTR)
		return ST_RX_NONE;
	if (n < 0 || pfd[1].revents || (pfd[0].revents & (POLLHUP | POLLERR)))
		return st_mark_dead(sas, false);
	if (n == 0)
		return ST_RX_TIMEOUT;
	if (!(pfd[0].revents & POLLIN)) {
		uint64_t v; /* a nudge: the caller looks at rx_want */
		if ((pfd[2].revents & POLLIN) && read(sas->nudge_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			cv_debug("systrap: nudge: %s", strerror(errno));
		return ST_RX_NONE;
	}
	struct seccomp_notif notif;
	memset(&notif, 0, sizeof(notif));
	if (ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0) {
		if (errno == EINTR || errno == ENOENT)
			return ST_RX_NONE;
		return st_mark_dead(sas, false);
	}
	if (notif.data.nr != ST_DOORBELL_NR)
		return st_mark_dead(sas, true); /* the filter notifies nothing else */
	if (notif.pid == (uint32_t)sas->pid) {
		/* The syscall thread rings only after an answer: never twice for one. */
		if (sas->have_notif)
			return st_mark_dead(sas, true);
		sas->notif_id = notif.id;
		sas->have_notif = true;
		sas->rx_result = (long)notif.data.args[0];
		sas->rx_done = (long)notif.data.args[1];
		return ST_RX_DOORBELL;
	}
	/* A stub thread (or an application that jumped to the stub's doorbell: only its own thread waits
	 * for the answer). Kept: the one thread of a one-thread address space parking with nothing
	 * claimed (its tid may not be known yet while it is being made). Anything else goes on at once:
	 * 0 for a thread that claimed a context meanwhile, -1 (sleep on the queue) otherwise. */
	const __u64 *a = notif.data.args;
	int t0 = sas->tids[0];
	if (a[0] == ST_PARK && a[1] == 0 && a[2] == 0 && sas->sync && atomic_load(&sas->nthreads) <= 1 &&
	    (t0 == 0 || t0 == (int)notif.pid)) {
		sas->park_id = notif.id; /* (a thread waits for one answer at a time: an older id is stale) */
		sas->park_pid = (int)notif.pid;
		atomic_store(&sas->park_have, true);
		return ST_RX_PARK;
	}
	struct seccomp_notif_resp resp = { .id = notif.id, .val = a[0] == ST_PARK && a[2] ? 0 : -1 };
	ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* (ENOENT: it is gone; nothing to do) */
	return ST_RX_PARK;
}

/* Wait for the syscall thread's next doorbell; its arguments are the result of the last request and,
 * after a batch, the number of entries done. */
static int recv_doorbell(struct st_as *sas, long *result, long *done)
{
	for (;;) {
		int r = st_rx(sas, -1, false);
		if (r < 0)
			return r;
		if (r == ST_RX_DOORBELL) {
			*result = sas->rx_result;
			if (done)
				*done = sas->rx_done;
			return 0;
		}
	}
}

/* Hand the request page (already written) to the syscall thread and wait for its answer. */
static int run_request(struct st_as *sas, long *ret, long *done)
{
	struct seccomp_notif_resp resp = { .id = sas->notif_id, .val = 0, .error = 0, .flags = 0 };
	sas->have_notif = false;
	if (ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
		return st_mark_dead(sas, false);
	return recv_doorbell(sas, ret, done);
}

int st_channel_lock(struct st_as *sas)
{
	if (pthread_mutex_trylock(&sas->inj_lock) != 0) {
		/* A sentry thread may hold it waiting on the listener for its context: ask it to wait on
		 * the context's futex instead (it looks at rx_want after saying it waits there). */
		atomic_fetch_add(&sas->rx_want, 1);
		if (atomic_load(&sas->rx_waiting)) {
			uint64_t one = 1;
			if (write(sas->nudge_fd, &one, sizeof(one)) < 0)
				cv_debug("systrap: nudge: %s", strerror(errno));
		}
		pthread_mutex_lock(&sas->inj_lock);
		atomic_fetch_sub(&sas->rx_want, 1);
	}
	long dummy;
	if (atomic_load(&sas->dead))
		return st_mark_dead(sas, false);
	if (!sas->have_notif)
		return recv_doorbell(sas, &dummy, NULL);
	return 0;
}

void st_channel_unlock(struct st_as *sas)
{
	pthread_mutex_unlock(&sas->inj_lock);
}

bool st_unpark_locked(struct st_as *sas, struct st_slot *s, uint32_t n, bool here)
{
	struct st_thread *th = st_thread_page(sas, 0);
	for (int i = 0; i < PARK_WAIT_ROUNDS && !atomic_load(&sas->park_have); i++) {
		/* said it parks, has not rung yet (or has, unseen): its ring is on its way */
		if (!__atomic_load_n(&th->parked, __ATOMIC_SEQ_CST) || st_rx(sas, PARK_WAIT_US, false) < 0)
			return false;
	}
	if (!atomic_exchange(&sas->park_have, false))
		return false;
	struct seccomp_notif_resp resp = { .id = sas->park_id, .val = n, .error = 0, .flags = 0 };
	if (n && !here)
		resp.val |= ST_PARK_AWAY;
	if (sas->park_pid != sas->tids[0])
		resp.val = -1; /* not the thread it is now (never expected) */
	if (n && resp.val != -1) {
		__atomic_store_n(&s->thread, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&s->state, ST_C_QUEUED, __ATOMIC_RELEASE);
	}
	/* Elsewhere: the flag off for this one answer (every answer is sent under inj_lock). */
	if (!here)
		ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 0ul);
	int sent = ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	if (!here)
		ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_FLAG);
	if (sent == 0)
		return resp.val != -1;
	if (n) { /* gone meanwhile (a stub being killed): the caller queues it */
		__atomic_store_n(&s->thread, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->state, ST_C_IDLE, __ATOMIC_RELEASE);
	}
	return false;
}

void st_release_parked_locked(struct st_as *sas)
{
	if (atomic_load(&sas->park_have))
		st_unpark_locked(sas, NULL, 0, true);
	/* With more than one thread st_rx answers each park it receives (-1: sleep on the queue); the
	 * thread takes its word back once answered. One that said it parks rings within microseconds. */
	bool any = false;
	for (int i = 0; i < atomic_load(&sas->nthreads); i++) {
		const uint32_t *parked = &st_thread_page(sas, i)->parked;
		for (int r = 0; r < PARK_WAIT_ROUNDS && __atomic_load_n(parked, __ATOMIC_SEQ_CST); r++)
			if (st_rx(sas, PARK_WAIT_US, false) < 0)
				return;
		any = any || __atomic_load_n(parked, __ATOMIC_SEQ_CST);
	}
	if (!any)
		atomic_store(&sas->park_stray, false);
}

int st_inject(struct st_as *sas, uint32_t op, long nr, const uint64_t args[6], long *ret)
{
	int r = st_channel_lock(sas);
	if (r == 0) {
		sas->req->op = op;
		sas->req->nr = (uint64_t)nr;
		memcpy(sas->req->args, args, sizeof(sas->req->args));
		r = run_request(sas, ret, NULL);
	}
	st_channel_unlock(sas);
	return r;
}

int st_inject_batch(struct st_as *sas, const long *nr, const uint64_t (*args)[6], size_t n, long *ret, size_t *done)
{
	*done = 0;
	int r = st_channel_lock(sas);
	if (r == 0) {
		sas->req->op = ST_OP_BATCH;
		sas->req->nr = n;
		for (size_t i = 0; i < n; i++) {
			sas->req->batch[i].nr = (uint64_t)nr[i];
			memcpy(sas->req->batch[i].args, args[i], sizeof(sas->req->batch[i].args));
		}
		long d = 0;
		r = run_request(sas, ret, &d);
		/* The count comes from the syscall thread's registers, in the kernel-made notification. */
		if (r == 0 && (d < 0 || (size_t)d > n))
			r = st_mark_dead(sas, true);
		else if (r == 0)
			*done = (size_t)d;
	}
	st_channel_unlock(sas);
	return r;
}
