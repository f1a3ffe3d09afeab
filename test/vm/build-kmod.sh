#!/usr/bin/env bash
# Build kmod/ against one lab kernel's headers into $BUILD/kmod/SERIES (a copy of the sources,
# so the tree stays clean and kernels build side by side). Prints the .ko path.
# Usage: test/vm/build-kmod.sh SERIES [baseline]      SERIES: 5.10 | 6.1 | 6.12 | 7
#   baseline: build test/vm/baseline/ (empty probes on toa.ko's symbols) into $BUILD/baseline/SERIES
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

series=${1:?usage: build-kmod.sh SERIES [baseline]}
kver=$("$(dirname "$0")/kernel.sh" "$series")
root=$(series_dir "$series")/root
headers=$root/usr/src/linux-headers-$kver
src=$REPO/kmod out=$BUILD/kmod/$series ko=toa.ko
case ${2:-} in
'') ;;
baseline) src=$REPO/test/vm/baseline out=$BUILD/baseline/$series ko=toa_baseline.ko ;;
*) die "unknown module '$2' (want nothing for toa.ko, or baseline)" ;;
esac

# kmod/toa_parse.[ch] come from another change; wait for them rather than build half a module.
for _ in $(seq 120); do
  [[ -e $REPO/kmod/toa_parse.c && -e $REPO/kmod/toa_parse.h ]] && break
  log "waiting for kmod/toa_parse.[ch]" && sleep 5
done

mkdir -p "$out"
# -p keeps mtimes, so make rebuilds only what changed.
cp -p "$src"/{Kbuild,Makefile} "$src"/*.[ch] "$out/"
if [[ -d $src/uapi ]]; then mkdir -p "$out/uapi" && cp -p "$src"/uapi/*.h "$out/uapi/"; fi

make_args=(-j"$(nproc)" KDIR="$headers")
case $series in
5.10) make_args+=(CC=gcc-12) ;; # built with gcc-10, which bookworm lacks; gcc-12 builds it fine
6.12) command -v pahole >/dev/null || die "the 6.12 headers need pahole (apt-get install dwarves)" ;;
esac

if [[ $series == 7 ]]; then
  # Its prebuilt kbuild tools need trixie's glibc, and its config asks for gcc-14: build in a
  # trixie chroot, with the headers and the build directory bind-mounted at the same paths.
  chroot_dir=$("$(dirname "$0")/chroot.sh")
  mounts=()
  cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" || umount -l "${mounts[i]}"; done
  }
  trap cleanup EXIT
  bind() { # SRC [ro]
    mkdir -p "$chroot_dir$1"
    mount --bind "$1" "$chroot_dir$1"
    mounts+=("$chroot_dir$1")
    [[ ${2:-} != ro ]] || mount -o remount,bind,ro "$chroot_dir$1"
  }
  bind /dev
  mount -t proc proc "$chroot_dir/proc"
  mounts+=("$chroot_dir/proc")
  bind "$root" ro
  bind "$out"
  chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp \
    make -C "$out" "${make_args[@]}" modules >&2
else
  make -C "$out" "${make_args[@]}" modules >&2
fi
echo "$out/$ko"
