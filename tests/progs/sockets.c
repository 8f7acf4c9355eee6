// SPDX-License-Identifier: Apache-2.0
// Guest program: sockets. A socketpair always, and descriptors passed over it (SCM_RIGHTS); with an argument "net", a TCP echo over loopback (a
// thread serves one connection) and a UDP round trip, with sendmsg/recvmsg and socket options; with
// "contained PATH NAME", what cvisor without --net offers: a network of its own (loopback only: no route
// out), the host's unix sockets (named PATH, abstract NAME) unreachable, and named and abstract unix
// sockets of its own. Prints what it sees; the test compares the output with a native run (or, for
// "contained", with what cvisor must answer).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static int lfd;

static void *serve(void *arg)
{
	(void)arg;
	int c = accept(lfd, NULL, NULL);
	char b[64];
	ssize_t n = recv(c, b, sizeof(b), 0);
	if (n > 0)
		send(c, b, (size_t)n, 0);
	close(c);
	return NULL;
}

static int unix_addr(struct sockaddr_un *un, const char *name, bool abstract)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path + abstract, sizeof(un->sun_path) - 1, "%s", name);
	return (int)(offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name) + !abstract);
}

/* cvisor without --net: a network of its own (loopback only), unix names only in its own places. */
static void contained(const char *host_sock, const char *host_abstract)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in out = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, "192.0.2.1", &out.sin_addr); /* TEST-NET-1: no route in the sandbox */
	printf("tcp socket: %d\n", s < 0 ? -errno : 0);
	printf("connect outside: %d\n", connect(s, (struct sockaddr *)&out, sizeof(out)) < 0 ? -errno : 0);
	struct sockaddr_un un;
	int u = socket(AF_UNIX, SOCK_STREAM, 0), n = unix_addr(&un, host_sock, false);
	printf("host's named socket: %d\n", connect(u, (struct sockaddr *)&un, (socklen_t)n) < 0 ? -errno : 0);
	close(u);
	u = socket(AF_UNIX, SOCK_STREAM, 0);
	n = unix_addr(&un, host_abstract, true);
	printf("host's abstract socket: %d\n", connect(u, (struct sockaddr *)&un, (socklen_t)n) < 0 ? -errno : 0);
	close(u);
	/* Its own named socket, in its private /tmp, by a relative name. */
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	unlink("/tmp/cvisor-own.sock");
	n = unix_addr(&un, "cvisor-own.sock", false);
	printf("chdir: %d\n", chdir("/tmp"));
	printf("own bind: %d\n", bind(l, (struct sockaddr *)&un, (socklen_t)n) < 0 ? -errno : 0);
	printf("own listen: %d\n", listen(l, 1));
	n = unix_addr(&un, "/tmp/cvisor-own.sock", false);
	printf("own connect: %d\n", connect(c, (struct sockaddr *)&un, (socklen_t)n) < 0 ? -errno : 0);
	int a = accept(l, NULL, NULL);
	printf("echo: %d\n", a >= 0 && send(c, "x", 1, 0) == 1 && recv(a, &(char){ 0 }, 1, 0) == 1);
	socklen_t sl = sizeof(un);
	getsockname(l, (struct sockaddr *)&un, &sl);
	printf("own name: %s\n", un.sun_path);
	sl = sizeof(un);
	getpeername(c, (struct sockaddr *)&un, &sl);
	printf("peer name: %s\n", un.sun_path);
	/* An abstract name of its own. */
	int al = socket(AF_UNIX, SOCK_STREAM, 0), ac = socket(AF_UNIX, SOCK_STREAM, 0);
	n = unix_addr(&un, "cvisor-own-abstract", true);
	int b = bind(al, (struct sockaddr *)&un, (socklen_t)n), li = listen(al, 1);
	printf("own abstract: %d %d %d\n", b, li, connect(ac, (struct sockaddr *)&un, (socklen_t)n));
}

/* Send @n fds over @s with one byte; sendmsg's result or -errno. */
static int send_fds(int s, const int *fds, int n)
{
	char byte = 'F';
	struct iovec io = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(s, &m, 0) < 0 ? -errno : 0;
}

/* Receive up to @room fds (a control buffer for that many) into @fds; the count, or -errno. */
static int recv_fds(int s, int *fds, int room, int flags, int *msg_flags)
{
	char byte;
	struct iovec io = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(room * sizeof(int)) };
	if (recvmsg(s, &m, flags) < 0)
		return -errno;
	*msg_flags = m.msg_flags;
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
			n += k;
		}
	return n;
}

/* Descriptors passed between processes over a socketpair: a pipe's read end and a file. */
static void pass_fds(void)
{
	int sv[2], p[2], fds[4], mf;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t c = fork();
	if (c == 0) {
		close(sv[0]);
		int n = recv_fds(sv[1], fds, 2, MSG_CMSG_CLOEXEC, &mf);
		char b[32] = { 0 };
		ssize_t r = n == 2 ? read(fds[0], b, sizeof(b) - 1) : -1;
		char f[8] = { 0 };
		ssize_t fr = n == 2 ? pread(fds[1], f, 4, 0) : -1;
		printf("child got %d fds (cloexec %d): pipe says %.*s, file starts %.*s\n", n,
		       n == 2 && (fcntl(fds[0], F_GETFD) & FD_CLOEXEC), (int)r, b, (int)fr, f);
		/* Room for two of three (control space is 8-byte aligned): the third is closed, MSG_CTRUNC. */
		n = recv_fds(sv[1], fds, 1, 0, &mf);
		printf("child with room for two: %d fds, truncated %d\n", n, (mf & MSG_CTRUNC) != 0);
		_exit(0);
	}
	close(sv[1]);
	pipe(p);
	int file = open("/etc/passwd", O_RDONLY);
	fds[0] = p[0];
	fds[1] = file;
	printf("send 2 fds: %d\n", send_fds(sv[0], fds, 2));
	write(p[1], "through the pipe", 16);
	close(p[1]);
	int three[3] = { file, file, file };
	int sent = send_fds(sv[0], three, 3), bad = send_fds(sv[0], (int[]){ 999 }, 1);
	int st;
	waitpid(c, &st, 0); /* its lines first: the output is compared */
	printf("send 3 more: %d; a bad fd: %d\n", sent, bad);
	close(p[0]);
	close(file);
	close(sv[0]);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int sv[2];
	printf("socketpair: %d\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	write(sv[0], "ping", 4);
	char b[64] = { 0 };
	ssize_t n = read(sv[1], b, sizeof(b));
	printf("pair read %zd %.*s\n", n, (int)n, b);
	pass_fds();
	if (argc < 2)
		return 0;
	if (strcmp(argv[1], "contained") == 0 && argc == 4) { /* under cvisor without --net */
		contained(argv[2], argv[3]);
		return 0;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	printf("setsockopt: %d\n", setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	int v = 0;
	socklen_t vl = sizeof(v);
	getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &v, &vl);
	printf("getsockopt: %d len %u\n", v != 0, vl);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	printf("bind: %d listen: %d\n", bind(lfd, (struct sockaddr *)&a, sizeof(a)), listen(lfd, 4));
	socklen_t al = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	printf("bound port nonzero: %d\n", a.sin_port != 0);
	pthread_t th;
	pthread_create(&th, NULL, serve, NULL);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	printf("connect: %d\n", connect(c, (struct sockaddr *)&a, sizeof(a)));
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	getpeername(c, (struct sockaddr *)&peer, &pl);
	printf("peer is the server: %d\n", peer.sin_port == a.sin_port);
	struct iovec iov[2] = { { "hel", 3 }, { "lo", 2 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	printf("sendmsg: %zd\n", sendmsg(c, &m, 0));
	memset(b, 0, sizeof(b));
	struct iovec riov = { b, sizeof(b) };
	struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1 };
	n = recvmsg(c, &rm, 0);
	printf("recvmsg: %zd %.*s\n", n, (int)n, b);
	pthread_join(th, NULL);
	printf("after close: %zd\n", recv(c, b, sizeof(b), 0));
	close(c);
	close(lfd);

	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(u2, (struct sockaddr *)&ua, sizeof(ua));
	socklen_t ul = sizeof(ua);
	getsockname(u2, (struct sockaddr *)&ua, &ul);
	printf("sendto: %zd\n", sendto(u1, "dgram", 5, 0, (struct sockaddr *)&ua, sizeof(ua)));
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	n = recvfrom(u2, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
	printf("recvfrom: %zd %.*s from loopback %d\n", n, (int)n, b, from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	return 0;
}
