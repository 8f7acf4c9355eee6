// SPDX-License-Identifier: Apache-2.0
// Library logging through a host-installed sink, plus version and error strings.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static cv_log_fn log_fn;
static void *log_opaque;
static atomic_int log_max = -1; /* -1: not yet decided (read CVISOR_LOG) */

static int level_from_env(void)
{
	const char *e = getenv("CVISOR_LOG");
	static const char *const names[] = { "error", "warn", "info", "debug" };
	if (e)
		for (int i = 0; i < 4; i++)
			if (strcmp(e, names[i]) == 0)
				return i;
	return CV_LOG_WARN;
}

CV_API int cv_set_log_handler(cv_log_fn fn, void *opaque, enum cv_log_level max)
{
	if ((int)max < CV_LOG_ERROR || max > CV_LOG_DEBUG)
		return -EINVAL;
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_opaque = opaque;
	atomic_store(&log_max, (int)max);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

bool cv_log_enabled(enum cv_log_level level)
{
	int max = atomic_load_explicit(&log_max, memory_order_relaxed);
	if (max < 0) {
		int want = level_from_env();
		atomic_compare_exchange_strong(&log_max, &max, want);
		max = atomic_load(&log_max);
	}
	return (int)level <= max;
}

void cv_log(enum cv_log_level level, const char *fmt, ...)
{
	if (!cv_log_enabled(level))
		return;
	int saved = errno; /* logging must not clobber the caller's errno */
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	if (log_fn)
		log_fn(level, msg, log_opaque);
	else
		fprintf(stderr, "cvisor: %s\n", msg);
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}

CV_API const char *cv_version(void)
{
	return "0.1.0";
}

CV_API const char *cv_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case CV_EASDEAD:
		return "address space lost (stub process died)";
	case CV_ETAMPERED:
		return "application tampered with platform shared memory";
	case EXDEV:
		return "context state is held by another host thread";
	default:
		return strerror(err); /* glibc returns static strings for known values */
	}
}
