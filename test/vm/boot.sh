#!/usr/bin/env bash
# Boot one lab kernel in QEMU (TCG, no NIC) with the host's root as a read-only 9p share, run
# CMD from the repo root inside it, print its output and exit with its status.
# Usage: test/vm/boot.sh SERIES CMD...     env: LAB_TIMEOUT (seconds, default 600),
#   LAB_ACCEL (default tcg; tcg,thread=single for single-threaded TCG),
#   LAB_TAG (console and results in $BUILD/lab/SERIES-TAG rather than $BUILD/lab/SERIES)
# Exit: CMD's status; 124 when the guest timed out; 125 when it stopped without a status
# (panic, oops, failed mount: the last console lines say which).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

series=${1:?usage: boot.sh SERIES CMD...}
shift
(($#)) || die "usage: boot.sh SERIES CMD..."
timeout=${LAB_TIMEOUT:-600}
# The guest sees the host's files at the same paths, except /tmp and /run (tmpfs there).
for d in "$CACHE" "$BUILD"; do
  [[ $d != /tmp* && $d != /run* ]] || die "CACHE and BUILD must not be under /tmp or /run (got $d)"
done
here=$(dirname "$0")

# Suites of one kernel may boot side by side (test/run.ts): they prepare its kernel, modules and
# initramfs one at a time (the later ones find them up to date).
mkdir -p "$BUILD/lab"
exec 9>"$BUILD/lab/.prepare-$series.lock"
flock 9
kver=$("$here/kernel.sh" "$series")
ko=$("$here/build-kmod.sh" "$series")
baseline_ko=$("$here/build-kmod.sh" "$series" baseline)
initrd=$("$here/initramfs.sh" "$series")
flock -u 9
exec 9>&-
root=$(series_dir "$series")/root
lab=$BUILD/lab/$series${LAB_TAG:+-$LAB_TAG}
share=$lab/share

rm -rf "$share" "$lab/console.1.log" && mkdir -p "$share"
# Read by the guest's /init (busybox sh) and its chrooted command (bash): plain quoted values.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "TOA_SERIES=$(q "$series")"
  echo "TOA_KVER=$(q "$kver")"
  echo "TOA_KO=$(q "$ko")"
  echo "TOA_BASELINE_KO=$(q "$baseline_ko")"
  echo "TOA_MODROOT=$(q "$root")"
} >"$share/env"
{
  echo "cd $(q "$REPO") || exit 125"
  printf 'exec'
  for arg in "$@"; do printf ' %s' "$(q "$arg")"; done
  echo
} >"$share/cmd.sh"

boot() {
  timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel "${LAB_ACCEL:-tcg}" -cpu max -smp 2 -m 2G \
    -nographic -no-reboot -nic none \
    -kernel "$root/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 oops=panic quiet" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$share,mount_tag=results,security_model=none" \
    </dev/null >"$lab/console.log" 2>&1
}

start=$EPOCHREALTIME
status=0
boot || status=$?
# A rare oops while the kernel patches its own code at boot (int3 in text_poke under
# multi-threaded TCG) happens before the guest command, so before the module is ever loaded:
# it says nothing about the code under test; boot once more, keeping the first console log.
if [[ ! -s $share/rc && $status != 124 && $status != 137 ]] && ! grep -q 'lab: running the guest command' "$lab/console.log"; then
  mv "$lab/console.log" "$lab/console.1.log"
  log "the guest died before running the command (see $lab/console.1.log); booting again"
  status=0
  boot || status=$?
fi
seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')

if [[ -e $share/out.log ]]; then cat "$share/out.log"; fi
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
