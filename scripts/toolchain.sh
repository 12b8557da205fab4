#!/usr/bin/env bash
# Makes sure the Pulumi engine and the plugins this project needs are present,
# at the versions package-lock.json implies, in a cache outside the repo:
#   pulumi (CLI), pulumi-language-nodejs, pulumi-resource-pulumi-nodejs (the
#   dynamic-provider shim), pulumi-resource-random.
# Order: (a) already in the cache or on PATH at the right version; (b) the
# official release downloads, where reachable; (c) built from Go modules.
# A warm run only compares a stamp file and exits.
#
# usage: scripts/toolchain.sh [--quiet] [--print-bin] [--help]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The flags, the cache, the Go environment and the build's progress, shared with scripts/dev/gofakes3.sh.
# shellcheck source=scripts/toolchain/cached-build.sh
source "$ROOT/scripts/toolchain/cached-build.sh"
cached_build_flags toolchain 2,10 "$@"

GLUE="$ROOT/scripts/toolchain"

lockver() { # version of an npm package in package-lock.json
  node -e 'const l=require(process.argv[1]);const p=l.packages["node_modules/"+process.argv[2]];if(!p){console.error("toolchain: "+process.argv[2]+" is not in package-lock.json: run npm ci");process.exit(1)}console.log(p.version)' "$ROOT/package-lock.json" "$1"
}
PULUMI_V=$(lockver @pulumi/pulumi)
RANDOM_V=$(lockver @pulumi/random)
# Each part is cached under its own key, so editing one part's glue rebuilds that part only:
#   the CLI           $CACHE/cli/pulumi-<version>                      (the version only: no glue)
#   language host     $CACHE/language-nodejs/<version>-<sum of its glue>
#   random            $CACHE/plugins/random-<version>-<sum of its glue>
#   dynamic-provider shim: scripts/toolchain/dynamic-provider/, copied (no build)
# and the toolchain folder put together from them is keyed by all of these.
gluesum() { (cd "$1" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name '*.js' -o -name 'pulumi-resource-*' \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12); }
CLI_DIR="$CACHE/cli/pulumi-$PULUMI_V"
LANG_SUM=$(gluesum "$GLUE/language-nodejs")
LANG_DIR="$CACHE/language-nodejs/$PULUMI_V-$LANG_SUM"
RANDOM_SUM=$(gluesum "$GLUE/random")
RANDOM_DIR="$CACHE/plugins/random-$RANDOM_V-$RANDOM_SUM"
SHIM_SUM=$(gluesum "$GLUE/dynamic-provider")
KEY="pulumi-$PULUMI_V.random-$RANDOM_V.glue-$(echo "$LANG_SUM $RANDOM_SUM $SHIM_SUM" | sha256sum | cut -c1-12)"
BIN="$CACHE/toolchain/$KEY/bin"
STAMP="$BIN/.complete"

if [ -f "$STAMP" ]; then
  [ "$PRINT_BIN" = 1 ] && echo "$BIN"
  say "up to date ($KEY)"
  exit 0
fi

mkdir -p "$BIN"

# One build at a time per cache: a second `npm test` or `npm run demo` started meanwhile (another
# terminal, another checkout) waits for the first and then finds the stamp, instead of building the
# same folders over it (they share $CACHE/build).
exec 9>"$CACHE/.toolchain.lock"
if ! flock -n 9; then
  step "another toolchain build is running (its progress is in its own terminal); waiting for it to finish $BIN"
  flock 9
fi
if [ -f "$STAMP" ]; then
  [ "$PRINT_BIN" = 1 ] && echo "$BIN"
  say "up to date ($KEY), built meanwhile by the other build"
  exit 0
fi

# A cold build spends minutes inside single commands (go mod download, go build): a heartbeat names
# the step still running and its time every 20 seconds, so the build is never silent for long.
heartbeat_start
step "toolchain $KEY is not in $CACHE yet: preparing it (a cold build takes a while; progress follows)"

go_env
GOBUILD=(go build -trimpath -ldflags)

have_version() { # have_version <binary> <version>: does an installed binary report this version?
  local b; b=$(command -v "$1" 2>/dev/null) || return 1
  "$b" version 2>/dev/null | grep -q "$2" || return 1
  echo "$b"
}

# --- pulumi CLI and language host -----------------------------------------------
RELEASE_URL="https://get.pulumi.com/releases/sdk/pulumi-v$PULUMI_V-linux-x64.tar.gz"
OFFICIAL=0  # 1 once the official release is in $BIN: its CLI can then download plugins too
# A CLI of this version built under an earlier toolchain key (when the key covered all the glue) is reused.
if [ ! -x "$CLI_DIR/pulumi" ]; then
  for old in "$CACHE"/toolchain/pulumi-"$PULUMI_V".*/bin/pulumi; do
    if [ -f "$old" ] && [ ! -L "$old" ] && "$old" version 2>/dev/null | grep -q "v$PULUMI_V"; then
      mkdir -p "$CLI_DIR" && cp "$old" "$CLI_DIR/pulumi.tmp" && mv "$CLI_DIR/pulumi.tmp" "$CLI_DIR/pulumi"
      step "pulumi v$PULUMI_V reused from $(dirname "$old")"
      break
    fi
  done
fi
if found=$(have_version pulumi "v$PULUMI_V") && [ -x "$(dirname "$found")/pulumi-language-nodejs" ]; then
  step "pulumi v$PULUMI_V found at $found"
  ln -sf "$found" "$BIN/pulumi"
  ln -sf "$(dirname "$found")/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"
elif [ ! -x "$CLI_DIR/pulumi" ] && curl -fsSI --max-time 5 "$RELEASE_URL" >/dev/null 2>&1; then
  step "downloading the official pulumi v$PULUMI_V release"
  curl -fsSL --max-time 600 "$RELEASE_URL" | tar -xz -C "$BIN" --strip-components=1
  OFFICIAL=1
  step "pulumi v$PULUMI_V downloaded"
else
  if [ -x "$CLI_DIR/pulumi" ]; then
    step "pulumi v$PULUMI_V found in the cache"
  else
    step "building pulumi v$PULUMI_V from its Go module (the official release download is not reachable)"
    W="$CACHE/build/cli-$PULUMI_V"; mkdir -p "$W" "$CLI_DIR"
    cat > "$W/go.mod" <<MOD
module penguinmails.local/toolchain/cli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_V
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_V
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
    printf 'package tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > "$W/tools.go"
    (cd "$W" && go mod tidy >/dev/null 2>"$W/tidy.log" || { cat "$W/tidy.log" >&2; exit 1; })
    (cd "$W" && "${GOBUILD[@]}" "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V" \
        -tags osusergo,grpcnotrace -o "$CLI_DIR/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    mv "$CLI_DIR/pulumi.tmp" "$CLI_DIR/pulumi"
    step "pulumi built"
  fi
  ln -sf "$CLI_DIR/pulumi" "$BIN/pulumi"
  if [ -x "$LANG_DIR/pulumi-language-nodejs" ]; then
    step "pulumi-language-nodejs found in the cache"
  else
    step "building pulumi-language-nodejs"
    W="$CACHE/build/language-nodejs-$LANG_SUM"; rm -rf "$W"; mkdir -p "$W" "$LANG_DIR"; cp "$GLUE/language-nodejs/"* "$W/"
    (cd "$W" && go mod tidy >/dev/null 2>&1 && "${GOBUILD[@]}" "-s -w -X main.Version=$PULUMI_V" -o "$LANG_DIR/pulumi-language-nodejs.tmp" .)
    mv "$LANG_DIR/pulumi-language-nodejs.tmp" "$LANG_DIR/pulumi-language-nodejs"
    step "pulumi-language-nodejs built"
  fi
  # Files the language host loads from beside itself (javascript-only.js).
  cp "$GLUE/language-nodejs/"*.js "$LANG_DIR/"
  ln -sf "$LANG_DIR/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"
fi

# --- the dynamic-provider shim (Pulumi ships one beside the CLI; ours adds the engine watch) ---
cp "$GLUE/dynamic-provider/pulumi-resource-pulumi-nodejs" "$GLUE/dynamic-provider/engine-watch.js" "$GLUE/language-nodejs/javascript-only.js" "$BIN/"
chmod +x "$BIN/pulumi-resource-pulumi-nodejs"

# --- random provider ------------------------------------------------------------
if [ -x "$RANDOM_DIR/pulumi-resource-random" ]; then
  step "random $RANDOM_V found in the cache"
elif [ "$OFFICIAL" = 1 ] \
     && PULUMI_HOME="$CACHE/pulumi-home" timeout 600 "$BIN/pulumi" plugin install resource random "$RANDOM_V" >/dev/null 2>&1; then
  mkdir -p "$RANDOM_DIR"
  cp "$CACHE/pulumi-home/plugins/resource-random-v$RANDOM_V/pulumi-resource-random" "$RANDOM_DIR/"
  step "random $RANDOM_V downloaded"
else
  step "building pulumi-resource-random $RANDOM_V (terraform-provider-random through the Pulumi Terraform bridge)"
  W="$CACHE/build/random"; rm -rf "$W"; mkdir -p "$W"; cp -r "$GLUE/random/." "$W/"
  (cd "$W" && go mod tidy >/dev/null 2>"$W/tidy.log" || { cat "$W/tidy.log" >&2; exit 1; })
  LDF="-s -w -X penguinmails.local/toolchain/random/bridge.Version=$RANDOM_V"
  (cd "$W" && "${GOBUILD[@]}" "$LDF" -o "$W/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random)
  step "tfgen built; generating the package schema"
  (cd "$W" && ./pulumi-tfgen-random schema --out "$W/schema-out" >"$W/tfgen.log" 2>&1 || { tail -20 "$W/tfgen.log" >&2; exit 1; })
  cp "$W/schema-out/schema.json" "$W/cmd/pulumi-resource-random/schema.json"
  mkdir -p "$RANDOM_DIR"
  (cd "$W" && "${GOBUILD[@]}" "$LDF" -o "$RANDOM_DIR/pulumi-resource-random" ./cmd/pulumi-resource-random)
  step "pulumi-resource-random built"
fi
ln -sf "$RANDOM_DIR/pulumi-resource-random" "$BIN/pulumi-resource-random"

"$BIN/pulumi" version >/dev/null
touch "$STAMP"
step "toolchain ready in $BIN"
[ "$PRINT_BIN" = 1 ] && echo "$BIN"
exit 0
