#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The vDSO side by side in one run: N clock_gettime(CLOCK_MONOTONIC) calls (bench/clock_loop.c, static)
# and Python's time.time() x N/1e6 million, natively, under `cvisor run` on systrap and ptrace, and on
# systrap with the vDSO's data page kept in syscall mode (CVISOR_VDSO_SYSCALL=1: every call traps, as
# before the vDSO and as on kvm). Each figure is the median of ROUNDS interleaved rounds.
# Usage: bench/clock.sh [N [ROUNDS]]   (1000000, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/clock_loop" bench/clock_loop.c
cvisor=${CVISOR:-build/cvisor}
[ -n "${CVISOR:-}" ] || make -s -j2 build/cvisor
py="import time
f = time.time
t = time.perf_counter()
for _ in range($n): f()
print(round((time.perf_counter() - t) * 1e9 / $n, 1))"
load=$(cut -d" " -f1-3 /proc/loadavg)
declare -A all
order=(native "cvisor systrap" "cvisor ptrace" "cvisor systrap, no vDSO")
add() { all[$1]="${all[$1]:-} $2"; }
loop() { "$@" | sed -n 's/.*: \([0-9.]*\) ns per call.*/\1/p'; }
for ((r = 0; r < rounds; r++)); do
	add "native" "$(loop "$work/clock_loop" "$n")"
	add "cvisor systrap" "$(loop "$cvisor" run --platform systrap -- "$work/clock_loop" "$n")"
	add "cvisor ptrace" "$(loop "$cvisor" run --platform ptrace -- "$work/clock_loop" "$n")"
	add "cvisor systrap, no vDSO" "$(CVISOR_VDSO_SYSCALL=1 loop "$cvisor" run --platform systrap -- "$work/clock_loop" $((n / 10)))"
	add "py native" "$(python3 -c "$py")"
	add "py cvisor systrap" "$("$cvisor" run --platform systrap -- /usr/bin/python3 -c "$py")"
	add "py cvisor ptrace" "$("$cvisor" run --platform ptrace -- /usr/bin/python3 -c "$py")"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "vDSO clocks, $n calls x $rounds rounds (median), $(date -u +%F), $(uname -sr), $(nproc) CPUs," \
	"load average before: $load"
printf '%-44s %12s %10s   %s\n' system "ns/call" "x native" "all rounds"
nat=$(median "${all[native]}")
pnat=$(median "${all["py native"]}")
for s in "${order[@]}" "py native" "py cvisor systrap" "py cvisor ptrace"; do
	m=$(median "${all[$s]}")
	base=$nat
	[[ $s == py* ]] && base=$pnat
	label=$s
	[[ $s == py* ]] && label="python time.time(): ${s#py }"
	[[ $s == py* ]] || label="clock_gettime loop: $s"
	printf '%-44s %12s %10s   %s\n' "$label" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" "${all[$s]# }"
done
