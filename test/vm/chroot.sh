#!/usr/bin/env bash
# Build (once) a trixie minbase chroot in $CACHE/trixie-root with what the 7.x kernel headers'
# prebuilt tools and compiler need (glibc >= 2.38, gcc-14). Prints its path.
# Usage: test/vm/chroot.sh
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

dir=$CACHE/trixie-root
# Kernels that need it may be prepared side by side (and the image build starts from it): one
# debootstrap at a time, the others wait and find it complete.
mkdir -p "$CACHE"
exec 8>"$CACHE/.trixie-root.lock"
flock 8
if [[ -e $dir/.complete ]]; then
  echo "$dir"
  exit 0
fi

"$(dirname "$0")/apt.sh" >/dev/null
# The mirror and keyring apt.sh derived from the host's own sources.
mirror=$(awk '$(NF - 1) == "trixie" { print $(NF - 2) }' "$CACHE/apt/sources.list")
keyring=$(<"$CACHE/apt/keyring.path")
[[ -n $mirror ]] || die "no trixie source in $CACHE/apt/sources.list"

log "debootstrap trixie from $mirror"
rm -rf "$dir.new"
# linux-kbuild-7.x needs pahole, libelf1t64 and libssl3t64; the headers' config names gcc-14.
debootstrap --variant=minbase --keyring="$keyring" \
  --include=gcc-14,make,libc6-dev,libelf1t64,libssl3t64,pahole \
  trixie "$dir.new" "$mirror" >&2
rm -rf "$dir" && mv "$dir.new" "$dir"
touch "$dir/.complete"
echo "$dir"
