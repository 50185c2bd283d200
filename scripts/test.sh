#!/usr/bin/env bash
# Set up, then run lint, the type checker and the whole test suite (unit, Redis, real-model, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# Browser tests drive Debian's Chromium; the restart and cluster tests start redis-server processes
# of their own and create the cluster with redis-cli. Install what is missing where we may (CI runs as root).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v prometheus >/dev/null || missing+=(prometheus)  # tests/telemetry/test_prometheus.py scrapes serve and worker
command -v redis-cli >/dev/null || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}; the tests that need them will fail"
fi
ruff check .
mypy
python -m pytest "$@"
