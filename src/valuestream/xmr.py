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
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from valuestream.defaults import MAX_ITEMS_PER_WEEK
from valuestream.errors import InputError
from valuestream.results import Result

if TYPE_CHECKING:
    from valuestream.flow import Flow

E2 = 2.66  # 3 / d2 for n = 2: natural process limits = centre +- E2 x mR-bar
D4 = 3.268  # upper range limit = D4 x mR-bar
HALF = 1.33  # half of E2: the line that rule 2 counts values beyond
DEFAULT_BASELINE = 20
MIN_PERIOD_VALUES = 6  # a period with fewer values keeps the previous limits (Wheeler)
RUN_LENGTH = 8
TREND_LENGTH = 6
ROUNDING = 1e-12
"""Moving ranges this small against the values' size are floating-point rounding, not variation."""

RULES: dict[str, str] = {
    "1": "a value outside the natural process limits",
    "2": "3 of 4 successive values closer to a limit than to the central line, on the same side",
    "3": "8 successive values on the same side of the central line",
    "4": "6 successive values each higher (or lower) than the one before",
    "mR": "a moving range above the upper range limit",
}
# What a chart's current period says, in the one vocabulary the charts, the check, the report and
# the forecasts use.
SIGNAL = "signal"
NO_SIGNAL = "no signal"
NOT_ENOUGH = "not enough data"
ADVICE = {
    SIGNAL: "react: something other than routine variation is at work; find its cause",
    NO_SIGNAL: "do not react: the variation is routine",
    NOT_ENOUGH: "do not react yet: not enough data to judge",
}
# The rules in plain words, by rule and side; {limit} is filled in with the limit crossed.
RULE_WORDS: dict[tuple[str, str], str] = {
    ("1", "above"): "above the upper natural process limit ({limit}): far beyond routine variation",
    ("1", "below"): "below the lower natural process limit ({limit}): far beyond routine variation",
    ("2", "above"): "3 of 4 successive values near the upper limit: a moderate shift up",
    ("2", "below"): "3 of 4 successive values near the lower limit: a moderate shift down",
    ("3", "above"): "8 or more successive values above the central line: a sustained shift up",
    ("3", "below"): "8 or more successive values below the central line: a sustained shift down",
    ("4", "up"): "6 or more successive values each higher than the one before: a trend up",
    ("4", "down"): "6 or more successive values each lower than the one before: a trend down",
    ("mR", ""): "a jump between successive values larger than routine (moving range above {limit})",
}
RULE_ORDER = {"1": 0, "mR": 1, "2": 2, "3": 3, "4": 4}
"""Strongest evidence first: a single value far out, a jump, then the run rules."""
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
    doubtful: bool = False
    """True when the baseline itself holds a signal against its own limits: it may not be
    routine operation, so the limits are a first approximation."""

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
            "doubtful": self.doubtful,
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
class XmrChart(Result):
    """An XmR chart: one row per value in ``table``, the limits of each period, and the signals.

    It computes; ``.chart()`` (or ``valuestream.draw``) draws it through ``views``."""

    table: pd.DataFrame
    periods: tuple[Period, ...]
    signals: tuple[Signal, ...]
    notes: tuple[str, ...] = ()
    name: str = "value"
    unit: str = ""
    events: tuple[tuple[pd.Timestamp, str], ...] = ()
    """Events on the chart's time line (date, title), whether or not they start a period."""
    choice: SeriesChoice | None = None
    """For a flow's lead or cycle time: single items or weeks, and why."""
    series: str = ""
    """The flow series charted (lead, cycle, throughput, ...), when it comes from a flow."""

    @property
    def current(self) -> Period | None:
        return self.periods[-1] if self.periods else None

    def signals_in(self, period: int) -> list[Signal]:
        return [s for s in self.signals if s.period == period]

    @property
    def verdict(self) -> str:
        """signal, no signal or not enough data: what the current period says."""
        p = self.current
        if p is None or not p.has_limits:
            return NOT_ENOUGH
        return SIGNAL if self.signals_in(p.number) else NO_SIGNAL

    def ranked(self, period: int | None = None) -> list[Signal]:
        """The signals of a period (default: the current one), the ones that matter most first:
        the most recent, then the strongest rule."""
        if period is None:
            period = self.current.number if self.current else 0
        return sorted(self.signals_in(period), key=lambda s: (-s.indexes[-1], RULE_ORDER[s.rule]))

    def fmt(self, value: float | None) -> str:
        """A value of this chart as people read it: with its unit, shares as percentages."""
        if value is None:
            return "none"
        if self.series == "flow_efficiency":
            return f"{value:.1%}"
        return f"{_num(value)} {self.unit}".rstrip()

    def describe(self, signal: Signal) -> str:
        """One signal in plain words: where it is, its values, what the rule says it means."""
        p = self.periods[signal.period - 1]
        limit = {"1": p.upper if signal.side == "above" else p.lower, "mR": p.url}.get(signal.rule)
        words = RULE_WORDS[(signal.rule, signal.side)].format(limit=self.fmt(limit))
        first = signal.labels[0] or f"value {signal.indexes[0] + 1}"
        last = signal.labels[-1] or f"value {signal.indexes[-1] + 1}"
        if signal.rule == "mR":
            where = (
                f"{first} to {last}: {self.fmt(signal.values[0])} to {self.fmt(signal.values[-1])}"
            )
        elif len(signal.indexes) == 1:
            where = f"{last}: {self.fmt(signal.values[-1])}"
        else:
            where = f"{first} to {last} ({len(signal.indexes)} values)"
        return f"{where}, {words}"

    def chart(self, *, title: str | None = None) -> Any:  # type: ignore[override]
        """The X chart with the moving-range chart under it (Altair), drawn by ``views``."""
        return super().chart(title=title)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The periods and their limits (``table`` holds every value, for code rather than reading)."""
        return {"periods": pd.DataFrame([p.as_dict() for p in self.periods])}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "periods": [p.as_dict() for p in self.periods],
            "signals": [s.as_dict() for s in self.signals],
            "notes": list(self.notes),
            "series": self.series,
            "verdict": self.verdict,
            "basis": None if self.choice is None else self.choice.as_dict(),
        }

    def explain(self, *, limit: int | None = 5) -> str:
        """The chart in plain words: the verdict, why this series, limits per period, then the
        signals of the current period that matter most (``limit`` of them; None: every one)."""
        lines = [f"{self.name}: {self.verdict} ({ADVICE[self.verdict]})."]
        if self.choice is not None:
            lines.append(self.choice.explain())
        if not self.periods:
            lines.append("No values, so no limits.")
        for p in self.periods:
            lines.append(_period_line(p, self.fmt))
            if p.note:
                lines.append(f"  {p.note}")
        current = self.ranked()
        if current:
            k = len(current)
            shown = current if limit is None else current[:limit]
            lines.append(
                f"{k} signal{'s' if k != 1 else ''} in the current period"
                + (", the most recent first:" if k > 1 else ":")
            )
            lines.extend(f"  - {self.describe(s)}" for s in shown)
            if len(shown) < k:
                lines.append(f"  and {k - len(shown)} more: {rule_counts(current[len(shown) :])}.")
        elif self.verdict == NO_SIGNAL:
            lines.append("No signal in the current period: do not react to single values.")
        earlier = [s for s in self.signals if self.current and s.period != self.current.number]
        if earlier:
            lines.append(
                f"Earlier periods held {len(earlier)} signal{'s' if len(earlier) != 1 else ''} "
                f"({rule_counts(earlier)}); the current period's limits replace theirs."
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    def __rich__(self) -> str:
        return self.explain()


@dataclass(frozen=True)
class Predictability:
    """Whether a series is predictable (no signal in its current period), with spread and tail."""

    verdict: str
    """signal, no signal or not enough data (the chart's verdict on its current period)."""
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
    basis: str = ""
    """What was charted (single items or weeks, and why), when it came from a flow."""

    @property
    def predictable(self) -> bool:
        return self.verdict == NO_SIGNAL

    def explain(self) -> str:
        if self.verdict == NOT_ENOUGH:
            why = self.note or "the current period has no limits"
            return f"Predictability: {NOT_ENOUGH} to judge it ({why.rstrip('.')})."
        verdict = (
            f"predictable: {NO_SIGNAL} in the current period"
            if self.predictable
            else f"not predictable: {self.signals} {SIGNAL}{'s' if self.signals != 1 else ''} in the current period"
        )
        text = f"The process is {verdict}. Spread (upper limit / mean) {self.spread:.2f}"
        if math.isfinite(self.tail_ratio):
            text += f"; tail ratio (98th percentile / median) {self.tail_ratio:.2f}"
            if self.tail_ratio > 5.6:
                text += ", a long tail: a few items take far longer than most"
        text += "."
        if self.provisional:
            text += f" The limits are provisional ({self.values} values in the current period)."
        if self.note:
            text += f" {self.note}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "predictable": self.predictable,
            "signals": self.signals,
            "spread": _clean(self.spread),
            "tail_ratio": _clean(self.tail_ratio),
            "provisional": self.provisional,
            "values": self.values,
            "note": self.note,
            "basis": self.basis,
        }

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
    when, zone = _as_dates(dates, n)
    names = _as_labels(labels, n)
    if baseline < 2:
        raise InputError(f"the baseline needs at least 2 values, not {baseline}")
    if baseline_range is not None:
        lo, hi = baseline_range
        baseline_range = (_wall_time(lo, zone), _wall_time(hi, zone))
    notes: list[str] = []
    marks, starts = _splits(splits, when, n, notes, zone)
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
            verdict=NOT_ENOUGH,
            signals=0,
            spread=math.nan,
            tail_ratio=math.nan,
            provisional=True,
            values=len(x),
            note=f"{len(x)} value{'s' if len(x) != 1 else ''}: an XmR chart needs at least 2",
        )
    chart = xmr(x, dates=dates, splits=splits, lower_bound=lower_bound)
    current = chart.periods[-1]
    return chart_predictability(chart, x[current.start : current.end])


def chart_predictability(chart: XmrChart, own: Sequence[float] | np.ndarray) -> Predictability:
    """The predictability a chart's current period shows; ``own``: the values whose tail ratio
    (98th percentile / median) is reported (the period's values, or its items' times)."""
    current = chart.current
    own = np.asarray(own, dtype=float)
    tail = math.nan
    if len(own):
        p50 = float(np.percentile(own, 50))
        tail = float(np.percentile(own, 98)) / p50 if p50 > 0 else math.nan
    basis = "" if chart.choice is None else chart.choice.explain()
    if current is None or not current.has_limits:
        return Predictability(
            verdict=NOT_ENOUGH,
            signals=0,
            spread=math.nan,
            tail_ratio=tail,
            provisional=True,
            centre=math.nan if current is None else current.centre,
            values=0 if current is None else current.n,
            note=(current.note if current is not None else None)
            or "the current period has no limits",
            basis=basis,
        )
    assert current.upper is not None
    return Predictability(
        verdict=chart.verdict,
        signals=len(chart.signals_in(current.number)),
        spread=current.upper / current.centre if current.centre else math.nan,
        tail_ratio=tail,
        provisional=current.provisional,
        centre=current.centre,
        upper=current.upper,
        values=current.n,
        note="Its limits are kept from the previous period." if current.inherited else None,
        basis=basis,
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


def _as_dates(dates: Any, n: int) -> tuple[pd.DatetimeIndex | None, Any]:
    """The dates as wall times without a zone, and the zone they were in (None for plain ones)."""
    if dates is None:
        return None, None
    try:
        when = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"the dates cannot be read as dates: {exc}") from None
    if len(when) != n:
        raise InputError(f"{len(when)} dates for {n} values: give one date per value")
    zone = when.tz
    if zone is not None:
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
    return when, zone


def _wall_time(value: Any, zone: Any) -> Any:
    """A split or baseline bound as the dates are compared: a time with a zone becomes the wall
    time in the dates' zone (its own when the dates have none); plain dates, times and indexes
    stay as they are. Comparing a zoned bound with the zone-less dates raised a TypeError."""
    if isinstance(value, int | np.integer) or not isinstance(value, dt.date | pd.Timestamp | str):
        return value
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return value  # not a time: the caller says what is wrong with it
    if stamp.tzinfo is None:
        return value
    return (stamp.tz_convert(zone) if zone is not None else stamp).tz_localize(None)


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
    splits: Iterable[Any], when: pd.DatetimeIndex | None, n: int, notes: list[str], zone: Any = None
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
            stamp = pd.Timestamp(_wall_time(at, zone))
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
                # Both sides are wall times: the dates' zone was taken off, and the bound's too.
                return pd.Timestamp(value).as_unit(when.unit)

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
            doubtful=previous.doubtful,
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
    if mr_bar <= ROUNDING * max(1.0, float(np.abs(base).max())):
        # Values equal but for the last bits of their floating-point sums (a share that is a
        # third every week) vary by rounding, not by process: limits from that would flag them all.
        mr_bar = 0.0
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
                "compute limits from (the measurement may be too coarse): not enough data to judge signals."
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
    upper = centre + E2 * mr_bar
    outside = int((base > upper).sum() + (0 if lower is None else (base < lower).sum()))
    runs = len(_runs(base > centre, RUN_LENGTH)) + len(_runs(base < centre, RUN_LENGTH))
    doubtful = outside > 0 or runs > 0
    if doubtful:
        held = ", ".join(
            part
            for part in (
                f"{outside} value{'s' if outside != 1 else ''} beyond its own limits"
                if outside
                else "",
                f"a run of {RUN_LENGTH} or more on one side" if runs else "",
            )
            if part
        )
        doubt = (
            f"Doubtful baseline: it holds {held}, so it may not be routine operation; "
            "read these limits as a first approximation, or name a quieter baseline period."
        )
        note = doubt if note is None else f"{note} {doubt}"
    return Period(
        **common,
        centre=centre,
        mr_bar=mr_bar,
        lower=lower,
        upper=upper,
        url=D4 * mr_bar,
        baseline_n=len(base),
        baseline_from=first,
        baseline_to=last,
        provisional=provisional,
        note=note,
        doubtful=doubtful,
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


def _period_line(p: Period, fmt: Callable[[float | None], str]) -> str:
    head = f"Period {p.number}" + (
        f" (from {_day(p.start_date)}, after '{p.event}')" if p.event else ""
    )
    if not p.has_limits:
        return f"{head}: {p.n} values, no limits."
    limits = (
        f"upper natural process limit {fmt(p.upper)} (no lower limit)"
        if p.lower is None
        else f"natural process limits {fmt(p.lower)} to {fmt(p.upper)}"
    )
    where = (
        "kept from the previous period"
        if p.inherited
        else f"from {p.baseline_n} baseline values"
        + (", provisional" if p.provisional else "")
        + (", doubtful" if p.doubtful else "")
    )
    return (
        f"{head}: {p.n} values; central line {fmt(p.centre)}, {limits}, "
        f"upper range limit {fmt(p.url)} ({where})."
    )


def rule_counts(signals: Sequence[Signal]) -> str:
    """'2 beyond a limit, 1 sustained shift': how many signals of each kind."""
    kinds = {
        "1": "beyond a limit",
        "mR": "jump",
        "2": "near a limit",
        "3": "sustained shift",
        "4": "trend",
    }
    counts: dict[str, int] = {}
    for s in sorted(signals, key=lambda s: RULE_ORDER[s.rule]):
        counts[s.rule] = counts.get(s.rule, 0) + 1
    return ", ".join(
        f"{n} {kinds[r]}{'s' if n != 1 and r != '2' and r != '1' else ''} (rule {r})"
        for r, n in counts.items()
    )


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
#
# Rational subgrouping (Wheeler): successive values on an XmR chart should differ only by the
# routine variation of the process, so that the moving ranges measure it. While few items finish
# a week, each completed item is such a value. When many finish a week, or they finish in batches,
# successive items share the same week's (or release's) conditions: their moving ranges measure
# only the small variation inside a week, the limits come out too narrow, and nearly every
# stretch of the history is "a signal". Then one value per week (its median lead time, its
# throughput) is the rational subgroup, and week-to-week variation sets the limits.

BATCH_DAY_ITEMS = 4
"""A day on which at least this many items finish is a batch ..."""
BATCH_SHARE = 0.5
"""... and when at least this share of items finish in batches, each week is one value."""
MIN_WEEK_ITEMS = 3
"""A weekly median (or flow efficiency) needs at least this many items finished that week."""
WARMUP_SHARE = 0.25
"""The data really start in the first complete week whose throughput reaches this share of a
typical week; the weeks before it (a log that starts mid-stream, stray early items) are warm-up."""

Basis = Literal["auto", "items", "weekly"]


class Series(NamedTuple):
    """A series to chart: values in time order, with their dates and labels."""

    values: np.ndarray
    dates: pd.DatetimeIndex
    labels: list[str]


@dataclass(frozen=True)
class SeriesChoice:
    """Which series a lead- or cycle-time chart shows (single items or weeks), and why."""

    kind: Literal["items", "weekly"]
    per_week: float
    """Completions in a typical (median) complete week after the warm-up."""
    batched: float
    """Share of completions on days when at least ``BATCH_DAY_ITEMS`` items finished."""
    forced: bool = False

    def explain(self) -> str:
        rate = f"{self.per_week:,.1f} items finish in a typical week"
        if self.kind == "items":
            why = (
                f"one value per completed item, in completion order: {rate}, few enough to chart "
                f"one by one (up to {MAX_ITEMS_PER_WEEK} a week)"
            )
        elif self.batched >= BATCH_SHARE and self.per_week <= MAX_ITEMS_PER_WEEK:
            why = (
                f"one value per week, the median of the items finished that week: {self.batched:.0%} "
                f"of items finish in batches ({BATCH_DAY_ITEMS} or more on one day), and their order "
                "inside a batch means nothing"
            )
        else:
            why = (
                f"one value per week, the median of the items finished that week: {rate}, more than "
                f"the {MAX_ITEMS_PER_WEEK} a chart of single items takes (items of the same week share "
                "its conditions, so their moving ranges understate the routine variation)"
            )
        return why[0].upper() + why[1:] + (" (chosen by the user)." if self.forced else ".")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items_per_week": _clean(self.per_week),
            "batched_share": _clean(self.batched),
            "forced": self.forced,
            "why": self.explain(),
        }


LEAD_KINDS = {"lead": "lead_time_days", "cycle": "cycle_time_days"}
WEEKLY_KINDS = ("throughput", "median_lead", "median_cycle", "flow_efficiency")
WEEKLY_OF = {"lead": "median_lead", "cycle": "median_cycle"}
SERIES_NAMES = {
    "lead": ("Lead time per completed item", "days"),
    "cycle": ("Cycle time per completed item", "days"),
    "throughput": ("Weekly throughput", "items"),
    "median_lead": ("Weekly median lead time", "days"),
    "median_cycle": ("Weekly median cycle time", "days"),
    "flow_efficiency": ("Weekly flow efficiency", ""),
}


def completed_items(flow: Flow) -> pd.DataFrame:
    """Every completed item in completion order, with its lead and cycle time (from ``flow.items()``)."""
    items = flow.items()
    done = items[items["finished"].notna()].copy()
    return done.sort_values(["finished", "item"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class _Weeks:
    """The complete ISO weeks of a flow after its warm-up, one row each, and what was left out."""

    table: pd.DataFrame
    """week, throughput, finished, median_lead, median_cycle, flow_efficiency."""
    warmup: int
    typical: float

    def warmup_note(self) -> str | None:
        if not self.warmup:
            return None
        first = self.table["week"].iloc[0].date() if len(self.table) else None
        weeks = f"{self.warmup} week{'s' if self.warmup != 1 else ''}"
        start = f" the week of {first}" if first else " no complete week yet"
        return (
            f"The first {weeks} of the history {'are' if self.warmup != 1 else 'is'} left out as warm-up: the data really start in{start}, "
            f"the first week in which at least {WARMUP_SHARE:.0%} of a typical week's "
            f"{self.typical:,.0f} items finished."
        )


def _weeks(flow: Flow) -> _Weeks:
    rates = flow.rates(period="week")
    full = rates[rates["days"] == 7]
    table = pd.DataFrame(
        {
            "week": pd.to_datetime(full["period"]).to_numpy(),
            "throughput": full["throughput"].to_numpy(dtype=float),
        }
    )
    per_week = flow.finished_by_week()
    per_week["week"] = pd.to_datetime(per_week["week"])
    table = table.merge(
        per_week[["week", "finished", "median_lead", "median_cycle", "flow_efficiency"]],
        on="week",
        how="left",
    )
    busy = table["throughput"][table["throughput"] > 0]
    typical = float(busy.median()) if len(busy) else 0.0
    real = np.flatnonzero(table["throughput"].to_numpy() >= max(1.0, WARMUP_SHARE * typical))
    warmup = int(real[0]) if len(real) else len(table)
    return _Weeks(table.iloc[warmup:].reset_index(drop=True), warmup, typical)


def choose_series(flow: Flow, basis: Basis = "auto") -> SeriesChoice:
    """Chart single items or weeks? Single items while few finish a week and not in batches."""
    if basis not in ("auto", "items", "weekly"):
        raise InputError(f"the series basis is auto, items or weekly, not '{basis}'")
    weeks = _weeks(flow).table
    done = completed_items(flow)
    # Less than one complete week: all of it counts as one week.
    per_week = float(weeks["throughput"].median()) if len(weeks) else float(len(done))
    day = pd.to_datetime(done["finished"], utc=True).dt.tz_convert(flow.timezone).dt.date
    per_day = day.map(day.value_counts())
    batched = float((per_day >= BATCH_DAY_ITEMS).mean()) if len(done) else 0.0
    if basis != "auto":
        return SeriesChoice(basis, per_week, batched, forced=True)
    few = per_week <= MAX_ITEMS_PER_WEEK and batched < BATCH_SHARE
    return SeriesChoice("items" if few else "weekly", per_week, batched)


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


def weekly_series(flow: Flow, kind: str) -> Series:
    """A weekly figure over the complete ISO weeks of the flow's history after its warm-up.

    ``throughput``: items finishing per week (weeks with none count as 0). ``median_lead`` and
    ``median_cycle``: the median lead (cycle) time of the items finishing that week, and
    ``flow_efficiency``: their sum(touch) / sum(lead); weeks with fewer than ``MIN_WEEK_ITEMS``
    finished items have no such value and are left out. Weeks cut by the start or end of the data
    are left out too (a part-week would look like a drop that never happened), and so are the
    warm-up weeks before the data really start (see ``WARMUP_SHARE``).
    """
    return _weekly(flow, kind)[0]


def _weekly(flow: Flow, kind: str) -> tuple[Series, list[str]]:
    if kind not in WEEKLY_KINDS:
        raise InputError(f"the weekly series is one of {', '.join(WEEKLY_KINDS)}, not '{kind}'")
    weeks = _weeks(flow)
    table = weeks.table
    notes = [n for n in [weeks.warmup_note()] if n]
    if kind != "throughput":
        enough = table["finished"].fillna(0) >= MIN_WEEK_ITEMS
        short = int((~enough & (table["finished"].fillna(0) > 0)).sum())
        if short:
            notes.append(
                f"{short} week{'s' if short != 1 else ''} with fewer than {MIN_WEEK_ITEMS} finished "
                f"items {'are' if short != 1 else 'is'} left out: too few to summarise."
            )
        table = table[enough & table[kind].notna()]
    when = pd.DatetimeIndex(table["week"])
    series = Series(table[kind].to_numpy(dtype=float), when, [f"week of {d.date()}" for d in when])
    return series, notes


def flow_xmr(
    flow: Flow,
    series: str,
    *,
    splits: Iterable[Any] = (),
    baseline: int = DEFAULT_BASELINE,
    basis: Basis = "auto",
) -> XmrChart:
    """The XmR chart of one of the flow's series, the one number behind every chart and check.

    ``series``: lead or cycle (single items or weekly medians, as :func:`choose_series` decides
    for the volume, or as ``basis`` forces), or one of the weekly series throughput,
    median_lead, median_cycle, flow_efficiency. The limits come from the first ``baseline``
    values of each period, or, when the stream file names a ``baseline`` period (a stretch of
    routine operation), from the values in it.
    """
    chosen = flow.stream.baseline if flow.stream is not None else None
    choice: SeriesChoice | None = None
    notes: list[str] = []
    if series in LEAD_KINDS:
        choice = choose_series(flow, basis)
        if choice.kind == "weekly":
            (values, dates, labels), notes = _weekly(flow, WEEKLY_OF[series])
            name = SERIES_NAMES[WEEKLY_OF[series]][0]
        else:
            values, dates, labels = lead_time_series(flow, series)
            first = _weeks(flow)
            if first.warmup and len(first.table):
                start = pd.Timestamp(first.table["week"].iloc[0])
                if dates.tz is not None and start.tz is None:
                    # The week starts at midnight where the flow's days are counted.
                    start = start.tz_localize(flow.timezone)
                keep = dates >= start
                values, dates = values[keep], dates[keep]
                labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
                notes.append(first.warmup_note() or "")
            name = SERIES_NAMES[series][0]
    elif series in WEEKLY_KINDS:
        (values, dates, labels), notes = _weekly(flow, series)
        name = SERIES_NAMES[series][0]
    else:
        raise InputError(f"unknown series '{series}': one of {', '.join(SERIES_NAMES)}")
    unit = SERIES_NAMES[series][1]
    chart = xmr(
        values,
        dates=dates,
        labels=labels,
        splits=list(splits),
        baseline=baseline,
        baseline_range=(chosen.start, chosen.end) if chosen is not None else None,
        name=name,
        unit=unit,
        lower_bound=0.0,
    )
    return replace(chart, notes=(*notes, *chart.notes), choice=choice, series=series)


def flow_predictability(
    flow: Flow,
    measure: str = "lead",
    *,
    splits: Iterable[Any] = (),
    basis: Basis = "auto",
) -> Predictability:
    """Is the flow's lead (or cycle) time predictable? Its chart's current period, with the tail
    ratio of the item times finished in that period (the same chart the check and report judge)."""
    chart = flow_xmr(flow, measure, splits=splits, basis=basis)
    items = lead_time_series(flow, measure)
    current = chart.current
    own = items.values
    if current is not None and current.start_date is not None and len(chart.table):
        # The chart's dates are wall times without a zone (see _as_dates): compare like with like.
        when = items.dates.tz_localize(None) if items.dates.tz is not None else items.dates
        own = items.values[when >= current.start_date]
    return chart_predictability(chart, own)


__all__ = [
    "D4",
    "E2",
    "MAX_ITEMS_PER_WEEK",
    "NOT_ENOUGH",
    "NO_SIGNAL",
    "Period",
    "Predictability",
    "RULES",
    "SIGNAL",
    "Series",
    "SeriesChoice",
    "Signal",
    "XmrChart",
    "chart_predictability",
    "choose_series",
    "completed_items",
    "flow_predictability",
    "flow_xmr",
    "lead_time_series",
    "predictability",
    "weekly_series",
    "xmr",
]
