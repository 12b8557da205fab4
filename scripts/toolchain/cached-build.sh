# shellcheck shell=bash disable=SC2034  # (QUIET, PRINT_BIN and CACHE are for the sourcing script)
# Sourced (never run) by the scripts that build a Go program once into the shared cache:
# scripts/toolchain.sh (the Pulumi engine and plugins) and scripts/dev/gofakes3.sh (the S3 stand-in's
# server). One place for what they share: the flags, the cache, the Go environment and the progress
# of a cold build.
#
#   cached_build_flags <name> <help lines of "$0"> "$@"   sets QUIET, PRINT_BIN and CACHE; prints --help
#   say <text>          a line on stderr unless --quiet
#   go_env              Go's usual places on PATH, the module proxy only, no cgo
#   need_go             a clear error when there is no Go to build with
#   step <text>         a progress line on stderr (even with --quiet), with the seconds since START
#   heartbeat_start     every PENGUINMAILS_TOOLCHAIN_HEARTBEAT seconds (20) while a step runs, names it
#                       and its time: a cold build inside one long command is never silent for long

CACHED_BUILD_NAME=build
START=$(date +%s)

cached_build_flags() {
  CACHED_BUILD_NAME=$1
  local help_lines=$2
  shift 2
  QUIET=0
  PRINT_BIN=0
  for arg in "$@"; do
    case "$arg" in
      --quiet) QUIET=1 ;;
      --print-bin) PRINT_BIN=1; QUIET=1 ;;
      -h|--help)
        sed -n "${help_lines}p" "$0" | sed 's/^# \{0,1\}//'
        echo
        echo "Environment: PENGUINMAILS_CACHE (default ~/.cache/penguinmails-infra)"
        exit 0 ;;
      *) echo "$CACHED_BUILD_NAME: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    esac
  done
  CACHE="${PENGUINMAILS_CACHE:-$HOME/.cache/penguinmails-infra}"
}

say() { [ "$QUIET" = 1 ] || echo "$CACHED_BUILD_NAME: $*" >&2; }

need_go() {
  command -v go >/dev/null || {
    echo "$CACHED_BUILD_NAME: Go is needed to build it (apt-get install golang-go; .ci/run installs it)" >&2
    exit 1
  }
}

go_env() {
  export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
  # Debian's Go may be older than a module's go line; let Go fetch the toolchain it names.
  export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0
  # The checksum database is not reachable here; module contents still come only from the module proxy.
  export GOSUMDB=off GOFLAGS=-mod=mod
}

STEP_FILE=
step() {
  echo "$CACHED_BUILD_NAME [$(( $(date +%s) - START ))s] $*" >&2
  [ -z "$STEP_FILE" ] || echo "$(date +%s) $*" > "$STEP_FILE"
}

# Stopped (and its file removed) when the sourcing script exits; the caller's own cleanup goes in
# CACHED_BUILD_CLEANUP (one trap per script).
heartbeat_start() {
  local every=${PENGUINMAILS_TOOLCHAIN_HEARTBEAT:-20}
  STEP_FILE=$(mktemp)
  # sleep holds none of the script's outputs: a caller reading them to their end (--print-bin) is not
  # kept waiting by a sleep left over from the killed heartbeat.
  # shellcheck disable=SC2217
  ( while sleep "$every" </dev/null >/dev/null 2>&1; do
      [ -e "$STEP_FILE" ] || exit 0
      read -r since what < "$STEP_FILE" || continue
      echo "$CACHED_BUILD_NAME [$(( $(date +%s) - START ))s] still at: ${what} ($(( $(date +%s) - since ))s on this step)" >&2
    done ) &
  HEARTBEAT_PID=$!
  trap 'kill "$HEARTBEAT_PID" 2>/dev/null || true; rm -f "$STEP_FILE"; eval "${CACHED_BUILD_CLEANUP:-}"' EXIT
}
