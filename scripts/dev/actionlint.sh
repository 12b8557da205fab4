#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint, built once from its Go module at a pinned version
# into the cache (outside the repo). Extra arguments go to actionlint (default: every workflow).
#
# usage: scripts/dev/actionlint.sh [actionlint args…]
set -euo pipefail
VERSION=v1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${PENGUINMAILS_CACHE:-$HOME/.cache/penguinmails-infra}"
BIN="$CACHE/actionlint-$VERSION/actionlint"
if [ ! -x "$BIN" ]; then
  echo "actionlint: building $VERSION from its Go module into $(dirname "$BIN")" >&2
  export PATH="/usr/local/go/bin:$PATH" GOSUMDB=off GOFLAGS=-mod=mod CGO_ENABLED=0
  mkdir -p "$(dirname "$BIN")"
  # Go's first-build chatter (go: downloading …) goes to a log, shown only when the build fails,
  # so a first run prints the same as every later one.
  LOG="$(dirname "$BIN")/build.log"
  GOBIN="$(dirname "$BIN")" go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >"$LOG" 2>&1 \
    || { cat "$LOG" >&2; echo "actionlint: the build failed (log above)" >&2; exit 2; }
fi
cd "$ROOT"
exec "$BIN" -no-color -oneline "$@"
