"""Small histories still speak: aging, service levels and forecasts show what they can and say
what is missing instead of refusing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.workspace import Workspace

runner = CliRunner()
STREAM = "workflow: {start: Open, finish: Done, touch: [Dev]}\n"
D = "2026-03-{:02d}T00:00:00Z".format


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(STREAM)

    def load(rows):
        Workspace(tmp_path / "valuestream.duckdb").import_file(write_log(tmp_path / "log.csv", rows))

    return load


def test_aging_with_nothing_finished_shows_the_ages(place):
    # X entered on the 1st, Y on the 5th; the last event (as-of) is the 6th: ages 5 and 1.
    place([("X", "Open", D(1)), ("X", "Dev", D(2)), ("Y", "Open", D(5)), ("Y", "Dev", D(6))])
    result = runner.invoke(app, ["aging", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["service_level"] is None and "no finished items" in data["missing"]
    assert [(r["item"], r["age_days"], r["step"]) for r in data["items"]] == [("X", 5.0, "Dev"), ("Y", 1.0, "Dev")]


def test_two_finished_items_give_a_provisional_expectation_and_bands(place):
    # A: lead 3 (1 -> 4), B: lead 5 (1 -> 6); C in progress since the 2nd, as-of the 6th: age 4.
    place([("A", "Open", D(1)), ("A", "Done", D(4)), ("B", "Open", D(1)), ("B", "Done", D(6)),
           ("C", "Open", D(2)), ("C", "Dev", D(3))])
    result = runner.invoke(app, ["sle", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 85% of 2 items: the ceil(1.7) = 2nd smallest, 5 days.
    assert data["days"] == 5 and "only 2 finished items" in data["missing"]
    result = runner.invoke(app, ["aging"])
    assert result.exit_code == 0, result.output
    assert "Provisional: only 2 finished items" in result.output
    result = runner.invoke(app, ["forecast", "when", "-n", "2", "--seed", "1"])
    assert result.exit_code == 0 and "Provisional: only 6 days of history" in result.output
