"""A full disk during an import: one line, exit 2, and the workspace as it was, bytes and size.

DuckDB writes a large transaction's blocks into the database file before it commits; after a
failed write the rollback frees them but the file stays grown. The first test fills a real small
file system (a tmpfs, when this process may mount one); the second makes DuckDB fail the same way
inside the import (a fault injected after real blocks were written), so it runs everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import workspace_tables
from typer.testing import CliRunner

import valuestream.workspace
from valuestream.cli import app
from valuestream.workspace import Workspace

runner = CliRunner()


def _log(path: Path, rows: int, prefix: str) -> Path:
    with path.open("w") as fh:
        fh.write("item,state,entered_at,title\n")
        for i in range(rows):
            # Titles that do not compress, so the rows take real room in the file.
            fh.write(f"{prefix}{i},Dev{i % 7},2026-01-{1 + i % 28:02d}T00:00:00Z,{os.urandom(12).hex()}\n")
    return path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB file system of its own (tmpfs), or a skip where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _state(ws: Path) -> tuple[dict[str, list[tuple[object, ...]]], int]:
    return workspace_tables(Workspace(ws)), ws.stat().st_size


def test_a_real_full_disk_leaves_the_workspace_as_it_was(small_disk: Path, tmp_path: Path):
    ws = small_disk / "valuestream.duckdb"
    assert runner.invoke(app, ["import", str(_log(tmp_path / "a.csv", 50, "A")), "-w", str(ws), "-q"]).exit_code == 0
    before = _state(ws)
    result = runner.invoke(app, ["import", str(_log(tmp_path / "big.csv", 300_000, "B")), "-w", str(ws), "--source", "big"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "the disk is full" in result.output and "nothing was saved" in result.output
    assert _state(ws) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["valuestream.duckdb"]
    # and the workspace still takes what fits
    again = runner.invoke(app, ["import", str(_log(tmp_path / "c.csv", 20, "C")), "-w", str(ws), "--source", "c", "-q"])
    assert again.exit_code == 0, again.output
    assert Workspace(ws).counts()["items"] == 70


def test_a_write_failing_inside_the_import_gives_back_the_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = tmp_path / "valuestream.duckdb"
    assert runner.invoke(app, ["import", str(_log(tmp_path / "a.csv", 50, "A")), "-w", str(ws), "-q"]).exit_code == 0
    before = _state(ws)
    real = valuestream.workspace.apply_staged
    grown: list[int] = []

    def fills_the_disk(con: duckdb.DuckDBPyConnection, **kwargs: object) -> object:
        real(con, **kwargs)  # the rows are written: DuckDB has put their blocks in the file
        con.execute(
            "INSERT INTO transitions SELECT 'ballast', md5(range::VARCHAR), md5((-range)::VARCHAR), now(), range FROM range(600000)"
        )
        grown.append(ws.stat().st_size)
        raise duckdb.IOException(f'IO Error: Could not write file "{ws}": No space left on device')

    monkeypatch.setattr(valuestream.workspace, "apply_staged", fills_the_disk)
    result = runner.invoke(app, ["import", str(_log(tmp_path / "big.csv", 50_000, "B")), "-w", str(ws), "--source", "big"])
    assert result.exit_code == 2, result.output
    assert "the disk is full" in result.output
    assert grown and grown[0] > before[1]  # the fault came after the file had really grown
    assert _state(ws) == before
