// SPDX-License-Identifier: Apache-2.0
// --trace: one strace-like line per syscall on stderr: "[tid] name(args) = result". Paths and other
// strings are shown as the application passed them (read from its memory, cut at 64 bytes), fds and
// counts in decimal, flags and pointers in hex; an error result shows its errno name.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include "../sentry.h"
#include "../systable.h"

static void put_string(struct process *pr, uint64_t addr, char *out, size_t outlen)
{
	char s[65];
	long n = mm_strncpy_in(pr, addr, s, sizeof(s));
	bool cut = n == -ENAMETOOLONG;
	if (cut) {
		s[sizeof(s) - 1] = 0;
		n = (long)sizeof(s) - 1;
	}
	if (n < 0) {
		snprintf(out, outlen, "%#llx", (unsigned long long)addr);
		return;
	}
	size_t o = 0;
	out[o++] = '"';
	for (long i = 0; i < n && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		}
	}
	snprintf(out + o, outlen - o, cut ? "\"..." : "\"");
}

void trace_syscall(struct task *t, uint64_t nr, const uint64_t a[6], long ret)
{
	const struct syscall_def *d = syscall_def(nr);
	const char *kinds = d && d->args ? d->args : "xxx"; /* formats: systable.c */
	char line[1024], arg[300];
	const char *name = d ? d->name : NULL;
	int o = name ? snprintf(line, sizeof(line), "[%d] %s(", t->tid, name)
		     : snprintf(line, sizeof(line), "[%d] syscall_%llu(", t->tid, (unsigned long long)nr);
	for (int i = 0; kinds[i] && i < 6; i++) {
		if (kinds[i] == 's' && nr == SYS_execve && i == 0 && ret == 0) /* the old image is gone */
			snprintf(arg, sizeof(arg), "\"%.200s\"", t->proc->exe ? t->proc->exe : "?");
		else if (kinds[i] == 's')
			put_string(t->proc, a[i], arg, sizeof(arg));
		else if (kinds[i] == 'd') /* ints (fds, AT_FDCWD) arrive zero-extended */
			snprintf(arg, sizeof(arg), "%lld", a[i] <= 0xffffffffull ? (long long)(int32_t)a[i] : (long long)a[i]);
		else
			snprintf(arg, sizeof(arg), "%#llx", (unsigned long long)a[i]);
		o += snprintf(line + o, sizeof(line) - (size_t)o, "%s%s", i ? ", " : "", arg);
		if (o >= (int)sizeof(line))
			break;
	}
	if (o < (int)sizeof(line)) {
		if (ret < 0 && ret >= -4095) {
			const char *e = strerrorname_np((int)-ret);
			snprintf(line + o, sizeof(line) - (size_t)o, ") = -1 %s (%s)", e ? e : "?", strerror((int)-ret));
		} else {
			snprintf(line + o, sizeof(line) - (size_t)o, (ret > 0xffff || ret < -0xffff) ? ") = %#lx" : ") = %ld",
				 ret);
		}
	}
	fprintf(stderr, "%s\n", line);
}
