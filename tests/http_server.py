"""Local HTTP servers on 127.0.0.1 that answer like Jira and GitHub do, for connector tests.

Real sockets, real HTTP (a threading ``http.server``); the answers follow the shapes the vendors
document, written from their API references, not recorded from any account:

- Jira Cloud platform REST API v3: "Search for issues using JQL enhanced search" (GET
  /rest/api/3/search/jql: ``issues``, ``nextPageToken``, ``isLast``), "Count issues using JQL"
  (POST /rest/api/3/search/approximate-count: ``count``), "Get changelogs" (GET
  /rest/api/3/issue/{key}/changelog: ``startAt``, ``maxResults``, ``total``, ``isLast``,
  ``values``), "Get current user" (``timeZone``); Jira Data Center REST API 2: GET
  /rest/api/2/search (``startAt``, ``maxResults``, ``total``, ``issues``), issues with
  ``changelog.histories[].items[]`` holding ``field``, ``fromString``, ``toString``.
- GitHub REST API: "List repository issues", "List pull requests", "List timeline events for an
  issue", pagination through the ``Link`` header ("Using pagination in the REST API") and rate
  limits (``x-ratelimit-remaining``/``x-ratelimit-reset``, secondary limits with ``retry-after``,
  "Rate limits for the REST API").

Faults are queued per path prefix: the next matching requests get them instead of the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout makes a timeout)."""


class Server:
    """One HTTP server on 127.0.0.1 (a free port) answering with ``app(request) -> Reply``."""

    def __init__(self, app: Callable[[Request], Reply]) -> None:
        self.app = app
        self.requests: list[Request] = []
        self.faults: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                req = Request(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                reply = outer._handle(req)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = _serve
            do_POST = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _handle(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            for n, (prefix, reply) in enumerate(self.faults):
                if req.path.startswith(prefix):
                    del self.faults[n]
                    return reply
        return self.app(req)

    def fail(self, prefix: str, *replies: Reply) -> None:
        """The next requests whose path starts with ``prefix`` get these replies, in order."""
        with self._lock:
            self.faults.extend((prefix, r) for r in replies)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- Jira ------------------------------------------------------------------------------------------


def jira_time(when: dt.datetime) -> str:
    """Jira's own format: 2024-01-15T10:30:00.000+0000."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def jira_issue(
    key: str,
    created: dt.datetime,
    statuses: list[tuple[str, dt.datetime]],
    *,
    summary: str = "",
    issue_type: str = "Story",
    labels: list[str] | None = None,
    flags: list[tuple[dt.datetime, dt.datetime | None]] = (),  # type: ignore[assignment]
    extra_fields: dict[str, Any] | None = None,
    updated: dt.datetime | None = None,
) -> dict[str, Any]:
    """An issue as Jira returns it, with its complete changelog under ``changelog.histories``.

    ``statuses``: the first is the status it was created in (time ignored); then each change.
    """
    histories: list[dict[str, Any]] = []
    hid = int(re.sub(r"\D", "", key)) * 1000
    for (prev, _), (state, when) in zip(statuses, statuses[1:], strict=False):
        hid += 1
        histories.append(
            {
                "id": str(hid),
                "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Ana"},
                "created": jira_time(when),
                "items": [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": "1",
                        "fromString": prev,
                        "to": "2",
                        "toString": state,
                    }
                ],
            }
        )
    for raised, cleared in flags:
        hid += 1
        histories.append(
            {
                "id": str(hid),
                "created": jira_time(raised),
                "items": [
                    {
                        "field": "Flagged",
                        "fieldtype": "custom",
                        "fieldId": "customfield_10021",
                        "from": None,
                        "fromString": None,
                        "to": "[10019]",
                        "toString": "Impediment",
                    }
                ],
            }
        )
        if cleared is not None:
            hid += 1
            histories.append(
                {
                    "id": str(hid),
                    "created": jira_time(cleared),
                    "items": [
                        {
                            "field": "Flagged",
                            "fieldtype": "custom",
                            "fieldId": "customfield_10021",
                            "from": "[10019]",
                            "fromString": "Impediment",
                            "to": None,
                            "toString": None,
                        }
                    ],
                }
            )
    histories.sort(key=lambda h: h["created"])
    last = max([created, *(w for _, w in statuses[1:])])
    fields = {
        "summary": summary or f"Issue {key}",
        "status": {
            "self": "https://x/rest/api/3/status/3",
            "name": statuses[-1][0],
            "id": "3",
            "statusCategory": {"key": "indeterminate"},
        },
        "issuetype": {"id": "10001", "name": issue_type, "subtask": False},
        "labels": labels or [],
        "created": jira_time(created),
        "updated": jira_time(updated or last),
        "resolutiondate": None,
        **(extra_fields or {}),
    }
    return {
        "expand": "operations,changelog",
        "id": str(hid),
        "self": f"https://x/rest/api/3/issue/{key}",
        "key": key,
        "fields": fields,
        "_histories": histories,
    }


class FakeJira:
    """A Jira site: ``mode`` cloud (v3, token pages) or server (v2, startAt pages)."""

    def __init__(
        self,
        issues: list[dict[str, Any]],
        *,
        mode: str = "cloud",
        auth: str = "",
        page_max: int = 2,
        embedded_max: int = 2,
        changelog_page: int = 2,
        changelog_endpoint: bool = True,
        zone: str = "Europe/Berlin",
        statuses: list[dict[str, Any]] | None = None,
        boards: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.issues = issues
        self.statuses = statuses
        """GET /rest/api/{2,3}/status answers these ("Get all statuses"); None: 404, as before."""
        self.boards = boards or {}
        """GET /rest/agile/1.0/board/{id}/configuration ("Get configuration") by board id."""
        self.mode = mode
        self.auth = auth
        self.page_max = page_max
        self.embedded_max = embedded_max
        self.changelog_page = changelog_page
        self.changelog_endpoint = changelog_endpoint
        self.zone = zone

    def __call__(self, req: Request) -> Reply:
        if self.auth and req.headers.get("authorization") != self.auth:
            return Reply(
                401,
                {
                    "errorMessages": [
                        "You are not authenticated. Authentication required to perform this operation."
                    ],
                    "errors": {},
                },
            )
        v = "3" if self.mode == "cloud" else "2"
        if req.path == f"/rest/api/{v}/myself":
            return Reply(
                200, {"accountId": "x", "displayName": "Ana", "timeZone": self.zone, "active": True}
            )
        if req.path == f"/rest/api/{v}/status" and self.statuses is not None:
            return Reply(200, self.statuses)
        board = re.fullmatch(r"/rest/agile/1\.0/board/(\d+)/configuration", req.path)
        if board:
            if int(board.group(1)) not in self.boards:
                return Reply(404, {"errorMessages": [f"Board {board.group(1)} does not exist or you do not have permission to see it."], "errors": {}})
            return Reply(200, self.boards[int(board.group(1))])
        if req.path == f"/rest/api/{v}/field":
            return Reply(
                200,
                [
                    {"id": "customfield_10016", "name": "Story Points", "custom": True},
                    {"id": "summary", "name": "Summary", "custom": False},
                ],
            )
        if self.mode == "cloud" and req.path == "/rest/api/3/search/approximate-count":
            return Reply(200, {"count": len(self._matching(req.body["jql"]))})
        if self.mode == "cloud" and req.path == "/rest/api/3/search/jql":
            found = self._matching(req.query["jql"])
            start = (
                int(base64.b64decode(req.query["nextPageToken"]).decode())
                if "nextPageToken" in req.query
                else 0
            )
            size = min(int(req.query.get("maxResults", 50)), self.page_max)
            page = found[start : start + size]
            body: dict[str, Any] = {
                "issues": [self._embed(i) for i in page],
                "isLast": start + size >= len(found),
            }
            if not body["isLast"]:
                body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
            return Reply(200, body)
        if self.mode == "server" and req.path == "/rest/api/2/search":
            found = self._matching(req.query["jql"])
            start = int(req.query.get("startAt", 0))
            size = min(int(req.query.get("maxResults", 50)), self.page_max)
            return Reply(
                200,
                {
                    "expand": "schema,names",
                    "startAt": start,
                    "maxResults": size,
                    "total": len(found),
                    "issues": [self._embed(i) for i in found[start : start + size]],
                },
            )
        m = re.fullmatch(rf"/rest/api/{v}/issue/([A-Z]+-\d+)(/changelog)?", req.path)
        if m:
            issue = next((i for i in self.issues if i["key"] == m.group(1)), None)
            if issue is None:
                return Reply(
                    404,
                    {
                        "errorMessages": [
                            "Issue does not exist or you do not have permission to see it."
                        ],
                        "errors": {},
                    },
                )
            if m.group(2):
                if not self.changelog_endpoint:
                    return Reply(
                        404,
                        {"errorMessages": ["null for uri"]},
                    )
                start = int(req.query.get("startAt", 0))
                size = min(int(req.query.get("maxResults", 100)), self.changelog_page)
                values = issue["_histories"][start : start + size]
                return Reply(
                    200,
                    {
                        "self": "x",
                        "maxResults": size,
                        "startAt": start,
                        "total": len(issue["_histories"]),
                        "isLast": start + size >= len(issue["_histories"]),
                        "values": values,
                    },
                )
            full = {k: v for k, v in issue.items() if k != "_histories"}
            full["changelog"] = {
                "startAt": 0,
                "maxResults": len(issue["_histories"]),
                "total": len(issue["_histories"]),
                "histories": issue["_histories"],
            }
            return Reply(200, full)
        return Reply(404, {"errorMessages": ["not found"]})

    def _embed(self, issue: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in issue.items() if k != "_histories"}
        h = issue["_histories"]
        out["changelog"] = {
            "startAt": 0,
            "maxResults": self.embedded_max,
            "total": len(h),
            "histories": h[: self.embedded_max],
        }
        return out

    def _matching(self, jql: str) -> list[dict[str, Any]]:
        """The issues a query finds; of JQL we understand only ``updated >= "yyyy/MM/dd HH:mm"``."""
        found = list(self.issues)
        m = re.search(r'updated >= "(\d{4}/\d\d/\d\d \d\d:\d\d)"', jql)
        if m:
            since = dt.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M").replace(
                tzinfo=zoneinfo.ZoneInfo(self.zone)
            )
            found = [i for i in found if dt.datetime.fromisoformat(i["fields"]["updated"]) >= since]
        return sorted(found, key=lambda i: i["fields"]["created"])


# -- GitHub ------------------------------------------------------------------------------------------


def gh_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """One repository: issues (pull requests among them), pulls and timelines, ``per_page`` capped."""

    def __init__(
        self,
        repo: str,
        issues: list[dict[str, Any]],
        pulls: list[dict[str, Any]],
        timelines: dict[int, list[dict[str, Any]]],
        *,
        token: str = "",
        page_max: int = 2,
    ) -> None:
        self.repo = repo
        self.issues = issues
        self.pulls = pulls
        self.timelines = timelines
        self.token = token
        self.page_max = page_max
        self.base = ""  # set to the server's URL for absolute Link headers
        self.remaining = 5000
        self.reset_at: float | None = None  # epoch seconds; default an hour from now

    def __call__(self, req: Request) -> Reply:
        if self.token and req.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            )
        base = f"/repos/{self.repo}"
        if req.path == f"{base}/issues":
            return self._page(req, self.issues)
        if req.path == f"{base}/pulls":
            return self._page(req, self.pulls)
        m = re.fullmatch(rf"{base}/issues/(\d+)/timeline", req.path)
        if m and int(m.group(1)) in self.timelines:
            return self._page(req, self.timelines[int(m.group(1))])
        return Reply(
            404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        )

    def _page(self, req: Request, rows: list[dict[str, Any]]) -> Reply:
        per = min(int(req.query.get("per_page", 30)), self.page_max)
        page = int(req.query.get("page", 1))
        chunk = rows[(page - 1) * per : page * per]
        last = max(1, -(-len(rows) // per))
        links = []
        for rel, n in (("next", page + 1), ("last", last)):
            if n <= last and not (rel == "next" and page >= last):
                q = {**req.query, "page": str(n)}
                links.append(f'<{self.base}{req.path}?{urlencode(q)}>; rel="{rel}"')
        self.remaining -= 1
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int(self.reset_at or time.time() + 3600)),
            "x-ratelimit-used": str(5000 - self.remaining),
            "x-ratelimit-resource": "core",
        }
        if links:
            headers["link"] = ", ".join(links)
        return Reply(200, chunk, headers)
