#!/usr/bin/env bash
# Regenerate docs/cli.md, the CLI reference, from the CLI itself (tests/test_docs.py checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
env -u VALUESTREAM_WORKSPACE -u VALUESTREAM_STREAM .venv/bin/typer valuestream.cli utils docs --name valuestream --output docs/cli.md
