#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run a command in the checkout inside ../shared/kvm-tcg/'s QEMU guest (emulated AMD SVM, a working
# /dev/kvm), with the guest's init switching root into the host's tree instead of chrooting into it: the
# kernel refuses user namespaces to a chrooted process, so `cvisor run`'s jail needs this.
#   tools/kvm-tcg-run.sh setup            # once (apt packages, kernel, initramfs)
#   tools/kvm-tcg-run.sh 'build/run_tests -p kvm as_ fault_ > .kvm-out.txt 2>&1'
# Env as kvm-tcg.sh: KVMTCG_APPEND=kvm_amd.npt=0 tries shadow paging; KVMTCG_TIMEOUT (600 s).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KVMTCG_SCRIPT:-$here/../shared/kvm-tcg/kvm-tcg.sh}
work=${KVMTCG_WORK:-/tmp/kvmtcg-switchroot/work}
script=$(dirname "$work")/kvm-tcg.sh
mkdir -p "$(dirname "$work")"
# the stock init ends with: chroot /host sh -c CMD; sync; umount; poweroff -f
sed -e "s|^W=.*|W=$work|" \
    -e 's|^chroot /host /bin/sh -c "\(.*\)"$|exec switch_root /host /bin/sh -c "\1; sync; echo o > /proc/sysrq-trigger; sleep 30"|' \
    -e '/^sync; umount "\/host$DIR"$/d' -e '/^poweroff -f$/d' "$shared" > "$script"
grep -q 'exec switch_root' "$script" || { echo "kvm-tcg-run: the shared script changed; adapt $0" >&2; exit 1; }
if [ "${1:-}" = setup ]; then
    exec sh "$script" setup
fi
exec sh "$script" run "$here" "$@"
