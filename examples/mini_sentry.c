// SPDX-License-Identifier: Apache-2.0
// A minimal sentry: map a code blob, run it under the best platform, and implement write and exit.
//
// Build against an installed libcvisor:  cc mini_sentry.c $(pkg-config --cflags --libs cvisor)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <cvisor/cvisor.h>

#define CODE_ADDR 0x400000ull
#define PAGE	  4096ull

/* The guest: write(1, msg, len); exit(0); msg. Position independent (rip-relative lea). */
/* clang-format off */
static const unsigned char guest[] = {
	0xb8, 0x01, 0x00, 0x00, 0x00,             /* mov $1, %eax        (write)   */
	0xbf, 0x01, 0x00, 0x00, 0x00,             /* mov $1, %edi        (stdout)  */
	0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, /* lea msg(%rip), %rsi           */
	0xba, 0x1b, 0x00, 0x00, 0x00,             /* mov $27, %edx       (length)  */
	0x0f, 0x05,                               /* syscall                       */
	0xb8, 0x3c, 0x00, 0x00, 0x00,             /* mov $60, %eax       (exit)    */
	0x31, 0xff,                               /* xor %edi, %edi                */
	0x0f, 0x05,                               /* syscall                       */
	'H', 'e', 'l', 'l', 'o', ' ', 'f', 'r', 'o', 'm', ' ', 'a', ' ', 'c', 'v', 'i', 's', 'o', 'r',
	' ', 'g', 'u', 'e', 's', 't', '!', '\n',
};
/* clang-format on */

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "mini_sentry: %s: %s\n", what, cv_strerror(ret));
		exit(1);
	}
}

/* write(2) for the guest: only to our stdout/stderr, copying the buffer out of guest memory. */
static long sys_write(struct cv_as *as, const struct cv_regs *r)
{
	int fd = (int)r->rdi;
	uint64_t addr = r->rsi, len = r->rdx;
	if (fd != 1 && fd != 2)
		return -EBADF;
	char buf[4096];
	if (len > sizeof(buf))
		len = sizeof(buf);
	long n = cv_as_copy_in(as, addr, buf, len);
	if (n < 0)
		return n; /* -EFAULT: bad guest pointer */
	long w = write(fd, buf, (size_t)n);
	return w < 0 ? -errno : w;
}

int main(void)
{
	struct cv_platform *p;
	struct cv_memfile *mf;
	struct cv_as *as;
	struct cv_ctx *ctx;
	uint64_t off;
	void *code;

	/* 1. A platform (the best one usable here), application memory, an address space. */
	check(cv_platform_open(NULL, NULL, &p), "open platform");
	check(cv_memfile_new(NULL, &mf), "memory file");
	check(cv_as_new(p, &as), "address space");

	/* 2. Put the code in the memory file and map it read+exec into the address space. */
	check(cv_memfile_alloc(mf, PAGE, 0, &off), "allocate");
	check(cv_memfile_ptr(mf, off, PAGE, &code), "memory file pointer");
	memcpy(code, guest, sizeof(guest));
	check(cv_as_map(as, CODE_ADDR, cv_memfile_fd(mf), off, PAGE, CV_ACCESS_READ | CV_ACCESS_EXEC, false),
	      "map code");

	/* 3. A context (one application thread) starting at the code. */
	check(cv_ctx_new(p, 0, &ctx), "context");
	struct cv_cpu_state *st = cv_ctx_state(ctx);
	st->regs.rip = CODE_ADDR;

	/* 4. The sentry loop: run until the guest needs us, handle that, repeat. */
	int status = -1;
	while (status < 0) {
		struct cv_exit ex;
		check(cv_ctx_switch(ctx, as, &ex), "switch");
		switch (ex.reason) {
		case CV_EXIT_SYSCALL:
			switch (st->regs.orig_rax) {
			case SYS_write:
				st->regs.rax = (uint64_t)sys_write(as, &st->regs);
				break;
			case SYS_exit:
			case SYS_exit_group:
				status = (int)(st->regs.rdi & 0xff);
				break;
			default: /* nothing else is implemented: the host never sees it */
				st->regs.rax = (uint64_t)-ENOSYS;
			}
			break;
		case CV_EXIT_SIGNAL:
			fprintf(stderr, "mini_sentry: guest got signal %d at %#llx\n", ex.info.si_signo,
				(unsigned long long)st->regs.rip);
			status = 128 + ex.info.si_signo;
			break;
		default: /* interrupts: nothing to do here */
			break;
		}
	}

	/* 5. Tear down in reverse order. */
	cv_ctx_release(ctx);
	cv_as_release(as);
	cv_memfile_close(mf);
	cv_platform_close(p);
	return status;
}
