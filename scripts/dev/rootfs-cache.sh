# shellcheck shell=bash
# Sourced (never run) by the scripts that build a Debian root filesystem once into the cache:
# scripts/dev/debian-rootfs.sh (the clean one) and scripts/dev/debian-rootfs-with.sh (plus packages).
# One place for their stamp, their lock and their last step. The sourcing script sets DIR (the
# cached folder), PRINT_DIR (1: print DIR on stdout) and step() (a progress line) first.
#
#   rootfs_stamped [note]        exits 0, printing DIR with --print-dir, when DIR's stamp is there
#   rootfs_lock <file> <what>    one build at a time: a second run waits for the first, then finds
#                                its stamp and exits; else sets TMP (DIR.building.<pid>, removed on exit)
#   rootfs_finish                stamps TMP and puts it in DIR's place; prints DIR with --print-dir

rootfs_stamped() {
  [ -f "$DIR/.penguinmails-rootfs-complete" ] || return 0
  [ "$PRINT_DIR" = 1 ] && echo "$DIR"
  step "up to date: $DIR${1:+ ($1)}"
  exit 0
}

rootfs_lock() {
  exec 9>"$1"
  if ! flock -n 9; then
    echo "$(basename "$0" .sh): another build of $2 is running; waiting for it to finish $DIR" >&2
    flock 9
  fi
  rootfs_stamped "built meanwhile by the other run"
  TMP="$DIR.building.$$"
  trap 'rm -rf "$TMP"' EXIT
}

rootfs_finish() {
  # As on a fresh server: no downloaded packages left.
  rm -rf "$TMP"/var/cache/apt/archives/*.deb
  touch "$TMP/.penguinmails-rootfs-complete"
  rm -rf "$DIR"
  mv "$TMP" "$DIR"
  trap - EXIT
  step "ready: $DIR ($(du -sh "$DIR" | cut -f1))"
  [ "$PRINT_DIR" = 1 ] && echo "$DIR"
  exit 0
}
