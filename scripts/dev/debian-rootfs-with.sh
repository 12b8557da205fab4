#!/usr/bin/env bash
# Builds (once) the clean Debian root filesystem of scripts/dev/debian-rootfs.sh plus a few packages
# a test's judge needs on the host (not what the install adds: the install still runs its own apt),
# so that a test does not install them with apt at every run. Cached next to the clean one, keyed by
# the clean one's folder (its own key), the package list and this script:
#   ~/.cache/penguinmails-infra/rootfs/<suite>-<key>+<key of the packages>/
# The clean root filesystem's cache key is untouched. A warm run only checks a stamp file.
#
# usage: scripts/dev/debian-rootfs-with.sh --packages a,b,c [--suite trixie] [--print-dir] [--quiet] [--help]
set -euo pipefail

SUITE=trixie; PACKAGES=""; PRINT_DIR=0; QUIET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE="${2:?--suite needs a Debian suite name, e.g. trixie}"; shift ;;
    --packages) PACKAGES="${2:?--packages needs a comma-separated list of Debian packages}"; shift ;;
    --print-dir) PRINT_DIR=1; QUIET=1 ;;
    --quiet) QUIET=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "debian-rootfs-with: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$SUITE" =~ ^[a-z]+$ ]] || { echo "debian-rootfs-with: --suite must be a Debian suite name such as trixie, not '$SUITE'" >&2; exit 2; }
[[ "$PACKAGES" =~ ^[a-z0-9][a-z0-9.+-]*(,[a-z0-9][a-z0-9.+-]*)*$ ]] || { echo "debian-rootfs-with: --packages must be Debian package names separated by commas, not '$PACKAGES'" >&2; exit 2; }

BASE=$(bash "$(dirname "${BASH_SOURCE[0]}")/debian-rootfs.sh" --suite "$SUITE" --print-dir)
SCRIPT_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
KEY=$(printf '%s\n' "$(basename "$BASE")" "$PACKAGES" "$SCRIPT_SUM" | sha256sum | cut -c1-12)
DIR="$BASE+$KEY"
START=$(date +%s)
step() { [ "$QUIET" = 1 ] || echo "debian-rootfs-with [$(( $(date +%s) - START ))s] $*" >&2; }
# shellcheck source=scripts/dev/rootfs-cache.sh
. "$(dirname "${BASH_SOURCE[0]}")/rootfs-cache.sh"
rootfs_stamped
[ "$(id -u)" = 0 ] || { echo "debian-rootfs-with: building a root filesystem needs root (chroot)" >&2; exit 1; }

# One build per folder at a time (as debian-rootfs.sh): a second run waits, then finds the stamp.
rootfs_lock "$DIR.lock" "$(basename "$DIR")"
step "copying $BASE and installing ${PACKAGES//,/ } into it with apt-get (once)"
cp -a "$BASE" "$TMP"
rm -f "$TMP/.penguinmails-rootfs-complete"
# No service starts in the chroot (Debian's policy-rc.d convention, as on the stand-in's hosts); the
# machine's resolver for apt, in a private mount namespace with /proc, all gone with it.
printf '#!/bin/sh\nexit 101\n' > "$TMP/usr/sbin/policy-rc.d"
chmod 0755 "$TMP/usr/sbin/policy-rc.d"
touch "$TMP/etc/resolv.conf"
LIST="${PACKAGES//,/ }"
unshare -m --propagation private sh -c "
  set -e
  mount -t proc proc '$TMP/proc'
  mount --bind /etc/resolv.conf '$TMP/etc/resolv.conf'
  chroot '$TMP' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c '
    apt-get install -y -qq --no-install-recommends $LIST >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends $LIST >/dev/null; }'
" || { echo "debian-rootfs-with: apt-get install of $LIST failed" >&2; exit 1; }
for p in $LIST; do
  chroot "$TMP" dpkg -s "$p" >/dev/null 2>&1 || { echo "debian-rootfs-with: $p is not installed after apt-get" >&2; exit 1; }
done
rm -f "$TMP/usr/sbin/policy-rc.d"
rootfs_finish
