// SPDX-License-Identifier: Apache-2.0
// A container's state under --root: ROOT/ID/state.json (what create knew), ROOT/ID/exec.fifo (there
// until start), ROOT/ID/overlay/{upper,work} (the root's private copy-ups; a link to them beside the
// engine's writable layer when the root is an engine's overlay: oci_create.c). Its status is never stored:
// it is read from the container's process each time (alive, and the same process: its start time),
// so it stays right across an engine's restart and a container that died meanwhile. Every verb holds
// an exclusive flock on ROOT/ID while it looks or changes, so concurrent calls on one container queue.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "oci.h"

int oci_check_id(const char *id)
{
	size_t n = strlen(id);
	bool ok = n > 0 && n < 256 && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
	for (size_t i = 0; ok && i < n; i++) {
		char ch = id[i];
		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		     ch == '-' || ch == '.' || ch == '+';
	}
	if (!ok)
		oci_error("invalid container id '%s' (letters, digits, _ - . +)", id);
	return ok ? 0 : -1;
}

unsigned long long oci_proc_start_time(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (!p || p[1] != ' ')
		return 0;
	/* after ") ": field 3 (state) ... field 22 (starttime) */
	char state = p[2];
	if (state == 'Z' || state == 'X')
		return 0; /* exited (a zombie its reaper has not waited for yet) */
	unsigned long long v = 0;
	int field = 3;
	for (char *q = p + 2; *q && field <= 22; q++) {
		if (*q == ' ') {
			field++;
			if (field == 22)
				v = strtoull(q + 1, NULL, 10);
		}
	}
	return v;
}

static void path_in(const struct oci_state *st, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", st->dir, name);
}

int oci_state_open(const char *id, struct oci_state *st)
{
	memset(st, 0, sizeof(*st));
	if (oci_check_id(id) < 0)
		return -1;
	snprintf(st->id, sizeof(st->id), "%s", id);
	snprintf(st->dir, sizeof(st->dir), "%s/%s", oci_g.root, id);
	int fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		if (fd >= 0)
			close(fd);
		oci_error("container %s does not exist", id);
		return -1;
	}
	char file[PATH_MAX + 16];
	path_in(st, "state.json", file, sizeof(file));
	json_error_t je;
	json_t *doc = json_load_file(file, 0, &je);
	if (!doc) { /* being created (not ours to see yet) or deleted while we waited for the lock */
		close(fd);
		oci_error("container %s does not exist", id);
		return -1;
	}
	const char *b = json_string_value(json_object_get(doc, "bundle"));
	const char *r = json_string_value(json_object_get(doc, "rootfs"));
	const char *c = json_string_value(json_object_get(doc, "created"));
	snprintf(st->bundle, sizeof(st->bundle), "%s", b ? b : "");
	snprintf(st->rootfs, sizeof(st->rootfs), "%s", r ? r : "");
	snprintf(st->created, sizeof(st->created), "%s", c ? c : "");
	st->pid = (int)json_integer_value(json_object_get(doc, "pid"));
	st->start_time = (unsigned long long)json_integer_value(json_object_get(doc, "cvisorStartTime"));
	st->paused = json_is_true(json_object_get(doc, "cvisorPaused"));
	json_t *a = json_object_get(doc, "annotations");
	st->annotations = a ? json_incref(a) : NULL;
	json_decref(doc);
	return fd;
}

int oci_state_save(const struct oci_state *st)
{
	json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "ociVersion", OCI_VERSION, "id", st->id, "pid",
				st->pid, "bundle", st->bundle, "rootfs", st->rootfs, "created", st->created,
				"cvisorStartTime", (json_int_t)st->start_time);
	if (!doc)
		return -ENOMEM;
	if (st->annotations)
		json_object_set(doc, "annotations", st->annotations);
	if (st->paused)
		json_object_set_new(doc, "cvisorPaused", json_true());
	char file[PATH_MAX + 16], tmp[PATH_MAX + 16];
	path_in(st, "state.json", file, sizeof(file));
	path_in(st, "state.json.new", tmp, sizeof(tmp));
	/* written aside and renamed: a reader never sees half of it */
	int ret = json_dump_file(doc, tmp, JSON_COMPACT) == 0 && rename(tmp, file) == 0 ? 0 : -errno;
	json_decref(doc);
	return ret;
}

void oci_state_free(struct oci_state *st)
{
	if (st->annotations)
		json_decref(st->annotations);
	st->annotations = NULL;
}

enum oci_status oci_status(const struct oci_state *st)
{
	if (st->pid <= 0)
		return OCI_CREATING;
	if (oci_proc_start_time(st->pid) != st->start_time)
		return OCI_STOPPED;
	char fifo[PATH_MAX + 16];
	path_in(st, "exec.fifo", fifo, sizeof(fifo));
	return access(fifo, F_OK) == 0 ? OCI_CREATED : st->paused ? OCI_PAUSED : OCI_RUNNING;
}

const char *oci_status_name(enum oci_status s)
{
	static const char *const names[] = { "creating", "created", "running", "stopped", "paused" };
	return names[s];
}

void oci_state_remove(const struct oci_state *st)
{
	/* The root's copy-ups beside the engine's layer (oci_create.c, overlay_dir): ROOT/ID/overlay is a
	 * link there, made by create and named after this container. */
	char link[PATH_MAX + 16], target[PATH_MAX], tail[NAME_MAX + 16];
	snprintf(link, sizeof(link), "%s/overlay", st->dir);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	snprintf(tail, sizeof(tail), "/cvisor-%s", st->id);
	if (n > 0) {
		target[n] = 0;
		size_t tl = strlen(tail);
		if (target[0] == '/' && (size_t)n > tl && strcmp(target + n - tl, tail) == 0) {
			remove_tree(target);
			rmdir(target);
		}
	}
	remove_tree(st->dir); /* policy.c: depth first, never following links */
	rmdir(st->dir);
}
