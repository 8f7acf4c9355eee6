#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# podman with runc, gVisor runsc and cvisor as its OCI runtime, side by side (issue 14's benchmark):
# `podman run --rm IMG true` (start-up and tear-down) and a small shell workload (50 rounds of
# `echo $i | cat`: a fork, and a fork+exec of cat, each). Wall time of the whole `podman run`, as a
# user sees it. Private podman storage and containers.conf and a local busybox-static image
# (tests/oci/lib.sh, as tests/oci/podman.sh); runsc as root with its own --network=none (it cannot
# run in the host's network namespace) from ../shared/peers/get-runsc.sh. A benchmark, never a test.
# Usage (root): bench/oci.sh [ROUNDS]   ROUNDS interleaved rounds (5); each figure is the median.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
[ "$(id -u)" = 0 ] || { echo "oci.sh: run it as root" >&2; exit 2; }
command -v podman >/dev/null || { echo "oci.sh: podman is not installed" >&2; exit 2; }
cvisor=${CVISOR:-$here/build/cvisor}
[ -n "${CVISOR:-}" ] || make -s -C "$here" -j2 build/cvisor || exit 1
cvisor=$(readlink -f "$cvisor")
runsc=$(bash "$here/../shared/peers/get-runsc.sh" | tail -n 1) || { echo "oci.sh: no runsc" >&2; exit 2; }
. "$here/tests/oci/lib.sh"
work=$(mktemp -d /var/tmp/cvisor-bench-oci.XXXXXX)
trap oci_podman_cleanup EXIT
oci_podman_setup "$work" "$cvisor" runsc="$runsc" 2>/dev/null || exit 1
img=localhost/cvisor-podman:1
load=$(cut -d" " -f1-3 /proc/loadavg) # before any measurement

declare -A flags=([runc]="--runtime runc" [runsc]="--runtime runsc --runtime-flag network=none" [cvisor]="")
# shellcheck disable=SC2016 # expanded by the container's shell
declare -A cmds=([true]="true" [shell]='for i in $(seq 50); do echo $i | cat >/dev/null; done')
declare -A all
runtimes=(runc runsc cvisor)
for w in true shell; do # one of each first, untimed: the image's layers are in the page cache
	for rt in "${runtimes[@]}"; do
		# shellcheck disable=SC2086
		out=$(oci_podman run --rm --network=none ${flags[$rt]} "$img" sh -c "${cmds[$w]}; echo ok" 2>&1)
		[ "$out" = ok ] || { echo "oci.sh: $rt failed: $out" >&2; exit 1; }
	done
done
for ((r = 0; r < rounds; r++)); do
	for w in true shell; do
		for rt in "${runtimes[@]}"; do
			# shellcheck disable=SC2086
			all[$w $rt]+=" $(oci_ms oci_podman run --rm --network=none ${flags[$rt]} "$img" sh -c "${cmds[$w]}")"
		done
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "podman run --rm, wall ms, median of $rounds interleaved rounds, $(date -u +%F), $(uname -sr)," \
	"$(nproc) CPUs; $(podman --version), runc $(runc --version | sed -n 's/^runc version //p')," \
	"runsc $("$runsc" --version | sed -n 's/^runsc version //p'); load average before: $load"
printf '%-22s %8s %8s %8s %14s %14s   %s\n' workload runc runsc cvisor "cvisor/runc" "cvisor/runsc" \
	"all rounds (runc; runsc; cvisor)"
for w in true shell; do
	# shellcheck disable=SC2086
	m_runc=$(oci_median ${all[$w runc]}) m_runsc=$(oci_median ${all[$w runsc]}) m_cv=$(oci_median ${all[$w cvisor]})
	printf '%-22s %8s %8s %8s %14s %14s   %s\n' "$w" "$m_runc" "$m_runsc" "$m_cv" "$(ratio "$m_cv" "$m_runc")" \
		"$(ratio "$m_cv" "$m_runsc")" "${all[$w runc]# };${all[$w runsc]};${all[$w cvisor]}"
done
echo "shell: sh -c '${cmds[shell]}'. Targets (issue 14): cvisor/runsc <= 0.8, cvisor/runc <= 1.2."
