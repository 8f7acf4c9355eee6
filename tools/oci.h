/* SPDX-License-Identifier: Apache-2.0 */
/* The OCI runtime face of cvisor (runc's command line): what its verbs share (docs/oci.md). */
#ifndef CVISOR_TOOLS_OCI_H
#define CVISOR_TOOLS_OCI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "../sentry/sentry.h"

#define OCI_VERSION "1.0.2"
#define OCI_DEFAULT_ROOT "/run/cvisor"

/* The global options, given before the verb (runc's --root, --log, --log-format). */
struct oci_global {
	const char *root;     /* state directory: one subdirectory per container */
	const char *log;      /* errors and warnings are appended here too (NULL: stderr only) */
	bool log_json;        /* --log-format json: one {"level","msg","time"} object a line */
};
extern struct oci_global oci_g;

/* One line "cvisor: <message>" on stderr and in the log; the verb then fails. */
void oci_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same at level "warning" (the verb goes on). */
void oci_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A bundle's config.json, translated into the sentry's options. */
struct oci_config {
	json_t *doc;                  /* the parsed file: the strings below point into it */
	struct sentry_opts opts;
	char bundle[PATH_MAX];        /* absolute */
	char rootfs[PATH_MAX];        /* absolute, root.path resolved against the bundle */
	char **argv;                  /* process.args (NULL-terminated) */
	char **env;                   /* process.env (NULL-terminated) */
	char cwd[SENTRY_PATH_MAX];
	char prog[SENTRY_PATH_MAX];   /* args[0] as found in the root through PATH */
	bool terminal;
	int oom_score_adj;
	bool has_oom_score_adj;
	char netns[PATH_MAX];         /* a network namespace to join ("" none) */
	uint32_t groups[64];
	struct sentry_mount mounts[SENTRY_MAX_MOUNTS];
	char *mount_srcs[SENTRY_MAX_MOUNTS]; /* absolute sources (malloc'ed) */
	char *mount_data[SENTRY_MAX_MOUNTS]; /* tmpfs options (malloc'ed) */
};

/* Read and check @bundle/config.json: 0, or -1 after one oci_error() line naming what is wrong. */
int oci_config_load(const char *bundle, struct oci_config *c);
void oci_config_free(struct oci_config *c);
/* Only a process object (exec's --process file: @key NULL; a bundle's config.json: "process"), into
 * @c's argv, env, cwd, terminal and opts' credentials, limits, capabilities: 0 or -1 after oci_error(). */
int oci_process_load(const char *file, const char *key, struct oci_config *c);
/* A new pty whose master went to console socket @sock_path (runc's protocol): its slave, or -1 after
 * oci_error(). */
int oci_make_console(const char *sock_path);
int oci_write_pid_file(const char *path, int pid);

/* A container's state under --root. */
struct oci_state {
	char id[256];
	char dir[PATH_MAX];           /* ROOT/ID */
	char bundle[PATH_MAX];
	char rootfs[PATH_MAX];
	char created[64];             /* RFC 3339 */
	int pid;                      /* the container's process (0: none yet) */
	unsigned long long start_time; /* its start time (clock ticks since boot): pids are reused */
	json_t *annotations;          /* owned (may be NULL) */
	bool paused;                  /* `pause` stopped it (until `resume`) */
};

enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED, OCI_PAUSED };

/* A container id as runc accepts them: 0, or -1 after oci_error(). */
int oci_check_id(const char *id);
/* Open and flock (exclusive) the container's directory, load its state: the locked fd, or -1 after
 * oci_error() ("container ID does not exist"). */
int oci_state_open(const char *id, struct oci_state *st);
int oci_state_save(const struct oci_state *st);
void oci_state_free(struct oci_state *st);
enum oci_status oci_status(const struct oci_state *st);
const char *oci_status_name(enum oci_status s);
/* The start time of process @pid from /proc (0 if gone). */
unsigned long long oci_proc_start_time(int pid);
/* Remove the container's directory and everything in it. */
void oci_state_remove(const struct oci_state *st);

/* oci_hooks.c: the bundle's hooks. Check them at create (0, or -1 after oci_error()); run those of
 * @stage with the state (status @status) on stdin: 0, or -1 after oci_error() for the stages that
 * fail a verb (poststart and poststop only warn); keep them in ROOT/ID/hooks.json for later verbs. */
int oci_hooks_check(json_t *hooks);
int oci_hooks_run(json_t *hooks, const char *stage, const struct oci_state *st, const char *status);
int oci_hooks_save(const struct oci_state *st, json_t *hooks);
json_t *oci_hooks_load(const struct oci_state *st); /* NULL if none */

/* oci_cgroup.c: the container's process st->pid into linux.cgroupsPath in every host hierarchy (else
 * /cvisor/ID when @cpu limits are asked), with linux.resources.cpu and, under the sandbox's memory limit
 * @mem_limit (0: none), a host backstop: 0 (a host that refuses only warns), -1 after oci_error(). */
int oci_cgroup_enter(json_t *cpu, uint64_t mem_limit, const char *cgroups_path, const struct oci_state *st);
void oci_cgroup_remove(const struct oci_state *st); /* at delete, once its processes are gone */
/* update: new CPU limits into the container's cpu cgroup: 0, -ENOENT (none), or -errno. */
int oci_cgroup_update(json_t *cpu, const struct oci_state *st);

int oci_create(int argc, char **argv);
int oci_start(int argc, char **argv);
int oci_state_cmd(int argc, char **argv);
int oci_kill(int argc, char **argv);
int oci_delete(int argc, char **argv);
int oci_features(int argc, char **argv);
int oci_spec(int argc, char **argv);
int oci_exec(int argc, char **argv);
int oci_pause(int argc, char **argv);
int oci_resume(int argc, char **argv);
int oci_ps(int argc, char **argv);
int oci_update(int argc, char **argv);
/* One request over the running container's control channel (sentry/control.h), @lock the directory fd
 * oci_state_open() gave: 0 after CTL_OK, -1 after oci_error(). */
struct ctl_req;
int oci_ctl_simple(int lock, const char *id, struct ctl_req *rq);

#endif
