"""Connectors against a real local HTTP server that never answers, or answers in the wrong shape.

Every case ends in one line naming the address and the field, exit code 2, and the workspace as
it was; a silent server is given up on after ``--timeout`` seconds, and what we wait for is told
to the progress display.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from conftest import workspace_tables
from http_server import Reply, Request, Server, gh_time
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.sources.http import HttpClient, SourceError
from valuestream.workspace import Workspace

runner = CliRunner()
ENV = {"JIRA_TOKEN": "t0ken-for-tests", "GITHUB_TOKEN": "gh-t0ken-for-tests"}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "log.csv").write_text("item,state,entered_at\nA,Dev,2026-01-01T00:00:00Z\n")
    path = tmp_path / "ws.duckdb"
    assert runner.invoke(app, ["import", str(tmp_path / "log.csv"), "-w", str(path), "-q"]).exit_code == 0
    return path


def _answer(body: Any, path: str) -> Any:
    def reply(req: Request) -> Reply:
        return Reply(200, body) if req.path.startswith(path) else Reply(404, {})

    return reply


def _jira(server: Server, ws: Path, *more: str) -> Any:
    args = ["import", "jira", "--site", server.url, "--api", "server", "--jql", "project = ABC", "-w", str(ws), *more]
    return runner.invoke(app, args, env=ENV)


def _error(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    return " ".join(result.output[result.output.index("error:") :].split())


def _issue(**change: Any) -> dict[str, Any]:
    issue = {"key": "ABC-1", "fields": {"created": "2025-03-04T00:00:00.000+0000", "status": {"name": "To Do"}}}
    issue.update(change)
    return issue


JIRA_SHAPES = {
    "issues not a list": ({"issues": "ABC-1"}, "no list of issues"),
    "issue is text": ({"issues": ["ABC-1"], "total": 1}, "issues[0]: an issue is text"),
    "fields is a list": ({"issues": [_issue(fields=[])], "total": 1}, "ABC-1: 'fields' is a list"),
    "created is a number": ({"issues": [_issue(fields={"created": 5})], "total": 1}, "ABC-1: fields.created is a number"),
    "changelog is text": ({"issues": [_issue(changelog="none")], "total": 1}, "ABC-1: 'changelog' is text"),
    "a history is text": (
        {"issues": [_issue(changelog={"histories": ["x"]})], "total": 1},
        "changelog.histories[0] is text",
    ),
    "items not objects": (
        {"issues": [_issue(changelog={"histories": [{"created": "2025-03-05T00:00:00.000+0000", "items": ["status"]}]})], "total": 1},
        "histories[0].items is not a list of objects",
    ),
    "total is text": ({"issues": [_issue()], "total": "many"}, "'total' is text"),
}


@pytest.mark.parametrize("case", list(JIRA_SHAPES))
def test_a_jira_answer_of_the_wrong_shape_names_the_url_and_field(ws: Path, case: str):
    body, words = JIRA_SHAPES[case]
    before = workspace_tables(Workspace(ws))
    with Server(_answer(body, "/rest/api/2/search")) as server:
        line = _error(_jira(server, ws))
    assert f"{server.url}/rest/api/2/search" in line and words in line, line
    assert workspace_tables(Workspace(ws)) == before


def _gh_issue(**change: Any) -> dict[str, Any]:
    when = gh_time(dt.datetime(2025, 3, 4, tzinfo=dt.UTC))
    issue = {"number": 1, "title": "x", "created_at": when, "updated_at": when, "state": "open", "labels": []}
    issue.update(change)
    return issue


GITHUB_SHAPES = {
    "an entry is text": (["#1"], "entry 0 is str"),
    "labels is text": ([_gh_issue(labels="bug")], "#1: 'labels' is str"),
    "number is text": ([_gh_issue(number="1")], "number is str"),
    "user is a list": ([_gh_issue(user=["ana"])], "#1: 'user' is list"),
}


@pytest.mark.parametrize("case", list(GITHUB_SHAPES))
def test_a_github_answer_of_the_wrong_shape_names_the_url_and_field(ws: Path, case: str):
    body, words = GITHUB_SHAPES[case]
    before = workspace_tables(Workspace(ws))
    with Server(_answer(body, "/repos/o/r/issues")) as server:
        result = runner.invoke(app, ["import", "github", "--repo", "o/r", "--api-url", server.url, "-w", str(ws)], env=ENV)
        line = _error(result)
    assert "/repos/o/r/issues" in line and words in line, line
    assert workspace_tables(Workspace(ws)) == before


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(ws: Path):
    before = workspace_tables(Workspace(ws))
    with Server(lambda req: Reply(200, {"issues": []}, delay=6)) as server:
        line = _error(_jira(server, ws, "--timeout", "1.5"))
    assert f"GET {server.url}/rest/api/2/search" in line
    assert "no answer within 1.5 s" in line and "--timeout" in line
    assert workspace_tables(Workspace(ws)) == before


def test_the_timeout_option_is_bounded(ws: Path):
    with Server(_answer({"issues": []}, "/rest")) as server:
        result = _jira(server, ws, "--timeout", "0")
    assert result.exit_code == 2 and "--timeout" in result.output


def test_what_the_client_waits_for_is_told(tmp_path: Path):
    told: list[str] = []
    with Server(_answer({"ok": True}, "/x")) as server:
        server.fail("/x", Reply(503, {}), Reply(503, {}))
        http = HttpClient(server.url, backoff=0.001, sleep=lambda s: None, on_wait=told.append)
        data, _ = http.get_json("/x")
        http.close()
    assert data == {"ok": True}
    assert told[0] == f"waiting for GET {server.url}/x"
    assert f"waiting for GET {server.url}/x (attempt 3 of 5)" in told
    assert any("server error HTTP 503, trying again" in t for t in told)


def test_a_retry_wait_longer_than_the_time_left_gives_up_at_once():
    slept: list[float] = []
    with Server(_answer({}, "/x")) as server:
        server.fail("/x", Reply(429, {}, {"Retry-After": "300"}))
        http = HttpClient(server.url, sleep=slept.append, total_timeout=60)
        with pytest.raises(SourceError, match="no answer within 60 s .rate limited"):
            http.get_json("/x")
        http.close()
    assert slept == []
