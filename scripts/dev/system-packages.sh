#!/usr/bin/env bash
# The Debian packages the tests and the demo use as real parts, installed when missing, so that
# `npm test` and `npm run demo` pass the first time on a fresh machine of this project's kind
# (root, Debian, apt). `npm test`/`npm run demo` run it first; .ci/run too. A warm run only checks.
#
#   - shellcheck: actionlint runs it on the workflows' scripts
#   - postgresql: the provisioning service's state and queue (a private cluster per test run)
#   - restic, rclone, sqlite3: backups as the servers and operators run them, rclone's
#     `serve restic` as the backup target, sqlite3 for MailU's admin database
#   - debootstrap, iproute2, util-linux: the SSH-host stand-in's clean Debian root filesystem
#     (scripts/dev/debian-rootfs.sh) and its mount and network namespaces (unshare, nsenter, ip)
#   - chromium: the operator console's browser test (driven by playwright-core, no browser download)
#
# usage: scripts/dev/system-packages.sh [--check] [--help]
#   --check   only say what is missing (exit 1 when something is), install nothing
set -euo pipefail

# package → a file it installs (how we know it is there)
PACKAGES=(
  "shellcheck:/usr/bin/shellcheck"
  "postgresql:/usr/lib/postgresql/*/bin/initdb"
  "restic:/usr/bin/restic"
  "rclone:/usr/bin/rclone"
  "sqlite3:/usr/bin/sqlite3"
  "debootstrap:/usr/sbin/debootstrap"
  "iproute2:/usr/sbin/ip"
  "util-linux:/usr/bin/nsenter"
  "chromium:/usr/bin/chromium"
)

CHECK=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "system-packages: unknown option '$arg' (see --help)" >&2
      exit 2
      ;;
  esac
done

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}"
  probe="${entry#*:}"
  # shellcheck disable=SC2086 # the probe may be a glob
  if ! ls $probe >/dev/null 2>&1; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$CHECK" = 1 ]; then
  echo "system-packages: missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-packages: missing ${missing[*]}; install them (Debian: apt-get install -y ${missing[*]}); the tests that need them say so" >&2
  exit 0
fi
echo "system-packages: installing Debian's ${missing[*]} (once)" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent or old on a new machine: update once if the first try fails.
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
echo "system-packages: installed ${missing[*]}" >&2
