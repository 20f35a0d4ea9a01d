"""Pictures of huge inputs stay small and say what they left out.

A discovered map of a log with more states than a picture holds draws the states most items pass
and one step "other (N states)" for the rest, and says so on the picture; the report draws the
same map, and its cumulative flow diagram stacks the first steps and one band for the others.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.streammap import MAX_DRAWN_STEPS, long_tail_grouped

runner = CliRunner()


@pytest.fixture
def many_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """300 items through Backlog, Dev, Test, Done; each also passes 4 states of its own (1,200)."""
    monkeypatch.chdir(tmp_path)
    rows = ["item,state,entered_at"]
    for i in range(300):
        day = 1 + i % 20
        path = ["Backlog", "Dev", *(f"S{i}-{k}" for k in range(4)), "Test", "Done"]
        rows += [f"I{i},{state},2026-02-{day:02d}T{h:02d}:00:00Z" for h, state in enumerate(path)]
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "stream.yaml").write_text("workflow: {start: Backlog, finish: Done, touch: [Dev, Test]}\n")
    assert runner.invoke(app, ["import", "log.csv", "-q"]).exit_code == 0
    return tmp_path


def test_a_map_of_1200_odd_states_groups_the_tail_and_says_so(many_states: Path):
    result = runner.invoke(app, ["map", "--out", "m.svg"])
    assert result.exit_code == 0, result.output
    # Backlog and Dev and Test are passed by all 300 items: they stay; 26 one-item states join them,
    # and the other 1,200 - 26 = 1,174 go into one step.
    assert "the 29 most items pass are drawn as steps, the other 1,174 as one step, 'other (1,174 states)'" in " ".join(result.output.split())
    svg = (many_states / "m.svg").read_text(encoding="utf-8")
    assert "other (1,174 states)" in svg and "the other 1,174 as one step" in svg
    assert len(set(re.findall(r"S\d+-\d", svg))) == 26  # the 26 kept one-item states, not 1,200
    table = runner.invoke(app, ["map", "--format", "json"])
    steps = [s["step"] for s in json.loads(table.stdout)["steps"]]
    assert len(steps) == MAX_DRAWN_STEPS and "Dev" in steps and "Test" in steps and steps[-1] != "Dev"


def test_grouping_keeps_the_states_most_items_pass():
    steps = pd.DataFrame(
        {"step": [f"s{i}" for i in range(40)], "states": [[f"s{i}"] for i in range(40)], "items": list(range(40))}
    )
    drafted, note = long_tail_grouped(None, steps, limit=5)  # type: ignore[misc]
    assert [s.name for s in drafted.steps] == ["s39", "s38", "s37", "s36", "other (36 states)"]
    assert list(drafted.steps[-1].states) == [f"s{i}" for i in range(35, -1, -1)]
    assert "40 states" in note
    assert long_tail_grouped(None, steps.head(5), limit=5) is None


def test_the_report_draws_the_same_grouped_map(many_states: Path):
    result = runner.invoke(app, ["report", "--out", "r.html"])
    assert result.exit_code == 0, result.output
    page = (many_states / "r.html").read_text(encoding="utf-8")
    assert "other (1,174 states)" in page and "the other 1,174 as one step" in page
    # the cumulative flow diagram stacks the map's steps: 1,203 bands broke the chart's row limit
    # (a crash), and a band per state grew to gigabytes on 200,000 states
    bands = {row["band"] for row in _spec(page, "cfd")}
    # 29 steps, the other one and the finished band at the bottom
    assert "other (1,174 states)" in bands and len(bands) == MAX_DRAWN_STEPS + 1


def _spec(page: str, name: str) -> list[dict]:
    """The inline data rows of one chart of a report page."""
    found = re.search(r'<script id="vs-specs" type="application/json">(.*?)</script>', page, re.S)
    assert found is not None
    spec = json.loads(found.group(1))[name]
    return [row for rows in spec["datasets"].values() for row in rows]


def _imported(folder: Path, rows: list[str]) -> Path:
    """The log imported in ``folder`` under a stream file with only a workflow (no steps)."""
    (folder / "log.csv").write_text("\n".join(rows) + "\n")
    (folder / "stream.yaml").write_text("workflow: {start: Backlog, finish: Done}\n")
    assert runner.invoke(app, ["import", "log.csv", "-q"]).exit_code == 0
    return folder


@pytest.fixture
def own_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """40 items enter Backlog on 2 Feb at 09:00, each its own state S0..S39 at 10:00, and Done
    on 20 Feb at 10:00: more states than a picture holds."""
    monkeypatch.chdir(tmp_path)
    rows = ["item,state,entered_at"]
    for i in range(40):
        rows += [
            f"I{i},Backlog,2026-02-02T09:00:00Z",
            f"I{i},S{i},2026-02-02T10:00:00Z",
            f"I{i},Done,2026-02-20T10:00:00Z",
        ]
    return _imported(tmp_path, rows)


def test_the_report_flow_diagram_counts_the_grouped_tail_day_by_day(own_states: Path):
    result = runner.invoke(app, ["report", "--out", "r.html", "--days", "30"])
    assert result.exit_code == 0, result.output
    page = (own_states / "r.html").read_text(encoding="utf-8")
    rows = _spec(page, "cfd")
    # 41 states in the stream (finishing is not one). Ranked by the items that passed them, as
    # the map ranks them: Backlog (40), then the 40 one-item states by name, S0, S1, S10..S19,
    # S2, S20..S29, S3, S30..S33 (28, with Backlog 29); S34..S39 and S4..S9 go into "other (12
    # states)". From 2 to 19 Feb their 12 items are in that band at the end of each day; then none.
    other = {r["day"]: r["items"] for r in rows if r["band"] == "other (12 states)"}
    assert {d: n for d, n in other.items() if "2026-02-02" <= d <= "2026-02-19"} == {
        f"2026-02-{d:02d}": 12 for d in range(2, 20)
    }
    assert other["2026-02-20"] == 0
    s33 = {r["day"]: r["items"] for r in rows if r["band"] == "S33"}
    assert s33["2026-02-02"] == 1 and s33["2026-02-20"] == 0
    bands = {r["band"] for r in rows}
    assert {"S0", "S33", "Backlog"} <= bands and "S34" not in bands and len(bands) == 31
    # and the page says what it grouped, under the diagram
    words = " ".join(page.split())
    assert "The data has 41 states: the 29 most items pass are drawn as steps, the other 12 as one step" in words


@pytest.fixture
def huge_wip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """100 items finish in one day (Backlog, Work, Done in October); 300 are in progress on
    1 Nov, P{i} entered Backlog 2 + i days before and state W{i} an hour later."""
    monkeypatch.chdir(tmp_path)
    rows = ["item,state,entered_at"]
    for i in range(100):
        day = 1 + i % 28
        rows += [
            f"F{i},Backlog,2026-10-{day:02d}T00:00:00Z",
            f"F{i},Work,2026-10-{day:02d}T06:00:00Z",
            f"F{i},Done,2026-10-{day + 1:02d}T00:00:00Z",
        ]
    start = pd.Timestamp("2026-11-01T00:00:00Z")
    for i in range(300):
        entered = start - pd.Timedelta(days=2 + i)
        rows += [
            f"P{i},Backlog,{entered.isoformat()}",
            f"P{i},W{i},{(entered + pd.Timedelta(hours=1)).isoformat()}",
        ]
    return _imported(tmp_path, rows)


def test_aging_on_huge_wip_draws_a_sample_keeping_the_oldest_and_says_so(
    huge_wip: Path, monkeypatch: pytest.MonkeyPatch
):
    from valuestream import forecast
    from valuestream.flow import Flow
    from valuestream.model import load_stream
    from valuestream.views import drawing, forecast_charts
    from valuestream.workspace import Workspace

    monkeypatch.setattr(drawing, "MAX_DRAWN", 50)
    monkeypatch.setattr(forecast_charts, "MAX_DRAWN", 50)
    as_of = pd.Timestamp("2026-11-01T00:00:00Z").to_pydatetime()
    flow = Flow.of(Workspace(huge_wip / "valuestream.duckdb"), load_stream(huge_wip / "stream.yaml"), as_of=as_of)
    aging = forecast.aging(flow)
    # every figure counts all 300: each is older than the 1-day expectation
    assert len(aging.table) == 300 and len(aging.at_risk) == 300
    drawn = forecast_charts.aging_drawing(aging)
    # Up to 50 / 2 = 25 of the oldest always drawn; of all 300, every ceil(300 / 50) = 6th
    # (0, 6, ..., 294: 50 rows, 5 of them among the first 25) and the last: 25 + 45 + 1 = 71.
    assert len(drawn.points) == 71
    assert list(drawn.points["item"].head(25)) == [f"P{i}" for i in range(299, 274, -1)]
    assert "P0" in set(drawn.points["item"])  # the youngest, the last row
    # 302 steps (Backlog, Work, W0..W299): the 29 holding the most items now keep a column
    # (one item each, by name: W0, W1, W10, W100, ...), the other 273 share one
    assert len(drawn.steps) == 30 and drawn.steps[-1] == "other (273 steps)"
    assert set(drawn.points["step"]) <= set(drawn.steps)
    assert drawn.words == (
        "29 of 302 steps shown; the rest as 'other (273 steps)'; drawing 71 of 300 items "
        "(the 25 oldest above the expectation, then 1 in 6); every figure counts all of them"
    )
    spec = aging.chart().to_dict(validate=False)
    points = [row for rows in spec["datasets"].values() for row in rows if "age_days" in row]
    assert len(points) == 71 and max(p["age_days"] for p in points) == pytest.approx(301.0)
    # the command's page says the same
    result = runner.invoke(app, ["aging", "--out", "a.html", "--as-of", "2026-11-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    page = (huge_wip / "a.html").read_text(encoding="utf-8")
    assert "drawing 71 of 300 items" in page and "other (273 steps)" in page
    # and the sentence names the ten steps with most late items, then counts the rest
    assert "and 290 in 290 other steps" in aging.explain()


def test_the_grouped_flow_diagram_keeps_the_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """80 items, the even ones Bugs, each in a state of its own from 2 to 20 Feb."""
    monkeypatch.chdir(tmp_path)
    rows = ["item,state,entered_at,type"]
    for i in range(80):
        kind = "Bug" if i % 2 == 0 else "Story"
        rows += [
            f"I{i},Backlog,2026-02-02T09:00:00Z,{kind}",
            f"I{i},S{i},2026-02-02T10:00:00Z,{kind}",
            f"I{i},Done,2026-02-20T10:00:00Z,{kind}",
        ]
    _imported(tmp_path, rows)
    result = runner.invoke(app, ["report", "--out", "r.html", "--days", "30", "--filter", "type=Bug"])
    assert result.exit_code == 0, result.output
    rows_drawn = _spec((tmp_path / "r.html").read_text(encoding="utf-8"), "cfd")
    # The 40 Bugs pass 41 states: Backlog and 28 of their own keep a band, the other 12 share
    # one. On 5 Feb each Bug is in its own state: 28 bands of 1 and 12 in the other; no Story.
    day = {r["band"]: r["items"] for r in rows_drawn if r["day"] == "2026-02-05"}
    assert day["other (12 states)"] == 12
    assert sum(n for band, n in day.items() if not band.startswith("Done")) == 40
    assert not {f"S{i}" for i in range(1, 80, 2)} & set(day)


def test_the_constraint_command_ranks_the_steps_the_map_draws(many_states: Path):
    # Ordering 1,203 states one by one (200,000 in the issue) is what the map stopped doing.
    result = runner.invoke(app, ["constraint", "--format", "json"])
    assert result.exit_code == 0, result.output
    ranked = [r["step"] for r in json.loads(result.stdout)["ranking"]]
    assert len(ranked) == MAX_DRAWN_STEPS and "other (1,174 states)" in ranked and "Dev" in ranked
    table = runner.invoke(app, ["constraint"])
    assert "the other 1,174 as one step" in " ".join(table.output.split())
    # and discover shows the same steps (on 200,000 states it ran past 3 minutes)
    found = runner.invoke(app, ["discover", "--format", "json"])
    assert found.exit_code == 0, found.output
    steps = [s["step"] for s in json.loads(found.stdout)["steps"]]
    assert len(steps) == MAX_DRAWN_STEPS and "other (1,174 states)" in steps


def test_a_terminal_table_of_very_many_rows_is_cut_and_says_so(many_states: Path):
    (many_states / "priced.yaml").write_text(
        "workflow: {start: Backlog, finish: Done, touch: [Dev, Test]}\ncost_of_delay: {per_week: 1000, currency: EUR}\n"
    )
    result = runner.invoke(app, ["cost", "--stream", "priced.yaml"])
    assert result.exit_code == 0, result.output
    # one queue per state the items waited in: Backlog and 1,200 of their own, 1,201 rows; the
    # terminal shows 1,000 (laying out 200,000 took minutes), CSV carries every one
    assert "201 more rows; use --format csv for all of them" in result.output
    csv_rows = runner.invoke(app, ["cost", "--stream", "priced.yaml", "--format", "csv"]).stdout.splitlines()
    assert len(csv_rows) == 1 + 1201
