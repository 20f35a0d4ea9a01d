"""The workspace file: schema, all-or-nothing transactions, and several processes at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from conftest import write_log

from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace


def _import_many(path: str, log: str, source: str, times: int) -> None:
    ws = Workspace(path)
    for _ in range(times):
        ws.import_file(log, source=source)


def _read_many(path: str, times: int, out: mp.Queue) -> None:
    ws = Workspace(path)
    stream = parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev]}")
    seen = []
    for _ in range(times):
        seen.append(len(Flow.of(ws, stream).items()))
    out.put(seen)


def test_two_writers_and_a_reader_in_separate_processes(tmp_path: Path):
    """The CLI and a web server share one workspace: no lock errors, no lost writes."""
    path = tmp_path / "ws.duckdb"
    Workspace(path).ensure()
    logs = []
    for name in ("a", "b"):
        rows = [(f"{name}{i}", s, f"2026-01-0{d}T00:00:00Z") for i in range(50) for s, d in (("Backlog", 1), ("Dev", 2), ("Done", 3))]
        logs.append(str(write_log(tmp_path / f"{name}.csv", rows)))
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_import_many, args=(str(path), logs[0], "a", 8)),
        ctx.Process(target=_import_many, args=(str(path), logs[1], "b", 8)),
        ctx.Process(target=_read_many, args=(str(path), 8, out)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    seen = out.get(timeout=5)
    assert all(n in (0, 50, 100) for n in seen)
    ws = Workspace(path)
    assert ws.counts()["transitions"] == 300
    with ws.connect() as con:
        assert con.execute("SELECT count(*) FROM imports").fetchone() == (16,)


def test_a_failed_write_rolls_back(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(write_log(tmp_path / "ok.csv", [("A", "Dev", "2026-01-01T00:00:00Z")]))
    with pytest.raises(RuntimeError), ws.transaction() as con:
        con.execute("DELETE FROM transitions")
        raise RuntimeError("boom")
    assert ws.counts()["transitions"] == 1


def test_meta_round_trip_and_schema_version(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.set_meta("last_check", "2026-11-01")
    assert Workspace(ws.path).get_meta("last_check") == "2026-11-01"
    assert ws.get_meta("schema_version") == "1"
