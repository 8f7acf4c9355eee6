// SPDX-License-Identifier: Apache-2.0
// `update`: a running container's resources, as runc takes them (`docker update`, containerd's shim,
// a Kubernetes resize): `--resources FILE` (`-`: stdin; the JSON of config.json's linux.resources) and
// runc's flags for single values. CPU shares, quota and period go to the container's cpu cgroup
// (oci_cgroup.c). Memory and task limits are the sentry's own, fixed at create: the same value again
// (or none) is accepted, another one refused with a clear error — never taken and silently ignored.
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "oci.h"

/* runc's flags for single values: the linux.resources member each sets. */
static const struct {
	const char *flag, *group, *key;
} flags[] = {
	{ "--cpu-period", "cpu", "period" }, { "--cpu-quota", "cpu", "quota" },
	{ "--cpu-share", "cpu", "shares" },  { "--memory", "memory", "limit" },
	{ "--pids-limit", "pids", "limit" },
};

/* The value of linux.resources.@group.@key in the bundle's config.json, what create was given (0: none). */
static json_int_t created_with(const struct oci_state *st, const char *group, const char *key)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/config.json", st->bundle);
	json_t *doc = json_load_file(path, 0, NULL);
	json_int_t v = json_integer_value(json_object_get(
		json_object_get(json_object_get(json_object_get(doc, "linux"), "resources"), group), key));
	json_decref(doc);
	return v;
}

/* Does @v set anything (engines send every member, most of them zero)? */
static bool sets_something(json_t *v)
{
	if (json_is_object(v) || json_is_array(v)) {
		const char *k;
		json_t *m;
		size_t i;
		if (json_is_object(v)) {
			json_object_foreach(v, k, m)
				if (sets_something(m))
					return true;
		} else {
			json_array_foreach(v, i, m)
				if (sets_something(m))
					return true;
		}
		return false;
	}
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v)) ||
	       (json_is_string(v) && json_string_length(v)) || (json_is_real(v) && json_real_value(v) != 0);
}

/* Memory and task limits: the sentry's, fixed at create. 0, or -1 after oci_error(). */
static int fixed_limits(json_t *res, const struct oci_state *st)
{
	static const char *const fixed[][2] = { { "memory", "limit" }, { "pids", "limit" } };
	for (int i = 0; i < 2; i++) {
		json_int_t v =
			json_integer_value(json_object_get(json_object_get(res, fixed[i][0]), fixed[i][1]));
		if (v > 0 && v != created_with(st, fixed[i][0], fixed[i][1])) {
			oci_error("update: %s.%s cannot change while the container runs (the sandbox's own "
				  "limit, set at create); only cpu shares, quota and period can",
				  fixed[i][0], fixed[i][1]);
			return -1;
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach(res, k, v) {
		if (strcmp(k, "cpu") && strcmp(k, "memory") && strcmp(k, "pids") && strcmp(k, "devices") &&
		    sets_something(v))
			oci_warn("update: linux.resources.%s is not applied", k);
	}
	return 0;
}

int oci_update(int argc, char **argv)
{
	json_t *res = json_object();
	const char *file = NULL;
	int i = 1, ret = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const char *val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
		if (!val) {
			oci_error("update: %s needs a value", a);
			goto out;
		}
		if ((n == 11 && strncmp(a, "--resources", n) == 0) || (n == 2 && strncmp(a, "-r", n) == 0)) {
			file = val;
		} else {
			size_t f = 0, nf = sizeof(flags) / sizeof(flags[0]);
			while (f < nf && (strlen(flags[f].flag) != n || strncmp(a, flags[f].flag, n)))
				f++;
			char *end = NULL;
			long long v = f < nf ? strtoll(val, &end, 10) : 0;
			if (f == nf) {
				oci_error("update: unknown option '%.*s' (supported: --resources, "
					  "--cpu-period, --cpu-quota, --cpu-share, --memory, --pids-limit)",
					  (int)n, a);
				goto out;
			}
			if (end == val || *end) {
				oci_error("update: %.*s: '%s' is not a number", (int)n, a, val);
				goto out;
			}
			json_t *g = json_object_get(res, flags[f].group);
			if (!g)
				json_object_set_new(res, flags[f].group, g = json_object());
			json_object_set_new(g, flags[f].key, json_integer(v));
		}
		if (!eq)
			i++;
	}
	if (i >= argc) {
		oci_error("update: no container id given");
		goto out;
	}
	if (i + 1 < argc) {
		oci_error("update: unexpected argument '%s'", argv[i + 1]);
		goto out;
	}
	if (file) {
		json_error_t err;
		json_t *doc =
			strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &err) : json_load_file(file, 0, &err);
		if (!json_is_object(doc)) {
			oci_error("update: %s: %s", strcmp(file, "-") ? file : "stdin",
				  doc ? "not a JSON object" : err.text);
			json_decref(doc);
			goto out;
		}
		const char *g;
		json_t *gv;
		json_object_foreach(res, g, gv) { /* a flag given too wins over the file */
			json_t *dg = json_object_get(doc, g);
			if (json_is_object(dg))
				json_object_update(dg, gv);
			else
				json_object_set(doc, g, gv);
		}
		json_decref(res);
		res = doc;
	}
	struct oci_state st;
	int lock = oci_state_open(argv[i], &st);
	if (lock < 0)
		goto out;
	enum oci_status s = oci_status(&st);
	if (s != OCI_CREATED && s != OCI_RUNNING && s != OCI_PAUSED) {
		oci_error("update: container %s is %s", st.id, oci_status_name(s));
	} else if (fixed_limits(res, &st) == 0) {
		int r = oci_cgroup_update(json_object_get(res, "cpu"), &st);
		if (r == -ENOENT)
			oci_error("update: container %s has no cpu cgroup to update (made without "
				  "linux.cgroupsPath)", st.id);
		else if (r < 0)
			oci_error("update: the cpu cgroup of %s: %s", st.id, strerror(-r));
		else
			ret = 0;
	}
	oci_state_free(&st);
	close(lock);
out:
	json_decref(res);
	return ret;
}
