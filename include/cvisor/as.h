/* SPDX-License-Identifier: Apache-2.0 */
/* Address spaces: the memory an application thread runs in, built from shared mappings of host files. */
#ifndef CVISOR_AS_H
#define CVISOR_AS_H

#include <stdbool.h>
#include <cvisor/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cv_platform;
struct cv_as;

/* Access bits of a mapping, and of a fault (enum cv_exit.access). */
#define CV_ACCESS_READ 1u
#define CV_ACCESS_WRITE 2u
#define CV_ACCESS_EXEC 4u

/*
 * Create an empty address space: nothing is mapped between caps.min_user_addr and caps.max_user_addr.
 * Returns 0 and stores the handle in *@out; -EINVAL (NULL args); -EAGAIN (the platform schedules address
 * spaces cooperatively and has none free: retry after releasing one; also when the host is out of
 * processes); -ENOMEM; -EIO (unexpected host failure, see the log).
 */
CV_API int cv_as_new(struct cv_platform *p, struct cv_as **out);

/*
 * Map [@offset, @offset+@len) of file @fd at [@addr, @addr+@len) with @access (CV_ACCESS_* bits; 0 gives
 * an inaccessible mapping), as a shared mapping: writes by the application reach the file and are seen
 * by every other mapping of it, including the caller's (e.g. a cv_memfile). Any previous mapping in the
 * range is replaced. @precommit asks for the pages to be faulted in now. Mapping again exactly what is
 * mapped there (the same file and offsets, no hole) with other @access only changes the protection,
 * as mprotect(2): the systrap and ptrace backends then keep the host's page tables, so the application
 * does not fault its pages in again (a program's RELRO mprotects, copy-on-write protection at fork).
 *
 * The fd is only used during the call (the mapping keeps the file alive). @addr, @offset and @len must
 * be page-aligned, @len > 0, and the range inside [min_user_addr, max_user_addr).
 * Returns 0; -EINVAL (alignment, zero length, bad access bits, range outside the user range or
 * overflowing); -EBADF (@fd not open); -EACCES (file not readable, or not writable with WRITE access);
 * -ENODEV (file cannot be mapped); -ENOMEM; CV_EASDEAD.
 */
CV_API int cv_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t offset, uint64_t len,
		     unsigned access, bool precommit);

/* One mapping of cv_as_map_many(): the arguments of cv_as_map(). */
struct cv_as_mapping {
	uint64_t addr;
	uint64_t offset;
	uint64_t len;
	int32_t fd;
	uint32_t access;           /* CV_ACCESS_* */
	bool precommit;
};

/*
 * cv_as_map() for each of @n mappings, in order, as one request where the backend can (systrap: one
 * round trip to the stub for up to 32 mappings instead of one each). Stops at the first mapping that
 * fails, for bad arguments or in the stub. Returns 0 when all are made, else that mapping's error as
 * cv_as_map() would return it; *@done (if not NULL) is the number made, from the first. @n == 0 is a
 * no-op; -EINVAL for a bad handle or NULL @m with @n > 0 (nothing made).
 */
CV_API int cv_as_map_many(struct cv_as *as, const struct cv_as_mapping *m, size_t n, size_t *done);

/*
 * Remove every mapping in [@addr, @addr+@len) (holes are fine). Alignment and range rules as cv_as_map().
 * Returns 0; -EINVAL; CV_EASDEAD.
 */
CV_API int cv_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len);

/*
 * Release an address space: its stub is destroyed and all its mappings dropped. No context may be
 * running in it. Safe on a dead address space. NULL is a no-op. Returns 0 or -EBUSY (a context is
 * running in it right now; nothing is released). The caller may free the memory-file pages it mapped
 * as soon as this returns: with CV_PLATFORM_STUB_POOL the stub may end a little later (an application
 * can leave code of its own running there), and until it has, pages of a cv_memfile freed meanwhile are
 * not handed out again by cv_memfile_alloc(); what other files it mapped stays reachable to it until then.
 */
CV_API int cv_as_release(struct cv_as *as);

/*
 * Fork hooks: call cv_as_prefork() before copying an address space for an application fork() and
 * cv_as_postfork() after, so the platform can keep state (e.g. patched code) consistent across the copy.
 * Calls must pair. Returns 0; -EINVAL.
 */
CV_API int cv_as_prefork(struct cv_as *as);
CV_API int cv_as_postfork(struct cv_as *as);

/*
 * Syscall-site patching (where caps.patches_syscalls): rewrite the `mov $nr,%eax; syscall` (or the
 * `mov 0x8(%rsp),%r9; syscall` that ends glibc's syscall(3), or glibc read(2)'s `xor %eax,%eax;
 * syscall`, followed by `cmp $-4096,%rax; ja; ret` and alignment padding, where the padding takes the
 * jump) that ends at @rip, as reported by a CV_EXIT_SYSCALL with CV_SYSCALL_PATCHABLE, so that later
 * executions enter the platform without a signal (they are then reported with CV_SYSCALL_PATCHED;
 * exits, registers and restarts look exactly as before). The code is rewritten in place, through the
 * memory file that backs it, and the new bytes are visible to the application: call it only for memory
 * that is the application's own, that is mapped only into address spaces of this platform and at this
 * same address in each (a patched site jumps back to its own address), and for a program that
 * nobody single-steps or reads its code expecting the original bytes (a traced program). Safe while
 * other threads run the site. Returns 0 (patched, or already was); -EINVAL (no patchable site there);
 * -EFAULT (the bytes are not backed by a memory file: nothing was written); -ENOSPC (the platform's
 * site table is full); -EOPNOTSUPP (the platform does not patch); CV_EASDEAD.
 */
CV_API int cv_as_patch_syscall(struct cv_as *as, uint64_t rip);

/*
 * Address-space IO (when caps.supports_as_io): access application memory through the address space's
 * own mappings, with the application's permissions: reads need READ, writes need WRITE. These see
 * exactly what the application sees, whatever file backs the range.
 *
 * copy_in reads [@addr, @addr+@len) into @dst; copy_out writes @src there; zero_out writes zeroes.
 * They return the number of bytes transferred; a short count when the range runs into an unmapped or
 * forbidden page after at least one byte; -EFAULT when the first byte cannot be accessed (or the range
 * overflows); -EINVAL (NULL handle/buffer with len > 0); -ENOTSUP when the platform has no AS IO.
 */
CV_API long cv_as_copy_in(struct cv_as *as, uint64_t addr, void *dst, size_t len);
CV_API long cv_as_copy_out(struct cv_as *as, uint64_t addr, const void *src, size_t len);
CV_API long cv_as_zero_out(struct cv_as *as, uint64_t addr, size_t len);

/*
 * Atomic operations on a naturally aligned 32-bit word of application memory, atomic with respect to
 * application threads touching the same word. swap stores @val and returns the old value in *@old;
 * cas stores @new_val only if the word equals @expected and returns the old value in *@old either way;
 * load returns the value. Loads need READ access; swap and cas need READ|WRITE.
 * Returns 0; -EFAULT (unmapped, forbidden or misaligned address); -EINVAL (NULL pointer); -ENOTSUP.
 */
CV_API int cv_as_swap_u32(struct cv_as *as, uint64_t addr, uint32_t val, uint32_t *old);
CV_API int cv_as_cas_u32(struct cv_as *as, uint64_t addr, uint32_t expected, uint32_t new_val,
			 uint32_t *old);
CV_API int cv_as_load_u32(struct cv_as *as, uint64_t addr, uint32_t *val);

#ifdef __cplusplus
}
#endif
#endif
