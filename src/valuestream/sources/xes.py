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
from collections.abc import Callable, Iterator, Sequence
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

__all__ = [
    "END_STATE",
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
    """

    transitions: pa.Table
    items: pa.Table
    roles: dict[str, str]
    cases: int
    events: int
    lifecycle: bool = False

    def explain(self) -> str:
        """What was read, in plain words."""
        how = (
            "start-to-complete is touch, complete-to-next-start is waiting"
            if self.lifecycle
            else "no lifecycle data: each event enters the state named by its activity"
        )
        return f"{self.cases:,} cases and {self.events:,} events became {self.transitions.num_rows:,} transitions ({how})."

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


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzip (by its magic number, whatever its name)."""
    fh = path.open("rb")
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    fh.seek(0)
    return fh


def _parse_xes(fh: IO[bytes], path: Path) -> _Events:
    """Stream the XML, keeping each event's activity, time, lifecycle and start time."""
    ev = _Events()
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
        elif where == 1:
            if tag == "event":
                where = 2
                name = time = life = start = None
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
    return ev


# -- times ---------------------------------------------------------------------------------------


def _micros_slow(text: str) -> int:
    """One time in microseconds since the epoch; naive times are UTC, extra fraction digits dropped."""
    value = dt.datetime.fromisoformat(
        _NANO_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00")
    )
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // _MICRO


def _micros(
    values: Sequence[str | None],
    lines: list[int],
    path: Path,
    what: str,
    *,
    row_numbers: bool = False,
) -> np.ndarray:
    """Times as int64 microseconds (UTC); -1 << 62 where a value is missing.

    Arrow parses ISO 8601 with an offset in one vectorised cast; anything it refuses (no offset,
    nanoseconds) goes through ``datetime.fromisoformat`` value by value, so the bad one has a line.
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
            out[i] = _micros_slow(text)
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
    """Each event enters the state named by its activity (vectorised: no loop over events)."""
    return pa.table(
        {
            "item": names.take(pa.array(ev.trace, type=pa.int64())),
            "state": pa.array(ev.activity, type=pa.string()),
            "entered_at": pa.array(times, type=pa.int64()).cast(TIMESTAMP),
            "seq": pa.array(np.arange(len(ev.activity), dtype=np.int64)),
        }
    )


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
    ev: _Events, path: Path, stage: Callable[[str], None], *, row_numbers: bool = False
) -> XesLog:
    """Turn raw event columns into valuestream's transitions, items and roles."""
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
    times = _micros(ev.time, ev.line, path, "time:timestamp", row_numbers=row_numbers)
    names = pa.array(ev.case_names, type=pa.string())
    lifecycle = _has_lifecycle(ev)
    if lifecycle:
        stage("lifecycle")
        starts = _micros(ev.start, ev.line, path, START_COLUMN, row_numbers=row_numbers)
        transitions, roles = _lifecycle_transitions(ev, times, starts, names)
    else:
        transitions, roles = _plain_transitions(ev, times, names), {}
    return XesLog(
        transitions,
        _items_table(ev),
        roles,
        cases=len(ev.case_names),
        events=len(ev.activity),
        lifecycle=lifecycle,
    )


# -- reading -------------------------------------------------------------------------------------


def read_xes(path: str | Path, on_stage: Callable[[str], None] | None = None) -> XesLog:
    """Read an XES log (``.xes`` or gzip-compressed ``.xes.gz``) into valuestream's tables.

    ``on_stage`` is told what is being done (parsing, reading times, lifecycle) for a progress display.
    Raises :class:`InputError` with the line for malformed XML and for events without a time.
    """
    stage = on_stage or (lambda name: None)
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", file=path)
    stage("parsing XES")
    with _open(path) as fh:
        ev = _parse_xes(fh, path)
    return _to_log(ev, path, stage)


def read_pm_csv(path: str | Path, on_stage: Callable[[str], None] | None = None) -> XesLog:
    """Read the CSV a process-mining tool exports (pm4py's columns) into valuestream's tables.

    Required: ``case:concept:name``, ``concept:name``, ``time:timestamp``; optional
    ``lifecycle:transition`` and ``start_timestamp``. Other ``case:xxx`` columns become the item's
    attributes (its first value of each). Rows are events, in the file's order within each case.
    """
    stage = on_stage or (lambda name: None)
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", file=path)
    stage("reading CSV")
    p = str(path).replace("'", "''")
    con = duckdb.connect(":memory:")
    try:
        table = con.sql(
            f"SELECT * FROM read_csv('{p}', all_varchar = true, header = true)"
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(
            f"cannot be read as CSV: {str(exc).strip().splitlines()[0]}", file=path
        ) from None
    finally:
        con.close()
    header = table.column_names
    missing = [c for c in (CASE_COLUMN, ACTIVITY_COLUMN, TIME_COLUMN) if c not in header]
    if missing:
        raise InputError(
            f"missing column {', '.join(repr(c) for c in missing)}; the file has {', '.join(header)}",
            file=path,
        )
    ev = _Events()
    cases = table.column(CASE_COLUMN).to_pylist()
    activities = table.column(ACTIVITY_COLUMN).to_pylist()
    for column, values in (
        (CASE_COLUMN, cases),
        (ACTIVITY_COLUMN, activities),
        (TIME_COLUMN, table.column(TIME_COLUMN).to_pylist()),
    ):
        empty = next((i for i, v in enumerate(values) if v is None or not v.strip()), None)
        if empty is not None:
            raise InputError(
                "empty value; every event needs one",
                file=path,
                row=empty + 1,
                line=empty + 2,
                column=column,
            )
    encoded = pc.dictionary_encode(table.column(CASE_COLUMN)).combine_chunks()
    ev.trace = encoded.indices.to_pylist()
    ev.case_names = encoded.dictionary.to_pylist()
    ev.activity = activities
    ev.time = table.column(TIME_COLUMN).to_pylist()
    n = table.num_rows
    ev.lifecycle = (
        table.column(LIFECYCLE_COLUMN).to_pylist() if LIFECYCLE_COLUMN in header else [None] * n
    )
    ev.start = table.column(START_COLUMN).to_pylist() if START_COLUMN in header else [None] * n
    ev.start = [s if s is None or s.strip() else None for s in ev.start]
    ev.line = list(range(1, n + 1))  # data rows; the file line is one more (the header)
    first_rows = np.unique(np.asarray(ev.trace), return_index=True)[1]
    ev.case_lines = (first_rows + 1).tolist()
    extra = [c for c in header if c.startswith("case:") and c != CASE_COLUMN]
    firsts = (
        table.select(extra).take(pa.array(first_rows)).to_pylist()
        if extra
        else [{} for _ in first_rows]
    )
    ev.case_attributes = [
        {k.removeprefix("case:"): v for k, v in row.items() if v is not None} for row in firsts
    ]
    return _to_log(ev, path, stage, row_numbers=True)


def detect(path: str | Path) -> str | None:
    """``"xes"`` for an XES log, ``"pm_csv"`` for a CSV with pm4py's columns, else ``None``."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    if not path.is_file():
        return None
    try:
        with _open(path) as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return None
    if re.search(r"<log[\s>]", head):
        return "xes"
    first = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    columns = {c.strip().strip('"') for c in re.split(r"[,;\t]", first)}
    if {CASE_COLUMN, ACTIVITY_COLUMN, TIME_COLUMN} <= columns:
        return "pm_csv"
    return None


def read_log(
    path: str | Path, on_stage: Callable[[str], None] | None = None, *, kind: str | None = None
) -> XesLog:
    """Read an XES log or a process-mining CSV, whichever :func:`detect` (or ``kind``) says it is."""
    kind = kind or detect(path)
    if kind == "xes":
        return read_xes(path, on_stage)
    if kind == "pm_csv":
        return read_pm_csv(path, on_stage)
    raise InputError(
        "neither an XES log nor a process-mining CSV (case:concept:name, concept:name, time:timestamp)",
        file=path,
    )


# -- writing -------------------------------------------------------------------------------------

# Every transition with its role and the time the item left it (its next transition).
SQL_EXPORT = """
SELECT t.item, t.state, coalesce(r.role, 'unmapped') AS role,
       t.entered_at,
       lead(t.entered_at) OVER (PARTITION BY t.item ORDER BY t.entered_at, t.source, t.seq) AS left_at
FROM {transitions} t
LEFT JOIN {roles} r ON r.state = t.state
ORDER BY t.item, t.entered_at, t.source, t.seq
"""

SQL_WORKSPACE_ROLES = "(SELECT state, any_value(role) AS role FROM ws.state_roles GROUP BY state)"
SQL_ITEMS = "SELECT item, any_value(title) AS title, any_value(type) AS type, any_value(CAST(attributes AS VARCHAR)) AS attributes FROM {items} GROUP BY item"


def _export_rows(source: Any) -> tuple[pa.Table, pa.Table]:
    """(transitions with role and left_at, items) from a Workspace or a Flow."""
    from valuestream.flow import Flow
    from valuestream.workspace import Workspace

    if isinstance(source, Workspace):
        mem = duckdb.connect(":memory:")
        mem.execute("SET TimeZone = 'UTC'")
        with source.attached(mem, "ws"):
            rows = mem.sql(
                SQL_EXPORT.format(transitions="ws.transitions", roles=SQL_WORKSPACE_ROLES)
            ).to_arrow_table()
            items = mem.sql(SQL_ITEMS.format(items="ws.items")).to_arrow_table()
        mem.close()
        return rows, items
    if isinstance(source, Flow):
        # The Flow knows each transition's role (from the workflow or the source) and left_at.
        rows = pa.Table.from_pandas(source.transitions(), preserve_index=False)
        items = pa.Table.from_pandas(source.item_attributes(), preserve_index=False)
        return rows, items
    raise TypeError(f"write_xes takes a Workspace or a Flow, not {type(source).__name__}")


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


def write_xes(source: Any, path: str | Path) -> Path:
    """Write a Workspace's (or a Flow's) histories as an XES log, gzip-compressed if ``path`` ends in ``.gz``.

    One trace per item (concept:name = the item), one event per state entered (concept:name = the
    state, time:timestamp in UTC); touch states, where roles are known, as lifecycle start and
    complete events, so that process-mining tools see work and the waiting between it.
    """
    path = Path(path)
    rows, items = _export_rows(source)
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
