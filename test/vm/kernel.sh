#!/usr/bin/env bash
# Fetch and unpack the newest Debian kernel of a series (image, modules, headers, kbuild) into
# $CACHE/kernels/SERIES/root, without installing anything on the host; writes .../kver.
# Usage: test/vm/kernel.sh SERIES      SERIES: 5.10 | 6.1 | 6.12 | 7
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

series=${1:?usage: kernel.sh SERIES}
dir=$(series_dir "$series")
root=$dir/root

# Package name pattern and the suites it may come from (checked against apt-cache madison).
case $series in
5.10) pattern='5\.10\.0-[0-9]+-amd64' suites='bullseye-security' ;;
6.1) pattern='6\.1\.0-[0-9]+-amd64' suites='bookworm bookworm-updates bookworm-security' ;;
# 6.12 for bookworm began in bookworm-backports (+bpo, then +deb12) and moved to bookworm-security.
6.12) pattern='6\.12\.[0-9]+\+(bpo|deb12)-amd64' suites='bookworm-backports bookworm-security' ;;
7) pattern='7\.[0-9]+\.[0-9]+\+(bpo|deb13)-amd64' suites='trixie-backports' ;;
esac

ready() { [[ -s $dir/kver && -e $root/vmlinuz ]]; }
if ready && fresh "$dir/kver"; then
  cat "$dir/kver"
  exit 0
fi

if ! "$(dirname "$0")/apt.sh" >/dev/null; then
  ready || die "cannot resolve the newest $series kernel (mirror unreachable?)"
  log "mirror unreachable: keeping $(<"$dir/kver")"
  cat "$dir/kver"
  exit 0
fi

in_suites() { # PACKAGE: true when one of its versions comes from one of $suites
  apt_private apt-cache madison "$1" | awk -F'|' '{ split($3, f, " "); sub("/.*", "", f[2]); print f[2] }' |
    grep -qxF -f <(tr ' ' '\n' <<<"$suites")
}

newest=
while read -r name; do
  if in_suites "$name"; then newest=$name && break; fi
done < <(apt_private apt-cache pkgnames linux-image- | grep -E "^linux-image-$pattern\$" | sort -rV)
[[ -n $newest ]] || die "no linux-image matching $pattern in $suites"
kver=${newest#linux-image-}

if ready && [[ $(<"$dir/kver") == "$kver" ]]; then
  touch "$dir/kver"
  echo "$kver"
  exit 0
fi

# The image, the headers and their versioned linux-* dependencies (split modules, common
# headers, kbuild), taking only the first of alternatives (never the -unsigned image).
closure() {
  local todo=("$@") seen=" " pkg
  while ((${#todo[@]})); do
    pkg=${todo[0]} && todo=("${todo[@]:1}")
    [[ $seen == *" $pkg "* ]] && continue
    seen+="$pkg " && echo "$pkg"
    mapfile -t -O "${#todo[@]}" todo < <(
      apt_private apt-cache depends --no-suggests --no-recommends --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$pkg" |
        awk '/^ *\|?(Pre)?Depends:/ { if (!alt) print $2; alt = ($1 ~ /^\|/); next }' |
        grep -E '^linux-(image|headers|kbuild|modules|binary|base)-[0-9]' || true
    )
  done
}

log "fetching and unpacking $kver"
debs=$CACHE/debs/$kver
mkdir -p "$debs"
if [[ ! -e $debs/.complete ]]; then
  mapfile -t pkgs < <(closure "linux-image-$kver" "linux-headers-$kver")
  log "packages: ${pkgs[*]}"
  (cd "$debs" && apt_private apt-get -q download "${pkgs[@]}") >&2
  touch "$debs/.complete"
fi

rm -rf "$root.new" && mkdir -p "$root.new"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root.new"; done
# Newer packages ship /usr/lib/modules only; depmod and modprobe -d look in ROOT/lib/modules.
[[ -e $root.new/lib ]] || ln -s usr/lib "$root.new/lib"
# The headers' Makefile names /usr/src absolutely (include, KBUILD_OUTPUT): make it relative to
# where it is, so the tree builds wherever it was unpacked, on the host or in the chroot.
# shellcheck disable=SC2016 # $(...) is make syntax, written literally
sed -i -e '1i lab_src := $(realpath $(dir $(lastword $(MAKEFILE_LIST)))..)' -e 's|/usr/src/|$(lab_src)/|g' \
  "$root.new/usr/src/linux-headers-$kver/Makefile"
# The image is /boot/vmlinuz-KVER, or /usr/lib/modules/KVER/vmlinuz in the split 7.x packages.
for image in boot/vmlinuz-"$kver" lib/modules/"$kver"/vmlinuz; do
  [[ -e $root.new/$image ]] && ln -s "$image" "$root.new/vmlinuz" && break
done
[[ -e $root.new/vmlinuz ]] || die "no vmlinuz in the packages of $kver"
depmod -b "$root.new" "$kver"
rm -rf "$root" && mv "$root.new" "$root"
echo "$kver" >"$dir/kver"
echo "$kver"
