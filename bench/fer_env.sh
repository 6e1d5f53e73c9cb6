#!/usr/bin/env bash
# Makes .venv-fer: this project's packages plus the `fer` package (its Haar + CNN
# path), kept out of requirements.txt. `fer` declares torch (facenet-pytorch, for
# MTCNN), moviepy and more; its Haar path needs none of them, so it is installed
# without its declared dependencies and given the few it imports.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv --system-site-packages .venv-fer
.venv-fer/bin/pip install -q --no-deps fer==25.10.3
.venv-fer/bin/pip install -q pandas pillow requests "setuptools<81"
echo "ready: .venv-fer/bin/python bench/compare_fer.py"
