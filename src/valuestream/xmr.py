"""Process Behavior Charts (XmR): natural process limits, signals, and predictability.

The definitions are DESIGN.md's "Process Behavior Charts (XmR)" (Wheeler's XmR chart):

- central line = mean of the baseline values; mR-bar = mean of the baseline's moving ranges;
- natural process limits = centre +- 2.66 x mR-bar; upper range limit = 3.268 x mR-bar;
- rule 1: a value outside the limits; rule 2: 3 of 4 successive values beyond centre +- 1.33 x
  mR-bar on the same side; rule 3: 8 successive values on the same side of the centre; rule 4: 6
  successive values each higher (or lower) than the one before; and a moving range above the upper
  range limit.

Where DESIGN.md is silent we follow Wheeler: limits from fewer than 20 values are provisional; a
period (started by an event) with fewer than 6 values keeps the previous period's limits and says
so; a baseline whose values are all equal gives no limits rather than flagging every point; the
moving range across a period boundary is left out (it measures the change, not the routine
variation); a computed lower limit below a natural boundary (0 for times and counts) is dropped.

Everything here is pure: values in, small frozen results out. ``lead_time_series`` and
``weekly_series`` turn a :class:`valuestream.flow.Flow` into series to chart.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from valuestream.errors import InputError

if TYPE_CHECKING:
    import altair as alt

    from valuestream.flow import Flow

E2 = 2.66  # 3 / d2 for n = 2: natural process limits = centre +- E2 x mR-bar
D4 = 3.268  # upper range limit = D4 x mR-bar
HALF = 1.33  # half of E2: the line that rule 2 counts values beyond
DEFAULT_BASELINE = 20
MIN_PERIOD_VALUES = 6  # a period with fewer values keeps the previous limits (Wheeler)
RUN_LENGTH = 8
TREND_LENGTH = 6

RULES: dict[str, str] = {
    "1": "a value outside the natural process limits",
    "2": "3 of 4 successive values closer to a limit than to the central line, on the same side",
    "3": "8 successive values on the same side of the central line",
    "4": "6 successive values each higher (or lower) than the one before",
    "mR": "a moving range above the upper range limit",
}
SIGNAL_COLUMNS = {
    "1": "signal_1",
    "2": "signal_2",
    "3": "signal_3",
    "4": "signal_4",
    "mR": "signal_mr",
}


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One stretch of the series with its own limits (a new period starts at an event)."""

    number: int
    start: int
    """Index of the first value in the period (the end is exclusive)."""
    end: int
    event: str | None
    """The event that started the period, if any."""
    start_date: pd.Timestamp | None
    centre: float
    mr_bar: float
    lower: float | None
    """None when the computed lower limit falls below the natural boundary, or without limits."""
    upper: float | None
    url: float | None
    baseline_n: int
    baseline_from: int
    baseline_to: int
    provisional: bool
    inherited: bool = False
    """True when the period had too few values and keeps the previous period's limits."""
    note: str | None = None

    @property
    def n(self) -> int:
        return self.end - self.start

    @property
    def has_limits(self) -> bool:
        return self.upper is not None and self.mr_bar > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.number,
            "event": self.event,
            "start_date": None if self.start_date is None else self.start_date.isoformat(),
            "first_index": self.start,
            "values": self.n,
            "centre": _clean(self.centre),
            "lower": _clean(self.lower),
            "upper": _clean(self.upper),
            "mr_bar": _clean(self.mr_bar),
            "url": _clean(self.url),
            "baseline_values": self.baseline_n,
            "provisional": self.provisional,
            "inherited": self.inherited,
            "note": self.note,
        }


@dataclass(frozen=True)
class Signal:
    """One signal: the rule, what it means, and the values involved with their positions and dates."""

    rule: str
    description: str
    indexes: tuple[int, ...]
    dates: tuple[pd.Timestamp | None, ...]
    values: tuple[float, ...]
    period: int = 1
    side: str = ""
    """'above' or 'below' the central line (or 'up'/'down' for a trend; '' for the range rule)."""
    labels: tuple[str, ...] = ()

    @property
    def first_date(self) -> pd.Timestamp | None:
        return self.dates[0] if self.dates else None

    def key(self) -> str:
        """A stable name for this signal, to tell new signals from ones already reported."""
        where = (
            self.labels[0]
            if self.labels and self.labels[0]
            else str(self.first_date or self.indexes[0])
        )
        return f"{self.rule}:{self.side}:{where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "period": self.period,
            "side": self.side,
            "indexes": list(self.indexes),
            "labels": list(self.labels),
            "dates": [None if d is None else d.isoformat() for d in self.dates],
            "values": [_clean(v) for v in self.values],
        }


@dataclass(frozen=True)
class XmrChart:
    """An XmR chart: one row per value in ``table``, the limits of each period, and the signals."""

    table: pd.DataFrame
    periods: tuple[Period, ...]
    signals: tuple[Signal, ...]
    notes: tuple[str, ...] = ()
    name: str = "value"
    unit: str = ""
    events: tuple[tuple[pd.Timestamp, str], ...] = ()
    """Events on the chart's time line (date, title), whether or not they start a period."""

    @property
    def current(self) -> Period | None:
        return self.periods[-1] if self.periods else None

    def signals_in(self, period: int) -> list[Signal]:
        return [s for s in self.signals if s.period == period]

    def chart(self, *, title: str | None = None) -> alt.VConcatChart:
        """The X chart with the moving-range chart under it (Altair)."""
        from valuestream.views.xmr_charts import xmr_chart

        return xmr_chart(self, title=title)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "periods": [p.as_dict() for p in self.periods],
            "signals": [s.as_dict() for s in self.signals],
            "notes": list(self.notes),
        }

    def explain(self) -> str:
        """The chart in plain words: limits per period, then the signals (or that there are none)."""
        unit = f" {self.unit}" if self.unit else ""
        lines: list[str] = []
        if not self.periods:
            lines.append(f"{self.name}: no limits.")
        for p in self.periods:
            head = f"Period {p.number}" + (
                f" (from {_day(p.start_date)}, after '{p.event}')" if p.event else ""
            )
            if not p.has_limits:
                lines.append(f"{head}: no limits. {p.note or ''}".rstrip())
                continue
            limits = (
                f"upper natural process limit {_num(p.upper)}{unit} (no lower limit)"
                if p.lower is None
                else f"natural process limits {_num(p.lower)}{unit} to {_num(p.upper)}{unit}"
            )
            where = (
                "kept from the previous period"
                if p.inherited
                else f"from {p.baseline_n} baseline values"
                + (", provisional" if p.provisional else "")
            )
            lines.append(
                f"{head}: {p.n} values; central line {_num(p.centre)}{unit}, {limits}, "
                f"upper range limit {_num(p.url)}{unit} ({where})."
            )
            if p.note:
                lines.append(f"  {p.note}")
        if self.signals:
            lines.append(f"{len(self.signals)} signal{'s' if len(self.signals) != 1 else ''}:")
            for s in self.signals:
                lines.append(f"  - {_describe(s, unit)}")
        elif any(p.has_limits for p in self.periods):
            lines.append("No signal: the variation is routine; do not react to single values.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __rich__(self) -> str:
        return self.explain()

    def _repr_html_(self) -> str:
        periods = pd.DataFrame([p.as_dict() for p in self.periods])
        return f"<pre>{html.escape(self.explain())}</pre>" + periods.to_html(index=False)


@dataclass(frozen=True)
class Predictability:
    """Whether a series is predictable (no signal in its current period), with spread and tail."""

    predictable: bool
    signals: int
    """Signals in the current period."""
    spread: float
    """Upper natural process limit / mean of the current period (NaN without limits)."""
    tail_ratio: float
    """98th percentile / median of the current period's values."""
    provisional: bool
    centre: float = math.nan
    upper: float = math.nan
    values: int = 0
    note: str | None = None

    def explain(self) -> str:
        if self.note and math.isnan(self.spread):
            return self.note
        verdict = (
            "predictable: no signal in the current period"
            if self.predictable
            else f"not predictable: {self.signals} signal{'s' if self.signals != 1 else ''} in the current period"
        )
        text = (
            f"The process is {verdict}. Spread (upper limit / mean) {self.spread:.2f}; "
            f"tail ratio (98th percentile / median) {self.tail_ratio:.2f}"
        )
        if self.tail_ratio > 5.6:
            text += ", a long tail: a few items take far longer than most"
        text += "."
        if self.provisional:
            text += f" The limits are provisional ({self.values} values in the current period)."
        if self.note:
            text += f" {self.note}"
        return text

    def __rich__(self) -> str:
        return self.explain()


# -- the calculation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    at: Any
    title: str | None = None


def xmr(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    dates: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    baseline: int = DEFAULT_BASELINE,
    baseline_range: tuple[Any, Any] | None = None,
    splits: Iterable[Any] = (),
    name: str = "value",
    unit: str = "",
    lower_bound: float | None = None,
) -> XmrChart:
    """Compute an XmR chart of ``values`` in time order.

    ``dates``: one per value (non-decreasing), used for splits, baseline ranges and the chart.
    ``labels``: what each value is (an item id, a week). ``baseline``: how many values of each
    period the limits come from (fewer allowed, marked provisional). ``baseline_range``: a
    (first, last) pair of dates (or indexes without dates) whose values give the limits of the
    period they fall in instead. ``splits``: where new periods start: dates (or indexes), optionally
    as (date, title) pairs or objects with ``date`` and ``title`` (events log entries); those with
    ``new_period`` false only mark the chart. ``lower_bound``: a natural boundary (0 for times and
    counts) below which a computed lower limit is dropped.
    """
    x = _as_values(values)
    n = len(x)
    when = _as_dates(dates, n)
    names = _as_labels(labels, n)
    if baseline < 2:
        raise InputError(f"the baseline needs at least 2 values, not {baseline}")
    notes: list[str] = []
    marks, starts = _splits(splits, when, n, notes)
    cuts = sorted(i for i in starts if i > 0)
    bounds = [0, *cuts, n]
    periods: list[Period] = []
    for number, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=1):
        event = starts.get(start)
        previous = periods[-1] if periods else None
        periods.append(
            _period(
                x, when, number, start, end, event, previous, baseline, baseline_range, lower_bound
            )
        )
    mr = _moving_ranges(x, cuts)
    table = _table(x, when, names, mr, periods)
    signals = _signals(table, periods, when, names)
    marked: dict[str, list[int]] = {column: [] for column in SIGNAL_COLUMNS.values()}
    for s in signals:
        # A range signal belongs to the moving range, which sits on the later of its two values.
        marked[SIGNAL_COLUMNS[s.rule]].extend([s.indexes[-1]] if s.rule == "mR" else s.indexes)
    for column, rows in marked.items():
        flags = np.zeros(len(table), dtype=bool)
        flags[table.index.get_indexer(rows)] = True  # one assignment per rule, not per signal
        table[column] = flags
    table["signal"] = table[list(SIGNAL_COLUMNS.values())].any(axis=1)
    notes.extend(_gap_note(when))
    events = tuple(
        (stamp if stamp is not None else when[i], title)
        for i, title, stamp in marks
        if title and when is not None
    )
    return XmrChart(
        table=table,
        periods=tuple(periods),
        signals=tuple(signals),
        notes=tuple(notes),
        name=name,
        unit=unit,
        events=events,
    )


def predictability(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    dates: Sequence[Any] | None = None,
    splits: Iterable[Any] = (),
    lower_bound: float | None = 0.0,
) -> Predictability:
    """Is the series predictable? No signal in its current period; with spread and tail ratio."""
    x = _as_values(values)
    if len(x) < 2:
        return Predictability(
            predictable=False,
            signals=0,
            spread=math.nan,
            tail_ratio=math.nan,
            provisional=True,
            values=len(x),
            note=f"Too few values ({len(x)}) to judge predictability: an XmR chart needs at least 2.",
        )
    chart = xmr(x, dates=dates, splits=splits, lower_bound=lower_bound)
    current = chart.periods[-1]
    own = x[current.start : current.end]
    n_signals = len(chart.signals_in(current.number))
    p50 = float(np.percentile(own, 50))
    p98 = float(np.percentile(own, 98))
    tail = p98 / p50 if p50 > 0 else math.nan
    if not current.has_limits:
        return Predictability(
            predictable=False,
            signals=n_signals,
            spread=math.nan,
            tail_ratio=tail,
            provisional=current.provisional,
            centre=current.centre,
            values=current.n,
            note=current.note or "The current period has no limits.",
        )
    assert current.upper is not None
    spread = current.upper / current.centre if current.centre else math.nan
    return Predictability(
        predictable=n_signals == 0,
        signals=n_signals,
        spread=spread,
        tail_ratio=tail,
        provisional=current.provisional,
        centre=current.centre,
        upper=current.upper,
        values=current.n,
        note="Its limits are kept from the previous period." if current.inherited else None,
    )


# -- inputs -------------------------------------------------------------------------------------


def _as_values(values: Any) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError("the values must be numbers") from None
    if x.ndim != 1:
        raise InputError("the values must be one series of numbers")
    bad = np.flatnonzero(~np.isfinite(x))
    if len(bad):
        raise InputError(
            f"value {bad[0] + 1} is missing or not a finite number", row=int(bad[0]) + 1
        )
    return x


def _as_dates(dates: Any, n: int) -> pd.DatetimeIndex | None:
    if dates is None:
        return None
    try:
        when = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"the dates cannot be read as dates: {exc}") from None
    if len(when) != n:
        raise InputError(f"{len(when)} dates for {n} values: give one date per value")
    if when.tz is not None:
        # Calendar days are read in the dates' own time zone, then compared with plain dates.
        when = when.tz_localize(None)
    if when.hasnans:
        bad = int(np.flatnonzero(when.isna())[0])
        raise InputError(f"value {bad + 1} has no date", row=bad + 1)
    back = np.flatnonzero(np.diff(when.asi8) < 0)
    if len(back):
        i = int(back[0]) + 1
        raise InputError(
            f"the values must be in time order: value {i + 1} ({when[i].date()}) comes after "
            f"value {i} ({when[i - 1].date()})",
            row=i + 1,
        )
    return when


def _as_labels(labels: Any, n: int) -> list[str]:
    if labels is None:
        return [""] * n
    out = ["" if v is None else str(v) for v in labels]
    if len(out) != n:
        raise InputError(f"{len(out)} labels for {n} values: give one label per value")
    return out


def _split_parts(split: Any) -> tuple[Any, str | None, bool]:
    """(where, title, starts a new period) of one split, whatever form it comes in."""
    if isinstance(split, _Split):
        return split.at, split.title, True
    if hasattr(split, "date") and hasattr(split, "title") and not isinstance(split, dt.date):
        return split.date, split.title, bool(getattr(split, "new_period", True))
    if isinstance(split, tuple):
        if len(split) == 2:
            return split[0], split[1], True
        if len(split) == 3:
            return split[0], split[1], bool(split[2])
    return split, None, True


def _splits(
    splits: Iterable[Any], when: pd.DatetimeIndex | None, n: int, notes: list[str]
) -> tuple[list[tuple[int, str | None, pd.Timestamp | None]], dict[int, str | None]]:
    """Each split as (index of the first value at or after it, title), and the periods they start.

    The second result maps the first index of each period an event starts to its title; index 0
    holds the latest event before the first value, whose period the chart starts in.
    """
    marks: list[tuple[int, str | None, pd.Timestamp | None]] = []
    starts: dict[int, str | None] = {}
    for split in splits:
        at, title, new_period = _split_parts(split)
        label = f"'{title}'" if title else str(at)
        stamp: pd.Timestamp | None = None
        if isinstance(at, int | np.integer) and not isinstance(at, bool):
            index = int(at)
        else:
            if when is None:
                raise InputError(f"the split {label} is a date but the values have no dates")
            stamp = pd.Timestamp(at)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_localize(None)
            index = int(when.searchsorted(stamp, side="left"))
        if index >= n:
            notes.append(
                f"The event {label} comes after the last value: no values in its period yet."
            )
            continue
        index = max(index, 0)
        marks.append((index, title, stamp))
        if not new_period:
            continue
        if index == 0:
            notes.append(
                f"The event {label} comes before the first value: the chart starts in its period."
            )
        # Several events before the same value: the period is named after the last one listed.
        starts[index] = title
    return sorted(marks, key=lambda m: m[0]), starts


# -- limits -------------------------------------------------------------------------------------


def _baseline_slice(
    x: np.ndarray,
    when: pd.DatetimeIndex | None,
    start: int,
    end: int,
    baseline: int,
    baseline_range: tuple[Any, Any] | None,
) -> tuple[int, int, int]:
    """(first, last exclusive, target size) of the baseline values of one period."""
    if baseline_range is not None:
        lo, hi = baseline_range
        if isinstance(lo, int | np.integer) and isinstance(hi, int | np.integer):
            first, last = int(lo), int(hi) + 1
        else:
            if when is None:
                raise InputError("a baseline date range needs dates for the values")
            def stamp(value: Any) -> pd.Timestamp:
                t = pd.Timestamp(value)
                if when.tz is not None and t.tz is None:
                    t = t.tz_localize(when.tz)  # a plain date means that day where the values live
                return t.as_unit(when.unit)

            first = int(when.searchsorted(stamp(lo), side="left"))
            # The last day of the range counts whole.
            last = int(when.searchsorted(stamp(hi) + pd.Timedelta(days=1), side="left"))
        if first < last and start <= first < end:
            return first, min(last, end), DEFAULT_BASELINE
    return start, min(start + baseline, end), baseline


def _period(
    x: np.ndarray,
    when: pd.DatetimeIndex | None,
    number: int,
    start: int,
    end: int,
    event: str | None,
    previous: Period | None,
    baseline: int,
    baseline_range: tuple[Any, Any] | None,
    lower_bound: float | None,
) -> Period:
    start_date = None if when is None or start >= len(x) else when[start]
    n = end - start
    common: dict[str, Any] = {
        "number": number,
        "start": start,
        "end": end,
        "event": event,
        "start_date": start_date,
    }
    if previous is not None and n < MIN_PERIOD_VALUES and previous.has_limits:
        return Period(
            **common,
            centre=previous.centre,
            mr_bar=previous.mr_bar,
            lower=previous.lower,
            upper=previous.upper,
            url=previous.url,
            baseline_n=previous.baseline_n,
            baseline_from=previous.baseline_from,
            baseline_to=previous.baseline_to,
            provisional=previous.provisional,
            inherited=True,
            note=(
                f"Only {n} value{'s' if n != 1 else ''} since the event: fewer than "
                f"{MIN_PERIOD_VALUES}, so the previous period's limits are kept until there are more."
            ),
        )
    first, last, target = _baseline_slice(x, when, start, end, baseline, baseline_range)
    base = x[first:last]
    centre = float(base.mean()) if len(base) else math.nan
    if len(base) < 2:
        return Period(
            **common,
            centre=centre,
            mr_bar=math.nan,
            lower=None,
            upper=None,
            url=None,
            baseline_n=len(base),
            baseline_from=first,
            baseline_to=last,
            provisional=True,
            note=f"{len(base)} value{'s' if len(base) != 1 else ''}: an XmR chart needs at least 2 values for limits.",
        )
    mr_bar = float(np.abs(np.diff(base)).mean())
    provisional = len(base) < target
    if mr_bar == 0:
        return Period(
            **common,
            centre=centre,
            mr_bar=0.0,
            lower=None,
            upper=None,
            url=None,
            baseline_n=len(base),
            baseline_from=first,
            baseline_to=last,
            provisional=provisional,
            note=(
                f"All {len(base)} baseline values equal {centre:g}: there is no routine variation to "
                "compute limits from (the measurement may be too coarse), so no signals are judged."
            ),
        )
    computed_lower = centre - E2 * mr_bar
    lower: float | None = computed_lower
    note = None
    if lower_bound is not None and computed_lower < lower_bound:
        note = f"The computed lower limit ({_num(computed_lower)}) is below {lower_bound:g}, which values cannot reach: no lower limit."
        lower = None
    if provisional:
        few = f"Provisional limits from {len(base)} values (they firm up at {target})."
        note = few if note is None else f"{few} {note}"
    return Period(
        **common,
        centre=centre,
        mr_bar=mr_bar,
        lower=lower,
        upper=centre + E2 * mr_bar,
        url=D4 * mr_bar,
        baseline_n=len(base),
        baseline_from=first,
        baseline_to=last,
        provisional=provisional,
        note=note,
    )


def _moving_ranges(x: np.ndarray, cuts: list[int]) -> np.ndarray:
    mr = np.full(len(x), np.nan)
    if len(x) > 1:
        mr[1:] = np.abs(np.diff(x))
    mr[[c for c in cuts if c < len(x)]] = np.nan
    return mr


def _table(
    x: np.ndarray,
    when: pd.DatetimeIndex | None,
    names: list[str],
    mr: np.ndarray,
    periods: list[Period],
) -> pd.DataFrame:
    period = np.ones(len(x), dtype=int)
    cols: dict[str, np.ndarray] = {
        k: np.full(len(x), np.nan) for k in ("centre", "lower", "upper", "mr_bar", "url")
    }
    provisional = np.zeros(len(x), dtype=bool)
    for p in periods:
        sl = slice(p.start, p.end)
        period[sl] = p.number
        provisional[sl] = p.provisional
        cols["centre"][sl] = p.centre
        for key in ("lower", "upper", "url"):
            value = getattr(p, key)
            cols[key][sl] = np.nan if value is None else value
        cols["mr_bar"][sl] = p.mr_bar
    return pd.DataFrame(
        {
            "index": np.arange(len(x)),
            "date": when
            if when is not None
            else pd.Series([pd.NaT] * len(x), dtype="datetime64[ns]"),
            "label": names,
            "value": x,
            "moving_range": mr,
            "period": period,
            **cols,
            "provisional": provisional,
        }
    )


# -- the detection rules -----------------------------------------------------------------------


def _runs(flags: np.ndarray, length: int) -> list[tuple[int, int]]:
    """Maximal runs of True at least ``length`` long, as (first, last exclusive)."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    starts, stops = edges[::2], edges[1::2]
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= length]


def _windows(flags: np.ndarray, size: int, need: int) -> list[tuple[int, int]]:
    """Merged stretches of windows of ``size`` successive values with at least ``need`` flagged."""
    if len(flags) < size:
        return []
    hits = np.convolve(flags.astype(int), np.ones(size, dtype=int), mode="valid") >= need
    out: list[tuple[int, int]] = []
    for a, b in _runs(hits, 1):
        out.append((a, b - 1 + size))
    return out


def _signals(
    table: pd.DataFrame, periods: list[Period], when: pd.DatetimeIndex | None, names: list[str]
) -> list[Signal]:
    x = table["value"].to_numpy()
    mr = table["moving_range"].to_numpy()
    found: list[Signal] = []

    def signal(rule: str, idx: Iterable[int], period: Period, side: str) -> None:
        ids = tuple(int(i) for i in idx)
        found.append(
            Signal(
                rule=rule,
                description=RULES[rule],
                indexes=ids,
                dates=tuple(None if when is None else when[i] for i in ids),
                values=tuple(float(x[i]) for i in ids),
                period=period.number,
                side=side,
                labels=tuple(names[i] for i in ids),
            )
        )

    for p in periods:
        if not p.has_limits:
            continue
        assert p.upper is not None and p.url is not None
        seg = x[p.start : p.end]
        off = p.start
        # Rule 1: each value beyond a limit is a signal of its own.
        for i in np.flatnonzero(seg > p.upper):
            signal("1", [off + int(i)], p, "above")
        if p.lower is not None:
            for i in np.flatnonzero(seg < p.lower):
                signal("1", [off + int(i)], p, "below")
        # Rule 2: 3 of 4 successive values beyond the half-way line, same side.
        for side, beyond in (
            ("above", seg > p.centre + HALF * p.mr_bar),
            ("below", seg < p.centre - HALF * p.mr_bar),
        ):
            for a, b in _windows(beyond, 4, 3):
                signal("2", [off + i for i in range(a, b) if beyond[i]], p, side)
        # Rule 3: 8 successive values on one side; a value on the central line breaks the run.
        for side, on in (("above", seg > p.centre), ("below", seg < p.centre)):
            for a, b in _runs(on, RUN_LENGTH):
                signal("3", range(off + a, off + b), p, side)
        # Rule 4: 6 successive values each higher (or lower) than the one before: 5 steps one way.
        steps = np.diff(seg)
        for side, way in (("up", steps > 0), ("down", steps < 0)):
            for a, b in _runs(way, TREND_LENGTH - 1):
                signal("4", range(off + a, off + b + 1), p, side)
        # The range rule: a moving range above the upper range limit (the first value has none).
        seg_mr = mr[p.start : p.end]
        for i in np.flatnonzero(np.nan_to_num(seg_mr, nan=-1.0) > p.url):
            signal("mR", [off + int(i) - 1, off + int(i)], p, "")
    found.sort(key=lambda s: (s.indexes[0], s.rule))
    return found


def _gap_note(when: pd.DatetimeIndex | None) -> list[str]:
    """Name a gap in the dates far longer than usual: the moving range across it compares values far apart."""
    if when is None or len(when) < 4:
        return []
    gaps = np.asarray((when[1:] - when[:-1]) / pd.Timedelta(days=1), dtype=float)
    typical = float(np.median(gaps))
    i = int(np.argmax(gaps))
    if gaps[i] > max(4 * typical, 7.0) and typical >= 0:
        return [
            f"There is a gap of {gaps[i]:.0f} days between {when[i].date()} and {when[i + 1].date()}: "
            "the moving range across it compares values far apart."
        ]
    return []


# -- plain words --------------------------------------------------------------------------------


def _day(value: pd.Timestamp | None) -> str:
    return "" if value is None else str(value.date())


def _describe(s: Signal, unit: str) -> str:
    where = [f"{lab} " if lab else "" for lab in s.labels] or [""] * len(s.indexes)
    parts = [
        f"{w}{_num(v)}{unit}" + (f" on {_day(d)}" if d is not None else f" (value {i + 1})")
        for w, v, d, i in zip(where, s.values, s.dates, s.indexes, strict=True)
    ]
    side = f" ({s.side})" if s.side else ""
    shown = parts if len(parts) <= 4 else [*parts[:2], "...", parts[-1]]
    return f"rule {s.rule}{side}, {s.description}: " + ", ".join(shown)


def _num(value: float | None) -> str:
    """A figure as people read it: 4 significant digits, thousands separated."""
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 10000 else f"{value:.4g}"


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value)


# -- series from the flow -----------------------------------------------------------------------


class Series(NamedTuple):
    """A series to chart: values in time order, with their dates and labels."""

    values: np.ndarray
    dates: pd.DatetimeIndex
    labels: list[str]


LEAD_KINDS = {"lead": "lead_time_days", "cycle": "cycle_time_days"}
WEEKLY_KINDS = ("throughput", "median_lead", "flow_efficiency")


def completed_items(flow: Flow) -> pd.DataFrame:
    """Every completed item in completion order, with its lead and cycle time (from ``flow.items()``)."""
    items = flow.items()
    done = items[items["finished"].notna()].copy()
    return done.sort_values(["finished", "item"], kind="stable").reset_index(drop=True)


def lead_time_series(flow: Flow, kind: str = "lead") -> Series:
    """Lead (or cycle) time of each completed item, in completion order, labelled by item."""
    if kind not in LEAD_KINDS:
        raise InputError(f"kind must be lead or cycle, not '{kind}'")
    done = completed_items(flow)
    column = LEAD_KINDS[kind]
    # An item that never entered a touch step has no cycle time; it cannot be charted for cycle.
    done = done[done[column].notna()]
    return Series(
        done[column].to_numpy(dtype=float),
        pd.DatetimeIndex(done["finished"]),
        done["item"].astype(str).tolist(),
    )


# Median lead time and flow efficiency of the items that finished in each ISO week (Monday start):
# flow efficiency for a set of items is sum(touch) / sum(lead), as DESIGN.md defines it.
SQL_WEEKLY_FINISHED = """
SELECT CAST(date_trunc('week', CAST(finished AS DATE)) AS DATE) AS week,
       median(lead_time_days) AS median_lead,
       sum(touch_days) / nullif(sum(lead_time_days), 0) AS flow_efficiency
FROM done
WHERE finished IS NOT NULL
GROUP BY 1
ORDER BY 1
"""


def weekly_series(flow: Flow, kind: str) -> Series:
    """A weekly figure over the complete ISO weeks of the flow's window, labelled by week.

    ``throughput``: items finishing per week (weeks with none count as 0). ``median_lead``: median
    lead time of the items finishing that week, and ``flow_efficiency``: their sum(touch) /
    sum(lead); weeks when nothing finished have no value and are left out. Weeks cut by the start or
    end of the data are left out too: a part-week would look like a drop that never happened.
    """
    if kind not in WEEKLY_KINDS:
        raise InputError(f"the weekly series is one of {', '.join(WEEKLY_KINDS)}, not '{kind}'")
    rates = flow.rates(period="week")
    full = rates[rates["days"] == 7]
    weeks = pd.to_datetime(full["period"])
    if kind == "throughput":
        values = full["throughput"].to_numpy(dtype=float)
    else:
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            con.execute(f"SET TimeZone = '{flow.timezone}'")
            con.register("done", flow.items())
            per_week = con.execute(SQL_WEEKLY_FINISHED).df()
        finally:
            con.close()
        per_week["week"] = pd.to_datetime(per_week["week"])
        merged = pd.DataFrame({"week": weeks.to_numpy()}).merge(per_week, on="week", how="left")
        merged = merged[merged[kind].notna()]
        weeks = merged["week"]
        values = merged[kind].to_numpy(dtype=float)
    when = pd.DatetimeIndex(weeks)
    return Series(values, when, [f"week of {d.date()}" for d in when])


SERIES_NAMES = {
    "lead": ("Lead time per completed item", "days"),
    "cycle": ("Cycle time per completed item", "days"),
    "throughput": ("Weekly throughput", "items"),
    "median_lead": ("Weekly median lead time", "days"),
    "flow_efficiency": ("Weekly flow efficiency", ""),
}


def flow_xmr(
    flow: Flow, series: str, *, splits: Iterable[Any] = (), baseline: int = DEFAULT_BASELINE
) -> XmrChart:
    """The XmR chart of one of the flow's series: lead, cycle, throughput, median_lead, flow_efficiency.

    The limits come from the first ``baseline`` values of each period, or, when the stream file
    names a ``baseline`` period (a stretch of routine operation), from the values in it.
    """
    chosen = flow.stream.baseline if flow.stream is not None else None
    if series in LEAD_KINDS:
        values, dates, labels = lead_time_series(flow, series)
    elif series in WEEKLY_KINDS:
        values, dates, labels = weekly_series(flow, series)
    else:
        raise InputError(f"unknown series '{series}': one of {', '.join(SERIES_NAMES)}")
    name, unit = SERIES_NAMES[series]
    return xmr(
        values,
        dates=dates,
        labels=labels,
        splits=list(splits),
        baseline=baseline,
        baseline_range=(chosen.start, chosen.end) if chosen is not None else None,
        name=name,
        unit=unit and f" {unit}".strip(),
        lower_bound=0.0,
    )


__all__ = [
    "D4",
    "E2",
    "Period",
    "Predictability",
    "RULES",
    "Series",
    "Signal",
    "XmrChart",
    "completed_items",
    "flow_xmr",
    "lead_time_series",
    "predictability",
    "weekly_series",
    "xmr",
]
