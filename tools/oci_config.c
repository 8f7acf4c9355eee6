// SPDX-License-Identifier: Apache-2.0
// A bundle's config.json (OCI runtime-spec), read once at create and turned into the sentry's options.
// Every field is either honoured, or harmless to leave to the sentry (its own seccomp, /dev, /proc and
// /sys already show less than what maskedPaths, devices and capabilities' bounding set would leave), or
// refused with one line: never half-applied.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "oci.h"

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU },       { "RLIMIT_FSIZE", RLIMIT_FSIZE },   { "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_STACK", RLIMIT_STACK },   { "RLIMIT_CORE", RLIMIT_CORE },     { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },   { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_AS", RLIMIT_AS },         { "RLIMIT_LOCKS", RLIMIT_LOCKS },   { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* Capability names by number (linux/capability.h), CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40. */
static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
	"LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE",
};

/* Keys of @obj not in @known (NULL-terminated): the first one, or NULL. */
static const char *unknown_key(json_t *obj, const char *const *known)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		bool ok = false;
		for (const char *const *q = known; *q && !ok; q++)
			ok = strcmp(k, *q) == 0;
		if (!ok)
			return k;
	}
	return NULL;
}

/* A NULL-terminated copy of an array of strings (pointing into the document), or NULL. */
static char **strings(json_t *arr, const char *what)
{
	if (!json_is_array(arr)) {
		oci_error("config.json: %s must be an array of strings", what);
		return NULL;
	}
	size_t n = json_array_size(arr);
	char **out = calloc(n + 1, sizeof(char *));
	if (!out) {
		oci_error("out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s)) {
			oci_error("config.json: %s[%zu] is not a string", what, i);
			free(out);
			return NULL;
		}
		out[i] = (char *)json_string_value(s);
	}
	return out;
}

static bool is_uint32(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 0xffffffffll;
}

/* args[0] as the sandbox will find it: with a slash as given, else through the PATH of process.env,
 * looked up in the image (runc's message, which engines match to say 127). */
static int find_program(struct oci_config *c)
{
	const char *prog = c->argv[0];
	char host[PATH_MAX + SENTRY_PATH_MAX];
	if (strchr(prog, '/')) {
		int n = snprintf(c->prog, sizeof(c->prog), "%s%s%s", prog[0] == '/' ? "" : c->cwd,
				 prog[0] == '/' || strcmp(c->cwd, "/") == 0 ? "" : "/", prog);
		if (n < 0 || (size_t)n >= sizeof(c->prog)) {
			oci_error("process.args[0]: path too long");
			return -1;
		}
		return 0; /* checked by the sentry, through the sandbox's mounts */
	}
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (char **e = c->env; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n && path[0] == '/') {
			snprintf(c->prog, sizeof(c->prog), "%.*s/%s", (int)n, path, prog);
			/* The image on the host: a link in it may point anywhere on the host, so only a
			 * plain file here counts; a link is followed by the sentry, inside the root. */
			struct stat st;
			snprintf(host, sizeof(host), "%s%s", c->rootfs, c->prog);
			if (lstat(host, &st) == 0 && (S_ISLNK(st.st_mode) || (S_ISREG(st.st_mode) && (st.st_mode & 0111))))
				return 0;
		}
		path += n + (path[n] == ':');
	}
	oci_error("exec: \"%s\": executable file not found in $PATH", prog);
	return -1;
}

static int load_process(struct oci_config *c, json_t *p)
{
	static const char *const known[] = { "args", "env", "cwd", "user", "terminal", "consoleSize", "rlimits",
					     "noNewPrivileges", "capabilities", "apparmorProfile", "selinuxLabel",
					     "oomScoreAdj", "commandLine", NULL };
	const char *bad = unknown_key(p, known);
	if (bad) {
		oci_error("config.json: process.%s is not supported", bad);
		return -1;
	}
	if (!(c->argv = strings(json_object_get(p, "args"), "process.args")))
		return -1;
	if (!c->argv[0] || !c->argv[0][0]) {
		oci_error("config.json: process.args is empty");
		return -1;
	}
	json_t *env = json_object_get(p, "env");
	c->env = env ? strings(env, "process.env") : calloc(1, sizeof(char *));
	if (!c->env)
		return -1;
	json_t *cwd = json_object_get(p, "cwd");
	const char *cw = cwd ? json_string_value(cwd) : "/";
	if (!cw || cw[0] != '/' || policy_normalize("/", cw, c->cwd) < 0) {
		oci_error("config.json: process.cwd must be an absolute path");
		return -1;
	}
	c->terminal = json_is_true(json_object_get(p, "terminal"));
	json_t *user = json_object_get(p, "user");
	if (user) {
		static const char *const uknown[] = { "uid", "gid", "additionalGids", "umask", "username", NULL };
		json_t *uid = json_object_get(user, "uid"), *gid = json_object_get(user, "gid");
		json_t *umask_ = json_object_get(user, "umask"), *groups = json_object_get(user, "additionalGids");
		if ((bad = unknown_key(user, uknown))) {
			oci_error("config.json: process.user.%s is not supported", bad);
			return -1;
		}
		if ((uid && !is_uint32(uid)) || (gid && !is_uint32(gid))) {
			oci_error("config.json: process.user.uid and gid must be numbers");
			return -1;
		}
		if (umask_ && (!json_is_integer(umask_) || json_integer_value(umask_) != 022)) {
			oci_error("config.json: process.user.umask other than 0022 is not supported yet");
			return -1;
		}
		c->opts.set_creds = true;
		c->opts.uid = uid ? (uint32_t)json_integer_value(uid) : 0;
		c->opts.gid = gid ? (uint32_t)json_integer_value(gid) : 0;
		if (groups) {
			size_t i;
			json_t *g;
			if (!json_is_array(groups) || json_array_size(groups) > 64) {
				oci_error("config.json: process.user.additionalGids: at most 64 numbers");
				return -1;
			}
			json_array_foreach(groups, i, g) {
				if (!is_uint32(g)) {
					oci_error("config.json: process.user.additionalGids[%zu] is not a gid", i);
					return -1;
				}
				c->groups[i] = (uint32_t)json_integer_value(g);
			}
			c->opts.groups = c->groups;
			c->opts.ngroups = (int)json_array_size(groups);
		}
	}
	json_t *rl = json_object_get(p, "rlimits"), *r;
	size_t i;
	json_array_foreach(rl, i, r) {
		const char *type = json_string_value(json_object_get(r, "type"));
		json_t *hard = json_object_get(r, "hard"), *soft = json_object_get(r, "soft");
		int res = -1;
		for (size_t k = 0; type && k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (strcmp(type, rlimit_names[k].name) == 0)
				res = rlimit_names[k].res;
		if (res < 0 || !json_is_integer(hard) || !json_is_integer(soft)) {
			oci_error("config.json: process.rlimits[%zu]: want a known type, hard and soft", i);
			return -1;
		}
		/* JSON numbers are signed 64-bit here: -1 and huge values both mean unlimited */
		json_int_t h = json_integer_value(hard), s = json_integer_value(soft);
		c->opts.rlimits[res].rlim_max = h < 0 ? RLIM_INFINITY : (rlim_t)h;
		c->opts.rlimits[res].rlim_cur = s < 0 ? RLIM_INFINITY : (rlim_t)s;
		if (c->opts.rlimits[res].rlim_cur > c->opts.rlimits[res].rlim_max) {
			oci_error("config.json: process.rlimits %s: soft above hard", type);
			return -1;
		}
		c->opts.rlimits_set |= 1u << res;
	}
	c->opts.no_new_privs = json_is_true(json_object_get(p, "noNewPrivileges"));
	json_t *caps = json_object_get(p, "capabilities");
	if (caps) {
		/* The sandbox's own capabilities (effective = permitted), meaningful only inside it. */
		json_t *eff = json_object_get(caps, "effective"), *cap;
		c->opts.set_caps = true;
		json_array_foreach(eff, i, cap) {
			const char *name = json_string_value(cap);
			size_t k = 0;
			if (name && strncmp(name, "CAP_", 4) == 0)
				name += 4;
			while (name && k < sizeof(cap_names) / sizeof(cap_names[0]) && strcmp(cap_names[k], name) != 0)
				k++;
			if (!name || k == sizeof(cap_names) / sizeof(cap_names[0])) {
				oci_error("config.json: process.capabilities.effective[%zu]: unknown capability", i);
				return -1;
			}
			c->opts.caps |= 1ull << k;
		}
	}
	json_t *oom = json_object_get(p, "oomScoreAdj");
	if (oom) {
		c->has_oom_score_adj = true;
		c->oom_score_adj = (int)json_integer_value(oom);
	}
	return 0;
}

/* A mount option runc accepts that changes nothing here (propagation, atime, the sentry's own
 * nosuid/nodev on every mount, SELinux relabelling). */
static bool harmless_option(const char *o)
{
	static const char *const ok[] = { "nosuid", "suid", "nodev", "dev", "noexec", "exec", "private", "rprivate",
					  "slave", "rslave", "shared", "rshared", "unbindable", "runbindable",
					  "relatime", "norelatime", "strictatime", "nostrictatime", "noatime", "atime",
					  "nodiratime", "diratime", "sync", "async", "dirsync", "mand", "nomand",
					  "z", "Z", "lazytime", "nolazytime", "nocopyup", "copy", "nocopy", "idmap", NULL };
	for (const char *const *q = ok; *q; q++)
		if (strcmp(o, *q) == 0)
			return true;
	return false;
}

static bool under(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return strncmp(path, dir, l) == 0 && (path[l] == 0 || path[l] == '/');
}

/* A tmpfs's size= option (bytes, k, m or g; not a percentage) in @opts, or 0. */
static uint64_t shm_size_option(json_t *opts)
{
	json_t *o;
	size_t k;
	json_array_foreach(opts, k, o) {
		const char *s = json_string_value(o);
		char *end;
		if (!s || strncmp(s, "size=", 5) != 0)
			continue;
		unsigned long long v = strtoull(s + 5, &end, 10);
		char u = (char)(*end | 0x20); /* lower case */
		int shift = u == 'k' ? 10 : u == 'm' ? 20 : u == 'g' ? 30 : 0;
		if (end == s + 5 || (shift ? end[1] : end[0]) || v > (1ull << 50) >> shift)
			return 0;
		return (uint64_t)v << shift;
	}
	return 0;
}

static int load_mount(struct oci_config *c, json_t *m, size_t i)
{
	static const char *const known[] = { "destination", "type", "source", "options", "uidMappings",
					     "gidMappings", NULL };
	const char *bad = unknown_key(m, known), *dest = json_string_value(json_object_get(m, "destination"));
	const char *type = json_string_value(json_object_get(m, "type"));
	const char *src = json_string_value(json_object_get(m, "source"));
	char d[SENTRY_PATH_MAX];
	if (bad || json_object_get(m, "uidMappings") || json_object_get(m, "gidMappings")) {
		oci_error("config.json: mounts[%zu].%s is not supported", i, bad ? bad : "uidMappings");
		return -1;
	}
	if (!dest || !dest[0] || policy_normalize("/", dest, d) < 0) {
		oci_error("config.json: mounts[%zu] has no destination", i);
		return -1;
	}
	/* The sentry's own: its /proc, /sys (CPUs only), /dev (and pts), private /dev/shm. */
	static const struct { const char *type, *dest; } own[] = {
		{ "proc", "/proc" }, { "sysfs", "/sys" }, { "cgroup", "/sys/fs/cgroup" }, { "cgroup2", "/sys/fs/cgroup" },
		{ "tmpfs", "/dev" }, { "devpts", "/dev/pts" }, { "mqueue", "/dev/mqueue" }, { "tmpfs", "/dev/shm" },
		{ "shm", "/dev/shm" },
	};
	/* (their options are the engine's idea of those file systems: not ours to check, but for the size
	 * of /dev/shm, which the sandbox's own takes) */
	for (size_t q = 0; q < sizeof(own) / sizeof(own[0]); q++)
		if (type && strcmp(type, own[q].type) == 0 && strcmp(d, own[q].dest) == 0) {
			if (strcmp(d, "/dev/shm") == 0)
				c->opts.shm_size = shm_size_option(json_object_get(m, "options"));
			return 0;
		}
	bool bind = type && strcmp(type, "bind") == 0, ro = false;
	json_t *opts = json_object_get(m, "options"), *o;
	size_t k;
	char data[512] = "";
	json_array_foreach(opts, k, o) {
		const char *s = json_string_value(o);
		bind |= s && (strcmp(s, "bind") == 0 || strcmp(s, "rbind") == 0);
	}
	if (bind && strcmp(d, "/dev/shm") == 0) { /* an engine's shared /dev/shm: the sandbox's is its own */
		struct statfs sf; /* of the engine's size (Docker's --shm-size: a tmpfs it mounted) */
		if (src && src[0] == '/' && statfs(src, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
			c->opts.shm_size = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize;
		return 0;
	}
	json_array_foreach(opts, k, o) {
		const char *s = json_string_value(o);
		if (!s)
			continue;
		if (strcmp(s, "bind") == 0 || strcmp(s, "rbind") == 0)
			bind = true;
		else if (strcmp(s, "ro") == 0)
			ro = true;
		else if (strcmp(s, "rw") == 0)
			ro = false;
		else if (strncmp(s, "size=", 5) == 0 || strncmp(s, "mode=", 5) == 0 || strncmp(s, "nr_inodes=", 10) == 0)
			snprintf(data + strlen(data), sizeof(data) - strlen(data), "%s%s", data[0] ? "," : "", s);
		else if (!harmless_option(s)) {
			oci_error("config.json: mounts[%zu] (%s): option %s is not supported", i, d, s);
			return -1;
		}
	}
	if (strcmp(d, "/") == 0 || under(d, "/proc") || under(d, "/sys") || under(d, "/dev")) {
		oci_error("config.json: mounts[%zu]: a mount on %s is not supported (the sandbox's own)", i, d);
		return -1;
	}
	if (!bind && !(type && strcmp(type, "tmpfs") == 0)) {
		oci_error("config.json: mounts[%zu] (%s): type %s is not supported", i, d, type ? type : "(none)");
		return -1;
	}
	if (c->opts.n_mounts == SENTRY_MAX_MOUNTS) {
		oci_error("config.json: more than %d mounts", SENTRY_MAX_MOUNTS);
		return -1;
	}
	int n = c->opts.n_mounts;
	struct sentry_mount *sm = &c->mounts[n];
	if (bind) {
		char abs[2 * PATH_MAX];
		if (!src || !src[0]) {
			oci_error("config.json: mounts[%zu] (%s): a bind mount needs a source", i, d);
			return -1;
		}
		snprintf(abs, sizeof(abs), "%s%s%s", src[0] == '/' ? "" : c->bundle, src[0] == '/' ? "" : "/", src);
		struct stat st;
		if (stat(abs, &st) < 0) {
			oci_error("config.json: mounts[%zu]: source %s: %s", i, abs, strerror(errno));
			return -1;
		}
		c->mount_srcs[n] = strdup(abs);
		sm->src = c->mount_srcs[n];
	}
	c->mount_data[n] = strdup(data);
	sm->data = !bind && data[0] ? c->mount_data[n] : NULL;
	char *dd = strdup(d);
	if (!dd || !c->mount_data[n] || (bind && !sm->src)) {
		free(dd);
		oci_error("out of memory");
		return -1;
	}
	sm->dest = dd;
	sm->rw = !ro;
	c->opts.n_mounts++;
	return 0;
}

static int load_linux(struct oci_config *c, json_t *l)
{
	static const char *const known[] = { "namespaces", "uidMappings", "gidMappings", "resources", "cgroupsPath",
					     "sysctl", "seccomp", "maskedPaths", "readonlyPaths", "devices",
					     "rootfsPropagation", "mountLabel", "personality", NULL };
	const char *bad = unknown_key(l, known);
	if (bad) {
		oci_error("config.json: linux.%s is not supported", bad);
		return -1;
	}
	if (json_array_size(json_object_get(l, "uidMappings")) || json_array_size(json_object_get(l, "gidMappings"))) {
		oci_error("config.json: linux.uidMappings/gidMappings (a user namespace of the engine's) are not supported");
		return -1;
	}
	/* No network namespace asked for: the host's network, as runc gives it (cvisor run --net). */
	c->opts.net = true;
	json_t *ns;
	size_t i;
	json_array_foreach(json_object_get(l, "namespaces"), i, ns) {
		const char *type = json_string_value(json_object_get(ns, "type"));
		const char *path = json_string_value(json_object_get(ns, "path"));
		if (!type) {
			oci_error("config.json: linux.namespaces[%zu] has no type", i);
			return -1;
		}
		if (strcmp(type, "network") == 0) {
			/* Without a path: a network of the sandbox's own, loopback only; with one: that
			 * namespace's network, joined before the sentry starts. */
			c->opts.net = path && path[0];
			if (path)
				snprintf(c->netns, sizeof(c->netns), "%s", path);
		} else if (strcmp(type, "user") == 0 || strcmp(type, "time") == 0 ||
			   (strcmp(type, "pid") && strcmp(type, "mount") && strcmp(type, "ipc") && strcmp(type, "uts") &&
			    strcmp(type, "cgroup"))) {
			oci_error("config.json: linux.namespaces: a %s namespace is not supported", type);
			return -1;
		} else if (path && path[0]) {
			/* the sandbox always has its own: another's cannot be shared yet */
			oci_error("config.json: linux.namespaces: joining a %s namespace (%s) is not supported", type, path);
			return -1;
		}
	}
	/* Sysctls: those of the network namespace that engines set by default (Docker: both; podman:
	 * ping_group_range). The sandbox's kernel is the sentry: anything else would be the host's. */
	json_t *sysctl = json_object_get(l, "sysctl"), *sv;
	const char *sk;
	json_object_foreach(sysctl, sk, sv) {
		const char *val = json_string_value(sv);
		char *end = NULL;
		long port = val ? strtol(val, &end, 10) : -1;
		if (val && strcmp(sk, "net.ipv4.ip_unprivileged_port_start") == 0 && end != val && !*end && port >= 0 &&
		    port <= 65535) {
			c->opts.set_unpriv_port = true;
			c->opts.unpriv_port_start = (int)port;
		} else if (val && strcmp(sk, "net.ipv4.ping_group_range") == 0 && strlen(val) < 64) {
			c->opts.ping_group_range = val;
		} else {
			oci_error("config.json: linux.sysctl: %s%s is not supported (only net.ipv4.ip_unprivileged_port_start "
				  "and net.ipv4.ping_group_range)", sk, val ? "" : " (not a string)");
			return -1;
		}
	}
	json_t *res = json_object_get(l, "resources");
	const char *k;
	json_t *v;
	json_object_foreach(res, k, v) {
		if (strcmp(k, "devices") == 0)
			continue; /* the sandbox's /dev is the sentry's short list whatever the rules say */
		if (json_is_object(v) && json_object_size(v) == 0)
			continue;
		if (strcmp(k, "memory") == 0) { /* the sandbox's memory file (sentry_opts.mem_limit) */
			json_int_t lim = json_integer_value(json_object_get(v, "limit"));
			if (lim > 0)
				c->opts.mem_limit = lim < (1 << 20) ? 1 << 20 : (uint64_t)lim;
			const char *key;
			json_t *val;
			bool other = false;
			json_object_foreach(v, key, val)
				other |= strcmp(key, "limit") && strcmp(key, "swap") && strcmp(key, "disableOOMKiller") &&
					 !(json_is_integer(val) && json_integer_value(val) <= 0);
			if (other)
				oci_warn("config.json: linux.resources.memory: only limit is enforced");
			continue;
		}
		if (strcmp(k, "pids") == 0) { /* tasks alive in the sandbox (sentry_opts.pids_limit) */
			json_int_t lim = json_integer_value(json_object_get(v, "limit"));
			if (lim > 0)
				c->opts.pids_limit = lim > 1000000 ? 1000000 : (uint32_t)lim;
			continue;
		}
		if (strcmp(k, "cpu") == 0) {
			/* shares, quota, period, and the cpuset's cpus and mems: a host cgroup's, at create
			 * (oci_cgroup.c); realtime budgets are not the sandbox's to have */
			const char *key;
			json_t *val;
			bool other = false;
			json_object_foreach(v, key, val)
				other |= strcmp(key, "shares") && strcmp(key, "quota") && strcmp(key, "period") &&
					 strcmp(key, "cpus") && strcmp(key, "mems") &&
					 ((json_is_integer(val) && json_integer_value(val) > 0) || (json_is_string(val) && json_string_length(val)));
			if (other)
				oci_warn("config.json: linux.resources.cpu: only shares, quota, period, cpus "
					 "and mems are enforced");
			continue;
		}
		bool asked = false;
		const char *key;
		json_t *val;
		json_object_foreach(v, key, val)
			asked |= !(json_is_integer(val) && json_integer_value(val) == 0) && !json_is_null(val) &&
				 !(json_is_array(val) && json_array_size(val) == 0) && !(json_is_object(val) && json_object_size(val) == 0);
		if (asked || !json_is_object(v))
			oci_warn("config.json: linux.resources.%s is not enforced yet", k);
	}
	return 0;
}

/* JSON file @file, or NULL after oci_error() (missing, or where it is malformed). */
static json_t *load_json(const char *file)
{
	json_error_t je;
	json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		if (access(file, F_OK) < 0)
			oci_error("%s: %s", file, strerror(errno));
		else
			oci_error("%s: line %d: %s", file, je.line, je.text);
	}
	return doc;
}

int oci_config_load(const char *bundle, struct oci_config *c)
{
	memset(c, 0, sizeof(*c));
	if (!realpath(bundle, c->bundle)) {
		oci_error("bundle %s: %s", bundle, strerror(errno));
		return -1;
	}
	char file[PATH_MAX + 16];
	snprintf(file, sizeof(file), "%s/config.json", c->bundle);
	if (!(c->doc = load_json(file)))
		return -1;
	if (!json_is_object(c->doc)) {
		oci_error("%s: not a JSON object", file);
		return -1;
	}
	static const char *const known[] = { "ociVersion", "process", "root", "hostname", "domainname", "mounts",
					     "hooks", "annotations", "linux", NULL };
	const char *bad = unknown_key(c->doc, known);
	if (bad) {
		oci_error("config.json: %s is not supported", bad);
		return -1;
	}
	const char *ver = json_string_value(json_object_get(c->doc, "ociVersion"));
	if (!ver || strncmp(ver, "1.", 2) != 0) {
		oci_error("config.json: ociVersion %s is not supported (1.x)", ver ? ver : "(missing)");
		return -1;
	}
	json_t *root = json_object_get(c->doc, "root");
	const char *rpath = json_string_value(json_object_get(root, "path"));
	char joined[2 * PATH_MAX];
	struct stat st;
	if (!rpath) {
		oci_error("config.json: root.path is missing");
		return -1;
	}
	snprintf(joined, sizeof(joined), "%s%s%s", rpath[0] == '/' ? "" : c->bundle, rpath[0] == '/' ? "" : "/", rpath);
	if (!realpath(joined, c->rootfs) || stat(c->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		oci_error("config.json: root.path %s: %s", joined, errno ? strerror(errno) : "not a directory");
		return -1;
	}
	c->opts.root = c->rootfs;
	c->opts.root_ro = json_is_true(json_object_get(root, "readonly"));
	c->opts.oci = true;
	json_t *process = json_object_get(c->doc, "process");
	if (!json_is_object(process)) {
		oci_error("config.json: process is missing");
		return -1;
	}
	if (load_process(c, process) < 0)
		return -1;
	c->opts.cwd = c->cwd;
	const char *host = json_string_value(json_object_get(c->doc, "hostname"));
	if (host && strlen(host) > 64) {
		oci_error("config.json: hostname longer than 64 bytes");
		return -1;
	}
	c->opts.hostname = host && host[0] ? host : NULL;
	const char *domain = json_string_value(json_object_get(c->doc, "domainname"));
	if (domain && domain[0]) {
		oci_error("config.json: domainname is not supported");
		return -1;
	}
	if (oci_hooks_check(json_object_get(c->doc, "hooks")) < 0)
		return -1;
	json_t *m;
	size_t i;
	json_array_foreach(json_object_get(c->doc, "mounts"), i, m)
		if (load_mount(c, m, i) < 0)
			return -1;
	c->opts.mounts = c->mounts;
	json_t *lnx = json_object_get(c->doc, "linux");
	if (lnx && load_linux(c, lnx) < 0)
		return -1;
	if (!lnx)
		c->opts.net = true; /* no namespaces at all: the host's network */
	return find_program(c);
}

int oci_process_load(const char *file, const char *key, struct oci_config *c)
{
	memset(c, 0, sizeof(*c));
	if (!(c->doc = load_json(file)))
		return -1;
	json_t *p = key ? json_object_get(c->doc, key) : c->doc;
	if (!json_is_object(p)) {
		oci_error("%s: %s is not a JSON object", file, key ? key : "the process");
		return -1;
	}
	return load_process(c, p);
}

void oci_config_free(struct oci_config *c)
{
	for (int i = 0; i < c->opts.n_mounts; i++) {
		free((char *)c->mounts[i].dest);
	}
	for (int i = 0; i < SENTRY_MAX_MOUNTS; i++) {
		free(c->mount_srcs[i]);
		free(c->mount_data[i]);
	}
	free(c->argv);
	free(c->env);
	if (c->doc)
		json_decref(c->doc);
	memset(c, 0, sizeof(*c));
}
