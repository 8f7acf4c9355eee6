// SPDX-License-Identifier: Apache-2.0
// File owners as the program sees them. In the jail (jail.c) the kernel reports ids through the jail's
// user namespace: its id 0 is the jail itself (the files it made, and on idmapped --rw mounts host root's
// files), and a host id the namespace does not map reads as the overflow id (65534). Given back here as
// the caller would see them natively: the jail's 0 is the caller (root, or the unprivileged user). Started
// by root, the overflow id can only be the host's root (the one id left unmapped). Started by another
// user, whose namespace maps only that user, the overflow id could be anyone: the caller's process,
// outside every namespace, is asked (ids_serve) — it stats the same file through a descriptor sent to it
// and says whose it is. It learns nothing but that, and a dead caller leaves the overflow id.
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

struct ids_answer {
	int err;
	uint32_t uid, gid;
};

static uint32_t report(uint32_t id, uint32_t self, uint32_t overflow, uint32_t unmapped)
{
	return id == 0 ? self : id == overflow ? unmapped : id;
}

/* Ask the caller whose host fd @h is: true on an answer. */
static bool ask_caller(int sock, int h, uint32_t *uid, uint32_t *gid)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &h, sizeof(int));
	struct ids_answer a = { .err = EIO };
	ssize_t n;
	pthread_mutex_lock(&lock);
	while ((n = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n == 1)
		while ((n = recv(sock, &a, sizeof(a), 0)) < 0 && errno == EINTR)
			;
	pthread_mutex_unlock(&lock);
	if (n != (ssize_t)sizeof(a) || a.err)
		return false;
	*uid = a.uid;
	*gid = a.gid;
	return true;
}

bool ids_need_fd(const struct sentry *s, uint32_t uid, uint32_t gid)
{
	const struct launch *L = s->L;
	return L->confined && L->ids_fd >= 0 && (uid == L->overflow_uid || gid == L->overflow_gid);
}

void ids_report(const struct sentry *s, int h, uint32_t *uid, uint32_t *gid)
{
	const struct launch *L = s->L;
	if (!L->confined)
		return;
	if (L->ids_fd >= 0 && (*uid == L->overflow_uid || *gid == L->overflow_gid)) {
		uint32_t u, g;
		if (ask_caller(L->ids_fd, h, &u, &g)) {
			if (*uid == L->overflow_uid)
				*uid = u;
			else
				*uid = report(*uid, L->self_uid, L->overflow_uid, L->unmapped_uid);
			if (*gid == L->overflow_gid)
				*gid = g;
			else
				*gid = report(*gid, L->self_gid, L->overflow_gid, L->unmapped_gid);
			return;
		}
	}
	*uid = report(*uid, L->self_uid, L->overflow_uid, L->unmapped_uid);
	*gid = report(*gid, L->self_gid, L->overflow_gid, L->unmapped_gid);
}

void ids_serve(int sock)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) != 1)
		return;
	int fd = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	struct ids_answer a = { .err = EBADF };
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0)
		a = (struct ids_answer){ 0, st.st_uid, st.st_gid };
	if (fd >= 0)
		close(fd);
	ssize_t n = send(sock, &a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
}
