#!/usr/bin/env bash
# Every benchmark, one after the other; each prints a table with its same-run baseline.
# Usage: bash benchmarks/run.sh            (uses ./.venv, set up by scripts/setup.sh test,web)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh test,web
py=.venv/bin/python
export COLUMNS="${COLUMNS:-140}"
for bench in run.py bench_xes.py bench_forecast.py bench_simulate.py bench_report.py bench_web.py; do
  echo "== benchmarks/$bench"
  "$py" "benchmarks/$bench"
done
