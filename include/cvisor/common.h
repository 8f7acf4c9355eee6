/* SPDX-License-Identifier: Apache-2.0 */
/* Shared definitions of the libcvisor public API: export macro, error codes, logging, version. */
#ifndef CVISOR_COMMON_H
#define CVISOR_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CV_API __attribute__((visibility("default")))
#else
#define CV_API
#endif

#define CV_VERSION_MAJOR 0
#define CV_VERSION_MINOR 1
#define CV_VERSION_PATCH 0

/*
 * Error convention: every function that can fail returns 0 (or a non-negative count) on success and a
 * negated errno value on failure. Besides the ordinary errno values, two values have a fixed meaning:
 *
 *   -CV_EASDEAD     the address space is lost (its stub process or a stub thread died or was killed);
 *                   nothing more can run in it; release it.
 *   -CV_ETAMPERED   the application corrupted memory the platform shares with it; the address space is
 *                   poisoned as if it had died.
 */
#define CV_EASDEAD EOWNERDEAD
#define CV_ETAMPERED EBADMSG

/* Version string "MAJOR.MINOR.PATCH". */
CV_API const char *cv_version(void);

/*
 * Describe an error code returned by any cv_ function (negative or positive errno, including the
 * CV_E* values). Never returns NULL; the string is static.
 */
CV_API const char *cv_strerror(int err);

enum cv_log_level {
	CV_LOG_ERROR = 0,
	CV_LOG_WARN = 1,
	CV_LOG_INFO = 2,
	CV_LOG_DEBUG = 3,
};

/*
 * A log sink. Called with one complete message (no trailing newline) at a time; may be called from any
 * thread, never from a signal handler. @opaque is the pointer given to cv_set_log_handler().
 */
typedef void (*cv_log_fn)(enum cv_log_level level, const char *msg, void *opaque);

/*
 * Install the library's log sink and the most verbose level passed to it. @fn NULL restores the
 * default sink (stderr, prefixed "cvisor: "). The default level is CV_LOG_WARN, or the value of the
 * environment variable CVISOR_LOG (error|warn|info|debug) read at the first message.
 * Thread-safe. Returns 0, or -EINVAL if @max is not a cv_log_level.
 */
CV_API int cv_set_log_handler(cv_log_fn fn, void *opaque, enum cv_log_level max);

#ifdef __cplusplus
}
#endif
#endif
