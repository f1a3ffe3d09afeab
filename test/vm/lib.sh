# shellcheck shell=bash
# Sourced by the lab scripts: where things live, and how they talk.
# CACHE holds downloads that survive `make clean`; BUILD holds what is rebuilt from them.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${CACHE:-$REPO/.cache}
BUILD=${BUILD:-$REPO/build}
export CACHE BUILD

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

# The private APT configuration written by apt.sh; never the host's.
apt_private() { APT_CONFIG=$CACHE/apt/apt.conf "$@"; }

# True when FILE exists and was modified less than a day ago.
fresh() { [[ -e $1 ]] && [[ -n $(find "$1" -mmin -1440 2>/dev/null) ]]; }

series_dir() {
  case $1 in
  5.10 | 6.1 | 6.12 | 7) echo "$CACHE/kernels/$1" ;;
  *) die "unknown kernel series '$1' (want 5.10, 6.1, 6.12 or 7)" ;;
  esac
}
