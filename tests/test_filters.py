"""Filters and breakdowns by imported item attributes, on the API and every analysis command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace

runner = CliRunner()
HEADER = ("item", "state", "entered_at", "type", "labels", "class_of_service")
D = "2026-03-{:02d}T00:00:00Z".format
# Bugs A (lead 4) and C (lead 6), story B (lead 8), D an expedite bug with a quote in its type.
ROWS = [
    ("A", "Open", D(2), "Bug", "ui", "standard"), ("A", "Dev", D(3), "Bug", "ui", "standard"),
    ("A", "Done", D(6), "Bug", "ui", "standard"),
    ("B", "Open", D(2), "Story", "api", "standard"), ("B", "Dev", D(4), "Story", "api", "standard"),
    ("B", "Done", D(10), "Story", "api", "standard"),
    ("C", "Open", D(3), "Bug", "api", "expedite"), ("C", "Done", D(9), "Bug", "api", "expedite"),
    ("D", "Open", D(4), "O'Brien bug", "", "expedite"),
]
STREAM = "workflow: {start: Open, finish: Done, touch: [Dev]}\n"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(STREAM)
    workspace = Workspace(tmp_path / "valuestream.duckdb")
    workspace.import_file(write_log(tmp_path / "log.csv", ROWS, HEADER))
    return workspace


def leads(flow: Flow) -> dict[str, float]:
    done = flow.items().dropna(subset=["lead_time_days"])
    return dict(zip(done["item"], done["lead_time_days"], strict=True))


def test_the_api_filters_by_type_attribute_and_value_lists(ws):
    stream = parse_stream(STREAM)
    assert leads(Flow.of(ws, stream, filters={"type": "Bug"})) == {"A": 4, "C": 6}
    assert leads(Flow.of(ws, stream, filters=["class_of_service=expedite"])) == {"C": 6}
    # Two values of one key: either will do; two keys: both must match.
    assert leads(Flow.of(ws, stream, filters={"type": ["Bug", "Story"]})) == {"A": 4, "B": 8, "C": 6}
    assert leads(Flow.of(ws, stream, filters=[("type", "Bug"), ("labels", "api")])) == {"C": 6}
    # A value is data, never SQL: a quote in it is just a character.
    assert Flow.of(ws, stream, filters={"type": "O'Brien bug"}).items()["item"].tolist() == ["D"]


def test_an_unknown_key_lists_the_known_ones(ws):
    with pytest.raises(InputError, match="no item attribute 'colour'; the known keys are type, title, source, "):
        Flow.of(ws, parse_stream(STREAM), filters={"colour": "red"})


def test_breakdown_by_an_attribute(ws):
    groups = Flow.of(ws, parse_stream(STREAM)).by("type")
    assert list(groups) == ["Bug", "O'Brien bug", "Story"]  # most items first, then by name
    assert leads(groups["Bug"]) == {"A": 4, "C": 6} and leads(groups["Story"]) == {"B": 8}


def test_cli_filter_on_metrics_and_a_clear_line_for_unknown_keys(ws):
    result = runner.invoke(app, ["metrics", "--filter", "type=Bug", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["finished"], data["lead_p50"], data["filters"]) == (2, 5.0, "type = Bug")
    result = runner.invoke(app, ["items", "--filter", "colour=red"])
    assert result.exit_code == 2
    assert "no item attribute 'colour'" in result.output and "class_of_service" in result.output
    result = runner.invoke(app, ["items", "--filter", "typeBug"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output


def test_cli_by_gives_one_row_per_group(ws):
    result = runner.invoke(app, ["metrics", "--by", "labels", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["labels"]: r for r in json.loads(result.stdout)}
    # api: B (8) and C (6); ui: A (4).
    assert (rows["api"]["finished"], rows["api"]["lead_p50"]) == (2, 7.0)
    assert (rows["ui"]["finished"], rows["ui"]["lead_p50"]) == (1, 4.0)
    result = runner.invoke(app, ["sle", "--by", "type", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert {r["type"] for r in json.loads(result.stdout)} == {"Bug", "Story", "O'Brien bug"}


@pytest.mark.parametrize(
    "command",
    [["items"], ["steps"], ["wip"], ["rates"], ["sle"], ["aging"], ["forecast", "when", "-n", "1"],
     ["pbc", "lead"], ["constraint"], ["check", "--dry-run"]],
)
def test_every_analysis_command_takes_filter(ws, command):
    result = runner.invoke(app, [*command, "--filter", "colour=red"])
    assert result.exit_code == 2 and "no item attribute 'colour'" in result.output, result.output


def test_report_filtered_says_so(ws, tmp_path):
    result = runner.invoke(app, ["report", "--filter", "type=Bug", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "items where type = Bug" in page and "calendar days, elapsed" in page


def test_a_failed_import_leaves_no_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_log(tmp_path / "bad.csv", [("A", "Dev", "not a time")])
    result = runner.invoke(app, ["import", "bad.csv"])
    assert result.exit_code == 2 and not (tmp_path / "valuestream.duckdb").exists()
    assert not (tmp_path / "valuestream.duckdb.wal").exists()


def test_an_empty_workspace_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Workspace(tmp_path / "valuestream.duckdb").ensure()
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 2
    assert "nothing is imported" in result.output and "valuestream import FILE" in result.output
