"""The weekly check: fifteen minutes on what changed since last time, reacting only to signals.

:func:`weekly_check` is pure (a flow analysis and the events log in, a :class:`CheckReport` out);
:func:`run_check` reads the last check from the workspace's ``checks`` table and records this one,
so the next check knows which signals it has already reported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from valuestream.errors import InputError
from valuestream.events import Event
from valuestream.flow import Flow
from valuestream.results import Result
from valuestream.xmr import (
    ADVICE,
    NOT_ENOUGH,
    SIGNAL,
    Basis,
    Signal,
    XmrChart,
    flow_xmr,
    rule_counts,
)

MEASURES = (
    ("lead", "Lead time"),
    ("cycle", "Cycle time"),
    ("throughput", "Throughput"),
    ("flow_efficiency", "Flow efficiency"),
)
"""The measures the check judges, each on the one chart of it (see :func:`valuestream.xmr.flow_xmr`)."""
SERIES_CHECKED = tuple(m for m, _ in MEASURES)
CAUSE_WINDOW_DAYS = (
    56  # an event more than 8 weeks before a signal is not named as its likely cause
)
SHOWN_SIGNALS = 3
"""The check names this many signals, the ones that matter most; the rest are counted."""
RATE_WEEKS = 4
OLDEST_SHOWN = 5


@dataclass(frozen=True)
class MeasureCheck:
    """One measure's verdict: its chart's current period, limits and signals."""

    measure: str
    name: str
    chart: XmrChart = field(repr=False)

    @property
    def verdict(self) -> str:
        return self.chart.verdict

    @property
    def period(self) -> Any:
        return self.chart.current

    @property
    def signals(self) -> int:
        p = self.chart.current
        return 0 if p is None else len(self.chart.signals_in(p.number))

    def row(self) -> dict[str, Any]:
        """The measure as one row of the check's table."""
        p = self.chart.current
        shown = p if p is not None and p.has_limits else None
        return {
            "measure": self.measure,
            "name": self.name,
            "verdict": self.verdict,
            "series": self.chart.name,
            "values": 0 if p is None else p.n,
            "centre": None if shown is None else shown.centre,
            "lower": None if shown is None else shown.lower,
            "upper": None if shown is None else shown.upper,
            "signals": self.signals,
            "provisional": True if p is None else p.provisional,
            "doubtful": False if p is None else p.doubtful,
            "since": None if p is None or p.start_date is None else str(p.start_date.date()),
            "event": None if p is None else p.event,
        }

    def line(self) -> str:
        """'Lead time: signal, react. Weekly median typical 31.1 days, routinely ...'."""
        chart, p = self.chart, self.chart.current
        head = f"{self.name}: {self.verdict}"
        if p is None or not p.has_limits:
            why = (p.note if p is not None else None) or "no values yet"
            return f"{head} ({ADVICE[NOT_ENOUGH]}: {why.rstrip('.')})."
        advice = "react" if self.verdict == SIGNAL else "do not react"
        low = "0" if p.lower is None else chart.fmt(p.lower).removesuffix(f" {chart.unit}")
        what = _SHORT.get(chart.name, chart.name.lower())
        text = f"{head}, {advice}. {what} typical {chart.fmt(p.centre)}, routinely {low} to {chart.fmt(p.upper)}"
        how = [f"{p.n} {'weeks' if chart.name.startswith('Weekly') else 'values'}"]
        if p.event and p.start_date is not None:
            before = chart.periods[p.number - 2] if p.number > 1 else None
            was = (
                f", was {chart.fmt(before.centre)}"
                if before is not None and before.has_limits and not p.inherited
                else ""
            )
            how[0] += f" since '{p.event}' ({p.start_date.date()}){was}"
        if p.inherited:
            how.append("limits kept from before the event")
        elif p.provisional:
            how.append("provisional")
        if p.doubtful:
            how.append("doubtful baseline")
        return f"{text} ({'; '.join(how)})."


_SHORT = {
    "Weekly median lead time": "Weekly median",
    "Weekly median cycle time": "Weekly median",
    "Weekly throughput": "Per week",
    "Weekly flow efficiency": "Per week",
    "Lead time per completed item": "Per item",
    "Cycle time per completed item": "Per item",
}


@dataclass(frozen=True)
class NewSignal:
    """A signal in a measure's current period, whether the last check reported it, and the event
    that most likely caused it."""

    series: str
    signal: Signal
    cause: Event | None
    new: bool = True

    def key(self) -> str:
        return f"{self.series}:{self.signal.key()}"


@dataclass(frozen=True)
class CheckReport(Result):
    """What the weekly check found; ``explain()`` is what the team reads on Monday morning."""

    ran_at: dt.datetime
    last_ran_at: dt.datetime | None
    as_of: dt.datetime
    measures: tuple[MeasureCheck, ...]
    signals: tuple[NewSignal, ...]
    """Every signal in the measures' current periods, the ones that matter most first."""
    arrivals_per_week: float | None
    throughput_per_week: float | None
    rate_weeks: int
    oldest: pd.DataFrame = field(repr=False)
    lead_p85: float | None
    events_since: tuple[Event, ...] = ()

    @property
    def new_signals(self) -> tuple[NewSignal, ...]:
        """The signals the last check did not report (all of them on the first check)."""
        return tuple(n for n in self.signals if n.new)

    @property
    def signal_keys(self) -> tuple[str, ...]:
        return tuple(n.key() for n in self.signals)

    @property
    def first(self) -> bool:
        return self.last_ran_at is None

    def measure(self, key: str) -> MeasureCheck:
        return next(m for m in self.measures if m.measure == key)

    @property
    def table(self) -> pd.DataFrame:
        """One row per measure: its verdict, current central line, limits and signal count."""
        return pd.DataFrame([m.row() for m in self.measures])

    def summary(self) -> dict[str, Any]:
        """What is stored in the checks table (and printed as JSON): every signal, in full."""
        return {
            "ran_at": self.ran_at.isoformat(),
            "last_ran_at": None if self.last_ran_at is None else self.last_ran_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "measures": {
                m.measure: {
                    **{k: _plain(v) for k, v in m.row().items() if k != "measure"},
                    "basis": None if m.chart.choice is None else m.chart.choice.as_dict(),
                    "notes": list(m.chart.notes),
                    "periods": [p.as_dict() for p in m.chart.periods],
                }
                for m in self.measures
            },
            "signals": [_signal_dict(n) for n in self.signals],
            "new_signals": [_signal_dict(n) for n in self.new_signals],
            "signal_keys": list(self.signal_keys),
            "arrivals_per_week": self.arrivals_per_week,
            "throughput_per_week": self.throughput_per_week,
            "rate_weeks": self.rate_weeks,
            "lead_time_p85": self.lead_p85,
            "oldest_in_progress": [
                {k: _plain(v) for k, v in row.items()}
                for row in self.oldest.to_dict(orient="records")
            ],
            "events_since_last_check": [
                {"date": e.date.isoformat(), "title": e.title} for e in self.events_since
            ],
        }

    def explain(self, *, limit: int | None = SHOWN_SIGNALS) -> str:
        """The check in plain words: one verdict per measure, the signals that matter most
        (``limit`` of them; None lists every one), rates and the oldest items in progress."""
        since = (
            f"since the last check ({self.last_ran_at:%Y-%m-%d %H:%M})"
            if self.last_ran_at
            else "(first check)"
        )
        lines = [f"Weekly check, data as of {self.as_of:%Y-%m-%d} {since}."]
        lines.extend(f"  {m.line()}" for m in self.measures)
        for e in self.events_since:
            lines.append(f"New in the events log: {e.date} {e.title}.")
        lines.extend(self._signal_lines(limit))
        lines.extend(self._flow_lines())
        return "\n".join(lines)

    def _signal_lines(self, limit: int | None) -> list[str]:
        listed = self.signals if self.first or limit is None else self.new_signals
        if not listed:
            known = len(self.signals)
            tail = (
                f" ({known} signal{'s' if known != 1 else ''} already reported stand{'s' if known == 1 else ''}; "
                "'--all' lists them)"
                if known
                else ""
            )
            return [f"No new signal: do not react.{tail}"]
        shown = listed if limit is None else listed[:limit]
        if self.first and limit is not None:
            head = (
                f"{len(listed)} signal{'s' if len(listed) != 1 else ''} in the current periods "
                "(first check: summarised)"
            )
        elif limit is None:
            head = f"{len(listed)} signal{'s' if len(listed) != 1 else ''} in the current periods"
        else:
            head = f"{len(listed)} new signal{'s' if len(listed) != 1 else ''}"
        lines = [head + ("; the ones that matter most first:" if len(listed) > 1 else ":")]
        for k, n in enumerate(shown, start=1):
            m = self.measure(n.series)
            mark = " (new)" if limit is None and n.new and not self.first else ""
            cause = (
                f" It follows '{n.cause.title}' ({n.cause.date})."
                if n.cause
                else " No event in the log in the 8 weeks before it: look for what changed."
            )
            lines.append(f"  {k}. {m.name}{mark}, {m.chart.describe(n.signal)}.{cause}")
        rest = listed[len(shown) :]
        if rest:
            by_measure = ", ".join(
                f"{m.name.lower()} {sum(1 for n in rest if n.series == m.measure)}"
                for m in self.measures
                if any(n.series == m.measure for n in rest)
            )
            lines.append(
                f"  and {len(rest)} more ({by_measure}: {rule_counts([n.signal for n in rest])}); "
                "'valuestream check --all' lists every one."
            )
        return lines

    def _flow_lines(self) -> list[str]:
        lines = []
        if self.arrivals_per_week is not None and self.throughput_per_week is not None:
            a, t = self.arrivals_per_week, self.throughput_per_week
            trend = (
                "more arrives than finishes: work in progress grows"
                if a > t * 1.1
                else "less arrives than finishes: work in progress shrinks"
                if t > a * 1.1
                else "arrivals and throughput are in balance"
            )
            lines.append(
                f"Last {self.rate_weeks} full weeks: {a:.1f} items arrived and {t:.1f} finished a week; {trend}."
            )
        if len(self.oldest):
            p85 = f"{self.lead_p85:.1f}" if self.lead_p85 is not None else "?"
            over = int(self.oldest["over_p85"].sum())
            lines.append(
                f"Oldest items in progress (85% of completed items finished within {p85} days; "
                f"{over} of these are older):"
            )
            for row in self.oldest.itertuples(index=False):
                title = f" {row.title}" if isinstance(row.title, str) and row.title else ""
                flag = "  <- older than the 85th percentile" if row.over_p85 else ""
                lines.append(f"  - {row.item}{title}: {row.age_days:.1f} days{flag}")
        else:
            lines.append("Nothing is in progress.")
        return lines

    def __rich__(self) -> str:
        return self.explain()


def _signal_dict(n: NewSignal) -> dict[str, Any]:
    return {
        "series": n.series,
        "new": n.new,
        **n.signal.as_dict(),
        "likely_cause": None
        if n.cause is None
        else {"date": n.cause.date.isoformat(), "title": n.cause.title},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _likely_cause(signal: Signal, events: Sequence[Event]) -> Event | None:
    first = signal.first_date
    if first is None:
        return None
    day = first.date()
    before = [e for e in events if e.date <= day and (day - e.date).days <= CAUSE_WINDOW_DAYS]
    return before[-1] if before else None


def weekly_check(
    flow: Flow,
    events: Iterable[Event] = (),
    *,
    last_summary: dict[str, Any] | None = None,
    last_ran_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    basis: Basis = "auto",
) -> CheckReport:
    """The weekly check over a flow analysis: a verdict per measure, the signals that matter most,
    rates and the oldest open items. ``basis`` forces single items or weeks for lead and cycle."""
    events = sorted(events, key=lambda e: (e.date, e.id))
    splits = [(e.date, e.title, e.new_period) for e in events]
    known = set((last_summary or {}).get("signal_keys", []))
    measures: list[MeasureCheck] = []
    found: list[tuple[int, int, NewSignal]] = []
    for rank, (series, name) in enumerate(MEASURES):
        chart = flow_xmr(flow, series, splits=splits, basis=basis)
        measures.append(MeasureCheck(series, name, chart))
        for signal in chart.ranked():
            n = NewSignal(series, signal, _likely_cause(signal, events))
            n = NewSignal(series, signal, n.cause, new=n.key() not in known)
            # The most recent first (by its last value's date), then by measure.
            last = signal.dates[-1]
            found.append((-(last.value if last is not None else 0), rank, n))
    found.sort(key=lambda t: (t[0], t[1]))
    rates = flow.rates(period="week")
    full = rates[rates["days"] == 7].tail(RATE_WEEKS)
    items = flow.items()
    done = items[items["finished"].notna()]
    p85 = float(np.percentile(done["lead_time_days"], 85)) if len(done) else None
    open_items = (
        items[items["age_days"].notna()].sort_values("age_days", ascending=False).head(OLDEST_SHOWN)
    )
    oldest = pd.DataFrame(
        {
            "item": open_items["item"].astype(str),
            "title": open_items["title"],
            "age_days": open_items["age_days"].astype(float),
            "over_p85": (open_items["age_days"] > p85) if p85 is not None else False,
        }
    ).reset_index(drop=True)
    since = [
        e
        for e in events
        if e.added_at is not None and last_ran_at is not None and e.added_at > last_ran_at
    ]
    return CheckReport(
        ran_at=now or dt.datetime.now(dt.UTC),
        last_ran_at=last_ran_at,
        as_of=flow.as_of,
        measures=tuple(measures),
        signals=tuple(n for _, _, n in found),
        arrivals_per_week=float(full["arrivals"].mean()) if len(full) else None,
        throughput_per_week=float(full["throughput"].mean()) if len(full) else None,
        rate_weeks=len(full),
        oldest=oldest,
        lead_p85=p85,
        events_since=tuple(since),
    )


# -- the checks table ---------------------------------------------------------------------------


def last_check(workspace: Any) -> tuple[dt.datetime, dict[str, Any]] | None:
    """When the last check ran and what it stored, or None before the first check."""
    row = workspace.last_check()
    if row is None:
        return None
    return row[0], json.loads(row[1]) if row[1] else {}


def record_check(workspace: Any, report: CheckReport) -> None:
    """Remember this check, so the next one reports only what is new."""
    workspace.record_check(report.ran_at, json.dumps(report.summary()))


def run_check(
    workspace: Any,
    stream: Any = None,
    *,
    as_of: dt.datetime | None = None,
    timezone: str = "UTC",
    record: bool = True,
    basis: Basis = "auto",
    filters: Any = None,
) -> CheckReport:
    """Run the weekly check on a workspace (its events log and the stream file's), and remember it.

    ``filters`` narrow it to some items (see ``Flow.of``); a filtered check is not remembered.
    """
    from valuestream.events import combined_events

    if not workspace.path.exists():
        raise InputError(
            f"no workspace at {workspace.path}: import an event log first ('valuestream import FILE')"
        )
    previous = last_check(workspace)
    flow = Flow.of(workspace, stream, as_of=as_of, timezone=timezone, filters=filters)
    if flow.items().empty:
        raise InputError("the workspace holds no items yet: import an event log first")
    report = weekly_check(
        flow,
        combined_events(workspace, stream if hasattr(stream, "events") else None),
        last_summary=previous[1] if previous else None,
        last_ran_at=previous[0] if previous else None,
        basis=basis,
    )
    if record:
        record_check(workspace, report)
    return report
