// SPDX-License-Identifier: Apache-2.0
// The sandbox's own network, and unix socket names.
//
// Without --net the sentry moves into a network namespace of its own before the program starts, with
// only a loopback device, up: a program that serves and talks to itself on 127.0.0.1 or ::1 just works
// (as under runsc --network=none), and nothing it does reaches another host or the host's own
// services. Abstract unix names live in the network namespace too, so there they are the sandbox's
// own; with --net (the host's namespace) the sandbox gets a namespace of its own inside the host's: a
// name it binds is bound on the host under an unguessable one of the sentry's ("\0cvisor-" and 128
// random bits: no host process can bind it first), forgotten if that bind fails; connect and
// sendto reach only names the sandbox bound (or autobound), and the kernel's reports are given back
// as the sandbox's names — a host service's abstract socket (X11, D-Bus) is never reachable.
//
// Pathname unix sockets are files: their names are walked like every path (walk.c). bind makes the
// socket node through the sentry's magic link to the walked directory ("/proc/self/fd/D/name": one
// component, never followed), only in a read-write mount; connect and sendto reach a socket node by
// the magic link to its O_PATH fd ("/proc/self/fd/N": that inode, nothing resolved by name), and only
// one in a read-write mount: a socket of the host's (docker.sock, D-Bus) is never reachable.
// Addresses the kernel reports back (getsockname, getpeername, accept, recvfrom) carry those magic
// names; they are given back as the name the program bound.
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "../sentry.h"

#define MAGIC_PREFIX "/proc/self/fd/"

bool net_loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
	if (fd >= 0)
		close(fd);
	return up;
}

static void write_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t w = write(fd, value, strlen(value));
		(void)w;
		close(fd);
	}
}

void net_private_sysctls(const struct sentry_opts *opts, bool own)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", opts->unpriv_port_start);
	if (own || opts->set_unpriv_port) /* a namespace shared with others gets only what was asked */
		write_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", own ? "0" : port);
	if (opts->ping_group_range)
		write_sysctl("/proc/sys/net/ipv4/ping_group_range", opts->ping_group_range);
}

void net_setup(struct sentry *s)
{
	s->unpriv_port_start = s->opts.set_unpriv_port ? s->opts.unpriv_port_start : 1024;
	if (s->opts.net)
		return;
	if (s->L->confined) { /* the jail made the namespace (jail.c) */
		s->private_net = s->L->private_net;
		return;
	}
	/* Unprivileged callers without user namespaces keep the older rule: no IP sockets at all. */
	if (unshare(CLONE_NEWNET) < 0)
		return;
	s->private_net = net_loopback_up();
}

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;

/* Remember that host name @host stands for the name @app the program bound. */
static void remember(struct sentry *s, const char *host, const char *app)
{
	pthread_mutex_lock(&names_lock);
	unsigned i = 0;
	while (i < s->n_unames && strcmp(s->unames[i].host, host) != 0)
		i++;
	if (i == s->n_unames) /* a new one: in the next slot, the oldest making room */
		i = s->n_unames < UNIX_NAMES_MAX ? s->n_unames++ : s->next_uname++ % UNIX_NAMES_MAX;
	size_t hl = strnlen(host, sizeof(s->unames[i].host) - 1), al = strnlen(app, sizeof(s->unames[i].app) - 1);
	memcpy(s->unames[i].host, host, hl);
	s->unames[i].host[hl] = 0;
	memcpy(s->unames[i].app, app, al);
	s->unames[i].app[al] = 0;
	pthread_mutex_unlock(&names_lock);
}

/* Abstract names under --net: the program's, and the host's it stands for (names_lock). */
static struct {
	char app[sizeof(((struct sockaddr_un *)0)->sun_path)], host[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t app_len, host_len;
} abs_names[UNIX_NAMES_MAX];
static unsigned n_abs, next_abs;

/* The entry whose app (@by_app) or host name is @name (names_lock held), or -1. Newest first. */
static int abs_find(const char *name, size_t len, bool by_app)
{
	for (unsigned k = 0; k < n_abs; k++) {
		unsigned i = (next_abs + n_abs - 1 - k) % UNIX_NAMES_MAX;
		size_t l = by_app ? abs_names[i].app_len : abs_names[i].host_len;
		if (l == len && memcmp(by_app ? abs_names[i].app : abs_names[i].host, name, len) == 0)
			return (int)i;
	}
	return -1;
}

static void abs_add(const char *app, size_t app_len, const char *host, size_t host_len)
{
	unsigned i = (next_abs + n_abs) % UNIX_NAMES_MAX;
	if (n_abs < UNIX_NAMES_MAX)
		n_abs++;
	else
		next_abs = (next_abs + 1) % UNIX_NAMES_MAX; /* the oldest makes room */
	memcpy(abs_names[i].app, app, app_len);
	abs_names[i].app_len = app_len;
	memcpy(abs_names[i].host, host, host_len);
	abs_names[i].host_len = host_len;
}

/* An abstract name (or autobind) under --net, rewritten to the host name it stands for. */
static long abstract_in(struct host_addr *ha, bool bind)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&ha->ss;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	if (ha->len <= off)
		return bind ? 0 : -EINVAL; /* autobind: a fresh name, harmless anywhere */
	size_t len = ha->len - off;
	pthread_mutex_lock(&names_lock);
	int i = abs_find(sun->sun_path, len, true);
	long ret = 0;
	if (i < 0 && bind) { /* the program's first bind of it: a name of the sentry's on the host */
		/* unguessable, so that no host process can bind it first and be reached in its place */
		char host[sizeof(sun->sun_path)];
		uint64_t r[2] = { 0, 0 };
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			ret = -EAGAIN;
		int n = snprintf(host + 1, sizeof(host) - 1, "cvisor-%016llx%016llx", (unsigned long long)r[0],
				 (unsigned long long)r[1]);
		host[0] = 0;
		if (ret == 0) {
			abs_add(sun->sun_path, len, host, (size_t)n + 1);
			i = abs_find(sun->sun_path, len, true);
			ha->abs_new = true;
		}
	}
	if (ret < 0) {
		/* no name without randomness */
	} else if (i < 0) {
		ret = -ECONNREFUSED; /* not the sandbox's: never a host service's */
	} else {
		memset(sun->sun_path, 0, sizeof(sun->sun_path));
		memcpy(sun->sun_path, abs_names[i].host, abs_names[i].host_len);
		ha->len = (socklen_t)(off + abs_names[i].host_len);
	}
	pthread_mutex_unlock(&names_lock);
	return ret;
}

void unix_abstract_unbound(struct sentry *s, const struct host_addr *ha)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&ha->ss;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	if (s->private_net || !ha->abs_new || ha->ss.ss_family != AF_UNIX || ha->len <= off || sun->sun_path[0])
		return;
	pthread_mutex_lock(&names_lock); /* a bind that failed: its name stands for nothing */
	int i = abs_find(sun->sun_path, ha->len - off, false);
	if (i >= 0)
		abs_names[i].app_len = abs_names[i].host_len = (size_t)-1; /* matches no name again */
	pthread_mutex_unlock(&names_lock);
}

void unix_autobound(struct sentry *s, int h)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	size_t off = offsetof(struct sockaddr_un, sun_path);
	if (s->private_net || getsockname(h, (struct sockaddr *)&sun, &len) < 0 || len <= off || sun.sun_path[0])
		return;
	pthread_mutex_lock(&names_lock);
	if (abs_find(sun.sun_path, len - off, false) < 0) /* the kernel's own name: the program's as it is */
		abs_add(sun.sun_path, len - off, sun.sun_path, len - off);
	pthread_mutex_unlock(&names_lock);
}

long unix_addr_in(struct process *pr, struct host_addr *ha, bool bind)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&ha->ss;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	if (ha->len <= off || sun->sun_path[0] == 0) /* autobind or an abstract name: per network namespace */
		return pr->s->private_net ? 0 : abstract_in(ha, bind);
	char path[sizeof(sun->sun_path) + 1];
	size_t n = strnlen(sun->sun_path, ha->len - off);
	memcpy(path, sun->sun_path, n);
	path[n] = 0;
	struct walk w;
	long ret = walk_path(pr, AT_FDCWD, path, bind ? WALK_PARENT : WALK_FOLLOW, &w);
	if (ret < 0)
		return ret;
	int len;
	if (bind) {
		ret = w.proc ? -EACCES : w.last != WALK_LAST_NORM || w.mount || w.fd >= 0 ? -EADDRINUSE
		    : w.slash ? -ENOENT : !w.rw ? -EROFS : 0;
		len = snprintf(sun->sun_path, sizeof(sun->sun_path), MAGIC_PREFIX "%d/%s", w.dir, w.name);
	} else {
		ret = w.proc || !S_ISSOCK(w.st.st_mode) ? -ECONNREFUSED : !w.rw ? -EACCES : 0;
		len = snprintf(sun->sun_path, sizeof(sun->sun_path), MAGIC_PREFIX "%d", w.fd);
	}
	if (ret == 0 && (len < 0 || (size_t)len >= sizeof(sun->sun_path)))
		ret = -ENAMETOOLONG; /* a long name in a deep descriptor: past sun_path's 108 bytes */
	if (ret == 0) {
		ha->len = (socklen_t)(off + (size_t)len + 1);
		ha->hold = bind ? w.dir : w.fd; /* the magic link must name it until the call is made */
		if (bind) {
			w.dir = -1;
			remember(pr->s, sun->sun_path, path);
		} else {
			w.fd = -1;
		}
	}
	walk_done(&w);
	return ret;
}

void unix_addr_out(struct sentry *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	if (ss->ss_family == AF_UNIX && !s->private_net && *len > off && sun->sun_path[0] == 0) {
		pthread_mutex_lock(&names_lock); /* a host abstract name: the program's it stands for */
		int i = abs_find(sun->sun_path, *len - off, false);
		if (i >= 0) {
			memset(sun->sun_path, 0, sizeof(sun->sun_path));
			memcpy(sun->sun_path, abs_names[i].app, abs_names[i].app_len);
			*len = (socklen_t)(off + abs_names[i].app_len);
		}
		pthread_mutex_unlock(&names_lock);
		return;
	}
	if (ss->ss_family != AF_UNIX || *len <= off || strncmp(sun->sun_path, MAGIC_PREFIX, strlen(MAGIC_PREFIX)) != 0)
		return;
	char host[sizeof(sun->sun_path) + 1];
	size_t n = strnlen(sun->sun_path, *len - off);
	memcpy(host, sun->sun_path, n);
	host[n] = 0;
	*len = (socklen_t)off; /* unnamed, unless it is a name the program bound */
	pthread_mutex_lock(&names_lock);
	for (unsigned i = 0; i < s->n_unames; i++)
		if (strcmp(s->unames[i].host, host) == 0) {
			size_t l = strlen(s->unames[i].app);
			memcpy(sun->sun_path, s->unames[i].app, l + 1);
			*len = (socklen_t)(off + l + 1);
		}
	pthread_mutex_unlock(&names_lock);
}

void host_addr_done(struct host_addr *ha)
{
	if (ha->hold >= 0)
		close(ha->hold);
	ha->hold = -1;
}
