#!/usr/bin/env bash
# The full test suite: set up ./.venv with the test extras, then run pytest (arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,web,spark
exec .venv/bin/python -m pytest "$@"
