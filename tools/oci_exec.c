// SPDX-License-Identifier: Apache-2.0
// The OCI verbs that talk to a running container's sentry over its control channel
// (sentry/control.h, sentry/kernel/control.c): exec, pause, resume, ps; kill uses it too (oci_cmd.c).
// The verbs hold the container's lock only while they look at its state and connect: an exec that
// runs for hours must not keep kill or delete out.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "oci.h"
#include "../sentry/control.h"

/* A connection to the control socket of the container whose locked directory is @lock; -1 after oci_error(). */
static int ctl_connect(int lock, const char *id)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" CTL_SOCKET, lock);
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int big = (int)CTL_MAX_MSG * 2;
	if (c >= 0)
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		oci_error("container %s: its control channel: %s", id, strerror(errno));
		if (c >= 0)
			close(c);
		return -1;
	}
	return c;
}

/* The next reply; -1 after oci_error() (an error reply, or the sandbox ended meanwhile). */
static int ctl_reply(int c, const char *id, struct ctl_reply *r)
{
	ssize_t n;
	while ((n = recv(c, r, sizeof(*r), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(*r)) {
		oci_error("container %s: the sandbox ended or did not answer", id);
		return -1;
	}
	r->msg[sizeof(r->msg) - 1] = 0;
	if (r->kind == CTL_ERROR) {
		oci_error("%s", r->msg[0] ? r->msg : strerror(-r->val));
		return -1;
	}
	return 0;
}

int oci_ctl_simple(int lock, const char *id, struct ctl_req *rq)
{
	int c = ctl_connect(lock, id);
	if (c < 0)
		return -1;
	rq->magic = CTL_MAGIC;
	struct ctl_reply r;
	int ret = send(c, rq, sizeof(*rq), MSG_NOSIGNAL) == (ssize_t)sizeof(*rq) ? ctl_reply(c, id, &r) : -1;
	if (ret < 0 && errno == EPIPE)
		oci_error("container %s: the sandbox ended", id);
	close(c);
	return ret;
}

/* The exit status a shell would show for wait status @st: N, or 128+N for signal N. */
static int shell_status(int st)
{
	return (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
}

/* Option @a (an argv element) is @name, taking a value ("--x v" or "--x=v"): the value, or NULL. */
static const char *opt_val(int argc, char **argv, int *i, const char *name, const char *alias, bool *match)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	*match = (strlen(name) == n && strncmp(a, name, n) == 0) || (alias && strlen(alias) == n && strncmp(a, alias, n) == 0);
	if (!*match)
		return NULL;
	if (eq)
		return eq + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* The request for @c's process, its strings after it: malloc'ed, length in *@len; NULL if too large. */
static char *exec_request(const struct oci_config *c, size_t *len)
{
	size_t total = sizeof(struct ctl_req) + strlen(c->cwd) + 1;
	uint32_t nargs = 0, nenv = 0;
	for (char **a = c->argv; *a; a++, nargs++)
		total += strlen(*a) + 1;
	for (char **e = c->env; *e; e++, nenv++)
		total += strlen(*e) + 1;
	if (total > CTL_MAX_MSG || nargs + nenv > CTL_MAX_STRINGS)
		return NULL;
	char *buf = calloc(1, total);
	if (!buf)
		return NULL;
	struct ctl_req *rq = (struct ctl_req *)buf;
	*rq = (struct ctl_req){ .magic = CTL_MAGIC, .op = CTL_EXEC, .nfds = 3, .nargs = nargs, .nenv = nenv };
	rq->uid = c->opts.set_creds ? c->opts.uid : 0;
	rq->gid = c->opts.set_creds ? c->opts.gid : 0;
	rq->ngroups = c->opts.set_creds ? (uint32_t)c->opts.ngroups : 0;
	for (uint32_t i = 0; i < rq->ngroups && i < 64; i++)
		rq->groups[i] = c->opts.groups[i];
	rq->no_new_privs = c->opts.no_new_privs;
	rq->set_caps = c->opts.set_caps;
	rq->caps = c->opts.caps;
	rq->rlimits_set = c->opts.rlimits_set & 0xffff;
	for (int i = 0; i < RLIM_NLIMITS && i < 16; i++)
		rq->rlim_cur[i] = c->opts.rlimits[i].rlim_cur, rq->rlim_max[i] = c->opts.rlimits[i].rlim_max;
	char *p = buf + sizeof(*rq);
	p = stpcpy(p, c->cwd) + 1;
	for (char **a = c->argv; *a; a++)
		p = stpcpy(p, *a) + 1;
	for (char **e = c->env; *e; e++)
		p = stpcpy(p, *e) + 1;
	rq->strings_len = (uint32_t)(total - sizeof(*rq));
	*len = total;
	return buf;
}

/* Replace @c's argv by @args, add --env entries, set cwd and user from the command line. */
static int exec_overrides(struct oci_config *c, char **args, int nargs, char **envs, int nenvs, const char *cwd,
			  const char *user)
{
	if (nargs > 0) {
		char **v = calloc((size_t)nargs + 1, sizeof(char *));
		if (!v)
			return -1;
		memcpy(v, args, (size_t)nargs * sizeof(char *));
		free(c->argv);
		c->argv = v;
	}
	if (nenvs > 0) {
		size_t n = 0;
		while (c->env[n])
			n++;
		char **v = calloc(n + (size_t)nenvs + 1, sizeof(char *));
		if (!v)
			return -1;
		memcpy(v, c->env, n * sizeof(char *));
		for (int i = 0; i < nenvs; i++) { /* K=V replaces K's value */
			size_t k = strcspn(envs[i], "=");
			size_t j = 0;
			while (j < n && !(strncmp(v[j], envs[i], k) == 0 && v[j][k] == '='))
				j++;
			v[j] = envs[i];
			if (j == n)
				n++;
		}
		free(c->env);
		c->env = v;
	}
	if (cwd && (cwd[0] != '/' || policy_normalize("/", cwd, c->cwd) < 0)) {
		oci_error("exec: --cwd must be an absolute path");
		return -1;
	}
	if (user) {
		unsigned u, g = 0;
		int k = sscanf(user, "%u:%u", &u, &g);
		if (k < 1) {
			oci_error("exec: --user wants UID[:GID] as numbers");
			return -1;
		}
		c->opts.set_creds = true;
		c->opts.uid = u;
		c->opts.gid = k == 2 ? g : 0;
		c->opts.ngroups = 0;
	}
	return 0;
}

/*
 * Without --detach: wait for the exec'd process's status, passing the signals we get on to it (as
 * runc's exec does): a terminal's ^C, a supervisor's SIGTERM. Our exit status, as shell_status().
 */
static void forwarded_signals(sigset_t *set)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(set, sigs[i]);
}

/* (The signals are blocked from the start of exec: one that comes before the process runs waits.) */
static int wait_forwarding(int conn, const char *id)
{
	sigset_t set;
	forwarded_signals(&set);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	struct ctl_reply r;
	int ret = 255;
	for (;;) {
		struct pollfd p[2] = { { .fd = conn, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		struct signalfd_siginfo si;
		while (sfd >= 0 && (p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			struct ctl_req rq = { .magic = CTL_MAGIC, .op = CTL_KILL, .sig = (int32_t)si.ssi_signo };
			ssize_t w = send(conn, &rq, sizeof(rq), MSG_NOSIGNAL);
			(void)w;
		}
		if (p[0].revents) {
			if (ctl_reply(conn, id, &r) == 0 && r.kind == CTL_EXITED)
				ret = shell_status(r.val);
			break;
		}
	}
	if (sfd >= 0)
		close(sfd);
	return ret;
}

int oci_exec(int argc, char **argv)
{
	const char *process = NULL, *pid_file = NULL, *console = NULL, *cwd = NULL, *user = NULL;
	bool detach = false, tty = false;
	char *envs[256];
	int nenvs = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v = NULL;
		bool m = false;
		if (strcmp(a, "--detach") == 0 || strcmp(a, "-d") == 0) {
			detach = true;
		} else if (strcmp(a, "--tty") == 0 || strcmp(a, "-t") == 0) {
			tty = true;
		} else if (strcmp(a, "--no-new-privs") == 0 || strcmp(a, "--ignore-paused") == 0) {
			continue; /* no_new_privs: the process.json's (podman sets it there) */
		} else if ((v = opt_val(argc, argv, &i, "--process", "-p", &m)) || m) {
			process = v;
		} else if ((v = opt_val(argc, argv, &i, "--pid-file", NULL, &m)) || m) {
			pid_file = v;
		} else if ((v = opt_val(argc, argv, &i, "--console-socket", NULL, &m)) || m) {
			console = v;
		} else if ((v = opt_val(argc, argv, &i, "--cwd", NULL, &m)) || m) {
			cwd = v;
		} else if ((v = opt_val(argc, argv, &i, "--user", "-u", &m)) || m) {
			user = v;
		} else if ((v = opt_val(argc, argv, &i, "--env", "-e", &m)) || m) {
			if (v && nenvs < 256)
				envs[nenvs++] = (char *)v;
		} else if ((v = opt_val(argc, argv, &i, "--process-label", NULL, &m)) || m ||
			   (v = opt_val(argc, argv, &i, "--apparmor", NULL, &m)) || m) {
			continue; /* the sentry's jail replaces them, as for create */
		} else {
			oci_error("exec: unknown option '%s'", a);
			return 1;
		}
		if (m && !v) {
			oci_error("exec: missing value for '%s'", a);
			return 1;
		}
	}
	if (i >= argc) {
		oci_error("exec: no container id given");
		return 1;
	}
	const char *id = argv[i++];
	if (!process && i >= argc) {
		oci_error("exec: give --process FILE or the command after the container id");
		return 1;
	}
	if (!detach) {
		sigset_t set;
		forwarded_signals(&set);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	struct oci_state st;
	int lock = oci_state_open(id, &st);
	if (lock < 0)
		return 1;
	struct oci_config c;
	memset(&c, 0, sizeof(c));
	int ret = 1, conn = -1, fds[3] = { 0, 1, 2 }, slave = -1;
	char *req = NULL;
	enum oci_status s = oci_status(&st);
	if (s != OCI_RUNNING) {
		oci_error("cannot exec in a %s container", oci_status_name(s));
		goto out;
	}
	char file[PATH_MAX + 16];
	snprintf(file, sizeof(file), "%s/config.json", st.bundle);
	if ((process ? oci_process_load(process, NULL, &c) : oci_process_load(file, "process", &c)) < 0 ||
	    exec_overrides(&c, argv + i, argc - i, envs, nenvs, cwd, user) < 0)
		goto out;
	if (c.terminal || tty) {
		if (!console) {
			oci_error("exec: a terminal needs --console-socket");
			goto out;
		}
		if ((slave = oci_make_console(console)) < 0)
			goto out;
		fds[0] = fds[1] = fds[2] = slave;
	}
	size_t len = 0;
	if (!(req = exec_request(&c, &len))) {
		oci_error("exec: the process's arguments and environment are too large");
		goto out;
	}
	if ((conn = ctl_connect(lock, id)) < 0)
		goto out;
	close(lock); /* other verbs may go on while the process runs */
	lock = -1;
	union {
		char b[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u = { 0 };
	struct iovec iov = { req, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	struct ctl_reply r;
	if (sendmsg(conn, &m, MSG_NOSIGNAL) != (ssize_t)len) {
		oci_error("container %s: the sandbox ended", id);
		goto out;
	}
	if (ctl_reply(conn, id, &r) < 0)
		goto out;
	if (slave >= 0) { /* the sentry has its own copy now */
		close(slave);
		slave = -1;
	}
	fflush(NULL);
	pid_t waiter = detach ? fork() : getpid();
	if (waiter < 0) {
		oci_error("exec: fork: %s", strerror(errno));
		goto out;
	}
	if (waiter == 0) {
		/* --detach: this process stands for the exec'd one on the host: the engine's monitor (a
		 * subreaper) inherits it and takes its status; it holds none of the engine's pipes. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int k = 0; k < 3 && null >= 0; k++)
			dup2(null, k);
		_exit(ctl_reply(conn, id, &r) < 0 || r.kind != CTL_EXITED ? 255 : shell_status(r.val));
	}
	if (pid_file && oci_write_pid_file(pid_file, waiter) < 0) {
		oci_error("exec: pid file %s: %s", pid_file, strerror(errno));
		goto out;
	}
	if (detach) {
		ret = 0;
		goto out;
	}
	ret = wait_forwarding(conn, id);
out:
	if (conn >= 0)
		close(conn);
	if (slave >= 0)
		close(slave);
	free(req);
	oci_config_free(&c);
	oci_state_free(&st);
	if (lock >= 0)
		close(lock);
	return ret;
}

/* pause and resume: the channel's request, then the state says so. */
static int pause_resume(int argc, char **argv, bool pause)
{
	const char *verb = pause ? "pause" : "resume";
	if (argc != 2) {
		oci_error(argc < 2 ? "%s: no container id given" : "%s: too many arguments", verb);
		return 1;
	}
	struct oci_state st;
	int lock = oci_state_open(argv[1], &st);
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	int ret = 1;
	struct ctl_req rq = { .op = pause ? CTL_PAUSE : CTL_RESUME };
	if (s != (pause ? OCI_RUNNING : OCI_PAUSED)) {
		oci_error("container %s is %s, not %s", st.id, oci_status_name(s), pause ? "running" : "paused");
	} else if (oci_ctl_simple(lock, st.id, &rq) == 0) {
		st.paused = pause;
		ret = oci_state_save(&st) < 0 ? 1 : 0;
		if (ret)
			oci_error("cannot record the container's state");
	}
	oci_state_free(&st);
	close(lock);
	return ret;
}

int oci_pause(int argc, char **argv)
{
	return pause_resume(argc, argv, true);
}

int oci_resume(int argc, char **argv)
{
	return pause_resume(argc, argv, false);
}

/* The parent pid of host process @pid (0 if gone). */
static int host_ppid(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid = 0;
	return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? ppid : 0;
}

/* --format json: the host pids of the container, its process and every host process under it (the
 * keeper, the sentry, its stubs), which is what an engine can look at on the host. */
static void ps_json(const struct oci_state *st)
{
	int pids[4096], n = 0;
	pids[n++] = st->pid;
	for (int added = 1; added;) { /* descendants, level by level */
		added = 0;
		DIR *d = opendir("/proc");
		struct dirent *e;
		while (d && (e = readdir(d)) && n < 4096) {
			int pid = atoi(e->d_name), pp;
			bool known = pid <= 0;
			for (int k = 0; k < n && !known; k++)
				known = pids[k] == pid;
			if (known || !(pp = host_ppid(pid)))
				continue;
			for (int k = 0; k < n; k++)
				if (pids[k] == pp) {
					pids[n++] = pid;
					added = 1;
					break;
				}
		}
		if (d)
			closedir(d);
	}
	printf("[");
	for (int k = 0; k < n; k++)
		printf("%s%d", k ? "," : "", pids[k]);
	printf("]\n");
}

int oci_ps(int argc, char **argv)
{
	bool json = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		bool m;
		const char *v = opt_val(argc, argv, &i, "--format", "-f", &m);
		if (!m || !v || (strcmp(v, "json") != 0 && strcmp(v, "table") != 0)) {
			oci_error("ps: %s '%s'", m ? "--format is json or table, not" : "unknown option", m && v ? v : argv[i]);
			return 1;
		}
		json = strcmp(v, "json") == 0;
	}
	if (i >= argc) {
		oci_error("ps: no container id given");
		return 1;
	}
	struct oci_state st;
	int lock = oci_state_open(argv[i], &st);
	if (lock < 0)
		return 1;
	enum oci_status s = oci_status(&st);
	int ret = 1, c = -1;
	char *buf = NULL;
	if (s == OCI_STOPPED || s == OCI_CREATING) {
		oci_error("container %s is not running", st.id);
		goto out;
	}
	if (json) {
		ps_json(&st);
		ret = 0;
		goto out;
	}
	/* table: the sandbox's own view of its processes, from the sentry */
	if (s == OCI_CREATED) {
		printf("%-7s %-7s %-7s %-4s %s\n", "PID", "PPID", "UID", "STAT", "CMD");
		ret = 0;
		goto out;
	}
	struct ctl_req rq = { .magic = CTL_MAGIC, .op = CTL_PS };
	size_t cap = sizeof(struct ctl_reply) + CTL_PS_MAX * sizeof(struct ctl_ps_ent);
	if ((c = ctl_connect(lock, st.id)) < 0 || !(buf = malloc(cap)))
		goto out;
	if (send(c, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq)) {
		oci_error("container %s: the sandbox ended", st.id);
		goto out;
	}
	ssize_t n;
	while ((n = recv(c, buf, cap, 0)) < 0 && errno == EINTR)
		;
	struct ctl_reply *r = (struct ctl_reply *)buf;
	if (n < (ssize_t)sizeof(*r) || r->kind != CTL_OK || r->val < 0 || r->val > CTL_PS_MAX ||
	    (size_t)n != sizeof(*r) + (size_t)r->val * sizeof(struct ctl_ps_ent)) {
		oci_error("container %s: no process list from the sandbox", st.id);
		goto out;
	}
	struct ctl_ps_ent *e = (struct ctl_ps_ent *)(buf + sizeof(*r));
	printf("%-7s %-7s %-7s %-4s %s\n", "PID", "PPID", "UID", "STAT", "CMD");
	for (int k = r->val - 1; k >= 0; k--) { /* the table lists the newest first */
		e[k].comm[sizeof(e[k].comm) - 1] = 0;
		e[k].args[sizeof(e[k].args) - 1] = 0;
		printf("%-7d %-7d %-7u %-4c %s\n", e[k].pid, e[k].ppid, e[k].uid, e[k].state,
		       e[k].args[0] ? e[k].args : e[k].comm);
	}
	ret = 0;
out:
	if (c >= 0)
		close(c);
	free(buf);
	oci_state_free(&st);
	close(lock);
	return ret;
}
