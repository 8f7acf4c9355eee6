// SPDX-License-Identifier: Apache-2.0
// `spec` (a starting config.json, as runc spec writes) and `features` (what this runtime accepts, in
// the runtime-spec's features.md format), both from static text.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "oci.h"

static const char spec_json[] =
	"{\n"
	"  \"ociVersion\": \"" OCI_VERSION "\",\n"
	"  \"process\": {\n"
	"    \"terminal\": true,\n"
	"    \"user\": { \"uid\": 0, \"gid\": 0 },\n"
	"    \"args\": [ \"sh\" ],\n"
	"    \"env\": [ \"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"TERM=xterm\" ],\n"
	"    \"cwd\": \"/\",\n"
	"    \"rlimits\": [ { \"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024 } ],\n"
	"    \"noNewPrivileges\": true\n"
	"  },\n"
	"  \"root\": { \"path\": \"rootfs\", \"readonly\": false },\n"
	"  \"hostname\": \"cvisor\",\n"
	"  \"mounts\": [\n"
	"    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
	"    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
	"    { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", \"options\": [ \"nosuid\", \"noexec\" ] },\n"
	"    { \"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\" ] },\n"
	"    { \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] }\n"
	"  ],\n"
	"  \"linux\": {\n"
	"    \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"ipc\" }, { \"type\": \"uts\" }, { \"type\": \"mount\" } ]\n"
	"  }\n"
	"}\n";

int oci_spec(int argc, char **argv)
{
	const char *bundle = ".";
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--bundle") == 0 || strcmp(argv[i], "-b") == 0) && i + 1 < argc) {
			bundle = argv[++i];
		} else {
			oci_error("spec: unknown option '%s'", argv[i]);
			return 1;
		}
	}
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		oci_error("%s: %s", path, errno == EEXIST ? "already exists" : strerror(errno));
		return 1;
	}
	ssize_t n = write(fd, spec_json, sizeof(spec_json) - 1);
	int ret = n == (ssize_t)sizeof(spec_json) - 1 ? 0 : 1;
	if (close(fd) < 0 || ret)
		oci_error("%s: cannot write", path);
	return ret;
}

int oci_features(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		oci_error("features: unexpected argument '%s'", argv[1]);
		return 1;
	}
	printf("{\n"
	       "  \"ociVersionMin\": \"1.0.0\",\n"
	       "  \"ociVersionMax\": \"" OCI_VERSION "\",\n"
	       "  \"hooks\": [],\n"
	       "  \"mountOptions\": [ \"bind\", \"rbind\", \"ro\", \"rw\", \"nosuid\", \"nodev\", \"noexec\", \"private\", \"rprivate\", \"size\", \"mode\" ],\n"
	       "  \"linux\": {\n"
	       "    \"namespaces\": [ \"pid\", \"network\", \"ipc\", \"uts\", \"mount\", \"cgroup\" ],\n"
	       "    \"capabilities\": [],\n"
	       "    \"cgroup\": { \"v1\": false, \"v2\": false, \"systemd\": false, \"systemdUser\": false },\n"
	       "    \"seccomp\": { \"enabled\": false },\n"
	       "    \"apparmor\": { \"enabled\": false },\n"
	       "    \"selinux\": { \"enabled\": false }\n"
	       "  },\n"
	       "  \"annotations\": { \"org.opencontainers.runc.checkpoint.enabled\": \"false\" }\n"
	       "}\n");
	return 0;
}
