#!/usr/bin/env bash
# Everything the tests need (the README's "once" line and .ci/run both run it): the Python packages,
# a chromium for the browser tests, Node.js for the one that runs Gradio's SSR server in front of the app
# (as a Space may), redis-server for the limits shared by several app processes, and axe-core, the
# accessibility engine tests/test_a11y.py injects. On Debian (apt-get) it installs the system packages;
# elsewhere (macOS, Windows' Git Bash) it says which are missing and how to get them, installs the rest,
# and the tests that need a missing one are skipped with that reason (failed in CI: tests/system_tools.py).
set -euo pipefail
cd "$(dirname "$0")/.."

has() { command -v "$1" >/dev/null 2>&1; }
system_chromium() { [ -n "${HITL_CHROMIUM:-}" ] || has chromium || has chromium-browser || [ -x /usr/bin/chromium ]; }

missing=""
system_chromium || missing="chromium"
has node || missing="$missing nodejs"
has npm || missing="$missing npm"
has redis-server || missing="$missing redis-server"
if [ -n "$missing" ] && has apt-get; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086  # one word per package
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
elif [ -n "$missing" ]; then
  echo "No apt-get here: not installed:$missing. Their tests are skipped, saying so, until they are" \
       "(macOS: brew install redis node; Windows: Node.js from nodejs.org, no redis-server)." >&2
fi
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# No system chromium (macOS, Windows): Playwright's own, which tests/chromium.py falls back to.
system_chromium || python -m playwright install chromium
# Pinned, and saved to no package.json: .ci/node/node_modules is git-ignored.
if has npm; then
  npm install --no-save --no-audit --no-fund --silent --prefix .ci/node axe-core@4.14.1
else
  echo "No npm: axe-core not installed; tests/test_a11y.py is skipped, saying so." >&2
fi
