#!/usr/bin/env bash
# One command sets everything up: a virtual environment in .venv with dse, its CPU PyTorch
# extra (pinned torch==2.13.0) and the test tools. As root on Debian it also installs the
# headless Chromium the dashboard browser tests drive (they are skipped without it).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[train,test]"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  fi
fi
echo "set up: .venv/bin/dse is ready"
