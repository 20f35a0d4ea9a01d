"""GitHub: a repository's issues and pull requests, with the timeline that matters for flow.

Read through the REST API: ``/repos/{owner}/{repo}/issues`` (issues and pull requests together),
``/pulls`` (branch names and drafts) and ``/issues/{number}/timeline`` for each, following the
``Link: <...>; rel="next"`` headers. The token comes from ``GITHUB_TOKEN`` (or ``GH_TOKEN``, or the
``[github]`` table of the credentials file); public repositories can be read without one.

Timeline events become states (the names below, which a workflow maps to steps):

=====================  ==============================================  ===========
state                  GitHub event                                    kept
=====================  ==============================================  ===========
issue opened           the issue was created                           once
PR opened / PR draft   the pull request was created (draft or not)     once
first commit           the earliest commit's author date               once
assigned               ``assigned``                                    first
review requested       ``review_requested``                            first
in review              ``reviewed`` (any review)                       first
approved               ``reviewed`` with state ``approved``            first
merged                 ``merged``                                      first
deployed               ``deployed`` (where deployments exist)          first
closed / reopened      ``closed`` (not after a merge) / ``reopened``   every time
PR draft / PR opened   ``convert_to_draft`` / ``ready_for_review``     every time
=====================  ==============================================  ===========

Labels named in ``flag_labels`` (default: blocked) raise a blocked flag while they are on; labels
named in ``label_states`` enter a state (``needs-legal`` -> ``waiting for legal``, say).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from valuestream.errors import InputError
from valuestream.sources.base import Histories, Run
from valuestream.sources.http import (
    DEFAULT_TOTAL_TIMEOUT,
    Credentials,
    HttpClient,
    SourceError,
    load_credentials,
)
from valuestream.sources.join import KeyPattern, rekey

API = "https://api.github.com"
PER_PAGE = 100
FIRST_ONLY = {"assigned", "review requested", "in review", "approved", "merged", "deployed"}


def github_credentials(
    file: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials:
    return load_credentials("github", env=env, env_token=("GITHUB_TOKEN", "GH_TOKEN"), file=file)


def parse_time(text: Any, *, where: str) -> dt.datetime:
    """A GitHub time (ISO 8601, ``Z`` for UTC) as an aware datetime."""
    if not isinstance(text, str):
        raise SourceError(f"{where}: expected a time, got {text!r}")
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"{where}: '{text}' is not an ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def item_id(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def _event_time(event: Mapping[str, Any]) -> str | None:
    """When a timeline event happened: reviews say submitted_at, commits their author's date."""
    if event.get("event") == "reviewed":
        return event.get("submitted_at")
    if event.get("event") == "committed":
        return ((event.get("author") or {}).get("date")) or (
            (event.get("committer") or {}).get("date")
        )
    return event.get("created_at")


def timeline_states(
    issue: Mapping[str, Any],
    timeline: Sequence[Mapping[str, Any]],
    *,
    label_states: Mapping[str, str] | None = None,
) -> list[tuple[str, dt.datetime]]:
    """The (state, time) entries of one issue or pull request, in time order; see the module table."""
    number = issue.get("number")
    is_pr = "pull_request" in issue
    created = parse_time(issue.get("created_at"), where=f"#{number}: created_at")
    events = []
    for e in timeline:
        if not isinstance(e, dict) or not isinstance(e.get("event"), str):
            continue  # an entry we do not know (GitHub adds kinds): not a reason to fail
        stamp = _event_time(e)
        if stamp is None:
            continue
        events.append((parse_time(stamp, where=f"#{number}: {e['event']} event"), e))
    events.sort(key=lambda pair: pair[0])
    out: list[tuple[str, dt.datetime]] = []
    if is_pr:
        first_draft_event = next(
            (
                e["event"]
                for _, e in events
                if e["event"] in ("ready_for_review", "convert_to_draft")
            ),
            None,
        )
        created_draft = first_draft_event == "ready_for_review" or (
            first_draft_event is None and bool(issue.get("draft"))
        )
        out.append(("PR draft" if created_draft else "PR opened", created))
    else:
        out.append(("issue opened", created))
    commits = [when for when, e in events if e["event"] == "committed"]
    if commits:
        out.append(("first commit", min(commits)))
    merged_at: dt.datetime | None = None
    for when, e in events:
        kind = e["event"]
        state: str | None = None
        if kind == "assigned":
            state = "assigned"
        elif kind == "review_requested":
            state = "review requested"
        elif kind == "reviewed":
            if str(e.get("state", "")).lower() == "approved":
                out.append(("in review", when))
                state = "approved"
            else:
                state = "in review"
        elif kind == "merged":
            state = "merged"
            merged_at = when if merged_at is None else merged_at
        elif kind == "closed":
            # GitHub closes a pull request as it merges it; the merge is what counts.
            state = None if merged_at is not None and when >= merged_at else "closed"
        elif kind == "reopened":
            state = "reopened"
        elif kind == "deployed":
            state = "deployed"
        elif kind == "convert_to_draft":
            state = "PR draft"
        elif kind == "ready_for_review":
            state = "PR opened"
        elif kind == "labeled" and label_states:
            state = label_states.get(str((e.get("label") or {}).get("name", "")))
        if state:
            out.append((state, when))
    kept: list[tuple[str, dt.datetime]] = []
    seen: set[str] = set()
    for state, when in sorted(out, key=lambda pair: pair[1]):
        if state in FIRST_ONLY and state in seen:
            continue
        seen.add(state)
        kept.append((state, when))
    return kept


def label_flags(
    timeline: Sequence[Mapping[str, Any]], flag_labels: Sequence[str]
) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """Spans while any of ``flag_labels`` was on (labeled ... unlabeled)."""
    wanted = {label.lower() for label in flag_labels}
    on: dict[str, dt.datetime] = {}
    spans: list[tuple[dt.datetime, dt.datetime | None]] = []
    for e in sorted(
        (e for e in timeline if isinstance(e, dict) and e.get("created_at")),
        key=lambda e: str(e["created_at"]),
    ):
        name = str((e.get("label") or {}).get("name", "")).lower()
        if name not in wanted:
            continue
        when = parse_time(e["created_at"], where=f"label {name}")
        if e.get("event") == "labeled" and name not in on:
            on[name] = when
        elif e.get("event") == "unlabeled" and name in on:
            spans.append((on.pop(name), when))
    spans.extend((start, None) for start in on.values())
    return spans


def _check_list(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise SourceError(f"{what}: expected a JSON list, got {type(data).__name__}")
    for n, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise SourceError(f"{what}: entry {n} is {type(entry).__name__}, expected an object")
    return data


# Fields we read from a listed issue or pull request, and what each must be when present.
_ISSUE_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("created_at", str, "a time as text"),
    ("updated_at", str, "a time as text"),
    ("title", str, "text"),
    ("html_url", str, "text"),
    ("state", str, "text"),
    ("labels", list, "a list"),
    ("assignees", list, "a list"),
    ("user", dict, "an object"),
    ("pull_request", dict, "an object"),
    ("head", dict, "an object"),
    ("base", dict, "an object"),
    ("draft", bool, "true or false"),
)


def check_entry_shape(entry: Mapping[str, Any], where: str) -> None:
    """Refuse, naming the field, a listed issue or pull request whose fields are of the wrong kind."""
    number = entry.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise SourceError(f"{where}: an entry whose number is {type(number).__name__}, expected a number: {str(entry)[:80]}")
    for name, kind, wanted in _ISSUE_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, kind):
            raise SourceError(f"{where}: #{number}: '{name}' is {type(value).__name__}, expected {wanted}")


@dataclass
class GitHubSource:
    """Issues and pull requests of one repository (``owner/name``)."""

    repo: str
    key_pattern: KeyPattern | None = None
    """Find each item's key (a Jira key, say) in its title or branch; items are saved under it."""
    keep_unmatched: bool = True
    label_states: Mapping[str, str] = field(default_factory=dict)
    flag_labels: Sequence[str] = ("blocked",)
    include: str = "all"
    """all, issues or pulls."""
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    api_url: str = API
    client: HttpClient | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TOTAL_TIMEOUT
    """Seconds one request may take, retries included (``--timeout``)."""
    on_wait: Callable[[str], None] | None = field(default=None, repr=False)
    """Told what the client is waiting for (a progress display)."""
    name: str = "github"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo):
            raise InputError(f"--repo: expected owner/name, got '{self.repo}'")
        if self.include not in ("all", "issues", "pulls"):
            raise InputError(f"--include: expected all, issues or pulls, got '{self.include}'")

    @property
    def location(self) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repo}"

    def _http(self) -> HttpClient:
        if self.client is None:
            self.client = HttpClient(
                self.api_url,
                credentials=self.credentials,
                total_timeout=self.timeout,
                on_wait=self.on_wait,
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
            )
        return self.client

    def _pages(
        self, http: HttpClient, url: str, params: Mapping[str, Any] | None
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, following the Link headers, waiting out a used-up rate limit."""
        next_url: str | None = url
        first = True
        while next_url:
            data, response = http.get_json(next_url, params if first else None)
            first = False
            yield _check_list(data, next_url.split("?", 1)[0])
            next_url = response.links.get("next", {}).get("url")
            if next_url:
                http.wait_for_reset(response)

    def read(self, run: Run) -> Iterator[Histories]:
        http = self._http()
        try:
            yield from self._read(http, run)
        finally:
            http.close()

    def _listing(
        self, http: HttpClient, run: Run
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        saved = run.checkpoint.get("listing")
        if isinstance(saved, dict):
            return saved["issues"], {int(k): v for k, v in saved["pulls"].items()}
        base = f"/repos/{self.repo}"
        issues = [
            i
            for page in self._pages(
                http,
                f"{base}/issues",
                {"state": "all", "per_page": PER_PAGE, "sort": "created", "direction": "asc"},
            )
            for i in page
        ]
        pulls: dict[int, dict[str, Any]] = {}
        if self.include != "issues" and any("pull_request" in i for i in issues):
            for page in self._pages(http, f"{base}/pulls", {"state": "all", "per_page": PER_PAGE}):
                for p in page:
                    check_entry_shape(p, f"{self.location}/pulls")
                    if isinstance(p.get("number"), int):
                        pulls[p["number"]] = {
                            "branch": (p.get("head") or {}).get("ref"),
                            "draft": p.get("draft"),
                            "base": (p.get("base") or {}).get("ref"),
                        }
        run.checkpoint.put(
            "listing", {"issues": issues, "pulls": {str(k): v for k, v in pulls.items()}}
        )
        return issues, pulls

    def _read(self, http: HttpClient, run: Run) -> Iterator[Histories]:
        issues, pulls = self._listing(http, run)
        if self.include == "issues":
            issues = [i for i in issues if "pull_request" not in i]
        elif self.include == "pulls":
            issues = [i for i in issues if "pull_request" in i]
        for i in issues:
            check_entry_shape(i, f"{self.location}/issues")
        keys = self.keys(issues, pulls)
        chosen = self._changed(issues, keys, run.since)
        run.progress(0, len(chosen))
        transitions: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        flags: list[dict[str, Any]] = []
        for done, issue in enumerate(chosen, start=1):
            number = issue["number"]
            timeline = run.checkpoint.get(f"timeline-{number}")
            if not isinstance(timeline, list):
                timeline = [
                    e
                    for page in self._pages(
                        http, f"/repos/{self.repo}/issues/{number}/timeline", {"per_page": PER_PAGE}
                    )
                    for e in page
                ]
                run.checkpoint.put(f"timeline-{number}", timeline)
            ident = item_id(self.repo, number)
            for seq, (state, when) in enumerate(
                timeline_states(issue, timeline, label_states=self.label_states)
            ):
                transitions.append({"item": ident, "state": state, "entered_at": when, "seq": seq})
            for raised, cleared in label_flags(timeline, self.flag_labels):
                flags.append({"item": ident, "raised_at": raised, "cleared_at": cleared})
            items.append(self._item(issue, pulls.get(number, {}), ident))
            run.progress(done, len(chosen))
        histories = Histories.from_rows(transitions, items, flags)
        if self.key_pattern is not None:
            histories = rekey(histories, keys, keep_unmatched=self.keep_unmatched)
        yield histories

    def keys(
        self, issues: Sequence[Mapping[str, Any]], pulls: Mapping[int, Mapping[str, Any]]
    ) -> dict[str, str]:
        """Item id -> key found by the key pattern in the title or branch name (empty without one)."""
        if self.key_pattern is None:
            return {}
        texts = {
            item_id(self.repo, i["number"]): (
                i.get("title"),
                (pulls.get(i["number"]) or {}).get("branch"),
            )
            for i in issues
        }
        return self.key_pattern.keys(texts)

    def _changed(
        self, issues: list[dict[str, Any]], keys: Mapping[str, str], since: dt.datetime | None
    ) -> list[dict[str, Any]]:
        """Issues to read: those updated since the last run, and every other one sharing a key with
        them (a key's history is rebuilt from all of its pull requests)."""
        if since is None:
            return issues
        updated = [
            i
            for i in issues
            if parse_time(
                i.get("updated_at") or i.get("created_at"), where=f"#{i['number']}: updated_at"
            )
            >= since
        ]
        touched = {
            keys.get(item_id(self.repo, i["number"]), item_id(self.repo, i["number"]))
            for i in updated
        }
        return [
            i
            for i in issues
            if keys.get(item_id(self.repo, i["number"]), item_id(self.repo, i["number"])) in touched
        ]

    def _item(
        self, issue: Mapping[str, Any], pull: Mapping[str, Any], ident: str
    ) -> dict[str, Any]:
        is_pr = "pull_request" in issue
        attributes = {
            "number": issue["number"],
            "url": issue.get("html_url"),
            "state": issue.get("state"),
            "labels": [
                str((label or {}).get("name"))
                for label in issue.get("labels") or []
                if isinstance(label, dict)
            ],
            "assignees": [
                str((a or {}).get("login"))
                for a in issue.get("assignees") or []
                if isinstance(a, dict)
            ],
            "author": (issue.get("user") or {}).get("login"),
        }
        if is_pr:
            attributes.update({"branch": pull.get("branch"), "base": pull.get("base")})
        return {
            "item": ident,
            "title": issue.get("title"),
            "type": "pull request" if is_pr else "issue",
            "attributes": attributes,
        }
