"""Docs that cannot drift: the CLI reference is generated from the CLI, and must be current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current(tmp_path: Path):
    typer = Path(sys.executable).parent / "typer"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALUESTREAM_")}
    out = tmp_path / "cli.md"
    subprocess.run(
        [str(typer), "valuestream.cli", "utils", "docs", "--name", "valuestream", "--output", str(out)],
        check=True, capture_output=True, env=env, cwd=tmp_path,
    )
    stale = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") != out.read_text(encoding="utf-8")
    assert not stale, "docs/cli.md is stale: run scripts/cli-docs.sh"


def test_readme_commands_exist():
    """Every `valuestream X` the README shows is a real command."""
    import re

    from typer.main import get_command

    from valuestream.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # Commands typed in code blocks (lines starting with the command) and in `code spans`.
    used = set(re.findall(r"^(?:\S*/)?valuestream ([a-z][a-z-]+)", readme, re.M))
    used |= set(re.findall(r"`(?:\S*/)?valuestream ([a-z][a-z-]+)", readme))
    assert {"import", "items", "report", "constraint"} <= used
    assert used - commands == set()
