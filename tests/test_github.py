"""The GitHub connector against a local server answering in GitHub's documented shapes."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import workspace_tables, workspace_transitions
from http_server import FakeGitHub, Reply, Server, gh_time
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.sources.github import GitHubSource, github_credentials, timeline_states
from valuestream.sources.http import Credentials, HttpClient, SourceError
from valuestream.sources.join import KeyPattern
from valuestream.workspace import Workspace, import_source

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
TOKEN = "ghp_s3cr3tTOKENvalue0123456789abcdef"
REPO = "acme/shop"


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def ev(kind: str, hours: float, **more: Any) -> dict[str, Any]:
    return {
        "id": int(hours * 100),
        "node_id": "X",
        "event": kind,
        "actor": {"login": "ana"},
        "created_at": gh_time(h(hours)),
        **more,
    }


def review(state: str, hours: float) -> dict[str, Any]:
    # Reviews carry submitted_at, not created_at ("List timeline events for an issue", reviewed).
    return {
        "id": int(hours * 100),
        "event": "reviewed",
        "state": state,
        "user": {"login": "bo"},
        "submitted_at": gh_time(h(hours)),
        "body": "",
    }


def commit(hours: float) -> dict[str, Any]:
    # Commits carry author and committer dates, and no created_at.
    return {
        "sha": f"{int(hours):040d}",
        "event": "committed",
        "author": {"name": "Ana", "date": gh_time(h(hours))},
        "committer": {"name": "GitHub", "date": gh_time(h(hours + 0.5))},
        "message": "work",
    }


def issue(
    number: int,
    title: str,
    created: float,
    *,
    pr: bool = False,
    updated: float | None = None,
    draft: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": 1000 + number,
        "number": number,
        "title": title,
        "state": "closed",
        "user": {"login": "ana"},
        "labels": [{"id": 1, "name": "blocked", "color": "f00"}] if number == 1 else [],
        "assignees": [{"login": "ana"}],
        "html_url": f"https://github.com/{REPO}/issues/{number}",
        "created_at": gh_time(h(created)),
        "updated_at": gh_time(h(updated if updated is not None else created + 80)),
        "closed_at": None,
        "author_association": "MEMBER",
        "reactions": {"+1": 0},
        "some_new_field": [1],
    }
    if pr:
        out["pull_request"] = {
            "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
            "merged_at": None,
        }
        out["draft"] = draft
    return out


def repository() -> FakeGitHub:
    issues = [
        issue(1, "Checkout fails", 0),
        issue(2, "ABC-1 add the legal text", 10, pr=True),
        issue(3, "Fix typo", 30, pr=True, draft=False),
        issue(4, "ABC-1 follow-up", 60, pr=True),
    ]
    pulls = [
        {
            "number": 2,
            "head": {"ref": "abc-1-legal", "sha": "a"},
            "base": {"ref": "main"},
            "draft": False,
            "merged_at": gh_time(h(21)),
        },
        {
            "number": 3,
            "head": {"ref": "feature/ABC-2-typo", "sha": "b"},
            "base": {"ref": "main"},
            "draft": False,
            "merged_at": gh_time(h(45)),
        },
        {
            "number": 4,
            "head": {"ref": "abc-1-more", "sha": "c"},
            "base": {"ref": "main"},
            "draft": False,
            "merged_at": gh_time(h(70)),
        },
    ]
    timelines = {
        1: [
            ev("assigned", 1, assignee={"login": "ana"}),
            ev("labeled", 2, label={"name": "blocked", "color": "f00"}),
            ev("unlabeled", 3, label={"name": "blocked"}),
            ev("commented", 4),
            ev("closed", 50),
        ],
        2: [
            commit(5),
            ev("review_requested", 11, requested_reviewer={"login": "bo"}),
            review("commented", 12),
            ev("cross-referenced", 13, source={"type": "issue"}),
            review("approved", 20),
            ev("merged", 21, commit_id="a"),
            ev("closed", 21),
            ev("deployed", 22),
            ev("a_future_event_kind", 23),
        ],
        3: [
            ev("ready_for_review", 31),
            ev("review_requested", 31),
            ev("closed", 40),
            ev("reopened", 41),
            ev("merged", 45),
            ev("closed", 45),
        ],
        4: [ev("merged", 70), ev("closed", 70), ev("deployed", 71)],
    }
    return FakeGitHub(REPO, issues, pulls, timelines, token=TOKEN)


EXPECTED = {
    f"{REPO}#1": [("issue opened", h(0)), ("assigned", h(1)), ("closed", h(50))],
    f"{REPO}#2": [
        ("first commit", h(5)),
        ("PR opened", h(10)),
        ("review requested", h(11)),
        ("in review", h(12)),
        ("approved", h(20)),
        ("merged", h(21)),
        ("deployed", h(22)),
    ],
    f"{REPO}#3": [
        ("PR draft", h(30)),
        ("PR opened", h(31)),
        ("review requested", h(31)),
        ("closed", h(40)),
        ("reopened", h(41)),
        ("merged", h(45)),
    ],
    f"{REPO}#4": [("PR opened", h(60)), ("merged", h(70)), ("deployed", h(71))],
}


class Clock:
    """A fake clock for rate-limit resets: sleeping moves it forward."""

    def __init__(self) -> None:
        self.t = 1_700_000_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def source(server: Server, clock: Clock, **kw: Any) -> GitHubSource:
    fake = server.app
    assert isinstance(fake, FakeGitHub)
    fake.base = server.url
    http = HttpClient(
        server.url,
        credentials=Credentials(token=TOKEN),
        sleep=clock.sleep,
        now=clock.now,
        backoff=0.001,
        timeout=kw.pop("timeout", 5.0),
        attempts=kw.pop("attempts", 5),
    )
    return GitHubSource(REPO, api_url=server.url, client=http, **kw)




def test_reads_issues_and_pull_requests_with_their_timelines(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    clock = Clock()
    progress: list[tuple[int, int | None]] = []
    with Server(repository()) as server:
        result = import_source(
            ws, source(server, clock), progress=lambda d, t: progress.append((d, t))
        )
        timeline_2 = [r for r in server.requests if r.path == f"/repos/{REPO}/issues/2/timeline"]
        listing = [r for r in server.requests if r.path == f"/repos/{REPO}/issues"]
    assert workspace_transitions(ws) == EXPECTED
    assert result["items"] == 4
    assert len(timeline_2) == 5 and len(listing) == 2  # nine entries, two a page; four issues
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in listing)
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    with ws.connect(read_only=True) as con:
        flags = con.execute("SELECT item, raised_at, cleared_at FROM flags").fetchall()
        items = {
            r[0]: (r[1], json.loads(r[2]))
            for r in con.execute("SELECT item, type, attributes FROM items").fetchall()
        }
    assert [(i, a.astimezone(UTC), b.astimezone(UTC)) for i, a, b in flags] == [
        (f"{REPO}#1", h(2), h(3))
    ]
    assert (
        items[f"{REPO}#3"][0] == "pull request"
        and items[f"{REPO}#3"][1]["branch"] == "feature/ABC-2-typo"
    )
    assert items[f"{REPO}#1"][0] == "issue" and items[f"{REPO}#1"][1]["labels"] == ["blocked"]


def test_a_pull_request_opened_as_draft_starts_as_draft() -> None:
    pr = issue(9, "x", 0, pr=True, draft=True)
    assert timeline_states(pr, [ev("ready_for_review", 3), review("approved", 4)]) == [
        ("PR draft", h(0)),
        ("PR opened", h(3)),
        ("in review", h(4)),
        ("approved", h(4)),
    ]
    # converted to draft later: it was open first
    assert [
        s for s, _ in timeline_states(pr, [ev("convert_to_draft", 1), ev("ready_for_review", 2)])
    ] == ["PR opened", "PR draft", "PR opened"]


def test_label_states() -> None:
    states = timeline_states(
        issue(5, "x", 0),
        [ev("labeled", 2, label={"name": "needs-legal"})],
        label_states={"needs-legal": "waiting for legal"},
    )
    assert states == [("issue opened", h(0)), ("waiting for legal", h(2))]


@pytest.mark.parametrize(
    ("reply", "wait"),
    [
        # primary limit used up: wait until x-ratelimit-reset (the clock says it is 30 s away)
        (
            Reply(
                403,
                {"message": "API rate limit exceeded"},
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000030"},
            ),
            30.0,
        ),
        # secondary limit: retry-after
        (
            Reply(
                403, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "3"}
            ),
            3.0,
        ),
        (Reply(429, {"message": "Too many requests"}, {"retry-after": "5"}), 5.0),
    ],
)
def test_rate_limits_are_waited_out(tmp_path: Path, reply: Reply, wait: float) -> None:
    clock = Clock()
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(repository()) as server:
        server.fail(f"/repos/{REPO}/issues/2/timeline", reply)
        import_source(ws, source(server, clock))
    assert clock.sleeps == [wait]
    assert workspace_transitions(ws) == EXPECTED


def test_a_used_up_limit_is_waited_out_before_the_next_page(tmp_path: Path) -> None:
    clock = Clock()
    with Server(repository()) as server:
        fake = server.app
        assert isinstance(fake, FakeGitHub)
        fake.remaining = 1  # the first answer says 0 remaining, the window resets in 40 s
        fake.reset_at = clock.t + 40
        import_source(Workspace(tmp_path / "ws.duckdb"), source(server, clock))
        # a reset further away than we are willing to wait: stop, saying when to come back
        fake.remaining, fake.reset_at = 1, clock.t + 7200
        with pytest.raises(SourceError, match="run again"):
            import_source(Workspace(tmp_path / "ws2.duckdb"), source(server, clock))
    assert clock.sleeps == [40.0]


FAILURES = {
    "401": (f"/repos/{REPO}/issues", [Reply(401, {"message": "Bad credentials"})], "HTTP 401"),
    "404": (f"/repos/{REPO}/pulls", [Reply(404, {"message": "Not Found"})], "HTTP 404"),
    "malformed JSON": (
        f"/repos/{REPO}/issues/3/timeline",
        [Reply(200, raw=b'[{"event": "merged", ')],
        "not JSON",
    ),
    "not a list": (
        f"/repos/{REPO}/issues/3/timeline",
        [Reply(200, {"message": "odd"})],
        "expected a JSON list",
    ),
    "bad time": (
        f"/repos/{REPO}/issues/3/timeline",
        [Reply(200, [{"event": "merged", "created_at": "yesterday"}])],
        "not an ISO 8601 time",
    ),
    "timeouts": (f"/repos/{REPO}/issues/4/timeline", [Reply(200, [], delay=0.5)] * 2, "timed out"),
    "5xx": (f"/repos/{REPO}/issues", [Reply(502, {})] * 2, "gave up after 2 attempts"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_import_leaves_the_workspace_as_it_was(tmp_path: Path, case: str) -> None:
    prefix, replies, message = FAILURES[case]
    clock = Clock()
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(repository()) as server:
        import_source(ws, source(server, clock, include="issues"))
        before = workspace_tables(ws)
        server.fail(prefix, *replies)
        with pytest.raises(SourceError, match=message) as err:
            import_source(ws, source(server, clock, timeout=0.2, attempts=2), full=True)
    assert workspace_tables(ws) == before
    assert TOKEN not in str(err.value)


def test_key_pattern_saves_pull_requests_under_their_jira_keys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(repository()) as server:
        import_source(ws, source(server, Clock(), key_pattern=KeyPattern(), keep_unmatched=False))
    got = workspace_transitions(ws)
    # ABC-1 has two pull requests: first entry of each state, last merge and deployment
    assert got == {
        "ABC-1": [
            ("first commit", h(5)),
            ("PR opened", h(10)),
            ("review requested", h(11)),
            ("in review", h(12)),
            ("approved", h(20)),
            ("merged", h(70)),
            ("deployed", h(71)),
        ],
        "ABC-2": EXPECTED[f"{REPO}#3"],
    }
    with ws.connect(read_only=True) as con:
        joined = json.loads(
            con.execute("SELECT attributes FROM items WHERE item = 'ABC-1'").fetchone()[0]
        )["joined"]
    assert joined == [f"{REPO}#2", f"{REPO}#4"]


def test_second_run_rereads_changed_items_and_their_siblings(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    clock = Clock()
    with Server(repository()) as server:
        import_source(ws, source(server, clock, key_pattern=KeyPattern()))
        fake = server.app
        assert isinstance(fake, FakeGitHub)
        now = dt.datetime.now(UTC) + dt.timedelta(minutes=1)
        for i in fake.issues:
            i["updated_at"] = gh_time(h(80))  # long before this run
        fake.issues[3]["updated_at"] = gh_time(now)  # #4 (ABC-1) changed: deployed again later
        fake.timelines[4].append(ev("reopened", 72))
        server.requests.clear()
        result = import_source(ws, source(server, clock, key_pattern=KeyPattern()))
        read = sorted(
            r.path.split("/")[-2] for r in server.requests if r.path.endswith("/timeline")
        )
    assert read == [
        "2",
        "2",
        "2",
        "2",
        "2",
        "4",
        "4",
    ]  # #4 and its sibling #2 (five pages), nothing else
    assert result["items"] == 1
    assert ("reopened", h(72)) in workspace_transitions(ws)["ABC-1"]


def test_the_token_never_appears_in_logs_messages_or_the_workspace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = Workspace(tmp_path / "ws.duckdb")
    with Server(repository()) as server:
        src = source(server, Clock())
        import_source(ws, src)
        server.fail(f"/repos/{REPO}/issues", Reply(401, {"message": "Bad credentials"}))
        with pytest.raises(SourceError) as err:
            import_source(ws, source(server, Clock()), full=True)
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN not in caplog.text and TOKEN not in str(err.value) and TOKEN not in repr(src)
    assert TOKEN.encode() not in written


def test_token_from_environment_or_file(tmp_path: Path) -> None:
    assert github_credentials(env={"GITHUB_TOKEN": TOKEN}) == Credentials(token=TOKEN)
    file = tmp_path / "c.toml"
    file.write_text(f'[github]\ntoken = "{TOKEN}"\n')
    assert github_credentials(str(file), env={}) == Credentials(token=TOKEN)


def test_cli_imports_with_a_key_pattern(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    fake = repository()
    with Server(fake) as server:
        fake.base = server.url
        result = CliRunner().invoke(
            app,
            [
                "import",
                "github",
                "--repo",
                REPO,
                "--api-url",
                server.url,
                "--key-pattern",
                "jira",
                "-w",
                str(ws),
                "--format",
                "json",
            ],
            env={"GITHUB_TOKEN": TOKEN},
        )
        bad = CliRunner().invoke(app, ["import", "github", "--repo", "not a repo", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 3  # ABC-1, ABC-2 and the unmatched issue #1
    assert set(workspace_transitions(Workspace(ws))) == {"ABC-1", "ABC-2", f"{REPO}#1"}
    assert bad.exit_code == 2 and "owner/name" in bad.output
