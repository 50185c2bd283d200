#!/usr/bin/env bash
# Set up a virtual environment with everything the embedded profile and the tests need.
# First run: about 6-8 minutes (llama-cpp-python compiles from source); later runs reuse pip's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# sentence-transformers needs torch; pin the release whose CPU build these machines carry.
python -c "import torch" 2>/dev/null || python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[embedded,dev]"
