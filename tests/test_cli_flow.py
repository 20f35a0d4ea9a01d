"""The CLI as a user types it: real files in tmp_path, real workspace, output checked."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import WORKFLOW_YAML, write_log
from typer.testing import CliRunner

from valuestream.cli import app

runner = CliRunner()
ROWS = [
    ("A", "Backlog", "2026-01-01T00:00:00Z"),
    ("A", "Dev", "2026-01-03T00:00:00Z"),
    ("A", "Done", "2026-01-05T00:00:00Z"),
    ("B", "Backlog", "2026-01-02T00:00:00Z"),
    ("B", "Dev", "2026-01-04T00:00:00Z"),
]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", ROWS)
    result = runner.invoke(app, ["import", "log.csv"])
    assert result.exit_code == 0, result.output
    assert "5 rows for 2 items" in result.output
    return tmp_path / "valuestream.duckdb"


def test_items_csv_has_the_promised_columns(ws: Path):
    result = runner.invoke(app, ["items", "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    for col in (
        "item",
        "entered",
        "first_touch",
        "finished",
        "lead_time_days",
        "cycle_time_days",
        "touch_days",
        "wait_days",
        "flow_efficiency",
        "rework",
    ):
        assert col in rows[0]
    a, b = rows
    assert (a["item"], float(a["lead_time_days"]), float(a["cycle_time_days"])) == ("A", 4.0, 2.0)
    assert b["finished"] == "" and b["lead_time_days"] == ""


def test_metrics_json(ws: Path):
    result = runner.invoke(app, ["metrics", "--format", "json"])
    data = json.loads(result.output)
    assert data["finished"] == 1 and data["lead_p50"] == 4.0 and data["flow_efficiency"] == 0.5
    assert data["in_progress"] == 1 and data["arrivals"] == 2


def test_wip_and_rates_json(ws: Path):
    wip = json.loads(runner.invoke(app, ["wip", "--format", "json"]).output)
    assert [r["wip"] for r in wip] == [1, 2, 2, 2, 1]  # A finishes at the start of 5 Jan
    cfd = json.loads(runner.invoke(app, ["wip", "--by-step", "--format", "json"]).output)
    assert {r["step"] for r in cfd} == {"Backlog", "Dev", "Done"}
    rates = json.loads(runner.invoke(app, ["rates", "--period", "day", "--format", "json"]).output)
    assert [r["throughput"] for r in rates] == [0, 0, 0, 0, 1]


def test_table_output_is_readable(ws: Path):
    result = runner.invoke(app, ["steps"])
    assert result.exit_code == 0 and "Time per step" in result.output and "Dev" in result.output


def test_user_errors_are_one_line_and_exit_2(ws: Path, tmp_path: Path):
    write_log(tmp_path / "bad.csv", [("C", "Dev", "not a time")])
    result = runner.invoke(app, ["import", "bad.csv"])
    assert result.exit_code == 2
    assert "bad.csv, line 2, row 1, column 'entered_at'" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "broken.yaml").write_text("workflow: {start: A}\n")
    result = runner.invoke(app, ["items", "--stream", "broken.yaml"])
    assert result.exit_code == 2 and "workflow.finish" in result.output


def test_demo_runs_the_main_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--dir", "d"])
    assert result.exit_code == 0, result.output
    assert (
        "Lead time" in result.output
        and "Flow efficiency" in result.output
        and "Throughput" in result.output
    )
    assert (tmp_path / "d" / "valuestream.duckdb").is_file()


def test_import_maps_columns_time_zone_and_format_from_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    write_log(
        tmp_path / "export.csv",
        [("PAY-1", "Dev", "02/03/2026 10:00")],
        header=("Key", "Status", "Changed"),
    )
    result = runner.invoke(
        app,
        [
            "import",
            "export.csv",
            "--item",
            "Key",
            "--state",
            "Status",
            "--time",
            "Changed",
            "--tz",
            "Europe/Berlin",
            "--time-format",
            "%d/%m/%Y %H:%M",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["added"] == 1
    from valuestream.workspace import Workspace

    with Workspace(tmp_path / "valuestream.duckdb").connect() as con:
        row = con.execute("SELECT item, state, epoch(entered_at) FROM transitions").fetchone()
    assert row == ("PAY-1", "Dev", 1772442000.0)  # 2 March 2026 10:00 in Berlin is 09:00 UTC


def test_import_reads_column_names_from_the_stream_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(
        WORKFLOW_YAML + "import: {columns: {item: Key, state: Status, entered_at: Changed}}\n"
    )
    write_log(
        tmp_path / "export.csv",
        [("PAY-1", "Dev", "2026-03-02T09:00:00Z")],
        header=("Key", "Status", "Changed"),
    )
    assert runner.invoke(app, ["import", "export.csv", "-q"]).exit_code == 0


# A kanban export with dates only, no rework, and a stream file with a workflow but no steps yet.
# A: Backlog 2 Mar, Dev 4 Mar, Done 6 Mar: lead 4, cycle 2, touch 2, wait 2.
# B: Backlog 3 Mar, Dev 5 Mar, Done 5 Mar (worked and finished the same day): lead 2, cycle 0.
# C: Backlog 4 Mar, Dev 9 Mar, not finished.
DATES_ONLY = "item,state,entered_at\n" + "\n".join(
    ["A,Backlog,2026-03-02", "A,Dev,2026-03-04", "A,Done,2026-03-06",
     "B,Backlog,2026-03-03", "B,Dev,2026-03-05", "B,Done,2026-03-05",
     "C,Backlog,2026-03-04", "C,Dev,2026-03-09"]
) + "\n"  # fmt: skip


def test_dates_only_log_with_a_workflow_and_no_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(DATES_ONLY)
    (tmp_path / "stream.yaml").write_text(
        "name: Plain\nworkflow: {start: Backlog, finish: Done, touch: [Dev]}\n"
    )
    assert runner.invoke(app, ["import", "events.csv"]).exit_code == 0
    items = {
        r["item"]: r
        for r in csv.DictReader(
            io.StringIO(runner.invoke(app, ["items", "--format", "csv"]).output)
        )
    }
    assert (float(items["A"]["lead_time_days"]), float(items["A"]["cycle_time_days"])) == (4, 2)
    assert (float(items["B"]["lead_time_days"]), float(items["B"]["cycle_time_days"])) == (2, 0)
    result = runner.invoke(app, ["map", "--out", "m.svg"])
    assert result.exit_code == 0, result.output
    assert "steps the data shows" in result.output
    svg = (tmp_path / "m.svg").read_text()
    assert "Backlog" in svg and "Dev" in svg
    figures = json.loads(runner.invoke(app, ["map", "--format", "json"]).output)
    # passes x time per pass over the finished items: the mean lead time, (4 + 2) / 2 = 3 days
    assert figures["totals"]["lead"] == pytest.approx(3.0)
    assert figures["totals"]["touch"] == pytest.approx(1.0)  # (2 + 0) / 2
