# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shared by tests/oci/*.sh and bench/oci.sh (sourced, not run): a local busybox-static image and a
# private podman (its own storage, run root and containers.conf), so nothing of the host's podman is
# used or changed and no registry is needed.

# oci_rootfs DIR: a busybox-static root in DIR (applets, passwd/group for -u, /etc/motd) and a volume
# directory DIR/../vol; DIR/../image.tar is the root as a tarball for `podman import`/`docker import`.
oci_rootfs() {
	local root=$1 top bb a
	top=$(dirname "$root")
	bb=$(command -v busybox) || { echo "needs busybox-static" >&2; return 2; }
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$top/vol"
	chmod 1777 "$root/tmp"
	cp "$bb" "$root/bin/busybox"
	for a in sh echo cat ls sleep true false id hostname env pwd ps tty kill nc seq; do
		ln -s busybox "$root/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$root/etc/group"
	echo image >"$root/etc/motd"
	echo volume >"$top/vol/v"
	tar -C "$root" -cf "$top/image.tar" .
}

# oci_podman_setup WORK CVISOR [NAME=PATH...]: WORK/containers.conf (runc the default, cvisor and
# each NAME registered as runtimes, this VM's ulimits: its root lacks CAP_SYS_RESOURCE), exported as
# CONTAINERS_CONF; the image localhost/cvisor-podman:1 imported into WORK/storage. Then `oci_podman
# ARGS` is podman on that storage with cvisor as its runtime (another one with --runtime NAME).
oci_podman_setup() {
	local work=$1 rt
	oci_work=$work oci_cvisor=$2
	shift 2
	{
		printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
		printf '[engine]\nruntime = "runc"\n[engine.runtimes]\ncvisor = ["%s"]\n' "$oci_cvisor"
		for rt in "$@"; do printf '%s = ["%s"]\n' "${rt%%=*}" "${rt#*=}"; done
	} >"$work/containers.conf"
	export CONTAINERS_CONF=$work/containers.conf
	oci_rootfs "$work/rootfs" || return
	oci_podman import "$work/image.tar" localhost/cvisor-podman:1 >/dev/null || {
		echo "podman import failed" >&2
		return 1
	}
}
oci_podman() {
	timeout 60 podman --root "$oci_work/storage" --runroot "$oci_work/run" --cgroup-manager cgroupfs \
		--events-backend file --runtime "$oci_cvisor" "$@"
}
# oci_podman_cleanup: removes every container of the private storage, then WORK.
oci_podman_cleanup() {
	[ -n "${oci_work:-}" ] || return 0
	oci_podman rm -a -f >/dev/null 2>&1
	umount -R "$oci_work/storage/overlay" 2>/dev/null
	rm -rf "$oci_work" 2>/dev/null || true
}

# check NAME EXPECTED ACTUAL: one PASS/FAIL line, counted in $pass and $fail.
pass=0 fail=0
check() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1)); echo "PASS $1"
	else
		fail=$((fail + 1)); printf 'FAIL %s\n  want: %q\n  got:  %q\n' "$1" "$2" "$3"
	fi
}

# oci_median VALUES...: the median (the lower middle one of an even count).
oci_median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# oci_ms COMMAND...: runs it (output discarded) and prints its wall time in ms; its status is the
# command's.
oci_ms() {
	local t0 t1 st
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	st=$?
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
	return $st
}
