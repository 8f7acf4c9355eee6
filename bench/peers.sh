#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Side-by-side getpid round trip: native, gVisor runsc (ptrace, systrap) and cvisor, in one run.
# The same static loop runs natively, under runsc and under `cvisor run` (the whole sentry); a second
# build of its loop uses an instruction neither systrap patches, to time the signal path alone.
# `cvisor bench` rows time the platform API by itself (no sentry), with 1 and 8 guest threads.
# Installs runsc with ../shared/peers/get-runsc.sh (a benchmark, never part of the tests).
# Usage: bench/peers.sh [N [ROUNDS]]   N getpids per measurement (20000), ROUNDS interleaved rounds (3);
# each system's figure is the median of its rounds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
n=${1:-20000}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/getpid_loop" bench/getpid_loop.c
cvisor=${CVISOR:-build/cvisor}   # CVISOR=path (relative to the repository root) to use another build
[ -n "${CVISOR:-}" ] || make -s -j2 build/cvisor
runsc=$(bash "$here/../../shared/peers/get-runsc.sh" | tail -n 1)

# runsc as root: no network, its own state directory, the host root as a throw-away overlay; the loop
# prints its own timing on its last line.
runsc_once() {
	(cd "$work" && "$runsc" --rootless=false --network=none --root="$work/runsc-root" \
		--platform="$1" "do" ./getpid_loop "$n" $2 2>"$work/runsc-$1.err" | tail -n 1)
}
cvisor_run_once() {
	"$cvisor" run --platform "$1" -- "$work/getpid_loop" "$n" $2 2>"$work/cvisor-$1.err" | tail -n 1
}

load=$(cut -d" " -f1-3 /proc/loadavg) # before any measurement
declare -A all err
order=(native "runsc ptrace" "runsc systrap" "runsc systrap, signal path" "cvisor run ptrace"
	"cvisor run systrap" "cvisor run systrap, signal path")
add() { all[$1]="${all[$1]:-} $2"; }
for ((r = 0; r < rounds; r++)); do
	add native "$("$work/getpid_loop" "$n")"
	for v in "ptrace" "systrap" "systrap signal"; do
		plat=${v%% *}
		mode=${v#"$plat"}
		label="$plat${mode:+, signal path}"
		if out=$(runsc_once "$plat" "$mode") && [[ $out =~ ^[0-9]+$ ]]; then
			add "runsc $label" "$out"
		else
			err["runsc $label"]=$(tail -n 1 "$work/runsc-$plat.err")
		fi
		if out=$(cvisor_run_once "$plat" "$mode") && [[ $out =~ ^[0-9]+$ ]]; then
			add "cvisor run $label" "$out"
		else
			err["cvisor run $label"]=$(tail -n 1 "$work/cvisor-$plat.err")
		fi
	done
	while IFS= read -r line; do
		name=$(sed -n 's/.*"platform":"\([^"]*\)".*/\1/p' <<<"$line")
		ns=$(sed -n 's/.*"syscall_ns":\([0-9]*\).*/\1/p' <<<"$line")
		threads=$(sed -n 's/.*"threads":\([0-9]*\).*/\1/p' <<<"$line")
		[ "${threads:-1}" = 1 ] || name="$name, $threads threads"
		[[ " ${order[*]} " == *" cvisor $name "* ]] || order+=("cvisor $name")
		add "cvisor $name" "$ns"
	done < <("$cvisor" bench --json --iterations "$n")
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A med
for s in "${order[@]}"; do
	[ -n "${all[$s]:-}" ] && med[$s]=$(median "${all[$s]}")
done
ratio() { [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }

echo "getpid round trip, $n calls x $rounds rounds (median), $(date -u +%F), $(uname -sr)," \
	"$(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "runsc: $("$runsc" --version 2>/dev/null | head -n 1); load average before: $load"
printf '%-34s %12s %10s %16s %16s   %s\n' system "ns/getpid" "x native" "/ runsc ptrace" "/ runsc systrap" \
	"all rounds"
for s in "${order[@]}"; do
	if [ -z "${med[$s]:-}" ]; then
		printf '%-34s failed: %s\n' "$s" "${err[$s]:-no output}"
		continue
	fi
	printf '%-34s %12s %10s %16s %16s  %s\n' "$s" "${med[$s]}" "$(ratio "${med[$s]}" "${med[native]:-}")" \
		"$(ratio "${med[$s]}" "${med[runsc ptrace]:-}")" "$(ratio "${med[$s]}" "${med[runsc systrap]:-}")" \
		"${all[$s]}"
done
