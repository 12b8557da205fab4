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

QUIET=0; PRINT_BIN=0
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --print-bin) PRINT_BIN=1; QUIET=1 ;;
    -h|--help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      echo
      echo "Environment: PENGUINMAILS_CACHE (default ~/.cache/penguinmails-infra)"
      exit 0 ;;
    *) echo "gofakes3: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

CACHE="${PENGUINMAILS_CACHE:-$HOME/.cache/penguinmails-infra}"
DIR="$CACHE/gofakes3/$GOFAKES3_V"
BIN="$DIR/gofakes3"
say() { [ "$QUIET" = 1 ] || echo "gofakes3: $*" >&2; }

if [ ! -x "$BIN" ]; then
  export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
  command -v go >/dev/null || { echo "gofakes3: Go is needed to build gofakes3 (apt-get install golang-go; .ci/run installs it)" >&2; exit 1; }
  # Debian's Go may be older than the module's go line; let Go fetch the toolchain it names.
  export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0
  # The checksum database is not reachable here; the module still comes only from the module proxy.
  export GOSUMDB=off GOFLAGS=-mod=mod
  echo "gofakes3: building github.com/johannesboyne/gofakes3 $GOFAKES3_V into $DIR (once; about a minute cold)" >&2
  mkdir -p "$DIR"
  W=$(mktemp -d)
  trap 'rm -rf "$W"' EXIT
  # `go install module/cmd@version` builds at exactly that version, outside any module.
  GOBIN="$W" go install -trimpath -ldflags "-s -w" "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_V"
  mv "$W/gofakes3" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  say "built $BIN"
else
  say "up to date ($BIN)"
fi
[ "$PRINT_BIN" = 1 ] && echo "$BIN"
exit 0
