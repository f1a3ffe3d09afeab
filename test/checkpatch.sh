#!/usr/bin/env bash
# Kernel style for kmod/: the kernel's own scripts/checkpatch.pl, taken from Debian's
# linux-source-6.1 package (fetched once with the lab's private APT configuration, cached).
# Usage: test/checkpatch.sh [FILE...]     (default: every .c/.h under kmod/ and the lab's baseline module)
set -euo pipefail
# shellcheck source=vm/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/vm/lib.sh"

dir=$CACHE/checkpatch
if [[ ! -x $dir/scripts/checkpatch.pl ]]; then
  "$REPO/test/vm/apt.sh" >/dev/null
  tmp=$(mktemp -d "$CACHE/checkpatch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  log "fetching linux-source-6.1 for scripts/checkpatch.pl"
  (cd "$tmp" && apt_private apt-get -qq download linux-source-6.1)
  dpkg-deb -x "$tmp"/linux-source-6.1_*.deb "$tmp/deb"
  tarball=$(echo "$tmp"/deb/usr/src/linux-source-6.1.tar.*)
  mkdir -p "$tmp/src"
  tar -xf "$tarball" -C "$tmp/src" --wildcards --strip-components=1 \
    '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
  rm -rf "$dir" && mv "$tmp/src" "$dir"
fi

cd "$REPO"
if (($#)); then files=("$@"); else mapfile -t files < <(git ls-files 'kmod/*.c' 'kmod/*.h' 'test/vm/baseline/*.c'); fi
# --no-tree: we are not inside a kernel tree. Default strictness: what the kernel asks of a patch.
"$dir/scripts/checkpatch.pl" --no-tree --quiet --show-types -f "${files[@]}"
echo "checkpatch: ${#files[@]} files clean"
