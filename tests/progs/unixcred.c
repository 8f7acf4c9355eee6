// SPDX-License-Identifier: Apache-2.0
// Guest program: unix socket credentials — SO_PEERCRED of a socketpair, of both ends of a connection
// to a named and to an abstract listener (the listener's at listen(), the connector's at connect()),
// of an unconnected socket; SCM_CREDENTIALS received with SO_PASSCRED (the sender's pid and ids, from
// a forked child too, on a stream and to a bound datagram socket) and sent explicitly (checked: another
// pid needs CAP_SYS_ADMIN, a missing one is ESRCH, another uid CAP_SETUID). Compared with native.
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void peer(const char *what, int fd, pid_t pid, uid_t uid, gid_t gid)
{
	struct ucred c;
	socklen_t l = sizeof(c);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &l) < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: pid %s uid %s gid %s\n", what, c.pid == pid ? "right" : "wrong", c.uid == uid ? "right" : "wrong",
	       c.gid == gid ? "right" : "wrong");
}

static long send_cred(int fd, const struct ucred *c)
{
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (c) {
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_CREDENTIALS;
		h->cmsg_len = CMSG_LEN(sizeof(*c));
		memcpy(CMSG_DATA(h), c, sizeof(*c));
	}
	return sendmsg(fd, &m, 0) < 0 ? -errno : 0;
}

static void recv_cred(const char *what, int fd, pid_t pid, uid_t uid, gid_t gid)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	if (recvmsg(fd, &m, 0) < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_type != SCM_CREDENTIALS) {
		printf("%s: no credentials\n", what);
		return;
	}
	struct ucred c;
	memcpy(&c, CMSG_DATA(h), sizeof(c));
	printf("%s: pid %s uid %s gid %s\n", what, c.pid == pid ? "right" : "wrong", c.uid == uid ? "right" : "wrong",
	       c.gid == gid ? "right" : "wrong");
}

static void passcred(int fd)
{
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
}

/* A listener at @addr; a child (uid 1000 if @drop) connects and sends; both ends' SO_PEERCRED. */
static void listener(const char *what, const struct sockaddr_un *addr, socklen_t len, bool drop)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(l, (const struct sockaddr *)addr, len) < 0 || listen(l, 4) < 0 ||
	    (addr->sun_path[0] && chmod(addr->sun_path, 0777) < 0)) { /* uid 1000 must be able to connect */
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	int sync[2];
	if (pipe(sync) < 0)
		return;
	pid_t c = fork();
	if (c == 0) {
		if (drop && (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0))
			_exit(2);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(s, (const struct sockaddr *)addr, len) < 0)
			_exit(3);
		char buf[64], go;
		if (read(sync[0], &go, 1) != 1) /* the parent has printed its line */
			_exit(4);
		snprintf(buf, sizeof(buf), "%s, connector", what);
		peer(buf, s, getppid(), 0, 0);
		send_cred(s, NULL);
		_exit(0);
	}
	int a = accept(l, NULL, NULL);
	char buf[64];
	snprintf(buf, sizeof(buf), "%s, accepted", what);
	peer(buf, a, c, drop ? 1000 : 0, drop ? 1000 : 0);
	passcred(a);
	if (write(sync[1], "g", 1) != 1)
		return;
	snprintf(buf, sizeof(buf), "%s, message", what);
	recv_cred(buf, a, c, drop ? 1000 : 0, drop ? 1000 : 0);
	int st;
	waitpid(c, &st, 0);
	close(a);
	close(l);
	close(sync[0]);
	close(sync[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t me = getpid();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	peer("socketpair", sv[0], me, geteuid(), getegid());
	passcred(sv[0]);
	send_cred(sv[1], NULL);
	recv_cred("own message", sv[0], me, getuid(), getgid());
	pid_t c = fork();
	if (c == 0)
		_exit(send_cred(sv[1], NULL) == 0 ? 0 : 1);
	int st;
	waitpid(c, &st, 0);
	recv_cred("child's message", sv[0], c, getuid(), getgid());
	struct ucred mine = { me, getuid(), getgid() };
	printf("explicit own: %ld\n", send_cred(sv[1], &mine));
	recv_cred("explicit own, received", sv[0], me, getuid(), getgid());
	if (geteuid() == 0) {
		struct ucred other = { getppid() > 1 ? getppid() : me, 1234, 5678 };
		c = fork();
		if (c == 0)
			_exit(0);
		other.pid = c; /* a zombie: it still exists */
		printf("explicit other pid and ids as root: %ld\n", send_cred(sv[1], &other));
		recv_cred("explicit other, received", sv[0], c, 1234, 5678);
		waitpid(c, &st, 0);
		struct ucred gone = { 999999, 0, 0 };
		printf("explicit missing pid: %s\n", strerror((int)-send_cred(sv[1], &gone)));
		c = fork();
		if (c == 0) {
			if (setresuid(1000, 1000, 1000) < 0)
				_exit(2);
			struct ucred as_root = { getpid(), 0, 0 }, not_me = { getppid(), 1000, 0 };
			printf("uid 1000 claims uid 0: %s\n", strerror((int)-send_cred(sv[1], &as_root)));
			printf("uid 1000 claims another pid: %s\n", strerror((int)-send_cred(sv[1], &not_me)));
			_exit(0);
		}
		waitpid(c, &st, 0);
	}
	int lone = socket(AF_UNIX, SOCK_STREAM, 0);
	peer("unconnected", lone, 0, (uid_t)-1, (gid_t)-1);
	close(lone);

	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/cvisor-ucred-%d", (int)me);
	unlink(a.sun_path);
	listener("named", &a, sizeof(a), geteuid() == 0);
	unlink(a.sun_path);
	struct sockaddr_un ab = { .sun_family = AF_UNIX };
	int n = snprintf(ab.sun_path + 1, sizeof(ab.sun_path) - 1, "cvisor-ucred-%d", (int)me);
	listener("abstract", &ab, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n), false);

	/* A datagram to a bound name: the last sender's credentials. */
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(d, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	passcred(d);
	c = fork();
	if (c == 0) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		_exit(sendto(s, "d", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1 ? 0 : 1);
	}
	waitpid(c, &st, 0);
	recv_cred("datagram", d, c, getuid(), getgid());
	unlink(a.sun_path);

	/* SO_RCVTIMEO and SO_SNDTIMEO: a blocking call gives up with EAGAIN (never waits forever). */
	struct timeval tv = { 0, 100000 };
	int t[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, t) < 0)
		return 1;
	setsockopt(t[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char b[4096];
	ssize_t got = recv(t[0], b, 1, 0);
	printf("recv with SO_RCVTIMEO: %zd %s\n", got, strerror(errno));
	got = read(t[0], b, 1);
	printf("read with SO_RCVTIMEO: %zd %s\n", got, strerror(errno));
	memset(b, 'x', sizeof(b));
	ssize_t w;
	long total = 0;
	while ((w = send(t[0], b, sizeof(b), 0)) > 0)
		total += w;
	printf("send with SO_SNDTIMEO until full: %s, sent something %d\n", strerror(errno), total > 0);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un la = { .sun_family = AF_UNIX };
	snprintf(la.sun_path, sizeof(la.sun_path), "/tmp/cvisor-ucred-l-%d", (int)me);
	unlink(la.sun_path);
	if (bind(l, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(l, 1) < 0)
		return 1;
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int acc = accept(l, NULL, NULL);
	printf("accept with SO_RCVTIMEO: %d %s\n", acc, strerror(errno));
	unlink(la.sun_path);
	return 0;
}
