#!/usr/bin/env bash
# Install what the tests need on a Debian machine, when it is missing: APT packages (one
# `apt-get update`, only if something is missing) and node_modules (`npm ci` when stale).
# Usage: test/deps.sh      Fast and silent when everything is present.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

as_root() { if ((EUID)); then sudo "$@"; else "$@"; fi; }

# The lab (qemu, busybox, kmod, cpio, zstd/xz, debootstrap, gpg for the keyring check, pahole
# for 6.12+ module BTF), the C tests and fuzzer (clang, gcc-12, libpcap), netns tests (iproute2),
# the Wireshark dissector's test and `make bench` (tshark; GNU time for peak RSS), the lab load
# balancer's client in the guest tests and `make demo` (curl), the binding's syscall count (strace),
# the vagrant/ check (vagrant, shellcheck; nftables for its network rehearsal) and the manifests'
# YAML read-back (ruby's Psych), the agent image's OCI archive (umoci) and its lab pod (libcap's capsh).
pkgs=(qemu-system-x86 busybox-static kmod cpio xz-utils zstd gzip dwarves debootstrap gpg
  debian-archive-keyring clang gcc-12 make libc6-dev libelf-dev libpcap-dev iproute2 tshark time curl
  strace vagrant shellcheck ruby nftables umoci libcap2-bin)

missing() { # PACKAGE...: print those not installed
  local installed
  installed=$( (dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true) | awk '$2 == "ii" { print $1 }')
  for p in "$@"; do grep -qxF "$p" <<<"$installed" || echo "$p"; done
}

updated=no
install() { # PACKAGE...
  local want
  mapfile -t want < <(missing "$@")
  ((${#want[@]})) || return 0
  echo "deps: installing ${want[*]}" >&2
  if [[ $updated == no ]]; then as_root apt-get update -qq && updated=yes; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
}

# wireshark-common asks whether non-root users may capture; answered (no) before apt asks.
if [[ -n $(missing tshark) ]]; then
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | as_root debconf-set-selections
fi
install "${pkgs[@]}"
# libFuzzer ships with the runtime of clang's own major version.
install "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 20)) || { echo "deps: Node.js >= 20 is needed (found: ${node_major/#0/none})" >&2; exit 1; }
# npm writes node_modules/.package-lock.json at each install (the Makefile's target too).
if [[ $repo/package-lock.json -nt $repo/node_modules/.package-lock.json ]]; then
  (cd "$repo" && npm ci)
fi
