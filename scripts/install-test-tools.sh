#!/usr/bin/env bash
# Everything the tests need, on a Debian-like machine (the README's "once" line and .ci/run both run
# it): the Python packages, Debian's chromium for the browser tests, Node.js for the one that runs
# Gradio's SSR server in front of the app (as a Space may), redis-server for the limits shared by
# several app processes, and axe-core, the accessibility engine tests/test_a11y.py injects.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
missing=""
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -n "$missing" ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Pinned, and saved to no package.json: .ci/node/node_modules is git-ignored.
npm install --no-save --no-audit --no-fund --silent --prefix .ci/node axe-core@4.14.1
