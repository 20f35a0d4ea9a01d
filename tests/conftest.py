"""Shared fixtures: real workspaces in tmp_path, built from small hand-written logs."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from valuestream.flow import Flow
from valuestream.model import Stream, Workflow, parse_stream
from valuestream.workspace import Workspace

# Machines here are shared and noisy: a property's examples are judged by their answers, never by
# how long one took (speed lives in benchmarks/).
settings.register_profile("valuestream", deadline=None)
settings.load_profile("valuestream")

WORKFLOW_YAML = """
workflow:
  start: Backlog
  finish: Done
  touch: [Analysis, Dev, Test]
  wait: [Ready for Dev, Ready for Test]
  blocked: [Blocked]
"""


def write_log(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = ("item", "state", "entered_at")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def workflow() -> Workflow:
    stream = parse_stream(WORKFLOW_YAML)
    assert stream.workflow is not None
    return stream.workflow


@pytest.fixture
def stream() -> Stream:
    return parse_stream(WORKFLOW_YAML)


@pytest.fixture
def make_flow(tmp_path: Path) -> Callable[..., Flow]:
    """Import rows (item, state, time) into a fresh workspace and analyse them."""

    def make(rows: Sequence[Sequence[str]], stream: Stream | Workflow | None = None, **kwargs: object) -> Flow:
        ws = Workspace(tmp_path / "ws.duckdb")
        ws.import_file(write_log(tmp_path / "log.csv", rows))
        return Flow.of(ws, stream if stream is not None else parse_stream(WORKFLOW_YAML), **kwargs)  # type: ignore[arg-type]

    return make


def workspace_transitions(ws: Workspace) -> dict[str, list[tuple[str, dt.datetime]]]:
    """Each item's (state, time in UTC) in order, as the workspace holds them."""
    out: dict[str, list[tuple[str, dt.datetime]]] = {}
    with ws.connect(read_only=True) as con:
        for item, state, when in con.execute(
            "SELECT item, state, entered_at FROM transitions ORDER BY item, entered_at, seq"
        ).fetchall():
            out.setdefault(item, []).append((state, when.astimezone(dt.UTC)))
    return out


def workspace_tables(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every table a source writes, in full: to show that a failed import changed nothing."""
    with ws.connect(read_only=True) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("transitions", "flags", "items", "imports", "meta", "state_roles", "state_meta")
        }


# The plain map of the map issue, used by the stream-file, map and constraint tests.
ISSUE_MAP = """\
steps:
  - {name: Discovery, kind: work, owner: Product, touch_days: 2, wait_days: 5}
  - {name: Legal language, kind: approval, owner: Legal, touch_days: 0.5, wait_days: [7, 14]}
  - {name: Build, kind: work, owner: Engineering, touch_days: 4, wait_days: 3}
  - {name: QA, kind: work, owner: QA, touch_days: 1, wait_days: 2}
  - {name: Release, kind: release_gate, owner: Ops, touch_days: 0.1, batch_every_days: 14}
rework:
  - {from: QA, to: Build, share: 0.2}
"""
