#!/usr/bin/env bash
# Set up, then run lint, the type checker and the whole test suite (unit, Redis, real-model, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# Browser tests drive Debian's Chromium and fail without it; install it where we may (CI runs as root).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed; the browser tests will fail"
fi
ruff check .
mypy
python -m pytest "$@"
