#!/usr/bin/env bash
# Private APT configuration in $CACHE/apt for fetching lab kernels: its own sources, lists, cache
# and status, derived from the host's mirrors, so the host's APT state is never touched.
# Usage: test/vm/apt.sh [--update]   (updates lists when older than a day, or when asked)
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

dir=$CACHE/apt
host_keyring=/usr/share/keyrings/debian-archive-keyring.gpg
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")

# Print "suite uri" for every deb source of the host, deb822 and one-line formats alike.
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
                       print $(i + 1), $i }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk 'function flush() { if (types ~ /(^| )deb( |$)/) { n = split(suites, s, " ");
                              for (j = 1; j <= n; j++) print s[j], uri } types = suites = uri = "" }
         /^[[:space:]]*#/ { next }
         /^[[:space:]]*$/ { flush(); next }
         tolower($1) == "types:" { $1 = ""; types = $0 }
         tolower($1) == "suites:" { $1 = ""; suites = $0 }
         tolower($1) == "uris:" { uri = $2 }
         END { flush() }' "$f"
  done
}

uri_for() { host_sources | awk -v s="$1" '$1 == s { print $2; exit }'; }

main_uri=${MIRROR:-$(uri_for "$codename")}
security_uri=${SECURITY_MIRROR:-$(uri_for "$codename-security")}
[[ -n $main_uri ]] || die "no '$codename' suite in the host's APT sources; set MIRROR=<debian mirror URI>"
[[ -n $security_uri ]] || die "no '$codename-security' suite in the host's sources; set SECURITY_MIRROR=<URI>"

has_trixie_key() { gpg --show-keys --with-colons "$1" 2>/dev/null | grep -q '^uid:.*(13/trixie)'; }

write_config() { # KEYRING WITH_TRIXIE
  mkdir -p "$dir"/{state/lists/partial,cache/archives/partial,sources.list.d,preferences.d}
  touch "$dir/state/status"
  cat >"$dir/apt.conf" <<CONF
Dir::State "$dir/state";
Dir::State::status "$dir/state/status";
Dir::Cache "$dir/cache";
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/sources.list.d";
Dir::Etc::Preferences "$dir/preferences";
Dir::Etc::PreferencesParts "$dir/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
// Downloads land in the caller's $CACHE, which _apt may not be able to write.
APT::Sandbox::User "root";
CONF
  {
    echo "deb [signed-by=$1] $security_uri bullseye-security main"
    echo "deb [signed-by=$1] $security_uri bookworm-security main"
    for suite in bookworm bookworm-updates bookworm-backports; do echo "deb [signed-by=$1] $main_uri $suite main"; done
    if [[ $2 == yes ]]; then
      for suite in trixie trixie-backports; do echo "deb [signed-by=$1] $main_uri $suite main"; done
    fi
  } >"$dir/sources.list"
}

keyring=$host_keyring
if ! has_trixie_key "$keyring"; then
  # An older host: fetch bookworm's newest debian-archive-keyring (verified by the host's keys).
  keyring=$dir/keyring/usr/share/keyrings/debian-archive-keyring.gpg
  if ! has_trixie_key "$keyring"; then
    log "host keyring lacks the trixie key; fetching a newer debian-archive-keyring"
    write_config "$host_keyring" no
    apt_private apt-get -qq update
    rm -rf "$dir/keyring" "$dir/keyring-deb" && mkdir -p "$dir/keyring-deb"
    (cd "$dir/keyring-deb" && apt_private apt-get -qq download debian-archive-keyring)
    dpkg-deb -x "$dir"/keyring-deb/debian-archive-keyring_*.deb "$dir/keyring"
    has_trixie_key "$keyring" || die "no trixie key in the newest debian-archive-keyring either"
    rm -f "$dir/state/lists/updated"
  fi
fi
mkdir -p "$dir" && echo "$keyring" >"$dir/keyring.path"

write_config "$keyring" yes
if [[ ${1:-} == --update ]] || ! fresh "$dir/state/lists/updated"; then
  log "apt-get update (private lists; main $main_uri, security $security_uri)"
  apt_private apt-get -qq update
  touch "$dir/state/lists/updated"
fi
echo "$dir/apt.conf"
