#!/usr/bin/env bash
# The SSH-host stand-in's clean Debian root filesystems (scripts/dev/debian-rootfs.sh), built before
# the tests run (npm test's pretest; .ci/run does the same first): Debian 13 "trixie", the default
# image, and Debian 12 "bookworm", its install test's. Built inside a test instead, the stand-in
# answered no request for the minutes debootstrap took and the client gave up (a fresh HOME's
# `npm test`: install-debian12, get_instance UND_ERR_HEADERS_TIMEOUT after 4 attempts in 131 s).
# Then the default image plus the MailU submission proof's packages (mail-server's hosts: rspamd,
# Dovecot, swaks; scripts/dev/debian-rootfs-with.sh), read from scripts/dev/mailu-submission.ts.
# A warm run only checks three stamps. Needs root, as the hosts do; elsewhere it does nothing.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
for suite in trixie bookworm; do
  bash "$(dirname "$0")/debian-rootfs.sh" --suite "$suite"
done
packages=$(sed -n 's/^export const SUBMISSION_PACKAGES = \[\(.*\)\];$/\1/p' "$(dirname "$0")/mailu-submission.ts" | tr -d '" ')
[ -n "$packages" ] || { echo "test-hosts: found no SUBMISSION_PACKAGES in scripts/dev/mailu-submission.ts" >&2; exit 1; }
bash "$(dirname "$0")/debian-rootfs-with.sh" --suite trixie --packages "$packages"
