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


def _table_rows(output: str) -> dict[str, list[str]]:
    """The body rows of a compact table (one word per cell), by their first cell: the lines
    between the rule under the header and the first line that is not a row."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("─")) + 1
    rows = {}
    for line in lines[start:]:
        cells = line.split()
        if not cells or not cells[-1][0].isdigit():
            break
        rows[cells[0]] = cells[1:]
    return rows


def test_steps_table_shows_the_columns_people_read_whole(ws: Path):
    result = runner.invoke(app, ["steps"])
    assert result.exit_code == 0 and "Time per step" in result.output
    # eight columns, none cut short: before, all 21 were squeezed into "…" at a terminal's width
    assert "…" not in result.output
    for header in ("items", "progress", "median", "p85", "touch", "wait", "share"):
        assert header in result.output
    rows = _table_rows(result.output)
    # Backlog: A 1-3 Jan and B 2-4 Jan, two days each, all the stream's wait; Dev: A 3-5 Jan
    # (two days' touch), B still in it; no blocked time, so no blocked column
    assert rows["Backlog"] == ["2", "0", "2.00", "2.00", "0.00", "2.00", "1.00"]
    assert rows["Dev"] == ["1", "1", "2.00", "2.00", "2.00", "0.00", "0.00"]
    assert "blocked" not in result.output and len(max(result.output.splitlines(), key=len)) <= 80


def _imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[tuple[str, str, str]]) -> None:
    """A workspace in tmp_path (the working directory) holding ``rows``, with the conftest workflow."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", rows)
    assert runner.invoke(app, ["import", "log.csv"]).exit_code == 0


def test_steps_table_shows_blocked_time_as_part_of_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _imported(tmp_path, monkeypatch, [
        ("C", "Backlog", "2026-01-01T00:00:00Z"), ("C", "Dev", "2026-01-02T00:00:00Z"),
        ("C", "Blocked", "2026-01-03T00:00:00Z"), ("C", "Dev", "2026-01-05T00:00:00Z"),
        ("C", "Done", "2026-01-06T00:00:00Z"),
    ])  # fmt: skip
    result = runner.invoke(app, ["steps"])
    assert result.exit_code == 0 and "…" not in result.output
    assert len(max(result.output.splitlines(), key=len)) <= 80
    rows = _table_rows(result.output)
    # two days in Blocked: wait, and all of it blocked; Dev: two visits of one day, touch 2
    assert rows["Blocked"] == ["1", "0", "2.00", "2.00", "0.00", "2.00", "2.00", "0.67"]
    assert rows["Dev"] == ["1", "0", "2.00", "2.00", "2.00", "0.00", "0.00", "0.00"]
    assert "blocked: flagged or in a blocked state, part of the wait" in result.output


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


def test_a_table_wider_than_the_terminal_leaves_columns_out_and_never_cuts_a_value(monkeypatch: pytest.MonkeyPatch):
    import pandas as pd
    from rich.console import Console

    from valuestream.cli import _common

    out = io.StringIO()
    monkeypatch.setattr(_common, "console", Console(file=out, width=60, color_system=None))
    df = pd.DataFrame({
        "step": ["Legal language", "Build"],
        "note": ["waits for the lawyers every time", "ok"],
        "total_wait_days": [17040.11, 4294.18],
        "finished": ["2025-11-03", "2025-12-16"],
        "items_per_week": [26.4, 50.8],
        "value_per_day_shorter": [171231.14, 41416.24],
    })  # fmt: skip
    _common.emit(df, _common.Format.table, title="Wide")
    text = out.getvalue()
    table, note = text.split("Not shown")
    lines = table.splitlines()
    # the table is whole: its right edge is drawn on every line, nothing is cut with "…"
    assert "…" not in text and all(line.rstrip().endswith(("┓", "┃", "┩", "│", "┘")) for line in lines[1:])
    # every value shown is whole; the text with spaces wraps instead of pushing columns out
    for value in ("Legal language", "17,040.11", "4,294.18", "2025-11-03", "2025-12-16", "lawyers", "total_wait_days"):
        assert value in table
    # the columns that do not fit are the last ones, named under the table
    assert "items_per_week" not in table and "26.40" not in table
    assert " ".join(note.split()).startswith("at this width: items_per_week, value_per_day_shorter")


def test_names_that_look_like_rich_markup_print_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A state named "[/]" made Rich raise MarkupError in steps, metrics, constraint, map and
    # discover; "[bold]Review[/bold]" was printed as a bold "Review".
    _imported(tmp_path, monkeypatch, [
        ("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "[/]", "2026-01-02T00:00:00Z"),
        ("A", "[bold]Review[/bold]", "2026-01-03T00:00:00Z"), ("A", "Done", "2026-01-05T00:00:00Z"),
    ])  # fmt: skip
    for command in (["steps"], ["metrics"], ["constraint"], ["map"], ["discover"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    steps = runner.invoke(app, ["steps"]).output
    assert "[/]" in steps and "[bold]Review[/bold]" in " ".join(steps.split())
    constraint = runner.invoke(app, ["constraint"]).output
    # the longest wait, two days in "[bold]Review[/bold]", is named with its brackets
    assert "[bold]Review[/bold]" in "".join(constraint.split())
