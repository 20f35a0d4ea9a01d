#!/usr/bin/env bash
# The main job on a fresh machine: set up ./.venv, then run `valuestream demo` on the bundled sample.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/valuestream demo "$@"
