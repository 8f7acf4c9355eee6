#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cvisor kvm's getpid beside the exit-per-trap floor of this /dev/kvm (bench/kvm_floor.c: ring-3
# syscall -> ring 0 -> exit -> resume, no cvisor code), in one run. Needs a usable /dev/kvm.
# Usage: bench/kvm_floor.sh [N]   (from the checkout, after make)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/kvm_floor" bench/kvm_floor.c
floor=$("$work/kvm_floor" "$n")
line=$(build/cvisor bench --platform kvm --iterations "$n" | awk '$1 == "kvm" && $2 == 1 {print $3}')
echo "exit-per-trap floor (no cvisor):   $floor ns"
echo "cvisor kvm getpid, 1 thread:       $line ns"
awk -v a="$line" -v b="$floor" 'BEGIN { printf "ratio to the floor:                %.2fx\n", a / b }'
