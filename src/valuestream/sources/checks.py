"""What every staged history must satisfy before it is saved, whatever source it came from.

Times inside a sane range (by default 1970 to a year after today; ``--time-range`` widens it),
finite, and ids and states without control characters. The checks find the first bad staged
transition of each kind: those on times in one pass over the staging table, those on ids and
states on their distinct values; the caller says how to name its place (a file's row, or an
item of a connector).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from valuestream.errors import InputError

__all__ = ["Faults", "TimeRange", "check_transitions", "find_faults"]

_RANGE = re.compile(r"^\s*(\d{4}(?:-\d{2}-\d{2})?)\s*\.\.\s*(\d{4}(?:-\d{2}-\d{2})?)\s*$")


@dataclass(frozen=True)
class TimeRange:
    """The instants a transition may have: from ``start`` (inclusive) to ``end`` (exclusive), UTC."""

    start: dt.datetime
    end: dt.datetime
    given: str | None = None

    @classmethod
    def default(cls, now: dt.datetime | None = None) -> TimeRange:
        """1970-01-01 up to a year after today: older or later times are almost always typing slips."""
        today = (now or dt.datetime.now(dt.UTC)).date()
        end = dt.datetime.combine(today + dt.timedelta(days=366), dt.time(), dt.UTC)
        return cls(dt.datetime(1970, 1, 1, tzinfo=dt.UTC), end)

    @classmethod
    def parse(cls, text: str | None, what: str = "--time-range") -> TimeRange:
        """``1900..2100`` (whole years, both included) or ``2020-01-01..2030-12-31`` (days, both
        included); None for the default range."""
        if text is None:
            return cls.default()
        match = _RANGE.match(text)
        if match is None:
            raise InputError(f"{what}: expected FIRST..LAST as years (1900..2100) or dates (2020-01-01..2030-12-31), got '{text}'")
        try:
            start, end = _bound(match[1], first=True), _bound(match[2], first=False)
        except ValueError:
            raise InputError(f"{what}: '{text}' holds a date that does not exist") from None
        if start >= end:
            raise InputError(f"{what}: the first bound of '{text}' is not before the last")
        return cls(start, end, text.strip())

    def describe(self) -> str:
        last = self.end - dt.timedelta(days=1)
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def _bound(text: str, *, first: bool) -> dt.datetime:
    if len(text) == 4:
        year = int(text) if first else int(text) + 1
        if not 1 <= year <= 9999:
            raise ValueError(text)
        return dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    day = dt.date.fromisoformat(text) + (dt.timedelta() if first else dt.timedelta(days=1))
    return dt.datetime.combine(day, dt.time(), dt.UTC)


Locate = Callable[[int, str, str], InputError]
"""Builds the error for staged transition ``seq`` from the column (ours: item, state, entered_at)
and the message."""

# C0 control characters and DEL: a NUL or an escape in an id or a state is never meant, and
# breaks terminals, CSV readers and the pictures we draw.
_CONTROL = r"[\x00-\x1f\x7f]"


class Faults(dict[str, int | None]):
    """What one pass over a staging table found: the first ``seq`` and count of each fault, and ``rows``.

    Keys: ``<fault>_at`` (first seq, or None) and ``<fault>`` (count) for ``empty_item`` (null or
    blank), ``null_state``, ``blank_state``, ``null_time``, ``control_item``, ``control_state`` and
    ``out_of_range``; ``items`` and ``states``, how many distinct ones there are.
    """


# Rules on a row's time, checked row by row; rules on ids and states, checked on their distinct
# values (a million items share a few states), then row by row only when one of them is broken.
_TIME_FAULTS = (
    ("null_time", "entered_at IS NULL"),
    ("out_of_range", "NOT isfinite(entered_at) OR entered_at < $start OR entered_at >= $end"),
)
_VALUE_FAULTS = (
    ("empty_item", "item", "item IS NULL OR trim(item) = ''"),
    ("control_item", "item", f"regexp_matches(item, '{_CONTROL}')"),
    ("null_state", "state", "state IS NULL"),
    ("blank_state", "state", "trim(state) = ''"),
    ("control_state", "state", f"regexp_matches(state, '{_CONTROL}')"),
)


def find_faults(
    con: duckdb.DuckDBPyConnection, time_range: TimeRange | None, table: str = "_new_t_all", items: str | None = None
) -> Faults:
    """Every rule a staged transition may break, with one pass over ``table`` (and one over its
    distinct ids and states). ``items`` names a table that already holds each of its items once."""
    rng = time_range or TimeRange.default()
    picks = ", ".join(f"min(seq) FILTER (WHERE {rule}), count(*) FILTER (WHERE {rule})" for _, rule in _TIME_FAULTS)
    row = con.execute(f"SELECT {picks}, count(*) FROM {table}", {"start": rng.start, "end": rng.end}).fetchall()[0]
    found = Faults(rows=int(row[-1]))
    for n, (name, _) in enumerate(_TIME_FAULTS):
        found[f"{name}_at"] = None if row[2 * n] is None else int(row[2 * n])
        found[name] = int(row[2 * n + 1])
    for column in ("item", "state"):
        rules = [(name, rule) for name, col, rule in _VALUE_FAULTS if col == column]
        tests = ", ".join(f"bool_or(coalesce({rule}, false))" for _, rule in rules)
        distinct = f"(SELECT item FROM {items})" if items and column == "item" else f"(SELECT DISTINCT {column} FROM {table})"
        counted = con.execute(f"SELECT count(*), {tests} FROM {distinct}").fetchall()[0]
        found[f"{column}s"] = int(counted[0])  # distinct values (a NULL counts as one)
        for (name, rule), hit in zip(rules, counted[1:], strict=True):
            found[f"{name}_at"], found[name] = None, 0
            if hit:
                first, count = con.execute(f"SELECT min(seq), count(*) FROM {table} WHERE {rule}").fetchall()[0]
                found[f"{name}_at"], found[name] = int(first), int(count)
    return found


def check_transitions(
    con: duckdb.DuckDBPyConnection,
    time_range: TimeRange | None,
    locate: Locate,
    table: str = "_new_t_all",
    faults: Faults | None = None,
) -> Faults:
    """Raise the error ``locate`` builds for the first staged transition that breaks a rule (a
    control character, a time out of range); else return what :func:`find_faults` found (pass its
    result as ``faults`` not to scan the table again)."""
    rng = time_range or TimeRange.default()
    found = faults if faults is not None else find_faults(con, time_range, table)
    for key, column, what in (("control_item", "item", "item id"), ("control_state", "state", "state")):
        seq = found[f"{key}_at"]
        if seq is not None:
            value = con.execute(f"SELECT {column} FROM {table} WHERE seq = ? LIMIT 1", [seq]).fetchall()
            shown = repr(value[0][0])[:80] if value else "it"
            raise locate(int(seq), column, f"the {what} {shown} holds a control character; ids and states must be plain text")
    first, count = found["out_of_range_at"], found["out_of_range"] or 0
    if first is not None:
        value = con.execute(f"SELECT CAST(entered_at AS VARCHAR) FROM {table} WHERE seq = ? LIMIT 1", [first]).fetchall()
        shown = value[0][0] if value else "?"
        more = f" ({count - 1} more like it)" if count > 1 else ""
        widen = "widen the range with --time-range" + (f" (now {rng.given})" if rng.given else ", e.g. --time-range 1900..2100")
        raise locate(
            int(first), "entered_at", f"the time {shown} is outside {rng.describe()}, the range accepted; {widen}{more}"
        )
    return found


def check_timezone(name: str, what: str = "time zone") -> str:
    """A time zone name the IANA database knows (as DuckDB does), or an error naming the option."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{what}: unknown time zone '{name}'; expected a name such as UTC or Europe/Berlin") from None
    return name
