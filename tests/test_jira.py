"""The Jira connector against a local server answering in Jira's documented shapes (tests/http_server.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import workspace_tables, workspace_transitions
from http_server import FakeJira, Reply, Request, Server, jira_issue
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.sources.http import Credentials, HttpClient, SourceError, load_credentials
from valuestream.sources.jira import JiraSource, with_since
from valuestream.workspace import Workspace, import_source

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
EMAIL, TOKEN = "ana@example.com", "s3cr3t-jira-TOKEN-7f2a"
CREDS = Credentials(user=EMAIL, secret=TOKEN)
AUTH = CREDS.headers()["Authorization"]


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


# ABC-1 has five status changes (more than the two Jira embeds, so its changelog is read in three
# pages of two); ABC-2 was flagged for a day, ABC-3 is flagged still. Unknown fields everywhere.
ABC1 = [
    ("To Do", T0),
    ("In Progress", h(24)),
    ("In Review", h(48)),
    ("In Progress", h(50)),
    ("In Review", h(72)),
    ("Done", h(96)),
]
ABC2 = [("To Do", T0), ("In Progress", h(30))]
ABC3 = [("Backlog", T0)]


def dataset() -> list[dict[str, Any]]:
    issues = [
        jira_issue("ABC-1", h(-1), ABC1, labels=["legal"], extra_fields={"customfield_10016": 5.0}),
        jira_issue(
            "ABC-2",
            h(0),
            ABC2,
            issue_type="Bug",
            flags=[(h(31), h(55))],
            extra_fields={"customfield_10016": None},
        ),
        jira_issue(
            "ABC-3", h(1), ABC3, flags=[(h(2), None)], extra_fields={"customfield_10016": 3.0}
        ),
    ]
    for i in issues:  # fields and keys a newer Jira may send that we have never heard of
        i["fields"]["customfield_99999"] = {"weird": [1, 2]}
        i["renderedFields"] = {}
        for hist in i["_histories"]:
            hist["historyMetadata"] = {"type": "myplugin:type"}
            for item in hist["items"]:
                item["tmpFromAccountId"] = None
    return issues


EXPECTED = {
    "ABC-1": [("To Do", h(-1))] + ABC1[1:],
    "ABC-2": [("To Do", h(0))] + ABC2[1:],
    "ABC-3": [("Backlog", h(1))],
}


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(server: Server, sleeps: list[float], **kw: Any) -> HttpClient:
    return HttpClient(
        server.url,
        credentials=kw.pop("credentials", CREDS),
        sleep=sleeps.append,
        backoff=0.001,
        **kw,
    )




def jira(server: Server, sleeps: list[float], mode: str = "cloud", **kw: Any) -> JiraSource:
    return JiraSource(
        site=server.url,
        jql="project = ABC",
        api=mode,
        client=client(server, sleeps, timeout=kw.pop("timeout", 5.0)),
        **kw,
    )


@pytest.mark.parametrize("mode", ["cloud", "server"])
def test_reads_every_page_and_the_whole_changelog(
    tmp_path: Path, sleeps: list[float], mode: str
) -> None:
    fake = FakeJira(dataset(), mode=mode, auth=AUTH)
    ws = Workspace(tmp_path / "ws.duckdb")
    progress: list[tuple[int, int | None]] = []
    with Server(fake) as server:
        result = import_source(
            ws,
            jira(server, sleeps, mode, fields=["Story Points"]),
            progress=lambda d, t: progress.append((d, t)),
        )
        paths = [r.path for r in server.requests]
    assert workspace_transitions(ws) == EXPECTED
    assert result["items"] == 3
    v = "3" if mode == "cloud" else "2"
    # two search pages (page size capped at 2 by the server), the truncated changelog in 3 pages
    assert (
        paths.count(f"/rest/api/{v}/search/jql" if mode == "cloud" else "/rest/api/2/search") == 2
    )
    assert paths.count(f"/rest/api/{v}/issue/ABC-1/changelog") == 3
    assert progress[-1] == (3, 3)
    assert progress[1] == (2, 3)
    with ws.connect(read_only=True) as con:
        flags = con.execute(
            "SELECT item, raised_at, cleared_at FROM flags ORDER BY item"
        ).fetchall()
        items = {
            r[0]: r[1:] for r in con.execute("SELECT item, type, attributes FROM items").fetchall()
        }
    assert [(i, a.astimezone(UTC), b and b.astimezone(UTC)) for i, a, b in flags] == [
        ("ABC-2", h(31), h(55)),
        ("ABC-3", h(2), None),
    ]
    assert items["ABC-2"][0] == "Bug"
    attrs = json.loads(items["ABC-1"][1])
    assert (
        attrs["labels"] == ["legal"] and attrs["Story Points"] == 5.0 and attrs["status"] == "Done"
    )


def test_data_center_without_changelog_endpoint_reads_the_issue(
    tmp_path: Path, sleeps: list[float]
) -> None:
    fake = FakeJira(dataset(), mode="server", auth=AUTH, changelog_endpoint=False)
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(fake) as server:
        import_source(ws, jira(server, sleeps, "server"))
        paths = [r.path for r in server.requests]
    assert workspace_transitions(ws) == EXPECTED
    assert "/rest/api/2/issue/ABC-1" in paths


def test_second_run_reads_only_what_changed(tmp_path: Path, sleeps: list[float]) -> None:
    fake = FakeJira(dataset(), mode="cloud", auth=AUTH)
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(fake) as server:
        first = import_source(ws, jira(server, sleeps))
        assert first["since"] is None
        now = dt.datetime.now(UTC).replace(microsecond=0)
        fake.issues[1] = jira_issue(
            "ABC-2", h(0), [*ABC2, ("Done", now)], issue_type="Bug", updated=now
        )
        server.requests.clear()
        second = import_source(ws, jira(server, sleeps))
        jqls = [r.query["jql"] for r in server.requests if r.path == "/rest/api/3/search/jql"]
        before = workspace_tables(ws)
        third = import_source(ws, jira(server, sleeps))
        after = workspace_tables(ws)
    assert second["items"] == 1 and second["since"] is not None
    assert jqls and all('updated >= "' in q for q in jqls)
    assert workspace_transitions(ws)["ABC-2"] == [*EXPECTED["ABC-2"], ("Done", now)]
    assert workspace_transitions(ws)["ABC-1"] == EXPECTED["ABC-1"]
    # the third run re-reads only what changed within the safety overlap, and changes nothing
    assert third["items"] <= 1 and third["added"] == third["removed"] == 0
    for table in ("transitions", "flags", "items"):
        assert before[table] == after[table]


def test_since_is_written_in_the_users_time_zone() -> None:
    since = dt.datetime(2024, 7, 1, 22, 30, tzinfo=UTC)
    assert (
        with_since("project = X ORDER BY rank", since, "Europe/Berlin")
        == '(project = X) AND updated >= "2024/07/02 00:30" ORDER BY rank'
    )
    assert with_since("project = X", None, "UTC") == "project = X ORDER BY created ASC"


def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, sleeps: list[float]) -> None:
    with Server(FakeJira(dataset(), auth=AUTH)) as server:
        server.fail(
            "/rest/api/3/search/jql",
            Reply(429, {"errorMessages": ["Rate limit exceeded"]}, {"Retry-After": "7"}),
        )
        import_source(Workspace(tmp_path / "ws.duckdb"), jira(server, sleeps))
    assert 7.0 in sleeps


def test_server_errors_and_timeouts_are_retried(tmp_path: Path, sleeps: list[float]) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(FakeJira(dataset(), auth=AUTH)) as server:
        server.fail(
            "/rest/api/3/issue/ABC-1/changelog",
            Reply(503, {"message": "down"}),
            Reply(200, {}, delay=0.6),
        )
        import_source(ws, jira(server, sleeps, timeout=0.2))
    assert workspace_transitions(ws) == EXPECTED
    assert len(sleeps) == 2  # one backoff per failed attempt


FAILURES = {
    "401": (
        "/rest/api/3/search/jql",
        [Reply(401, {"errorMessages": ["Unauthorized"]})],
        "HTTP 401",
    ),
    "403": ("/rest/api/3/search/jql", [Reply(403, {"errorMessages": ["Forbidden"]})], "HTTP 403"),
    "404": (
        "/rest/api/3/issue/ABC-1/changelog",
        [Reply(404, {"errorMessages": ["gone"]})],
        "HTTP 404",
    ),
    "malformed JSON": (
        "/rest/api/3/search/jql",
        [Reply(200, raw=b'{"issues": [ {"key": "ABC-1", ')],
        "not JSON",
    ),
    "HTML error page": (
        "/rest/api/3/search/jql",
        [Reply(200, raw=b"<html>proxy login</html>", headers={"content-type": "text/html"})],
        "text/html",
    ),
    "no issues list": (
        "/rest/api/3/search/jql",
        [Reply(200, {"unexpected": True})],
        "no list of issues",
    ),
    "5xx every time": ("/rest/api/3/search/jql", [Reply(502, {})] * 3, "gave up after 3 attempts"),
    "timeouts every time": ("/rest/api/3/search/jql", [Reply(200, {}, delay=0.5)] * 3, "timed out"),
    "429 for too long": (
        "/rest/api/3/search/jql",
        [Reply(429, {}, {"Retry-After": "86400"})],
        "rate limited",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_import_leaves_the_workspace_as_it_was(
    tmp_path: Path, sleeps: list[float], case: str
) -> None:
    prefix, replies, message = FAILURES[case]
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(FakeJira(dataset()[:1], auth=AUTH)) as server:
        import_source(ws, jira(server, sleeps))  # something already there
        before = workspace_tables(ws)
        server.app = FakeJira(dataset(), auth=AUTH)
        server.fail(prefix, *replies)
        src = JiraSource(
            site=server.url,
            jql="project = ABC",
            api="cloud",
            client=client(server, sleeps, timeout=0.2, attempts=3, max_wait=600),
        )
        with pytest.raises(SourceError, match=message) as err:
            import_source(ws, src, full=True)
    assert workspace_tables(ws) == before
    assert TOKEN not in str(err.value) and EMAIL not in str(err.value)


def test_an_interrupted_run_continues_where_it_stopped(tmp_path: Path, sleeps: list[float]) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(FakeJira(dataset(), auth=AUTH)) as server:
        # the first page arrives, the second fails until we give up
        server.fail("/rest/api/3/issue/ABC-1/changelog", *[Reply(500, {})] * 2)
        src = JiraSource(
            site=server.url,
            jql="project = ABC",
            api="cloud",
            client=client(server, sleeps, attempts=2),
        )
        with pytest.raises(SourceError):
            import_source(ws, src)
        assert workspace_transitions(ws) == {}
        partial = ws.path.with_name(ws.path.name + ".partial")
        assert any(partial.rglob("search-00000.json"))
        server.requests.clear()
        result = import_source(ws, jira(server, sleeps))
        first_pages = [
            r
            for r in server.requests
            if r.path == "/rest/api/3/search/jql" and "nextPageToken" not in r.query
        ]
    assert first_pages == []  # the saved first page was reused, not fetched again
    assert result["items"] == 3 and workspace_transitions(ws) == EXPECTED
    assert not partial.exists() or not any(partial.iterdir())


def save_responses(folder: Path, mode: str = "server") -> None:
    """What a user with no API access for the tool saves from the browser or curl."""
    fake = FakeJira(dataset(), mode=mode, changelog_page=100)
    for n, start in enumerate((0, 2)):
        page = fake(
            Request(
                "GET", "/rest/api/2/search", {"jql": "project = ABC", "startAt": str(start)}, {}
            )
        ).body
        (folder / f"page{n}.json").write_text(json.dumps(page))
    log = fake(Request("GET", "/rest/api/2/issue/ABC-1/changelog", {"maxResults": "100"}, {}))
    (folder / "ABC-1.changelog.json").write_text(json.dumps(log.body))


def test_saved_responses_import_offline(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    save_responses(folder)
    ws = Workspace(tmp_path / "ws.duckdb")
    result = import_source(ws, JiraSource(site=None, offline=folder))
    assert workspace_transitions(ws) == EXPECTED and result["items"] == 3
    (folder / "broken.json").write_text("{ not json")
    with pytest.raises(InputError, match="broken.json"):
        import_source(ws, JiraSource(site=None, offline=folder), full=True)


def test_offline_without_the_full_changelog_keeps_what_was_embedded(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    save_responses(folder)
    (folder / "ABC-1.changelog.json").unlink()
    ws = Workspace(tmp_path / "ws.duckdb")
    import_source(ws, JiraSource(site=None, offline=folder))
    assert workspace_transitions(ws)["ABC-1"] == EXPECTED["ABC-1"][:3]  # the two embedded changes only


def test_credentials_from_environment_or_file(tmp_path: Path) -> None:
    env = {"JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": TOKEN}
    from valuestream.sources.jira import jira_credentials

    assert jira_credentials("https://x.atlassian.net", env=env) == Credentials(
        user=EMAIL, secret=TOKEN
    )
    assert jira_credentials("https://x", env={"JIRA_TOKEN": "pat"}).headers() == {
        "Authorization": "Bearer pat"
    }
    file = tmp_path / "credentials.toml"
    file.write_text(
        f'[jira]\nemail = "{EMAIL}"\ntoken = "{TOKEN}"\n[jira."https://dc.example.com"]\ntoken = "pat-dc"\n'
    )
    assert jira_credentials("https://x.atlassian.net", file, env={}) == Credentials(
        user=EMAIL, secret=TOKEN
    )
    assert jira_credentials("https://dc.example.com/", file, env={}) == Credentials(token="pat-dc")
    assert TOKEN not in repr(Credentials(user=EMAIL, secret=TOKEN))
    file.write_text(
        f'[jira]\ntoken = "{TOKEN}\n'
    )  # unterminated string: the message must not quote it
    with pytest.raises(SourceError) as err:
        load_credentials("jira", env={}, file=file)
    assert TOKEN not in str(err.value)


def test_the_token_never_appears_in_logs_messages_or_the_workspace(
    tmp_path: Path, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = Workspace(tmp_path / "ws.duckdb")
    messages = []
    with Server(FakeJira(dataset(), auth=AUTH)) as server:
        src = jira(server, sleeps, fields=["customfield_10016"])
        import_source(ws, src)
        server.fail(
            "/rest/api/3/search/jql",
            Reply(401, {}),
            Reply(500, {}),
            Reply(500, {}),
            Reply(500, {}),
            Reply(500, {}),
            Reply(500, {}),
        )
        for _ in range(2):
            with pytest.raises(SourceError) as err:
                import_source(ws, jira(server, sleeps), full=True)
            messages.append(str(err.value))
        sent = [r.headers.get("authorization") for r in server.requests]
    assert AUTH in sent  # the secret did travel, in the header, so the checks below mean something
    written = ws.path.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
    )
    for secret in (TOKEN, AUTH.split()[1]):
        assert secret not in caplog.text
        assert all(secret not in m for m in messages)
        assert secret.encode() not in written
        assert secret not in repr(src)


def test_cli_imports_with_credentials_from_the_environment(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    with Server(FakeJira(dataset(), mode="server", auth=AUTH)) as server:
        result = CliRunner().invoke(
            app,
            [
                "import",
                "jira",
                "--site",
                server.url,
                "--jql",
                "project = ABC",
                "--fields",
                "customfield_10016",
                "-w",
                str(ws),
                "--format",
                "json",
            ],
            env={"JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": TOKEN},
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["items"] == 3
        bad = CliRunner().invoke(
            app,
            ["import", "jira", "--site", server.url, "--jql", "project = ABC", "-w", str(ws)],
            env={"JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": "wrong"},
        )
    assert bad.exit_code == 2 and "HTTP 401" in bad.output and "wrong" not in bad.output
    assert workspace_transitions(Workspace(ws)) == EXPECTED
