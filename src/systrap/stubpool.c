// SPDX-License-Identifier: Apache-2.0
// The stub pool (CV_PLATFORM_STUB_POOL): a platform thread keeps ST_POOL_READY stubs prepared (process,
// shared file, first stub thread) ahead of cv_as_new(), and finishes the teardown of released ones.
//
// Making a stub costs about a millisecond on a VM (a clone of the source stub, its mappings, two seccomp
// filters compiled by the kernel, the first stub thread), and so does reaping one; an application
// fork+exec pays both twice. The pool moves that work off the caller's path onto a CPU that is usually
// idle meanwhile. It prepares one stub at once, for the first cv_as_new() (the sentry loads its first
// program meanwhile), and fills up from the second on: a program that never forks or execs pays for no
// more. A released stub is killed, waited for and
// unmapped here too: sending SIGKILL to a process of several threads alone costs ~150 us on a VM (a
// wake-up of each), twice per fork+exec. A released stub may still run a context the application
// queued behind the sentry's back (the queue is in its address space) until it is reaped here: fences
// on the memory files it maps keep what is freed meanwhile from being handed out again, lowered by
// st_sas_free once the stub is gone (systrap.c, st_as_release).
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include "systrap/systrap_internal.h"

static void *pool_main(void *arg)
{
	struct st_platform *sp = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&sp->pool_lock);
	while (!sp->pool_stop) {
		struct st_as *dying = sp->pool_dying;
		/* One for the first cv_as_new() at once (a sentry's first process: made while the caller
		 * loads its program), then none until a second is asked for (a program that never forks). */
		int want = sp->pool_takes >= 2 ? ST_POOL_READY : sp->pool_takes == 0 ? 1 : 0;
		if (sp->pool_n < want && !sp->pool_failed) {
			/* Prepared first: a caller may be about to need one. */
			pthread_mutex_unlock(&sp->pool_lock);
			int err;
			struct st_as *sas = st_sas_prepare(sp, &err);
			pthread_mutex_lock(&sp->pool_lock);
			if (!sas) {
				sp->pool_failed = true; /* cv_as_new() makes its own and reports the error */
			} else if (sp->pool_stop || sp->pool_n == ST_POOL_READY) {
				st_as_kill(sas);
				sas->next = sp->pool_dying;
				sp->pool_dying = sas;
			} else {
				sp->pool[sp->pool_n++] = sas;
			}
		} else if (dying) {
			sp->pool_dying = dying->next;
			pthread_mutex_unlock(&sp->pool_lock);
			st_sas_free(dying);
			pthread_mutex_lock(&sp->pool_lock);
		} else {
			pthread_cond_wait(&sp->pool_cond, &sp->pool_lock);
		}
	}
	pthread_mutex_unlock(&sp->pool_lock);
	return NULL;
}

int st_pool_start(struct st_platform *sp)
{
	pthread_mutex_init(&sp->pool_lock, NULL);
	pthread_cond_init(&sp->pool_cond, NULL);
	int ret = -pthread_create(&sp->pool_thread, NULL, pool_main, sp);
	if (ret < 0) {
		pthread_mutex_destroy(&sp->pool_lock);
		pthread_cond_destroy(&sp->pool_cond);
		return ret;
	}
	sp->pool_on = true;
	return 0;
}

void st_pool_stop(struct st_platform *sp)
{
	if (!sp->pool_on)
		return;
	pthread_mutex_lock(&sp->pool_lock);
	sp->pool_stop = true;
	pthread_cond_signal(&sp->pool_cond);
	pthread_mutex_unlock(&sp->pool_lock);
	pthread_join(sp->pool_thread, NULL);
	for (int i = 0; i < sp->pool_n; i++) /* all killed first: they end in parallel */
		st_as_kill(sp->pool[i]);
	while (sp->pool_n > 0)
		st_sas_free(sp->pool[--sp->pool_n]);
	while (sp->pool_dying) {
		struct st_as *sas = sp->pool_dying;
		sp->pool_dying = sas->next;
		st_sas_free(sas);
	}
	pthread_mutex_destroy(&sp->pool_lock);
	pthread_cond_destroy(&sp->pool_cond);
	sp->pool_on = false;
}

struct st_as *st_pool_take(struct st_platform *sp)
{
	pthread_mutex_lock(&sp->pool_lock);
	struct st_as *sas = NULL;
	while (!sas && sp->pool_n > 0) {
		sas = sp->pool[--sp->pool_n];
		struct pollfd pfd = { sas->pidfd, POLLIN, 0 };
		if (poll(&pfd, 1, 0) != 0) { /* it died while it waited (killed from outside) */
			st_as_kill(sas);
			sas->next = sp->pool_dying;
			sp->pool_dying = sas;
			sas = NULL;
		}
	}
	sp->pool_failed = false;
	sp->pool_takes++;
	pthread_cond_signal(&sp->pool_cond);
	pthread_mutex_unlock(&sp->pool_lock);
	return sas;
}

bool st_pool_reap(struct st_platform *sp, struct st_as *sas)
{
	if (!sp->pool_on)
		return false;
	pthread_mutex_lock(&sp->pool_lock); /* killed by the pool thread (st_sas_free) */
	sas->next = sp->pool_dying;
	sp->pool_dying = sas;
	pthread_cond_signal(&sp->pool_cond);
	pthread_mutex_unlock(&sp->pool_lock);
	return true;
}
