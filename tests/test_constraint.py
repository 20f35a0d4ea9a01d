"""Naming the constraint: longest queue, starved downstream, growing queues, from map and data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import ISSUE_MAP
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.constraint import find_constraint, starvation
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace

MAPPED = """\
steps:
  - {name: Discovery, states: [Discovery], touch_days: 2, wait_days: 1}
  - {name: Legal, kind: approval, touch_days: 0.5, wait_days: 10}
  - {name: Build, states: [Ready for build, Building], touch_days: 3, wait_days: 1}
  - {name: QA, states: [Testing], touch_days: 1, wait_days: 0.5}
workflow: {start: Discovery, finish: Done, touch: [Discovery, Building, Testing], wait: [Ready for build]}
"""

T0 = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
# Days after T0 (2025-03-03). See tests/test_streammap.py for the same two items by hand.
HISTORY = [
    ("A", "Discovery", 0), ("A", "Ready for build", 2), ("A", "Building", 3), ("A", "Testing", 6), ("A", "Done", 7),
    ("B", "Discovery", 0), ("B", "Ready for build", 1), ("B", "Building", 5), ("B", "Testing", 7),
    ("B", "Building", 8), ("B", "Testing", 10), ("B", "Done", 11),
]  # fmt: skip


def workspace(path: Path, rows: list[tuple[str, str, float]]) -> Workspace:
    ws = Workspace(path)
    ws.import_table(
        pa.table(
            {
                "item": [r[0] for r in rows],
                "state": [r[1] for r in rows],
                "entered_at": pa.array(
                    [T0 + dt.timedelta(days=r[2]) for r in rows], pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        source="test",
        location="memory",
    )
    return ws


def test_from_the_map_alone_the_longest_queue_is_circled() -> None:
    report = find_constraint(parse_stream(ISSUE_MAP))
    # Expected waits: Discovery 5, Legal 10.5, Build 3.75, QA 2.5, Release 7 (gate 14 / 2).
    assert report.constraint == "Legal language"
    assert list(report.table["step"])[:2] == ["Legal language", "Release"]
    assert report.table.iloc[0]["wait_per_item"] == pytest.approx(10.5)
    assert report.table.iloc[0]["wait_share"] == pytest.approx(10.5 / 28.75)
    assert not report.with_data
    assert "estimates alone" in report.explain() and "10.5 days" in report.explain()


def test_nothing_waits_nothing_is_circled() -> None:
    report = find_constraint(
        parse_stream("steps:\n  - {name: A, touch_days: 1}\n  - {name: B, touch_days: 2}\n")
    )
    assert report.constraint is None
    assert "No step shows waiting" in report.explain()


def test_starvation_by_hand(tmp_path: Path) -> None:
    # Items at Build at the end of each day (Ready for build or Building):
    #   03-04 1, 03-05..03-08 2, 03-09 1, 03-10 0, 03-11 1, 03-12 1, 03-13 0 -> 8 days with work.
    # QA (Testing) holds an item at the end of 03-09, 03-10 and 03-13 only, so on 7 of Build's
    # 8 busy days QA had nothing.
    flow = Flow.of(workspace(tmp_path / "ws.duckdb", HISTORY), parse_stream(MAPPED))
    s = starvation(flow, ["Discovery", "Build", "QA"]).set_index("step")
    assert (s.loc["Build", "days_with_work"], s.loc["Build", "starving_days"]) == (8, 7)
    assert s.loc["Build", "downstream"] == "QA"
    # Discovery holds items on 03-03 (both) and 03-04 (A); Build is empty only on 03-03.
    assert (s.loc["Discovery", "days_with_work"], s.loc["Discovery", "starving_days"]) == (2, 1)


def test_with_data_wall_steps_count_for_every_item(tmp_path: Path) -> None:
    flow = Flow.of(workspace(tmp_path / "ws.duckdb", HISTORY), parse_stream(MAPPED))
    report = find_constraint(parse_stream(MAPPED), flow)
    rows = report.table.set_index("step")
    # Legal has no tracker state: its 10-day estimate counts for both items, 20 item-days,
    # against Build's measured 1 + 4 = 5 item-days.
    assert report.constraint == "Legal"
    assert rows.loc["Legal", "total_wait"] == pytest.approx(20)
    assert rows.loc["Build", "total_wait"] == pytest.approx(5)
    assert rows.loc["Build", "wait_per_item"] == pytest.approx(2.5)
    assert (
        "starves 'QA'" in rows.loc["Build", "reasons"]
        and "7 of the 8 days" in rows.loc["Build", "reasons"]
    )
    # One starving day out of two is not a pattern.
    assert "starves" not in rows.loc["Discovery", "reasons"]
    # Build: A and B arrive, B comes back once -> 3 arrivals, 3 departures: not growing.
    assert (rows.loc["Build", "arrivals"], rows.loc["Build", "departures"]) == (3, 3)
    assert not rows.loc["Build", "growing"]
    assert "Also watch 'Build'" in report.explain()


def test_data_alone_names_the_measured_queue(tmp_path: Path) -> None:
    workflow = parse_stream(MAPPED).workflow
    report = find_constraint(None, Flow.of(workspace(tmp_path / "ws.duckdb", HISTORY), workflow))
    assert report.with_data
    # Raw states: Ready for build is the only wait (A 1 day, B 4 days).
    assert report.constraint == "Ready for build"
    assert report.table.iloc[0]["total_wait"] == pytest.approx(5)


def test_the_evidence_names_the_mean_it_quotes(tmp_path: Path) -> None:
    # Ready for build waits: A 1 day, B 4, C 10: mean 5, median 4. The evidence quotes the mean,
    # as Flow.steps gives it, and says so; an estimate says it is one.
    rows = [*HISTORY, ("C", "Discovery", 0), ("C", "Ready for build", 1), ("C", "Building", 11), ("C", "Done", 12)]
    flow = Flow.of(workspace(tmp_path / "ws.duckdb", rows), parse_stream(MAPPED).workflow)
    top = find_constraint(None, flow).table.iloc[0]
    steps = flow.steps("step").set_index("step")
    assert (steps.loc["Ready for build", "wait_mean_days"], steps.loc["Ready for build", "wait_p50_days"]) == (5, 4)
    assert top["step"] == "Ready for build"
    assert "items wait 5.0 days here on average, 100% of all waiting" in top["reasons"]
    legal = find_constraint(parse_stream(MAPPED)).table.set_index("step").loc["Legal"]
    assert "items wait 10.0 days here (estimate), 80% of all waiting" in legal["reasons"]


def test_a_growing_queue_is_evidence(tmp_path: Path) -> None:
    # Nine more items arrive into Ready for build on days 12-14 and are still there on day 15:
    # 12 in, 3 out, an excess of 9 > 2 x sqrt(15) = 7.7, more than a random walk would give.
    more = [
        (i, s, d)
        for i, d0 in zip("CDEFGHIJK", (11, 11, 11, 12, 12, 12, 13, 13, 13), strict=True)
        for s, d in (("Discovery", d0), ("Ready for build", d0 + 1))
    ]
    rows = [*HISTORY, *more, ("Z", "Discovery", 15)]
    flow = Flow.of(workspace(tmp_path / "ws.duckdb", rows), parse_stream(MAPPED))
    report = find_constraint(parse_stream(MAPPED), flow)
    build = report.table.set_index("step").loc["Build"]
    assert (build["arrivals"], build["departures"]) == (12, 3)
    assert (
        build["growing"] and "its queue is growing: 12 items arrived and 3 left" in build["reasons"]
    )
    qa = report.table.set_index("step").loc["QA"]
    assert not qa["growing"]


def test_a_few_more_arrivals_than_departures_is_noise(tmp_path: Path) -> None:
    # 6 in, 3 out: an excess of 3 is below 5 items, so it is not called a growing queue.
    more = [
        (i, s, d)
        for i, d0 in (("C", 11), ("D", 12), ("E", 13))
        for s, d in (("Discovery", d0), ("Ready for build", d0 + 1))
    ]
    flow = Flow.of(workspace(tmp_path / "ws.duckdb", [*HISTORY, *more, ("Z", "Discovery", 15)]), parse_stream(MAPPED))
    build = find_constraint(parse_stream(MAPPED), flow).table.set_index("step").loc["Build"]
    assert (build["arrivals"], build["departures"]) == (6, 3) and not build["growing"]


def test_needs_a_map_or_data() -> None:
    with pytest.raises(InputError):
        find_constraint(None, None)


def test_constraint_command_prints_ranking_and_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("stream.yaml").write_text(ISSUE_MAP)
    runner = CliRunner()
    out = runner.invoke(app, ["constraint"])
    assert out.exit_code == 0, out.output
    assert "Circle 'Legal language'" in " ".join(out.output.split())
    data = json.loads(runner.invoke(app, ["constraint", "--format", "json"]).output)
    assert data["constraint"] == "Legal language"
    assert data["ranking"][0]["rank"] == 1 and data["ranking"][0]["step"] == "Legal language"
    csv = runner.invoke(app, ["constraint", "--format", "csv"]).output.splitlines()
    assert csv[0].startswith("rank,step,basis") and len(csv) == 6


def test_alternative_steps_never_starve_each_other(make_flow) -> None:
    from valuestream.model import parse_stream
    from valuestream.streammap import flow_path

    # Eight items go Intake -> Fast -> Done, one goes Intake -> Slow -> Done: Fast and Slow are
    # alternatives, not a line, so Fast holding work while Slow is empty is no starvation.
    day = "2026-01-{:02d}T00:00:00Z".format
    rows = []
    for i in range(8):
        rows += [(f"F{i}", "Intake", day(1 + i)), (f"F{i}", "Fast", day(2 + i)), (f"F{i}", "Done", day(6 + i))]
    rows += [("S0", "Intake", day(1)), ("S0", "Slow", day(3)), ("S0", "Done", day(4))]
    stream = parse_stream("workflow: {start: Intake, finish: Done, touch: [Fast, Slow]}")
    flow = make_flow(rows, stream)
    path, order = flow_path(flow)
    assert path == ["Intake", "Fast"]  # the path most items take
    # the detour stands right after the step its items come from, before the path goes on
    assert order == ["Intake", "Slow", "Fast"]
    report = find_constraint(None, flow)
    pairs = report.table[["step", "downstream"]].dropna()
    assert ("Fast", "Slow") not in set(map(tuple, pairs.to_numpy()))
