"""Shared fixtures: real workspaces in tmp_path, built from small hand-written logs."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from valuestream.flow import Flow
from valuestream.model import Stream, Workflow, parse_stream
from valuestream.workspace import Workspace

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
