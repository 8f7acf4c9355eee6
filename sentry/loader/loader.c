// SPDX-License-Identifier: Apache-2.0
// ELF loader: static, static-PIE and dynamic (PT_INTERP) x86-64 executables, and the initial stack.
//
// Every image gets the sentry's own vDSO (AT_SYSINFO_EHDR; sentry/vdso/, mm/vdso.c): never the host's.
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

#define PAGE 4096ull
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))
#define PIE_BASE 0x555555554000ull
#define INTERP_BASE 0x7e0000000000ull /* the dynamic linker, well below the stack */
#define STACK_MIN (128ull << 10) /* the stack's size: RLIMIT_STACK within these bounds */
#define STACK_MAX (256ull << 20) /* (and when it is unlimited) */
#define MAX_PHDRS 64

static unsigned prot_access(uint32_t flags)
{
	return ((flags & PF_R) ? CV_ACCESS_READ : 0) | ((flags & PF_W) ? CV_ACCESS_WRITE : 0) |
	       ((flags & PF_X) ? CV_ACCESS_EXEC : 0);
}

#define FAIL(code, ...)                                                                                \
	do {                                                                                           \
		snprintf(err, errlen, __VA_ARGS__);                                                    \
		ret = (code);                                                                          \
		goto out;                                                                              \
	} while (0)

/* Does PT_LOAD segment @i share a page with another one? Then it is copied, not mapped. */
static bool shares_a_page(const Elf64_Phdr *ph, int n, int i)
{
	uint64_t lo = PAGE_DOWN(ph[i].p_vaddr), hi = PAGE_UP(ph[i].p_vaddr + ph[i].p_memsz);
	for (int j = 0; j < n; j++) {
		if (j == i || ph[j].p_type != PT_LOAD || ph[j].p_memsz == 0)
			continue;
		uint64_t l = PAGE_DOWN(ph[j].p_vaddr), h = PAGE_UP(ph[j].p_vaddr + ph[j].p_memsz);
		if (l < hi && lo < h)
			return true;
	}
	return false;
}

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Put @len bytes below *@pos (growing down) in @blob, which goes at address @base: their address. */
static uint64_t blob_put(char *blob, size_t *pos, uint64_t base, const void *data, size_t len)
{
	*pos -= len;
	memcpy(blob + *pos, data, len);
	return base + *pos;
}

static int build_stack(struct process *pr, char *const argv[], char *const envp[], const char *execfn,
		       const uint64_t *aux, size_t naux, uint64_t *sp_out)
{
	struct cv_platform_caps *c = &pr->s->caps;
	uint64_t top = PAGE_DOWN(c->max_user_addr) - 16 * PAGE, stack;
	/* RLIMIT_STACK sizes the stack (it does not grow): a deep recursion faults where Linux's would. */
	uint64_t size = pr->rlim[RLIMIT_STACK].rlim_cur;
	size = size == RLIM_INFINITY || size > STACK_MAX ? STACK_MAX : size < STACK_MIN ? STACK_MIN : PAGE_UP(size);
	int ret = mm_map_anon(pr, top - size, size, CV_ACCESS_READ | CV_ACCESS_WRITE, true, false, &stack);
	if (ret < 0)
		return ret;
	pr->vm->mm.stack_start = stack;
	pr->vm->mm.mmap_base = stack - (256ull << 20); /* mmap grows down from below the stack */

	size_t argc = 0, envc = 0;
	while (argv[argc])
		argc++;
	while (envp[envc])
		envc++;
	/* The strings (execfn, envp, argv, AT_RANDOM's bytes, AT_PLATFORM) go below the top as Linux lays
	 * them out, assembled here and written with one poke (one write into the memory file, not one per
	 * string: a shell's environment is dozens). */
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	size_t total = strlen(execfn) + 1 + sizeof(rnd) + 7;
	for (size_t i = 0; i < envc; i++)
		total += strlen(envp[i]) + 1;
	for (size_t i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	uint64_t *aptr = calloc(argc + envc + 2, sizeof(uint64_t));
	char *blob = malloc(total);
	if (!aptr || !blob) {
		free(aptr);
		free(blob);
		return -ENOMEM;
	}
	uint64_t sp = top - total;
	size_t pos = total;
	uint64_t execfn_addr = blob_put(blob, &pos, sp, execfn, strlen(execfn) + 1);
	for (size_t i = envc; i-- > 0;)
		aptr[argc + 1 + i] = blob_put(blob, &pos, sp, envp[i], strlen(envp[i]) + 1);
	for (size_t i = argc; i-- > 0;)
		aptr[i] = blob_put(blob, &pos, sp, argv[i], strlen(argv[i]) + 1);
	uint64_t rnd_addr = blob_put(blob, &pos, sp, rnd, sizeof(rnd));
	uint64_t platform_addr = blob_put(blob, &pos, sp, "x86_64", 7);
	ret = mm_poke(pr, sp, blob, total);
	free(blob);

	/* argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL; rsp 16-byte aligned at argc. */
	size_t words = 1 + argc + 1 + envc + 1 + 2 * (naux + 4);
	sp = (sp - words * 8) & ~15ull;
	*sp_out = sp;
	uint64_t *w = calloc(words, 8), k = 0;
	if (!w) {
		free(aptr);
		return -ENOMEM;
	}
	w[k++] = argc;
	for (size_t i = 0; i < argc; i++)
		w[k++] = aptr[i];
	w[k++] = 0;
	for (size_t i = 0; i < envc; i++)
		w[k++] = aptr[argc + 1 + i];
	w[k++] = 0;
	for (size_t i = 0; i < naux; i++)
		w[k++] = aux[i];
	uint64_t extra[] = { AT_RANDOM, rnd_addr, AT_PLATFORM, platform_addr, AT_EXECFN, execfn_addr, AT_NULL, 0 };
	for (size_t i = 0; i < 8; i++)
		w[k++] = extra[i];
	pr->auxv_len = (naux + 8) * 8 <= sizeof(pr->auxv) ? (naux + 8) * 8 : 0; /* for /proc/PID/auxv */
	memcpy(pr->auxv, w + k - naux - 8, pr->auxv_len);
	if (ret == 0)
		ret = mm_poke(pr, sp, w, words * 8);
	free(w);
	free(aptr);
	return ret;
}

struct image {
	uint64_t entry, phdr, phnum, end;
	char interp[256];
};

/* Map one ELF file's PT_LOAD segments (ET_DYN at @base); fill @img. */
/* Open @file to read an image from. The sentry's callers pass "/proc/self/fd/N" for a file they hold:
 * a readable N is duplicated (a host call, where opening the magic link walks /proc); an O_PATH one
 * is reopened through the link. -1 with errno on failure. */
static int open_image(const char *file)
{
	const char *num = strncmp(file, "/proc/self/fd/", 14) == 0 ? file + 14 : NULL;
	char *end;
	long n = num ? strtol(num, &end, 10) : -1;
	int fl = n >= 0 && n <= INT_MAX && *end == 0 ? fcntl((int)n, F_GETFL) : -1;
	if (fl >= 0 && !(fl & O_PATH) && (fl & O_ACCMODE) != O_WRONLY)
		return fcntl((int)n, F_DUPFD_CLOEXEC, 3);
	return open(file, O_RDONLY | O_CLOEXEC);
}

static int load_image(struct process *pr, const char *file, const char *path, uint64_t base, struct image *img,
		      char *err, size_t errlen)
{
	int ret = 0;
	Elf64_Phdr ph[MAX_PHDRS];
	Elf64_Ehdr eh;
	memset(img, 0, sizeof(*img));
	int fd = open_image(file);
	if (fd < 0) {
		int e = errno;
		FAIL(-e, "%s: %s", path, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		FAIL(-EACCES, "%s: not a regular file", path);
	if (read_at(fd, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		FAIL(-ENOEXEC, "%s: not an ELF executable", path);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		FAIL(-ENOEXEC, "%s: not an x86-64 ELF executable", path);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		FAIL(-ENOEXEC, "%s: ELF type %u is not an executable", path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS ||
	    read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) < 0)
		FAIL(-ENOEXEC, "%s: bad ELF program headers", path);
	if (eh.e_type == ET_EXEC)
		base = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type == PT_INTERP) {
			if (p->p_filesz < 2 || p->p_filesz > sizeof(img->interp) ||
			    read_at(fd, img->interp, p->p_filesz, (off_t)p->p_offset) < 0 ||
			    img->interp[p->p_filesz - 1] != 0)
				FAIL(-ENOEXEC, "%s: bad PT_INTERP", path);
		}
		if (p->p_type == PT_PHDR)
			img->phdr = base + p->p_vaddr;
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		uint64_t va = base + p->p_vaddr, vend, fend;
		if (p->p_filesz > p->p_memsz || __builtin_add_overflow(va, p->p_memsz, &vend) ||
		    __builtin_add_overflow(p->p_offset, p->p_filesz, &fend) || fend > (uint64_t)st.st_size ||
		    (p->p_vaddr & (PAGE - 1)) != (p->p_offset & (PAGE - 1)) || vend > pr->s->caps.max_user_addr)
			FAIL(-ENOEXEC, "%s: bad PT_LOAD segment %d", path, i);
		uint64_t start = PAGE_DOWN(va), end = PAGE_UP(vend), got;
		if (!(p->p_flags & PF_W) && p->p_filesz == p->p_memsz && !shares_a_page(ph, eh.e_phnum, i) &&
		    mm_map_file_ro(pr, start, end - start, prot_access(p->p_flags), true, fd, &st,
				   PAGE_DOWN(p->p_offset), &got) == 0) {
			/* Code and read-only data: the file itself, copy-on-write (nothing is read now) */
			if (!img->phdr && p->p_offset == 0)
				img->phdr = va + eh.e_phoff;
			if (end > img->end)
				img->end = end;
			continue;
		}
		/* Writable first to fill it, then the segment's own protection. Segments sharing a page
		 * (text end / data start) are merged by the later mapping copying the earlier bytes. */
		uint8_t *buf = calloc(1, end - start);
		if (!buf)
			FAIL(-ENOMEM, "%s: out of memory", path);
		if (!mm_is_free(pr, start, end - start))
			mm_peek(pr, start, buf, end - start); /* keep what an earlier segment put there */
		if (read_at(fd, buf + (va - start), p->p_filesz, (off_t)p->p_offset) < 0) {
			free(buf);
			FAIL(-EIO, "%s: short read", path);
		}
		memset(buf + (va - start) + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		ret = mm_map_anon(pr, start, end - start, CV_ACCESS_READ | CV_ACCESS_WRITE, true, false, &got);
		if (ret == 0)
			ret = mm_poke(pr, start, buf, end - start);
		free(buf);
		if (ret == 0)
			ret = mm_protect(pr, start, end - start, prot_access(p->p_flags));
		if (ret < 0)
			FAIL(ret, "%s: cannot map segment at %#llx: %s", path, (unsigned long long)start,
			     strerror(-ret));
		if (!img->phdr && p->p_offset == 0)
			img->phdr = va + eh.e_phoff;
		if (end > img->end)
			img->end = end;
	}
	if (!img->end)
		FAIL(-ENOEXEC, "%s: no loadable segments", path);
	img->entry = base + eh.e_entry;
	img->phnum = eh.e_phnum;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

#define MAX_SCRIPT_DEPTH 4

static int load_elf_depth(struct process *pr, const char *file, const char *path, char *const argv[],
			  char *const envp[], uint64_t *entry, uint64_t *sp, char *err, size_t errlen, int depth);

/*
 * A "#!" script: run its interpreter (a sandbox path, opened through the policy) with the optional
 * argument, then the script's path, then the original arguments after argv[0]. Returns 1 if @file is
 * not a script, else the interpreter's load result.
 */
static int load_script(struct process *pr, const char *file, const char *path, char *const argv[],
		       char *const envp[], uint64_t *entry, uint64_t *sp, char *err, size_t errlen, int depth)
{
	char line[256];
	int fd = open_image(file);
	if (fd < 0)
		return 1;
	ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
	close(fd);
	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 1;
	line[n] = 0;
	char *nl = strchr(line, '\n');
	if (!nl && n == (ssize_t)sizeof(line) - 1) {
		snprintf(err, errlen, "%s: the #! line is too long", path);
		return -ENOEXEC;
	}
	if (nl)
		*nl = 0;
	char *interp = line + 2;
	interp += strspn(interp, " \t");
	char *arg = interp + strcspn(interp, " \t");
	if (*arg) {
		*arg++ = 0;
		arg += strspn(arg, " \t");
		size_t l = strlen(arg); /* Linux passes the rest of the line as one argument, trailing blanks cut */
		while (l && (arg[l - 1] == ' ' || arg[l - 1] == '\t'))
			arg[--l] = 0;
	}
	if (!*interp) {
		snprintf(err, errlen, "%s: no interpreter after #!", path);
		return -ENOEXEC;
	}
	if (depth >= MAX_SCRIPT_DEPTH) {
		snprintf(err, errlen, "%s: too many levels of #! interpreters", path);
		return -ELOOP;
	}
	size_t argc = 0;
	while (argv && argv[argc])
		argc++;
	char **nargv = calloc(argc + 4, sizeof(char *));
	if (!nargv)
		return -ENOMEM;
	size_t k = 0;
	nargv[k++] = interp;
	if (*arg)
		nargv[k++] = arg;
	nargv[k++] = (char *)path;
	for (size_t i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	char real[64];
	int ifd = fs_open(pr, AT_FDCWD, interp, O_RDONLY);
	int ret;
	if (ifd < 0) {
		snprintf(err, errlen, "%s: its interpreter %s: %s", path, interp, strerror(-ifd));
		ret = ifd == -ENOENT ? -ENOENT : -EACCES;
	} else {
		snprintf(real, sizeof(real), "/proc/self/fd/%d", ifd);
		ret = load_elf_depth(pr, real, interp, nargv, envp, entry, sp, err, errlen, depth + 1);
		close(ifd);
	}
	free(nargv);
	return ret;
}

int load_elf(struct process *pr, const char *file, const char *path, char *const argv[], char *const envp[],
	     uint64_t *entry, uint64_t *sp, char *err, size_t errlen)
{
	mm_defer_installs(pr); /* pr is the image being built: one request per batch, not per mapping */
	int ret = load_elf_depth(pr, file, path, argv, envp, entry, sp, err, errlen, 0);
	/* Without an address space yet (execve's image: it takes the old one's once past the point of
	 * no return), the installs stay held back for the caller's mm_end_defer(). */
	int fl = pr->vm->as ? mm_end_defer(pr) : 0;
	if (ret == 0 && fl < 0) {
		snprintf(err, errlen, "%s: cannot map the image: %s", path, strerror(-fl));
		ret = fl;
	}
	return ret;
}

static int load_elf_depth(struct process *pr, const char *file, const char *path, char *const argv[],
			  char *const envp[], uint64_t *entry, uint64_t *sp, char *err, size_t errlen, int depth)
{
	int sr = load_script(pr, file, path, argv, envp, entry, sp, err, errlen, depth);
	if (sr <= 0)
		return sr;
	struct image exe, interp = { 0 };
	int ret = load_image(pr, file, path, PIE_BASE, &exe, err, errlen);
	if (ret < 0)
		return ret;
	if (exe.interp[0]) {
		/* The interpreter is a sandbox path: opened through the policy like any other. */
		char real[64];
		int ifd = exe.interp[0] == '/' ? fs_open(pr, AT_FDCWD, exe.interp, O_RDONLY) : -ENOENT;
		if (ifd < 0) {
			snprintf(err, errlen, "%s: its interpreter %s: %s", path, exe.interp, strerror(-ifd));
			return ifd == -ENOENT ? -ENOENT : -EACCES;
		}
		snprintf(real, sizeof(real), "/proc/self/fd/%d", ifd);
		ret = load_image(pr, real, exe.interp, INTERP_BASE, &interp, err, errlen);
		close(ifd);
		if (ret < 0)
			return ret;
		if (interp.interp[0]) {
			snprintf(err, errlen, "%s: its interpreter %s wants an interpreter itself", path, exe.interp);
			return -ELIBBAD;
		}
	}
	pr->vm->mm.brk_start = pr->vm->mm.brk = exe.end;
	uint64_t vdso;
	if ((ret = vdso_map(pr, &vdso)) < 0) {
		snprintf(err, errlen, "%s: cannot map the vDSO: %s", path, strerror(-ret));
		return ret;
	}

	/* AT_HWCAP: CPUID leaf 1's EDX as the sandbox's CPUID answers it, from the platform's policy (the
	 * instruction itself costs ~5 us on a VM, where CPUID always exits to the hypervisor), less what
	 * the host kernel turned off in its own AT_HWCAP, as Linux gives it (a VM's kernel clears MTRR). */
	struct cv_cpuid_entry leaf1 = { 0 };
	cv_platform_cpuid(pr->s->p, 1, 0, &leaf1);
	if (pr->s->L && pr->s->L->hwcap)
		leaf1.edx &= (uint32_t)pr->s->L->hwcap;
	uint64_t aux[] = {
		AT_PHDR, exe.phdr, AT_PHENT, sizeof(Elf64_Phdr), AT_PHNUM, exe.phnum, AT_PAGESZ, PAGE,
		AT_BASE, exe.interp[0] ? INTERP_BASE : 0, AT_FLAGS, 0, AT_ENTRY, exe.entry, AT_UID, pr->cred.uid[0],
		AT_EUID, pr->cred.uid[1], AT_GID, pr->cred.gid[0], AT_EGID, pr->cred.gid[1], AT_CLKTCK, 100, AT_SECURE, 0,
		AT_HWCAP, leaf1.edx, AT_SYSINFO_EHDR, vdso,
	};
	ret = build_stack(pr, argv, envp, path, aux, sizeof(aux) / sizeof(aux[0]), sp);
	if (ret < 0) {
		snprintf(err, errlen, "%s: cannot build the initial stack: %s", path, strerror(-ret));
		return ret;
	}
	*entry = exe.interp[0] ? interp.entry : exe.entry;
	return 0;
}
