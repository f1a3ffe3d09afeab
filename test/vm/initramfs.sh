#!/usr/bin/env bash
# Build the lab's initramfs for one kernel: static busybox, the modules that mount 9p over
# virtio, and an /init that mounts the host's root read-only, chroots into it, runs the guest
# command the boot script left in the results share, records its status and powers off.
# Usage: test/vm/initramfs.sh SERIES     (prints the image path; cached per kernel)
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

series=${1:?usage: initramfs.sh SERIES}
kver=$("$(dirname "$0")/kernel.sh" "$series")
root=$(series_dir "$series")/root
image=$BUILD/lab/$series/initramfs-$kver.cpio.gz

if [[ -s $image && $image -nt $0 ]]; then
  echo "$image"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,host,results,lib/modules}
cp /bin/busybox "$work/bin/busybox"
! ldd "$work/bin/busybox" >/dev/null 2>&1 || die "/bin/busybox is not static: apt-get install busybox-static"

# Dependency order from modprobe; decompressed, since busybox insmod reads plain ELF only.
n=0
while read -r verb path _; do
  [[ $verb == insmod ]] || continue # "builtin NAME": nothing to load
  base=$(basename "$path") && base=${base%.xz} && base=${base%.zst} && base=${base%.gz}
  name=$(printf '%02d-%s' "$n" "$base") && n=$((n + 1))
  case $path in
  *.xz) xz -dc "$path" >"$work/lib/modules/$name" ;;
  *.zst) zstd -qdc "$path" >"$work/lib/modules/$name" ;;
  *.gz) gzip -dc "$path" >"$work/lib/modules/$name" ;;
  *) cp "$path" "$work/lib/modules/$name" ;;
  esac
done < <(modprobe -d "$root" -S "$kver" --show-depends -a virtio_pci 9pnet_virtio 9p | awk '!seen[$0]++')

cat >"$work/init" <<'INIT'
#!/bin/busybox sh
# Lab guest: mount the host's root over 9p, run /results/cmd.sh chrooted in it, power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/modules/*.ko; do insmod "$m" || echo "lab: insmod $m failed"; done
p9='trans=virtio,version=9p2000.L,msize=512000'
mount -t 9p -o "ro,cache=loose,$p9" hostroot /host || echo "lab: cannot mount the host root"
mount -t 9p -o "$p9" results /results || echo "lab: cannot mount the results share"
# boot.sh wrote TOA_SERIES, TOA_KVER, TOA_KO, TOA_BASELINE_KO, TOA_MODROOT there.
. /results/env

# What a chroot needs; everything writable is a tmpfs, the host's files stay read-only.
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run
mkdir -p /host/tmp/results
mount --bind /results /host/tmp/results
ip link set lo up
chroot /host /sbin/modprobe -d "$TOA_MODROOT" -S "$TOA_KVER" -a tun veth || echo "lab: modprobe tun veth failed"

echo; echo "lab: running the guest command"
set -o pipefail
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 TOA_SERIES="$TOA_SERIES" TOA_KVER="$TOA_KVER" TOA_KO="$TOA_KO" \
  TOA_BASELINE_KO="$TOA_BASELINE_KO" TOA_MODROOT="$TOA_MODROOT" /bin/bash /tmp/results/cmd.sh 2>&1 | tee /results/out.log >/dev/console
echo $? >/results/rc
echo "lab: guest command exited $(cat /results/rc)"
sync
umount /host/tmp/results /results
poweroff -f
INIT
chmod +x "$work/init"

mkdir -p "$(dirname "$image")"
(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$image.tmp"
mv "$image.tmp" "$image"
echo "$image"
