#!/usr/bin/env bash
# The SSH-host stand-in's clean Debian root filesystems (scripts/dev/debian-rootfs.sh), built before
# the tests run (npm test's pretest; .ci/run does the same first): Debian 13 "trixie", the default
# image, and Debian 12 "bookworm", its install test's. Built inside a test instead, the stand-in
# answered no request for the minutes debootstrap took and the client gave up (a fresh HOME's
# `npm test`: install-debian12, get_instance UND_ERR_HEADERS_TIMEOUT after 4 attempts in 131 s).
# A warm run only checks two stamps. Needs root, as the hosts do; elsewhere it does nothing.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
for suite in trixie bookworm; do
  bash "$(dirname "$0")/debian-rootfs.sh" --suite "$suite"
done
