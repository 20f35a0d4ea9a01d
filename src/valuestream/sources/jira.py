"""Jira Cloud and Data Center: issues found by a JQL query, with their full status and flag history.

Cloud is read through ``/rest/api/3/search/jql`` (token pagination; the total comes from
``/rest/api/3/search/approximate-count``), Data Center and Server through ``/rest/api/2/search``
(``startAt`` pagination with a total). Both ask for ``expand=changelog``; when an issue's embedded
changelog is cut short (its ``total`` exceeds the histories it holds) the whole of it is read
from ``/issue/{key}/changelog``, or from ``/issue/{key}?expand=changelog`` where that endpoint does
not exist (older Data Center).

What becomes what:

- every status change is a transition; the issue enters its first status when it is created;
- the "Flagged" field's history (Jira's impediment flag) becomes the flags table;
- summary, issue type, labels and the fields the user names go to the items table;
- each status's category (To Do, In Progress, Done: from ``/rest/api/{2,3}/status``, from the
  issues' current status, or a saved statuses file) and its board column (from
  ``/rest/agile/1.0/board/{id}/configuration`` with ``board``, or a saved board configuration) go
  to the workspace's ``state_meta``, so that a stream file can say ``start: {category: In Progress}``
  or ``finish: {column: Done}``.

Saved API responses (search pages with ``expand=changelog``, single issues, changelog pages named
``KEY.changelog.json``) can be imported from a folder without any connection.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuestream.errors import InputError
from valuestream.sources.base import TRANSITIONS, Histories, Run
from valuestream.sources.http import (
    DEFAULT_TOTAL_TIMEOUT,
    Credentials,
    HttpClient,
    SourceError,
    load_credentials,
)
from valuestream.sources.jira_board import (
    category_of,
    is_board_configuration,
    saved_kind,
    status_entries,
)

BASE_FIELDS = ("summary", "status", "issuetype", "labels", "created", "updated", "resolutiondate")
PAGE_SIZE = 100
CHANGELOG_PAGE = 100
FLAG_FIELDS = ("flagged",)
_ORDER_BY = re.compile(r"\s+order\s+by\s+.*$", re.IGNORECASE | re.DOTALL)
_FIELD_ID = re.compile(r"^(customfield_\d+|[a-z][a-zA-Z]*)$")


def jira_credentials(
    site: str, file: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Credentials:
    """Jira credentials: JIRA_EMAIL (or JIRA_USER) with JIRA_API_TOKEN for Cloud, JIRA_TOKEN for a
    Data Center personal access token, else the [jira] table of the credentials file."""
    return load_credentials(
        "jira",
        env=env,
        env_user=("JIRA_EMAIL", "JIRA_USER"),
        env_secret=("JIRA_API_TOKEN", "JIRA_PASSWORD"),
        env_token=("JIRA_TOKEN", "JIRA_PAT"),
        file=file,
        key=site,
    )


# -- turning responses into histories (pure) ---------------------------------------------------


def parse_time(text: Any, *, where: str) -> dt.datetime:
    """A Jira time such as 2024-01-15T10:30:00.000+0000, as an aware datetime in UTC."""
    if not isinstance(text, str):
        raise SourceError(f"{where}: expected a time, got {text!r}")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SourceError(
            f"{where}: '{text}' is not a time Jira writes (like 2024-01-15T10:30:00.000+0000)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _plain(value: Any) -> Any:
    """A field value in plain form: option values, names and display names instead of objects."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        for key in ("value", "name", "displayName", "key"):
            if key in value and not isinstance(value[key], dict | list):
                return value[key]
        return value
    return value


def _name(value: Any) -> str | None:
    plain = _plain(value)
    return plain if isinstance(plain, str) else None


@dataclass(frozen=True)
class _Issue:
    key: str
    fields: Mapping[str, Any]
    histories: Sequence[Mapping[str, Any]]


def _history_time(h: Mapping[str, Any], key: str) -> dt.datetime:
    return parse_time(h.get("created"), where=f"{key}: changelog entry {h.get('id', '?')}")


def issue_histories(
    issues: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
    *,
    fields: Sequence[str] = (),
    names: Mapping[str, str] | None = None,
) -> Histories:
    """Histories of issues, each given as (issue JSON, its complete list of changelog histories).

    ``fields`` are extra fields (ids such as customfield_10016, or names when ``names`` maps ids to
    names) kept in the items' attributes.
    """
    ids_by_name = {v.lower(): k for k, v in (names or {}).items()}
    transitions: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    for raw, histories in issues:
        issue = _check_issue(raw, histories)
        f = issue.fields
        created = parse_time(f.get("created"), where=f"{issue.key}: field 'created'")
        changes = sorted(
            ((h, _history_time(h, issue.key)) for h in issue.histories),
            key=lambda pair: (pair[1], str(pair[0].get("id", ""))),
        )
        status_changes = [
            (when, i) for h, when in changes for i in h.get("items") or () if _is_field(i, "status")
        ]
        first = status_changes[0][1].get("fromString") if status_changes else None
        current = _name(f.get("status"))
        initial = first or current
        if not initial:
            raise SourceError(f"{issue.key}: has neither a status nor a status history")
        seq = 0
        transitions.append({"item": issue.key, "state": initial, "entered_at": created, "seq": seq})
        for when, change in status_changes:
            seq += 1
            state = change.get("toString")
            if state:
                transitions.append(
                    {
                        "item": issue.key,
                        "state": state,
                        "entered_at": max(when, created),
                        "seq": seq,
                    }
                )
        flags.extend(_flag_spans(issue.key, created, changes))
        attributes: dict[str, Any] = {"labels": f.get("labels") or [], "status": current}
        if f.get("resolutiondate"):
            attributes["resolved"] = parse_time(
                f["resolutiondate"], where=f"{issue.key}: field 'resolutiondate'"
            ).isoformat()
        for wanted in fields:
            fid = wanted if wanted in f else ids_by_name.get(wanted.lower(), wanted)
            attributes[wanted] = _plain(f.get(fid))
        items.append(
            {
                "item": issue.key,
                "title": f.get("summary"),
                "type": _name(f.get("issuetype")),
                "attributes": attributes,
            }
        )
    return Histories.from_rows(transitions, items, flags)


def _is_field(change: Mapping[str, Any], name: str) -> bool:
    return (
        str(change.get("fieldId") or change.get("field") or "").lower() == name
        or str(change.get("field") or "").lower() == name
    )


def _flag_spans(
    key: str, created: dt.datetime, changes: list[tuple[Mapping[str, Any], dt.datetime]]
) -> Iterator[dict[str, Any]]:
    """Spans under Jira's Flagged field: raised when it gets a value (Impediment), cleared when emptied."""
    raised: dt.datetime | None = None
    seen = False
    for h, when in changes:
        for change in h.get("items") or ():
            if str(change.get("field") or "").lower() not in FLAG_FIELDS:
                continue
            if not seen and change.get("fromString"):
                raised = created  # flagged from the start, before the first recorded change
            seen = True
            on = bool(change.get("toString"))
            if on and raised is None:
                raised = when
            elif not on and raised is not None:
                yield {"item": key, "raised_at": raised, "cleared_at": when}
                raised = None
    if raised is not None:
        yield {"item": key, "raised_at": raised, "cleared_at": None}


def _check_issue(raw: Any, histories: Sequence[Mapping[str, Any]]) -> _Issue:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("key"), str)
        or not isinstance(raw.get("fields"), dict)
    ):
        raise SourceError(f"an issue without a key or fields in the response: {str(raw)[:80]}")
    if not isinstance(histories, list) or not all(isinstance(h, dict) for h in histories):
        raise SourceError(f"{raw['key']}: its changelog is not a list of histories")
    return _Issue(raw["key"], raw["fields"], histories)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def check_issue_shape(issue: Any, where: str) -> None:
    """Refuse, with the field named, an issue of a shape we cannot read (before anything reads it)."""

    def expect(ok: bool, field: str, wanted: str, got: Any) -> None:
        if not ok:
            raise SourceError(f"{where}: {field} is {_kind(got)}; expected {wanted}; is this a Jira issue search answer?")

    expect(isinstance(issue, dict), "an issue", "an object with key and fields", issue)
    expect(isinstance(issue.get("key"), str), "the issue's 'key'", "text such as ABC-1", issue.get("key"))
    key = issue["key"]
    expect(isinstance(issue.get("fields"), dict), f"{key}: 'fields'", "an object", issue.get("fields"))
    fields = issue["fields"]
    expect(isinstance(fields.get("created"), str), f"{key}: fields.created", "a time as text", fields.get("created"))
    status = fields.get("status")
    expect(status is None or isinstance(status, dict | str), f"{key}: fields.status", "an object with a name", status)
    log = issue.get("changelog")
    if log is None:
        return
    expect(isinstance(log, dict), f"{key}: 'changelog'", "an object with histories", log)
    histories = log.get("histories")
    expect(histories is None or isinstance(histories, list), f"{key}: changelog.histories", "a list", histories)
    check_histories(histories or [], f"{where}: {key}: changelog.histories")


def check_histories(histories: Any, where: str) -> None:
    """Changelog histories: a list of objects, each with a created time and a list of item objects."""
    if not isinstance(histories, list):
        raise SourceError(f"{where}: {_kind(histories)}; expected a list of changelog histories")
    for n, h in enumerate(histories):
        if not isinstance(h, dict):
            raise SourceError(f"{where}[{n}] is {_kind(h)}; expected an object with created and items")
        if not isinstance(h.get("created"), str):
            raise SourceError(f"{where}[{n}].created is {_kind(h.get('created'))}; expected a time as text")
        items = h.get("items")
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, dict) for i in items)):
            raise SourceError(f"{where}[{n}].items is not a list of objects")


def check_page_shape(page: dict[str, Any], where: str) -> None:
    """The paging fields of a search answer, which steer the next request."""
    for name, kinds, wanted in (
        ("total", (int,), "a number"),
        ("startAt", (int,), "a number"),
        ("maxResults", (int,), "a number"),
        ("isLast", (bool,), "true or false"),
        ("nextPageToken", (str,), "text"),
        ("names", (dict,), "an object"),
    ):
        value = page.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) is not (bool in kinds)):
            raise SourceError(f"{where}: '{name}' is {_kind(value)}; expected {wanted}")
    for n, issue in enumerate(page["issues"]):
        check_issue_shape(issue, f"{where}: issues[{n}]")


def embedded_changelog(issue: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The histories embedded in a search result, and whether they are all of them."""
    log = issue.get("changelog") or {}
    histories = log.get("histories") or []
    total = log.get("total")
    complete = not isinstance(total, int) or total <= len(histories)
    return list(histories), complete


# -- what the import learns of the statuses ------------------------------------------------------


@dataclass
class StatusBook:
    """What an import learnt of Jira's statuses: names by id, categories by name, board columns.

    Changelogs name statuses by id and by name (``to``, ``toString``), the issues' current status
    carries its category, ``/rest/api/2/status`` lists every status, and the board configuration
    names the statuses of each column by id: together they say, per state name, its category
    and its column.
    """

    names: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    columns: list[tuple[str, list[str]]] = field(default_factory=list)

    def learn_issue(self, issue: Mapping[str, Any], histories: Sequence[Mapping[str, Any]]) -> None:
        # What the statuses list said stays: it is the site's own list, the issue one glimpse.
        status = issue.get("fields", {}).get("status")
        if isinstance(status, dict) and isinstance(status.get("name"), str):
            if status.get("id") is not None:
                self.names.setdefault(str(status["id"]), status["name"])
            if isinstance(status.get("statusCategory"), dict):
                self.categories.setdefault(status["name"], category_of(status["statusCategory"]))
        for h in histories:
            for change in h.get("items") or ():
                if isinstance(change, dict) and _is_field(change, "status"):
                    for ident, name in ((change.get("from"), change.get("fromString")), (change.get("to"), change.get("toString"))):
                        if ident is not None and isinstance(name, str):
                            self.names.setdefault(str(ident), name)

    def learn_statuses(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Entries of ``/rest/api/2/status`` (id, name, statusCategory)."""
        for e in entries:
            if isinstance(e.get("name"), str) and e.get("id") is not None:
                self.names[str(e["id"])] = e["name"]
                self.categories[e["name"]] = category_of(e.get("statusCategory"))

    def learn_board(self, config: Mapping[str, Any], where: str) -> None:
        """A board configuration's columns, left to right, each with its status ids."""
        self.columns = []
        for raw in config["columnConfig"]["columns"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise SourceError(f"{where}: a board column without a name")
            ids = [str(st.get("id")) for st in raw.get("statuses") or [] if isinstance(st, dict)]
            self.columns.append((raw["name"], ids))

    def rows(self) -> list[dict[str, Any]]:
        """One row per state name: its category and board column (None where not known)."""
        column_of = {
            self.names[i]: (name, order)
            for order, (name, ids) in enumerate(self.columns)
            for i in ids
            if i in self.names
        }
        states = dict.fromkeys([*self.categories, *column_of])
        return [
            {
                "state": state,
                "category": self.categories.get(state),
                "board_column": column_of.get(state, (None, None))[0],
                "column_order": column_of.get(state, (None, None))[1],
            }
            for state in states
        ]


# -- reading saved responses --------------------------------------------------------------------


@dataclass
class Saved:
    """What a folder of saved Jira responses holds."""

    issues: list[dict[str, Any]]
    changelogs: dict[str, list[dict[str, Any]]]
    names: dict[str, str]
    skipped: list[tuple[Path, str]]
    """Files that hold no issues, with what they are (a board configuration, statuses, ...)."""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """The status entries of saved statuses files."""
    boards: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    """Saved board configurations, with their files."""


def _holds_issues(data: Any) -> bool:
    """Whether a saved response is meant to hold issues (a search page, an issue, a list of them)."""
    if isinstance(data, dict):
        return "issues" in data or "key" in data or "fields" in data
    return isinstance(data, list) and any(
        isinstance(d, dict) and ("key" in d or "fields" in d) for d in data
    )


def read_saved(folder: str | Path) -> Saved:
    """Issues, full changelogs by key and field names from a folder (or one file) of saved responses.

    Understood: search pages (``{"issues": [...]}``), single issues (``{"key", "fields"}``), JSON
    arrays of issues, and changelog pages (``{"values": [...]}``) in files named ``KEY.changelog*.json``
    or ``changelog-KEY*.json``. Files that hold no issues (a board configuration, statuses, field
    lists) are skipped and listed in ``skipped``; a file that holds issues but a broken one is an error.
    """
    root = Path(folder)
    files = sorted(root.rglob("*.json")) if root.is_dir() else [root]
    if not files or not root.exists():
        raise InputError("no saved Jira responses (.json files) here", file=root)
    issues: dict[str, dict[str, Any]] = {}
    changelogs: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    skipped: list[tuple[Path, str]] = []
    statuses: list[dict[str, Any]] = []
    boards: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        if path.name.startswith("_"):
            continue  # our own checkpoint bookkeeping
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({exc})", file=path) from None
        kind = saved_kind(data)
        if kind is not None:
            skipped.append((path, kind))
            if is_board_configuration(data):
                boards.append((path, data))
            else:
                statuses.extend(status_entries(data) or [])
            continue
        if isinstance(data, dict) and "values" in data and "issues" not in data:
            key = _changelog_key(path)
            if key is None:
                raise InputError(
                    "a changelog page, but the file name does not say whose (name it KEY.changelog.json)",
                    file=path,
                )
            changelogs.setdefault(key, []).extend(data.get("values") or [])
            continue
        if isinstance(data, dict) and isinstance(data.get("names"), dict):
            names.update(data["names"])
        if not _holds_issues(data):
            skipped.append((path, "not issues, a search result or a changelog page"))
            continue
        found = data.get("issues") if isinstance(data, dict) and "issues" in data else data
        found = [found] if isinstance(found, dict) else found
        if not isinstance(found, list):
            raise InputError(
                "neither a search result, an issue, a list of issues nor a changelog page",
                file=path,
            )
        for issue in found:
            if not isinstance(issue, dict) or "key" not in issue or "fields" not in issue:
                raise InputError("an entry without a key and fields: not a Jira issue", file=path)
            issues[issue["key"]] = issue  # later files win: a re-saved issue is the newer one
    if not issues and not changelogs:
        what = "; ".join(f"{p.name} is {k}" for p, k in skipped)
        raise InputError(
            "no Jira issues in the saved responses here" + (f" ({what})" if what else ""), file=root
        )
    return Saved(list(issues.values()), changelogs, names, skipped, statuses, boards)


def _changelog_key(path: Path) -> str | None:
    m = re.match(r"^(?:changelog-)?([A-Z][A-Z0-9_]*-\d+)", path.name)
    return m.group(1) if m else None


def merge_changelog(
    issue: Mapping[str, Any], extra: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """An issue's histories: the full changelog when we have it, else what the search embedded."""
    embedded, _ = embedded_changelog(issue)
    if not extra:
        return embedded
    by_id: dict[str, dict[str, Any]] = {}
    for h in [*embedded, *extra]:
        by_id[str(h.get("id", id(h)))] = dict(h)
    return list(by_id.values())


# -- the source ----------------------------------------------------------------------------------


def with_since(jql: str, since: dt.datetime | None, zone: str) -> str:
    """The query restricted to issues updated since a time (written in the Jira user's time zone)."""
    order = _ORDER_BY.search(jql)
    where = jql[: order.start()] if order else jql
    order_by = order.group(0).strip() if order else "ORDER BY created ASC"
    if since is not None:
        local = since.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y/%m/%d %H:%M")
        where = (
            f'({where.strip()}) AND updated >= "{local}"'
            if where.strip()
            else f'updated >= "{local}"'
        )
    return f"{where.strip()} {order_by}"


@dataclass
class JiraSource:
    """Issues of a Jira site matching a JQL query (or saved responses in ``offline``)."""

    site: str | None
    jql: str = ""
    fields: Sequence[str] = ()
    api: str | None = None
    """cloud (``/rest/api/3/search/jql``) or server (``/rest/api/2/search``); guessed from the site."""
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    offline: Path | None = None
    page_size: int = PAGE_SIZE
    client: HttpClient | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TOTAL_TIMEOUT
    """Seconds one request may take, retries included (``--timeout``)."""
    on_wait: Callable[[str], None] | None = field(default=None, repr=False)
    """Told what the client is waiting for (a progress display)."""
    name: str = "jira"
    board: int | None = None
    """A board whose columns to record (``--board ID``: its ``/rest/agile/1.0/board/ID/configuration``)."""
    skipped: list[tuple[Path, str]] = field(default_factory=list, init=False, repr=False)
    """Saved files that the last offline read passed over, with what they are."""
    cut_short: list[str] = field(default_factory=list, init=False, repr=False)
    """Issues of the last offline read whose saved changelog is incomplete (the search embedded
    only part of it, and no ``KEY.changelog.json`` was saved)."""

    def __post_init__(self) -> None:
        if self.offline is None and not self.site:
            raise InputError(
                "give the Jira site (--site https://example.atlassian.net) or saved responses (--offline DIR)"
            )
        if self.site:
            self.site = self.site.rstrip("/")
            if not re.match(r"^https?://", self.site):
                raise InputError(
                    f"--site: expected an address starting with https://, got '{self.site}'"
                )
        if self.api is None:
            self.api = "cloud" if self.site and ".atlassian.net" in self.site else "server"
        if self.api not in ("cloud", "server"):
            raise InputError(f"--api: expected cloud or server, got '{self.api}'")

    @property
    def location(self) -> str:
        if self.offline is not None:
            return str(self.offline)
        return f"{self.site} {self.jql}".strip()

    @property
    def _v(self) -> str:
        return "3" if self.api == "cloud" else "2"

    def _http(self) -> HttpClient:
        if self.client is None:
            assert self.site is not None
            self.client = HttpClient(
                self.site, credentials=self.credentials, total_timeout=self.timeout, on_wait=self.on_wait
            )
        return self.client

    def read(self, run: Run) -> Iterator[Histories]:
        if self.offline is not None:
            saved = read_saved(self.offline)
            for n, issue in enumerate(saved.issues):
                check_issue_shape(issue, f"{self.offline}: issue {n + 1}")
            for key, values in saved.changelogs.items():
                check_histories(values, f"{self.offline}: the changelog of {key}")
            self.skipped = saved.skipped
            self.cut_short = [
                i["key"]
                for i in saved.issues
                if not embedded_changelog(i)[1] and i["key"] not in saved.changelogs
            ]
            if len(saved.boards) > 1:
                raise InputError(
                    f"{len(saved.boards)} board configurations here ({', '.join(p.name for p, _ in saved.boards)}); "
                    "keep the one whose columns the stream should follow",
                    file=self.offline,
                )
            run.progress(len(saved.issues), len(saved.issues))
            book = StatusBook()
            book.learn_statuses(saved.statuses)
            for path, config in saved.boards:
                book.learn_board(config, str(path))
            if saved.issues:
                pairs = [
                    (i, merge_changelog(i, saved.changelogs.get(i["key"]))) for i in saved.issues
                ]
                for issue, histories in pairs:
                    book.learn_issue(issue, histories)
                yield issue_histories(pairs, fields=self.fields, names=saved.names)
            yield self._states(book)
            return
        http = self._http()
        try:
            yield from self._read_online(http, run)
        finally:
            http.close()

    def _read_online(self, http: HttpClient, run: Run) -> Iterator[Histories]:
        setup = run.checkpoint.get("_query")
        if not isinstance(setup, dict):
            setup = {
                "jql": with_since(self.jql, run.since, self._zone(http) if run.since else "UTC"),
                "ids": self._field_ids(http),
            }
            run.checkpoint.put("_query", setup)
        jql, ids = setup["jql"], setup["ids"]
        book = self._status_book(http, run)
        wanted = list(dict.fromkeys([*BASE_FIELDS, *ids.values()]))
        total = self._total(http, jql)
        fetched = 0
        run.progress(0, total)
        page_no = 0
        cursor: dict[str, Any] = {"startAt": 0, "nextPageToken": None}
        while True:
            name = f"search-{page_no:05d}"
            page = run.checkpoint.get(name)
            if page is None:
                page = self._search(http, jql, wanted, cursor)
                run.checkpoint.put(name, page)
            issues = page["issues"]
            total = page.get("total", total) if isinstance(page.get("total"), int) else total
            pairs = []
            for issue in issues:
                histories, complete = embedded_changelog(issue)
                if not complete:
                    histories = self._changelog(http, issue, run)
                pairs.append((issue, histories))
                book.learn_issue(issue, histories)
            fetched += len(issues)
            run.progress(fetched, total)
            if pairs:
                names = {v: k for k, v in ids.items()}
                yield issue_histories(
                    pairs, fields=self.fields, names={**page.get("names", {}), **names}
                )
            page_no += 1
            if self.api == "cloud":
                token = page.get("nextPageToken")
                if page.get("isLast", token is None) or not token:
                    break
                cursor = {"nextPageToken": token}
            else:
                start = int(page.get("startAt", cursor["startAt"])) + len(issues)
                if not issues or start >= int(page.get("total", 0)):
                    break
                cursor = {"startAt": start}
        yield self._states(book)

    @staticmethod
    def _states(book: StatusBook) -> Histories:
        """A batch with no transitions that carries what was learnt of the statuses."""
        rows = book.rows()
        return Histories.from_rows([], states=rows) if rows else Histories(TRANSITIONS.empty_table())

    def _status_book(self, http: HttpClient, run: Run) -> StatusBook:
        """Every status with its category (``/rest/api/{2,3}/status``), and the board's columns
        when ``board`` is given; checkpointed with the pages."""
        saved = run.checkpoint.get("_statuses")
        if not isinstance(saved, dict):
            url = f"/rest/api/{self._v}/status"
            try:
                entries, _ = http.get_json(url)
            except SourceError as exc:
                if exc.status in (401, 403):
                    raise
                # Optional, as the count is: without it the issues' current statuses still say.
                entries = []
            if not isinstance(entries, list):
                raise SourceError(f"{self.site}{url}: expected a list of statuses")
            config = None
            if self.board is not None:
                url = f"/rest/agile/1.0/board/{self.board}/configuration"
                config, _ = http.get_json(url)
                if not is_board_configuration(config):
                    raise SourceError(f"{self.site}{url}: the answer has no columnConfig.columns; is {self.board} a board id?")
            saved = {"statuses": [e for e in entries if isinstance(e, dict)], "board": config}
            run.checkpoint.put("_statuses", saved)
        book = StatusBook()
        book.learn_statuses(saved["statuses"])
        if saved.get("board") is not None:
            book.learn_board(saved["board"], f"{self.site}/rest/agile/1.0/board/{self.board}/configuration")
        return book

    def _search(
        self, http: HttpClient, jql: str, fields: list[str], cursor: Mapping[str, Any]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "jql": jql,
            "maxResults": self.page_size,
            "fields": ",".join(fields),
            "expand": "changelog",
        }
        if self.api == "cloud":
            url = "/rest/api/3/search/jql"
            if cursor.get("nextPageToken"):
                params["nextPageToken"] = cursor["nextPageToken"]
        else:
            url = "/rest/api/2/search"
            params["startAt"] = cursor.get("startAt", 0)
        page, _ = http.get_json(url, params)
        if not isinstance(page, dict) or not isinstance(page.get("issues"), list):
            raise SourceError(
                f"{self.site}{url}: the answer has no list of issues; is this a Jira search endpoint?"
            )
        check_page_shape(page, f"{self.site}{url}")
        return page

    def _total(self, http: HttpClient, jql: str) -> int | None:
        """How many issues the query finds, for progress; Cloud's count is approximate and optional."""
        if self.api != "cloud":
            return None  # the first page says
        try:
            data, _ = http.post_json(
                "/rest/api/3/search/approximate-count", {"jql": _ORDER_BY.sub("", jql)}
            )
        except SourceError as exc:
            if exc.status in (401, 403):
                raise
            return None
        count = data.get("count") if isinstance(data, dict) else None
        return count if isinstance(count, int) else None

    def _zone(self, http: HttpClient) -> str:
        """The Jira user's time zone, in which JQL reads dates."""
        try:
            me, _ = http.get_json(f"/rest/api/{self._v}/myself")
            zone = me.get("timeZone") if isinstance(me, dict) else None
            zoneinfo.ZoneInfo(zone)  # type: ignore[arg-type]
            return str(zone)
        except (SourceError, zoneinfo.ZoneInfoNotFoundError, TypeError, ValueError):
            # Unknown zone: the furthest zone ahead makes the cut-off earliest, so nothing is missed.
            return "Etc/GMT-14"

    def _field_ids(self, http: HttpClient) -> dict[str, str]:
        """Field ids for the fields the user named, by id or by display name."""
        ids = {f: f for f in self.fields if _FIELD_ID.match(f)}
        named = [f for f in self.fields if f not in ids]
        if not named:
            return ids
        known, _ = http.get_json(f"/rest/api/{self._v}/field")
        if not isinstance(known, list):
            raise SourceError(f"{self.site}/rest/api/{self._v}/field: expected a list of fields")
        by_name = {
            str(f.get("name", "")).lower(): str(f.get("id")) for f in known if isinstance(f, dict)
        }
        for f in named:
            if f.lower() not in by_name:
                raise InputError(f"--fields: Jira has no field named '{f}'")
            ids[f] = by_name[f.lower()]
        return ids

    def _changelog(
        self, http: HttpClient, issue: Mapping[str, Any], run: Run
    ) -> list[dict[str, Any]]:
        """The complete changelog of one issue, page by page (checkpointed as one file)."""
        key = str(issue.get("key"))
        name = f"changelog-{key}"
        saved = run.checkpoint.get(name)
        if isinstance(saved, dict) and isinstance(saved.get("values"), list):
            return merge_changelog(issue, saved["values"])
        values: list[dict[str, Any]] = []
        start = 0
        try:
            while True:
                page, _ = http.get_json(
                    f"/rest/api/{self._v}/issue/{key}/changelog",
                    {"startAt": start, "maxResults": CHANGELOG_PAGE},
                )
                if not isinstance(page, dict) or not isinstance(page.get("values"), list):
                    raise SourceError(f"{self.site}: the changelog of {key} has no list of values")
                check_histories(page["values"], f"{self.site}/rest/api/{self._v}/issue/{key}/changelog: values")
                if not isinstance(page.get("startAt", start), int) or not isinstance(page.get("total", 0), int | None):
                    raise SourceError(f"{self.site}/rest/api/{self._v}/issue/{key}/changelog: startAt or total is not a number")
                values.extend(page["values"])
                start = int(page.get("startAt", start)) + len(page["values"])
                total = page.get("total")
                last = page.get("isLast")
                if (
                    not page["values"]
                    or last is True
                    or (last is None and isinstance(total, int) and start >= total)
                ):
                    break
        except SourceError as exc:
            if exc.status != 404 or self.api == "cloud":
                raise
            # Data Center before the changelog endpoint: the issue itself carries all of it.
            one, _ = http.get_json(
                f"/rest/api/{self._v}/issue/{key}", {"expand": "changelog", "fields": "created"}
            )
            values = list(((one or {}).get("changelog") or {}).get("histories") or [])
        run.checkpoint.put(name, {"values": values})
        return merge_changelog(issue, values)
