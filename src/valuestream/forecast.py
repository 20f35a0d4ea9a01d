"""Forecasts from flow history: Monte Carlo "when" and "how many", service levels, aging work.

A forecast answers with probabilities instead of estimates. It resamples the daily throughput of a
window of calendar days (default: the last 90): every simulated day is one day drawn at random, with
replacement, from the days as they happened, so weekends, holidays and quiet days enter as the
zeros they were and nothing is smoothed into an average.

- :func:`when` - the date ``items`` more items will be finished by, at 50/70/85/95% confidence;
- :func:`how_many` - how many items will be finished in ``days`` (or by a date), at those levels;
- :func:`sle` - the service level expectation: "85% of items finish within N days";
- :func:`aging` - each item in progress, its age against those percentiles, and its current step.

Both forecasts read one random stream in the same order (day j of trial i is draw ``j * trials + i``
of the seeded generator), so for one seed "trial i finishes n items within d days" gives the same
answer whichever question is asked, and a bigger ``items`` never forecasts sooner.

Every forecast carries the process's predictability (DESIGN.md: no XmR signal in the current
period, with the spread and tail ratio), so a forecast made on an unpredictable process says so.
The functions take plain arrays and tables; a :class:`~valuestream.flow.Flow` is accepted too and
read through its public metrics (plus the open segments of its derived table ``vs_seg`` for each
item's current step).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from valuestream.defaults import (
    DEFAULT_TRIALS,
    DEFAULT_WINDOW_DAYS,
    HORIZON_DAYS,
    MIN_TRIALS,
)
from valuestream.errors import InputError, ValuestreamError
from valuestream.flow import Flow
from valuestream.model import Calendar
from valuestream.results import Result
from valuestream.xmr import (
    NO_SIGNAL,
    NOT_ENOUGH,
    Predictability,
    flow_predictability,
    predictability,
)

CONFIDENCES = (50, 70, 85, 95)
MIN_HISTORY_DAYS = 14
MIN_SLE_ITEMS = 5
_CELLS = 4_000_000  # simulated trial-days held in memory at once (about 16 MB of int32)

Measure = Literal["lead", "cycle"]
Question = Literal["when", "how_many"]


# -- what a forecast samples ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class History:
    """What a forecast samples: throughput per calendar day, and the items finished meanwhile.

    ``throughput``: items finished per day, one entry per consecutive calendar day (indexed by date
    when known). ``durations``: lead (or cycle) time in days of each item finished in those days,
    indexed by finish time in completion order; the forecast reports their predictability.
    ``splits``: days on which a new period starts (events that changed the process).
    ``judged``: the predictability of the whole flow it came from, as ``valuestream pbc`` and the
    check judge it (:func:`valuestream.xmr.flow_predictability`); None for a bare series, whose
    item times (or weekly throughput) are judged instead.
    """

    throughput: pd.Series
    durations: pd.Series | None = None
    splits: tuple[dt.date, ...] = ()
    measure: Measure = "lead"
    judged: Predictability | None = None
    calendar: Calendar | None = None
    """The stream's calendar: under working days, only working days are history and forecast days."""

    @classmethod
    def from_flow(
        cls,
        flow: Flow,
        *,
        window_days: int | None = DEFAULT_WINDOW_DAYS,
        end: dt.date | None = None,
        measure: Measure = "lead",
    ) -> History:
        """The last ``window_days`` days up to ``end`` (default: the as-of day) of a Flow.

        Days before the first item entered the stream are not history (nothing was running), so
        the window is cut to start no earlier than that.
        """
        everything = flow.window(end=end)
        window = flow.window(end=end, days=window_days) if window_days else everything
        start = max(window.start, everything.start)
        rates = flow.rates(flow.window(start, window.end), period="day")
        throughput = pd.Series(
            rates["throughput"].to_numpy(dtype=np.int64),
            index=pd.Index([_as_date(d) for d in rates["period"]], name="day"),
            name="throughput",
        )
        # Under working days a weekend is no day of history: its zero would be sampled as one.
        throughput = throughput[flow.calendar.counted(throughput.index)]
        done = _finished(flow, measure)
        day = done["finished"].dt.tz_convert(flow.timezone).dt.date
        done = done[(day >= start) & (day <= window.end)]
        durations = pd.Series(
            done["days"].to_numpy(dtype=float), index=done["finished"], name=f"{measure}_time_days"
        )
        splits = _splits(flow)
        try:
            judged = flow_predictability(flow, measure, splits=splits)
        except ValuestreamError:
            judged = None  # too little to chart: the window's own items are judged instead
        return cls(throughput, durations, splits, measure, judged, calendar=flow.calendar)

    def window(self, days: int | None) -> History:
        """The last ``days`` days of this history (all of it when None)."""
        if days is None or days >= len(self.throughput):
            return self
        if days < 1:
            raise InputError(f"the window must be at least one day, not {days}")
        throughput = self.throughput.iloc[-days:]
        durations = self.durations
        if durations is not None and isinstance(throughput.index[0], dt.date):
            first = throughput.index[0]
            finished = pd.to_datetime(durations.index)
            keep = np.array([ts.date() >= first for ts in finished], dtype=bool)
            durations = durations[keep]
        return History(throughput, durations, self.splits, self.measure, self.judged, calendar=self.calendar)

    @property
    def dates(self) -> tuple[dt.date, dt.date] | None:
        index = self.throughput.index
        if len(index) and isinstance(index[0], dt.date):
            return index[0], index[-1]
        return None


def _as_date(value: Any) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def _finished(flow: Flow, measure: Measure) -> pd.DataFrame:
    """Finished items with their lead or cycle time, in completion order."""
    items = flow.items()
    column = "lead_time_days" if measure == "lead" else "cycle_time_days"
    done = items[items["finished"].notna() & items[column].notna()]
    done = done.assign(
        finished=pd.to_datetime(done["finished"], utc=True), days=done[column].astype(float)
    )
    return done.sort_values(["finished", "item"])[["item", "finished", "days"]].reset_index(
        drop=True
    )


def _splits(flow: Flow) -> tuple[dt.date, ...]:
    days: set[dt.date] = set()
    days.update(flow.period_starts())
    if flow.stream is not None:
        days.update(e.date for e in flow.stream.events if e.new_period)
    return tuple(sorted(days))


def _history(source: Any, window_days: int | None, measure: Measure = "lead") -> History:
    """Any accepted input (Flow, History, rates table, Series, array) as a windowed History."""
    if isinstance(source, Flow):
        return History.from_flow(source, window_days=window_days, measure=measure)
    if isinstance(source, History):
        return source.window(window_days)
    if isinstance(source, pd.DataFrame):
        if "throughput" not in source.columns:
            raise InputError(
                "a throughput table needs a 'throughput' column (as Flow.rates(period='day') gives)"
            )
        index = (
            pd.Index([_as_date(d) for d in source["period"]])
            if "period" in source.columns
            else None
        )
        series = pd.Series(source["throughput"].to_numpy(), index=index)
    elif isinstance(source, pd.Series):
        series = source
    else:
        series = pd.Series(np.asarray(source))
    _check_daily(series)
    return History(series).window(window_days)


def _check_daily(series: pd.Series) -> None:
    index = series.index
    if len(index) > 1 and isinstance(index[0], dt.date):
        steps = {(b - a).days for a, b in zip(index[:-1], index[1:], strict=False)}
        if steps != {1}:
            raise InputError(
                "throughput must be given per calendar day, every day of the window present (use Flow.rates(period='day'))"
            )


def _throughput_values(history: History) -> np.ndarray:
    raw = history.throughput.to_numpy()
    if raw.ndim != 1:
        raise InputError("throughput must be one number per day")
    values = np.asarray(raw, dtype=float)
    if np.isnan(values).any() or (values < 0).any() or (values != np.round(values)).any():
        raise InputError("throughput must be a whole, non-negative number of items per day")
    days = len(values)
    span = f" ({history.dates[0]} to {history.dates[1]})" if history.dates else ""
    if days == 0:
        raise InputError("no history to forecast from: the window holds no day")
    if values.sum() == 0:
        raise InputError(
            f"no item finished in the {days} days of the window{span}: there is no throughput to "
            "forecast from; widen the window or check the stream's finish state"
        )
    return values.astype(np.int32)


# -- the simulation ------------------------------------------------------------------------------


def _indices(rng: np.random.Generator, n: int, days: int, trials: int) -> np.ndarray:
    """Which history day each trial samples on each of ``days`` more days (row j: day j, column i: trial i).

    Drawn for every trial, even settled ones, so that day j of trial i is always the same draw of
    the seeded stream, however the days are cut into blocks and whichever question is asked.
    """
    return rng.integers(0, n, size=(days, trials), dtype=np.uint32)


def _block(trials: int) -> int:
    return max(1, _CELLS // trials)


def simulate_when(
    values: np.ndarray,
    items: int,
    trials: int,
    rng: np.random.Generator,
    horizon: int = HORIZON_DAYS,
) -> np.ndarray:
    """Per trial, the number of days until ``items`` are finished (``horizon + 1`` if never)."""
    days = np.full(trials, horizon + 1, dtype=np.int64)
    remaining = np.full(trials, items, dtype=np.int64)
    running = np.arange(trials)
    # Size the first block to settle (nearly) every trial at once: the days the mean rate needs
    # plus six standard deviations of that time (renewal theory: sd ~ sqrt(items * var) / mean^1.5).
    mean, var = float(values.mean()), float(values.var())
    spread = math.sqrt(items * var) / mean**1.5
    block = min(math.ceil(items / mean + 6 * spread) + MIN_HISTORY_DAYS, _block(trials))
    # Running totals fit in 32 bits unless a block of the biggest day could overflow them.
    wide = np.int64 if int(values.max()) * block >= 2**31 - int(remaining[0]) else np.int32
    elapsed = 0
    while elapsed < horizon and running.size:
        rows = min(block, horizon - elapsed)
        picks = _indices(rng, len(values), rows, trials)
        if running.size < trials:
            picks = picks[:, running]
        total: np.ndarray = np.cumsum(np.take(values, picks), axis=0, dtype=wide)
        short = total < remaining[running]
        settled = ~short[-1]
        # Totals never fall, so the days still short of the target are exactly the days before it.
        before = np.count_nonzero(short, axis=0)
        days[running[settled]] = elapsed + before[settled] + 1
        remaining[running] -= total[-1]
        running = running[~settled]
        elapsed += rows
    return days


def simulate_how_many(
    values: np.ndarray, days: int, trials: int, rng: np.random.Generator
) -> np.ndarray:
    """Per trial, the items finished in ``days`` simulated days."""
    finished = np.zeros(trials, dtype=np.int64)
    block = _block(trials)
    for first in range(0, days, block):
        picks = _indices(rng, len(values), min(block, days - first), trials)
        finished += np.take(values, picks).sum(axis=0, dtype=np.int64)
    return finished


def _when_level(ordered: np.ndarray, confidence: int) -> int:
    """The fewest days within which at least ``confidence`` % of trials finished."""
    k = math.ceil(confidence / 100 * len(ordered) - 1e-9) - 1
    return int(ordered[max(k, 0)])


def _how_many_level(ordered: np.ndarray, confidence: int) -> int:
    """The most items that at least ``confidence`` % of trials reached."""
    k = math.floor((1 - confidence / 100) * len(ordered) + 1e-9)
    return int(ordered[min(k, len(ordered) - 1)])


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Forecast(Result):
    """A Monte Carlo forecast: its question, every trial's outcome and the confidence levels.

    ``outcomes``: per trial, the days until the items were finished (``when``; day 1 is ``start``)
    or the items finished in the days (``how_many``). ``levels``: (confidence %, days or items).
    """

    question: Question
    items: int | None
    days: int | None
    start: dt.date | None
    trials: int
    seed: int
    outcomes: np.ndarray = field(repr=False)
    levels: tuple[tuple[int, int], ...]
    history_days: int
    history_items: int
    zero_days: int
    window: tuple[dt.date, dt.date] | None
    predictability: Predictability | None = None
    predictability_basis: str = ""
    shortfall: str = ""
    """What the history lacks for a firm forecast (empty when it has enough): a short history
    still gives its forecast, marked provisional, instead of none."""
    calendar: Calendar | None = None
    """Under working days, forecast days are working days (weekends and holidays skipped)."""

    def date_of(self, days: int) -> dt.date | None:
        """The day a number of forecast days ends on (day 1 is the start; working days under a
        working-day calendar)."""
        if self.start is None:
            return None
        if self.calendar is not None:
            return self.calendar.nth_day(self.start, days)
        return self.start + dt.timedelta(days=days - 1)

    @property
    def by(self) -> dt.date | None:
        """The last day of a ``how_many`` forecast."""
        return self.date_of(self.days) if self.question == "how_many" and self.days else None

    @property
    def table(self) -> pd.DataFrame:
        """One row per confidence level: days and date (``when``) or items (``how_many``)."""
        if self.question == "when":
            return pd.DataFrame(
                {
                    "confidence": [c for c, _ in self.levels],
                    "days": [v for _, v in self.levels],
                    "date": [self.date_of(v) for _, v in self.levels],
                }
            )
        return pd.DataFrame(
            {"confidence": [c for c, _ in self.levels], "items": [v for _, v in self.levels]}
        )

    def level(self, confidence: int) -> int:
        return dict(self.levels)[confidence]

    def explain(self) -> str:
        rate = self.history_items / self.history_days
        span = f"{self.window[0]} to {self.window[1]}, " if self.window else ""
        sampled = (
            f"{self.trials:,} trials (seed {self.seed}) drew days at random from the {self.history_days} "
            f"days of history ({span}{self.history_items} items finished, {rate:.2f} a day, "
            f"{self.zero_days} day{'s' if self.zero_days != 1 else ''} with none)."
        )
        if self.question == "when":
            d = self.level(85)
            when = f" by {self.date_of(d)}" if self.start else ""
            head = f"{self.items} items will be finished within {d} days{when} with 85% confidence"
            rest = "; ".join(
                f"{c}%: {v} days" + (f" ({self.date_of(v)})" if self.start else "")
                for c, v in self.levels
                if c != 85
            )
        else:
            n = self.level(85)
            by = f" (by {self.by})" if self.by else ""
            head = (
                f"At least {n} items will be finished in {self.days} days{by} with 85% confidence"
            )
            rest = "; ".join(f"{c}%: {v} items" for c, v in self.levels if c != 85)
        words = f"{head} ({rest}). {sampled} {self._predictability_words()}"
        if self.calendar is not None:
            words += " Days are working days (weekends and holidays skipped), in history and forecast alike."
        return f"Provisional: {self.shortfall}. {words}" if self.shortfall else words

    def _predictability_words(self) -> str:
        p = self.predictability
        if p is None:
            return f"Predictability was not assessed: {self.predictability_basis}."
        words = p.explain()
        if p.verdict == NOT_ENOUGH:
            # Not judged is not the same as unpredictable: say which, never both.
            return f"{words} It is judged on {self.predictability_basis}."
        if p.verdict != NO_SIGNAL:
            return (
                f"Warning: the process is not predictable ({self.predictability_basis}), so the past "
                f"these trials sample is a poor guide to the future; treat this forecast with care. {words}"
            )
        return f"Predictability ({self.predictability_basis}): {words}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the question, each confidence level, the history and predictability."""
        if self.question == "when":
            levels = [
                {"confidence": c, "days": v, "date": _iso(self.date_of(v))} for c, v in self.levels
            ]
        else:
            levels = [{"confidence": c, "items": v} for c, v in self.levels]
        out: dict[str, Any] = {
            "question": self.question,
            "items": self.items,
            "days": self.days,
            "start": _iso(self.start),
            "by": _iso(self.by),
            "trials": self.trials,
            "seed": self.seed,
            "forecast": levels,
            "history": {
                "start": _iso(self.window[0]) if self.window else None,
                "end": _iso(self.window[1]) if self.window else None,
                "days": self.history_days,
                "items": self.history_items,
                "zero_days": self.zero_days,
                "per_day": self.history_items / self.history_days,
            },
            "predictability": _predictability_dict(self.predictability, self.predictability_basis),
        }
        if self.question == "when":
            out.pop("by")
        return out

    def __rich__(self) -> Any:
        return _rich(self.table, self.explain(), f"Forecast: {self.question.replace('_', ' ')}")


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _rich(table: pd.DataFrame, words: str, title: str) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, header_style="bold")
    for col in table.columns:
        out.add_column(
            str(col), justify="right" if pd.api.types.is_numeric_dtype(table[col]) else "left"
        )
    for row in table.itertuples(index=False):
        out.add_row(
            *(
                "" if v is None or v is pd.NaT else f"{v:,.2f}" if isinstance(v, float) else str(v)
                for v in row
            )
        )
    return Group(out, Text(words))


def _predictability_dict(p: Predictability | None, basis: str) -> dict[str, Any]:
    if p is None:
        return {"assessed": False, "basis": basis}
    return {
        "assessed": True,
        "basis": basis,
        "verdict": p.verdict,
        "predictable": bool(p.predictable),
        "signals": int(p.signals),
        "spread": _finite(p.spread),
        "tail_ratio": _finite(p.tail_ratio),
        "provisional": bool(p.provisional),
    }


def _plain(value: Any) -> Any:
    """A table cell as plain JSON data: ISO times, None for missing values."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# -- the two questions --------------------------------------------------------------------------


def when(
    daily_throughput: Any,
    items: int,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    start: dt.date | None = None,
    window_days: int | None = DEFAULT_WINDOW_DAYS,
) -> Forecast:
    """When will ``items`` more items be finished? Days (and dates) at 50/70/85/95% confidence.

    ``daily_throughput``: items finished per calendar day (array, Series indexed by date, the
    table of ``Flow.rates(period="day")``), a :class:`History`, or a :class:`Flow`; the last
    ``window_days`` days are sampled. ``start``: the first forecast day (default: the day after
    the history ends). ``seed``: the same seed gives the same forecast; without one a seed is
    chosen and reported.
    """
    if items < 1:
        raise InputError(f"--items must be at least 1, not {items}")
    history, values, seed, rng, start = _prepare(daily_throughput, trials, seed, start, window_days)
    outcomes = simulate_when(values, items, trials, rng)
    ordered = np.sort(outcomes)
    levels = tuple((c, _when_level(ordered, c)) for c in CONFIDENCES)
    if levels[-1][1] > HORIZON_DAYS:
        raise ValuestreamError(
            f"at {values.mean():.3f} items a day, {items} items take more than {HORIZON_DAYS} days in over "
            f"{100 - CONFIDENCES[-1]}% of trials: no useful forecast (is the window's throughput right?)"
        )
    return _result("when", history, values, outcomes, levels, trials, seed, start, items=items)


def how_many(
    daily_throughput: Any,
    days: int | dt.date,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    start: dt.date | None = None,
    window_days: int | None = DEFAULT_WINDOW_DAYS,
) -> Forecast:
    """How many items will be finished in ``days`` calendar days (or by a date, inclusive)?

    Items at 50/70/85/95% confidence: at the 85% level, 85% of trials finished at least that many.
    The other arguments are those of :func:`when`.
    """
    history, values, seed, rng, start = _prepare(daily_throughput, trials, seed, start, window_days)
    if isinstance(days, dt.date):
        if start is None:
            raise InputError("a forecast to a date needs a start date (the history has no dates)")
        by = days
        days = (by - start).days + 1
        if history.calendar is not None and days > 0:
            span = [start + dt.timedelta(days=k) for k in range(days)]
            days = int(history.calendar.counted(span).sum())  # working days to the date
        if days < 1:
            raise InputError(f"--by {by} is before the forecast starts ({start})")
    if days < 1:
        raise InputError(f"a forecast needs at least one day, not {days}")
    if days > HORIZON_DAYS:
        raise InputError(
            f"{days} days is beyond the {HORIZON_DAYS}-day horizon a forecast can honestly reach"
        )
    outcomes = simulate_how_many(values, days, trials, rng)
    ordered = np.sort(outcomes)
    levels = tuple((c, _how_many_level(ordered, c)) for c in CONFIDENCES)
    return _result("how_many", history, values, outcomes, levels, trials, seed, start, days=days)


def _prepare(
    source: Any, trials: int, seed: int | None, start: dt.date | None, window_days: int | None
) -> tuple[History, np.ndarray, int, np.random.Generator, dt.date | None]:
    if trials < MIN_TRIALS:
        raise InputError(
            f"--trials must be at least {MIN_TRIALS:,} for stable percentiles, not {trials:,}"
        )
    history = _history(source, window_days)
    values = _throughput_values(history)
    if seed is None:
        seed = secrets.randbits(32)  # reported, so any run can be repeated
    if start is None and history.dates:
        start = history.dates[1] + dt.timedelta(days=1)
    if start is not None and history.calendar is not None:
        start = history.calendar.nth_day(start, 1)  # the first working day from it
    return history, values, seed, np.random.default_rng(seed), start


def _result(
    question: Question,
    history: History,
    values: np.ndarray,
    outcomes: np.ndarray,
    levels: tuple[tuple[int, int], ...],
    trials: int,
    seed: int,
    start: dt.date | None,
    *,
    items: int | None = None,
    days: int | None = None,
) -> Forecast:
    predictability, basis = assess(history)
    shortfall = ""
    if len(values) < MIN_HISTORY_DAYS:
        shortfall = (
            f"only {len(values)} days of history; a firm forecast wants at least {MIN_HISTORY_DAYS} days of "
            "throughput (widen the window, or wait for more history)"
        )
    return Forecast(
        question=question,
        items=items,
        days=days,
        start=start,
        trials=trials,
        seed=seed,
        outcomes=outcomes,
        levels=levels,
        history_days=len(values),
        history_items=int(values.sum()),
        zero_days=int((values == 0).sum()),
        window=history.dates,
        predictability=predictability,
        predictability_basis=basis,
        shortfall=shortfall,
        calendar=history.calendar if history.calendar is not None and history.calendar.days == "working" else None,
    )


def assess(history: History) -> tuple[Predictability | None, str]:
    """The predictability of the process a history comes from, and what it was computed on.

    Per DESIGN.md, on the lead (or cycle) times of the items finished in the window, in completion
    order, periods split at process-changing events. A bare throughput series has no item times,
    so its weekly throughput (7-day totals, counted back from the last day) is charted instead.
    """
    if history.judged is not None:
        # The one verdict: the same chart and current period as 'valuestream pbc' and the check.
        chart = f"the {history.measure} time chart of 'valuestream pbc {history.measure}'"
        # 'One value per week, the median ...: 40 items finish ...' -> 'one value per week, ...'.
        basis = history.judged.basis.split(":")[0]
        return history.judged, f"{chart}, {basis[0].lower()}{basis[1:]}" if basis else chart
    if history.durations is not None and len(history.durations) >= 2:
        finished = pd.to_datetime(history.durations.index)
        dates = [ts.date() for ts in finished]
        values = history.durations.to_numpy(dtype=float)
        basis = f"{history.measure} time of the {len(values)} items finished in the window, in completion order"
        try:
            return predictability(values, dates=dates, splits=history.splits), basis
        except ValuestreamError as exc:
            return None, f"{basis}: {exc}"
    daily = history.throughput.to_numpy(dtype=float)
    weeks = len(daily) // 7
    if weeks < 2:
        return None, f"fewer than two whole weeks of throughput ({len(daily)} days)"
    weekly = daily[len(daily) - weeks * 7 :].reshape(weeks, 7).sum(axis=1)
    week_ends: list[dt.date] | None = None
    if history.dates:
        last = history.dates[1]
        week_ends = [last - dt.timedelta(days=7 * (weeks - 1 - k)) for k in range(weeks)]
    basis = f"weekly throughput over {weeks} weeks"
    try:
        return predictability(weekly, dates=week_ends, splits=history.splits), basis
    except ValuestreamError as exc:
        return None, f"{basis}: {exc}"


# -- service level expectation -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ServiceLevel(Result):
    """The service level expectation: ``percentile`` % of items finish within ``days`` days.

    Percentiles are of observed values (the smallest finished item's time such that at least that
    share of items took no longer), so the statement holds exactly on the history it came from.
    """

    measure: Measure
    percentile: int
    days: float
    durations: np.ndarray = field(repr=False)
    levels: tuple[tuple[int, float], ...]
    window: tuple[dt.date, dt.date] | None = None
    shortfall: str = ""
    """What the history lacks for a firm expectation (empty when it has enough items)."""

    @property
    def whole_days(self) -> int:
        """The expectation in whole days, as teams say it ("within 12 days")."""
        return math.ceil(self.days - 1e-9)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "percentile": [p for p, _ in self.levels],
                "days": [d for _, d in self.levels],
                "whole_days": [math.ceil(d - 1e-9) for _, d in self.levels],
            }
        )

    def level(self, percentile: int) -> float:
        return dict(self.levels)[percentile]

    def explain(self) -> str:
        what = (
            "entering the stream to finishing (lead time)"
            if self.measure == "lead"
            else "first touch to finishing (cycle time)"
        )
        span = f" between {self.window[0]} and {self.window[1]}" if self.window else ""
        n = len(self.durations)
        small = " A small sample: read it as a first expectation, not a promise." if n < 30 else ""
        if self.shortfall:
            small = f" Provisional: {self.shortfall}."
        return (
            f"{self.percentile}% of items finish within {self.whole_days} days: of the {n} items finished{span}, "
            f"{self.percentile}% took {self.days:.1f} days or less from {what}. Expect a new item to "
            f"finish within {self.whole_days} days {self.percentile} times out of 100.{small}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "percentile": self.percentile,
            "days": self.days,
            "whole_days": self.whole_days,
            "items": len(self.durations),
            "window": {"start": _iso(self.window[0]), "end": _iso(self.window[1])}
            if self.window
            else None,
            "levels": [{"percentile": p, "days": d} for p, d in self.levels],
            "missing": self.shortfall or None,
        }

    def __rich__(self) -> Any:
        return _rich(self.table, self.explain(), "Service level expectation")


def _percentile_observed(ordered: np.ndarray, percentile: float) -> float:
    k = math.ceil(percentile / 100 * len(ordered) - 1e-9) - 1
    return float(ordered[max(k, 0)])


def sle(
    durations: Any,
    *,
    percentile: int = 85,
    measure: Measure = "lead",
    window_days: int | None = DEFAULT_WINDOW_DAYS,
) -> ServiceLevel:
    """The service level expectation from finished items' lead (or cycle) times in days.

    ``durations``: the times (array or Series), or a :class:`Flow`, whose items finished in the
    last ``window_days`` days are used.
    """
    if not 1 <= percentile <= 99:
        raise InputError(f"--percentile must be between 1 and 99, not {percentile}")
    if measure not in ("lead", "cycle"):
        raise InputError(f"measure must be lead or cycle, not '{measure}'")
    window = None
    if isinstance(durations, Flow):
        history = History.from_flow(durations, window_days=window_days, measure=measure)
        window = history.dates
        durations = history.durations
    values = np.asarray(durations, dtype=float)
    values = np.sort(values[~np.isnan(values)])
    if (values < 0).any():
        raise InputError("durations cannot be negative")
    span = f" between {window[0]} and {window[1]}" if window else ""
    if len(values) == 0:
        raise InputError(
            f"no finished items for a service level expectation{span}: it needs at least one, and "
            f"{MIN_SLE_ITEMS} for a firm one (widen the window with --window-days)"
        )
    shortfall = ""
    if len(values) < MIN_SLE_ITEMS:
        shortfall = (
            f"only {len(values)} finished item{'s' if len(values) != 1 else ''}{span}; a firm expectation "
            f"needs at least {MIN_SLE_ITEMS} (widen the window with --window-days)"
        )
    percents = tuple(sorted({*CONFIDENCES, percentile}))
    levels = tuple((p, _percentile_observed(values, p)) for p in percents)
    return ServiceLevel(measure, percentile, dict(levels)[percentile], values, levels, window, shortfall)


# -- aging work in progress ----------------------------------------------------------------------

BANDS = ("under 50%", "50-70%", "70-85%", "85-95%", "over 95%")


EXPLAINED_STEPS = 10
"""Most steps the aging sentence names its late items in; the others are counted together."""


@dataclass(frozen=True, eq=False)
class Aging(Result):
    """Items in progress, each one's age against the service level percentiles, by current step.

    The bands are the finished items' lead (or cycle) time percentiles, the same for every step: an
    item's age runs on the same clock as the time it will finish on, so an item above the 85% line
    is already older than 85% of items were when they finished, whatever step it is in. (Per-step
    exit ages would need each item's exit times, and rework would blur them.)
    """

    table: pd.DataFrame
    steps: tuple[str, ...]
    service_level: ServiceLevel
    as_of: dt.datetime | None = None

    @property
    def at_risk(self) -> pd.DataFrame:
        """Items already older than the service level expectation."""
        return self.table[self.table["age_days"] > self.service_level.days]

    def explain(self) -> str:
        s = self.service_level
        n = len(self.table)
        if n == 0:
            return f"No item is in progress. {s.explain()}"
        risk = self.at_risk
        clock = "entered the stream" if s.measure == "lead" else "were first worked on"
        are = "is" if len(risk) == 1 else "are"
        words = (
            f"{n} items in progress (age: days since they {clock}). {len(risk)} {are} already older than the "
            f"service level expectation of {s.whole_days} days ({s.percentile}% of finished items took no longer)"
        )
        if len(risk):
            by_step = risk.groupby("step", sort=False).size()
            named = by_step.sort_values(ascending=False, kind="stable").head(EXPLAINED_STEPS)
            shown = by_step[by_step.index.isin(named.index)]
            words += ": " + ", ".join(f"{k} in {step}" for step, k in shown.items())
            if len(by_step) > len(named):
                rest = by_step.drop(named.index)
                words += f", and {rest.sum():,} in {len(rest):,} other steps"
        oldest = self.table.iloc[0]
        words = f"{words}. The oldest, {oldest['item']}, is {oldest['age_days']:.1f} days old, in {oldest['step']}."
        return f"{words} Provisional: {s.shortfall}." if s.shortfall else words

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {k: _plain(v) for k, v in row.items()} for row in self.table.to_dict(orient="records")
        ]
        return {
            "service_level": self.service_level.to_dict(),
            "steps": list(self.steps),
            "items": rows,
        }

    def __rich__(self) -> Any:
        return _rich(self.table, self.explain(), "Aging work in progress")


def band_of(age: np.ndarray, levels: Sequence[tuple[int, float]]) -> np.ndarray:
    """The band each age falls in against the 50/70/85/95 percentiles (at a line counts as under)."""
    lines = [dict(levels)[c] for c in CONFIDENCES]
    return np.asarray(BANDS, dtype=object)[np.searchsorted(lines, age, side="left")]


def aging(
    in_progress: Any,
    service_level: ServiceLevel | None = None,
    *,
    steps: Sequence[str] = (),
    percentile: int = 85,
    measure: Measure = "lead",
    window_days: int | None = DEFAULT_WINDOW_DAYS,
) -> Aging:
    """Each item in progress against the service level percentiles, oldest first.

    ``in_progress``: a table with columns item, step, age_days (title, entered, started optional),
    with the ``service_level`` to compare against and the ``steps`` in flow order; or a
    :class:`Flow`, from which all of them are taken (the expectation from items finished in the
    last ``window_days`` days, at ``percentile``, by ``measure``).
    """
    as_of = None
    if isinstance(in_progress, Flow):
        flow = in_progress
        service_level = service_level or sle(
            flow, percentile=percentile, measure=measure, window_days=window_days
        )
        steps = steps or flow_order(flow)
        in_progress = _in_progress(flow, service_level.measure)
        as_of = flow.as_of
    if service_level is None:
        raise InputError("aging needs a service level expectation to compare ages with (see sle())")
    missing = {"item", "step", "age_days"} - set(in_progress.columns)
    if missing:
        raise InputError(f"the in-progress table lacks columns {sorted(missing)}")
    table = in_progress.copy()
    table["band"] = band_of(table["age_days"].to_numpy(dtype=float), service_level.levels)
    table["over_sle"] = table["age_days"] > service_level.days
    table = table.sort_values(["age_days", "item"], ascending=[False, True]).reset_index(drop=True)
    order = list(steps)
    known = set(order)  # a set: a log of 100,000 states would make the list test quadratic
    order += [s for s in dict.fromkeys(table["step"]) if s not in known]
    return Aging(table, tuple(order), service_level, as_of)


def flow_order(flow: Flow, seen: pd.DataFrame | None = None) -> tuple[str, ...]:
    """Steps in flow order: the map's order when there is a stream file, then any other step seen.

    ``seen``: ``flow.steps(by="step")`` when the caller has it already (on a log of 200,000
    states it takes seconds).
    """
    order: list[str] = []
    skip: set[str] = set()
    if flow.workflow is not None:
        skip = {*flow.workflow.finish, *flow.workflow.discarded, *flow.workflow.before}
    if flow.stream is not None:
        # Steps only on the wall (no tracker states) can hold no item, and nothing waits in finish.
        order = [s.name for s in flow.stream.steps if s.states and not set(s.states) <= skip]
    steps = flow.steps(by="step") if seen is None else seen
    names = [str(s) for s in steps["step"]]
    skip |= set(order)
    return tuple(order + [s for s in names if s not in skip])


def _in_progress(flow: Flow, measure: Measure) -> pd.DataFrame:
    items = flow.items()
    wip = items[items["age_days"].notna()]
    current = flow.current_step()
    table = wip.merge(current, on="item", how="inner")
    if measure == "cycle":
        # Cycle-time age runs from first touch (in the stream's calendar, as every duration);
        # items nobody has touched yet have no such age.
        table = table[table["first_touch"].notna()]
        age = table["touch_age_days"].astype(float)
    else:
        age = table["age_days"].astype(float)
    columns = ["item", "title", "step", "state", "entered", "first_touch"]
    return table[columns].assign(age_days=np.asarray(age, dtype=float)).reset_index(drop=True)
