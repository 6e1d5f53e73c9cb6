#!/usr/bin/env bash
# Builds the Docker image with buildah, without a Docker engine or a registry:
#   1. the base the Dockerfile names (python:3.11-slim-bookworm) is made from Debian
#      bookworm with debootstrap, from the apt mirror this machine is configured with,
#      and kept in the store (built once; IMAGE_REBUILD_BASE=1 makes it again);
#   2. the Dockerfile is built on it (in Docker's format, which keeps the HEALTHCHECK;
#      one layer on the base: buildah's vfs driver stores every layer as a full copy).
# pip inside the build uses this machine's pip settings (config files and PIP_*
# variables, merged by `pip config list`), with any local file they name mounted read-only.
#
#   deploy/build_image.sh [TAG]        (default: localhost/emotion-webapp:latest)
#
# IMAGE_STORE chooses where buildah keeps images (default ~/.cache/emotion-webapp/containers).
# Needs root (or a user namespace with subuids), buildah and debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-localhost/emotion-webapp:latest}"
STORE="${IMAGE_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/emotion-webapp/containers}"
mkdir -p "$STORE"
buildah() {
  command buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"
}
step() { printf '== %s: %s\n' "$(date +%H:%M:%S)" "$*"; }

# The Debian mirror apt uses here: the first source serving bookworm (deb822 or one-line).
debian_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
         /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ {
           if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
             uri = substr($0, RSTART, RLENGTH); sub(/.*URIs:[ \t]*/, "", uri); print uri; exit
           }
         }' "$file"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) break;
                       if ($(i + 1) == "bookworm") print $i }'
}

base_image() {
  awk '$1 == "FROM" { print $2; exit }' Dockerfile
}

build_base() {
  local base="$1" mirror container root
  mirror="$(debian_mirror | head -n 1 || true)"
  mirror="${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
  step "debootstrap bookworm from $mirror for $base"
  container="$(buildah from scratch)"
  root="$(buildah mount "$container")"
  debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
    bookworm "$root" "$mirror" | awk '/^I: (Retrieving|Validating)/ { n++; if (n % 40) next } { print }'
  # What python:3.11-slim-bookworm offers: `python` and `pip`, and pip installs
  # into the system Python (the image is the environment; no PEP 668 marker).
  ln -sf python3 "$root/usr/bin/python"
  ln -sf pip3 "$root/usr/bin/pip"
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
  buildah umount "$container" >/dev/null
  buildah config --env LANG=C.UTF-8 --cmd python3 \
    --label description="stand-in for $base: Debian bookworm from debootstrap" "$container"
  buildah commit --rm "$container" "$base" >/dev/null
}

# This machine's pip settings as one pip.conf (PIP_* variables count as [global]),
# and a --volume option for each local path they name.
pip_settings() {
  python3 -m pip config list 2>/dev/null | python3 -c '
import configparser, os, sys
conf = configparser.RawConfigParser()
mounts = set()
for line in sys.stdin:
    key, _, value = line.rstrip("\n").partition("=")
    section, _, name = key.partition(".")
    section = "global" if section == ":env:" else section
    value = value.strip("\x27")
    conf.has_section(section) or conf.add_section(section)
    conf.set(section, name, value)
    for word in value.split():
        path = word.removeprefix("file://").rstrip("/")
        if os.path.basename(path) == "simple":  # a local index links to files beside it
            path = os.path.dirname(path)
        if path.startswith("/") and os.path.exists(path):
            mounts.add(f"--volume={path}:{path}:ro")
with open(sys.argv[1], "w") as f:
    conf.write(f)
print("\n".join(sorted(mounts)))
' "$1"
}

base="$(base_image)"
if [ -n "${IMAGE_REBUILD_BASE:-}" ] || ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  build_base "$base"
else
  step "base $base is in $STORE already"
fi

pip_conf="$(mktemp)"
trap 'rm -f "$pip_conf"' EXIT
mapfile -t pip_mounts < <(pip_settings "$pip_conf")
step "buildah bud -t $TAG (pip: $(grep -c = "$pip_conf") settings from this machine)"
buildah bud --isolation chroot --format docker --pull=never --network host \
  -v "$pip_conf:/etc/pip.conf:ro" "${pip_mounts[@]}" -t "$TAG" .
buildah rmi --prune >/dev/null 2>&1 || true  # the image this tag named before
step "built $TAG in $STORE"
