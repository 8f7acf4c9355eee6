#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Docker and containerd driving cvisor as their OCI runtime (issue 14): each daemon is started
# privately by this script (its own data root, state, socket and bridge; the host's daemons, if any,
# are left alone), a busybox-static image is made locally (no registry is needed), and the checks
# print one PASS/FAIL line each. Not part of the tests (it needs daemons CI cannot keep); run it by
# hand, as root, from a checkout with cvisor built:   bash tests/oci/engines.sh [path/to/cvisor]
# Installs docker.io and containerd with apt-get if they are missing.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cvisor=$(readlink -f "${1:-$here/build/cvisor}")
[ "$(id -u)" = 0 ] || { echo "engines.sh: run it as root" >&2; exit 2; }
[ -x "$cvisor" ] || { echo "engines.sh: no cvisor at $cvisor (make first)" >&2; exit 2; }
if ! command -v dockerd >/dev/null || ! command -v containerd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io containerd >/dev/null || exit 2
fi
command -v busybox >/dev/null || { echo "engines.sh: needs busybox-static" >&2; exit 2; }

work=$(mktemp -d /var/tmp/cvisor-engines.XXXXXX)
sock=$work/docker.sock ctd=$work/containerd.sock
. "$here/tests/oci/lib.sh"
# Docker's bridge network: a bridge of the script's own (not the host's docker0), no iptables rules;
# a busybox httpd on its host address is what a container reaches.
bridge=cvisor-br0 bridge_ip=10.199.77.1
cleanup() {
	[ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null
	[ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")" 2>/dev/null
	[ -f "$work/httpd.pid" ] && kill "$(cat "$work/httpd.pid")" 2>/dev/null
	sleep 2
	umount -R "$work/docker-exec" "$work/ctd-state" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# The image: busybox-static and its applets, passwd/group for -u.
oci_rootfs "$work/rootfs" || exit 2
{ ip link add "$bridge" type bridge && ip addr add "$bridge_ip/24" dev "$bridge" &&
	ip link set "$bridge" up; } || exit 2
mkdir -p "$work/www" && echo page-from-the-host >"$work/www/index.html"
busybox httpd -f -p "$bridge_ip:8099" -h "$work/www" &
echo $! >"$work/httpd.pid"

echo "== Docker ($(dockerd --version))"
dockerd --add-runtime cvisor="$cvisor" --default-runtime runc --data-root "$work/docker" \
	--exec-root "$work/docker-exec" -H "unix://$sock" --pidfile "$work/dockerd.pid" --iptables=false \
	--ip6tables=false --bridge="$bridge" >"$work/dockerd.log" 2>&1 &
for _ in $(seq 50); do [ -S "$sock" ] && docker -H "unix://$sock" info >/dev/null 2>&1 && break; sleep 0.2; done
D() { timeout 60 docker -H "unix://$sock" "$@"; }
R() { D run --rm --runtime=cvisor --network=none "$@"; }
D import "$work/image.tar" cvisor-engines:1 >/dev/null
cgroups() { find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/docker/*' 2>/dev/null | wc -l; }
cgroups_before=$(cgroups)
host_net() {
	readlink /proc/self/ns/net
	cat /proc/sys/net/ipv6/conf/{all,default,lo}/disable_ipv6 | tr -d '\n'
}
net_before=$(host_net)
out=$(R cvisor-engines:1 sh -c 'echo hello; exit 7' 2>/dev/null)
check "docker: run to exit, status" "hello 7" "$out $?"
check "docker: stdin" "piped" "$(echo piped | R -i cvisor-engines:1 cat 2>/dev/null)"
out=$(R -t cvisor-engines:1 sh -c 'tty; exit 3' </dev/null 2>/dev/null)
rc=$?
check "docker: -t (console socket)" "tty 3" "$(grep -q '^/dev/pts/[0-9]*.$' <<<"$out" && echo tty) $rc"
check "docker: -e -w -u" "bar /tmp uid=1000(user) gid=1000(user) groups=1000(user)" \
	"$(R -e FOO=bar -w /tmp -u 1000:1000 cvisor-engines:1 sh -c 'echo $FOO $(pwd) $(id)' 2>/dev/null)"
check "docker: volumes rw and ro" "volume ro-refused w" \
	"$(R -v "$work/vol:/rw" -v "$work/vol:/ro:ro" cvisor-engines:1 sh -c 'cat /rw/v; echo w > /rw/w; echo x > /ro/x 2>/dev/null || echo ro-refused' 2>/dev/null | tr '\n' ' '; cat "$work/vol/w")"
check "docker: writable root, image untouched" "new image" \
	"$(R cvisor-engines:1 sh -c 'echo new > /etc/motd; cat /etc/motd' 2>/dev/null) $(R cvisor-engines:1 cat /etc/motd 2>/dev/null)"
check "docker: missing program is 127" "127" "$(R cvisor-engines:1 no-such-program >/dev/null 2>&1; echo $?)"
check "docker: the sandbox's root binds port 80" "bound" \
	"$(R cvisor-engines:1 sh -c 'nc -l -p 80 & sleep 0.5; kill $! && echo bound' 2>/dev/null)"
check "docker: -m 64m (the sandbox's memory)" "refused" \
	"$(R -m 64m cvisor-engines:1 sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null && echo allocated || echo refused' 2>/dev/null)"
out=$(R --pids-limit 5 cvisor-engines:1 sh -c 'for i in 1 2 3 4 5 6; do sleep 2 & done; wait' 2>&1)
check "docker: --pids-limit 5" "yes" "$(grep -q "can't fork" <<<"$out" && echo yes || echo no)"
cid=$(D run -d --runtime=cvisor --network=none --cpus 0.5 cvisor-engines:1 sleep 1000 2>/dev/null)
sleep 1
check "docker: --cpus 0.5 (the host's cgroup)" "50000 100000" \
	"$(cat /sys/fs/cgroup/cpu/docker/"$cid"/cpu.cfs_quota_us /sys/fs/cgroup/cpu/docker/"$cid"/cpu.cfs_period_us 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; \
	   cat /sys/fs/cgroup/docker/"$cid"/cpu.max 2>/dev/null)"
out=$(D exec "$cid" sh -c 'echo in-exec; exit 4' 2>/dev/null)
check "docker: exec" "in-exec 4" "$out $?"
check "docker: exec -t" "tty" "$(D exec -t "$cid" tty </dev/null 2>/dev/null | tr -d '\r' | grep -q '^/dev/pts/[0-9]*$' && echo tty)"
check "docker: pause" "paused" "$(D pause "$cid" >/dev/null 2>&1; D inspect -f '{{.State.Status}}' "$cid")"
check "docker: unpause" "running" "$(D unpause "$cid" >/dev/null 2>&1; D inspect -f '{{.State.Status}}' "$cid")"
top=$(D top "$cid" 2>/dev/null)
check "docker: top (the sentry and its stubs)" "yes" "$(grep -q cvisor <<<"$top" && echo yes || echo no)"
check "docker: stop (SIGTERM ignored by init, SIGKILL after 2 s)" "137" \
	"$(D stop -t 2 "$cid" >/dev/null 2>&1; D inspect -f '{{.State.ExitCode}}' "$cid")"
D rm "$cid" >/dev/null 2>&1
cid=$(D run -d --runtime=cvisor --network=none cvisor-engines:1 sh -c 'trap "echo got-usr1; exit 9" USR1; while :; do sleep 1; done' 2>/dev/null)
sleep 1
check "docker: kill -s USR1 reaches the program" "9 got-usr1" \
	"$(D kill -s USR1 "$cid" >/dev/null 2>&1; D wait "$cid" 2>/dev/null) $(D logs "$cid" 2>/dev/null)"
D rm "$cid" >/dev/null 2>&1
cid=$(D run -d --runtime=cvisor --network=none cvisor-engines:1 sleep 1000 2>/dev/null)
check "docker: rm -f of a running container" "gone" "$(D rm -f "$cid" >/dev/null 2>&1; D inspect "$cid" >/dev/null 2>&1 && echo left || echo gone)"
t0=$(date +%s%N); R cvisor-engines:1 true >/dev/null 2>&1; t1=$(date +%s%N)
t2=$(date +%s%N); D run --rm --network=none cvisor-engines:1 true >/dev/null 2>&1; t3=$(date +%s%N)
echo "     docker run --rm true: cvisor $(((t1 - t0) / 1000000)) ms, runc $(((t3 - t2) / 1000000)) ms (one run each)"
check "docker: bridge network (the default): the host's httpd" "page-from-the-host 0" \
	"$(D run --rm --runtime=cvisor cvisor-engines:1 sh -c "wget -qO- http://$bridge_ip:8099/; echo \$?" 2>/dev/null |
		tr '\n' ' ' | sed 's/ $//')"
cid=$(D run -d --runtime=cvisor -p 127.0.0.1:18080:8080 cvisor-engines:1 sh -c \
	'mkdir /www; echo served-from-the-sandbox > /www/index.html; exec httpd -f -p 8080 -h /www' 2>/dev/null)
for _ in $(seq 50); do out=$(busybox wget -qO- http://127.0.0.1:18080/ 2>/dev/null) && break; sleep 0.1; done
check "docker: -p (a published port, docker-proxy to the sandbox's server)" "served-from-the-sandbox" "$out"
D rm -f "$cid" >/dev/null 2>&1
# Docker's prestart hook sets up the network namespace it finds through the container's pid (its
# interfaces, disable_ipv6): the container's own, never the host's.
check "docker: the host's network namespace untouched" "$net_before" "$(host_net)"
check "docker: no container's cgroup left behind (rm -f included)" "$cgroups_before" "$(cgroups)"
D save cvisor-engines:1 -o "$work/image-docker.tar"

echo "== containerd ($(containerd --version | cut -d' ' -f3))"
containerd --root "$work/ctd-root" --state "$work/ctd-state" --address "$ctd" >"$work/containerd.log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 50); do [ -S "$ctd" ] && break; sleep 0.2; done
C() { timeout 60 ctr -a "$ctd" "$@"; }
C images import --base-name cvisor-engines "$work/image-docker.tar" >/dev/null
img=docker.io/library/cvisor-engines:1
out=$(C run --rm --runc-binary "$cvisor" "$img" t1 sh -c 'echo hello-ctr; exit 5' 2>/dev/null)
check "ctr: run to exit, status" "hello-ctr 5" "$out $?"
check "ctr: writable root, env" "x bar" "$(C run --rm --runc-binary "$cvisor" --env FOO=bar "$img" t2 sh -c 'echo x > /x; echo $(cat /x) $FOO' 2>/dev/null)"
C run -d --runc-binary "$cvisor" "$img" t3 sleep 1000 >/dev/null 2>&1
sleep 1
check "ctr: exec" "in-exec" "$(C task exec --exec-id e1 t3 sh -c 'echo in-exec' 2>/dev/null)"
check "ctr: kill" "STOPPED" "$(C task kill -s KILL t3 >/dev/null 2>&1; sleep 1; C task ls 2>/dev/null | awk '$1 == "t3" { print $3 }')"
C task rm t3 >/dev/null 2>&1
C container rm t3 >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
