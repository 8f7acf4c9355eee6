// SPDX-License-Identifier: Apache-2.0
// ioctl: the few requests programs need, each checked here; everything else is ENOTTY. Terminal
// requests act on the terminal the program holds (never making it the sentry's controlling terminal);
// job-control requests answer from the sandbox's own groups; nothing reaches the host unexamined
// (TIOCSTI, which would inject input into a terminal, is one of the refused).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

/* The kernel's struct termios of TCGETS/TCSETS (36 bytes; glibc's struct termios is larger: copying
 * that out overran the application's buffer). */
struct ktermios {
	uint32_t c_iflag, c_oflag, c_cflag, c_lflag;
	uint8_t c_line;
	uint8_t c_cc[19];
};
_Static_assert(sizeof(struct ktermios) == 36, "the kernel's struct termios");

long sys_ioctl(struct task *t, uint64_t fd, uint64_t req, uint64_t arg)
{
	struct process *pr = t->proc;
	int h = app_host_fd(pr, fd);
	if (h < 0)
		return -EBADF;
	if (req == TIOCSPGRP || req == TCSETS || req == TCSETSW || req == TCSETSF) {
		long c = jobctl_tty_change(t, h); /* from the background: SIGTTOU, as Linux */
		if (c < 0)
			return req == TIOCSPGRP && c == -EIO ? -ENOTTY : c;
	}
	if (req == TCGETS) {
		struct ktermios kt;
		if (ioctl(h, TCGETS, &kt) < 0)
			return -errno;
		return mm_copy_out(pr, arg, &kt, sizeof(kt));
	}
	if (req == TIOCGWINSZ) {
		struct winsize w;
		if (ioctl(h, TIOCGWINSZ, &w) < 0)
			return -errno;
		return mm_copy_out(pr, arg, &w, sizeof(w));
	}
	int v;
	long pj;
	if (ptyjob_ioctl(pr, h, req, arg, &pj)) /* a session's controlling pty of the sandbox */
		return pj;
	switch (req) {
	case FIONBIO: { /* the file's O_NONBLOCK, as fcntl(F_SETFL) sets it */
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		int fl = fcntl(h, F_GETFL);
		return fl < 0 || fcntl(h, F_SETFL, v ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0 ? -errno : 0;
	}
	case FIOASYNC: /* O_ASYNC, as fcntl(F_SETFL) arms it */
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return fasync_set_async(pr, (int)fd, h, v != 0);
	case FIOSETOWN: /* also SIOCSPGRP, sockets only: F_SETOWN */
	case SIOCSPGRP: {
		struct stat st;
		if (fstat(h, &st) < 0 || !S_ISSOCK(st.st_mode))
			return -ENOTTY;
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return v == INT_MIN ? -EINVAL : fasync_setown(pr, h, v < 0 ? F_OWNER_PGRP : F_OWNER_PID, v < 0 ? -v : v);
	}
	case FIOGETOWN: /* also SIOCGPGRP */
	case SIOCGPGRP: {
		struct stat st;
		if (fstat(h, &st) < 0 || !S_ISSOCK(st.st_mode))
			return -ENOTTY;
		int type, id;
		fasync_getown(pr, h, &type, &id);
		v = type == F_OWNER_PGRP ? -id : id;
		return mm_copy_out(pr, arg, &v, sizeof(v));
	}
	case SIOCGIFINDEX: case SIOCGIFNAME: case SIOCGIFFLAGS: case SIOCGIFADDR: case SIOCGIFNETMASK:
	case SIOCGIFBRDADDR: case SIOCGIFDSTADDR: case SIOCGIFMTU: case SIOCGIFHWADDR: case SIOCGIFTXQLEN: {
		/* an interface's name, index, flags or addresses (if_nametoindex): read only, the sentry's
		 * network namespace (the sandbox's loopback, or the host's with --net) */
		struct ifreq ifr;
		if (mm_copy_in(pr, arg, &ifr, sizeof(ifr)) < 0)
			return -EFAULT;
		if (ioctl(h, req, &ifr) < 0)
			return -errno;
		return mm_copy_out(pr, arg, &ifr, sizeof(ifr));
	}
	case SIOCGIFCONF: { /* every interface with an address: into the program's buffer, or its size */
		struct ifconf ifc;
		if (mm_copy_in(pr, arg, &ifc, sizeof(ifc)) < 0)
			return -EFAULT;
		uint64_t ubuf = (uint64_t)ifc.ifc_buf;
		int room = ifc.ifc_len < 0 ? 0 : ifc.ifc_len > 64 * (int)sizeof(struct ifreq) ? 64 * (int)sizeof(struct ifreq) : ifc.ifc_len;
		struct ifreq reqs[64];
		ifc.ifc_len = ubuf ? room : 0;
		ifc.ifc_buf = ubuf ? (char *)reqs : NULL;
		if (ioctl(h, SIOCGIFCONF, &ifc) < 0)
			return -errno;
		if (ubuf && ifc.ifc_len > 0 && mm_copy_out(pr, ubuf, reqs, (size_t)ifc.ifc_len) < 0)
			return -EFAULT;
		ifc.ifc_buf = (char *)ubuf;
		return mm_copy_out(pr, arg, &ifc, sizeof(ifc));
	}
	case FIOCLEX:
	case FIONCLEX:
		pr->cloexec[fd] = req == FIOCLEX;
		return 0;
	case FIONREAD: /* also TIOCINQ: bytes ready to read */
	case TIOCOUTQ:
		if (ioctl(h, req, &v) < 0)
			return -errno;
		return mm_copy_out(pr, arg, &v, sizeof(v));
	case TCSETS: case TCSETSW: case TCSETSF: { /* the terminal the program was given (raw mode) */
		struct ktermios kt;
		if (!isatty(h))
			return -ENOTTY;
		if (mm_copy_in(pr, arg, &kt, sizeof(kt)) < 0)
			return -EFAULT;
		return ioctl(h, req, &kt) < 0 ? -errno : 0;
	}
	case TIOCSWINSZ: {
		struct winsize w;
		if (!isatty(h))
			return -ENOTTY;
		if (mm_copy_in(pr, arg, &w, sizeof(w)) < 0)
			return -EFAULT;
		return ioctl(h, req, &w) < 0 ? -errno : 0;
	}
	case TCFLSH: case TCXONC: case TCSBRK: /* integer arguments, terminals only */
		return !isatty(h) ? -ENOTTY : ioctl(h, req, (int)arg) < 0 ? -errno : 0;
	case TIOCGPTN: /* a pseudo-terminal master's number (ptsname) */
		if (ioctl(h, TIOCGPTN, &v) < 0)
			return -errno;
		return mm_copy_out(pr, arg, &v, sizeof(v));
	case TIOCSPTLCK: /* unlockpt */
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return ioctl(h, TIOCSPTLCK, &v) < 0 ? -errno : 0;
	case TIOCGPTPEER: { /* the slave of a master it holds */
		int peer = ioctl(h, TIOCGPTPEER, (int)(arg & (O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)) | O_NOCTTY | O_CLOEXEC);
		return peer < 0 ? -errno : fd_install(pr, peer, arg & O_CLOEXEC);
	}
	case TIOCSCTTY: case TIOCNOTTY: /* a controlling terminal: the sentry never takes one */
		return isatty(h) ? 0 : -ENOTTY;
	case TIOCGPGRP: case TIOCGSID: { /* job control on the sandbox's terminal: its own groups */
		if (!isatty(h))
			return -ENOTTY;
		v = req == TIOCGSID ? pr->sid : (int)jobctl_tty_pgrp(pr, 0, false);
		return mm_copy_out(pr, arg, &v, sizeof(v));
	}
	case TIOCSPGRP: /* the group the terminal's ^C and ^Z go to, and that may read it */
		if (!isatty(h))
			return -ENOTTY;
		if (mm_copy_in(pr, arg, &v, sizeof(v)) < 0)
			return -EFAULT;
		return jobctl_tty_pgrp(pr, v, true);
	default:
		return -ENOTTY;
	}
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(ioctl, sys_ioctl(t, a[0], a[1], a[2]))
