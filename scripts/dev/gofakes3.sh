#!/usr/bin/env bash
# Makes sure gofakes3 (an S3-compatible server in Go, github.com/johannesboyne/gofakes3, its
# `cmd/gofakes3` server command) is built, in the same cache as the Pulumi engine
# (scripts/toolchain.sh), keyed by its version: the tests' S3 target for backups (restic's s3:
# backend) and for the fleet's direct reads of an s3:// DIY backend. Built from its Go module
# (the module proxy); a warm run only finds the binary.
#
# usage: scripts/dev/gofakes3.sh [--quiet] [--print-bin] [--help]
#   --print-bin  print the binary's path (and nothing else on stdout)
set -euo pipefail

# The version the tests run against (issue 28). A new version is a new cache entry.
GOFAKES3_V=v1.2.0

# The flags, the cache, the Go environment and the build's progress, shared with scripts/toolchain.sh.
# shellcheck source=scripts/toolchain/cached-build.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/toolchain/cached-build.sh"
cached_build_flags gofakes3 2,9 "$@"

DIR="$CACHE/gofakes3/$GOFAKES3_V"
BIN="$DIR/gofakes3"

if [ ! -x "$BIN" ]; then
  go_env
  need_go
  mkdir -p "$DIR"
  W=$(mktemp -d)
  # shellcheck disable=SC2016  # expanded by the exit trap
  CACHED_BUILD_CLEANUP='rm -rf "$W"'
  heartbeat_start
  step "building github.com/johannesboyne/gofakes3 $GOFAKES3_V into $DIR (once; about a minute cold)"
  # `go install module/cmd@version` builds at exactly that version, outside any module.
  GOBIN="$W" go install -trimpath -ldflags "-s -w" "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_V"
  mv "$W/gofakes3" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  say "built $BIN"
else
  say "up to date ($BIN)"
fi
[ "$PRINT_BIN" = 1 ] && echo "$BIN"
exit 0
