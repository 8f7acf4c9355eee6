#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real work side by side: native, cvisor run (ptrace, systrap) and gVisor runsc (systrap), one run.
# Each workload is timed as a whole command (wall time, fork to exit) and each system's figure is the
# median of ROUNDS interleaved rounds. Installs runsc with ../shared/peers/get-runsc.sh; a benchmark,
# never part of the tests.
# Usage: bench/workloads.sh [ROUNDS]   (3)
# CVISOR=path times another build; BASE=path adds that build's systrap beside it (e.g. main built in a
# second directory: before/after in one run); WORKLOADS=regex runs only the workloads it matches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
rounds=${1:-3}
cvisor=${CVISOR:-build/cvisor}
[ -n "${CVISOR:-}" ] || make -s -j2 build/cvisor
runsc=$(bash "$here/../../shared/peers/get-runsc.sh" | tail -n 1)
# Data lives outside /tmp: cvisor gives programs a private /tmp.
work=$(mktemp -d /var/tmp/cvisor-bench.XXXXXX)
chmod 755 "$work" # the sentry is the host's nobody when started by root
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -pthread -o "$work/futex_pingpong" bench/futex_pingpong.c
gcc -static -O2 -o "$work/openat_loop" bench/openat_loop.c
gcc -static -O2 -o "$work/mmap_loop" bench/mmap_loop.c
gcc -static -O2 -o "$work/spawn_loop" bench/spawn_loop.c
head -c 100000000 /dev/urandom >"$work/random100M"
# gzip input: compressible text, 50 MB
head -c 50000000 < <(yes 'the quick brown fox jumps over the lazy dog 0123456789') >"$work/text50M"
bb=$(command -v busybox)

declare -A cmd
names=("find /usr" "sha256sum 100 MB" "gzip 50 MB" "200 fork+exec" "200 posix_spawn" "futex ping-pong" "start-up (/bin/true)"
	"openat+fstat+close 20k" "mmap+touch+munmap 1 MiB x200" "mmap+munmap 1 MiB x2000")
cmd["find /usr"]="find /usr -xdev 2>/dev/null || true" # the sandbox, as nobody on the host, cannot read root-only directories
cmd["sha256sum 100 MB"]="sha256sum $work/random100M"
cmd["gzip 50 MB"]="gzip -c $work/text50M"
cmd["200 fork+exec"]="$bb sh -c 'i=0; while [ \$i -lt 200 ]; do /bin/true; i=\$((i+1)); done'"
cmd["200 posix_spawn"]="$work/spawn_loop 200 /bin/true"
cmd["futex ping-pong"]="$work/futex_pingpong 20000"
cmd["start-up (/bin/true)"]="/bin/true"
cmd["openat+fstat+close 20k"]="$work/openat_loop 20000 /usr/include/stdio.h"
cmd["mmap+touch+munmap 1 MiB x200"]="$work/mmap_loop 200"
cmd["mmap+munmap 1 MiB x2000"]="$work/mmap_loop 2000 untouched"

if [ -n "${WORKLOADS:-}" ]; then
	keep=()
	for w in "${names[@]}"; do
		if [[ $w =~ $WORKLOADS ]]; then keep+=("$w"); fi
	done
	names=("${keep[@]}")
fi
systems=(native "cvisor ptrace" "cvisor systrap" "runsc systrap")
[ -z "${BASE:-}" ] || systems+=("base systrap")
run_as() { # system, command line (a lone absolute path runs without a shell); output discarded
	local -a argv=(/bin/sh -c "$2")
	[[ $2 == /* && $2 != *" "* ]] && argv=("$2")
	case "$1" in
	native) "${argv[@]}" ;;
	"cvisor ptrace") "$cvisor" run --platform ptrace -- "${argv[@]}" ;;
	"cvisor systrap") "$cvisor" run --platform systrap -- "${argv[@]}" ;;
	"base systrap") "$BASE" run --platform systrap -- "${argv[@]}" ;;
	"runsc systrap") "$runsc" --rootless=false --network=none --root="$work/runsc-root" --platform=systrap \
		"do" "${argv[@]}" 2>>"$work/runsc.err" ;;
	esac >/dev/null
}
ms_of() { # system, command: wall milliseconds, or "fail"
	local t0 t1
	t0=$(date +%s%N)
	if run_as "$1" "$2"; then
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000))
	else
		echo fail
	fi
}

declare -A all
load=$(cut -d" " -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; r++)); do
	for w in "${names[@]}"; do
		for s in "${systems[@]}"; do
			all["$w|$s"]="${all["$w|$s"]:-} $(ms_of "$s" "${cmd[$w]}")"
		done
	done
done

median() { tr ' ' '\n' <<<"$1" | { grep -E '^[0-9]+$' || true; } | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
echo "workloads, wall ms, median of $rounds rounds, $(date -u +%F), $(uname -sr), $(nproc) CPUs;" \
	"runsc: $("$runsc" --version 2>/dev/null | head -n 1); load average before: $load"
printf '%-22s %9s %14s %15s %14s %16s %16s %16s\n' workload native "cvisor ptrace" "cvisor systrap" "runsc systrap" \
	"ptrace/native" "systrap/native" "systrap/runsc"
for w in "${names[@]}"; do
	n=$(median "${all["$w|native"]}")
	p=$(median "${all["$w|cvisor ptrace"]}")
	y=$(median "${all["$w|cvisor systrap"]}")
	g=$(median "${all["$w|runsc systrap"]}")
	printf '%-22s %9s %14s %15s %14s %16s %16s %16s\n' "$w" "${n:-fail}" "${p:-fail}" "${y:-fail}" "${g:-fail}" \
		"$(ratio "$p" "$n")" "$(ratio "$y" "$n")" "$(ratio "$y" "$g")"
done
if [ -n "${BASE:-}" ]; then
	echo "against BASE=$BASE (same rounds):"
	printf '%-22s %14s %15s %14s\n' workload "base systrap" "cvisor systrap" "systrap/base"
	for w in "${names[@]}"; do
		b=$(median "${all["$w|base systrap"]}")
		y=$(median "${all["$w|cvisor systrap"]}")
		printf '%-22s %14s %15s %14s\n' "$w" "${b:-fail}" "${y:-fail}" "$(ratio "$y" "$b")"
	done
fi
echo "all rounds:"
for k in "${!all[@]}"; do echo "  $k:${all[$k]}"; done | sort
