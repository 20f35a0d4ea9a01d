"""Figures from the map alone, the map beside the data, and a map discovered from data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import ISSUE_MAP
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError, StreamFileError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.streammap import compare, discover, expected_visits, map_figures
from valuestream.workspace import Workspace

T0 = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)

# Two items, in days after T0. A: Discovery 0-2, Ready 2-3, Building 3-6, Testing 6-7, Done 7.
# B goes back from Testing to Building once: Discovery 0-1, Ready 1-5, Building 5-7, Testing 7-8,
# Building 8-10, Testing 10-11, Done 11.
HISTORY = [
    ("A", "Discovery", 0), ("A", "Ready for build", 2), ("A", "Building", 3), ("A", "Testing", 6), ("A", "Done", 7),
    ("B", "Discovery", 0), ("B", "Ready for build", 1), ("B", "Building", 5), ("B", "Testing", 7),
    ("B", "Building", 8), ("B", "Testing", 10), ("B", "Done", 11),
]  # fmt: skip

MAPPED = """\
steps:
  - {name: Discovery, states: [Discovery], touch_days: 2, wait_days: 1}
  - {name: Legal, kind: approval, touch_days: 0.5, wait_days: 10}
  - {name: Build, states: [Ready for build, Building], touch_days: 3, wait_days: 1}
  - {name: QA, states: [Testing], touch_days: 1, wait_days: 0.5}
workflow: {start: Discovery, finish: Done, touch: [Discovery, Building, Testing], wait: [Ready for build]}
"""


def import_history(path: Path, rows: list[tuple[str, str, float]]) -> Workspace:
    ws = Workspace(path)
    table = pa.table(
        {
            "item": [r[0] for r in rows],
            "state": [r[1] for r in rows],
            "entered_at": pa.array(
                [T0 + dt.timedelta(days=r[2]) for r in rows], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    ws.import_table(table, source="test", location="memory")
    return ws


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    return Flow.of(import_history(tmp_path / "ws.duckdb", HISTORY), parse_stream(MAPPED))


# -- the map alone ---------------------------------------------------------------------------------


def test_the_plain_example_by_hand() -> None:
    # Rework QA -> Build at 20%: Build and QA are visited 1 / (1 - 0.2) = 1.25 times.
    # Release batches every 14 days: 14 / 2 = 7 days of wait.
    # touch = 2 + 0.5 + 4*1.25 + 1*1.25 + 0.1            = 8.85
    # wait  = 5 + (7+14)/2 + 3*1.25 + 2*1.25 + 7          = 5 + 10.5 + 3.75 + 2.5 + 7 = 28.75
    # lead  = 37.6; flow efficiency = 8.85 / 37.6 = 0.23537
    # wait low/high (legal 7 or 14) = 25.25 / 32.25; lead low/high = 34.1 / 41.1
    f = map_figures(parse_stream(ISSUE_MAP))
    t = f.totals
    assert t["touch"] == pytest.approx(8.85)
    assert t["wait"] == pytest.approx(28.75)
    assert t["lead"] == pytest.approx(37.6)
    assert t["flow_efficiency"] == pytest.approx(8.85 / 37.6)
    assert (t["wait_low"], t["wait_high"]) == (pytest.approx(25.25), pytest.approx(32.25))
    assert (t["lead_low"], t["lead_high"]) == (pytest.approx(34.1), pytest.approx(41.1))
    # efficiency extremes pair opposite ends: 8.85 / (8.85 + 32.25) and 8.85 / (8.85 + 25.25)
    assert t["flow_efficiency_low"] == pytest.approx(8.85 / 41.1)
    assert t["flow_efficiency_high"] == pytest.approx(8.85 / 34.1)
    rows = f.table.set_index("step")
    assert rows.loc["Build", "visits"] == pytest.approx(1.25)
    assert rows.loc["Discovery", "visits"] == pytest.approx(1.0)
    assert rows.loc["Release", "gate_wait"] == pytest.approx(7.0)
    assert rows.loc["Legal language", "wait_share"] == pytest.approx(10.5 / 28.75)
    assert f.table["wait_share"].sum() == pytest.approx(1.0)
    assert "37.6 days" in f.explain() and "Legal language" in f.explain()


def test_missing_estimates_count_as_zero_and_are_named() -> None:
    f = map_figures(
        parse_stream(
            "steps:\n  - {name: A, touch_days: 1}\n  - {name: B, kind: release_gate, batch_every_days: 10}\n"
        )
    )
    rows = f.table.set_index("step")
    assert rows.loc["A", "missing"] == "wait"
    assert rows.loc["B", "missing"] == "touch"  # its wait comes from the cadence
    assert f.totals["lead"] == pytest.approx(1 + 5)
    assert "No estimate yet" in f.explain()


def test_a_loop_spanning_several_steps_multiplies_each_of_them() -> None:
    s = parse_stream(
        "steps:\n  - name: A\n  - name: B\n  - name: C\n  - name: D\n  - name: E\nrework:\n  - {from: D, to: B, share: 0.5}\n"
    )
    assert expected_visits(s) == {
        "A": 1.0,
        "B": pytest.approx(2.0),
        "C": pytest.approx(2.0),
        "D": pytest.approx(2.0),
        "E": 1.0,
    }


def test_a_step_that_repeats_itself() -> None:
    s = parse_stream(
        "steps:\n  - name: A\n  - name: B\nrework:\n  - {from: B, to: B, share: 0.75}\n"
    )
    assert expected_visits(s)["B"] == pytest.approx(4.0)


@settings(max_examples=60, deadline=None)
@given(p=st.floats(0.01, 0.9), q=st.floats(0.01, 0.9))
def test_nested_loops_multiply(p: float, q: float) -> None:
    # Outer loop E -> A (share q) around an inner loop D -> C (share p): C and D are visited
    # 1/(1-p) times on each of the 1/(1-q) passes through the outer loop.
    s = parse_stream(
        "steps:\n  - name: A\n  - name: B\n  - name: C\n  - name: D\n  - name: E\n  - name: F\n"
        f"rework:\n  - {{from: D, to: C, share: {p!r}}}\n  - {{from: E, to: A, share: {q!r}}}\n"
    )
    v = expected_visits(s)
    outer = 1 / (1 - q)
    assert (
        v["A"] == pytest.approx(outer)
        and v["B"] == pytest.approx(outer)
        and v["E"] == pytest.approx(outer)
    )
    assert v["C"] == pytest.approx(outer / (1 - p)) and v["D"] == pytest.approx(outer / (1 - p))
    assert v["F"] == pytest.approx(1.0)


def test_two_loops_from_one_step_that_send_everything_back_are_refused() -> None:
    # The stream file refuses it, naming the line of the loop that tips the shares over 100%.
    with pytest.raises(StreamFileError, match="line 7: rework shares leaving 'C' add up to 110%"):
        parse_stream(
            "steps:\n  - name: A\n  - name: B\n  - name: C\nrework:\n  - {from: C, to: A, share: 0.6}\n  - {from: C, to: B, share: 0.5}\n"
        )


# -- the map meets the data ----------------------------------------------------------------------


def test_measured_beside_estimates(flow: Flow) -> None:
    # By hand: Discovery touch A 2, B 1 -> median 1.5, no wait. Build wait (Ready) A 1, B 4 ->
    # median 2.5, p85 1 + 0.85 * 3 = 3.55, total 5; touch A 3, B 2 + 2 = 4 -> median 3.5.
    # QA touch A 1, B 1 + 1 = 2 -> median 1.5.
    c = compare(parse_stream(MAPPED), flow)
    rows = c.table.set_index("step")
    assert list(c.table["step"]) == ["Discovery", "Legal", "Build", "QA"]
    assert rows.loc["Build", "items"] == 2
    assert rows.loc["Build", "wait_p50"] == pytest.approx(2.5)
    assert rows.loc["Build", "wait_p85"] == pytest.approx(3.55)
    assert rows.loc["Build", "wait_total"] == pytest.approx(5.0)
    assert rows.loc["Build", "touch_p50"] == pytest.approx(3.5)
    assert rows.loc["Discovery", "touch_p50"] == pytest.approx(1.5)
    assert rows.loc["QA", "touch_p50"] == pytest.approx(1.5)
    # The legal step has no tracker state: it keeps its estimate and says so.
    assert rows.loc["Legal", "basis"] == "estimate" and not rows.loc["Legal", "flag"]
    assert rows.loc["Legal", "est_wait"] == 10
    # Build waits 2.5 days against an estimate of 1: (2.5 + 1/24) / (1 + 1/24) = 2.44 > 2.
    assert rows.loc["Build", "flag"] and "wait measured 2.4x" in rows.loc["Build", "note"]
    assert rows.loc["Build", "wait_ratio"] == pytest.approx((2.5 + 1 / 24) / (1 + 1 / 24))
    assert not rows.loc["Build", "touch_ratio"] > 2  # 3.5 against 3 agrees
    assert "Legal" in c.explain()


def test_the_factor_decides_what_is_flagged(flow: Flow) -> None:
    loose = compare(parse_stream(MAPPED), flow, factor=3).table.set_index("step")
    assert not loose.loc["Build", "flag"]  # 2.44x is within 3x
    with pytest.raises(InputError):
        compare(parse_stream(MAPPED), flow, factor=1)


def test_states_not_on_the_map_show_as_data_only(tmp_path: Path) -> None:
    ws = import_history(tmp_path / "ws.duckdb", HISTORY)
    s = parse_stream(
        MAPPED.replace("[Ready for build, Building]", "[Building]").replace(
            ", wait: [Ready for build]", ""
        )
    )
    c = compare(s, Flow.of(ws, s))
    rows = c.table.set_index("step")
    assert rows.loc["Ready for build", "basis"] == "data only"
    assert "not on the map" in c.explain()


def test_discovered_map_has_the_usual_order_and_rework_paths(flow: Flow) -> None:
    d = discover(flow)
    assert list(d.steps["step"]) == ["Discovery", "Build", "QA"]
    assert list(d.steps.set_index("step").loc["Build", "states"]) == ["Building", "Ready for build"]
    [loop] = d.rework.to_dict(orient="records")
    # moves out of QA: A -> Done, B -> Build, B -> Done: one of three goes back.
    assert (loop["from_step"], loop["to_step"], loop["moves"], loop["items"]) == (
        "QA",
        "Build",
        1,
        1,
    )
    assert loop["share"] == pytest.approx(1 / 3)
    drafted = d.to_stream()
    assert [r.from_step for r in drafted.rework] == ["QA"]
    # Per pass and passes per finished item: the draft's lead time is the measured mean lead time.
    lead = flow.items()["lead_time_days"].dropna().mean()
    assert map_figures(drafted).totals["lead"] == pytest.approx(lead, rel=1e-3)


def test_discovery_from_raw_states_without_a_stream(tmp_path: Path) -> None:
    d = discover(Flow.of(import_history(tmp_path / "ws.duckdb", HISTORY)))
    assert list(d.steps["step"]) == ["Discovery", "Ready for build", "Building", "Testing"]
    paths = {(r.from_step, r.to_step): r.moves for r in d.rework.itertuples()}
    assert paths == {("Testing", "Building"): 1}


# -- the command ----------------------------------------------------------------------------------


def test_map_json_prints_per_step_and_total_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("stream.yaml").write_text(ISSUE_MAP)
    result = CliRunner().invoke(app, ["map", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["lead"] == pytest.approx(37.6)
    assert [r["step"] for r in data["steps"]] == [
        "Discovery",
        "Legal language",
        "Build",
        "QA",
        "Release",
    ]
    assert data["comparison"] is None and data["constraint"] == "Legal language"
    assert not Path("valuestream.duckdb").exists()  # looking at a map creates no workspace


def test_map_with_data_flags_disagreements_in_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    import_history(tmp_path / "valuestream.duckdb", HISTORY)
    Path("stream.yaml").write_text(MAPPED)
    result = CliRunner().invoke(app, ["map", "--format", "csv", "--factor", "3"])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.strip().splitlines()
    assert "wait_p85" in header and len(lines) == 4
    result = CliRunner().invoke(app, ["discover", "--format", "json"])
    assert json.loads(result.output)["rework"][0]["to_step"] == "Build"


def test_init_writes_the_starter_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    Path("stream.yaml").write_text(Path("stream.yaml").read_text() + "\n# mine\n")
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 2 and "--force" in again.output
    assert "# mine" in Path("stream.yaml").read_text()
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
    assert "# mine" not in Path("stream.yaml").read_text()


def test_a_bad_stream_file_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("stream.yaml").write_text("steps:\n  - name: Build\n  - name: Build\n")
    result = CliRunner().invoke(app, ["map"])
    assert result.exit_code == 2
    assert (
        "line 3" in result.output
        and "duplicate" in result.output
        and "Traceback" not in result.output
    )


def test_a_draft_with_steps_no_finished_item_passed_pastes_back(tmp_path: Path) -> None:
    """Real logs (the helpdesk log) hold states only unfinished items are in, and paths taken once
    in thousands: the draft gives them 0 visits (no loop multiplies them) and still validates, and
    its lead time is the measured mean."""
    rows = [
        ("A", "Todo", 0), ("A", "Doing", 1), ("A", "Done", 4),
        ("B", "Todo", 0), ("B", "Doing", 2), ("B", "Todo", 3), ("B", "Doing", 4), ("B", "Done", 6),
        ("C", "Todo", 1), ("C", "Doing", 2), ("C", "Done", 3),
        ("D", "Todo", 2), ("D", "Parked", 3),  # unfinished, in a state no finished item visited
    ]  # fmt: skip
    ws = import_history(tmp_path / "ws.duckdb", rows)
    workflow = parse_stream("workflow: {start: Todo, finish: Done, touch: [Doing], wait: [Todo, Parked]}")
    draft = discover(Flow.of(ws, workflow)).to_stream()
    parked = next(s for s in draft.steps if s.name == "Parked")
    assert parked.visits == 0
    pasted = parse_stream(draft.to_yaml())
    # lead times: A 4, B 6, C 2 -> mean 4.0 days
    assert map_figures(pasted).totals["lead"] == pytest.approx(4.0, abs=0.01)


def test_complete_and_accurate_from_the_loops_and_from_the_moves(flow: Flow) -> None:
    from valuestream.streammap import complete_and_accurate

    looped = parse_stream(
        MAPPED
        + "rework:\n  - {from: QA, to: Build, share: 0.25}\n  - {from: Build, to: Discovery, share: 0.1}\n"
    )
    pca = complete_and_accurate(looped, flow).table.set_index("step")
    # Estimated: a step's %C&A is 1 - the share its next step sends back.
    # Discovery -> Legal sends nothing back: 100%; Legal -> Build sends 10% back: 90%;
    # Build -> QA sends 25% back: 75%; QA is last (its customer is off the map): no figure.
    assert pca["judged_by"].tolist()[:3] == ["Legal", "Build", "QA"]
    assert pca["estimated"].tolist()[:3] == pytest.approx([1.0, 0.9, 0.75])
    assert pd.isna(pca.loc["QA", "estimated"])
    # Measured: moves out of QA are Testing -> Building once (B) and Testing -> Done twice: 1/3
    # back, so Build's %C&A is 2/3; out of Build 3 moves, none back: Legal's is 100%. Legal has
    # no tracker states, so Discovery's (judged by Legal) has no measured figure.
    assert pca.loc["Build", "measured"] == pytest.approx(2 / 3)
    assert pca.loc["Legal", "measured"] == pytest.approx(1.0)
    assert pd.isna(pca.loc["Discovery", "measured"])
    result = complete_and_accurate(looped, flow)
    assert result.rolled_estimated == pytest.approx(1.0 * 0.9 * 0.75)
    assert result.rolled_measured == pytest.approx(2 / 3)
    assert "68%" in result.explain() and "67%" in result.explain()


def test_map_prints_complete_and_accurate(tmp_path: Path) -> None:
    stream = tmp_path / "stream.yaml"
    stream.write_text(
        "steps:\n  - {name: A, touch_days: 1}\n  - {name: B, touch_days: 1}\n  - {name: C, touch_days: 1}\n"
        "rework:\n  - {from: C, to: A, share: 0.4}\n"
    )
    result = CliRunner().invoke(
        app, ["map", "--stream", str(stream), "--workspace", str(tmp_path / "w.duckdb"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["complete_accurate"]
    # B is judged by C, which sends 40% back: 60%; A is judged by B: 100%; rolled 60%.
    assert [s["estimated"] for s in data["steps"][:2]] == pytest.approx([1.0, 0.6])
    assert data["rolled_estimated"] == pytest.approx(0.6)
