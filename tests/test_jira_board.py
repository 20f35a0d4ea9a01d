"""A Jira board's configuration beside saved issues: skipped by the import, read into a stream file.

tests/data/jira holds a board configuration and a statuses list in the shapes Jira's REST API
documents (GET /rest/agile/1.0/board/{id}/configuration and GET /rest/api/2/status); the saved
issues are test_jira's ABC dataset, answered by tests/http_server.py's FakeJira.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_jira import save_responses
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import load_stream, parse_stream
from valuestream.sources.jira import JiraSource, read_saved
from valuestream.sources.jira_board import read_board, starter_stream
from valuestream.workspace import Workspace, import_source

BOARD = Path(__file__).resolve().parent / "data" / "jira"


def saved_folder(tmp_path: Path) -> Path:
    """Saved issue pages with the board configuration and the statuses beside them."""
    folder = tmp_path / "saved"
    folder.mkdir()
    save_responses(folder)
    for name in ("board-configuration.json", "statuses.json"):
        shutil.copy(BOARD / name, folder / name)
    return folder


def test_offline_import_skips_and_names_what_is_not_issues(tmp_path: Path) -> None:
    folder = saved_folder(tmp_path)
    (folder / "fields.json").write_text(json.dumps({"maxResults": 50, "dashboards": []}))
    src = JiraSource(site=None, offline=folder)
    result = import_source(Workspace(tmp_path / "ws.duckdb"), src)
    assert result["items"] == 3  # ABC-1, ABC-2, ABC-3, as without the extra files
    assert {p.name: what for p, what in src.skipped} == {
        "board-configuration.json": "a board configuration",
        "statuses.json": "statuses",
        "fields.json": "not issues, a search result or a changelog page",
    }
    # A file that is meant to hold issues but has a broken one is still an error.
    (folder / "broken.json").write_text(json.dumps({"issues": [{"key": "ABC-9"}]}))
    with pytest.raises(InputError, match=r"broken\.json.*not a Jira issue"):
        read_saved(folder)


def test_a_folder_of_nothing_but_board_files_says_so(tmp_path: Path) -> None:
    for name in ("board-configuration.json", "statuses.json"):
        shutil.copy(BOARD / name, tmp_path / name)
    with pytest.raises(
        InputError, match="no Jira issues.*board-configuration.json is a board configuration"
    ):
        read_saved(tmp_path)


def test_board_columns_become_steps_and_categories_the_boundaries() -> None:
    """Backlog and To Do (category To Do) come before the stream, Done and Closed finish it, the
    four columns between are steps: work, a queue by its name, work, and blocked."""
    board = read_board(BOARD / "board-configuration.json")
    assert [c.name for c in board.columns] == [
        "Backlog", "To Do", "In Progress", "Ready for Review", "Review", "Blocked", "Done", "Archive",
    ]  # fmt: skip
    text = starter_stream(board)
    stream = parse_stream(text)
    assert [(s.name, s.kind.value, s.states) for s in stream.steps] == [
        ("In Progress", "work", ("In Progress",)),
        ("Ready for Review", "queue", ("Ready for Review",)),
        ("Review", "work", ("In Review",)),  # the column holds the status In Review
        ("Blocked", "queue", ("Blocked",)),
    ]
    wf = stream.workflow
    assert wf is not None
    assert (wf.start, wf.touch, wf.wait, wf.blocked, wf.before) == (
        "In Progress",
        ("In Progress", "In Review"),
        ("Ready for Review",),
        ("Blocked",),
        ("Backlog", "To Do"),
    )
    finish = list(wf.finish) if isinstance(wf.finish, list | tuple) else [wf.finish]
    if finish == ["Done"]:  # a workflow with one finish state names the other in a comment
        assert "also Done on the board: Closed" in text
    else:
        assert finish == ["Done", "Closed"]
    assert "Won't Do" not in text  # a status that is on no column of the board
    assert "# WIP limit on the board: 3" in text and "left out: Archive" in text


def test_init_from_the_board_then_the_saved_issues_give_hand_computed_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = saved_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    imported = runner.invoke(app, ["import", "jira", "--offline", "saved", "-w", "ws.duckdb"])
    assert imported.exit_code == 0, imported.output
    said = " ".join(imported.output.split())
    assert (
        "Skipped saved/board-configuration.json (a board configuration): start a stream file from "
        "its columns with valuestream init --from-jira-board saved/board-configuration.json."
    ) in said
    assert "Skipped saved/statuses.json (statuses)." in said
    made = runner.invoke(
        app, ["init", "board.yaml", "--from-jira-board", str(folder / "board-configuration.json")]
    )
    assert made.exit_code == 0, made.output
    flow = Flow.of(Workspace(tmp_path / "ws.duckdb"), load_stream(tmp_path / "board.yaml"))
    items = flow.items().set_index("item")
    # ABC-1: In Progress at +24 h, In Review +48, In Progress +50, In Review +72, Done +96.
    # Lead = 96 - 24 = 72 h = 3 days, all of it in touch states; one move back (rework).
    abc1 = items.loc["ABC-1"]
    assert abc1["lead_time_days"] == pytest.approx(3.0)
    assert abc1["touch_days"] == pytest.approx(3.0) and abc1["rework"] == 1
    # ABC-2 entered In Progress at +30 h and is still there; ABC-3 never left the Backlog, which
    # is before the stream. The data ends at +96 h (ABC-1's Done): ABC-2 is 66 h = 2.75 days old.
    # Its flag, raised at +31 h, was cleared at +55 h in a history the saved search page cut off,
    # so the import says so, and the flag counts as raised until the data ends: 65 h blocked.
    assert items.index.tolist() == ["ABC-1", "ABC-2"]
    abc2 = items.loc["ABC-2"]
    assert pd.isna(abc2["finished"]) and abc2["age_days"] == pytest.approx(2.75)
    assert abc2["touch_days"] == pytest.approx(1 / 24)
    assert abc2["blocked_days"] == pytest.approx(65 / 24)
    assert "Incomplete history for 1 issues (ABC-2)" in said


def test_board_errors_are_one_line_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(BOARD / "board-configuration.json", tmp_path / "board.json")
    runner = CliRunner()
    alone = runner.invoke(app, ["init", "s.yaml", "--from-jira-board", "board.json"])
    assert alone.exit_code == 2
    assert "save /rest/api/2/status as statuses.json next to it, or give --statuses FILE" in (
        " ".join(alone.output.split())
    )
    assert not (tmp_path / "s.yaml").exists()
    given = runner.invoke(
        app,
        [
            "init",
            "s.yaml",
            "--from-jira-board",
            "board.json",
            "--statuses",
            str(BOARD / "statuses.json"),
        ],
    )
    assert given.exit_code == 0, given.output
    wrong = runner.invoke(
        app, ["init", "t.yaml", "--from-jira-board", str(BOARD / "statuses.json")]
    )
    assert wrong.exit_code == 2 and "not a Jira board configuration" in wrong.output
    stray = runner.invoke(app, ["init", "u.yaml", "--statuses", "x.json"])
    assert stray.exit_code == 2 and "--statuses goes with --from-jira-board" in stray.output
