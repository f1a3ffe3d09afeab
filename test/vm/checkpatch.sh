#!/usr/bin/env bash
# Run the kernel's checkpatch.pl (from Debian's linux-source-6.1) over kmod/; fails on any
# warning. The script and its data files are kept in $CACHE/checkpatch/scripts.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

dir=$CACHE/checkpatch
if [[ ! -e $dir/scripts/checkpatch.pl ]]; then
  [[ -e $CACHE/apt/apt.conf ]] || "$(dirname "$0")/apt.sh" >/dev/null
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt_private apt-get -q download linux-source-6.1) >&2
  dpkg-deb --fsys-tarfile "$tmp"/linux-source-6.1_*.deb |
    tar -x -C "$tmp" --wildcards '*/linux-source-6.1.tar.xz'
  mkdir -p "$dir/scripts"
  tar -xJf "$tmp"/usr/src/linux-source-6.1.tar.xz -C "$tmp" --wildcards \
    '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
  cp "$tmp"/linux-source-6.1/scripts/{checkpatch.pl,spelling.txt,const_structs.checkpatch} "$dir/scripts/"
fi

cd "$REPO/kmod"
perl "$dir/scripts/checkpatch.pl" --no-tree --terse --show-types -f ./*.c ./*.h
