"""The events log: add, list, remove, merge with the stream file, and the CLI commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.events import (
    add_event,
    combined_events,
    events_yaml,
    list_events,
    merge_stream_events,
    remove_event,
)
from valuestream.model import parse_stream
from valuestream.workspace import Workspace

runner = CliRunner()

STREAM = """\
name: Demo
events:
  - date: 2026-11-03
    title: Release daily instead of bi-weekly batches
  - date: 2026-10-01
    title: New tester
    kind: team
    new_period: false
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "vs.duckdb")


def test_add_list_remove(ws: Workspace) -> None:
    a = add_event(ws, "WIP limit 3", dt.date(2026, 11, 10))
    b = add_event(ws, "New tester", dt.date(2026, 10, 1), kind="team", new_period=False)
    assert [(e.id, e.date, e.title, e.kind, e.new_period) for e in list_events(ws)] == [
        (b.id, dt.date(2026, 10, 1), "New tester", "team", False),
        (a.id, dt.date(2026, 11, 10), "WIP limit 3", "policy", True),
    ]
    assert remove_event(ws, a.id).title == "WIP limit 3"
    assert [e.id for e in list_events(ws)] == [b.id]


def test_same_title_on_same_day_is_refused(ws: Workspace) -> None:
    add_event(ws, "WIP limit 3", dt.date(2026, 11, 10))
    with pytest.raises(InputError, match="already in the events log"):
        add_event(ws, "  WIP limit 3 ", dt.date(2026, 11, 10))
    with pytest.raises(InputError, match="needs a title"):
        add_event(ws, "   ", dt.date(2026, 11, 10))


def test_removing_an_unknown_event_names_the_known_ones(ws: Workspace) -> None:
    e = add_event(ws, "WIP limit 3", dt.date(2026, 11, 10))
    with pytest.raises(InputError, match=f"no event 99: the log holds {e.id}"):
        remove_event(ws, 99)


def test_merging_the_stream_file_is_idempotent(ws: Workspace) -> None:
    add_event(ws, "Release daily instead of bi-weekly batches", dt.date(2026, 11, 3))
    stream = parse_stream(STREAM)
    first = merge_stream_events(ws, stream)
    assert (len(first.added), len(first.updated), first.unchanged) == (1, 0, 1)
    again = merge_stream_events(ws, stream)
    assert (len(again.added), len(again.updated), again.unchanged) == (0, 0, 2)
    assert len(list_events(ws)) == 2


def test_the_file_wins_on_kind_and_period(ws: Workspace) -> None:
    add_event(ws, "New tester", dt.date(2026, 10, 1))
    result = merge_stream_events(ws, parse_stream(STREAM))
    assert [(e.title, e.kind, e.new_period) for e in result.updated] == [
        ("New tester", "team", False)
    ]
    assert {e.title: e.new_period for e in list_events(ws)}["New tester"] is False


def test_events_round_trip_through_the_stream_file(ws: Workspace) -> None:
    merge_stream_events(ws, parse_stream(STREAM))
    block = events_yaml(list_events(ws))
    back = parse_stream(block).events
    assert [(e.date, e.title, e.kind, e.new_period) for e in back] == [
        (dt.date(2026, 10, 1), "New tester", "team", False),
        (dt.date(2026, 11, 3), "Release daily instead of bi-weekly batches", "policy", True),
    ]


def test_combined_events_reads_without_writing(ws: Workspace) -> None:
    add_event(ws, "WIP limit 3", dt.date(2026, 11, 10))
    events = combined_events(ws, parse_stream(STREAM))
    assert [(e.id > 0, e.title) for e in events] == [
        (False, "New tester"),
        (False, "Release daily instead of bi-weekly batches"),
        (True, "WIP limit 3"),
    ]
    assert len(list_events(ws)) == 1


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_event_add_list_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "vs.duckdb")
    r = runner.invoke(app, ["event", "add", "Release daily", "--date", "2026-11-03", "-w", db])
    assert r.exit_code == 0, r.output
    assert "Added event 1: 2026-11-03 Release daily (policy; starts a new period)" in r.output
    r = runner.invoke(
        app,
        [
            "event",
            "add",
            "New tester",
            "--date",
            "2026-10-01",
            "--kind",
            "team",
            "--no-new-period",
            "-w",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["event", "list", "-w", db, "--format", "json"])
    rows = json.loads(r.stdout)
    assert [(x["id"], x["date"], x["title"], x["kind"], x["new_period"]) for x in rows] == [
        (2, "2026-10-01", "New tester", "team", False),
        (1, "2026-11-03", "Release daily", "policy", True),
    ]
    r = runner.invoke(app, ["event", "list", "-w", db, "--format", "csv"])
    assert r.stdout.splitlines()[0] == "id,date,title,kind,new_period,added_at"
    r = runner.invoke(app, ["event", "remove", "1", "-w", db])
    assert r.exit_code == 0 and "Removed event 1" in r.output
    r = runner.invoke(app, ["event", "remove", "1", "-w", db])
    assert r.exit_code == 2 and "no event 1" in r.output


def test_cli_bad_date_is_one_clear_line(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["event", "add", "X", "--date", "3 Nov", "-w", str(tmp_path / "vs.duckdb")]
    )
    assert r.exit_code == 2
    assert "expected a date as YYYY-MM-DD" in r.output


def test_cli_sync_and_export(tmp_path: Path) -> None:
    db = str(tmp_path / "vs.duckdb")
    stream = tmp_path / "stream.yaml"
    stream.write_text(STREAM, encoding="utf-8")
    r = runner.invoke(app, ["event", "sync", "-w", db, "-s", str(stream)])
    assert r.exit_code == 0, r.output
    assert "2 events added, 0 updated, 0 already in the log" in r.output
    r = runner.invoke(app, ["event", "sync", "-w", db, "-s", str(stream)])
    assert "0 events added, 0 updated, 2 already in the log" in r.output
    r = runner.invoke(app, ["event", "export", "-w", db])
    assert [(e.date, e.title) for e in parse_stream(r.stdout).events] == [
        (dt.date(2026, 10, 1), "New tester"),
        (dt.date(2026, 11, 3), "Release daily instead of bi-weekly batches"),
    ]
