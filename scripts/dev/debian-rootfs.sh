#!/usr/bin/env bash
# Builds (once) a clean Debian root filesystem with debootstrap from Debian's
# archive: what a freshly installed Hostwinds Debian server holds before we
# touch it. The SSH-host stand-in runs each server's commands in an overlay
# of it. Cached outside the repo, keyed by suite + variant + package list:
#   ~/.cache/penguinmails-infra/rootfs/<suite>-<key>/
# The archive is the one this machine's own apt uses (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d at run time), or
# $PENGUINMAILS_DEBIAN_MIRROR. A warm run only checks a stamp file.
#
# usage: scripts/dev/debian-rootfs.sh [--suite bookworm] [--print-dir] [--quiet] [--help]
set -euo pipefail

SUITE=bookworm; PRINT_DIR=0; QUIET=0
# What a stock Debian server image has beyond debootstrap's minimal base: ifupdown (Debian's
# default network configuration), iproute2, netbase, CA certificates. Nothing the install adds.
INCLUDE=ifupdown,iproute2,netbase,ca-certificates,procps
VARIANT=minbase
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE="${2:?--suite needs a Debian suite name, e.g. bookworm}"; shift ;;
    --print-dir) PRINT_DIR=1; QUIET=1 ;;
    --quiet) QUIET=1 ;;
    -h|--help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      echo
      echo "Environment: PENGUINMAILS_CACHE (default ~/.cache/penguinmails-infra), PENGUINMAILS_DEBIAN_MIRROR"
      echo "Needs root and debootstrap (installed with apt-get when missing)."
      exit 0 ;;
    *) echo "debian-rootfs: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$SUITE" =~ ^[a-z]+$ ]] || { echo "debian-rootfs: --suite must be a Debian suite name such as bookworm, not '$SUITE'" >&2; exit 2; }

CACHE="${PENGUINMAILS_CACHE:-$HOME/.cache/penguinmails-infra}"
SCRIPT_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
KEY=$(printf '%s\n' "$SUITE" "$VARIANT" "$INCLUDE" "$SCRIPT_SUM" | sha256sum | cut -c1-12)
DIR="$CACHE/rootfs/$SUITE-$KEY"
START=$(date +%s)
step() { [ "$QUIET" = 1 ] || echo "debian-rootfs [$(( $(date +%s) - START ))s] $*" >&2; }
# shellcheck source=scripts/dev/rootfs-cache.sh
. "$(dirname "${BASH_SOURCE[0]}")/rootfs-cache.sh"
rootfs_stamped

[ "$(id -u)" = 0 ] || { echo "debian-rootfs: building a root filesystem needs root (debootstrap)" >&2; exit 1; }

# The archive this machine's apt uses: the first `deb` source that is not a security suite.
mirror() {
  if [ -n "${PENGUINMAILS_DEBIAN_MIRROR:-}" ]; then echo "$PENGUINMAILS_DEBIAN_MIRROR"; return; fi
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) !~ /-security$/) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas are separated by blank lines; Enabled: no skips one.
    awk 'BEGIN{RS=""; FS="\n"} {
      types=""; uris=""; suites=""; enabled="yes"
      for (i=1;i<=NF;i++) { split($i, kv, ":[ \t]*"); k=tolower(kv[1]); v=substr($i, length(kv[1])+2); sub(/^[ \t]+/, "", v)
        if (k=="types") types=v; else if (k=="uris") uris=v; else if (k=="suites") suites=v; else if (k=="enabled") enabled=tolower(v) }
      if (enabled!="no" && types ~ /(^| )deb( |$)/ && suites !~ /-security/) { split(uris, u, " "); print u[1]; exit }
    }' "$f"
  done
}
MIRROR=$(mirror | head -n1)
[ -n "$MIRROR" ] || { echo "debian-rootfs: found no Debian archive in /etc/apt/sources.list(.d); set PENGUINMAILS_DEBIAN_MIRROR" >&2; exit 1; }

if ! command -v debootstrap >/dev/null; then
  step "installing debootstrap with apt-get"
  (apt-get install -y -qq debootstrap || (apt-get update -qq && apt-get install -y -qq debootstrap)) >/dev/null
fi

mkdir -p "$CACHE/rootfs"
# One build per suite at a time: a second run started meanwhile (the demo and the tests at once, two
# checkouts) waits for the first and then finds its stamp. Without this lock the second build ended by
# replacing the folder while the first one's hosts ran on it ("merged/proc: mount point does not exist").
rootfs_lock "$CACHE/rootfs/.$SUITE.lock" "Debian $SUITE"
step "building a clean Debian $SUITE ($VARIANT + $INCLUDE) from this machine's Debian archive into $DIR (a cold build takes a few minutes)"
debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$TMP" "$MIRROR" 2>&1 | while IFS= read -r line; do
  case "$line" in
    "I: Retrieving"*|"I: Validating"*|"I: Extracting"*|"I: Unpacking"*|"I: Configuring"*) ;;   # one line per package: too chatty
    *) step "$line" ;;
  esac
done
[ "${PIPESTATUS[0]}" = 0 ] || { echo "debian-rootfs: debootstrap failed (see above)" >&2; exit 1; }
# The apt lists of the build are kept, as on a fresh server.
rootfs_finish
