#!/usr/bin/env bash
# The plugin on Debian 13's QGIS 3.40 (Python 3.13, numpy 2, GDAL 3.10), from a Debian 12 (or any Debian) host.
#
#   scripts/qgis340.sh root          make the Debian 13 root (debootstrap), cached in build/qgis340/root
#   scripts/qgis340.sh test [ARGS]   copy this working tree into the root, `make setup` there, then pytest ARGS
#                                    (default: the QGIS 3.40 subset named in DEVELOPERS.md) and `make demo`
#   scripts/qgis340.sh run CMD       run a bash command inside the root, in the working tree (after make setup)
#   scripts/qgis340.sh shell         a shell inside the root, with the working tree at /src/repo
#
# The root is built once and reused (a stamp file); `make setup` inside it is idempotent like on the host.
# Needs root privileges (debootstrap, chroot, mounts) and Debian's package registry. Mounts are undone on exit.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="${QGIS340_ROOT:-$ROOT_DIR/build/qgis340/root}"
SUITE=trixie
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SHARED="$ROOT_DIR/../shared"
BOOT_PACKAGES=ca-certificates,make,python3

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "qgis340: $*" >&2; }

make_root() {
  if [ -f "$CHROOT/.building_extractor-root" ]; then return; fi
  command -v debootstrap >/dev/null || { log "installing debootstrap"; $SUDO apt-get install -y -qq debootstrap >/dev/null; }
  log "debootstrap $SUITE into $CHROOT (once; about a minute)"
  $SUDO rm -rf "$CHROOT" && mkdir -p "$(dirname "$CHROOT")"
  $SUDO debootstrap --variant=minbase --include="$BOOT_PACKAGES" "$SUITE" "$CHROOT" "$MIRROR" >/dev/null
  $SUDO touch "$CHROOT/.building_extractor-root"
}

# Mounts live only while this script runs; the trap undoes them (also on error or Ctrl-C).
MOUNTS=()
bind() {  # bind SRC DEST [ro]
  $SUDO mkdir -p "$2"
  $SUDO mount --bind "$1" "$2"; MOUNTS+=("$2")
  if [ "${3:-}" = ro ]; then $SUDO mount -o remount,bind,ro "$2"; fi
}
unmount_all() {
  local i
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do $SUDO umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  MOUNTS=()
}
trap unmount_all EXIT

enter() {
  # The host's certificate authorities and resolver, so apt and pip reach the registries as on the host.
  $SUDO cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    $SUDO cp /usr/local/share/ca-certificates/*.crt "$CHROOT/usr/local/share/ca-certificates/"
  fi
  $SUDO mkdir -p "$CHROOT/proc" && $SUDO mount -t proc proc "$CHROOT/proc" && MOUNTS+=("$CHROOT/proc")
  bind /dev "$CHROOT/dev"
  bind /dev/pts "$CHROOT/dev/pts"
  $SUDO mkdir -p "$CHROOT/dev/shm" && $SUDO mount -t tmpfs shm "$CHROOT/dev/shm" && MOUNTS+=("$CHROOT/dev/shm")
  $SUDO mount -t tmpfs tmp "$CHROOT/tmp" && MOUNTS+=("$CHROOT/tmp")
  if [ -d "$SHARED" ]; then bind "$(cd "$SHARED" && pwd)" "$CHROOT/src/shared" ro; fi
}

copy_tree() {
  # Tracked and untracked, not ignored files of this working tree; the root keeps its own .venv and build/.
  local dest="$CHROOT/src/repo"
  $SUDO mkdir -p "$dest"
  $SUDO find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv ! -name build -exec rm -rf {} +
  (cd "$ROOT_DIR" && git ls-files -co --exclude-standard -z \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | $SUDO tar -xf - -C "$dest"
}

in_root() {  # run a bash command inside the root, with a clean environment
  $SUDO chroot "$CHROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 CI="${CI:-}" \
    bash -c "update-ca-certificates >/dev/null 2>&1 || true; cd /src/repo && $1"
}

# What runs on QGIS 3.40 (README, QGIS versions): the whole suite but the web-service and Dask cluster tests
# (py-qgis-wps with Redis, dask.distributed: servers whose behaviour does not depend on QGIS's version, run on the
# host), then `make demo`.
DEFAULT_TESTS="tests --ignore=tests/service --ignore=tests/scale/test_cluster.py"

case "${1:-}" in
  root) make_root ;;
  test)
    shift
    make_root; enter; copy_tree
    tests="${*:-$DEFAULT_TESTS}"
    in_root "make setup && QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:randomly $tests && make demo"
    ;;
  run) shift; make_root; enter; copy_tree; in_root "make setup >/dev/null && $*" ;;
  shell) make_root; enter; copy_tree; in_root "exec bash -i" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
