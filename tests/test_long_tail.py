"""Pictures of huge inputs stay small and say what they left out.

A discovered map of a log with more states than a picture holds draws the states most items pass
and one step "other (N states)" for the rest, and says so on the picture; a scatterplot of more
items than it can show draws every k-th and says so, its percentiles still over every item.
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
