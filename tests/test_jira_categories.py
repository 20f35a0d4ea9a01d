"""Stream boundaries by Jira status category or board column, from saved responses and over HTTP.

The statuses and the board are tests/data/jira's (shapes of GET /rest/api/2/status and GET
/rest/agile/1.0/board/{id}/configuration); the issues are written here with tests/http_server.py's
``jira_issue``, in the status names those files use. The board, left to right:
Backlog | To Do | In Progress | Ready for Review | Review (In Review) | Blocked | Done (Done, Closed) | Archive.
Categories: Backlog, To Do = To Do; In Progress .. Blocked = In Progress; Done, Closed, Won't Do = Done.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from http_server import FakeJira, Request, Server, jira_issue
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.sources.http import HttpClient, SourceError
from valuestream.sources.jira import JiraSource
from valuestream.workspace import Workspace, import_source

DATA = Path(__file__).resolve().parent / "data" / "jira"
T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def d(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


# Day by day (T0 = day 0):
# ABC-1: Backlog 0, To Do 1, In Progress 2, Ready for Review 3, In Review 4, Done 6.
# ABC-2: To Do 0, In Progress 1, Ready for Review 2, Closed 3.
# ABC-3: To Do 0, Won't Do 1 (a Done-category status that is on no board column).
# ABC-4: Backlog 0, In Progress 5, still there when the log ends (day 6).
HISTORIES = {
    "ABC-1": [("Backlog", d(0)), ("To Do", d(1)), ("In Progress", d(2)), ("Ready for Review", d(3)), ("In Review", d(4)), ("Done", d(6))],
    "ABC-2": [("To Do", d(0)), ("In Progress", d(1)), ("Ready for Review", d(2)), ("Closed", d(3))],
    "ABC-3": [("To Do", d(0)), ("Won't Do", d(1))],
    "ABC-4": [("Backlog", d(0)), ("In Progress", d(5))],
}


def issues() -> list[dict[str, Any]]:
    return [jira_issue(key, steps[0][1], steps) for key, steps in HISTORIES.items()]


def statuses() -> list[dict[str, Any]]:
    return json.loads((DATA / "statuses.json").read_text())


def board() -> dict[str, Any]:
    return json.loads((DATA / "board-configuration.json").read_text())


def saved(folder: Path, *, with_board: bool = True) -> Path:
    """A search page of the four issues, the statuses and (maybe) the board, as saved by hand."""
    folder.mkdir(exist_ok=True)
    fake = FakeJira(issues(), mode="server", page_max=10, embedded_max=100)
    page = fake(Request("GET", "/rest/api/2/search", {"jql": "project = ABC"}, {})).body
    (folder / "search.json").write_text(json.dumps(page))
    shutil.copy(DATA / "statuses.json", folder / "statuses.json")
    if with_board:
        shutil.copy(DATA / "board-configuration.json", folder / "board-configuration.json")
    return folder


def leads(flow: Flow) -> dict[str, float | None]:
    items = flow.items().set_index("item")
    return {k: (None if v != v else round(float(v), 6)) for k, v in items["lead_time_days"].items()}


BY_CATEGORY = """
workflow:
  start: {category: In Progress}
  finish: {category: Done}
  discarded: ["Won't Do"]
"""
BY_COLUMN = """
workflow:
  start: {column: [Ready for Review, Review]}
  finish: {column: Done}
  discarded: ["Won't Do"]
"""


def test_offline_import_records_each_status_category_and_column(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "saved")))
    with ws.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT state, category, board_column, column_order FROM state_meta ORDER BY state"
        ).fetchall()
    # Every status of statuses.json; the column and its place from the board (Won't Do is on none).
    assert rows == [
        ("Backlog", "new", "Backlog", 0),
        ("Blocked", "indeterminate", "Blocked", 5),
        ("Closed", "done", "Done", 6),
        ("Done", "done", "Done", 6),
        ("In Progress", "indeterminate", "In Progress", 2),
        ("In Review", "indeterminate", "Review", 4),
        ("Ready for Review", "indeterminate", "Ready for Review", 3),
        ("To Do", "new", "To Do", 1),
        ("Won't Do", "done", None, None),
    ]


def test_start_and_finish_by_status_category(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "saved")))
    flow = Flow.of(ws, parse_stream(BY_CATEGORY))
    # ABC-1: In Progress 2 -> Done 6 = 4 days; ABC-2: In Progress 1 -> Closed 3 = 2 days (Closed is
    # Done too); ABC-3 is discarded; ABC-4 is in progress: To Do-category time before it is out.
    assert leads(flow) == {"ABC-1": 4.0, "ABC-2": 2.0, "ABC-3": None, "ABC-4": None}
    assert flow.workflow is not None and set(flow.workflow.finish) == {"Done", "Closed"}
    assert flow.workflow.before == ("Backlog", "To Do")
    items = flow.items().set_index("item")
    assert items.loc["ABC-4", "age_days"] == 1.0  # entered In Progress on day 5; the log ends on day 6
    s = flow.summary(flow.window(d(0).date(), d(6).date()))
    assert (s["throughput"], s["discarded"], s["in_progress"]) == (2, 1, 1)


def test_start_and_finish_by_board_column(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "saved")))
    flow = Flow.of(ws, parse_stream(BY_COLUMN))
    # The stream starts in either column (the leftmost counts), and ends in the Done column.
    # ABC-1: Ready for Review 3 -> Done 6 = 3 days; ABC-2: Ready for Review 2 -> Closed 3 = 1 day;
    # ABC-4 only reached In Progress, left of the start column: it never entered the stream.
    assert leads(flow) == {"ABC-1": 3.0, "ABC-2": 1.0, "ABC-3": None}
    assert flow.workflow is not None and set(flow.workflow.finish) == {"Done", "Closed"}
    assert flow.workflow.before == ("Backlog", "To Do", "In Progress")
    s = flow.summary(flow.window(d(0).date(), d(6).date()))
    assert (s["throughput"], s["discarded"], s["in_progress"]) == (2, 1, 0)


def test_an_unknown_column_names_the_boards_columns(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "saved")))
    stream = parse_stream("workflow: {start: {column: Doing}, finish: {column: Done}}")
    with pytest.raises(InputError) as err:
        Flow.of(ws, stream)
    assert str(err.value) == (
        "workflow.start: no board column 'Doing'; the board's columns are Backlog, To Do, "
        "In Progress, Ready for Review, Review, Blocked, Done"
    )


def test_without_categories_or_a_board_the_command_says_so_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("item,state,entered_at\nA,Open,2024-03-04\nA,Done,2024-03-05\n")
    ws = tmp_path / "ws.duckdb"
    (tmp_path / "stream.yaml").write_text(BY_CATEGORY)
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(log), "-w", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["metrics", "-w", str(ws), "--stream", str(tmp_path / "stream.yaml")])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "needs the status categories" in lines[0] and "has none" in lines[0]
    # Offline without the board: categories are known, columns are not.
    jira_ws = Workspace(tmp_path / "jira.duckdb")
    import_source(jira_ws, JiraSource(site=None, offline=saved(tmp_path / "saved", with_board=False)))
    assert leads(Flow.of(jira_ws, parse_stream(BY_CATEGORY)))["ABC-1"] == 4.0
    with pytest.raises(InputError, match=r"needs the board's columns.*--board ID"):
        Flow.of(jira_ws, parse_stream(BY_COLUMN))


def test_a_workspace_from_before_state_meta_stays_readable(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "saved")))
    with duckdb.connect(str(ws.path)) as con:
        con.execute("DROP TABLE state_meta")  # as a workspace written before the table existed
    plain = parse_stream("workflow: {start: In Progress, finish: [Done, Closed], discarded: [\"Won't Do\"]}")
    # A plain start state lists nothing before the stream: ABC-1 is in from its creation, day 0 to 6.
    assert leads(Flow.of(ws, plain))["ABC-1"] == 6.0
    with pytest.raises(InputError, match="needs the status categories"):
        Flow.of(ws, parse_stream(BY_CATEGORY))
    later = Workspace(ws.path)  # the next process that writes to it adds the table
    import_source(later, JiraSource(site=None, offline=saved(tmp_path / "saved")), full=True)
    assert leads(Flow.of(later, parse_stream(BY_CATEGORY)))["ABC-1"] == 4.0


def test_a_later_import_without_the_board_keeps_its_columns(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "one")))
    import_source(ws, JiraSource(site=None, offline=saved(tmp_path / "two", with_board=False)))
    assert leads(Flow.of(ws, parse_stream(BY_COLUMN)))["ABC-1"] == 3.0


@pytest.mark.parametrize("mode", ["cloud", "server"])
def test_the_rest_client_reads_statuses_and_the_board(tmp_path: Path, mode: str) -> None:
    fake = FakeJira(issues(), mode=mode, statuses=statuses(), boards={12: board()})
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(fake) as server:
        src = JiraSource(
            site=server.url, jql="project = ABC", api=mode, board=12,
            client=HttpClient(server.url, sleep=lambda s: None, backoff=0.001),
        )  # fmt: skip
        import_source(ws, src)
        v = "3" if mode == "cloud" else "2"
        asked = [r.path for r in server.requests]
        assert f"/rest/api/{v}/status" in asked and "/rest/agile/1.0/board/12/configuration" in asked
    assert leads(Flow.of(ws, parse_stream(BY_CATEGORY))) == {"ABC-1": 4.0, "ABC-2": 2.0, "ABC-3": None, "ABC-4": None}
    assert leads(Flow.of(ws, parse_stream(BY_COLUMN))) == {"ABC-1": 3.0, "ABC-2": 1.0, "ABC-3": None}


def test_a_board_id_the_site_does_not_have_fails_and_saves_nothing(tmp_path: Path) -> None:
    fake = FakeJira(issues(), mode="cloud", statuses=statuses(), boards={12: board()})
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(fake) as server:
        src = JiraSource(
            site=server.url, jql="project = ABC", api="cloud", board=99,
            client=HttpClient(server.url, sleep=lambda s: None, backoff=0.001),
        )  # fmt: skip
        with pytest.raises(SourceError, match="HTTP 404"):
            import_source(ws, src)
    assert ws.counts()["transitions"] == 0


def test_a_jira_without_the_status_endpoint_still_has_the_current_statuses(tmp_path: Path) -> None:
    """Without /rest/api/2/status (404) the issues' own current status says its category."""
    raw = issues()
    for issue in raw:  # the status each issue is in now, with its category, as Jira embeds it
        name = issue["fields"]["status"]["name"]
        entry = next(s for s in statuses() if s["name"] == name)
        issue["fields"]["status"] = {k: entry[k] for k in ("self", "name", "id", "statusCategory")}
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(FakeJira(raw, mode="server")) as server:
        src = JiraSource(site=server.url, jql="project = ABC", api="server",
                         client=HttpClient(server.url, sleep=lambda s: None, backoff=0.001))  # fmt: skip
        import_source(ws, src)
    with ws.connect(read_only=True) as con:
        known = dict(con.execute("SELECT state, category FROM state_meta").fetchall())
    assert known == {"Done": "done", "Closed": "done", "Won't Do": "done", "In Progress": "indeterminate"}


def test_the_boundaries_are_written_back_as_the_file_gave_them() -> None:
    stream = parse_stream(BY_COLUMN)
    again = parse_stream(stream.to_yaml())
    assert again.workflow == stream.workflow
    text = parse_stream("workflow: {start: {category: in progress}, finish: {category: done}}").to_yaml()
    assert "category: In Progress" in text and "category: Done" in text


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        ("{start: {category: Doing}, finish: Done}", "workflow.start: Value error, 'Doing' is not a status category: expected To Do, In Progress or Done"),
        ("{start: {category: To Do, column: Dev}, finish: Done}", "give either a status category"),
        ("{start: A, finish: {}}", "give either a status category"),
        ("{start: A}", "workflow.finish: Value error, name the state(s) that finish an item, or {category: Done}"),
    ],
)
def test_boundary_mistakes_name_the_line(workflow: str, expected: str) -> None:
    from valuestream.errors import StreamFileError

    with pytest.raises(StreamFileError, match="line 1") as err:
        parse_stream(f"workflow: {workflow}")
    assert expected in str(err.value)


def test_two_board_configurations_in_one_folder_are_refused(tmp_path: Path) -> None:
    folder = saved(tmp_path / "saved")
    shutil.copy(DATA / "board-configuration.json", folder / "other-board.json")
    with pytest.raises(InputError, match="2 board configurations here"):
        import_source(Workspace(tmp_path / "ws.duckdb"), JiraSource(site=None, offline=folder))
