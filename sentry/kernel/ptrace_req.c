// SPDX-License-Identifier: Apache-2.0
// ptrace inside the sandbox (the tracer side): the PTRACE_* requests on a stopped tracee (its
// registers, XSAVE state and memory, options, event messages, siginfo), attaching and resuming, and
// process_vm_readv/writev. ptrace.c has the stops themselves.
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>
#include "../sentry.h"

#define SIG_BIT(sig) (1ull << ((sig) - 1))
#define STOPPED(sig, event) (0x7f | (sig) << 8 | (event) << 16)
#define OPTIONS_MASK 0x003000ffu /* PTRACE_O_TRACESYSGOOD .. _EXITKILL, _SUSPEND_SECCOMP */
#define EFLAGS_TF 0x100ull
/* The flags a tracer may change, as Linux's FLAG_MASK: CF PF AF ZF SF TF DF OF NT RF AC. */
#define EFLAGS_USER 0x44dd5ull

/* Linux's struct ptrace_syscall_info (PTRACE_GET_SYSCALL_INFO). */
struct syscall_info {
	uint8_t op, pad[3];
	uint32_t arch;
	uint64_t ip, sp;
	union {
		struct {
			uint64_t nr, args[6];
		} entry;
		struct {
			int64_t rval;
			uint8_t is_error;
		} exit;
	};
};
#define AUDIT_ARCH_X86_64_ 0xc000003eu

/* The task with thread id @tid anywhere in the sandbox (s->lock held), or NULL. */
static struct task *find_task(struct sentry *s, int64_t tid)
{
	for (struct process *p = s->procs; p; p = p->next)
		for (struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			if (o->tid == tid && !o->exited)
				return o;
	return NULL;
}

bool ptrace_may_access(const struct process *tracer, const struct process *p)
{
	const struct creds *a = &tracer->cred, *b = &p->cred;
	if (a->cap_eff & (1ull << 19 /* CAP_SYS_PTRACE */))
		return true;
	return a->uid[0] == b->uid[0] && a->uid[0] == b->uid[1] && a->uid[0] == b->uid[2] && a->gid[0] == b->gid[0] &&
	       a->gid[0] == b->gid[1] && a->gid[0] == b->gid[2] && p->dumpable;
}

static long attach(struct task *t, int64_t tid, bool seize, uint64_t addr, uint64_t options)
{
	struct sentry *s = t->proc->s;
	if (seize && (addr || (options & ~(uint64_t)OPTIONS_MASK)))
		return seize && addr ? -EIO : -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(s, tid);
	long ret = 0;
	if (!o)
		ret = -ESRCH;
	else if (o->proc == t->proc || o->pt.tracer || !ptrace_may_access(t->proc, o->proc))
		ret = -EPERM;
	if (ret == 0) {
		memset(&o->pt, 0, sizeof(o->pt));
		o->pt.tracer = t->proc;
		o->pt.seized = seize;
		o->pt.options = seize ? (uint32_t)options : 0;
		if (!seize) { /* PTRACE_ATTACH stops it with SIGSTOP */
			siginfo_t si = { .si_signo = SIGSTOP, .si_code = SI_USER };
			si.si_pid = t->proc->pid;
			sig_queue_locked(o, SIGSTOP, &si);
		}
		pthread_cond_broadcast(&s->changed); /* a task parked in a group stop reports it now */
		task_kick(o);
		/* As Linux (JOBCTL_TRAPPING), a tracee already in a group stop has trapped into it when
		 * the attach returns: a SIGCONT the tracer sends next finds it stopped and traps it again,
		 * never ending the stop before the tracer heard of it. Bounded: a task held elsewhere
		 * (a vfork parent, an exec) reports when it can. */
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec++;
		while (o && o->proc->stop_sig && o->pt.tracer == t->proc && !o->pt.stopped && !o->exited &&
		       !o->proc->group_exit && !s->shutting_down) {
			if (pthread_cond_timedwait(&s->changed, &s->lock, &dl) == ETIMEDOUT)
				break;
			o = find_task(s, (int32_t)tid); /* it may have been reaped meanwhile */
		}
	}
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
	return ret;
}

static long trace_me(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	long ret = t->pt.tracer || !pr->parent ? -EPERM : 0;
	if (ret == 0) {
		memset(&t->pt, 0, sizeof(t->pt));
		t->pt.tracer = pr->parent;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Resume stopped tracee @o (s->lock held) with signal @sig; @req says how. */
static long resume(struct task *o, int req, uint64_t sig)
{
	if (sig > 64)
		return -EIO;
	if (req == PTRACE_DETACH) {
		memset(&o->pt, 0, sizeof(o->pt));
		if (sig) {
			siginfo_t si = { .si_signo = (int)sig, .si_code = SI_USER };
			sig_queue_locked(o, (int)sig, &si);
		}
	} else {
		o->pt.syscalls = req == PTRACE_SYSCALL;
		o->pt.step = req == PTRACE_SINGLESTEP;
		if (o->pt.step)
			o->st->regs.eflags |= EFLAGS_TF;
		o->pt.stopped = false;
		o->pt.resume_sig = (int)sig;
	}
	pthread_cond_broadcast(&o->proc->s->changed);
	return 0;
}

/* The tracer's registers for @o: the flags it may change, the platform's code and stack segments. */
static void set_regs(struct task *o, const struct cv_regs *r)
{
	uint64_t flags = (o->st->regs.eflags & ~EFLAGS_USER) | (r->eflags & EFLAGS_USER);
	uint64_t cs = o->st->regs.cs, ss = o->st->regs.ss;
	o->st->regs = *r;
	o->st->regs.eflags = flags;
	o->st->regs.cs = cs;
	o->st->regs.ss = ss;
}

/*
 * Would the platform load FP image @img (@n bytes: the legacy area, or a whole XSAVE area)? Refused as
 * Linux refuses it for ptrace, with EINVAL and the old state kept: MXCSR bits outside the CPU's mask
 * (the one the saved image holds), XSTATE_BV bits the context does not hold, anything set in the rest
 * of the header. Otherwise the tracee's next switch would fail and the process die for the tracer's typo.
 */
static bool fp_image_ok(const struct task *o, const uint8_t *img, size_t n)
{
	uint32_t mxcsr, mask;
	memcpy(&mxcsr, img + 24, 4);
	memcpy(&mask, (const uint8_t *)o->st->xsave + 28, 4);
	if (mxcsr & ~(mask ? mask : 0xffbfu))
		return false;
	if (n <= 512)
		return true;
	uint64_t bv;
	memcpy(&bv, img + 512, 8);
	for (size_t i = 520; i < n && i < 576; i++)
		if (img[i])
			return false;
	return !(bv & ~o->st->xfeatures);
}

/* The XSAVE area as PTRACE_GETREGSET NT_X86_XSTATE gives it: XCR0 in the software-reserved bytes. */
static void xstate_out(const struct task *o, uint8_t *buf, size_t len)
{
	memcpy(buf, o->st->xsave, len < o->st->xsave_size ? len : o->st->xsave_size);
	if (len >= 472)
		memcpy(buf + 464, &o->st->xfeatures, 8);
}

static long regset(struct task *t, struct task *o, uint64_t type, uint64_t uiov, bool set)
{
	struct process *pr = t->proc;
	struct iovec iov;
	if (mm_copy_in(pr, uiov, &iov, sizeof(iov)) < 0)
		return -EFAULT;
	size_t size = type == NT_PRSTATUS ? sizeof(struct cv_regs) : type == NT_PRFPREG ? 512
		      : type == NT_X86_XSTATE ? o->st->xsave_size : 0;
	if (!size)
		return -EINVAL;
	size_t n = iov.iov_len < size ? iov.iov_len : size;
	uint8_t buf[8192];
	if (size > sizeof(buf))
		return -EINVAL;
	if (!set) {
		if (type == NT_PRSTATUS)
			memcpy(buf, &o->st->regs, size);
		else
			xstate_out(o, buf, size);
		if (mm_copy_out(pr, (uint64_t)iov.iov_base, buf, n) < 0)
			return -EFAULT;
	} else {
		if (type == NT_PRSTATUS && n != size)
			return -EINVAL;
		if (mm_copy_in(pr, (uint64_t)iov.iov_base, buf, n) < 0)
			return -EFAULT;
		if (type == NT_PRSTATUS) {
			struct cv_regs r;
			memcpy(&r, buf, sizeof(r));
			set_regs(o, &r);
		} else {
			if (n < 512 || !fp_image_ok(o, buf, n))
				return -EINVAL;
			memcpy(o->st->xsave, buf, 464); /* not the software-reserved bytes */
			if (n > 512)
				memcpy((uint8_t *)o->st->xsave + 512, buf + 512, n - 512);
			o->pt.fp_changed = true;
		}
	}
	iov.iov_len = n;
	return mm_copy_out(pr, uiov + offsetof(struct iovec, iov_len), &iov.iov_len, 8) < 0 ? -EFAULT : 0;
}

/* PTRACE_PEEKUSER / POKEUSER at offset @off of struct user: the registers; the debug registers read as
 * zero and take only zero (no hardware breakpoints); the rest reads as zero. */
static long user_area(struct task *o, uint64_t off, uint64_t *val, bool poke)
{
	if (off & 7 || off >= sizeof(struct user))
		return -EIO;
	if (off < sizeof(struct cv_regs)) {
		uint64_t *r = (uint64_t *)&o->st->regs + off / 8;
		if (!poke) {
			*val = *r;
		} else if (off == offsetof(struct cv_regs, eflags)) {
			*r = (*r & ~EFLAGS_USER) | (*val & EFLAGS_USER);
		} else if (off != offsetof(struct cv_regs, cs) && off != offsetof(struct cv_regs, ss)) {
			*r = *val;
		}
		return 0;
	}
	if (!poke)
		*val = 0;
	return poke && *val ? -EIO : 0;
}

/* PTRACE_PEEKSIGINFO: the siginfo of @o's pending signals from index @off (its own queue; the shared
 * one is empty: the sentry queues a process-directed signal on the thread that takes it). Standard
 * signals pend once each, in signal order. The count copied, or -EINVAL/-EFAULT. */
static long peek_siginfo(struct task *t, struct task *o, uint64_t uargs, uint64_t data)
{
	struct {
		uint64_t off;
		uint32_t flags;
		int32_t nr;
	} a;
	if (mm_copy_in(t->proc, uargs, &a, sizeof(a)) < 0)
		return -EFAULT;
	if ((a.flags & ~1u /* PTRACE_PEEKSIGINFO_SHARED */) || a.nr < 0)
		return -EINVAL;
	siginfo_t q[64];
	int n = 0;
	uint64_t idx = 0;
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	for (int sig = 1; sig <= 64 && !(a.flags & 1) && n < a.nr; sig++)
		if ((o->pending & SIG_BIT(sig)) && idx++ >= a.off)
			q[n++] = o->pinfo[sig - 1];
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < n; i++)
		if (mm_copy_out(t->proc, data + (uint64_t)i * sizeof(siginfo_t), &q[i], sizeof(q[i])) < 0)
			return i ? i : -EFAULT;
	return n;
}

static long syscall_info(struct task *t, struct task *o, uint64_t size, uint64_t ubuf)
{
	struct syscall_info si;
	memset(&si, 0, sizeof(si));
	si.arch = AUDIT_ARCH_X86_64_;
	si.ip = o->st->regs.rip;
	si.sp = o->st->regs.rsp;
	size_t len = offsetof(struct syscall_info, entry);
	if (o->pt.kind == PT_STOP_SYSCALL_ENTRY) {
		const struct cv_regs *r = &o->st->regs;
		si.op = 1;
		si.entry.nr = r->orig_rax;
		uint64_t a[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
		memcpy(si.entry.args, a, sizeof(a));
		len = offsetof(struct syscall_info, entry.args) + sizeof(a);
	} else if (o->pt.kind == PT_STOP_SYSCALL_EXIT) {
		si.op = 2;
		si.exit.rval = (int64_t)o->st->regs.rax;
		si.exit.is_error = si.exit.rval < 0 && si.exit.rval >= -4095;
		len = offsetof(struct syscall_info, exit.is_error) + 1;
	}
	if (mm_copy_out(t->proc, ubuf, &si, size < len ? size : len) < 0)
		return -EFAULT;
	return (long)len;
}

/* Resume, detach or listen (s->lock held). */
static long control(struct task *o, int req, uint64_t data)
{
	if (req != PTRACE_LISTEN)
		return resume(o, req, data);
	if (!o->pt.seized || o->pt.kind != PT_STOP_GROUP || ((o->pt.status >> 16) & 0xff) != PTRACE_EVENT_STOP)
		return -EIO;
	o->pt.listening = true;
	o->pt.reported = true;
	if (o->pt.trap_notify) /* SIGCONT came meanwhile: it traps again at once */
		ptrace_retrap(o);
	return 0;
}

/* The requests that read or change stopped tracee @o, which stays stopped meanwhile (pinned by
 * pt.busy; no s->lock held: copies to the tracer may take its process lock). */
static long on_stopped(struct task *t, struct task *o, int req, uint64_t addr, uint64_t data)
{
	struct process *pr = t->proc;
	uint64_t v;
	switch (req) {
	case PTRACE_PEEKTEXT:
	case PTRACE_PEEKDATA:
		if (mm_copy_in(o->proc, addr, &v, 8) < 0)
			return -EIO;
		return mm_copy_out(pr, data, &v, 8) < 0 ? -EFAULT : 0;
	case PTRACE_POKETEXT:
	case PTRACE_POKEDATA: { /* regardless of protection (breakpoints in code), copy-on-write kept */
		struct vm *vm = vm_lock(o->proc);
		int r = mm_poke(o->proc, addr, &data, 8);
		pthread_mutex_unlock(&vm->lock);
		return r < 0 ? -EIO : 0;
	}
	case PTRACE_PEEKUSER: {
		long r = user_area(o, addr, &v, false);
		return r < 0 ? r : mm_copy_out(pr, data, &v, 8) < 0 ? -EFAULT : 0;
	}
	case PTRACE_POKEUSER:
		return user_area(o, addr, &data, true);
	case PTRACE_GETREGS:
		return mm_copy_out(pr, data, &o->st->regs, sizeof(o->st->regs)) < 0 ? -EFAULT : 0;
	case PTRACE_SETREGS: {
		struct cv_regs r;
		if (mm_copy_in(pr, data, &r, sizeof(r)) < 0)
			return -EFAULT;
		set_regs(o, &r);
		return 0;
	}
	case PTRACE_GETFPREGS:
		return mm_copy_out(pr, data, o->st->xsave, 512) < 0 ? -EFAULT : 0;
	case PTRACE_SETFPREGS: {
		uint8_t fx[512];
		if (mm_copy_in(pr, data, fx, sizeof(fx)) < 0)
			return -EFAULT;
		if (!fp_image_ok(o, fx, sizeof(fx)))
			return -EINVAL;
		memcpy(o->st->xsave, fx, 464);
		o->pt.fp_changed = true;
		return 0;
	}
	case PTRACE_GETREGSET:
	case PTRACE_SETREGSET:
		return regset(t, o, addr, data, req == PTRACE_SETREGSET);
	case PTRACE_GETSIGINFO: {
		siginfo_t si = o->pt.info;
		if (o->pt.kind != PT_STOP_SIGNAL) { /* a trap: what Linux's last_siginfo says of it */
			memset(&si, 0, sizeof(si));
			si.si_signo = SIGTRAP;
			si.si_code = (o->pt.status >> 8) & 0xffff;
		}
		return mm_copy_out(pr, data, &si, sizeof(si)) < 0 ? -EFAULT : 0;
	}
	case PTRACE_SETSIGINFO:
		return mm_copy_in(pr, data, &o->pt.info, sizeof(o->pt.info)) < 0 ? -EFAULT : 0;
	case PTRACE_GETEVENTMSG:
		return mm_copy_out(pr, data, &o->pt.msg, 8) < 0 ? -EFAULT : 0;
	case PTRACE_SETOPTIONS:
		if (data & ~(uint64_t)OPTIONS_MASK)
			return -EINVAL;
		o->pt.options = (uint32_t)data;
		return 0;
	case PTRACE_PEEKSIGINFO:
		return peek_siginfo(t, o, addr, data);
	case PTRACE_GETSIGMASK:
		return addr != 8 ? -EINVAL : mm_copy_out(pr, data, &o->blocked, 8) < 0 ? -EFAULT : 0;
	case PTRACE_SETSIGMASK:
		if (addr != 8)
			return -EINVAL;
		if (mm_copy_in(pr, data, &v, 8) < 0)
			return -EFAULT;
		o->blocked = v & ~(SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP));
		return 0;
	case PTRACE_GET_SYSCALL_INFO:
		return syscall_info(t, o, addr, data);
	case PTRACE_ARCH_PRCTL: /* ARCH_SET_GS 0x1001, ARCH_SET_FS 0x1002, ARCH_GET_FS 0x1003, ARCH_GET_GS 0x1004 */
		if (data == 0x1003 || data == 0x1004)
			return mm_copy_out(pr, addr, data == 0x1003 ? &o->st->regs.fs_base : &o->st->regs.gs_base, 8) < 0
				       ? -EFAULT : 0;
		if ((data == 0x1001 || data == 0x1002) && addr < pr->s->caps.max_user_addr) {
			*(data == 0x1002 ? &o->st->regs.fs_base : &o->st->regs.gs_base) = addr;
			return 0;
		}
		return -EINVAL;
	default:
		return -EIO;
	}
}

long sys_ptrace(struct task *t, uint64_t req, int64_t pid, uint64_t addr, uint64_t data)
{
	struct sentry *s = t->proc->s;
	if (req == PTRACE_TRACEME)
		return trace_me(t);
	if (req == PTRACE_ATTACH || req == PTRACE_SEIZE)
		return attach(t, (int32_t)pid, req == PTRACE_SEIZE, addr, data);
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(s, (int32_t)pid);
	bool ctl = req == PTRACE_CONT || req == PTRACE_SYSCALL || req == PTRACE_SINGLESTEP || req == PTRACE_DETACH ||
		   req == PTRACE_LISTEN;
	long ret = 1;
	if (!o || o->pt.tracer != t->proc) {
		ret = -ESRCH;
	} else if (req == PTRACE_KILL) {
		siginfo_t si = { .si_signo = SIGKILL, .si_code = SI_USER };
		sig_queue_locked(o, SIGKILL, &si);
		ret = 0;
	} else if (req == PTRACE_INTERRUPT) {
		ret = o->pt.seized ? 0 : -EIO;
		if (ret == 0 && !o->pt.stopped) {
			o->pt.interrupt = true;
			task_kick(o);
			pthread_cond_broadcast(&s->changed); /* out of a sentry sleep */
		}
	} else if (!o->pt.stopped || (o->pt.listening && req != PTRACE_DETACH && req != PTRACE_CONT &&
				      req != PTRACE_SYSCALL && req != PTRACE_GETEVENTMSG)) {
		ret = -ESRCH; /* running: only a stopped tracee takes requests */
	} else if (ctl) {
		ret = control(o, (int)req, data);
	} else {
		o->pt.busy++; /* it stays stopped until the request is done */
	}
	pthread_mutex_unlock(&s->lock);
	if (ret == 1) {
		ret = on_stopped(t, o, (int)req, addr, data);
		pthread_mutex_lock(&s->lock);
		o->pt.busy--;
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
	}
	futex_wake_all(s);
	return ret;
}

struct process *ptrace_pin(struct task *t, int64_t tid, long *err)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(s, tid);
	struct process *p = o ? o->proc : NULL;
	*err = !p ? -ESRCH : p != t->proc && !ptrace_may_access(t->proc, p) ? -EPERM : 0;
	if (*err == 0)
		p->remote_users++; /* not freed (reaped) while we copy */
	pthread_mutex_unlock(&s->lock);
	return *err ? NULL : p;
}

void ptrace_unpin(struct process *p)
{
	pthread_mutex_lock(&p->s->lock);
	p->remote_users--;
	pthread_cond_broadcast(&p->s->changed);
	pthread_mutex_unlock(&p->s->lock);
}

long remote_copy(struct process *self, struct process *p, uint64_t local, uint64_t remote, size_t len, bool write,
		 bool force)
{
	char buf[4096];
	size_t done = 0;
	while (done < len) {
		uint64_t ra = remote + done, la = local + done;
		size_t n = sizeof(buf) - (ra & (sizeof(buf) - 1)); /* up to the remote page's end */
		if (n > len - done)
			n = len - done;
		bool fault;
		if (write) {
			fault = mm_copy_in(self, la, buf, n) < 0;
			if (!fault && force) {
				struct vm *vm = vm_lock(p);
				fault = mm_poke(p, ra, buf, n) < 0;
				pthread_mutex_unlock(&vm->lock);
			} else if (!fault) {
				fault = mm_copy_out(p, ra, buf, n) < 0;
			}
		} else {
			fault = mm_copy_in(p, ra, buf, n) < 0 || mm_copy_out(self, la, buf, n) < 0;
		}
		if (fault)
			return done ? (long)done : -EFAULT;
		done += n;
	}
	return (long)done;
}

/* process_vm_readv/writev: copy between the caller's memory and process @pid's, stopping at the first
 * address either side cannot take. Bytes copied, or -errno. */
long sys_process_vm(struct task *t, int64_t pid, uint64_t ulocal, uint64_t nlocal, uint64_t uremote,
		    uint64_t nremote, uint64_t flags, bool write)
{
	struct process *pr = t->proc;
	if (flags || nlocal > 1024 || nremote > 1024)
		return -EINVAL;
	struct iovec *lv = malloc((nlocal + nremote + 1) * sizeof(struct iovec)), *rv = lv + nlocal;
	if (!lv)
		return -ENOMEM;
	long ret = 0;
	if ((nlocal && mm_copy_in(pr, ulocal, lv, nlocal * sizeof(struct iovec)) < 0) ||
	    (nremote && mm_copy_in(pr, uremote, rv, nremote * sizeof(struct iovec)) < 0))
		ret = -EFAULT;
	struct process *p = ret ? NULL : ptrace_pin(t, (int32_t)pid, &ret);
	uint64_t done = 0;
	size_t li = 0, ri = 0, loff = 0, roff = 0;
	while (p && li < nlocal && ri < nremote) {
		if (loff == lv[li].iov_len) {
			li++, loff = 0;
			continue;
		}
		if (roff == rv[ri].iov_len) {
			ri++, roff = 0;
			continue;
		}
		size_t n = rv[ri].iov_len - roff < lv[li].iov_len - loff ? rv[ri].iov_len - roff : lv[li].iov_len - loff;
		long r = remote_copy(pr, p, (uint64_t)lv[li].iov_base + loff, (uint64_t)rv[ri].iov_base + roff, n, write, false);
		if (r < 0) {
			ret = done ? 0 : r;
			break;
		}
		done += (uint64_t)r, loff += (size_t)r, roff += (size_t)r;
		if ((size_t)r < n)
			break;
	}
	if (p)
		ptrace_unpin(p);
	free(lv);
	return ret < 0 ? ret : (long)done;
}
