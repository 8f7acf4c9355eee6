// SPDX-License-Identifier: Apache-2.0
// The cvisor command line: dispatch to subcommands, help and version.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cvisor.h"
#include "oci.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "run", cmd_run, "run a program in the sandbox" },
	{ "platforms", cmd_platforms, "list execution backends: usable here or why not, capabilities" },
	{ "bench", cmd_bench, "time a trapped getpid round trip on each usable backend, against native" },
	{ "syscalls", cmd_syscalls, "the sentry's syscall table: what each syscall does in the sandbox" },
	/* The OCI runtime's verbs, as runc has them (docs/oci.md). */
	{ "create", oci_create, "OCI: make a container from a bundle; it waits for start" },
	{ "start", oci_start, "OCI: run a created container's program" },
	{ "state", oci_state_cmd, "OCI: a container's state as JSON" },
	{ "kill", oci_kill, "OCI: send a signal to a container" },
	{ "exec", oci_exec, "OCI: run a new process in a running container" },
	{ "pause", oci_pause, "OCI: stop every process of a container" },
	{ "resume", oci_resume, "OCI: let a paused container go on" },
	{ "ps", oci_ps, "OCI: a container's processes (--format json: host pids)" },
	{ "update", oci_update, "OCI: change a running container's CPU limits" },
	{ "delete", oci_delete, "OCI: remove a container's state (--force: kill it first)" },
	{ "features", oci_features, "OCI: what this runtime supports, as JSON" },
	{ "spec", oci_spec, "OCI: write a starting config.json" },
};

void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("cvisor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see 'cvisor --help')\n", stderr);
	va_end(ap);
	exit(2);
}

void run_help(FILE *f)
{
	fprintf(f,
		"  cvisor run [--platform P] [--trace] [--stats] [--no-patch] [--net] [--root DIR] [--ro PATH]...\n"
		"             [--rw PATH]... [--ro-as-root PATH]... [--env K=V]... [--cwd DIR] [--memory SIZE]\n"
		"             [--pids N] [--unsafe-no-confine] -- PROG [ARGS...]\n"
		"      host files are visible read-only; /tmp and /dev/shm are private (tmpfs) and writable; --rw\n"
		"      grants writes; without --net the sandbox has a network of its own (loopback only)\n"
		"      the sentry confines itself in layers before the program starts: its own user, mount, pid,\n"
		"      network, IPC, UTS and cgroup namespaces; an unprivileged host identity (the caller's uid, or\n"
		"      nobody when started by root: root-only files stay closed unless granted with --ro-as-root);\n"
		"      no capabilities, no_new_privs; a mount view holding only what the sandbox may see, read-only\n"
		"      but for /tmp, /dev/shm and --rw; a seccomp filter of its own that ends it at any host syscall\n"
		"      it does not need. --unsafe-no-confine turns all of that off (debugging only)\n"
		"      --memory SIZE (K, M, G): the sandbox's memory (anonymous and private pages); past it mmap and\n"
		"      brk fail with ENOMEM and a fault needing a page ends the process (SIGKILL, as an OOM kill).\n"
		"      --pids N: tasks (processes and threads) alive at once; past it fork and clone fail (EAGAIN)\n");
}

static void help(FILE *f)
{
	fprintf(f, "usage: cvisor COMMAND [OPTIONS]\n\n"
		   "Run untrusted Linux x86-64 code under a user-space kernel.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n");
	run_help(f);
	fprintf(f,
		"  cvisor bench [--platform P] [--iterations N] [--json]\n"
		"  cvisor syscalls [--markdown]\n"
		"  cvisor [--root DIR] [--log FILE] [--log-format json|text] create [--bundle DIR] [--pid-file F]\n"
		"         [--console-socket SOCK] ID | start ID | state ID | kill [--all] ID [SIG] | delete [--force] ID\n"
		"  cvisor features | spec [--bundle DIR]      (the OCI runtime, as runc; docs/oci.md)\n"
		"\noptions:\n  --help     this text\n  --version  the library version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		help(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		help(stdout);
		return 0;
	}
	/* runc's global options, before the command: what engines pass to every call. */
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const char *val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
			printf("cvisor version %s\nspec: %s\n", cv_version(), OCI_VERSION);
			return 0;
		}
		if (strcmp(a, "--debug") == 0 || strcmp(a, "--systemd-cgroup") == 0)
			continue; /* accepted: nothing here depends on them */
		bool takes = (n == 6 && strncmp(a, "--root", n) == 0) || (n == 5 && strncmp(a, "--log", n) == 0) ||
			     (n == 12 && strncmp(a, "--log-format", n) == 0) || (n == 10 && strncmp(a, "--rootless", n) == 0) ||
			     (n == 10 && strncmp(a, "--criu", n) == 0);
		if (!takes)
			usage_error("unknown option '%s'", a);
		if (!val)
			usage_error("option '%s' needs a value", a);
		if (n == 6)
			oci_g.root = val;
		else if (n == 5)
			oci_g.log = val;
		else if (n == 12 && strcmp(val, "json") != 0 && strcmp(val, "text") != 0)
			usage_error("--log-format %s: want json or text", val);
		else if (n == 12)
			oci_g.log_json = strcmp(val, "json") == 0;
		if (!eq)
			i++;
	}
	if (i >= argc)
		usage_error("no command given");
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].fn(argc - i, argv + i);
	usage_error("unknown command '%s'", argv[i]);
}
