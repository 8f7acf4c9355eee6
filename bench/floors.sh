#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The machine's primitive costs side by side in one run (bench/floors.c): page faults, process
# creation, an exec, a pipe round trip between two processes and a getpid, natively and inside
# `cvisor run` (systrap, ptrace). Every workload's floor on a machine is made of these: on a VM with
# shadow paging a page fault or a fork costs ten times bare metal's, and no sandbox goes below them.
# Each figure is the median of ROUNDS interleaved rounds. A benchmark, never part of the tests.
# Usage: bench/floors.sh [ROUNDS]   (5)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
cvisor=${CVISOR:-build/cvisor}
[ -n "${CVISOR:-}" ] || make -s -j2 build/cvisor
# Outside /tmp: cvisor gives programs a private /tmp.
work=$(mktemp -d /var/tmp/cvisor-floors.XXXXXX)
chmod 755 "$work" # the sentry is the host's nobody when started by root
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/floors" bench/floors.c
head -c 8388608 /dev/urandom >"$work/file8M"
chmod 644 "$work/file8M"
load=$(cut -d" " -f1-3 /proc/loadavg)
tests=("fault-anon" "fault-file $work/file8M" "fork" "spawn" "pipe 5000" "getpid 200000")
systems=(native "cvisor systrap" "cvisor ptrace")
declare -A all
run() { # system, test words...
	local sys=$1
	shift
	case $sys in
	native) "$work/floors" "$@" ;;
	"cvisor systrap") "$cvisor" run --platform systrap -- "$work/floors" "$@" ;;
	"cvisor ptrace") "$cvisor" run --platform ptrace -- "$work/floors" "$@" ;;
	esac
}
for ((r = 0; r < rounds; r++)); do
	for t in "${tests[@]}"; do
		for sys in "${systems[@]}"; do
			# shellcheck disable=SC2086 # the test's words
			line=$(run "$sys" $t 2>/dev/null) || line=""
			v=$(sed -n 's/^[a-z-]*: \([0-9.]*\).*/\1/p' <<<"$line")
			all["${t%% *}|$sys"]="${all["${t%% *}|$sys"]:-} ${v:-NaN}"
		done
	done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "primitive costs, median of $rounds rounds, $(date -u +%F), $(uname -sr), $(nproc) CPUs; load average before: $load"
printf '%-46s %10s %15s %15s %15s %15s\n' primitive native "cvisor systrap" "cvisor ptrace" "systrap/native" "ptrace/native"
label() {
	case $1 in
	fault-anon) echo "first touch of an anonymous page (us)" ;;
	fault-file) echo "fault on a cached file mapping (us)" ;;
	fork) echo "fork + _exit + waitpid (us)" ;;
	spawn) echo "fork + execve /bin/true + waitpid (us)" ;;
	pipe) echo "pipe round trip between two processes (us)" ;;
	getpid) echo "getpid (ns)" ;;
	esac
}
for t in "${tests[@]}"; do
	k=${t%% *}
	n=$(median "${all["$k|native"]}")
	s=$(median "${all["$k|cvisor systrap"]}")
	p=$(median "${all["$k|cvisor ptrace"]}")
	printf '%-46s %10s %15s %15s %15s %15s\n' "$(label "$k")" "$n" "$s" "$p" \
		"$(awk -v a="$s" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
		"$(awk -v a="$p" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
echo "all rounds:"
for k in "${!all[@]}"; do echo "  $k:${all[$k]}"; done | sort
