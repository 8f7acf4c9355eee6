#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Side-by-side getpid round trip: native, gVisor runsc (ptrace, systrap) and cvisor, in one run.
# Installs runsc with ../shared/peers/get-runsc.sh (never needed by the tests). Usage: bench/peers.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/getpid_loop" bench/getpid_loop.c
[ -x build/cvisor ] || make -s -j2 build/cvisor
runsc=$(bash ../shared/peers/get-runsc.sh | tail -n 1)

row() { printf '%-26s %12s\n' "$1" "$2"; }
row "system" "ns/getpid"
native=$("$work/getpid_loop" "$n")
row "native" "$native"
declare -A peer
for plat in ptrace systrap; do
	# runsc as root, no network, throw-away root overlay; prints the loop's own timing.
	if out=$(cd "$work" && "$runsc" --rootless=false --network=none --platform="$plat" \
		--root="$work/runsc-root" do ./getpid_loop "$n" 2>"$work/runsc-$plat.err"); then
		peer[$plat]=$(echo "$out" | tail -n 1)
		row "runsc $plat" "${peer[$plat]}"
	else
		row "runsc $plat" "failed: $(tail -n 1 "$work/runsc-$plat.err")"
	fi
done
while IFS= read -r line; do
	name=$(sed -n 's/.*"platform":"\([^"]*\)".*/\1/p' <<<"$line")
	ns=$(sed -n 's/.*"syscall_ns":\([0-9]*\).*/\1/p' <<<"$line")
	row "cvisor $name" "$ns"
	for plat in ptrace systrap; do
		[ -n "${peer[$plat]:-}" ] && printf '%-26s %12s\n' "  ÷ runsc $plat" \
			"$(awk -v a="$ns" -v b="${peer[$plat]}" 'BEGIN { printf "%.2fx", a / b }')"
	done
done < <(build/cvisor bench --json --iterations "$n")
