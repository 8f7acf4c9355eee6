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
work=$(mktemp -d /var/tmp/cvisor-podman.XXXXXX)
. "$here/tests/oci/lib.sh"
P() { oci_podman "$@"; }
trap oci_podman_cleanup EXIT
oci_podman_setup "$work" "$cvisor" || { echo "podman.sh: setup failed" >&2; exit 1; }
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
# The start-up figure: informational, never a check (5 runs each, interleaved, the median).
cv=() rc=()
for _ in 1 2 3 4 5; do
	cv+=("$(oci_ms R "$img" true)") rc+=("$(oci_ms R --runtime runc "$img" true)")
done
echo "INFO podman run --rm IMG true, median of 5: cvisor $(oci_median "${cv[@]}") ms," \
	"runc $(oci_median "${rc[@]}") ms (informational, not a check)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
