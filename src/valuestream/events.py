"""The events log: changes the team made, named on their day, that may start a new chart period.

Events live in the workspace's ``events`` table. The stream file has an ``events:`` list too; the
two meet by (date, title): merging the file into the workspace is idempotent, and the workspace's
log can be written back as the file's YAML block.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import yaml

from valuestream.errors import InputError
from valuestream.model import PolicyEvent, Stream
from valuestream.workspace import Workspace

COLUMNS = ["id", "date", "title", "kind", "new_period", "added_at"]


@dataclass(frozen=True)
class Event:
    """One entry of the events log."""

    id: int
    date: dt.date
    title: str
    kind: str = "policy"
    new_period: bool = True
    added_at: dt.datetime | None = None

    def as_policy_event(self) -> PolicyEvent:
        return PolicyEvent(
            date=self.date, title=self.title, kind=self.kind, new_period=self.new_period
        )


@dataclass(frozen=True)
class MergeResult:
    """What merging the stream file's events did: added, updated (kind or period changed), unchanged."""

    added: tuple[Event, ...]
    updated: tuple[Event, ...]
    unchanged: int

    def explain(self) -> str:
        return (
            f"{len(self.added)} event{'s' if len(self.added) != 1 else ''} added, "
            f"{len(self.updated)} updated, {self.unchanged} already in the log."
        )


def _event(row: tuple) -> Event:  # type: ignore[type-arg]
    id_, date, title, kind, new_period, added_at = row
    return Event(int(id_), date, title, kind, bool(new_period), added_at)


def _check(title: str, kind: str) -> tuple[str, str]:
    title, kind = title.strip(), kind.strip()
    if not title:
        raise InputError("an event needs a title: what changed, in a few words")
    if not kind:
        raise InputError("an event needs a kind, such as policy")
    return title, kind


def add_event(
    workspace: Workspace,
    title: str,
    date: dt.date,
    *,
    kind: str = "policy",
    new_period: bool = True,
) -> Event:
    """Add an event to the log; the same title on the same day is refused (it is already there)."""
    title, kind = _check(title, kind)
    with workspace.transaction() as con:
        row = con.execute(
            "SELECT id FROM events WHERE date = ? AND title = ?", [date, title]
        ).fetchone()
        if row is not None:
            raise InputError(f"'{title}' on {date} is already in the events log (event {row[0]})")
        added = con.execute(
            """
            INSERT INTO events VALUES (nextval('event_ids'), ?, ?, ?, ?, now())
            RETURNING id, date, title, kind, new_period, added_at
            """,
            [date, title, kind, new_period],
        ).fetchone()
    assert added is not None
    return _event(added)


def list_events(workspace: Workspace) -> list[Event]:
    """Every event in the log, oldest day first."""
    with workspace.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY date, id").fetchall()
    return [_event(r) for r in rows]


def events_table(events: Iterable[Event]) -> pd.DataFrame:
    """Events as a table with the log's columns."""
    return pd.DataFrame(
        [(e.id, e.date, e.title, e.kind, e.new_period, e.added_at) for e in events], columns=COLUMNS
    )


def remove_event(workspace: Workspace, event_id: int) -> Event:
    """Remove one event by its id; an unknown id is an error that says which ids exist."""
    with workspace.transaction() as con:
        row = con.execute(
            f"DELETE FROM events WHERE id = ? RETURNING {', '.join(COLUMNS)}", [event_id]
        ).fetchone()
        if row is None:
            ids = [r[0] for r in con.execute("SELECT id FROM events ORDER BY id").fetchall()]
            known = f"the log holds {', '.join(map(str, ids))}" if ids else "the log is empty"
            raise InputError(f"no event {event_id}: {known}")
    return _event(row)


def merge_stream_events(workspace: Workspace, stream: Stream) -> MergeResult:
    """Bring the stream file's events into the log, matched by (date, title); safe to repeat.

    The file wins on kind and new_period for an event both hold; events only in the log stay.
    """
    added: list[Event] = []
    updated: list[Event] = []
    unchanged = 0
    with workspace.transaction() as con:
        for ev in stream.events:
            row = con.execute(
                f"SELECT {', '.join(COLUMNS)} FROM events WHERE date = ? AND title = ?",
                [ev.date, ev.title],
            ).fetchone()
            if row is None:
                new = con.execute(
                    f"INSERT INTO events VALUES (nextval('event_ids'), ?, ?, ?, ?, now()) RETURNING {', '.join(COLUMNS)}",
                    [ev.date, ev.title, ev.kind, ev.new_period],
                ).fetchone()
                assert new is not None
                added.append(_event(new))
            elif (row[3], bool(row[4])) != (ev.kind, ev.new_period):
                con.execute(
                    "UPDATE events SET kind = ?, new_period = ? WHERE id = ?",
                    [ev.kind, ev.new_period, row[0]],
                )
                updated.append(_event((row[0], row[1], row[2], ev.kind, ev.new_period, row[5])))
            else:
                unchanged += 1
    return MergeResult(tuple(added), tuple(updated), unchanged)


def combined_events(workspace: Workspace | None, stream: Stream | None) -> list[Event]:
    """The log's events and the stream file's, one per (date, title), oldest first (read only).

    Events only in the file get id 0: they are shown and split periods, but are not in the log yet.
    """
    events = list_events(workspace) if workspace is not None and workspace.path.exists() else []
    seen = {(e.date, e.title) for e in events}
    for ev in stream.events if stream is not None else ():
        if (ev.date, ev.title) not in seen:
            events.append(Event(0, ev.date, ev.title, ev.kind, ev.new_period))
            seen.add((ev.date, ev.title))
    return sorted(events, key=lambda e: (e.date, e.id))


def events_yaml(events: Iterable[Event | PolicyEvent]) -> str:
    """The ``events:`` block of a stream file holding these events (defaults left out)."""
    items = []
    for ev in events:
        entry: dict[str, object] = {"date": ev.date, "title": ev.title}
        if ev.kind != "policy":
            entry["kind"] = ev.kind
        if not ev.new_period:
            entry["new_period"] = False
        items.append(entry)
    return yaml.safe_dump({"events": items}, sort_keys=False, allow_unicode=True)
