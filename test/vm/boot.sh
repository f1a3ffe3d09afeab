#!/usr/bin/env bash
# Boot one lab kernel in QEMU (TCG, no NIC) with the host's root as a read-only 9p share, run
# CMD from the repo root inside it, print its output and exit with its status.
# Usage: test/vm/boot.sh SERIES CMD...     env: LAB_TIMEOUT (seconds, default 600)
# Exit: CMD's status; 124 when the guest timed out; 125 when it stopped without a status
# (panic, oops, failed mount: the last console lines say which).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

series=${1:?usage: boot.sh SERIES CMD...}
shift
(($#)) || die "usage: boot.sh SERIES CMD..."
timeout=${LAB_TIMEOUT:-600}
here=$(dirname "$0")

kver=$("$here/kernel.sh" "$series")
ko=$("$here/build-kmod.sh" "$series")
initrd=$("$here/initramfs.sh" "$series")
root=$(series_dir "$series")/root
lab=$BUILD/lab/$series
share=$lab/share

rm -rf "$share" && mkdir -p "$share"
# Read by the guest's /init (busybox sh) and its chrooted command (bash): plain quoted values.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "TOA_SERIES=$(q "$series")"
  echo "TOA_KVER=$(q "$kver")"
  echo "TOA_KO=$(q "$ko")"
  echo "TOA_MODROOT=$(q "$root")"
} >"$share/env"
{
  echo "cd $(q "$REPO") || exit 125"
  printf 'exec'
  for arg in "$@"; do printf ' %s' "$(q "$arg")"; done
  echo
} >"$share/cmd.sh"

start=$(date +%s.%N)
status=0
timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2G \
  -nographic -no-reboot -nic none \
  -kernel "$root/vmlinuz" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 oops=panic quiet" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$share,mount_tag=results,security_model=none" \
  </dev/null >"$lab/console.log" 2>&1 || status=$?
seconds=$(echo "$(date +%s.%N) - $start" | bc)

[[ -e $share/out.log ]] && cat "$share/out.log"
printf 'lab: %s %s boot+test %.1f s\n' "$series" "$kver" "$seconds"
if [[ -s $share/rc ]]; then
  exit "$(<"$share/rc")"
fi
if ((status == 124 || status == 137)); then
  log "timed out after $timeout s; last console lines ($lab/console.log):"
  status=124
else
  log "the guest stopped without an exit status (qemu $status); last console lines ($lab/console.log):"
  status=125
fi
tail -n 60 "$lab/console.log" >&2
exit "$status"
