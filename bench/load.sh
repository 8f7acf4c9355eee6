#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# systrap on a busy machine, side by side in one run (issue 15):
#  (a) getpid throughput (aggregate calls/s, patched form) with 1, 2, 8 and 64 busy guest threads;
#  (b) the two getpid forms (patched `mov $39,%eax; syscall`, signal path `movq $39,%rax; syscall`)
#      idle and under load (two host processes spinning, one per vCPU of this VM);
#  (c) the futex ping-pong (bench/futex_pingpong.c), idle and under load.
# Systems: native, cvisor run --platform systrap, and runsc --platform systrap when
# ../shared/peers/get-runsc.sh finds one (the bench runs without it). Run without a terminal (none on
# stdio, no controlling one), cvisor puts its sandbox in a session of its own, as runsc do does (with
# the kernel's autogroups a session is a scheduling group: the spinners' group shares the CPUs with the
# sandbox's as a whole); on a terminal it stays in the caller's session, beside the spinners.
# Usage: bench/load.sh [ROUNDS]   interleaved rounds (3); each figure is the median of its rounds.
# CVISOR=path (from the repository root) times another build; BASE=path adds a second cvisor column.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
rounds=${1:-3}
work=$(mktemp -d)
hogs=()
stop_hogs() {
	for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${hogs[@]}"; do wait "$p" 2>/dev/null || true; done
	hogs=()
}
trap 'stop_hogs; rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/getpid_loop" bench/getpid_loop.c
gcc -static -O2 -pthread -o "$work/getpid_threads" bench/getpid_threads.c
gcc -static -O2 -pthread -o "$work/futex_pingpong" bench/futex_pingpong.c
cvisor=${CVISOR:-build/cvisor}
[ -n "${CVISOR:-}" ] || make -s -j2 build/cvisor
base=${BASE:-}
runsc=$(bash "$here/../../shared/peers/get-runsc.sh" 2>/dev/null | tail -n 1 || true)
[ -n "$runsc" ] && [ -x "$runsc" ] || runsc=""

systems=(native "cvisor systrap")
[ -n "$base" ] && systems+=("base systrap")
[ -n "$runsc" ] && systems+=("runsc systrap")

# run SYSTEM CMD...: the command's last output line (its own timing).
run() {
	local sys=$1
	shift
	case $sys in
	native) "$@" 2>"$work/err" | tail -n 1 ;;
	"cvisor systrap") "$cvisor" run --platform systrap -- "$@" 2>"$work/err" | tail -n 1 ;;
	"base systrap") "$base" run --platform systrap -- "$@" 2>"$work/err" | tail -n 1 ;;
	"runsc systrap")
		(cd "$work" && "$runsc" --rootless=false --network=none --root="$work/runsc-root" \
			--platform=systrap "do" "$@" 2>"$work/err" | tail -n 1) ;;
	esac
}
# wall SYSTEM CMD...: wall-clock milliseconds of the whole command.
wall() {
	local sys=$1 t0 t1
	shift
	t0=$(date +%s%N)
	run "$sys" "$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
start_hogs() {
	for _ in 1 2; do
		(while :; do :; done) &
		hogs+=($!)
	done
	sleep 0.2
}

declare -A all
add() { all["$1"]="${all["$1"]:-} $2"; }
load=$(cut -d" " -f1-3 /proc/loadavg)
tests=()
for ((r = 0; r < rounds; r++)); do
	for s in "${systems[@]}"; do
		for t in 1 2 8 64; do
			add "threads $t|$s" "$(run "$s" "$work/getpid_threads" "$t" 300)"
		done
		add "patched idle|$s" "$(run "$s" "$work/getpid_loop" 20000)"
		add "signal idle|$s" "$(run "$s" "$work/getpid_loop" 20000 signal)"
		add "futex idle|$s" "$(wall "$s" "$work/futex_pingpong" 20000)"
	done
	start_hogs
	for s in "${systems[@]}"; do
		add "patched load|$s" "$(run "$s" "$work/getpid_loop" 20000)"
		add "signal load|$s" "$(run "$s" "$work/getpid_loop" 20000 signal)"
		add "futex load|$s" "$(wall "$s" "$work/futex_pingpong" 20000)"
	done
	stop_hogs
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
med() { median "${all["$1|$2"]:-}"; }

echo "systrap under load, $rounds rounds (median), $(date -u +%F), $(uname -sr), $(nproc) CPUs;" \
	"load average before: $load${runsc:+; runsc: $("$runsc" --version 2>/dev/null | head -n 1)}"
echo
echo "(a) getpid throughput, patched form, aggregate calls/s over 300 ms (x: / the same system's 2 threads)"
printf '%-16s' threads
for s in "${systems[@]}"; do printf '%22s' "$s"; done
echo
for t in 1 2 8 64; do
	printf '%-16s' "$t"
	for s in "${systems[@]}"; do
		v=$(med "threads $t" "$s")
		printf '%22s' "$v ($(ratio "$v" "$(med "threads 2" "$s")")x)"
	done
	echo
done
echo
echo "(b) ns per getpid (20000 calls) and (c) ms per futex ping-pong (20000 rounds); load = 2 spinning host processes"
printf '%-16s' case
for s in "${systems[@]}"; do printf '%16s' "$s"; done
[ -n "$runsc" ] && printf '%16s' "cvisor/runsc"
echo
for c in "patched idle" "patched load" "signal idle" "signal load" "futex idle" "futex load"; do
	printf '%-16s' "$c"
	for s in "${systems[@]}"; do printf '%16s' "$(med "$c" "$s")"; done
	[ -n "$runsc" ] && rs=$(med "$c" "runsc systrap") &&
		printf '%16s' "$(ratio "$(med "$c" "cvisor systrap")" "$rs")"
	echo
done
echo
echo "all rounds:"
mapfile -t keys < <(printf '%s\n' "${!all[@]}" | sort)
for k in "${keys[@]}"; do
	echo "  $k:${all["$k"]}"
done
