/* SPDX-License-Identifier: Apache-2.0 */
/* Test harness: TEST()/PLATFORM_TEST() registration, ASSERT/EXPECT macros, skip, per-test fork + timeout. */
#ifndef CVISOR_TEST_HARNESS_H
#define CVISOR_TEST_HARNESS_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cvisor/cvisor.h>

/*
 * A test body runs in its own forked child with an alarm() timeout. PLATFORM_TEST bodies run once per
 * backend that probes usable here (the others are reported as skipped with the probe's reason); the
 * backend name is in `platform`. Exit status 0 = pass, 77 = skip, anything else (or a signal) = fail.
 */
typedef void (*test_fn)(const char *platform);
void harness_register(const char *name, test_fn fn, int per_platform, int timeout_s);

#define TEST_TIMEOUT(name, secs)                                                                       \
	static void test_##name(const char *platform);                                                 \
	__attribute__((constructor)) static void register_##name(void)                                \
	{                                                                                              \
		harness_register(#name, test_##name, 0, secs);                                         \
	}                                                                                              \
	static void test_##name(const char *platform __attribute__((unused)))
#define PLATFORM_TEST_TIMEOUT(name, secs)                                                              \
	static void test_##name(const char *platform);                                                 \
	__attribute__((constructor)) static void register_##name(void)                                \
	{                                                                                              \
		harness_register(#name, test_##name, 1, secs);                                         \
	}                                                                                              \
	static void test_##name(const char *platform __attribute__((unused)))
#define TEST(name) TEST_TIMEOUT(name, 30)
#define PLATFORM_TEST(name) PLATFORM_TEST_TIMEOUT(name, 30)

extern int harness_failures; /* EXPECT_* failures in this test */

#define HARNESS_FAIL(stop, ...)                                                                        \
	do {                                                                                           \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                      \
		fprintf(stderr, __VA_ARGS__);                                                          \
		fprintf(stderr, "\n");                                                                 \
		harness_failures++;                                                                    \
		if (stop)                                                                              \
			exit(1);                                                                       \
	} while (0)

#define CHECK_TRUE_(stop, cond)                                                                        \
	do {                                                                                           \
		if (!(cond))                                                                           \
			HARNESS_FAIL(stop, "expected true: %s", #cond);                                \
	} while (0)
#define CHECK_CMP_(stop, a, op, b)                                                                     \
	do {                                                                                           \
		long long __a = (long long)(a), __b = (long long)(b);                                  \
		if (!(__a op __b))                                                                     \
			HARNESS_FAIL(stop, "expected %s %s %s: %lld (%#llx) vs %lld (%#llx)", #a, #op, #b, \
				     __a, (unsigned long long)__a, __b, (unsigned long long)__b);      \
	} while (0)
#define CHECK_OK_(stop, expr)                                                                          \
	do {                                                                                           \
		long __r = (long)(expr);                                                               \
		if (__r < 0)                                                                           \
			HARNESS_FAIL(stop, "%s failed: %ld (%s)", #expr, __r, cv_strerror((int)__r));  \
	} while (0)

#define ASSERT_TRUE(c) CHECK_TRUE_(1, c)
#define ASSERT_FALSE(c) CHECK_TRUE_(1, !(c))
#define ASSERT_EQ(a, b) CHECK_CMP_(1, a, ==, b)
#define ASSERT_NE(a, b) CHECK_CMP_(1, a, !=, b)
#define ASSERT_LT(a, b) CHECK_CMP_(1, a, <, b)
#define ASSERT_LE(a, b) CHECK_CMP_(1, a, <=, b)
#define ASSERT_GT(a, b) CHECK_CMP_(1, a, >, b)
#define ASSERT_GE(a, b) CHECK_CMP_(1, a, >=, b)
#define ASSERT_OK(e) CHECK_OK_(1, e)
#define EXPECT_TRUE(c) CHECK_TRUE_(0, c)
#define EXPECT_FALSE(c) CHECK_TRUE_(0, !(c))
#define EXPECT_EQ(a, b) CHECK_CMP_(0, a, ==, b)
#define EXPECT_NE(a, b) CHECK_CMP_(0, a, !=, b)
#define EXPECT_LT(a, b) CHECK_CMP_(0, a, <, b)
#define EXPECT_LE(a, b) CHECK_CMP_(0, a, <=, b)
#define EXPECT_GT(a, b) CHECK_CMP_(0, a, >, b)
#define EXPECT_GE(a, b) CHECK_CMP_(0, a, >=, b)
#define EXPECT_OK(e) CHECK_OK_(0, e)

/* Skip the current test with a reason (exit 77). */
#define SKIP(...)                                                                                      \
	do {                                                                                           \
		fprintf(stderr, "  skip: ");                                                           \
		fprintf(stderr, __VA_ARGS__);                                                          \
		fprintf(stderr, "\n");                                                                 \
		exit(77);                                                                              \
	} while (0)

#endif
