// SPDX-License-Identifier: Apache-2.0
// The layers under an engine's overlay root. Docker, containerd and podman hand a container's root
// over as an overlayfs mount (the image's layers under the container's upper directory). The sentry
// makes its own overlay over the root with idmapped layers (view.c), but an overlayfs mount cannot be
// idmapped: its layers can. So the root's own layers are read from /proc/self/mountinfo and stacked
// read-only under the sentry's upper directory: the engine's upper directory first (what the engine
// wrote: /etc/hostname, whiteouts), then its lower ones. The engine's overlay itself is never written.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../sentry.h"

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = 0;
}

/* The value of option @key in comma-separated @opts (a copy), or NULL. */
static char *option(const char *opts, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = opts; p && *p;) {
		const char *end = strchr(p, ',');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
			return strndup(p + kl + 1, l - kl - 1);
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* The overlay mounted at @mount_point: "upper:lower1:lower2..." (@upper_only: its upper directory
 * alone), malloc'ed, or NULL. */
static char *scan(const char *mount_point, bool upper_only)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	while (f && !found && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mount-point options [optional...] - fstype source super-options */
		char *fields[6] = { 0 }, *save = NULL, *tok = strtok_r(line, " \n", &save);
		for (int i = 0; tok && i < 6; i++, tok = strtok_r(NULL, " \n", &save))
			fields[i] = tok;
		while (tok && strcmp(tok, "-") != 0)
			tok = strtok_r(NULL, " \n", &save);
		char *fstype = tok ? strtok_r(NULL, " \n", &save) : NULL;
		char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
		char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (!super || strcmp(fstype, "overlay") != 0 || strcmp(fields[3], "/") != 0)
			continue;
		unescape(fields[4]);
		if (strcmp(fields[4], mount_point) != 0)
			continue;
		if (strchr(super, '\\'))
			break; /* escaped ':' or ',' in a layer's path: not taken apart here */
		char *upper = option(super, "upperdir"), *lower = option(super, "lowerdir");
		if (upper_only) {
			found = upper;
			upper = NULL;
		} else if (lower && !strstr(lower, "::")) { /* "::" separates data-only layers: not these */
			size_t n = (upper ? strlen(upper) + 1 : 0) + strlen(lower) + 1;
			found = malloc(n);
			if (found)
				snprintf(found, n, "%s%s%s", upper ? upper : "", upper ? ":" : "", lower);
		}
		free(upper);
		free(lower);
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

char *overlay_layers(const char *mount_point)
{
	return scan(mount_point, false);
}

char *overlay_upper(const char *mount_point)
{
	return scan(mount_point, true);
}
