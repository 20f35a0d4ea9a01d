"""The weekly check, the flow series behind the charts, and the xmr / pbc / check commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuestream.check import last_check, run_check
from valuestream.cli import app
from valuestream.events import add_event
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace
from valuestream.xmr import flow_xmr, lead_time_series, weekly_series

runner = CliRunner()
DAY0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
STREAM = """\
name: Test
workflow:
  start: Backlog
  finish: Done
  touch: [In progress]
"""
# Item i enters on day i, starts work a day later and finishes after lead(i) days. The first 24
# alternate 4 and 4.5 days (centre 4.25, mR-bar 0.5, limits 2.92 to 5.58); then four items take
# 9 days, finishing after the event on day 28: too few to get their own limits, so they are judged against
# the old ones. Two items are still in progress.
SLOW_FROM = 24
N_DONE = 28


def lead(i: int) -> float:
    return 9.0 if i >= SLOW_FROM else 4.0 + 0.5 * (i % 2)


def _log(path: Path) -> Path:
    rows = ["item,state,entered_at,title"]
    for i in range(N_DONE):
        start = DAY0 + dt.timedelta(days=i)
        for state, offset in (("Backlog", 0.0), ("In progress", 1.0), ("Done", lead(i))):
            rows.append(
                f"VS-{i:02d},{state},{(start + dt.timedelta(days=offset)).isoformat()},Item {i}"
            )
    for i, day in ((90, 20), (91, 30)):
        start = DAY0 + dt.timedelta(days=day)
        rows.append(f"VS-{i},Backlog,{start.isoformat()},Open {i}")
        rows.append(f"VS-{i},In progress,{(start + dt.timedelta(days=1)).isoformat()},Open {i}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Workspace, Path]:
    ws = Workspace(tmp_path / "vs.duckdb")
    ws.import_file(_log(tmp_path / "log.csv"))
    stream = tmp_path / "stream.yaml"
    stream.write_text(STREAM, encoding="utf-8")
    return ws, stream


def _flow(ws: Workspace) -> Flow:
    return Flow.of(ws, parse_stream(STREAM))


def test_lead_and_cycle_series_in_completion_order(setup: tuple[Workspace, Path]) -> None:
    ws, _ = setup
    values, dates, labels = lead_time_series(_flow(ws), "lead")
    assert labels == [f"VS-{i:02d}" for i in range(N_DONE)]
    assert values.tolist() == pytest.approx([lead(i) for i in range(N_DONE)])
    assert dates[0] == DAY0 + dt.timedelta(days=4)
    cycle, _, _ = lead_time_series(_flow(ws), "cycle")
    assert cycle.tolist() == pytest.approx([lead(i) - 1 for i in range(N_DONE)])


def test_weekly_throughput_counts_complete_weeks_only(setup: tuple[Workspace, Path]) -> None:
    ws, _ = setup
    flow = _flow(ws)
    values, weeks, labels = weekly_series(flow, "throughput")
    finished = [DAY0 + dt.timedelta(days=i + lead(i)) for i in range(N_DONE)]
    # The data start on Monday 5 January; the last transition (as-of) is day 36 (Tue 10 Feb), so
    # the weeks of 5 Jan to 2 Feb are complete.
    expected = []
    for w in range(5):
        lo, hi = DAY0 + dt.timedelta(weeks=w), DAY0 + dt.timedelta(weeks=w + 1)
        expected.append(sum(lo <= f < hi for f in finished))
    assert values.tolist() == expected
    assert labels[0] == "week of 2026-01-05"
    median, _, _ = weekly_series(flow, "median_lead")
    # Items 0, 1 and 2 finish in week one (days 4, 5.5, 6) with lead 4, 4.5 and 4: median 4.
    assert median[0] == pytest.approx(4.0)
    eff, _, _ = weekly_series(flow, "flow_efficiency")
    # Touch is lead - 1 (a day in Backlog): week one is (3 + 3.5 + 3) / (4 + 4.5 + 4).
    assert eff[0] == pytest.approx(9.5 / 12.5)


def test_the_slow_items_are_signals_against_the_kept_limits(setup: tuple[Workspace, Path]) -> None:
    ws, _ = setup
    chart = flow_xmr(_flow(ws), "lead", splits=[(dt.date(2026, 2, 2), "Big batch")])
    first, second = chart.periods
    assert first.centre == pytest.approx(4.25) and first.mr_bar == pytest.approx(0.5)
    assert second.inherited and second.event == "Big batch"
    assert [s.labels for s in chart.signals if s.rule == "1"] == [
        (f"VS-{i}",) for i in range(SLOW_FROM, N_DONE)
    ]


def test_check_reports_new_signals_once_and_remembers(setup: tuple[Workspace, Path]) -> None:
    ws, stream_path = setup
    stream = parse_stream(STREAM)
    add_event(ws, "Big batch", dt.date(2026, 2, 2))
    assert last_check(ws) is None
    first = run_check(ws, stream)
    lead_signals = [n for n in first.new_signals if n.series == "lead"]
    # The most recent first: the check leads with what happened last.
    assert [n.signal.labels for n in lead_signals if n.signal.rule == "1"] == [
        (f"VS-{i}",) for i in reversed(range(SLOW_FROM, N_DONE))
    ]
    assert all(n.cause is not None and n.cause.title == "Big batch" for n in lead_signals)
    text = first.explain()
    assert "It follows 'Big batch' (2026-02-02)" in text
    assert "(first check)" in text
    # Oldest items in progress against the 85th percentile of lead time.
    assert first.oldest["item"].tolist() == ["VS-90", "VS-91"]
    assert first.oldest["over_p85"].tolist() == [True, True]
    assert "older than the 85th percentile" in text
    second = run_check(ws, stream)
    assert second.new_signals == ()
    assert second.last_ran_at == first.ran_at
    assert "No new signal: do not react." in second.explain()
    stored = last_check(ws)
    assert stored is not None and stored[1]["signal_keys"] == list(second.signal_keys)


def test_check_without_signals_says_do_not_react(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "vs.duckdb")
    rows = ["item,state,entered_at"]
    for i in range(24):
        start = DAY0 + dt.timedelta(days=i)
        for state, offset in (
            ("Backlog", 0.0),
            ("In progress", 1.0),
            ("Done", 4.0 + 0.5 * (i % 2)),
        ):
            rows.append(f"VS-{i:02d},{state},{(start + dt.timedelta(days=offset)).isoformat()}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws.import_file(tmp_path / "log.csv")
    report = run_check(ws, parse_stream(STREAM))
    assert [n for n in report.new_signals if n.series in ("lead", "cycle")] == []
    lead = report.measure("lead")
    assert lead.verdict == "no signal"
    assert lead.period.centre == pytest.approx(4.25)
    assert lead.period.upper == pytest.approx(4.25 + 2.66 * 0.5)


# -- the commands -------------------------------------------------------------------------------


def test_cli_check_exit_codes(setup: tuple[Workspace, Path]) -> None:
    ws, stream = setup
    add_event(ws, "Big batch", dt.date(2026, 2, 2))
    args = ["check", "-w", str(ws.path), "-s", str(stream)]
    r = runner.invoke(app, [*args, "--dry-run"])
    assert r.exit_code == 0, r.output  # a signal is never an error
    assert "Lead time: signal, react." in r.output
    assert "in the current periods (first check: summarised)" in r.output
    r = runner.invoke(app, [*args, "--fail-on-signal"])
    assert r.exit_code == 1
    r = runner.invoke(app, [*args, "--fail-on-signal", "--format", "json"])
    assert r.exit_code == 0  # already reported by the previous (recorded) check
    assert json.loads(r.stdout)["new_signals"] == []


def test_cli_check_without_workspace_is_an_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["check", "-w", str(tmp_path / "none.duckdb")])
    assert r.exit_code == 2 and "no workspace" in r.output


def test_cli_pbc_draws_charts(setup: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, stream = setup
    add_event(ws, "Big batch", dt.date(2026, 2, 2))
    out, scatter = tmp_path / "lead.png", tmp_path / "scatter.svg"
    r = runner.invoke(
        app,
        [
            "pbc",
            "lead",
            "-w",
            str(ws.path),
            "-s",
            str(stream),
            "--out",
            str(out),
            "--scatter",
            str(scatter),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [p["event"] for p in data["periods"]] == [None, "Big batch"]
    assert data["periods"][0]["centre"] == pytest.approx(4.25)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in scatter.read_text(encoding="utf-8")
    for series in ("cycle", "throughput", "median-lead", "flow-efficiency"):
        r = runner.invoke(
            app, ["pbc", series, "-w", str(ws.path), "-s", str(stream), "--format", "json"]
        )
        assert r.exit_code == 0, (series, r.output)
    r = runner.invoke(app, ["pbc", "wip", "-w", str(ws.path)])
    assert r.exit_code == 2 and "unknown series 'wip'" in r.output


def test_cli_xmr_on_a_published_series(tmp_path: Path) -> None:
    # NIST/SEMATECH e-Handbook 6.3.2.2 (see test_xmr.py): mean 50.81, limits 45.82 and 55.80.
    values = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
    csv = tmp_path / "flow.csv"
    csv.write_text(
        "batch,flow\n" + "".join(f"{i + 1},{v}\n" for i, v in enumerate(values)), encoding="utf-8"
    )
    r = runner.invoke(app, ["xmr", str(csv), "--column", "flow", "--format", "json"])
    assert r.exit_code == 0, r.output
    (period,) = json.loads(r.stdout)["periods"]
    assert period["centre"] == pytest.approx(50.81)
    assert period["lower"] == pytest.approx(45.82, abs=0.01)
    assert period["upper"] == pytest.approx(55.80, abs=0.01)
    assert period["url"] == pytest.approx(6.13, abs=0.01)
    assert json.loads(r.stdout)["signals"] == []
    r = runner.invoke(app, ["xmr", str(csv), "--column", "flow"])
    assert "central line 50.81" in r.output


def test_cli_xmr_names_the_bad_cell(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("day,value\n2026-01-01,3\n2026-01-02,n/a\n", encoding="utf-8")
    r = runner.invoke(app, ["xmr", str(csv)])
    assert r.exit_code == 2
    assert "line 3, row 2, column 'value': expected a number, got 'n/a'" in r.output
    r = runner.invoke(app, ["xmr", str(csv), "--column", "cost"])
    assert r.exit_code == 2 and "no column 'cost'" in r.output


def test_cli_xmr_with_dates_and_a_split(tmp_path: Path) -> None:
    csv = tmp_path / "weekly.csv"
    rows = [
        (dt.date(2026, 1, 5) + dt.timedelta(weeks=i), 12 if i % 2 == 0 else 10) for i in range(20)
    ]
    rows += [
        (dt.date(2026, 1, 5) + dt.timedelta(weeks=20 + i), 5 if i % 2 == 0 else 4)
        for i in range(10)
    ]
    rows.reverse()  # rows are put in date order
    csv.write_text("week,value\n" + "".join(f"{d},{v}\n" for d, v in rows), encoding="utf-8")
    r = runner.invoke(
        app, ["xmr", str(csv), "--date-column", "week", "--split", "2026-05-25", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    periods = json.loads(r.stdout)["periods"]
    assert [(p["values"], p["centre"]) for p in periods] == [(20, 11.0), (10, 4.5)]
    assert periods[1]["provisional"] is True


def test_a_baseline_period_from_the_stream_file_gives_the_first_limits(
    setup: tuple[Workspace, Path],
) -> None:
    ws, _ = setup
    # Item i finishes on day i + lead(i) after 5 Jan: items 10 to 19 finish from 19 Jan (day 14)
    # to 28 Jan (day 23.5); item 20 on 29 Jan. Ten values alternating 4 and 4.5: centre 4.25 and
    # mR-bar 0.5, provisional (fewer than 20), taken from the chosen days.
    stream = parse_stream(STREAM + "baseline: {from: 2026-01-19, to: 2026-01-28}\n")
    chart = flow_xmr(Flow.of(ws, stream), "lead")
    period = chart.periods[0]
    assert period.baseline_n == 10 and period.provisional
    assert period.centre == pytest.approx(4.25) and period.mr_bar == pytest.approx(0.5)
    with pytest.raises(Exception, match="baseline ends"):
        parse_stream(STREAM + "baseline: {from: 2026-02-01, to: 2026-01-01}\n")
