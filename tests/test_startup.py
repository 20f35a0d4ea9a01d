"""What a command loads before it answers: help loads no analysis, reading commands draw nothing.

Each case runs the command in a fresh interpreter (the test process has everything loaded already)
and names the heavy modules it found in ``sys.modules`` afterwards. Speed itself is measured in
benchmarks/, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WORKFLOW_YAML, write_log

SRC = Path(__file__).resolve().parents[1] / "src"
# Loaded by no --help: the engine, tables, numbers, the stream file, the analyses. (Not pydantic:
# Typer itself converts some parameters with it.)
NOT_FOR_HELP = (
    "altair",
    "vl_convert",
    "numba",
    "pm4py",
    "pandas",
    "numpy",
    "duckdb",
    "pyarrow",
    "sqlglot",
    "yaml",
    "httpx",
    "valuestream.flow",
    "valuestream.model",
    "valuestream.workspace",
    "valuestream.simulate",
    "valuestream.views.report",
    "valuestream.forecast",
    "valuestream.xmr",
)
# Loaded by no command that only reads and prints: the drawing, the simulation, the report.
NOT_FOR_READING = (
    "sqlglot",
    "pyspark",
    "valuestream.flow.spark",
    "altair",
    "vl_convert",
    "numba",
    "pm4py",
    "valuestream.simulate",
    "valuestream.views.report",
    "valuestream.views.charts",
)

# Runs the CLI with each argument list in turn (exits caught), then prints what it loaded.
PROBE = """
import json, sys
from valuestream.cli import app
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="valuestream")
    except SystemExit as exc:
        if exc.code not in (0, None):
            print(json.dumps({"failed": args, "code": exc.code}))
            raise
print(json.dumps({"loaded": sorted(sys.modules)}))
"""


def _loaded(argv: list[list[str]], cwd: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1])["loaded"])


def _found(loaded: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in loaded))


def _commands() -> list[list[str]]:
    """Every command and group as a user reaches it: ['metrics'], ['forecast', 'when'], ..."""
    import typer

    from valuestream.cli import app

    def walk(group: object, prefix: list[str]) -> list[list[str]]:
        out = []
        for name, cmd in getattr(group, "commands", {}).items():
            out.append([*prefix, name])
            out.extend(walk(cmd, [*prefix, name]))
        return out

    return walk(typer.main.get_command(app), [])


def test_every_help_loads_no_analysis_engine_or_table_library(tmp_path: Path) -> None:
    commands = _commands()
    assert (
        ["metrics"] in commands
        and ["forecast", "when"] in commands
        and ["import", "jira"] in commands
    )
    loaded = _loaded([["--help"], *([*c, "--help"] for c in commands)], tmp_path)
    assert _found(loaded, NOT_FOR_HELP) == []


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    rows = [
        ("A", "Backlog", "2026-01-01T00:00:00Z"),
        ("A", "Dev", "2026-01-03T00:00:00Z"),
        ("A", "Done", "2026-01-05T00:00:00Z"),
        ("B", "Backlog", "2026-01-02T00:00:00Z"),
        ("B", "Dev", "2026-01-04T00:00:00Z"),
        ("C", "Backlog", "2026-01-02T00:00:00Z"),
        ("C", "Dev", "2026-01-06T00:00:00Z"),
        ("C", "Done", "2026-01-09T00:00:00Z"),
    ]
    write_log(tmp_path / "log.csv", rows)
    return tmp_path


def test_reading_commands_draw_nothing_and_simulate_nothing(workspace: Path) -> None:
    loaded = _loaded(
        [["import", "log.csv", "-q"], ["metrics"], ["items"], ["steps"], ["constraint"], ["check"]],
        workspace,
    )
    assert "valuestream.flow" in loaded  # the commands did their work
    assert _found(loaded, NOT_FOR_READING) == []


def test_simulate_loads_the_simulation(tmp_path: Path) -> None:
    """The probe sees what a command loads: the one that simulates loads the engine."""
    loaded = _loaded(
        [["init"], ["simulate", "--arrivals", "3", "--items", "200", "-r", "2"]], tmp_path
    )
    assert "valuestream.simulate.engine" in loaded
