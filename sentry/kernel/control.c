// SPDX-License-Identifier: Apache-2.0
// The control channel of a container's sentry (sentry/control.h, docs/oci.md): exec, kill, pause,
// resume and ps from the OCI runtime's verbs, answered inside the running sandbox.
//
// Trust. The listening socket is the host's ROOT/ID/ctl.sock (made by `create`, handed to the sentry as
// a descriptor it keeps through its jail): the sandbox cannot name it — the path is outside the
// sentry's view and a unix connect of the application goes through that view — so only the host side
// (the runtime, as its caller) speaks here. Its input is still checked as if hostile: one bounded
// message per connection, every count and string length checked, at most three descriptors taken,
// a bounded number of connections served at once, and a client that never sends is dropped. The
// channel needs no host syscall the sentry's seccomp filter did not already allow (accept4, recvmsg,
// sendmsg, poll: its application sockets use them).
//
// Exec. The new process is a thread group of its own in the sandbox, with no parent (getppid() is 0,
// as for runc's exec'd process, whose parent is outside the container's pid namespace), leading a
// new session and process group, with the credentials, cwd, environment, limits and no_new_privs
// the request gives and the stdio descriptors it sent. The connection's worker thread waits for it
// to end, reports its wait status and reaps it; its orphaned children are freed with the sandbox.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../control.h"
#include "../sentry.h"

#define CTL_MAX_WORKERS 256    /* connections served at once (an exec holds one while it runs); more are refused */
#define CTL_REQ_TIMEOUT_MS 5000 /* a client that connects and sends nothing is dropped */

static void reply(int c, int kind, int val, const char *msg)
{
	struct ctl_reply r = { .kind = kind, .val = val };
	if (msg)
		snprintf(r.msg, sizeof(r.msg), "%s", msg);
	ssize_t n = send(c, &r, sizeof(r), MSG_NOSIGNAL);
	(void)n;
}

/* Park task @t while the sandbox is paused (called before it enters application code). */
void control_park(struct task *t)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	while (s->paused && !s->shutting_down && !t->proc->group_exit)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* Every task out of application code: kicked (the interrupt is sticky, so a task about to switch in
 * comes straight back) until none is running there; parked tasks wait in control_park. */
static void pause_all(struct sentry *s)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->paused, true, __ATOMIC_SEQ_CST);
	for (int tries = 0; tries < 500; tries++) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		int busy = 0;
		for (struct process *pr = s->procs; pr; pr = pr->next) {
			if (pr->zombie)
				continue;
			int running = 0;
			process_cpu_ns(pr, now, &running);
			busy += running;
			for (struct task *t = running || tries == 0 ? pr->tasks : NULL; t; t = t->next)
				if (!t->exited)
					task_kick(t);
		}
		if (!busy)
			break;
		nudge_and_wait(s, 2);
	}
	pthread_mutex_unlock(&s->lock);
}

static void resume_all(struct sentry *s)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->paused, false, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void do_kill(struct sentry *s, int sig, bool all)
{
	siginfo_t info = { .si_signo = sig, .si_code = SI_USER }; /* from outside: si_pid 0 (pid 1's rules) */
	pthread_mutex_lock(&s->lock);
	for (struct process *q = s->procs; q; q = q->next)
		if (!q->zombie && (all || q->pid == 1))
			sig_process_locked(q, sig, &info);
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
}

static void do_ps(struct sentry *s, int c)
{
	size_t cap = sizeof(struct ctl_reply) + CTL_PS_MAX * sizeof(struct ctl_ps_ent);
	char *buf = calloc(1, cap);
	if (!buf) {
		reply(c, CTL_ERROR, -ENOMEM, "out of memory");
		return;
	}
	struct ctl_reply *r = (struct ctl_reply *)buf;
	struct ctl_ps_ent *e = (struct ctl_ps_ent *)(buf + sizeof(*r));
	int n = 0;
	pthread_mutex_lock(&s->lock);
	for (struct process *p = s->procs; p && n < CTL_PS_MAX; p = p->next) {
		if (p->zombie && !p->parent)
			continue; /* an orphan's end: nobody will reap it, nobody sees it */
		struct ctl_ps_ent *x = &e[n++];
		x->pid = p->pid;
		x->ppid = p->parent ? p->parent->pid : 0;
		x->uid = p->cred.uid[1];
		x->state = p->zombie ? 'Z' : p->stop_sig ? 'T' : 'R';
		snprintf(x->comm, sizeof(x->comm), "%s", p->zombie ? "" : process_comm(p));
		size_t k = 0;
		for (size_t i = 0; p->args && i < p->args_len && k + 1 < sizeof(x->args); i++)
			x->args[k++] = p->args[i] ? p->args[i] : ' ';
		while (k > 0 && x->args[k - 1] == ' ')
			k--;
		x->args[k] = 0;
	}
	pthread_mutex_unlock(&s->lock);
	r->kind = CTL_OK;
	r->val = n;
	ssize_t w = send(c, buf, sizeof(*r) + (size_t)n * sizeof(*e), MSG_NOSIGNAL);
	(void)w;
	free(buf);
}

/* The program @name as the sandbox finds it: with a slash, as given (relative to @pr's cwd); else the
 * first regular, executable file along @path (runc's exec looks it up the same way). A host fd or -errno. */
static int find_program(struct process *pr, const char *name, const char *path, char *found, size_t cap)
{
	if (strchr(name, '/')) {
		snprintf(found, cap, "%s", name);
		return fs_open(pr, AT_FDCWD, name, O_RDONLY);
	}
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n && path[0] == '/' && n + strlen(name) + 2 <= cap) {
			snprintf(found, cap, "%.*s/%s", (int)n, path, name);
			int h = fs_open(pr, AT_FDCWD, found, O_RDONLY);
			struct stat st;
			if (h >= 0 && fstat(h, &st) == 0 && S_ISREG(st.st_mode) && perm_check(pr, h, &st, MAY_EXEC) == 0)
				return h;
			if (h >= 0)
				close(h);
		}
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}

static void unlink_process(struct sentry *s, struct process *pr)
{
	for (struct process **pp = &s->procs; *pp; pp = &(*pp)->next)
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
}

/*
 * A new process from request @rq (@strs: cwd, args, env) with stdio @fds (taken: given to it, or
 * closed). Started: its process; else NULL with -errno in *@err and what went wrong in @msg.
 */
static struct process *spawn(struct sentry *s, const struct ctl_req *rq, char **strs, int fds[3], int *err,
			     char *msg, size_t msglen)
{
	char **argv = strs + 1, **envp = strs + 2 + rq->nargs;
	struct process *pr = process_new(s, NULL, NULL);
	struct task *t = pr ? task_new(pr) : NULL;
	if (!t) {
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		snprintf(msg, msglen, "cannot make a process: out of memory");
		*err = -ENOMEM;
		goto out_free;
	}
	pr->umask = 022;
	for (int i = 0; i < 4; i++)
		pr->cred.uid[i] = rq->uid, pr->cred.gid[i] = rq->gid;
	pr->cred.ngroups = (int)rq->ngroups;
	memcpy(pr->cred.groups, rq->groups, sizeof(pr->cred.groups));
	pr->cred.cap_eff = pr->cred.cap_prm = rq->set_caps ? rq->caps & CRED_ALL_CAPS : rq->uid == 0 ? CRED_ALL_CAPS : 0;
	pr->no_new_privs = rq->no_new_privs != 0;
	for (int i = 0; i < RLIM_NLIMITS && i < 16; i++)
		if (rq->rlimits_set & (1u << i)) {
			pr->rlim[i] = (struct rlimit){ rq->rlim_cur[i], rq->rlim_max[i] };
			if (i == RLIMIT_NOFILE && pr->rlim[i].rlim_max > SENTRY_MAX_FDS)
				pr->rlim[i].rlim_max = SENTRY_MAX_FDS;
			if (pr->rlim[i].rlim_cur > pr->rlim[i].rlim_max)
				pr->rlim[i].rlim_cur = pr->rlim[i].rlim_max;
		}
	for (int i = 0; i < 3; i++)
		pr->fds[i] = fds[i];
	if (policy_normalize("/", strs[0], pr->cwd) < 0) {
		snprintf(msg, msglen, "bad cwd %s", strs[0]);
		*err = -EINVAL;
		goto out_free;
	}
	struct walk w;
	int dir = walk_path(pr, AT_FDCWD, pr->cwd, WALK_FOLLOW, &w);
	if (dir == 0) {
		dir = w.proc || S_ISDIR(w.st.st_mode) ? 0 : -ENOTDIR;
		walk_done(&w);
	}
	if (dir < 0) {
		snprintf(msg, msglen, "chdir to cwd (\"%.160s\") set in config.json failed: %s", pr->cwd, strerror(-dir));
		*err = dir;
		goto out_free;
	}
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int h = find_program(pr, argv[0], path, pr->exe_buf, sizeof(pr->exe_buf));
	if (h < 0) {
		/* runc's words: engines match them (podman: 127 for "not found", 126 otherwise) */
		if (h == -ENOENT)
			snprintf(msg, msglen, "exec: \"%s\": executable file not found in $PATH", argv[0]);
		else
			snprintf(msg, msglen, "exec: \"%s\": %s", argv[0], strerror(-h));
		*err = h;
		goto out_free;
	}
	pr->exe = pr->exe_buf;
	char real[64], lerr[400] = "";
	uint64_t entry, sp;
	snprintf(real, sizeof(real), "/proc/self/fd/%d", h);
	int ret = load_elf(pr, real, pr->exe_buf, argv, envp, &entry, &sp, lerr, sizeof(lerr));
	close(h);
	if (ret < 0) {
		snprintf(msg, msglen, "exec: \"%s\": %s", argv[0], lerr[0] ? lerr : strerror(-ret));
		*err = ret;
		goto out_free;
	}
	process_set_args(pr, argv, envp);
	t->st->regs.rip = entry;
	t->st->regs.rsp = sp;
	if (!start_task(s, t)) {
		snprintf(msg, msglen, "cannot start a thread for the process");
		*err = -EAGAIN;
		goto out_free;
	}
	return pr;
out_free:
	if (pr) {
		pthread_mutex_lock(&s->lock);
		unlink_process(s, pr);
		pthread_mutex_unlock(&s->lock);
		process_free(pr);
	}
	return NULL;
}

/* While an exec'd process runs, its client may send CTL_KILL requests on the connection: signals
 * the client received (runc's exec forwards them), for that process only. */
struct forwarder {
	struct sentry *s;
	struct process *pr; /* not freed before this thread is joined */
	int c;
};

static void *forward_main(void *arg)
{
	struct forwarder *f = arg;
	struct ctl_req rq;
	ssize_t n;
	while ((n = recv(f->c, &rq, sizeof(rq), 0)) == (ssize_t)sizeof(rq) || (n < 0 && errno == EINTR)) {
		if (n < 0 || rq.magic != CTL_MAGIC || rq.op != CTL_KILL || rq.sig < 1 || rq.sig > 64)
			continue;
		siginfo_t info = { .si_signo = rq.sig, .si_code = SI_USER };
		pthread_mutex_lock(&f->s->lock);
		if (!f->pr->zombie)
			sig_process_locked(f->pr, rq.sig, &info);
		pthread_mutex_unlock(&f->s->lock);
		futex_wake_all(f->s);
	}
	return NULL; /* the client is gone, or the worker shut the connection's reading side */
}

/* CTL_EXEC: start the process, say so, wait for its end (forwarding signals), say how, reap it. */
static void do_exec(struct sentry *s, int c, const struct ctl_req *rq, char **strs, int fds[3])
{
	char msg[256];
	int err = 0;
	struct process *pr = spawn(s, rq, strs, fds, &err, msg, sizeof(msg));
	if (!pr) {
		reply(c, CTL_ERROR, err, msg);
		return;
	}
	reply(c, CTL_STARTED, pr->pid, NULL);
	struct forwarder f = { s, pr, c };
	pthread_t fwd;
	bool forwarding = pthread_create(&fwd, NULL, forward_main, &f) == 0;
	pthread_mutex_lock(&s->lock);
	while (!(pr->zombie && pr->exit_done) && !s->ctl_stopping)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (forwarding) {
		shutdown(c, SHUT_RD); /* its recv returns 0 */
		pthread_join(fwd, NULL);
	}
	pthread_mutex_lock(&s->lock);
	int status = pr->zombie ? pr->exit_status : SIGKILL; /* the sandbox is ending: it dies with it */
	bool reap = pr->zombie && pr->exit_done && !pr->remote_users && !ptrace_holds_zombie(pr);
	if (reap)
		unlink_process(s, pr); /* else freed with the sandbox, as any orphan */
	pthread_mutex_unlock(&s->lock);
	if (reap)
		process_free(pr);
	reply(c, CTL_EXITED, status, NULL);
}

/*
 * The request in @buf (@len bytes, fds @fds[0..nfds)): checked field by field. CTL_EXEC's strings are
 * turned into a vector in *@strs (cwd, args, NULL, env, NULL). 0 or -EINVAL with @msg.
 */
static int check_request(const char *buf, size_t len, int nfds, char ***strs, char *msg, size_t msglen)
{
	const struct ctl_req *rq = (const struct ctl_req *)buf;
	*strs = NULL;
	if (len < sizeof(*rq) || rq->magic != CTL_MAGIC) {
		snprintf(msg, msglen, "not a control request");
		return -EINVAL;
	}
	switch (rq->op) {
	case CTL_KILL:
		if (rq->sig < 1 || rq->sig > 64) {
			snprintf(msg, msglen, "no such signal %d", rq->sig);
			return -EINVAL;
		}
		return 0;
	case CTL_PAUSE:
	case CTL_RESUME:
	case CTL_PS:
		return 0;
	case CTL_EXEC:
		break;
	default:
		snprintf(msg, msglen, "unknown request %u", rq->op);
		return -EINVAL;
	}
	if (rq->ngroups > 64 || rq->nfds != 3 || nfds != 3 || rq->nargs < 1 || rq->nargs > CTL_MAX_STRINGS ||
	    rq->nenv > CTL_MAX_STRINGS - rq->nargs || rq->strings_len != len - sizeof(*rq)) {
		snprintf(msg, msglen, "malformed exec request");
		return -EINVAL;
	}
	const char *p = buf + sizeof(*rq), *end = buf + len;
	uint32_t want = 1 + rq->nargs + rq->nenv;
	char **v = calloc(want + 2, sizeof(char *));
	if (!v) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < want; i++) {
		const char *nul = memchr(p, 0, (size_t)(end - p));
		if (!nul) {
			free(v);
			snprintf(msg, msglen, "malformed exec request: strings");
			return -EINVAL;
		}
		if (i == 1 + rq->nargs)
			v[k++] = NULL; /* argv ends before env starts (the calloc'ed tail ends both) */
		v[k++] = (char *)p;
		p = nul + 1;
	}
	if (p != end || v[0][0] != '/' || !v[1][0]) {
		free(v);
		snprintf(msg, msglen, "malformed exec request: cwd must be absolute, args[0] non-empty");
		return -EINVAL;
	}
	*strs = v;
	return 0;
}

struct worker {
	struct sentry *s;
	int c;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sentry *s = w->s;
	int c = w->c;
	free(w);
	char *buf = malloc(CTL_MAX_MSG + 1);
	int fds[3] = { -1, -1, -1 }, nfds = 0;
	struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = s->ctl_stop, .events = POLLIN } };
	if (!buf || poll(p, 2, CTL_REQ_TIMEOUT_MS) <= 0 || !(p[0].revents & POLLIN))
		goto out;
	union {
		char b[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, CTL_MAX_MSG + 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	/* Every descriptor that came, whatever else is wrong: ours to close or to hand on. */
	for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL; cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds < 3)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n < 0)
		goto out;
	char msg[256] = "";
	char **strs = NULL;
	int ret = (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -EINVAL : 0;
	if (ret < 0)
		snprintf(msg, sizeof(msg), "request too large");
	else
		ret = check_request(buf, (size_t)n, nfds, &strs, msg, sizeof(msg));
	const struct ctl_req *rq = (const struct ctl_req *)buf;
	if (ret < 0) {
		reply(c, CTL_ERROR, ret, msg);
	} else if (rq->op == CTL_EXEC) {
		do_exec(s, c, rq, strs, fds);
		nfds = 0; /* taken */
	} else if (rq->op == CTL_KILL) {
		do_kill(s, rq->sig, rq->all != 0);
		reply(c, CTL_OK, 0, NULL);
	} else if (rq->op == CTL_PAUSE) {
		pause_all(s);
		reply(c, CTL_OK, 0, NULL);
	} else if (rq->op == CTL_RESUME) {
		resume_all(s);
		reply(c, CTL_OK, 0, NULL);
	} else {
		do_ps(s, c);
	}
	free(strs);
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(buf);
	close(c);
	pthread_mutex_lock(&s->lock);
	s->ctl_workers--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct sentry *s = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = s->opts.control_fd, .events = POLLIN }, { .fd = s->ctl_stop, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		int c = accept4(s->opts.control_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		bool room = s->ctl_workers < CTL_MAX_WORKERS && !s->ctl_stopping;
		if (room)
			s->ctl_workers++;
		pthread_mutex_unlock(&s->lock);
		struct worker *w = room ? malloc(sizeof(*w)) : NULL;
		pthread_t th;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (w)
			*w = (struct worker){ s, c };
		if (w && pthread_create(&th, &attr, worker_main, w) == 0) {
			pthread_attr_destroy(&attr);
			continue;
		}
		pthread_attr_destroy(&attr);
		free(w);
		reply(c, CTL_ERROR, -EAGAIN, "too many control requests at once");
		close(c);
		if (room) {
			pthread_mutex_lock(&s->lock);
			s->ctl_workers--;
			pthread_mutex_unlock(&s->lock);
		}
	}
}

void control_start(struct sentry *s)
{
	s->ctl_stop = -1;
	if (!s->opts.control)
		return;
	s->ctl_stop = eventfd(0, EFD_CLOEXEC);
	s->ctl_running = s->ctl_stop >= 0 && pthread_create(&s->ctl_thread, NULL, accept_main, s) == 0;
	if (!s->ctl_running)
		fprintf(stderr, "cvisor: the control channel did not start: exec, kill, pause and ps will fail\n");
}

void control_stop(struct sentry *s)
{
	if (s->ctl_stop < 0)
		return;
	uint64_t one = 1;
	ssize_t w = write(s->ctl_stop, &one, sizeof(one));
	(void)w;
	if (s->ctl_running)
		pthread_join(s->ctl_thread, NULL);
	pthread_mutex_lock(&s->lock);
	s->ctl_stopping = true;
	s->paused = false;
	pthread_cond_broadcast(&s->changed);
	while (s->ctl_workers > 0)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	close(s->ctl_stop);
	s->ctl_stop = -1;
}
