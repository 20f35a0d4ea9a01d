"""Cost of delay: queue costs, the value of shortening a queue, and CD3, against hand-computed figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.economics import cd3, cod_per_item, map_queue_costs, queue_costs, shortening_value
from valuestream.errors import InputError
from valuestream.model import CostOfDelay

COD = CostOfDelay(currency="EUR", per_week=1000, by_type={"Feature": 4000, "Bug": 2500})


def test_shortening_value_is_days_over_seven_times_cod_times_items_per_week() -> None:
    assert shortening_value(7, 1000, 3) == 3000
    assert shortening_value(3.5, 2000, 10) == pytest.approx(10_000)
    assert shortening_value(0, 2000, 10) == 0


@given(
    st.floats(0, 30),
    st.floats(0, 30),
    st.floats(0, 1e5),
    st.floats(0, 100),
)
def test_shortening_value_adds_up_over_days(
    d1: float, d2: float, cod: float, per_week: float
) -> None:
    both = shortening_value(d1 + d2, cod, per_week)
    assert both == pytest.approx(
        shortening_value(d1, cod, per_week) + shortening_value(d2, cod, per_week),
        rel=1e-9,
        abs=1e-6,
    )


def test_queue_costs_price_each_items_wait_by_its_type() -> None:
    # Flow.time_in rows: a step's wait_days is its queue, blocked and flagged time (touch excluded).
    time_in = pd.DataFrame(
        [
            ("A", "Legal", 7.0),  # a Feature: 1 week x 4000
            ("B", "Legal", 3.5),  # a Bug: 0.5 week x 2500
            ("C", "Legal", 14.0),  # no type: 2 weeks x the single figure 1000
            ("A", "Build", 0.0),  # 5 days of touch, no wait: no delay cost
            ("B", "Build", 7.0),  # blocked (or flagged) in Build is waiting: 1 week x 2500
            ("A", "Release", 0.0),
        ],
        columns=["item", "step", "wait_days"],
    )
    items = pd.DataFrame({"item": ["A", "B", "C"], "type": ["Feature", "Bug", None]})
    result = queue_costs(time_in, items, COD, weeks=2)
    t = result.table.set_index("queue")
    assert list(result.table["queue"]) == ["Legal", "Build"]  # costliest first; no zero-wait queue
    assert t.loc["Legal", "cost"] == pytest.approx(4000 + 1250 + 2000)
    assert t.loc["Legal", "items"] == 3 and t.loc["Legal", "wait_days"] == pytest.approx(24.5)
    assert t.loc["Build", "cost"] == pytest.approx(2500)
    assert t.loc["Legal", "cost_per_week"] == pytest.approx(7250 / 2)
    # a day shorter at Legal: 1/7 x the mean CoD of its items (2500) x 1.5 items a week
    assert t.loc["Legal", "value_per_day_shorter_per_week"] == pytest.approx(1 / 7 * 2500 * 1.5)
    assert "Legal" in result.explain() and "EUR 9,750" in result.explain()


def test_queue_costs_reject_an_empty_period() -> None:
    with pytest.raises(InputError, match="longer than zero weeks"):
        queue_costs(
            pd.DataFrame(columns=["item", "step", "wait_days"]),
            pd.DataFrame({"item": []}),
            COD,
            weeks=0,
        )


def test_map_queue_costs_for_steady_flow() -> None:
    waits = pd.DataFrame(
        {"queue": ["Legal", "Build", "Release"], "mean_wait_days": [10.5, 0.0, 7.0]}
    )
    result = map_queue_costs(waits, 2000, 5)
    t = result.table.set_index("queue")
    assert list(t.index) == ["Legal", "Release"]
    assert t.loc["Legal", "cost_per_week"] == pytest.approx(10.5 / 7 * 2000 * 5)


def test_cod_per_item_averages_by_type() -> None:
    assert cod_per_item(COD, pd.Series(["Feature", "Bug", "Bug", None])) == pytest.approx(
        (4000 + 2500 + 2500 + 1000) / 4
    )
    assert cod_per_item(COD) == 1000
    assert cod_per_item(CostOfDelay(by_type={"a": 10, "b": 30})) == 20


def test_cd3_ranks_by_cost_of_delay_over_duration() -> None:
    # Reinertsen's point: the short urgent job goes first even though the long one loses more a week
    candidates = pd.DataFrame(
        {
            "item": ["Big bet", "Quick fix", "Nice to have"],
            "cost_of_delay": [10_000, 6_000, 500],
            "duration_weeks": [4, 1, 0.5],
        }
    )
    result = cd3(candidates)
    assert list(result.table["item"]) == ["Quick fix", "Big bet", "Nice to have"]
    assert list(result.table["cd3"]) == [6000, 2500, 1000]
    assert list(result.table["rank"]) == [1, 2, 3]
    assert "Quick fix" in result.explain()


def test_cd3_takes_days_and_types() -> None:
    candidates = pd.DataFrame(
        {"Name": ["x", "y"], "type": ["Bug", "Feature"], "duration_days": [7, 14]}
    )
    t = cd3(candidates, COD).table
    assert list(t["item"]) == ["x", "y"]
    assert list(t["cd3"]) == [2500, 2000]


@pytest.mark.parametrize(
    ("frame", "message", "row", "column"),
    [
        (
            {"item": ["a", "b"], "cost_of_delay": [1, 2], "duration_weeks": [1, 0]},
            "above zero",
            2,
            "duration_weeks",
        ),
        (
            {"item": ["a"], "cost_of_delay": ["lots"], "duration_weeks": [1]},
            "money per week",
            1,
            "cost_of_delay",
        ),
        ({"item": ["a"], "cost_of_delay": [1]}, "duration_weeks", None, None),
    ],
)
def test_cd3_errors_say_where(
    frame: dict, message: str, row: int | None, column: str | None
) -> None:
    with pytest.raises(InputError, match=message) as err:
        cd3(pd.DataFrame(frame))
    assert err.value.row == row and err.value.column == column


runner = CliRunner()


def test_cli_cd3_reads_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "candidates.csv"
    path.write_text("item,cost_of_delay,duration_weeks\nBig bet,10000,4\nQuick fix,6000,1\n")
    out = runner.invoke(app, ["cd3", str(path), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert [r["item"] for r in json.loads(out.output)] == ["Quick fix", "Big bet"]
    path.write_text("item,cost_of_delay,duration_weeks\nBig bet,10000,-4\n")
    bad = runner.invoke(app, ["cd3", str(path)])
    assert bad.exit_code == 2 and "row 1" in bad.output and "candidates.csv" in bad.output


STREAM = """
name: Priced
workflow:
  start: Ready
  finish: Done
  touch: [Dev]
  wait: [Ready, Legal Review]
steps:
  - {name: Dev, states: [Ready, Dev]}
  - {name: Legal, kind: approval, states: [Legal Review], wait_days: [7, 14]}
cost_of_delay: {currency: EUR, per_week: 1000, by_type: {Feature: 7000}}
"""


def test_cli_cost_from_data_and_from_the_map(tmp_path: Path) -> None:
    from tests.conftest import write_log
    from valuestream.workspace import Workspace

    stream = tmp_path / "stream.yaml"
    stream.write_text(STREAM)
    rows = [
        ("A", "Ready", "2026-01-05T00:00:00Z", "Feature"),
        ("A", "Dev", "2026-01-06T00:00:00Z", "Feature"),
        ("A", "Legal Review", "2026-01-07T00:00:00Z", "Feature"),
        ("A", "Done", "2026-01-14T00:00:00Z", "Feature"),
        ("B", "Ready", "2026-01-05T00:00:00Z", "Bug"),
        ("B", "Dev", "2026-01-12T00:00:00Z", "Bug"),
        ("B", "Done", "2026-01-14T00:00:00Z", "Bug"),
    ]
    ws = tmp_path / "ws.duckdb"
    Workspace(ws).import_file(
        write_log(tmp_path / "log.csv", rows, header=("item", "state", "entered_at", "type"))
    )
    out = runner.invoke(app, ["cost", "-s", str(stream), "-w", str(ws), "--format", "json"])
    assert out.exit_code == 0, out.output
    queues = {q["queue"]: q for q in json.loads(out.output)["queues"]}
    # Legal: A (a Feature) waited 7 days = 1 week x 7000; Dev: A waited 1 day (7000/7), B 7 days (1000)
    assert queues["Legal"]["cost"] == pytest.approx(7000)
    assert queues["Dev"]["cost"] == pytest.approx(1000 + 1000)
    from_map = runner.invoke(
        app,
        [
            "cost",
            "-s",
            str(stream),
            "-w",
            str(tmp_path / "none.duckdb"),
            "--arrivals",
            "2",
            "--format",
            "json",
        ],
    )
    assert from_map.exit_code == 0, from_map.output
    legal = json.loads(from_map.output)["queues"][0]
    assert legal["queue"] == "Legal" and legal["cost_per_week"] == pytest.approx(
        10.5 / 7 * 1000 * 2
    )
