// SPDX-License-Identifier: Apache-2.0
// The cvisor command line: dispatch to subcommands, help and version.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cvisor.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "run", cmd_run, "run a program in the sandbox" },
	{ "platforms", cmd_platforms, "list execution backends: usable here or why not, capabilities" },
	{ "bench", cmd_bench, "time a trapped getpid round trip on each usable backend, against native" },
	{ "syscalls", cmd_syscalls, "the sentry's syscall table: what each syscall does in the sandbox" },
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
		"             [--rw PATH]... [--ro-as-root PATH]... [--env K=V]... [--cwd DIR] [--unsafe-no-confine]\n"
		"             -- PROG [ARGS...]\n"
		"      host files are visible read-only; /tmp and /dev/shm are private (tmpfs) and writable; --rw\n"
		"      grants writes; without --net the sandbox has a network of its own (loopback only)\n"
		"      the sentry confines itself in layers before the program starts: its own user, mount, pid,\n"
		"      network, IPC, UTS and cgroup namespaces; an unprivileged host identity (the caller's uid, or\n"
		"      nobody when started by root: root-only files stay closed unless granted with --ro-as-root);\n"
		"      no capabilities, no_new_privs; a mount view holding only what the sandbox may see, read-only\n"
		"      but for /tmp, /dev/shm and --rw; a seccomp filter of its own that ends it at any host syscall\n"
		"      it does not need. --unsafe-no-confine turns all of that off (debugging only)\n");
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
	if (strcmp(argv[1], "--version") == 0) {
		printf("cvisor %s\n", cv_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	usage_error("unknown command '%s'", argv[1]);
}
