/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sentry's control channel (sentry/kernel/control.c; the OCI runtime's exec, kill, pause, resume
 * and ps, tools/oci_exec.c; docs/oci.md). A SOCK_SEQPACKET unix socket listening at ROOT/ID/ctl.sock on
 * the host, made by `create` and handed to the sentry as an fd it keeps through its jail: the sandbox
 * cannot name it (it is outside the sentry's view). One connection carries one request (a message:
 * struct ctl_req, then for CTL_EXEC the strings, with up to three stdio fds by SCM_RIGHTS) and its
 * replies (struct ctl_reply; CTL_PS: struct ctl_ps_ent records after it in the same message).
 */
#ifndef CVISOR_SENTRY_CONTROL_H
#define CVISOR_SENTRY_CONTROL_H

#include <stdint.h>

#define CTL_MAGIC 0x6376634cu /* "Lcvc" */
#define CTL_MAX_MSG (128u << 10)  /* a request, strings included */
#define CTL_MAX_STRINGS 4096      /* args + env */
#define CTL_SOCKET "ctl.sock"

enum ctl_op {
	CTL_EXEC = 1,   /* a new process in the sandbox: reply CTL_STARTED (its pid) then CTL_EXITED */
	CTL_KILL = 2,   /* @sig to pid 1, or to every process with @all */
	CTL_PAUSE = 3,  /* every task out of application code until CTL_RESUME */
	CTL_RESUME = 4,
	CTL_PS = 5,     /* the sandbox's processes */
};

struct ctl_req {
	uint32_t magic, op;
	int32_t sig;
	uint32_t all;
	/* CTL_EXEC: */
	uint32_t uid, gid, ngroups;
	uint32_t groups[64];
	uint32_t no_new_privs, set_caps;
	uint64_t caps;
	uint32_t rlimits_set;     /* bit per RLIMIT_* */
	uint32_t nfds;            /* stdio fds sent with the message (0 or 3) */
	uint64_t rlim_cur[16], rlim_max[16];
	uint32_t nargs, nenv;     /* strings after the struct: cwd, the args, the env, each NUL-ended */
	uint32_t strings_len;
	uint32_t pad;
};

enum ctl_reply_kind {
	CTL_OK = 0,       /* kill, pause, resume done; ps: @val records follow */
	CTL_ERROR = 1,    /* @val -errno, @msg says what */
	CTL_STARTED = 2,  /* exec: @val the sandbox pid */
	CTL_EXITED = 3,   /* exec: @val the wait status */
};

struct ctl_reply {
	int32_t kind, val;
	char msg[256];
};

struct ctl_ps_ent {
	int32_t pid, ppid;
	uint32_t uid;
	char state;       /* 'R' running (or in the sentry), 'T' stopped, 'Z' zombie */
	char comm[16];
	char args[107];   /* argv joined by spaces, cut */
};

#define CTL_PS_MAX 512

#endif
