#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# podman driving cvisor as its OCI runtime (issue 14), with everything of podman's private to this run:
# its own storage (--root, --runroot), containers.conf (CONTAINERS_CONF: cvisor registered as a
# runtime, runc the default, this VM's ulimits) and a busybox-static image made locally (no registry).
# One PASS/FAIL line per check, then "N passed, N failed"; exit status 0 only if all passed.
# The tests run it (tests/test_oci.c, run_oci_podman) when podman is installed and they run as root.
#   bash tests/oci/podman.sh [path/to/cvisor]
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cvisor=$(readlink -f "${1:-$here/build/cvisor}")
[ "$(id -u)" = 0 ] || { echo "podman.sh: run it as root" >&2; exit 2; }
command -v podman >/dev/null || { echo "podman.sh: podman is not installed" >&2; exit 2; }
bb=$(command -v busybox) || { echo "podman.sh: needs busybox-static" >&2; exit 2; }
work=$(mktemp -d /var/tmp/cvisor-podman.XXXXXX)
pass=0 fail=0
P() { timeout 60 podman --root "$work/storage" --runroot "$work/run" --cgroup-manager cgroupfs --events-backend file \
	--runtime "$cvisor" "$@"; }
cleanup() {
	P rm -a -f >/dev/null 2>&1
	P unshare true >/dev/null 2>&1 # nothing; keeps the storage unmounted
	umount -R "$work/storage/overlay" 2>/dev/null
	rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
check() { # name, expected, actual
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1)); echo "PASS $1"
	else
		fail=$((fail + 1)); printf 'FAIL %s\n  want: %q\n  got:  %q\n' "$1" "$2" "$3"
	fi
}
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
[engine.runtimes]
cvisor = ["$cvisor"]
EOF
export CONTAINERS_CONF=$work/containers.conf
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/vol"
chmod 1777 "$work/rootfs/tmp"
cp "$bb" "$work/rootfs/bin/busybox"
for a in sh echo cat ls sleep true false id hostname env pwd ps tty kill nc; do ln -s busybox "$work/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$work/rootfs/etc/group"
echo image >"$work/rootfs/etc/motd"
echo volume >"$work/vol/v"
tar -C "$work/rootfs" -cf "$work/image.tar" .
P import "$work/image.tar" localhost/cvisor-podman:1 >/dev/null || { echo "podman.sh: import failed" >&2; exit 1; }
img=localhost/cvisor-podman:1
R() { P run --rm --network=none "$@"; }

out=$(R "$img" sh -c 'echo hello; exit 7' 2>/dev/null)
check "run to exit, status" "hello 7" "$out $?"
check "stdin" "piped" "$(echo piped | R -i "$img" cat 2>/dev/null)"
out=$(script -qec "podman --root $work/storage --runroot $work/run --cgroup-manager cgroupfs --events-backend file --runtime $cvisor run --rm -t --network=none $img sh -c 'tty; exit 3'" /dev/null </dev/null 2>/dev/null | tr -d '\r')
check "-t (console socket)" "tty" "$(echo "$out" | grep -q '^/dev/pts/[0-9]*$' && echo tty)"
check "-e -w -u" "bar /tmp uid=1000(user) gid=1000(user) groups=1000(user)" \
	"$(R -e FOO=bar -w /tmp -u 1000:1000 "$img" sh -c 'echo $FOO $(pwd) $(id)' 2>/dev/null)"
check "volumes rw and ro" "volume ro-refused w" \
	"$(R -v "$work/vol:/rw" -v "$work/vol:/ro:ro" "$img" sh -c 'cat /rw/v; echo w > /rw/w; echo x > /ro/x 2>/dev/null || echo ro-refused' 2>/dev/null | tr '\n' ' '; cat "$work/vol/w" 2>/dev/null)"
check "writable root, image untouched" "new image" \
	"$(R "$img" sh -c 'echo new > /etc/motd; cat /etc/motd' 2>/dev/null) $(R "$img" cat /etc/motd 2>/dev/null)"
check "missing program is 127" "127" "$(R "$img" no-such-program >/dev/null 2>&1; echo $?)"
cid=$(P run -d --network=none "$img" sleep 1000 2>/dev/null)
sleep 1
out=$(P exec "$cid" sh -c 'echo in-exec; exit 4' 2>/dev/null)
check "exec" "in-exec 4" "$out $?"
check "pause" "paused" "$(P pause "$cid" >/dev/null 2>&1; P inspect -f '{{.State.Status}}' "$cid" 2>/dev/null)"
check "unpause" "running" "$(P unpause "$cid" >/dev/null 2>&1; P inspect -f '{{.State.Status}}' "$cid" 2>/dev/null)"
top=$(P top "$cid" 2>/dev/null)
check "top: the sandbox's host processes (the sentry, its stubs), none of the host's" "yes no" \
	"$(grep -q cvisor <<<"$top" && echo yes || echo no) $(grep -q conmon <<<"$top" && echo yes || echo no)"
check "stop (SIGTERM ignored by init, SIGKILL after 2 s)" "137" \
	"$(P stop -t 2 "$cid" >/dev/null 2>&1; P inspect -f '{{.State.ExitCode}}' "$cid" 2>/dev/null)"
P rm "$cid" >/dev/null 2>&1
cid=$(P run -d --network=none "$img" sh -c 'trap "echo got-usr1; exit 9" USR1; while :; do sleep 1; done' 2>/dev/null)
sleep 1
check "kill -s USR1 reaches the program" "9 got-usr1" \
	"$(P kill -s USR1 "$cid" >/dev/null 2>&1; P wait "$cid" 2>/dev/null) $(P logs "$cid" 2>/dev/null)"
P rm "$cid" >/dev/null 2>&1
cid=$(P run -d --network=none "$img" sleep 1000 2>/dev/null)
check "rm -f of a running container" "gone" "$(P rm -f "$cid" >/dev/null 2>&1; P container exists "$cid" && echo left || echo gone)"
t0=$(date +%s%N); R "$img" true >/dev/null 2>&1; t1=$(date +%s%N)
t2=$(date +%s%N); P run --rm --network=none --runtime runc "$img" true >/dev/null 2>&1; t3=$(date +%s%N)
echo "     podman run --rm true: cvisor $(((t1 - t0) / 1000000)) ms, runc $(((t3 - t2) / 1000000)) ms (one run each)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
