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

Parsing keeps events as columns (numpy and Arrow arrays) from the scan of the document to the
tables, and turns times into Arrow timestamps in one vectorised cast.
"""

from __future__ import annotations

import datetime as dt
import gzip
import html
import io
import json
import re
import threading
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import sleep
from typing import IO, Any, TypeAlias, overload
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from valuestream.errors import InputError
from valuestream.sources.compression import DUCKDB_READS, inner_name, open_bytes, plain_copy
from valuestream.sources.spill import in_memory
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


Ints: TypeAlias = np.ndarray | Sequence[int]
Texts: TypeAlias = pa.Array | Sequence[str | None]


@dataclass(eq=False)
class _Events:
    """Raw events as parallel columns, with their cases (traces) and where each came from.

    The readers hand the event columns over as arrays (``trace`` and ``line`` numpy, the texts
    Arrow strings), so that no Python object is made per event; plain lists are taken too.
    """

    trace: Ints = field(default_factory=list)
    activity: Texts = field(default_factory=list)
    time: Texts = field(default_factory=list)
    lifecycle: Texts = field(default_factory=list)
    start: Texts = field(default_factory=list)
    line: Ints = field(default_factory=list)
    case_names: list[str] = field(default_factory=list)
    case_attributes: list[dict[str, Any]] = field(default_factory=list)
    case_lines: Sequence[int] = field(default_factory=list)
    state: list[str | None] | None = None
    """Each event's state when it is taken from other attributes than the activity."""
    state_name: str | None = None
    event_values: pa.Array | None = None
    """Per case, the distinct values its events carry of each event attribute (times aside), as
    JSON members (see :func:`value_sets`)."""

    def __eq__(self, other: object) -> bool:
        """The same events, cases and value sets, whether held as arrays or lists."""
        if not isinstance(other, _Events):
            return NotImplemented
        return all(
            _plain(getattr(self, f)) == _plain(getattr(other, f)) for f in self.__dataclass_fields__
        )


def _plain(value: Any) -> Any:
    """A column as a list (None stays None), for comparing columns held either way."""
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value.to_pylist()
    if isinstance(value, np.ndarray | _Lines):
        return value.tolist()
    return list(value) if isinstance(value, list | tuple) else value


class _Lines(Sequence[int]):
    """The line numbers of places in a document, as expat counts them (CR LF and a lone CR end a
    line too), each counted when it is asked for: they only name the place of an error."""

    def __init__(self, data: bytes, at: np.ndarray) -> None:
        self._data, self._at = data, at

    def __len__(self) -> int:
        return len(self._at)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return self.tolist()[index]
        at, data = int(self._at[index]), self._data
        return data.count(b"\n", 0, at) + data.count(b"\r", 0, at) - data.count(b"\r\n", 0, at) + 1

    def tolist(self) -> list[int]:
        raw = np.frombuffer(self._data, dtype=np.uint8)
        breaks = np.flatnonzero(raw == 10)
        if b"\r" in self._data:
            cr = np.flatnonzero(raw == 13)
            lone = cr[(cr + 1 >= len(raw)) | (raw[np.minimum(cr + 1, len(raw) - 1)] != 10)]
            breaks = np.sort(np.concatenate([breaks, lone]))
        return (np.searchsorted(breaks, self._at) + 1).tolist()


def _texts(values: Texts) -> pa.Array:
    """A text column as an Arrow string array (as it is when it is one)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, type=pa.string())


def _ints(values: Ints) -> np.ndarray:
    """An integer column as int64 numpy."""
    return np.asarray(values, dtype=np.int64)


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


_json = json.JSONEncoder(ensure_ascii=False).encode
"""json.dumps(value, ensure_ascii=False), without making an encoder per call (one per case)."""

NOT_ITEM_ATTRIBUTES = frozenset({TIME_COLUMN, START_COLUMN})
"""Event attributes that are not kept with the item: times (every event has its own)."""


def value_sets(
    case: np.ndarray, keys: pa.Array, values: pa.Array, own: Sequence[Mapping[str, Any]]
) -> pa.Array:
    """Per case, each event attribute with the distinct values its events carry, as JSON members
    (``"org:resource": ["10629", "112"], ...``; null for a case with none): the item-level form of
    event attributes, an item "having" every value any of its events carries, as it has each of
    its labels. Keys and values are sorted.

    ``case``, ``keys`` and ``values``: one entry per event attribute, the case it belongs to;
    ``own``: each case's trace attributes (a key the trace has itself is left to the trace). In
    arrays throughout (strings are encoded once per distinct value), because logs are large.
    """
    cases = len(own)
    keep = _flags(pc.and_(pc.is_valid(keys), pc.is_valid(values)))
    if isinstance(keys, pa.DictionaryArray) and len(keys.dictionary):  # times, by their codes
        times = _flags(pc.is_in(keys.dictionary, value_set=pa.array(sorted(NOT_ITEM_ATTRIBUTES))))
        keep &= ~times[pc.fill_null(keys.indices, 0).to_numpy(zero_copy_only=False)]
    else:
        keep &= ~_flags(pc.is_in(keys, value_set=pa.array(sorted(NOT_ITEM_ATTRIBUTES))))
    rows = np.flatnonzero(keep)
    if not len(rows):
        return pa.nulls(cases, pa.string())
    case = np.asarray(case, dtype=np.int64)[rows]
    take = pa.array(rows)
    key_codes, key_text = _ranked(keys.take(take))
    value_codes, value_text = _ranked(values.take(take))
    n_keys, n_values = len(key_text), len(value_text)
    # one number per (case, key, value), ordered as they sort: unique ones are the sets, in order
    code = _distinct(
        (case * n_keys + key_codes) * n_values + value_codes, cases * n_keys * n_values
    )
    pair, value = np.divmod(code, n_values)
    owner, key = np.divmod(pair, n_keys)
    taken = set().union(*own) & set(key_text) if cases else set()
    if taken:  # rare: a trace attribute and an event attribute of the same name
        drop = np.zeros(len(code), dtype=bool)
        for name in taken:
            has = np.array([name in a for a in own], dtype=bool)
            drop |= (key == key_text.index(name)) & has[owner]
        code, pair, owner, key, value = (
            code[~drop],
            pair[~drop],
            owner[~drop],
            key[~drop],
            value[~drop],
        )
    starts = np.flatnonzero(np.diff(pair, prepend=-1) != 0)
    quoted = pa.array([_json(v) for v in value_text], pa.string())
    members = pc.binary_join(
        pa.ListArray.from_arrays(
            pa.array(np.append(starts, len(code)), pa.int32()), quoted.take(pa.array(value))
        ),
        ", ",
    )
    named = pa.array([_json(k) + ": [" for k in key_text], pa.string())
    members = pc.binary_join_element_wise(
        named.take(pa.array(key[starts])), members, pa.scalar("]"), ""
    )
    per_case = np.concatenate([[0], np.cumsum(np.bincount(owner[starts], minlength=cases))])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(per_case, pa.int32()), members), ", ")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def _distinct(codes: np.ndarray, size: int) -> np.ndarray:
    """The distinct codes (0 <= code < size), sorted: marked in a table of ``size`` when that is
    small enough (no sort), else by np.unique."""
    if size > 64 * 1024 * 1024:
        return np.unique(codes)
    seen = np.zeros(size, dtype=bool)
    seen[codes] = True
    return np.flatnonzero(seen)


def _ranked(texts: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Each string's rank among the distinct strings (sorted), and those strings (no nulls;
    dictionary-encoded strings are taken as they are, their unused entries left out)."""
    encoded = texts if isinstance(texts, pa.DictionaryArray) else pc.dictionary_encode(texts)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = encoded.dictionary
    used = np.flatnonzero(np.bincount(indices, minlength=len(dictionary)))
    if len(used) < len(dictionary):
        dictionary = dictionary.take(pa.array(used))
        indices = np.searchsorted(used, indices)
    order = pc.array_sort_indices(dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[indices], dictionary.take(pa.array(order)).to_pylist()


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


def _parse_xes(
    fh: IO[bytes], path: Path, state: str | None = None, *, head: bytes = b""
) -> _Events:
    """Stream the XML, keeping each event's activity, time, lifecycle and start time.

    With ``state``, each event's value of those attributes (see :func:`state_keys`) is kept too.
    ``head``: the document's first bytes, already read from ``fh``.
    """
    ev = _Events()
    classifiers: dict[str, list[str]] = {}
    wanted: list[str] | None = None  # the state's keys, resolved when the first trace opens
    values: dict[str, str | None] = {}
    if state is not None:
        ev.state = []
    # every event attribute, for the items' value sets (see value_sets)
    attr_case: list[int] = []
    attr_key: list[str | None] = []
    attr_value: list[str | None] = []
    add_attr_case, add_attr_key, add_attr_value = (
        attr_case.append,
        attr_key.append,
        attr_value.append,
    )
    parser = expat.ParserCreate()
    parser.buffer_text = True
    # Locals bound once: these handlers run for every element of the file.
    traces: list[int] = []
    activities: list[str] = []
    times: list[str] = []
    lifecycles: list[str | None] = []
    starts: list[str | None] = []
    lines: list[int] = []
    case_lines: list[int] = []
    add_trace, add_activity, add_time = traces.append, activities.append, times.append
    add_life, add_start, add_line = lifecycles.append, starts.append, lines.append
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
            add_attr_case(len(ev.case_names))
            add_attr_key(key)
            add_attr_value(attrs.get("value"))
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
            case_lines.append(case_line)

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    try:
        if head:
            parser.Parse(head, False)
        parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise _xml_error(exc, path) from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
        raise InputError(f"cannot be read: {exc}", file=path) from None
    if not seen_log:
        raise InputError("not an XES log: no <log> element", file=path)
    if state is not None and wanted is None:  # a log without traces
        ev.state_name = "+".join(state_keys(state, classifiers))
    ev.event_values = value_sets(
        np.asarray(attr_case, dtype=np.int64), pa.array(attr_key, pa.string()), pa.array(attr_value, pa.string()),
        ev.case_attributes,
    )  # fmt: skip
    ev.trace, ev.line, ev.case_lines = _ints(traces), _ints(lines), case_lines
    ev.activity, ev.time = _texts(activities), _texts(times)
    ev.lifecycle, ev.start = _texts(lifecycles), _texts(starts)
    return ev


# -- the whole document at once ------------------------------------------------------------------

WHOLE_LIMIT = 1 << 30
"""Logs up to this many bytes (uncompressed) are read whole and scanned as arrays; larger ones,
and any whose markup the scan does not expect, stream through expat event by event."""

_ATTRIBUTE = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_NEEDS_FIXING = "[&\t\n\r]"
_TEXT = re.compile(rb">[ \t\r\n]*[^ \t\r\n<]")
_CLASSIFIER = re.compile(r"classifier[ \t\r\n/>]")
_WHITE = np.zeros(256, dtype=bool)
_WHITE[[32, 9, 10, 13]] = True
_NAME_END = _WHITE.copy()  # what may follow an element's name
_NAME_END[[ord(">"), ord("/")]] = True
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ABOVE_SPACE = np.uint64(0x5F5F5F5F5F5F5F5F)  # added to a byte's low 7 bits: 0x80 from 0x21 up
_HIGH = np.uint64(0x8080808080808080)
_QUOTES = np.uint64(0x2222222222222222)  # a double quote in every byte
_FIRST = np.array([int("80" * k or "0", 16) for k in range(9)], dtype=np.uint64)
"""The high bit of each of the first k bytes of a word (see :func:`_words`), for k = 0..8."""
_KEY_IS = int.from_bytes(b'key="', "little")
_VALUE_IS = int.from_bytes(b'value="', "little")


def _words(data: bytes, at: np.ndarray) -> np.ndarray:
    """The 8 bytes from each position as one little-endian number (zeros past the end): one
    gather answers questions about several bytes at once (a name, a gap of white space)."""
    size = len(data)
    if size >= 8 and (not len(at) or at.max() <= size - 8):
        return np.ndarray((size - 7,), dtype="<u8", buffer=data, strides=(1,))[at]
    out = np.zeros(len(at), dtype=np.uint64)
    inside = at <= size - 8
    if size >= 8:
        view = np.ndarray((size - 7,), dtype="<u8", buffer=data, strides=(1,))
        out[inside] = view[at[inside]]
    late = np.flatnonzero(~inside)
    if len(late):
        first = max(size - 8, 0)
        tail = data[first:] + bytes(16 - (size - first))
        view = np.ndarray((9,), dtype="<u8", buffer=tail, strides=(1,))
        out[late] = view[at[late] - first]
    return out


def _zero_lanes(words: np.ndarray) -> np.ndarray:
    """The high bit of each byte of each word that is zero (exact: no carry crosses bytes)."""
    return ~(((words & _LOW7) + _LOW7) | words | _LOW7)


def _lowest_lane(high_bits: np.ndarray) -> np.ndarray:
    """Which byte (0-7) of each word holds the lowest of these high bits; -1 for none."""
    lowest = high_bits & (~high_bits + np.uint64(1))
    exponent = np.frexp(lowest.astype(np.float64))[1]  # 2 ** (8k + 7) has exponent 8k + 8
    return np.where(lowest == 0, -1, (exponent - 8) // 8)


def _above_space(words: np.ndarray) -> np.ndarray:
    """The high bit of each byte of each word above 0x20 (exact: no carry crosses bytes)."""
    return ((words & _LOW7) + _ABOVE_SPACE) | words


def _no_text(data: bytes, start: np.ndarray, stop: np.ndarray) -> bool:
    """Whether the bytes from each start to its stop are all white space, eight at a time for
    short gaps (a line end and indentation), a regular expression when many are long.

    A byte up to 0x20 counts as white space: the others there (control characters) are not
    allowed in XML, and expat, which checks the same document, rejects it for them.
    """
    first, at, length = int(start[0]) if len(start) else 0, start, stop - start
    for offset in range(0, 32, 8):
        if np.any(_above_space(_words(data, at)) & _FIRST[np.clip(length - offset, 0, 8)]):
            return False
        longer = np.flatnonzero(length > offset + 8)
        if not len(longer):
            return True
        at, length = at[longer] + 8, length[longer]
    if len(at) > 1000:
        return not _TEXT.search(data, first - 1)
    return all(
        not data[a : a + n - 32].strip(b" \t\r\n")
        for a, n in zip(at.tolist(), length.tolist(), strict=True)
    )


def _xml_error(exc: expat.ExpatError, path: Path) -> InputError:
    reason = expat.errors.messages[exc.code]
    return InputError(
        f"not well-formed XML: {reason} (column {exc.offset + 1})", file=path, line=exc.lineno
    )


def _check_xml(data: bytes, path: Path, between: Callable[[], None] = lambda: None) -> None:
    """Expat checks the whole document (no handler runs, so this is C speed); its root is <log>.

    Fed a piece at a time, ``between`` called after each, so that the thread running it can let
    others run between pieces (see :class:`_WellFormed`).
    """
    parser = expat.ParserCreate()

    def root(tag: str, attrs: dict[str, str]) -> None:
        parser.StartElementHandler = None
        if tag != "log":
            raise InputError(
                f"not an XES log: the document starts with <{tag}>, not <log>",
                file=path,
                line=parser.CurrentLineNumber,
            )
        seen.append(tag)

    seen: list[str] = []
    parser.StartElementHandler = root
    view = memoryview(data)
    try:
        for start in range(0, len(data), _PIECE):
            parser.Parse(view[start : start + _PIECE], False)
            between()
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _xml_error(exc, path) from None
    if not seen:
        raise InputError("not an XES log: no <log> element", file=path)


_PIECE = 1 << 15
"""Bytes expat reads per call: short enough to hand the interpreter over often, long enough that
handing it over costs little (BPI 2012 on two free cores: check and scan together took 1.32 s
with 32 KB, 1.38 s with 64 KB, 1.82 s with 256 KB, and 1.86 s without handing over; 1.0 s each
alone)."""


class _WellFormed:
    """:func:`_check_xml` in a thread of its own, started at once: expat holds the interpreter while
    it reads, but numpy and Arrow let go of it in their loops, so on a second core the array scan
    runs beside the check instead of after it. :meth:`wait` raises what the check found.

    The check hands the interpreter over after each piece while the scan runs (else each of the
    scan's many array operations waits for it until the switch interval, 5 ms, has passed), and
    reads on alone once the scan waits for it.
    """

    def __init__(self, data: bytes, path: Path) -> None:
        self._error: BaseException | None = None
        self._alone = False
        self._thread = threading.Thread(
            target=self._run, args=(data, path), name="xes-check", daemon=True
        )
        self._thread.start()

    def _between(self) -> None:
        if not self._alone:
            sleep(0)

    def _run(self, data: bytes, path: Path) -> None:
        try:
            _check_xml(data, path, self._between)
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc

    def wait(self) -> None:
        self._alone = True
        self._thread.join()
        if self._error is not None:
            raise self._error


def _attribute_text(text: str) -> str:
    """An attribute value as XML hands it over: white space normalised, then references replaced."""
    return html.unescape(
        text.replace("\r\n", " ").replace("\t", " ").replace("\n", " ").replace("\r", " ")
    )


def _attributes_of(text: str) -> dict[str, str]:
    """The attributes of one element's markup, as expat would report them."""
    return {_attribute_text(m[0]): _attribute_text(m[1] or m[2]) for m in _ATTRIBUTE.findall(text)}


def _holds(texts: pa.Array, *parts: bytes) -> bool:
    """Whether any of these strings holds any of these bytes (one search through the bytes of
    them all, not one per string)."""
    buffer = texts.buffers()[2]
    if buffer is None:
        return False
    data = buffer.to_pybytes()
    return any(part in data for part in parts)


def _needs_fixing(texts: pa.Array) -> bool:
    """Whether any of these strings holds a reference or white space that XML rewrites."""
    return _holds(texts, b"&", b"\t", b"\n", b"\r")


def _flags(mask: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _last_per(groups: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """For each group 0..size-1, the last of its rows (-1 where it has none); ``groups`` never
    goes down (the rows are in the document's order)."""
    out = np.full(size, -1, dtype=np.int64)
    if len(rows):
        last = np.append(groups[1:] != groups[:-1], True)
        out[groups[last]] = rows[last]
    return out


def _scan_xes(data: bytes, path: Path, state: str | None) -> _Events | None:
    """Read a whole XES document as arrays: the same events as :func:`_parse_xes`, without a
    Python call per element. None when the markup holds what the scan leaves to expat: another
    encoding than UTF-8, comments or CDATA inside the log, a '>' inside a value, text between
    elements, or attributes written otherwise than ``key="..." value="..."`` in many elements.
    """
    declared = _ENCODING.match(data[:400])
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None  # UTF-16
    checked = _WellFormed(data, path)
    try:
        found = _scan_arrays(data, path, state)
    except BaseException:
        checked.wait()  # a document that is not well-formed XML is named as such first
        raise
    checked.wait()
    return found


def _scan_arrays(data: bytes, path: Path, state: str | None) -> _Events | None:
    """The scan of :func:`_scan_xes`, on a document expat is checking at the same time."""
    raw = np.frombuffer(data, dtype=np.uint8)
    size = len(data)
    # Where the bytes that shape the document are: '<' and '>' marked a megabyte at a time (each
    # comparison's result stays in the processor's cache; a table lookup of every byte costs more).
    mask = np.empty(size, dtype=bool)
    for at in range(0, size, 1 << 20):
        part, marked = raw[at : at + (1 << 20)], mask[at : at + (1 << 20)]
        np.equal(part, ord("<"), out=marked)
        marked |= part == ord(">")
    marks = np.flatnonzero(mask)
    del mask
    opens = raw[marks] == ord("<")
    if not opens.any():
        return None
    first = int(np.argmax(opens))
    marks, opens = marks[first:], opens[first:]
    # each '<' has its '>' before the next '<'
    if len(marks) % 2 or not opens[0::2].all() or opens[1::2].any():
        return None  # a '>' in a value or in text, or a '<' in a comment: expat reads those
    lt, gt = marks[0::2].copy(), marks[1::2].copy()
    n = len(lt)
    end = gt  # each element's closing '>'
    # Every '>' now ends an element: between one and the next '<' only white space may stand.
    if not _no_text(data, gt + 1, np.append(lt[1:], size)):
        return None
    word = _words(data, lt + 1)  # the first bytes of every piece of markup: its name
    head = (word & np.uint64(0xFF)).astype(np.uint8)
    close = head == ord("/")
    other = (head == ord("?")) | (head == ord("!"))  # the declaration, comments
    if np.any(other):
        dashes = ((word >> np.uint64(8)) & np.uint64(0xFF)) == ord("-")
        if np.any((head == ord("!")) & ~dashes):
            return None  # a DOCTYPE or CDATA
        markup = np.flatnonzero(~other)
        if len(markup) and np.any(other[markup[0] : markup[-1]]):
            return None  # comments or processing instructions inside the log
    element = ~close & ~other
    empty = element & (raw[end - 1] == ord("/"))
    # elements open around each piece (the log is at level 0); fewer than 2**31 pieces in 1 GB
    step = (element & ~empty).astype(np.int32) - close
    level = np.cumsum(step, dtype=np.int32) - step
    # every piece of markup as a string, without copying: from after its "<" to the next one
    offsets = np.append(lt + 1, size).astype(np.int32 if size < 2**31 else np.int64)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    pieces = pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])

    def named(name: bytes) -> np.ndarray:
        """Elements with this name (of at most 7 bytes; the byte after it ends the name)."""
        bits = np.uint64(8 * len(name))
        hit = (word & np.uint64((1 << bits) - 1)) == np.uint64(int.from_bytes(name, "little"))
        return element & hit & _NAME_END[(word >> bits) & np.uint64(0xFF)]

    # the names that give the document its shape
    is_trace = named(b"trace") & (level == 1)
    is_event_tag = named(b"event")
    # the level-1 element each piece is in, and the level-2 one
    every = np.arange(n, dtype=np.int32)
    at1 = np.maximum.accumulate(np.where(element & (level == 1), every, 0))
    at2 = np.maximum.accumulate(np.where(element & (level == 2), every, 0))
    in_trace = (level >= 2) & is_trace[at1]
    is_event = is_event_tag & (level == 2) & in_trace
    event_attr = element & (level == 3) & in_trace & is_event[at2]
    trace_attr = element & (level == 2) & in_trace & ~is_event
    trace_of = np.cumsum(is_trace) - 1
    event_of = np.cumsum(is_event) - 1

    def line(at: np.ndarray) -> _Lines:
        return _Lines(data, lt[at])

    def attributes(rows: np.ndarray, tags: bool) -> tuple[list[str | None], pa.Array, pa.Array]:
        """(tag, key, value) of attribute elements: those written ``<tag key="K" value="V"/>``
        (how OpenXES, ProM, pm4py and Disco write them) straight from the bytes around their
        quotes, others one by one; the tags only when asked for."""
        if not len(rows):
            return [], pa.array([], kind), pa.array([], kind)
        # the name, then one white space and key=" (a name of up to 7 bytes: all XES types)
        named_up_to = _lowest_lane(~_above_space(word[rows]) & _HIGH)
        ok = named_up_to > 0
        at_key = lt[rows] + 1 + np.maximum(named_up_to, 0)
        w = _words(data, at_key)
        ok &= _WHITE[w & np.uint64(0xFF)]
        ok &= ((w >> np.uint64(8)) & np.uint64(0xFF_FFFF_FFFF)) == np.uint64(_KEY_IS)
        q0 = at_key + 5
        # the key's closing quote: the first after the opening one, eight bytes at a time
        q1 = np.full(len(rows), -1, dtype=np.int64)
        pending = np.flatnonzero(ok)
        for offset in range(1, 129, 8):
            if not len(pending):
                break
            hits = _zero_lanes(_words(data, q0[pending] + offset) ^ _QUOTES)
            found = hits != 0
            q1[pending[found]] = q0[pending[found]] + offset + _lowest_lane(hits[found])
            pending = pending[~found]
        ok[pending] = False  # a key of over 128 bytes: read one by one
        # then one white space and value=", and the value up to the quote before '>', '/>' or ' />'
        w = _words(data, np.maximum(q1 + 1, 0))
        ok &= _WHITE[w & np.uint64(0xFF)] & ((w >> np.uint64(8)) == np.uint64(_VALUE_IS))
        q2 = q1 + 8
        close = end[rows]
        b1, b2, b3 = (raw[np.maximum(close - k, 0)] for k in (1, 2, 3))
        slash = b1 == ord("/")
        q3 = np.where(
            b1 == ord('"'),
            close - 1,
            np.where(slash & (b2 == ord('"')), close - 2, np.where(slash & _WHITE[b2] & (b3 == ord('"')), close - 3, -1)),
        )  # fmt: skip
        ok &= (q3 > q2) & (q3 < close)
        odd = np.flatnonzero(~ok)
        if len(odd) > max(1000, len(rows) // 20):
            raise _Unusual
        # keys and values: strings over the document's bytes (no copy), [key, the bytes up to
        # the value, value, the bytes up to the next key, ...], every other one taken; odd rows
        # are empty there
        bounds = np.zeros(4 * len(rows), dtype=offsets.dtype)
        for k, at in enumerate((q0 + 1, q1, q2 + 1, q3)):
            bounds[k::4] = np.where(ok, at, 0)
        np.maximum.accumulate(bounds, out=bounds)
        texts = pa.Array.from_buffers(
            kind, len(bounds) - 1, [None, pa.py_buffer(bounds), pa.py_buffer(data)]
        )
        at = 4 * np.arange(len(rows))
        keys = texts.take(pa.array(at, mask=~ok))
        values = texts.take(pa.array(at + 2, mask=~ok))
        # a quote inside a value: the element holds more attributes (or is not XML)
        if _holds(values, b'"'):
            quoted = _flags(pc.greater_equal(pc.find_substring(values, '"'), 0))
            odd = np.union1d(odd, np.flatnonzero(quoted))
        fix = np.zeros(0, dtype=np.int64)
        if any(_needs_fixing(a) for a in (keys, values)):  # rare: look for them one by one
            fix = np.flatnonzero(
                _flags(pc.match_substring_regex(keys, _NEEDS_FIXING))
                | _flags(pc.match_substring_regex(values, _NEEDS_FIXING))
            )
        tag_list: list[str | None] = []
        if tags:
            tag_list = (
                pc.extract_regex(pieces.take(pa.array(rows)), r"^(?P<t>[^\s/>]+)")
                .field("t")
                .to_pylist()
            )
        if len(odd) or len(fix):
            key_list, value_list = keys.to_pylist(), values.to_pylist()
            for r in fix:
                key_list[r] = _attribute_text(key_list[r])
                value_list[r] = _attribute_text(value_list[r])
            for r in odd:
                attrs = _attributes_of(pieces[int(rows[r])].as_py())
                key_list[r], value_list[r] = attrs.get("key"), attrs.get("value")
            return tag_list, pa.array(key_list, pa.string()), pa.array(value_list, pa.string())
        return tag_list, keys, values

    try:
        ev = _Events()
        classifiers: dict[str, list[str]] = {}
        traces = np.flatnonzero(is_trace)
        first_trace = traces[0] if len(traces) else n
        # a name longer than a word: its first 8 bytes here, the rest in the (few) texts
        maybe = (word == np.uint64(int.from_bytes(b"classifi", "little"))) & element & (level == 1)
        for r in np.flatnonzero(maybe[:first_trace]):
            text = pieces[int(r)].as_py()
            if _CLASSIFIER.match(text):
                attrs = _attributes_of(text)
                if attrs.get("name") and attrs.get("keys"):
                    classifiers[attrs["name"]] = _classifier_keys(attrs["keys"])
        # Traces: their names and other attributes, typed as XES types them.
        rows = np.flatnonzero(trace_attr)
        tag_list, keys, values = attributes(rows, tags=True)
        names: list[str | None] = [None] * len(traces)
        attrs_of: list[dict[str, Any]] = [{} for _ in traces]
        for t, tag, key, value in zip(
            trace_of[rows].tolist(), tag_list, keys.to_pylist(), values.to_pylist(), strict=True
        ):
            if key == "concept:name":
                names[t] = value
            elif key is not None:
                attrs_of[t][key] = _typed(tag, value)
        ev.case_names = [
            name if name is not None else f"trace {k + 1}" for k, name in enumerate(names)
        ]
        ev.case_attributes = attrs_of
        ev.case_lines = line(traces)
        # Events: the attributes that make transitions, the last of each kind per event.
        events = np.flatnonzero(is_event)
        rows = np.flatnonzero(event_attr)
        _, texts, values = attributes(rows, tags=False)
        owner = event_of[rows]
        keys = pc.dictionary_encode(texts)  # a few distinct keys: compared as numbers
        codes = pc.fill_null(keys.indices, -1).to_numpy(zero_copy_only=False)
        known = keys.dictionary.to_pylist()

        def column(key: str) -> pa.Array:
            mine = np.flatnonzero(codes == known.index(key)) if key in known else codes[:0]
            last = _last_per(owner[mine], mine, len(events))
            return values.take(pa.array(last, mask=last < 0))

        name_col, time_col = column("concept:name"), column(TIME_COLUMN)
        bad = np.flatnonzero(_flags(time_col.is_null()) | _flags(name_col.is_null()))
        if len(bad):
            k = int(bad[0])
            what = (
                "event has no time:timestamp"
                if not time_col[k].is_valid
                else "event has no concept:name (activity)"
            )
            raise InputError(what, file=path, line=line(events)[k])
        ev.trace = trace_of[events]
        ev.activity = name_col
        ev.time = time_col
        ev.lifecycle = column(LIFECYCLE_COLUMN)
        ev.start = column(START_COLUMN)
        ev.line = line(events)
        ev.event_values = value_sets(trace_of[rows], keys, values, ev.case_attributes)
        if state is not None:
            wanted = state_keys(state, classifiers)
            ev.state_name = "+".join(wanted)
            joined = pc.binary_join_element_wise(*(column(k) for k in wanted), "+")
            ev.state = joined.to_pylist()
        return ev
    except _Unusual:
        return None


class _Unusual(Exception):
    """Markup the array scan leaves to expat."""


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
    values: Texts,
    lines: Ints,
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
    arr = _texts(values)
    try:
        parsed = pc.cast(arr, TIMESTAMP).cast(pa.int64())
        return parsed.fill_null(missing).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.empty(len(arr), dtype=np.int64)
    for i, text in enumerate(arr.to_pylist()):
        if text is None or not text.strip():
            out[i] = missing
            continue
        try:
            out[i] = _micros_slow(text, zone)
        except ValueError:
            raise InputError(
                f"cannot read {what} '{text}' as a time; expected ISO 8601 such as 2011-10-01T00:38:44.546+02:00",
                file=path,
                row=int(lines[i]) if row_numbers else None,
                line=int(lines[i]) + 1
                if row_numbers
                else int(lines[i]),  # a CSV's data row i is on line i + 1
                column=what if row_numbers else None,
            ) from None
    return out


# -- events to transitions -----------------------------------------------------------------------


def _has_lifecycle(ev: _Events) -> bool:
    """Whether the log says when work starts (start/resume transitions, or start timestamps)."""
    start = _texts(ev.start)
    if start.null_count < len(start):
        return True
    kinds = pc.unique(pc.utf8_lower(pc.drop_null(_texts(ev.lifecycle)))).to_pylist()
    return bool(set(kinds) & STARTS)


def _plain_transitions(ev: _Events, times: np.ndarray, names: pa.Array) -> pa.Table:
    """Each event enters the state named by its activity, or by its ``state`` attributes when
    they were asked for, leaving out events without them (vectorised: no loop over events)."""
    table = pa.table(
        {
            "item": names.take(pa.array(_ints(ev.trace))),
            "state": _texts(ev.activity if ev.state is None else ev.state),
            "entered_at": pa.array(times, type=pa.int64()).cast(TIMESTAMP),
            "seq": pa.array(np.arange(len(ev.activity), dtype=np.int64)),
        }
    )
    return table if ev.state is None else table.filter(pc.is_valid(table["state"]))


def _in_groups(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by group: whether each row starts its group, and its group's first row."""
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return first, np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))


def _running_max(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The maximum so far of ``values`` within each group (rows sorted by group)."""
    if not len(values):
        return values
    ranks = np.empty(len(values), dtype=np.int64)
    by_value = np.argsort(values, kind="stable")
    ranks[by_value] = np.arange(len(values))
    dense = np.searchsorted(group, group, side="left")  # a group number that only grows
    shifted = ranks + dense * (len(values) + 1)
    best = np.maximum.accumulate(shifted) - dense * (len(values) + 1)
    return values[by_value][best]


def _lifecycle_transitions(
    ev: _Events, times: np.ndarray, starts: np.ndarray, names: pa.Array
) -> tuple[pa.Table, dict[str, str]]:
    """Touch (start to complete), waiting (complete to next start), suspended and the case end.

    Per case, in the log's order: a start (or resume) opens work on its activity, the next end
    closes the earliest open one (first in, first out), a completion with nothing open is an
    instant; work still open at the case's last event ends there. Work intervals in start order
    then make touch time (overlaps go to the activity started last), the gaps between them are
    waiting (or suspended, after a suspend), and the case ends at its last event. Computed as
    array operations over all cases at once.
    """
    missing = np.int64(-(1 << 62))
    n = len(times)
    trace = _ints(ev.trace)
    encoded = pc.dictionary_encode(_texts(ev.activity))
    act = encoded.indices.to_numpy().astype(np.int64)
    activities = encoded.dictionary
    kind = pc.utf8_lower(pc.fill_null(_texts(ev.lifecycle), "complete"))
    opens = _flags(pc.is_in(kind, value_set=pa.array(sorted(STARTS))))
    closes = _flags(pc.is_in(kind, value_set=pa.array(sorted(ENDS))))
    resume = _flags(pc.equal(kind, "resume"))
    suspend = _flags(pc.equal(kind, "suspend"))
    complete = _flags(pc.equal(kind, "complete"))
    whole = starts != missing  # pm4py's start_timestamp: the event is a whole interval
    opens &= ~whole
    closes &= ~whole
    idle = ~whole & ~opens & ~closes

    # Each case's span: from its first time (or start time) to its last time.
    by_case = np.argsort(trace, kind="stable")
    cases, case_first = np.unique(trace[by_case], return_index=True)
    lo = np.minimum.reduceat(np.where(whole, np.minimum(times, starts), times)[by_case], case_first)
    hi = np.maximum.reduceat(times[by_case], case_first)
    case_of = np.searchsorted(cases, trace)  # 0..cases-1 for every event

    # Starts and ends of one activity in one case, matched first in, first out.
    flow = np.flatnonzero(opens | closes)
    flow = flow[np.lexsort((flow, act[flow], trace[flow]))]
    key = trace[flow] * (len(activities) + 1) + act[flow]
    starts_here, group_first = _in_groups(key)
    step = np.where(opens[flow], 1, -1)
    total = np.cumsum(step)
    level = total - (total[group_first] - step[group_first])  # running sum within the group
    # open work after each row: the running sum lifted by its lowest point so far (never < 0)
    spread = 2 * len(flow) + 2
    dense = np.cumsum(starts_here) - 1
    lowest = np.minimum.accumulate(level - dense * spread) + dense * spread
    open_after = level - np.minimum(lowest, 0)
    open_before = np.where(starts_here, 0, np.roll(open_after, 1))
    matched = closes[flow] & (open_before > 0)
    # the k-th matched end of a group closes the k-th start of that group
    start_rows = flow[opens[flow]]
    end_rows = flow[matched]
    first_start = np.cumsum(opens[flow])[group_first] - opens[flow][group_first]
    end_first = np.cumsum(matched)[group_first] - matched[group_first]
    start_k = (np.cumsum(opens[flow]) - 1 - first_start)[opens[flow]]
    end_k = (np.cumsum(matched) - 1 - end_first)[matched]
    start_group = dense[opens[flow]]
    end_group = dense[matched]
    # where each matched end's start sits among the starts (sorted by group, then rank)
    start_pos = np.searchsorted(
        start_group * (len(flow) + 1) + start_k, end_group * (len(flow) + 1) + end_k
    )
    paired = np.zeros(len(start_rows), dtype=bool)
    paired[start_pos] = True
    # a resume after a suspend of the same activity: the time until it is suspended, not waiting
    marks = flow[opens[flow] | suspend[flow]]
    mark_first, _ = _in_groups(key[opens[flow] | suspend[flow]])
    after_suspend = np.zeros(n, dtype=bool)
    after = np.zeros(len(marks), dtype=bool)
    after[1:] = suspend[marks[:-1]] & ~mark_first[1:]
    after_suspend[marks] = after & resume[marks]

    # Work intervals: (case, start, order, end, activity, after a suspend)
    singles = np.flatnonzero(whole)
    instants = flow[closes[flow] & ~matched & complete[flow]]
    left = start_rows[~paired]
    i_start = np.concatenate(
        [starts[singles], times[start_rows[start_pos]], times[instants], times[left]]
    )
    i_order = np.concatenate([singles, start_rows[start_pos], instants, left])
    i_end = np.concatenate([times[singles], times[end_rows], times[instants], hi[case_of[left]]])
    i_act = act[i_order]
    i_flag = after_suspend[i_order]  # only a resume can follow a suspend
    i_case = case_of[i_order]
    sort = np.lexsort((i_order, i_start, i_case))
    i_start, i_order, i_end, i_act, i_flag, i_case = (
        a[sort] for a in (i_start, i_order, i_end, i_act, i_flag, i_case)
    )
    case_starts, _ = _in_groups(i_case)
    done = _running_max(i_end, i_case)  # the work done so far ends here (this interval included)
    busy = np.where(case_starts, lo[i_case], np.maximum(np.roll(done, 1), lo[i_case]))
    gap = i_start > busy
    touch = gap | (i_end > i_start) | (i_start == busy)
    busy_end = lo.copy()
    if len(i_case):
        np.maximum.at(busy_end, i_case, i_end)

    # The event the case last stood at while idle (or its first event): its waiting state at the end.
    marker = np.concatenate([by_case[case_first], np.flatnonzero(idle)])
    marker_rank = np.concatenate([np.full(len(case_first), -1), np.flatnonzero(idle)])
    pick = np.lexsort((marker_rank, times[marker], case_of[marker]))
    last_of_case = np.r_[np.flatnonzero(np.diff(case_of[marker][pick])), len(pick) - 1]
    last_marker = act[marker[pick][last_of_case]]

    # Rows out: per case its intervals (gap, then work) in start order, then the final wait and end.
    a_count = len(activities)
    k = np.arange(len(i_case))
    finals = np.arange(len(cases))
    tail = hi > busy_end
    row_case = np.concatenate([i_case[gap], i_case[touch], finals[tail], finals])
    row_rank = np.concatenate(
        [k[gap], k[touch], np.full(tail.sum(), len(k)), np.full(len(finals), len(k))]
    )
    row_sub = np.concatenate(
        [np.zeros(gap.sum()), np.ones(touch.sum()), np.zeros(tail.sum()), np.ones(len(finals))]
    )
    row_state = np.concatenate(
        [
            np.where(i_flag[gap], 2 * a_count, a_count) + i_act[gap],
            i_act[touch],
            a_count + last_marker[tail],
            np.full(len(finals), 3 * a_count),
        ]
    )
    row_time = np.concatenate([busy[gap], i_start[touch], busy_end[tail], hi])
    row_role = np.concatenate(
        [
            np.where(i_flag[gap], 2, 1),
            np.zeros(touch.sum(), dtype=np.int64),
            np.ones(tail.sum(), dtype=np.int64),
            np.full(len(finals), 3),
        ]
    )
    out = np.lexsort((row_sub, row_rank, row_case))
    dictionary = pa.concat_arrays(
        [
            activities,
            pa.array([waiting_state(a) for a in activities.to_pylist()], pa.string()),
            pa.array([suspended_state(a) for a in activities.to_pylist()], pa.string()),
            pa.array([END_STATE], pa.string()),
        ]
    )
    state_of = row_state[out]
    states = dictionary.take(pa.array(state_of))
    # each state's role where it is first entered (two codes may name one state: the first wins)
    codes, first = np.unique(state_of, return_index=True)
    role_names = ("touch", "wait", "blocked", "finish")
    labels, role_of = dictionary.to_pylist(), row_role[out]
    roles: dict[str, str] = {}
    for f in np.sort(first).tolist():
        roles.setdefault(labels[state_of[f]], role_names[role_of[f]])
    table = pa.table(
        {
            "item": names.take(pa.array(cases[row_case[out]])),
            "state": states,
            "entered_at": pa.array(row_time[out], type=pa.int64()).cast(TIMESTAMP),
            "seq": pa.array(np.arange(len(out), dtype=np.int64)),
        }
    )
    return table, roles


def _items_table(ev: _Events) -> pa.Table:
    """One row per case. Its attributes: the trace's own, as they are, and for each event
    attribute the sorted list of the values its events carry (``org:resource``, the activities
    under ``concept:name``), unless the trace has an attribute of that name (the trace's stands)."""

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
            "attributes": _with_event_values(ev),
        }
    )


def _with_event_values(ev: _Events) -> pa.Array:
    """The cases' attributes as JSON: the trace's own, then the events' value sets (a key the
    trace has itself keeps the trace's value)."""
    own = pa.array([_json(a) if a else None for a in ev.case_attributes], pa.string())
    seen = ev.event_values
    if seen is None or seen.null_count == len(seen):
        return own
    opened = pc.utf8_slice_codeunits(own, 0, -1)  # the trace's object without its closing brace
    both = pc.binary_join_element_wise(
        pc.binary_join_element_wise(opened, seen, ", "), pa.scalar("}"), ""
    )
    alone = pc.binary_join_element_wise(pa.scalar("{"), seen, pa.scalar("}"), "")
    return pc.if_else(pc.is_null(seen), own, pc.if_else(pc.is_null(own), alone, both))


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
    if not len(ev.activity):
        raise InputError("the log has no events", file=path)
    # A CSV's cases are its distinct case ids; an XES log could name two traces alike.
    if len(set(ev.case_names)) < len(ev.case_names):
        seen: dict[str, int] = {}
        for index, name in enumerate(ev.case_names):
            if name in seen:
                first, line = ev.case_lines[seen[name]], ev.case_lines[index]
                raise InputError(
                    f"trace '{name}' appears twice (lines {first} and {line}); each trace needs its own concept:name",
                    file=path,
                    line=line,
                )
            seen[name] = index
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
    try:
        with open_bytes(path) as fh:
            data = fh.read(WHOLE_LIMIT + 1)
            if len(data) > WHOLE_LIMIT:
                ev = _parse_xes(fh, path, state, head=data)
            else:
                ev = _scan_xes(data, path, state) or _parse_xes(io.BytesIO(data), path, state)
    except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
        raise InputError(f"cannot be read: {exc}", file=path) from None
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
    con = in_memory()
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
    ev.trace = _ints(encoded.indices.to_numpy(zero_copy_only=False))
    ev.case_names = encoded.dictionary.to_pylist()
    ev.activity = _texts(table[cols["activity"]])
    ev.time = _texts(table[cols["time"]])
    n = table.num_rows
    nothing = pa.nulls(n, pa.string())
    ev.lifecycle = _texts(table[cols["lifecycle"]]) if "lifecycle" in cols else nothing
    starts = _texts(table[cols["start"]]) if "start" in cols else nothing
    blank = pc.equal(pc.utf8_trim_whitespace(starts), "")
    ev.start = pc.if_else(pc.fill_null(blank, False), pa.scalar(None, pa.string()), starts)
    ev.line = _ints(rows)  # data rows; the file line is one more (the header)
    if state_columns is not None:
        parts = [table[c].to_pylist() for c in state_columns]
        ev.state = [
            None
            if any(v is None or not v.strip() for v in got)
            else "+".join(v.strip() for v in got)
            for got in zip(*parts, strict=True)
        ]
        ev.state_name = "+".join(state_columns)
    first = np.unique(ev.trace, return_index=True)[1]
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
    # The other columns are event attributes (Disco's Resource, say), kept as value sets; the
    # activity is one too, under its column's name.
    per_event = [
        c
        for c in header
        if (c not in used or c == cols["activity"]) and c not in extra and not _UNNAMED.fullmatch(c)
    ]
    ev.event_values = value_sets(
        np.tile(ev.trace, len(per_event)),
        pa.array(np.repeat(per_event, n) if per_event else [], pa.string()),
        pa.concat_arrays([_text_column(table[c]) for c in per_event]) if per_event else pa.array([], pa.string()),
        ev.case_attributes,
    )  # fmt: skip
    return ev


_UNNAMED = re.compile(r"column\d+|Unnamed: \d+|\s*")
"""Names a column without a header gets (from DuckDB, or pandas): the index pandas writes."""


def _text_column(column: pa.ChunkedArray) -> pa.Array:
    """A column as text, blanks as missing (a CSV's empty cell is no value)."""
    text = pc.utf8_trim_whitespace(column.cast(pa.string()).combine_chunks())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


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
