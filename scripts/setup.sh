#!/usr/bin/env bash
# Create ./.venv (if missing) and install valuestream into it, editable, with the extras named.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test,web
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
