#!/usr/bin/env bash
# Install everything the test suite needs and run it (the README's test command).
#   - Python packages: the project with its dev and bench extras (pytest, playwright, pyvrp, ...)
#   - Debian's Chromium for the browser tests (only if missing; needs root or sudo)
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "Installing Debian's chromium for the browser tests..."
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
  else
    echo "warning: no chromium and no apt-get: browser tests will be skipped" >&2
  fi
fi

exec python3 -m pytest "$@"
