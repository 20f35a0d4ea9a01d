"""The source interface: what a connector for another tracker implements, in one module.

A source has a ``name`` (the default source name in the workspace), a ``location`` (where it reads
from, recorded with the import) and a ``read(run)`` that yields :class:`Histories`: Arrow tables in
the workspace's shapes. :func:`import_source` runs it: it gives the source the time of the last
run (for incremental reads), a checkpoint folder (to resume an interrupted run) and a progress
callback, then writes everything it yielded in one all-or-nothing transaction.

Other packages add sources through the ``valuestream.sources`` entry point group; see
docs/sources.md for a worked example.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from valuestream.errors import InputError, ValuestreamError

ENTRY_POINT_GROUP = "valuestream.sources"

TIME = pa.timestamp("us", tz="UTC")
TRANSITIONS = pa.schema(
    [("item", pa.string()), ("state", pa.string()), ("entered_at", TIME), ("seq", pa.int64())]
)
ITEMS = pa.schema(
    [
        ("item", pa.string()),
        ("title", pa.string()),
        ("type", pa.string()),
        ("attributes", pa.string()),
    ]
)
FLAGS = pa.schema([("item", pa.string()), ("raised_at", TIME), ("cleared_at", TIME)])
STATES = pa.schema(
    [
        ("state", pa.string()),
        ("category", pa.string()),
        ("board_column", pa.string()),
        ("column_order", pa.int32()),
    ]
)
"""What a source knows of its states: status category (new, indeterminate, done), board column
and the column's place from the left (any may be null)."""

# Sources re-read a little before the last run, so that clock skew between us and the server
# cannot lose a change; re-reading an item is harmless because imports replace its history.
INCREMENTAL_OVERLAP = dt.timedelta(minutes=5)

Progress = Callable[[int, int | None], None]
"""Called with (items fetched, items in total or None when the source cannot tell yet)."""


def _no_progress(done: int, total: int | None) -> None:
    pass


@dataclass(frozen=True)
class Histories:
    """What a source read: transitions, and optionally items, flags, state roles and the states'
    categories and board columns (``states``, in the :data:`STATES` shape)."""

    transitions: pa.Table
    items: pa.Table | None = None
    flags: pa.Table | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    states: pa.Table | None = None

    @classmethod
    def from_rows(
        cls,
        transitions: Iterable[Mapping[str, Any]],
        items: Iterable[Mapping[str, Any]] = (),
        flags: Iterable[Mapping[str, Any]] = (),
        roles: Mapping[str, str] | None = None,
        states: Iterable[Mapping[str, Any]] = (),
    ) -> Histories:
        """Build the tables from plain rows (dicts), the easy way for a new source.

        Transition rows: item, state, entered_at (an aware datetime), and optionally seq (the
        order of changes made at the same instant; by default the row order). Item rows: item,
        title, type and attributes (a dict, stored as JSON). Flag rows: item, raised_at, cleared_at.
        State rows: state, category, board_column, column_order.
        """
        t = [dict(r) for r in transitions]
        for n, row in enumerate(t):
            when = row.get("entered_at")
            if isinstance(when, dt.datetime) and when.tzinfo is None:
                raise InputError(
                    f"transition {n + 1} of item {row.get('item')!r}: entered_at has no time zone"
                )
            row.setdefault("seq", n)
        i = [
            {
                **r,
                "attributes": json.dumps(r["attributes"], default=str)
                if isinstance(r.get("attributes"), dict)
                else r.get("attributes"),
            }
            for r in items
        ]
        return cls(
            transitions=pa.Table.from_pylist(t, schema=TRANSITIONS),
            items=pa.Table.from_pylist(i, schema=ITEMS) if i else None,
            flags=pa.Table.from_pylist(list(flags), schema=FLAGS),
            roles=dict(roles or {}),
            states=pa.Table.from_pylist(s, schema=STATES) if (s := list(states)) else None,
        )

    @classmethod
    def concat(cls, parts: Iterable[Histories]) -> Histories:
        """One Histories from several batches (pages), in order."""
        parts = list(parts)
        if not parts:
            return cls(transitions=TRANSITIONS.empty_table())

        def cat(tables: list[pa.Table | None], schema: pa.Schema) -> pa.Table | None:
            present = [t.select(schema.names).cast(schema) for t in tables if t is not None]
            return pa.concat_tables(present) if present else None

        roles: dict[str, str] = {}
        for p in parts:
            roles.update(p.roles)
        transitions = cat([p.transitions for p in parts], TRANSITIONS)
        assert transitions is not None
        return cls(
            transitions=transitions,
            items=cat([p.items for p in parts], ITEMS),
            flags=cat([p.flags for p in parts], FLAGS),
            roles=roles,
            states=_last_per_state(cat([p.states for p in parts], STATES)),
        )


def _last_per_state(states: pa.Table | None) -> pa.Table | None:
    """One row per state, the last batch's (pages read later know the same or newer)."""
    if states is None:
        return None
    rows = {r["state"]: r for r in states.to_pylist()}
    return pa.Table.from_pylist(list(rows.values()), schema=STATES)


class Checkpoint:
    """A folder of the raw pages a run has fetched, so that an interrupted run can continue.

    Pages are JSON files written atomically (write then rename); ``None`` as the folder keeps
    nothing. The folder is removed once the import is saved.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._started: dt.datetime | None = None

    def get(self, name: str) -> Any | None:
        if self.folder is None:
            return None
        path = self.folder / f"{name}.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None  # a page cut short by the interruption: fetch it again

    def put(self, name: str, data: Any) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    def started(self, now: dt.datetime) -> dt.datetime:
        """When the run that this checkpoint belongs to began (``now`` for a fresh one)."""
        if self._started is None:
            mark = self.get("_started")
            if isinstance(mark, str):
                self._started = dt.datetime.fromisoformat(mark)
            else:
                self._started = now
                self.put("_started", now.isoformat())
        return self._started

    def clear(self) -> None:
        if self.folder is not None and self.folder.is_dir():
            shutil.rmtree(self.folder)


@dataclass
class Run:
    """What a source gets for one read: the last run's time, a checkpoint and a progress callback."""

    since: dt.datetime | None = None
    checkpoint: Checkpoint = field(default_factory=lambda: Checkpoint(None))
    progress: Progress = _no_progress


@runtime_checkable
class Source(Protocol):
    """A tracker or log that valuestream can import item histories from."""

    name: str
    """Default name of the source in the workspace (``jira``, ``github``...)."""

    @property
    def location(self) -> str:
        """Where it reads from, in words a user recognises (a site and query, a repository)."""
        ...

    def read(self, run: Run) -> Iterator[Histories]:
        """Yield the histories of the items changed since ``run.since`` (all when None)."""
        ...


def available_sources() -> dict[str, EntryPoint]:
    """Sources installed through the ``valuestream.sources`` entry point group, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_source(name: str) -> Callable[..., Source]:
    """The factory (usually the class) of an installed source."""
    found = available_sources()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ValuestreamError(f"no source named '{name}' is installed (installed: {known})")
    return found[name].load()  # type: ignore[no-any-return]


