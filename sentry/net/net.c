// SPDX-License-Identifier: Apache-2.0
// Sockets: IPv4, IPv6, route-netlink and unix sockets, in the sandbox's own network namespace with only
// a loopback (without --net; netns.c) or on the host's network (--net). Unix socket names are walked
// like paths and reach only sockets in the sandbox's writable places, never a host service
// (docker.sock, D-Bus, X11); abstract names only in the sandbox's own namespace (netns.c). Where no
// namespace of its own can be made (an unprivileged caller), only socketpair is offered without --net. Calls that may block wait
// interruptibly. SCM_RIGHTS passes the application's fds (translated both ways); SCM_CREDENTIALS and
// SO_PEERCRED, which name the sentry on the host, are the sandbox's (unixcred.c).
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#define NET_IO_MAX (64u << 10)

static bool family_allowed(const struct process *pr, int domain, int proto)
{
	if (!pr->s->opts.net && !pr->s->private_net)
		return false;
	return domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX ||
	       (domain == AF_NETLINK && proto == NETLINK_ROUTE);
}

long sys_socket(struct task *t, uint64_t domain, uint64_t type, uint64_t proto)
{
	if (!family_allowed(t->proc, (int)domain, (int)proto))
		return domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX || domain == AF_NETLINK ? -EACCES
														: -EAFNOSUPPORT;
	int h = socket((int)domain, (int)(type | SOCK_CLOEXEC), (int)proto);
	if (h >= 0 && domain == AF_UNIX)
		uc_created(t->proc, h);
	return h < 0 ? -errno : fd_install(t->proc, h, type & SOCK_CLOEXEC);
}

long sys_socketpair(struct task *t, uint64_t domain, uint64_t type, uint64_t proto, uint64_t usv)
{
	if (domain != AF_UNIX)
		return -EAFNOSUPPORT;
	int sv[2];
	if (socketpair(AF_UNIX, (int)(type | SOCK_CLOEXEC), (int)proto, sv) < 0)
		return -errno;
	uc_pair(t->proc, sv[0], sv[1]);
	long a = fd_install(t->proc, sv[0], type & SOCK_CLOEXEC);
	if (a < 0) {
		close(sv[1]);
		return a;
	}
	long b = fd_install(t->proc, sv[1], type & SOCK_CLOEXEC);
	if (b < 0) {
		close(t->proc->fds[a]);
		t->proc->fds[a] = -1;
		return b;
	}
	int out[2] = { (int)a, (int)b };
	if (mm_copy_out(t->proc, usv, out, sizeof(out)) < 0) {
		close(t->proc->fds[a]);
		close(t->proc->fds[b]);
		t->proc->fds[a] = t->proc->fds[b] = -1;
		return -EFAULT;
	}
	return 0;
}

/* Copy in a socket address for bind/connect/sendto and check it may be used (host_addr_done after). */
static long addr_in(struct process *pr, uint64_t uaddr, uint64_t len, struct host_addr *ha, bool bind)
{
	ha->hold = -1;
	ha->abs_new = false;
	ha->len = (socklen_t)len;
	if (len > sizeof(ha->ss))
		return -EINVAL;
	memset(&ha->ss, 0, sizeof(ha->ss));
	if (len && mm_copy_in(pr, uaddr, &ha->ss, len) < 0)
		return -EFAULT;
	if (len >= sizeof(sa_family_t) && ha->ss.ss_family == AF_UNIX)
		return unix_addr_in(pr, ha, bind); /* names walked; the host's services never reachable */
	return 0;
}

/* Copy a kernel-filled address back to the application (its length in *ulen, in and out). */
static long addr_out(struct process *pr, const struct sockaddr_storage *host, socklen_t got, uint64_t uaddr, uint64_t ulen)
{
	if (!uaddr || !ulen)
		return 0;
	struct sockaddr_storage ss = *host;
	unix_addr_out(pr->s, &ss, &got);
	socklen_t room;
	if (mm_copy_in(pr, ulen, &room, sizeof(room)) < 0)
		return -EFAULT;
	socklen_t n = got < room ? got : room;
	if ((n && mm_copy_out(pr, uaddr, &ss, n) < 0) || mm_copy_out(pr, ulen, &got, sizeof(got)) < 0)
		return -EFAULT;
	return 0;
}

static bool blocking(int h)
{
	int fl = fcntl(h, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

long sys_bind(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t len)
{
	int h = app_host_fd(t->proc, fd);
	struct host_addr ha;
	long r = h < 0 ? -EBADF : addr_in(t->proc, uaddr, len, &ha, true);
	if (r == 0 && (ha.ss.ss_family == AF_INET || ha.ss.ss_family == AF_INET6)) {
		/* A privileged port, by the sandbox's rule: the sentry itself may bind any port in its own
		 * network namespace (jail/netns.c). */
		uint16_t port = ntohs(ha.ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ha.ss)->sin_port
								  : ((struct sockaddr_in6 *)&ha.ss)->sin6_port);
		if (port && port < t->proc->s->unpriv_port_start && !(t->proc->cred.cap_eff & (1ull << 10 /* CAP_NET_BIND_SERVICE */)))
			r = -EACCES;
	}
	r = r < 0 ? r : bind(h, (struct sockaddr *)&ha.ss, ha.len) < 0 ? -errno : 0;
	if (r < 0 && h >= 0)
		unix_abstract_unbound(t->proc->s, &ha);
	if (r == 0 && ha.ss.ss_family == AF_UNIX && ha.hold >= 0) {
		/* The socket file gets the process's umask (the sentry's own is 0); never through a link
		 * another thread might have put in its place. */
		const char *name = strrchr(((struct sockaddr_un *)&ha.ss)->sun_path, '/');
		if (name && name[1]) { /* ("": fs_chmod_nofollow would change the held directory itself) */
			fs_chmod_nofollow(ha.hold, name + 1, 0777 & ~(unsigned)t->proc->umask);
			/* owned by its maker, as the sandbox sees it (PostgreSQL chmods its socket after);
			 * only if the name still holds a socket (another thread may have renamed over it) */
			int o = openat(ha.hold, name + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			struct stat st;
			if (o >= 0 && fstat(o, &st) == 0 && S_ISSOCK(st.st_mode))
				perm_created(t->proc, ha.hold, o);
			if (o >= 0)
				close(o);
		}
		uc_bound(t->proc, h, ha.hold, name ? name + 1 : NULL, NULL, 0);
	} else if (r == 0 && ha.ss.ss_family == AF_UNIX) {
		uc_bound(t->proc, h, -1, NULL, (struct sockaddr_un *)&ha.ss, ha.len);
		unix_autobound(t->proc->s, h);
	}
	if (h >= 0)
		host_addr_done(&ha);
	return r;
}

static long sys_connect_held(struct task *t, int h, uint64_t uaddr, uint64_t len)
{
	struct host_addr ha;
	long r = addr_in(t->proc, uaddr, len, &ha, false);
	/* The credentials go to the listener's queue before the host connects: its accept may come first */
	bool named = r == 0 && ha.ss.ss_family == AF_UNIX;
	if (named)
		uc_connected(t->proc, h, ha.hold, (struct sockaddr_un *)&ha.ss, ha.len);
	if (r < 0 || !blocking(h)) {
		r = r < 0 ? r : connect(h, (struct sockaddr *)&ha.ss, ha.len) < 0 ? -errno : 0;
		if (named && r < 0 && r != -EINPROGRESS)
			uc_unconnected(t->proc, h, ha.hold, (struct sockaddr_un *)&ha.ss, ha.len);
		host_addr_done(&ha);
		return r;
	}
	/* A blocking connect, made non-blocking so a signal can interrupt the wait. */
	int fl = fcntl(h, F_GETFL);
	fcntl(h, F_SETFL, fl | O_NONBLOCK);
	r = connect(h, (struct sockaddr *)&ha.ss, ha.len) < 0 ? -errno : 0;
	fcntl(h, F_SETFL, fl);
	if (named && r < 0 && r != -EINPROGRESS)
		uc_unconnected(t->proc, h, ha.hold, (struct sockaddr_un *)&ha.ss, ha.len);
	host_addr_done(&ha);
	if (r != -EINPROGRESS)
		return r;
	int timeout = sock_timeout_ms(h, true);
	r = host_wait(t, h, POLLOUT, timeout);
	if (r < 0)
		return r;
	if (r == 0 && timeout >= 0)
		return -EINPROGRESS; /* SO_SNDTIMEO ran out: still connecting, as Linux says */
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(h, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

long sys_connect(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t len)
{
	return WITH_HOST_FD(t, fd, h, sys_connect_held(t, h, uaddr, len));
}

long sys_listen(struct task *t, uint64_t fd, uint64_t backlog)
{
	int h = app_host_fd(t->proc, fd);
	if (h < 0)
		return -EBADF;
	if (listen(h, (int)backlog) < 0)
		return -errno;
	uc_listen(t->proc, h); /* a connecting peer sees the credentials of now */
	return 0;
}

static long sys_accept4_held(struct task *t, int h, uint64_t uaddr, uint64_t ulen, uint64_t flags)
{
	if (flags & ~(uint64_t)(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return -EINVAL;
	for (;;) { /* wait where a signal can interrupt; a connection another thread took leaves accept waiting */
		if (blocking(h)) {
			int timeout = sock_timeout_ms(h, false);
			long w = host_wait(t, h, POLLIN, timeout);
			if (w < 0)
				return w;
			if (w == 0 && timeout >= 0)
				return -EAGAIN; /* SO_RCVTIMEO ran out */
		}
		struct sockaddr_storage ss;
		socklen_t got = sizeof(ss);
		int c = accept4(h, (struct sockaddr *)&ss, &got, (int)(flags & SOCK_NONBLOCK) | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		long r = addr_out(t->proc, &ss, got, uaddr, ulen);
		if (r < 0) {
			close(c);
			return r;
		}
		if (ss.ss_family == AF_UNIX)
			uc_accepted(t->proc, h, c);
		return fd_install(t->proc, c, flags & SOCK_CLOEXEC);
	}
}

long sys_accept4(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t ulen, uint64_t flags)
{
	return WITH_HOST_FD(t, fd, h, sys_accept4_held(t, h, uaddr, ulen, flags));
}

long sys_sockname(struct task *t, uint64_t fd, uint64_t uaddr, uint64_t ulen, bool peer)
{
	int h = app_host_fd(t->proc, fd);
	if (h < 0)
		return -EBADF;
	struct sockaddr_storage ss;
	socklen_t got = sizeof(ss);
	if ((peer ? getpeername(h, (struct sockaddr *)&ss, &got) : getsockname(h, (struct sockaddr *)&ss, &got)) < 0)
		return -errno;
	return addr_out(t->proc, &ss, got, uaddr, ulen);
}

long sys_sockopt(struct task *t, uint64_t fd, uint64_t level, uint64_t name, uint64_t uval, uint64_t len, bool set)
{
	int h = app_host_fd(t->proc, fd);
	if (h < 0)
		return -EBADF;
	uint8_t v[256];
	if (set) {
		if (len > sizeof(v))
			return -EINVAL;
		if (len && mm_copy_in(t->proc, uval, v, len) < 0)
			return -EFAULT;
		if (level == SOL_SOCKET && name == SO_RCVLOWAT)
			__atomic_store_n(&t->proc->s->rcvlowat_set, true, __ATOMIC_RELEASE); /* (before it counts) */
		return setsockopt(h, (int)level, (int)name, v, (socklen_t)len) < 0 ? -errno : 0;
	}
	socklen_t room;
	if (mm_copy_in(t->proc, len, &room, sizeof(room)) < 0)
		return -EFAULT;
	socklen_t got = room < sizeof(v) ? room : sizeof(v);
	if (getsockopt(h, (int)level, (int)name, v, &got) < 0)
		return -errno;
	if (level == SOL_SOCKET && name == SO_PEERCRED) { /* the host's names the sentry */
		struct ucred c;
		uc_peercred(t->proc, h, &c);
		memcpy(v, &c, got < sizeof(c) ? got : sizeof(c));
	}
	if ((got && mm_copy_out(t->proc, uval, v, got) < 0) || mm_copy_out(t->proc, len, &got, sizeof(got)) < 0)
		return -EFAULT;
	return 0;
}

long sys_shutdown(struct task *t, uint64_t fd, uint64_t how)
{
	int h = app_host_fd(t->proc, fd);
	return h < 0 ? -EBADF : shutdown(h, (int)how) < 0 ? -errno : 0;
}

/* Wait until @h can send or receive, unless it is non-blocking or @flags say MSG_DONTWAIT. */
static long net_wait(struct task *t, int h, uint64_t flags, bool send)
{
	if ((flags & MSG_DONTWAIT) || !blocking(h))
		return 0;
	int timeout = sock_timeout_ms(h, send);
	long w = host_wait(t, h, send ? POLLOUT : POLLIN, timeout);
	return w < 0 ? w : w == 0 && timeout >= 0 ? -EAGAIN : 0;
}

/* After a MSG_DONTWAIT transfer found no data or room (errno @e): 0 once the socket is ready (wait
 * where signals interrupt), -EAGAIN when the caller does not wait (MSG_DONTWAIT, O_NONBLOCK, its
 * SO_*TIMEO ran out), else -@e. */
static long net_wait_more(struct task *t, int h, int e, uint64_t flags, bool send)
{
	if (e != EAGAIN)
		return -e;
	if ((flags & MSG_DONTWAIT) || !blocking(h))
		return -EAGAIN;
	int timeout = sock_timeout_ms(h, send);
	long w = host_wait(t, h, send ? POLLOUT : POLLIN, timeout);
	return w < 0 ? w : w == 0 && timeout >= 0 ? -EAGAIN : 0;
}

static long sys_sendto_held(struct task *t, int h, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t alen)
{
	struct host_addr ha = { .hold = -1 };
	long r = uaddr ? addr_in(t->proc, uaddr, alen, &ha, false) : 0;
	if (len > NET_IO_MAX)
		len = NET_IO_MAX;
	char *buf = r < 0 ? NULL : malloc(len ? len : 1);
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r == 0 && len && mm_copy_in(t->proc, ubuf, buf, len) < 0)
		r = -EFAULT;
	/* Never blocking in the host: each send with MSG_DONTWAIT (with room, one host call, no fcntl,
	 * getsockopt and ppoll first), and where it finds none the wait where signals interrupt; a
	 * stream socket's send goes on until all of it is sent, as a blocking send. */
	const struct sockaddr *to = uaddr ? (struct sockaddr *)&ha.ss : NULL;
	socklen_t tolen = uaddr ? ha.len : 0;
	uint64_t sent = 0;
	while (r == 0) {
		long n = sendto(h, buf + sent, len - sent, (int)flags | MSG_NOSIGNAL | MSG_DONTWAIT, to, tolen);
		if (n >= 0) {
			sent += (uint64_t)n;
			if (sent == len || n == 0)
				break;
			continue;
		}
		long w = net_wait_more(t, h, errno, flags, true);
		if (w < 0) {
			r = sent ? 0 : w;
			break;
		}
	}
	if (r == 0)
		r = (long)sent;
	if (r >= 0)
		uc_sent(t->proc, h, NULL, ha.hold, uaddr ? (struct sockaddr_un *)&ha.ss : NULL, ha.len);
	free(buf);
	host_addr_done(&ha);
	if (r == -EPIPE && !(flags & MSG_NOSIGNAL)) {
		siginfo_t si = { .si_signo = SIGPIPE, .si_code = SI_USER };
		si.si_pid = t->proc->pid;
		sig_queue(t, SIGPIPE, &si);
	}
	return r;
}

/* A stream socket's send larger than one buffer (NET_IO_MAX) goes on buffer by buffer while each
 * goes whole, as a blocking send sends it all; a datagram is one send. */
static long sys_sendto_all(struct task *t, int h, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t alen)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	if (len <= NET_IO_MAX || getsockopt(h, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
		return sys_sendto_held(t, h, ubuf, len, flags, uaddr, alen);
	uint64_t done = 0;
	while (done < len) {
		uint64_t part = len - done < NET_IO_MAX ? len - done : NET_IO_MAX;
		long r = sys_sendto_held(t, h, ubuf + done, part, flags, uaddr, alen);
		if (r < 0)
			return done ? (long)done : r;
		done += (uint64_t)r;
		if ((uint64_t)r < part)
			break;
	}
	return (long)done;
}

long sys_sendto(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t alen)
{
	return WITH_HOST_FD(t, fd, h, sys_sendto_all(t, h, ubuf, len, flags, uaddr, alen));
}

static long sys_recvfrom_held(struct task *t, int h, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t ulen)
{
	if (len > NET_IO_MAX)
		len = NET_IO_MAX;
	char *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	struct sockaddr_storage ss;
	socklen_t got = sizeof(ss);
	long r;
	if (!(flags & MSG_WAITALL) && !__atomic_load_n(&t->proc->s->rcvlowat_set, __ATOMIC_ACQUIRE)) {
		/* What is there, at once (no fcntl, getsockopt and ppoll first); else the wait and again */
		do {
			got = sizeof(ss);
			r = recvfrom(h, buf, len, (int)flags | MSG_DONTWAIT, (struct sockaddr *)&ss, &got);
		} while (r < 0 && (r = net_wait_more(t, h, errno, flags, false)) == 0);
	} else if ((r = net_wait(t, h, flags, false)) == 0) { /* the kernel's own wait for all, or the mark */
		r = recvfrom(h, buf, len, (int)flags, (struct sockaddr *)&ss, &got);
		r = r < 0 ? -errno : r;
	}
	if (r >= 0 && (mm_copy_out(t->proc, ubuf, buf, (size_t)(r < (long)len ? r : (long)len)) < 0 ||
		       addr_out(t->proc, &ss, got, uaddr, ulen) < 0))
		r = -EFAULT;
	free(buf);
	return r;
}

long sys_recvfrom(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t len, uint64_t flags, uint64_t uaddr, uint64_t ulen)
{
	return WITH_HOST_FD(t, fd, h, sys_recvfrom_held(t, h, ubuf, len, flags, uaddr, ulen));
}

#define CTL_MAX 4096 /* ancillary data per message: room for SCM_MAX_FD (253) descriptors */

/* The next control message header at @pos of @ctl[0..len) into *@h: its length, or 0 at the end. */
static size_t cmsg_at(const uint8_t *ctl, size_t len, size_t pos, struct cmsghdr *h)
{
	if (pos + sizeof(*h) > len)
		return 0;
	memcpy(h, ctl + pos, sizeof(*h));
	return h->cmsg_len >= sizeof(*h) && h->cmsg_len <= len - pos ? h->cmsg_len : 0;
}

/* The application's control data in @ctl (@len bytes), rewritten in place for the host: SCM_RIGHTS
 * name the application's fds, replaced by dups of their host fds (kept in @dups for the caller to
 * close); SCM_CREDENTIALS are checked against the sender's credentials, kept in *@given for the
 * receiver (unixcred.c) and replaced by the sentry's own, which the host accepts. Other types (IP
 * options) pass. */
static long ctl_to_host(struct process *pr, uint8_t *ctl, size_t len, int *dups, int *ndups, struct ucred *given, bool *has_given)
{
	long r = 0;
	struct cmsghdr h;
	size_t clen;
	pthread_mutex_lock(&pr->vm->lock);
	for (size_t pos = 0; r == 0 && (clen = cmsg_at(ctl, len, pos, &h)) != 0; pos += CMSG_ALIGN(clen)) {
		if (h.cmsg_level != SOL_SOCKET)
			continue;
		if (h.cmsg_type == SCM_CREDENTIALS) {
			struct ucred c, host = { .pid = getpid(), .uid = geteuid(), .gid = getegid() };
			if (clen < CMSG_LEN(sizeof(c))) {
				r = -EINVAL;
				break;
			}
			memcpy(&c, ctl + pos + CMSG_LEN(0), sizeof(c));
			if ((r = uc_check(pr, &c)) < 0)
				break;
			*given = c;
			*has_given = true;
			memcpy(ctl + pos + CMSG_LEN(0), &host, sizeof(host));
			continue;
		}
		if (h.cmsg_type != SCM_RIGHTS) {
			r = -EINVAL;
			break;
		}
		uint8_t *fds = ctl + pos + CMSG_LEN(0);
		size_t n = (clen - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && r == 0; i++) {
			int app, hfd;
			memcpy(&app, fds + i * sizeof(int), sizeof(app));
			if (app < 0 || (hfd = app_host_fd(pr, (uint64_t)app)) < 0)
				r = -EBADF;
			else if (*ndups >= CTL_MAX / (int)sizeof(int) || (hfd = fcntl(hfd, F_DUPFD_CLOEXEC, 3)) < 0)
				r = -ENFILE;
			else {
				dups[(*ndups)++] = hfd;
				memcpy(fds + i * sizeof(int), &hfd, sizeof(hfd));
			}
		}
	}
	pthread_mutex_unlock(&pr->vm->lock);
	return r;
}

/* Received control data in @ctl (*@len bytes) on host socket @hs, rewritten in place for the
 * application: SCM_RIGHTS fds are installed in its fd table (the ones that do not fit are closed,
 * MSG_CTRUNC as Linux does); SCM_CREDENTIALS, which name the sentry, become the sender's as the
 * sandbox knows them (unixcred.c). */
static void ctl_to_app(struct process *pr, int hs, uint8_t *ctl, size_t *len, bool cloexec, int *msg_flags)
{
	size_t out = 0, clen;
	struct cmsghdr h;
	pthread_mutex_lock(&pr->vm->lock);
	for (size_t pos = 0; (clen = cmsg_at(ctl, *len, pos, &h)) != 0; pos += CMSG_ALIGN(clen)) {
		size_t keep = clen; /* bytes of this message that stay */
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_CREDENTIALS && clen >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred c;
			uc_received(pr, hs, &c);
			memcpy(ctl + pos + CMSG_LEN(0), &c, sizeof(c));
		}
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
			uint8_t *fds = ctl + pos + CMSG_LEN(0);
			size_t n = (clen - CMSG_LEN(0)) / sizeof(int), kept = 0;
			for (size_t i = 0; i < n; i++) {
				int hfd;
				memcpy(&hfd, fds + i * sizeof(int), sizeof(hfd));
				long app = kept == i ? fd_install(pr, hfd, cloexec) : (close(hfd), -EMFILE);
				if (app < 0) {
					*msg_flags |= MSG_CTRUNC;
					continue;
				}
				int a = (int)app;
				memcpy(fds + kept++ * sizeof(int), &a, sizeof(a));
			}
			if (!kept)
				continue;
			keep = CMSG_LEN(kept * sizeof(int));
			h.cmsg_len = keep;
			memcpy(ctl + pos, &h, sizeof(h));
		}
		memmove(ctl + out, ctl + pos, keep); /* out <= pos: only what was already read moves */
		out += CMSG_ALIGN(keep);
	}
	pthread_mutex_unlock(&pr->vm->lock);
	*len = out < *len ? out : *len;
}

/* sendmsg/recvmsg: the iovecs through one buffer, the control data translated. */
static long sys_msg_held(struct task *t, int h, uint64_t umsg, uint64_t flags, bool send)
{
	struct msghdr m;
	if (mm_copy_in(t->proc, umsg, &m, sizeof(m)) < 0)
		return -EFAULT;
	if (m.msg_iovlen > 1024)
		return -EMSGSIZE;
	uint8_t ctl[CTL_MAX];
	int dups[CTL_MAX / sizeof(int)], ndups = 0;
	size_t ctl_len = m.msg_control ? (m.msg_controllen < CTL_MAX ? m.msg_controllen : CTL_MAX) : 0;
	if (send && m.msg_controllen > CTL_MAX)
		return -ENOBUFS;
	struct ucred given;
	bool has_given = false;
	if (send && ctl_len) {
		long c = mm_copy_in(t->proc, (uint64_t)m.msg_control, ctl, ctl_len) < 0
				 ? -EFAULT
				 : ctl_to_host(t->proc, ctl, ctl_len, dups, &ndups, &given, &has_given);
		if (c < 0) {
			while (ndups)
				close(dups[--ndups]);
			return c;
		}
	}
	struct iovec *iov = malloc((m.msg_iovlen ? m.msg_iovlen : 1) * sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	long r = m.msg_iovlen && mm_copy_in(t->proc, (uint64_t)m.msg_iov, iov, m.msg_iovlen * sizeof(*iov)) < 0 ? -EFAULT : 0;
	size_t total = 0;
	for (size_t i = 0; r == 0 && i < m.msg_iovlen; i++)
		total += iov[i].iov_len < NET_IO_MAX - total ? iov[i].iov_len : NET_IO_MAX - total;
	char *buf = r == 0 ? malloc(total ? total : 1) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	struct host_addr ha = { .hold = -1 };
	struct sockaddr_storage *ss = &ha.ss;
	if (r == 0 && send && m.msg_name && m.msg_namelen)
		r = addr_in(t->proc, (uint64_t)m.msg_name, m.msg_namelen, &ha, false);
	size_t off = 0;
	for (size_t i = 0; r == 0 && send && i < m.msg_iovlen && off < total; i++) {
		size_t n = iov[i].iov_len < total - off ? iov[i].iov_len : total - off;
		if (n && mm_copy_in(t->proc, (uint64_t)iov[i].iov_base, buf + off, n) < 0)
			r = -EFAULT;
		off += n;
	}
	/* As send and recv: never blocking in the host unless the kernel's own wait is asked for (a
	 * receive with MSG_WAITALL or SO_RCVLOWAT in the sandbox). */
	bool kernel_waits = !send && ((flags & MSG_WAITALL) || __atomic_load_n(&t->proc->s->rcvlowat_set, __ATOMIC_ACQUIRE));
	if (r == 0 && kernel_waits)
		r = net_wait(t, h, flags, send);
	if (r == 0) {
		struct iovec one = { buf, total };
		struct msghdr hm = { .msg_iov = &one, .msg_iovlen = 1 };
		size_t sent = 0;
		for (;;) {
			if (send && m.msg_name && m.msg_namelen) {
				hm.msg_name = ss;
				hm.msg_namelen = ha.len;
			} else if (!send) {
				hm.msg_name = ss;
				hm.msg_namelen = sizeof(*ss);
			}
			if (ctl_len && !sent) { /* (what follows a part already sent goes without: the kernel's way) */
				hm.msg_control = ctl;
				hm.msg_controllen = ctl_len;
			}
			int nw = kernel_waits ? 0 : MSG_DONTWAIT;
			/* Received fds are the sentry's: close-on-exec in the host whatever the application asked. */
			r = send ? sendmsg(h, &hm, (int)flags | MSG_NOSIGNAL | nw) : recvmsg(h, &hm, (int)flags | MSG_CMSG_CLOEXEC | nw);
			if (r >= 0 && send && (sent += (size_t)r) < total && r > 0) {
				one = (struct iovec){ buf + sent, total - sent }; /* a stream socket's part: the rest */
				hm.msg_control = NULL;
				hm.msg_controllen = 0;
				continue;
			}
			if (r >= 0 || kernel_waits)
				break;
			long w = net_wait_more(t, h, errno, flags, send);
			if (w < 0) {
				errno = (int)-w;
				break;
			}
		}
		if (send && sent)
			r = (long)sent;
		r = r < 0 ? -errno : r;
		if (send && r >= 0)
			uc_sent(t->proc, h, has_given ? &given : NULL, ha.hold,
				m.msg_name && m.msg_namelen ? (struct sockaddr_un *)ss : NULL, ha.len);
		if (r >= 0 && !send && hm.msg_controllen) {
			size_t got = hm.msg_controllen;
			int mf = hm.msg_flags;
			ctl_to_app(t->proc, h, ctl, &got, flags & MSG_CMSG_CLOEXEC, &mf);
			hm.msg_flags = mf;
			hm.msg_controllen = got;
			if (got && mm_copy_out(t->proc, (uint64_t)m.msg_control, ctl, got) < 0)
				r = -EFAULT;
		} else if (!send) {
			hm.msg_controllen = 0;
		}
		if (r >= 0 && !send) {
			off = 0;
			for (size_t i = 0; i < m.msg_iovlen && off < (size_t)r; i++) {
				size_t n = iov[i].iov_len < (size_t)r - off ? iov[i].iov_len : (size_t)r - off;
				if (n && mm_copy_out(t->proc, (uint64_t)iov[i].iov_base, buf + off, n) < 0)
					r = -EFAULT;
				off += n;
			}
			if (r >= 0) {
				unix_addr_out(t->proc->s, ss, &hm.msg_namelen);
				socklen_t nl = m.msg_name ? (hm.msg_namelen < m.msg_namelen ? hm.msg_namelen : m.msg_namelen) : 0;
				if (nl && mm_copy_out(t->proc, (uint64_t)m.msg_name, ss, nl) < 0)
					r = -EFAULT;
				m.msg_namelen = m.msg_name ? hm.msg_namelen : 0;
				m.msg_controllen = hm.msg_controllen;
				/* the kernel echoes the MSG_CMSG_CLOEXEC we added; the program sees only its own */
				m.msg_flags = hm.msg_flags & ~(int)(MSG_CMSG_CLOEXEC & ~flags);
				if (r >= 0 && mm_copy_out(t->proc, umsg, &m, sizeof(m)) < 0)
					r = -EFAULT;
			}
		}
	}
	while (ndups)
		close(dups[--ndups]);
	host_addr_done(&ha);
	free(buf);
	free(iov);
	return r;
}

long sys_msg(struct task *t, uint64_t fd, uint64_t umsg, uint64_t flags, bool send)
{
	return WITH_HOST_FD(t, fd, h, sys_msg_held(t, h, umsg, flags, send));
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(socket, sys_socket(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(socketpair, sys_socketpair(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(bind, sys_bind(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(connect, sys_connect(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(listen, sys_listen(t, a[0], a[1]))
SYSCALL_ENTRY(accept, sys_accept4(t, a[0], a[1], a[2], 0))
SYSCALL_ENTRY(accept4, sys_accept4(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(getsockname, sys_sockname(t, a[0], a[1], a[2], false))
SYSCALL_ENTRY(getpeername, sys_sockname(t, a[0], a[1], a[2], true))
SYSCALL_ENTRY(setsockopt, sys_sockopt(t, a[0], a[1], a[2], a[3], a[4], true))
SYSCALL_ENTRY(getsockopt, sys_sockopt(t, a[0], a[1], a[2], a[3], a[4], false))
SYSCALL_ENTRY(shutdown, sys_shutdown(t, a[0], a[1]))
SYSCALL_ENTRY(sendto, sys_sendto(t, a[0], a[1], a[2], a[3], a[4], a[5]))
SYSCALL_ENTRY(recvfrom, sys_recvfrom(t, a[0], a[1], a[2], a[3], a[4], a[5]))
SYSCALL_ENTRY(sendmsg, sys_msg(t, a[0], a[1], a[2], true))
SYSCALL_ENTRY(recvmsg, sys_msg(t, a[0], a[1], a[2], false))
