"""VALUESTREAM_MEMORY_LIMIT bounds every DuckDB connection, the analyses' in-memory one included.

Past the limit DuckDB spills sorts and aggregations to disk; a limit too small for the work ends in
one clear line naming the variable, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import WORKFLOW_YAML, write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace, memory_limit

runner = CliRunner()
ROWS = [
    ("A-1", "Backlog", "2026-01-01T00:00:00Z"), ("A-1", "Dev", "2026-01-02T00:00:00Z"),
    ("A-1", "Done", "2026-01-04T00:00:00Z"), ("A-2", "Backlog", "2026-01-02T00:00:00Z"),
    ("A-2", "Dev", "2026-01-03T00:00:00Z"),
]  # fmt: skip


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VALUESTREAM_MEMORY_LIMIT", raising=False)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", ROWS)
    assert runner.invoke(app, ["import", "log.csv", "-q"]).exit_code == 0
    return tmp_path


@pytest.mark.parametrize(
    ("given", "expected"),
    [("2GB", "2GB"), ("1500MB", "1500MB"), ("1.5GiB", "1.5GiB"), (" 2 gb ", "2GB"), ("100MB", "100MB"), ("", None)],
)
def test_amounts(monkeypatch: pytest.MonkeyPatch, given: str, expected: str | None) -> None:
    monkeypatch.setenv("VALUESTREAM_MEMORY_LIMIT", given)
    assert memory_limit() == expected


@pytest.mark.parametrize("given", ["lots", "2", "-1GB", "99MB", "0.05GB", "2PB"])
def test_bad_amounts_name_the_variable(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setenv("VALUESTREAM_MEMORY_LIMIT", given)
    with pytest.raises(InputError, match="VALUESTREAM_MEMORY_LIMIT"):
        memory_limit()


def test_the_analysis_connection_is_held_to_the_limit(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESTREAM_MEMORY_LIMIT", "300MB")
    flow = Flow.of(Workspace(place / "valuestream.duckdb"), parse_stream(WORKFLOW_YAML))
    # DuckDB reports the limit in binary units: 300 MB = 286.1 MiB.
    assert flow.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    assert len(flow.items()) == 2  # and the answers come as before


def test_a_bad_limit_is_one_line_and_exit_2(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESTREAM_MEMORY_LIMIT", "lots")
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "VALUESTREAM_MEMORY_LIMIT" in result.output and "2GB" in result.output


def test_out_of_memory_is_one_line_and_exit_2(place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESTREAM_MEMORY_LIMIT", "100MB")

    def exhausted(self: Flow) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")

    monkeypatch.setattr(Flow, "_build", exhausted)
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "out of memory within VALUESTREAM_MEMORY_LIMIT=100MB" in result.output
