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
from valuestream.xmr import SERIES_NAMES, Signal, XmrChart, flow_xmr

SERIES_CHECKED = ("lead", "cycle", "throughput", "median_lead", "flow_efficiency")
CAUSE_WINDOW_DAYS = (
    56  # an event more than 8 weeks before a signal is not named as its likely cause
)
RATE_WEEKS = 4
OLDEST_SHOWN = 5


@dataclass(frozen=True)
class SeriesState:
    """Where one series stands: its current period's limits and signals."""

    series: str
    name: str
    unit: str
    values: int
    centre: float | None
    lower: float | None
    upper: float | None
    provisional: bool
    signals: int
    note: str | None = None


@dataclass(frozen=True)
class NewSignal:
    """A signal the last check did not report, with the event that most likely caused it."""

    series: str
    signal: Signal
    cause: Event | None

    def key(self) -> str:
        return f"{self.series}:{self.signal.key()}"


@dataclass(frozen=True)
class CheckReport:
    """What the weekly check found; ``explain()`` is what the team reads."""

    ran_at: dt.datetime
    last_ran_at: dt.datetime | None
    as_of: dt.datetime
    new_signals: tuple[NewSignal, ...]
    signal_keys: tuple[str, ...]
    series: tuple[SeriesState, ...]
    arrivals_per_week: float | None
    throughput_per_week: float | None
    rate_weeks: int
    oldest: pd.DataFrame = field(repr=False)
    lead_p85: float | None
    events_since: tuple[Event, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        """One row per series: its current central line, limits and signal count."""
        return pd.DataFrame([vars(s) for s in self.series])

    def summary(self) -> dict[str, Any]:
        """What is stored in the checks table (and printed as JSON)."""
        return {
            "ran_at": self.ran_at.isoformat(),
            "last_ran_at": None if self.last_ran_at is None else self.last_ran_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "new_signals": [
                {
                    "series": n.series,
                    **n.signal.as_dict(),
                    "likely_cause": None
                    if n.cause is None
                    else {"date": n.cause.date.isoformat(), "title": n.cause.title},
                }
                for n in self.new_signals
            ],
            "signal_keys": list(self.signal_keys),
            "series": {
                s.series: {k: v for k, v in vars(s).items() if k != "series"} for s in self.series
            },
            "arrivals_per_week": self.arrivals_per_week,
            "throughput_per_week": self.throughput_per_week,
            "rate_weeks": self.rate_weeks,
            "lead_time_p85": self.lead_p85,
            "oldest_in_progress": [
                {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                for row in self.oldest.to_dict(orient="records")
            ],
            "events_since_last_check": [
                {"date": e.date.isoformat(), "title": e.title} for e in self.events_since
            ],
        }

    def explain(self) -> str:
        since = (
            f"since the last check ({self.last_ran_at:%Y-%m-%d %H:%M})"
            if self.last_ran_at
            else "(first check)"
        )
        lines = [f"Weekly check, data as of {self.as_of:%Y-%m-%d} {since}."]
        for e in self.events_since:
            lines.append(f"New in the events log: {e.date} {e.title}.")
        if self.new_signals:
            lines.append(
                f"{len(self.new_signals)} new signal{'s' if len(self.new_signals) != 1 else ''}:"
            )
            for n in self.new_signals:
                state = next(s for s in self.series if s.series == n.series)
                first = n.signal.first_date
                cause = (
                    f" Likely cause: '{n.cause.title}' ({n.cause.date})."
                    if n.cause
                    else " No event in the log in the 8 weeks before it: look for what changed."
                )
                lines.append(
                    f"  - {state.name}: rule {n.signal.rule}, {n.signal.description}"
                    + (f", from {first.date()}" if first is not None else "")
                    + f" ({len(n.signal.indexes)} value{'s' if len(n.signal.indexes) != 1 else ''}).{cause}"
                )
        else:
            lines.append("No new signal: do not react.")
        lines.append("Where the series stand (current period):")
        for s in self.series:
            lines.append(f"  - {_state_line(s)}")
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
                f"Over the last {self.rate_weeks} full weeks: {a:.1f} items arrived and {t:.1f} finished per week; {trend}."
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
        return "\n".join(lines)

    def __rich__(self) -> str:
        return self.explain()


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if unit == "" and 0 <= value <= 1:
        return f"{value:.0%}"
    return f"{value:.4g}{(' ' + unit) if unit else ''}"


def _state_line(s: SeriesState) -> str:
    if s.centre is None or s.upper is None:
        return f"{s.name}: {s.values} values, no limits yet" + (f" ({s.note})" if s.note else "")
    low = _fmt(s.lower, s.unit) if s.lower is not None else "none"
    tail = f", {s.signals} signal{'s' if s.signals != 1 else ''}" if s.signals else ", no signal"
    prov = (
        ", limits kept from before the event"
        if s.note
        else ", provisional"
        if s.provisional
        else ""
    )
    return (
        f"{s.name}: typical {_fmt(s.centre, s.unit)}, natural limits {low} to {_fmt(s.upper, s.unit)}"
        f"{tail}{prov} ({s.values} values)"
    )


def _likely_cause(signal: Signal, events: Sequence[Event]) -> Event | None:
    first = signal.first_date
    if first is None:
        return None
    day = first.date()
    before = [e for e in events if e.date <= day and (day - e.date).days <= CAUSE_WINDOW_DAYS]
    return before[-1] if before else None


def _state(series: str, chart: XmrChart) -> SeriesState:
    name, unit = SERIES_NAMES[series]
    p = chart.current
    if p is None or not p.has_limits:
        return SeriesState(
            series,
            name,
            unit,
            len(chart.table),
            None,
            None,
            None,
            True,
            0,
            None if p is None else p.note,
        )
    return SeriesState(
        series,
        name,
        unit,
        p.n,
        p.centre,
        p.lower,
        p.upper,
        p.provisional,
        len(chart.signals_in(p.number)),
        p.note if p.inherited else None,
    )


def weekly_check(
    flow: Flow,
    events: Iterable[Event] = (),
    *,
    last_summary: dict[str, Any] | None = None,
    last_ran_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> CheckReport:
    """The weekly check over a flow analysis: new signals, limits, rates and the oldest open items."""
    events = sorted(events, key=lambda e: (e.date, e.id))
    splits = [e for e in events if e.new_period]
    known = set((last_summary or {}).get("signal_keys", []))
    states: list[SeriesState] = []
    new: list[NewSignal] = []
    keys: list[str] = []
    for series in SERIES_CHECKED:
        chart = flow_xmr(flow, series, splits=[(e.date, e.title) for e in splits])
        states.append(_state(series, chart))
        if chart.current is None:
            continue
        for signal in chart.signals_in(chart.current.number):
            found = NewSignal(series, signal, _likely_cause(signal, events))
            keys.append(found.key())
            if found.key() not in known:
                new.append(found)
    rates = flow.rates(period="week")
    full = rates[rates["days"] == 7].tail(RATE_WEEKS)
    items = flow.items()
    done = items[items["finished"].notna()]
    p85 = float(np.percentile(done["lead_time_days"], 85)) if len(done) else None
    open_items = (
        items[items["finished"].isna()].sort_values("age_days", ascending=False).head(OLDEST_SHOWN)
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
        new_signals=tuple(new),
        signal_keys=tuple(keys),
        series=tuple(states),
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
    with workspace.connect(read_only=True) as con:
        row = con.execute(
            "SELECT ran_at, summary FROM checks ORDER BY ran_at DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return None
    return row[0], json.loads(row[1]) if row[1] else {}


def record_check(workspace: Any, report: CheckReport) -> None:
    """Remember this check, so the next one reports only what is new."""
    with workspace.transaction() as con:
        con.execute(
            "INSERT INTO checks VALUES (?, ?)", [report.ran_at, json.dumps(report.summary())]
        )


def run_check(
    workspace: Any,
    stream: Any = None,
    *,
    as_of: dt.datetime | None = None,
    timezone: str = "UTC",
    record: bool = True,
) -> CheckReport:
    """Run the weekly check on a workspace (its events log and the stream file's), and remember it."""
    from valuestream.events import combined_events

    if not workspace.path.exists():
        raise InputError(
            f"no workspace at {workspace.path}: import an event log first ('valuestream import FILE')"
        )
    previous = last_check(workspace)
    flow = Flow.of(workspace, stream, as_of=as_of, timezone=timezone)
    if flow.items().empty:
        raise InputError("the workspace holds no items yet: import an event log first")
    report = weekly_check(
        flow,
        combined_events(workspace, stream if hasattr(stream, "events") else None),
        last_summary=previous[1] if previous else None,
        last_ran_at=previous[0] if previous else None,
    )
    if record:
        record_check(workspace, report)
    return report
