"""XES event logs (IEEE 1849) and the CSV exports of process-mining tools, in and out.

An XES trace is an item (its ``concept:name``), and an event's ``concept:name`` is the activity.
How events become states depends on what the log knows of work:

- **No lifecycle information** (no ``start``/``resume`` transitions, no ``start_timestamp``): each
  event enters the state named by its activity at its ``time:timestamp``. The source knows no roles.
- **Lifecycle information** (``lifecycle:transition`` start/complete pairs, or pm4py's
  ``start_timestamp`` on each event): an activity is *worked on* from its start to its completion
  (state = the activity, role touch), and the time from one completion to the next start is a queue
  in front of the next activity (state ``"<next activity> (waiting)"``, role wait). The case ends in
  ``(case complete)`` (role finish) at its last event.

Other lifecycle transitions of the XES standard model:

- ``resume`` starts work again like ``start``; ``suspend`` stops it, and the time until the resume is
  ``"<activity> (suspended)"`` (role blocked, so returning to the work is not rework);
- ``ate_abort``, ``pi_abort``, ``withdraw``, ``autoskip``, ``manualskip`` end the open work on that
  activity, if there is one;
- ``schedule``, ``assign``, ``reassign``, ``unknown`` and anything else change no state: they only
  stretch the case (the time after a schedule and before the start is waiting anyway);
- an event without a transition, in a log that has them, counts as ``complete``; a completion with
  no open start is an instant (no touch time); a start never completed is worked on until the case's
  last event.

When work on several activities overlaps, touch time is the union of their intervals (time is never
counted twice) and belongs to the activity started most recently, until the next one starts.

Parsing streams the XML through expat (standard library), keeping events in plain column lists
and turning times into Arrow timestamps in one vectorised cast.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from valuestream.errors import InputError
from valuestream.sources.compression import DUCKDB_READS, inner_name, open_bytes, plain_copy
from valuestream.sources.tabular import parse_delimiter

__all__ = [
    "END_STATE",
    "PM_EXPORTS",
    "PmExport",
    "XesLog",
    "detect",
    "read_log",
    "read_pm_csv",
    "read_xes",
    "waiting_state",
    "write_xes",
]

END_STATE = "(case complete)"
TIMESTAMP = pa.timestamp("us", tz="UTC")

STARTS = frozenset({"start", "resume"})
ENDS = frozenset(
    {"complete", "suspend", "ate_abort", "pi_abort", "withdraw", "autoskip", "manualskip"}
)

# The columns pm4py writes when it exports a log to CSV.
CASE_COLUMN = "case:concept:name"
ACTIVITY_COLUMN = "concept:name"
TIME_COLUMN = "time:timestamp"
LIFECYCLE_COLUMN = "lifecycle:transition"
START_COLUMN = "start_timestamp"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_NANO_FRACTION = re.compile(r"(\.\d{6})\d+")
_SLASHED_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def waiting_state(activity: str) -> str:
    """The queue in front of an activity: the time between the last completion and its start."""
    return f"{activity} (waiting)"


def suspended_state(activity: str) -> str:
    """Work on an activity suspended until it resumes (a blocked state)."""
    return f"{activity} (suspended)"


@dataclass(frozen=True)
class XesLog:
    """An event log read into valuestream's shape.

    ``transitions``: item, state, entered_at (UTC), seq, one row per state entered in the log's order.
    ``items``: item, title, type, attributes (JSON of the trace's other attributes).
    ``roles``: state -> touch, wait, blocked or finish; empty when the log has no lifecycle data.
    ``cases`` and ``events``: traces and raw events read (every lifecycle event counts).
    ``state``: the attribute (or ``+``-joined attributes) the states were taken from, when not the
    activity; ``skipped``: events that had no value for it (they change no state).
    ``tool``: whose CSV export it was (pm4py, Disco, Celonis), for a CSV.
    """

    transitions: pa.Table
    items: pa.Table
    roles: dict[str, str]
    cases: int
    events: int
    lifecycle: bool = False
    state: str | None = None
    skipped: int = 0
    tool: str | None = None

    def explain(self) -> str:
        """What was read, in plain words."""
        if self.state:
            how = f"each event enters the state named by its {self.state}"
            if self.skipped:
                how += f"; {self.skipped:,} events without one change no state"
        elif self.lifecycle:
            how = "start-to-complete is touch, complete-to-next-start is waiting"
        else:
            how = "no lifecycle data: each event enters the state named by its activity"
        what = f"{self.tool} CSV export: " if self.tool else ""
        return f"{what}{self.cases:,} cases and {self.events:,} events became {self.transitions.num_rows:,} transitions ({how})."

    def __repr__(self) -> str:
        return f"XesLog(cases={self.cases}, events={self.events}, transitions={self.transitions.num_rows}, lifecycle={self.lifecycle})"


# -- events as columns ---------------------------------------------------------------------------


@dataclass
class _Events:
    """Raw events as parallel columns, with their cases (traces) and where each came from."""

    trace: list[int] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    time: list[str] = field(default_factory=list)
    lifecycle: list[str | None] = field(default_factory=list)
    start: list[str | None] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    case_names: list[str] = field(default_factory=list)
    case_attributes: list[dict[str, Any]] = field(default_factory=list)
    case_lines: list[int] = field(default_factory=list)
    state: list[str | None] | None = None
    """Each event's state when it is taken from other attributes than the activity."""
    state_name: str | None = None


def _typed(tag: str, value: str | None) -> Any:
    """A trace attribute's value as JSON would hold it, after its XES type."""
    if value is None:
        return None
    try:
        if tag == "int":
            return int(value)
        if tag == "float":
            return float(value)
    except ValueError:
        return value
    if tag == "boolean":
        return value.strip().lower() == "true"
    return value


def state_keys(spec: str, classifiers: dict[str, list[str]] | None = None) -> list[str]:
    """The attributes a ``--state`` names: one attribute, ``a+b`` (a classifier), or a log's classifier.

    A classifier declared in the log (``<classifier name="Activity classifier" keys="..."/>``) is
    found by its name; otherwise ``+`` joins attribute keys, as ProM and pm4py display them.
    """
    spec = spec.strip()
    if classifiers and spec in classifiers:
        return classifiers[spec]
    keys = [k.strip() for k in spec.split("+")]
    if not spec or not all(keys):
        raise InputError(
            f"--state: expected an attribute such as lifecycle:transition, or keys joined by + "
            f"such as concept:name+lifecycle:transition, got '{spec}'"
        )
    return keys


def _classifier_keys(text: str) -> list[str]:
    """XES classifier keys: separated by spaces, a key with spaces in single quotes."""
    return [quoted or bare for quoted, bare in re.findall(r"'([^']*)'|(\S+)", text)]


def _parse_xes(fh: IO[bytes], path: Path, state: str | None = None) -> _Events:
    """Stream the XML, keeping each event's activity, time, lifecycle and start time.

    With ``state``, each event's value of those attributes (see :func:`state_keys`) is kept too.
    """
    ev = _Events()
    classifiers: dict[str, list[str]] = {}
    wanted: list[str] | None = None  # the state's keys, resolved when the first trace opens
    values: dict[str, str | None] = {}
    if state is not None:
        ev.state = []
    parser = expat.ParserCreate()
    parser.buffer_text = True
    # Locals bound once: these handlers run for every element of the file.
    add_trace, add_activity, add_time = ev.trace.append, ev.activity.append, ev.time.append
    add_life, add_start, add_line = ev.lifecycle.append, ev.start.append, ev.line.append
    where = 0  # 0: log level, 1: in a trace, 2: in an event
    depth = 0  # open elements being skipped (log-level metadata, nested attributes)
    seen_log = False
    name = time = life = start = None
    event_line = 0
    case_name: str | None = None
    case_attrs: dict[str, Any] = {}
    case_line = 0

    def on_start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal \
            where, \
            depth, \
            seen_log, \
            wanted, \
            name, \
            time, \
            life, \
            start, \
            event_line, \
            case_name, \
            case_attrs, \
            case_line
        if depth:
            depth += 1
        elif where == 2:
            depth = 1  # the event's attribute; anything nested inside it is skipped
            key = attrs.get("key")
            if key == "concept:name":
                name = attrs.get("value")
            elif key == "time:timestamp":
                time = attrs.get("value")
            elif key == "lifecycle:transition":
                life = attrs.get("value")
            elif key == START_COLUMN:
                start = attrs.get("value")
            if wanted is not None and key in wanted:
                values[key] = attrs.get("value")
        elif where == 1:
            if tag == "event":
                where = 2
                name = time = life = start = None
                values.clear()
                event_line = parser.CurrentLineNumber
            else:
                depth = 1
                key = attrs.get("key")
                if key == "concept:name":
                    case_name = attrs.get("value")
                elif key is not None:
                    case_attrs[key] = _typed(tag, attrs.get("value"))
        elif tag == "trace":
            where = 1
            if state is not None and wanted is None:
                wanted = state_keys(state, classifiers)
                ev.state_name = "+".join(wanted)
            case_name, case_attrs, case_line = None, {}, parser.CurrentLineNumber
        elif tag == "log" and not seen_log:
            seen_log = True
        elif not seen_log:
            raise InputError(
                f"not an XES log: the document starts with <{tag}>, not <log>",
                file=path,
                line=parser.CurrentLineNumber,
            )
        else:
            depth = 1  # extensions, globals, classifiers, log attributes
            if tag == "classifier" and attrs.get("name") and attrs.get("keys"):
                classifiers[attrs["name"]] = _classifier_keys(attrs["keys"])

    def on_end(tag: str) -> None:
        nonlocal where, depth
        if depth:
            depth -= 1
        elif where == 2:
            where = 1
            if time is None:
                raise InputError("event has no time:timestamp", file=path, line=event_line)
            if name is None:
                raise InputError("event has no concept:name (activity)", file=path, line=event_line)
            add_trace(len(ev.case_names))
            add_activity(name)
            add_time(time)
            add_life(life)
            add_start(start)
            add_line(event_line)
            if wanted is not None:
                got = [values.get(k) for k in wanted]
                ev.state.append(None if any(v is None for v in got) else "+".join(got))  # type: ignore[union-attr,arg-type]
        elif where == 1:
            where = 0
            index = len(ev.case_names)
            ev.case_names.append(case_name if case_name is not None else f"trace {index + 1}")
            ev.case_attributes.append(case_attrs)
            ev.case_lines.append(case_line)

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    try:
        parser.ParseFile(fh)
    except expat.ExpatError as exc:
        reason = expat.errors.messages[exc.code]
        raise InputError(
            f"not well-formed XML: {reason} (column {exc.offset + 1})", file=path, line=exc.lineno
        ) from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
        raise InputError(f"cannot be read: {exc}", file=path) from None
    if not seen_log:
        raise InputError("not an XES log: no <log> element", file=path)
    if state is not None and wanted is None:  # a log without traces
        ev.state_name = "+".join(state_keys(state, classifiers))
    return ev


# -- times ---------------------------------------------------------------------------------------


def _micros_slow(text: str, zone: dt.tzinfo = dt.UTC) -> int:
    """One time in microseconds since the epoch; extra fraction digits dropped.

    Times without an offset are in ``zone``. A date without a time is a calendar date, not an
    instant: it is that date at 00:00 UTC in any zone, so that two dates are always a whole number
    of days apart (midnight in Berlin before and after a change to summer time is 23 hours apart).
    Disco's ``2011/10/01 00:38:44.546`` is read like its ISO form.
    """
    text = _SLASHED_DATE.sub(r"\1-\2-\3", text.strip())
    if _DATE_ONLY.fullmatch(text):
        return (dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC) - _EPOCH) // _MICRO
    value = dt.datetime.fromisoformat(_NANO_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return (value - _EPOCH) // _MICRO


def _micros(
    values: Sequence[str | None],
    lines: list[int],
    path: Path,
    what: str,
    *,
    row_numbers: bool = False,
    zone: dt.tzinfo = dt.UTC,
) -> np.ndarray:
    """Times as int64 microseconds (UTC); -1 << 62 where a value is missing.

    Arrow parses ISO 8601 with an offset in one vectorised cast; anything it refuses (no offset,
    a date alone, nanoseconds) goes through :func:`_micros_slow` value by value, so the bad one
    has a line.
    """
    missing = np.int64(-(1 << 62))
    arr = pa.array(values, type=pa.string())
    try:
        parsed = pc.cast(arr, TIMESTAMP).cast(pa.int64())
        return parsed.fill_null(missing).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.empty(len(values), dtype=np.int64)
    for i, text in enumerate(values):
        if text is None or not text.strip():
            out[i] = missing
            continue
        try:
            out[i] = _micros_slow(text, zone)
        except ValueError:
            raise InputError(
                f"cannot read {what} '{text}' as a time; expected ISO 8601 such as 2011-10-01T00:38:44.546+02:00",
                file=path,
                row=lines[i] if row_numbers else None,
                line=lines[i] + 1
                if row_numbers
                else lines[i],  # a CSV's data row i is on line i + 1
                column=what if row_numbers else None,
            ) from None
    return out


# -- events to transitions -----------------------------------------------------------------------


def _has_lifecycle(ev: _Events) -> bool:
    """Whether the log says when work starts (start/resume transitions, or start timestamps)."""
    if any(s is not None for s in ev.start):
        return True
    kinds = {life.lower() for life in set(ev.lifecycle) if life is not None}
    return bool(kinds & STARTS)


def _plain_transitions(ev: _Events, times: np.ndarray, names: pa.Array) -> pa.Table:
    """Each event enters the state named by its activity, or by its ``state`` attributes when
    they were asked for, leaving out events without them (vectorised: no loop over events)."""
    table = pa.table(
        {
            "item": names.take(pa.array(ev.trace, type=pa.int64())),
            "state": pa.array(ev.activity if ev.state is None else ev.state, type=pa.string()),
            "entered_at": pa.array(times, type=pa.int64()).cast(TIMESTAMP),
            "seq": pa.array(np.arange(len(ev.activity), dtype=np.int64)),
        }
    )
    return table if ev.state is None else table.filter(pc.is_valid(table["state"]))


def _case_intervals(
    idx: range | list[int],
    activity: list[str],
    times: np.ndarray,
    life: list[str | None],
    start: np.ndarray,
    missing: int,
) -> tuple[list[tuple[int, int, int, str, bool]], int, int, str]:
    """One case's work intervals (start, order, end, activity, after a suspend), its span and last idle event."""
    intervals: list[tuple[int, int, int, str, bool]] = []
    open_work: dict[str, list[tuple[int, int, bool]]] = {}
    suspended: set[str] = set()
    lo = hi = times[idx[0]]
    last_marker, last_marker_at = activity[idx[0]], lo
    for i in idx:
        a, t = activity[i], times[i]
        lo, hi = min(lo, t), max(hi, t)
        s = start[i]
        if s != missing:  # pm4py's start_timestamp: the event is a whole interval
            lo = min(lo, s)
            intervals.append((s, i, t, a, False))
            continue
        kind = (life[i] or "complete").lower()
        if kind in STARTS:
            open_work.setdefault(a, []).append((t, i, kind == "resume" and a in suspended))
            suspended.discard(a)
        elif kind in ENDS:
            queue = open_work.get(a)
            if queue:
                s, order, after_suspend = queue.pop(0)  # the earliest open start of this activity
                intervals.append((s, order, t, a, after_suspend))
            elif kind == "complete":
                intervals.append((t, i, t, a, False))
            if kind == "suspend":
                suspended.add(a)
        elif t >= last_marker_at:
            last_marker, last_marker_at = a, t
    # Started and never completed: worked on until the case ends.
    for a, queue in open_work.items():
        for s, order, after_suspend in queue:
            intervals.append((s, order, hi, a, after_suspend))
    return intervals, lo, hi, last_marker


def _lifecycle_transitions(
    ev: _Events, times: np.ndarray, starts: np.ndarray, names: pa.Array
) -> tuple[pa.Table, dict[str, str]]:
    """Touch (start to complete), waiting (complete to next start), suspended and the case end."""
    missing = int(np.int64(-(1 << 62)))
    traces = np.asarray(ev.trace, dtype=np.int64)
    order = np.argsort(traces, kind="stable")
    bounds = np.flatnonzero(np.diff(traces[order])) + 1
    out_trace: list[int] = []
    out_state: list[str] = []
    out_time: list[int] = []
    roles: dict[str, str] = {}

    def emit(trace: int, state: str, at: int, role: str) -> None:
        out_trace.append(trace)
        out_state.append(state)
        out_time.append(at)
        roles.setdefault(state, role)

    time_list, start_list = times.tolist(), starts.tolist()
    for group in np.split(order, bounds) if len(order) else []:
        idx = group.tolist()
        trace = ev.trace[idx[0]]
        intervals, lo, hi, last_marker = _case_intervals(
            idx, ev.activity, time_list, ev.lifecycle, start_list, missing
        )
        intervals.sort()
        busy = lo  # when the work done so far ends
        for s, _, e, a, after_suspend in intervals:
            if s > busy:
                gap = suspended_state(a) if after_suspend else waiting_state(a)
                emit(trace, gap, busy, "blocked" if after_suspend else "wait")
                emit(trace, a, s, "touch")
            elif e > s or s == busy:
                # Overlapping work goes to the activity started last; an instant inside work is not shown.
                emit(trace, a, s, "touch")
            busy = max(busy, e)
        if hi > busy:
            emit(trace, waiting_state(last_marker), busy, "wait")
        emit(trace, END_STATE, hi, "finish")
    table = pa.table(
        {
            "item": names.take(pa.array(out_trace, type=pa.int64())),
            "state": pa.array(out_state, type=pa.string()),
            "entered_at": pa.array(np.asarray(out_time, dtype=np.int64)).cast(TIMESTAMP),
            "seq": pa.array(np.arange(len(out_state), dtype=np.int64)),
        }
    )
    return table, roles


def _items_table(ev: _Events) -> pa.Table:
    def text(attrs: dict[str, Any], *keys: str) -> str | None:
        for key in keys:
            if attrs.get(key) is not None:
                return str(attrs[key])
        return None

    return pa.table(
        {
            "item": pa.array(ev.case_names, type=pa.string()),
            "title": pa.array(
                [text(a, "title", "description") for a in ev.case_attributes], type=pa.string()
            ),
            "type": pa.array(
                [text(a, "type", "variant") for a in ev.case_attributes], type=pa.string()
            ),
            "attributes": pa.array(
                [json.dumps(a, ensure_ascii=False) if a else None for a in ev.case_attributes],
                type=pa.string(),
            ),
        }
    )


def _to_log(
    ev: _Events,
    path: Path,
    stage: Callable[[str], None],
    *,
    row_numbers: bool = False,
    zone: dt.tzinfo = dt.UTC,
    time_columns: tuple[str, str] = (TIME_COLUMN, START_COLUMN),
    tool: str | None = None,
) -> XesLog:
    """Turn raw event columns into valuestream's transitions, items and roles.

    With states taken from other attributes (``ev.state``), each event enters its state and the
    lifecycle is not interpreted: those attributes say what the item's state is.
    """
    if not ev.activity:
        raise InputError("the log has no events", file=path)
    # A CSV's cases are its distinct case ids; an XES log could name two traces alike.
    seen: dict[str, int] = {}
    for name, line in zip(ev.case_names, ev.case_lines, strict=True):
        if name in seen:
            raise InputError(
                f"trace '{name}' appears twice (lines {seen[name]} and {line}); each trace needs its own concept:name",
                file=path,
                line=line,
            )
        seen[name] = line
    stage("reading times")
    time_column, start_column = time_columns
    times = _micros(ev.time, ev.line, path, time_column, row_numbers=row_numbers, zone=zone)
    names = pa.array(ev.case_names, type=pa.string())
    lifecycle = ev.state is None and _has_lifecycle(ev)
    if lifecycle:
        stage("lifecycle")
        starts = _micros(ev.start, ev.line, path, start_column, row_numbers=row_numbers, zone=zone)
        transitions, roles = _lifecycle_transitions(ev, times, starts, names)
    else:
        transitions, roles = _plain_transitions(ev, times, names), {}
    skipped = len(ev.activity) - transitions.num_rows if ev.state is not None else 0
    if ev.state is not None and transitions.num_rows == 0:
        raise InputError(
            f"no event has a value for {ev.state_name}; name an attribute the events carry with --state",
            file=path,
        )
    items = _items_table(ev)
    if skipped:  # cases whose events all lacked the state have no history to keep
        items = items.filter(pc.is_in(items["item"], value_set=transitions["item"].unique()))
    return XesLog(
        transitions,
        items,
        roles,
        cases=len(ev.case_names),
        events=len(ev.activity),
        lifecycle=lifecycle,
        state=ev.state_name,
        skipped=skipped,
        tool=tool,
    )


# -- reading -------------------------------------------------------------------------------------


def _opening(
    path: str | Path, on_stage: Callable[[str], None] | None, timezone: str
) -> tuple[Callable[[str], None], Path, dt.tzinfo]:
    """What every reader checks first: (the stage callback, the path, the time zone)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", file=path)
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone '{timezone}'; expected a name such as UTC or Europe/Berlin"
        ) from None
    return on_stage or (lambda name: None), path, zone


def read_xes(
    path: str | Path,
    on_stage: Callable[[str], None] | None = None,
    *,
    state: str | None = None,
    timezone: str = "UTC",
) -> XesLog:
    """Read an XES log (plain, or compressed with gzip, bzip2, xz or zstd) into valuestream's tables.

    ``state`` takes each event's state from another attribute than the activity
    (``lifecycle:transition``), from several joined by ``+`` (``concept:name+lifecycle:transition``)
    or from a classifier the log declares, by its name; events without it change no state.
    ``timezone`` is the zone of times written without an offset. ``on_stage`` is told what is
    being done (parsing, reading times, lifecycle) for a progress display. Raises
    :class:`InputError` with the line for malformed XML and for events without a time.
    """
    stage, path, zone = _opening(path, on_stage, timezone)
    stage("parsing XES")
    with open_bytes(path) as fh:
        ev = _parse_xes(fh, path, state)
    return _to_log(ev, path, stage, zone=zone)


@dataclass(frozen=True)
class PmExport:
    """The columns one process-mining tool writes when it exports an event log to CSV."""

    tool: str
    case: str
    activity: tuple[str, ...]
    """The activity column; the first of these names that the file has."""
    time: str
    start: str | None = None
    lifecycle: str | None = None
    order: str | None = None
    """A column that orders events of a case at the same instant."""
    case_prefix: str | None = None
    """Columns named with this prefix are case attributes (kept with the item)."""
    case_columns: tuple[str, ...] = ()
    """Further columns that are case attributes."""

    def columns(self, header: Sequence[str]) -> dict[str, str] | None:
        """Our names (case, activity, time, start, lifecycle, order) -> the file's, if it is this tool's."""
        by_lower = {h.strip().lower(): h for h in header}
        found = {}
        for ours, theirs in (
            ("case", (self.case,)),
            ("activity", self.activity),
            ("time", (self.time,)),
            ("start", (self.start,) if self.start else ()),
            ("lifecycle", (self.lifecycle,) if self.lifecycle else ()),
            ("order", (self.order,) if self.order else ()),
        ):
            name = next((by_lower[t.lower()] for t in theirs if t.lower() in by_lower), None)
            if name is not None:
                found[ours] = name
        return found if {"case", "activity", "time"} <= set(found) else None


PM_EXPORTS = (
    PmExport(
        "pm4py",
        CASE_COLUMN,
        (ACTIVITY_COLUMN,),
        TIME_COLUMN,
        start=START_COLUMN,
        lifecycle=LIFECYCLE_COLUMN,
        case_prefix="case:",
    ),
    # Disco (Fluxicon): one row per activity instance, its start and completion.
    PmExport(
        "Disco",
        "Case ID",
        ("Activity",),
        "Complete Timestamp",
        start="Start Timestamp",
        case_columns=("Variant", "Variant index"),
    ),
    # Celonis: the activity table of a data model (_CASE_KEY, ACTIVITY_EN, EVENTTIME, _SORTING).
    PmExport(
        "Celonis",
        "_CASE_KEY",
        ("ACTIVITY_EN", "ACTIVITY_DE", "ACTIVITY"),
        "EVENTTIME",
        order="_SORTING",
    ),
)
"""The exports recognised by their headers, in the order they are tried."""


def pm_export(header: Sequence[str]) -> tuple[PmExport, dict[str, str]] | None:
    """Which tool's export a CSV header is, with its columns; ``None`` if none."""
    for export in PM_EXPORTS:
        columns = export.columns(header)
        if columns is not None:
            return export, columns
    return None


def _read_csv_text(path: Path, delimiter: str | None) -> pa.Table:
    """Every value as text, with each row's number in the file (``_row``), decompressed as needed."""
    delim = parse_delimiter(delimiter)
    option = "" if delim is None else f", delim = '{delim.replace(chr(39), chr(39) * 2)}'"
    con = duckdb.connect(":memory:")
    try:
        with plain_copy(path, keep=DUCKDB_READS) as (readable, packed):
            p = str(readable).replace("'", "''")
            packed_option = f", compression = '{packed}'" if packed else ""
            return con.sql(
                "SELECT row_number() OVER () AS _row, * FROM "
                f"read_csv('{p}', all_varchar = true, header = true{option}{packed_option})"
            ).to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(
            f"cannot be read as CSV: {str(exc).strip().splitlines()[0]}", file=path
        ) from None
    finally:
        con.close()


def read_pm_csv(
    path: str | Path,
    on_stage: Callable[[str], None] | None = None,
    *,
    state: str | None = None,
    timezone: str = "UTC",
    delimiter: str | None = None,
) -> XesLog:
    """Read the CSV a process-mining tool exports (pm4py, Disco, Celonis) into valuestream's tables.

    The tool is recognised by its header (see :data:`PM_EXPORTS`): pm4py's ``case:concept:name``,
    ``concept:name``, ``time:timestamp`` (optional ``lifecycle:transition``, ``start_timestamp``;
    other ``case:xxx`` columns are item attributes); Disco's ``Case ID``, ``Activity``,
    ``Complete Timestamp`` and ``Start Timestamp``; Celonis's ``_CASE_KEY``, ``ACTIVITY_EN``,
    ``EVENTTIME`` and ``_SORTING``. Rows are events, in the file's order within each case (Celonis:
    in ``_SORTING`` order). ``state`` takes the state from other columns than the activity
    (``a+b`` joins several); times without an offset are in ``timezone``.
    """
    stage, path, zone = _opening(path, on_stage, timezone)
    stage("reading CSV")
    table = _read_csv_text(path, delimiter)
    header = [c for c in table.column_names if c != "_row"]
    found = pm_export(header)
    if found is None:
        wanted = "; or ".join(
            f"{e.tool}: {', '.join(repr(c) for c in (e.case, e.activity[0], e.time))}"
            for e in PM_EXPORTS
        )
        raise InputError(
            f"not a process-mining export: expected the columns of {wanted}; the file has {', '.join(header)}",
            file=path,
        )
    export, cols = found
    if "order" in cols:
        # Celonis orders events at the same instant by _SORTING; the row number keeps ties stable.
        key = pc.cast(table[cols["order"]], pa.float64(), safe=False)
        table = table.append_column("_key", key).sort_by(
            [("_key", "ascending"), ("_row", "ascending")]
        )
    ev = _pm_events(table, path, export, cols, header, state)
    return _to_log(
        ev,
        path,
        stage,
        row_numbers=True,
        zone=zone,
        time_columns=(cols["time"], cols.get("start", START_COLUMN)),
        tool=export.tool,
    )


def _pm_events(
    table: pa.Table,
    path: Path,
    export: PmExport,
    cols: dict[str, str],
    header: list[str],
    state: str | None,
) -> _Events:
    """A process-mining CSV's rows as raw event columns."""
    state_columns = None
    if state is not None:
        state_columns = [
            next((h for h in header if h.lower() == k.lower()), k) for k in state_keys(state)
        ]
        absent = [c for c in state_columns if c not in header]
        if absent:
            raise InputError(
                f"--state: no column {', '.join(repr(c) for c in absent)}; the file has {', '.join(header)}",
                file=path,
            )
    rows = table["_row"].to_pylist()
    for column in (cols["case"], cols["activity"], cols["time"]):
        values = table[column]
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)
        if pc.any(empty).as_py():
            at = rows[pc.index(empty, True).as_py()]
            raise InputError(
                "empty value; every event needs one", file=path, row=at, line=at + 1, column=column
            )
    ev = _Events()
    encoded = pc.dictionary_encode(table[cols["case"]]).combine_chunks()
    ev.trace = encoded.indices.to_pylist()
    ev.case_names = encoded.dictionary.to_pylist()
    ev.activity = table[cols["activity"]].to_pylist()
    ev.time = table[cols["time"]].to_pylist()
    n = table.num_rows
    ev.lifecycle = table[cols["lifecycle"]].to_pylist() if "lifecycle" in cols else [None] * n
    starts = table[cols["start"]].to_pylist() if "start" in cols else [None] * n
    ev.start = [s if s is None or s.strip() else None for s in starts]
    ev.line = rows  # data rows; the file line is one more (the header)
    if state_columns is not None:
        parts = [table[c].to_pylist() for c in state_columns]
        ev.state = [
            None
            if any(v is None or not v.strip() for v in got)
            else "+".join(v.strip() for v in got)
            for got in zip(*parts, strict=True)
        ]
        ev.state_name = "+".join(state_columns)
    first = np.unique(np.asarray(ev.trace), return_index=True)[1]
    ev.case_lines = [rows[i] + 1 for i in first]
    used = set(cols.values())
    extra = [
        c
        for c in header
        if c not in used
        and (
            (export.case_prefix is not None and c.startswith(export.case_prefix))
            or c in export.case_columns
        )
    ]
    firsts = table.select(extra).take(pa.array(first)).to_pylist() if extra else [{} for _ in first]
    prefix = export.case_prefix or ""
    ev.case_attributes = [
        {k.removeprefix(prefix): v for k, v in row.items() if v is not None} for row in firsts
    ]
    return ev


def _header(path: Path, delimiter: str | None) -> list[str]:
    """A delimited text file's first line, split into column names."""
    try:
        with open_bytes(path) as fh:
            head = fh.read(8192).decode("utf-8", errors="replace")
    except (OSError, EOFError, ValueError):
        return []
    first = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    delim = parse_delimiter(delimiter)
    parts = first.split(delim) if delim else re.split(r"[,;\t|]", first)
    return [c.strip().strip('"') for c in parts]


def detect(path: str | Path, *, delimiter: str | None = None) -> str | None:
    """``"xes"`` for an XES log, ``"pm_csv"`` for a process-mining tool's CSV export, else ``None``.

    Compressed files are looked into (by their magic number); the name is a hint for XES only.
    """
    path = Path(path)
    if inner_name(path).lower().endswith(".xes"):
        return "xes"
    if not path.is_file():
        return None
    try:
        with open_bytes(path) as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except (OSError, EOFError, ValueError):
        return None
    if re.search(r"<log[\s>]", head):
        return "xes"
    return "pm_csv" if pm_export(_header(path, delimiter)) else None


def log_kind(
    path: str | Path,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
) -> str | None:
    """Whether an import reads an event log (``xes``, ``pm_csv``) or a table of transitions (None).

    Process-mining exports are recognised by their columns unless the user maps the item, time,
    title or type columns (then the file is a table of transitions); a mapped ``state`` is the
    event attribute the states come from.
    """
    if format == "xes":
        return "xes"
    if format not in (None, "csv") or set(columns or {}) - {"state"}:
        return None
    kind = detect(path, delimiter=delimiter)
    return None if format == "csv" and kind == "xes" else kind


def read_log(
    path: str | Path,
    on_stage: Callable[[str], None] | None = None,
    *,
    kind: str | None = None,
    state: str | None = None,
    timezone: str = "UTC",
    delimiter: str | None = None,
) -> XesLog:
    """Read an XES log or a process-mining CSV, whichever :func:`detect` (or ``kind``) says it is."""
    kind = kind or detect(path, delimiter=delimiter)
    if kind == "xes":
        return read_xes(path, on_stage, state=state, timezone=timezone)
    if kind == "pm_csv":
        return read_pm_csv(path, on_stage, state=state, timezone=timezone, delimiter=delimiter)
    raise InputError(
        "neither an XES log nor a process-mining CSV export (pm4py, Disco or Celonis columns)",
        file=path,
    )


# -- writing -------------------------------------------------------------------------------------

def _export_rows(flow: Any) -> tuple[pa.Table, pa.Table]:
    """(transitions with role and left_at, items) from a Flow: the only reader of the event log."""
    if not (hasattr(flow, "transitions") and hasattr(flow, "item_attributes")):
        raise TypeError(
            f"write_xes takes a Flow (Flow.of(workspace, stream)), not {type(flow).__name__}"
        )
    rows = pa.Table.from_pandas(flow.transitions(), preserve_index=False)
    items = pa.Table.from_pandas(flow.item_attributes(), preserve_index=False)
    return rows, items


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(
        timespec="milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    )


def _xes_lines(rows: pa.Table, items: pa.Table) -> Iterator[str]:
    """The XES document, a line at a time.

    Touch states are written as start and complete events; the waiting, suspended and end states
    that reading a lifecycle log made up are left out (they are the gaps between the work); every
    other state is one event, with ``lifecycle:transition`` complete when the log has lifecycle
    data, and none when it has not (then, as in the log it came from, an event enters a state).
    """
    roles = rows.column("role").to_pylist()
    lifecycle = "touch" in set(roles)
    yield '<?xml version="1.0" encoding="UTF-8"?>'
    yield '<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">'
    yield '\t<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>'
    yield '\t<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>'
    if lifecycle:
        yield '\t<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>'
    yield '\t<string key="source" value="valuestream"/>'
    about = {r["item"]: r for r in items.to_pylist()}
    made_up = re.compile(r".* \((waiting|suspended)\)$")

    def event(state: str, at: dt.datetime, transition: str | None) -> str:
        life = f'<string key="lifecycle:transition" value="{transition}"/>' if transition else ""
        return f'\t\t<event><string key="concept:name" value={quoteattr(state)}/><date key="time:timestamp" value="{_iso(at)}"/>{life}</event>'

    current = None
    for item, state, role, entered, left in zip(
        rows.column("item").to_pylist(),
        rows.column("state").to_pylist(),
        roles,
        rows.column("entered_at").to_pylist(),
        rows.column("left_at").to_pylist(),
        strict=True,
    ):
        if item != current:
            if current is not None:
                yield "\t</trace>"
            current = item
            yield "\t<trace>"
            yield f'\t\t<string key="concept:name" value={quoteattr(str(item))}/>'
            yield from _trace_attributes(about.get(item))
        if role == "touch":
            yield event(state, entered, "start")
            if left is not None:
                yield event(state, left, "complete")
        elif lifecycle and (
            state == END_STATE or (role in ("wait", "blocked") and made_up.match(state))
        ):
            continue
        else:
            yield event(state, entered, "complete" if lifecycle else None)
    if current is not None:
        yield "\t</trace>"
    yield "</log>"


def _trace_attributes(item: dict[str, Any] | None) -> Iterator[str]:
    if not item:
        return
    attrs: dict[str, Any] = {}
    if item.get("attributes"):
        try:
            loaded = json.loads(item["attributes"])
            attrs = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            attrs = {}
    for key in ("title", "type"):
        if item.get(key) is not None:
            attrs.setdefault(key, item[key])
    for key, value in attrs.items():
        if key == "concept:name" or value is None or isinstance(value, dict | list):
            continue
        tag = (
            "boolean"
            if isinstance(value, bool)
            else "int"
            if isinstance(value, int)
            else "float"
            if isinstance(value, float)
            else "string"
        )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        yield f"\t\t<{tag} key={quoteattr(str(key))} value={quoteattr(text)}/>"


def write_xes(flow: Any, path: str | Path) -> Path:
    """Write a Flow's histories (``Flow.of(workspace)`` for all of them) as an XES log, gzip-compressed if ``path`` ends in ``.gz``.

    One trace per item (concept:name = the item), one event per state entered (concept:name = the
    state, time:timestamp in UTC); touch states, where roles are known, as lifecycle start and
    complete events, so that process-mining tools see work and the waiting between it.
    """
    path = Path(path)
    rows, items = _export_rows(flow)
    if rows.num_rows == 0:
        raise InputError("nothing to export: the workspace has no transitions")
    compress = path.name.lower().endswith(".gz")
    with (
        gzip.open(path, "wt", encoding="utf-8", newline="\n", compresslevel=6)
        if compress
        else path.open("w", encoding="utf-8", newline="\n")
    ) as out:
        for line in _xes_lines(rows, items):
            out.write(line)
            out.write("\n")
    return path
