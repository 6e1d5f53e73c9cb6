#!/usr/bin/env bash
# Installs what the tests need (Python packages, Debian's chromium) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -r requirements-dev.txt

if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
fi

python3 -m pytest "$@"
