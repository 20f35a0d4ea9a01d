"""The one-page report: one visible map and three flow measures, then the evidence behind them.

What a leader opens instead of a status deck. :func:`build_report` collects each section's result
from the analysis modules (nothing is recomputed here) and :meth:`Report.html` renders one
self-contained file: every script and style inline, Vega, Vega-Lite and vega-embed taken from the
JavaScript that vl-convert bundles, so the page opens offline and makes no network request.

Sections that cannot be computed (no data, only a workshop map, no events, too little history)
say why in plain words instead of disappearing. Charts are named (:data:`CHART_NAMES`) so that
``valuestream chart NAME`` draws exactly what the page shows.

For large workspaces the page stays small: point-level charts show a bounded number of points
(the most recent items, every k-th item, the oldest items in progress) and say so.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from valuestream.errors import InputError, ValuestreamError
from valuestream.events import Event, combined_events
from valuestream.flow import Filters, Flow, Window
from valuestream.model import Stream
from valuestream.streammap import MAX_DRAWN_STEPS
from valuestream.views.catalogue import CHART_NAMES, DEFAULT_DAYS, FORECAST_DAYS
from valuestream.views.charts import (
    INK,
    LIMIT,
    SIGNAL,
    TOUCH,
    WAIT,
    js_in_script,
    json_in_script,
    styled,
    theme,
    vega_bundle,
)
from valuestream.workspace import Workspace
from valuestream.xmr import ADVICE, NOT_ENOUGH, XmrChart, flow_xmr

FORECAST_SEED = 1
"""A fixed seed, so the same data gives the same page."""
SPARK_WIDTH = 280
SPARK_HEIGHT = 56


class Unavailable(ValuestreamError):
    """A section or chart that cannot be computed from what the workspace holds; says why."""


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One of the three flow measures at the top: its value, natural limits and verdict."""

    key: str
    name: str
    value: str | None
    detail: str
    limits: str
    verdict: str
    """'signal', 'no signal' or 'not enough data' (the vocabulary of :mod:`valuestream.xmr`)."""
    since: str
    chart: str | None = None
    missing: str | None = None


@dataclass(frozen=True)
class Table:
    """A small table shown under a section's words."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Section:
    """One section of the page: its words, charts and table, or why it cannot be shown."""

    key: str
    title: str
    text: str = ""
    charts: tuple[str, ...] = ()
    table: Table | None = None
    note: str | None = None
    missing: str | None = None

    @property
    def shown(self) -> bool:
        return self.missing is None


@dataclass(frozen=True)
class Report:
    """The collected report: header, map, three measures, sections, and each chart's Vega-Lite spec."""

    title: str
    subtitle: str
    generated_at: dt.datetime
    measures: tuple[Measure, ...]
    sections: tuple[Section, ...]
    map_svg: str | None
    map_text: str
    map_missing: str | None
    specs: dict[str, dict[str, Any]] = field(repr=False)
    facts: tuple[str, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        """One row per part of the page: shown or not, and why not."""
        rows = [("map", "Value stream map", self.map_missing is None, self.map_missing)]
        rows += [(m.key, m.name, m.missing is None, m.missing) for m in self.measures]
        rows += [(s.key, s.title, s.shown, s.missing) for s in self.sections]
        return pd.DataFrame(rows, columns=["part", "title", "shown", "why_not"])

    def explain(self) -> str:
        """The page in plain words, section by section."""
        lines = [self.title, self.subtitle, ""]
        lines.append(self.map_text if self.map_missing is None else f"Map: {self.map_missing}")
        for m in self.measures:
            if m.missing:
                lines.append(f"{m.name}: {m.missing}")
            else:
                lines.append(
                    f"{m.name}: {m.value} ({m.detail}). {m.limits}. {m.verdict} {m.since}."
                )
        for s in self.sections:
            lines.append("")
            lines.append(f"{s.title}: {s.missing}" if s.missing else f"{s.title}: {s.text}")
        return "\n".join(lines)

    def html(self) -> str:
        """The whole page: one HTML file with every script, style and chart inline."""
        return render(self)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path

    def __rich__(self) -> str:
        return self.explain()


# -- what the sections read, computed once on first use -------------------------------------------


class Inputs:
    """The workspace, stream and window a report reads, with each analysis computed once."""

    def __init__(
        self,
        workspace: Workspace | None,
        stream: Stream | None,
        *,
        days: int = DEFAULT_DAYS,
        as_of: dt.datetime | None = None,
        filters: Filters | None = None,
    ) -> None:
        if days < 7:
            raise InputError(f"--days must be at least 7 (a week), not {days}")
        self.workspace = workspace
        self.stream = stream
        self.days = days
        self.as_of = as_of
        self.filters = filters
        self._weekly: dict[str, XmrChart] = {}
        self._items_xmr: dict[str, XmrChart] = {}

    # data ----------------------------------------------------------------------------------------

    @cached_property
    def flow(self) -> Flow | None:
        """The analysis of the imported histories, or None when there are none."""
        ws = self.workspace
        if ws is None or not ws.path.exists() or ws.counts()["transitions"] == 0:
            return None
        return Flow.of(ws, self.stream, as_of=self.as_of, filters=self.filters)

    def need_flow(self, what: str) -> Flow:
        flow = self.flow
        if flow is None:
            base = (
                "only the workshop map is here, no item histories"
                if self.stream is not None
                else "no item histories have been imported"
            )
            raise Unavailable(
                f"{what} needs item histories, and {base}: import them with "
                "'valuestream import file EVENTS.csv' (or 'valuestream import jira')."
            )
        return flow

    def need_stream(self, what: str) -> Stream:
        if self.stream is None or not self.stream.steps:
            raise Unavailable(
                f"{what} needs the map's steps: write them in stream.yaml ('valuestream init' starts one)."
            )
        return self.stream

    @cached_property
    def events(self) -> list[Event]:
        return combined_events(self.workspace, self.stream)

    @cached_property
    def splits(self) -> list[Event]:
        return [e for e in self.events if e.new_period]

    @cached_property
    def window(self) -> Window:
        return self.need_flow("The window").window(days=self.days)

    @cached_property
    def summary(self) -> dict[str, Any]:
        return self.need_flow("The flow measures").summary(self.window)

    @cached_property
    def items(self) -> pd.DataFrame:
        return self.need_flow("The item table").items()

    @cached_property
    def done(self) -> pd.DataFrame:
        self.need_flow("Completed items")
        # completed_items reads flow.items(); the table is already here, so sort it the same way.
        items = self.items
        finished = items[items["finished"].notna()]
        return finished.sort_values(["finished", "item"], kind="stable").reset_index(drop=True)

    def weekly(self, series: str) -> XmrChart:
        if series not in self._weekly:
            flow = self.need_flow("A weekly process behavior chart")
            self._weekly[series] = flow_xmr(flow, series, splits=self.splits)
        return self._weekly[series]

    def item_xmr(self, kind: str) -> XmrChart:
        """The lead (or cycle) time chart, the one ``valuestream pbc`` shows: single items or
        weekly medians as the volume decides, limits and signals on every value."""
        if kind not in self._items_xmr:
            flow = self.need_flow("A process behavior chart of item times")
            n = int(self.done[f"{kind}_time_days"].notna().sum())
            if n < 2:
                raise Unavailable(
                    f"{n} completed item{'s' if n != 1 else ''} with a {kind} time: a process behavior "
                    "chart needs at least 2 (limits firm up at 20)."
                )
            self._items_xmr[kind] = flow_xmr(flow, kind, splits=self.splits)
        return self._items_xmr[kind]

    # the map and the constraint ----------------------------------------------------------------

    @cached_property
    def comparison(self) -> Any:
        """The map beside the data, for the map `valuestream map` draws (the stream file's steps or
        the discovered ones), so the report shows and circles what the CLI does."""
        from valuestream.streammap import compare

        flow, _ = self.map_flow
        if flow is None:
            return None
        stream, _ = self.map_stream
        return compare(stream, flow)

    @cached_property
    def constraint(self) -> Any:
        from valuestream.constraint import find_constraint

        if self.flow is None and (self.stream is None or not self.stream.steps):
            raise Unavailable(
                "Naming the constraint needs a map or item histories, and this workspace has "
                "neither: write stream.yaml ('valuestream init') or import histories."
            )
        stream, _ = self.map_stream
        return find_constraint(stream, self.map_flow[0], comparison=self.comparison)

    @cached_property
    def map_flow(self) -> tuple[Flow | None, str]:
        """The histories the map is drawn from (the long tail of a log with very many states
        grouped), and the sentence saying so ("" when nothing is grouped)."""
        from valuestream.views.long_tail import drawable_flow

        if self.flow is None or self.workspace is None:
            return self.flow, ""
        return drawable_flow(self.workspace, self.stream, self.flow, self.state_steps)

    @cached_property
    def state_steps(self) -> pd.DataFrame:
        """``Flow.steps`` of the histories, read once: the map's grouping and the aging chart's
        order both start from it (seconds each on a log of 200,000 states)."""
        return self.need_flow("The steps").steps(by="step")

    def step_flow(self, what: str) -> Flow:
        """The histories to draw per step: the map's (:attr:`map_flow`), so that a log of very
        many states is drawn as the map draws it, its long tail grouped into one step."""
        self.need_flow(what)
        flow, _ = self.map_flow
        assert flow is not None
        return flow

    @property
    def grouped_note(self) -> str | None:
        """The sentence saying the long tail of states is grouped, or None when it is not."""
        if self.flow is None:
            return None
        return self.map_flow[1] or None

    @cached_property
    def map_stream(self) -> tuple[Stream, str]:
        """The stream to draw and where it came from (the stream file, or discovered from data)."""
        from valuestream.streammap import map_to_draw

        if self.flow is None and (self.stream is None or not self.stream.steps):
            raise Unavailable(
                "No map yet and no item histories to discover one from: run 'valuestream init' and "
                "write the steps the team put on the wall."
            )
        return map_to_draw(self.stream, self.map_flow[0])

    # forecasts and experiments -------------------------------------------------------------------

    @cached_property
    def forecast(self) -> Any:
        from valuestream import forecast

        flow = self.need_flow("A forecast")
        # From the flow itself: its predictability is the verdict 'valuestream pbc lead' gives.
        return forecast.how_many(flow, FORECAST_DAYS, seed=FORECAST_SEED, window_days=self.days)

    @cached_property
    def aging(self) -> Any:
        from valuestream import forecast

        flow = self.need_flow("Aging work in progress")
        steps: list[str] = []
        if self.stream is not None and self.stream.workflow is not None:
            # The map's order, without steps no item can be in (wall-only, or finish states only).
            wf = self.stream.workflow
            skip = {*wf.finish, *wf.discarded, *wf.before}
            steps = [s.name for s in self.stream.steps if s.states and not set(s.states) <= skip]
        if not steps:
            steps = list(forecast.flow_order(flow, self.state_steps))
        return forecast.aging(flow, steps=steps, window_days=self.days)

    @cached_property
    def experiments(self) -> Any:
        from valuestream.economics import cod_per_item
        from valuestream.simulate import experiments, from_flow

        stream = self.need_stream("Ranking experiments")
        flow = self.flow
        if flow is None:
            raise Unavailable(
                "Ranking experiments needs the rate items arrive at, which only item histories "
                "measure: import them, or run 'valuestream experiments --source map --arrivals N'."
            )
        if stream.workflow is None or not any(s.states for s in stream.steps):
            raise Unavailable(
                "Ranking experiments from data needs the stream file's workflow and the tracker "
                "states of each step."
            )
        cod = None
        currency = "EUR"
        if stream.cost_of_delay is not None:
            cod = cod_per_item(stream.cost_of_delay, self.items["type"])
            currency = stream.cost_of_delay.currency
        net = from_flow(flow, stream)
        # The step the map circles is the step the experiments star.
        named = self.constraint.constraint
        return experiments(net, cod_per_week=cod, currency=currency, constraint=named)


# -- the charts, by name --------------------------------------------------------------------------


def _events_frame(events: list[Event]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"x": pd.Timestamp(e.date).isoformat(), "text": f"{e.title} ({e.date})", "row": i % 3}
            for i, e in enumerate(events)
        ],
        columns=["x", "text", "row"],
    )


def _event_rules(events: list[Event], *, labels: bool = True) -> list[alt.Chart]:
    frame = _events_frame(events)
    if frame.empty:
        return []
    rule = (
        alt.Chart(frame)
        .mark_rule(color=WAIT, strokeDash=[4, 2], strokeWidth=1.5)
        .encode(x="x:T", tooltip=alt.Tooltip("text:N", title="event"))
    )
    if not labels:
        return [rule]
    text = (
        alt.Chart(frame)
        .mark_text(align="left", baseline="top", dx=4, fontSize=10, fontWeight="bold", color=INK)
        .encode(x="x:T", y=alt.value(2), text="text:N")
    )
    return [rule, text]


def weekly_chart(
    chart: XmrChart,
    *,
    percent: bool = False,
    events: Sequence[Event] = (),
) -> alt.LayerChart:
    """A small weekly chart for a measure tile: values, the current period's limits, events."""
    t = chart.table
    if len(t) == 0:
        raise Unavailable("no complete week of history yet")
    fmt = ".0%" if percent else ".1f"
    points = pd.DataFrame(
        {
            "week": [pd.Timestamp(d).isoformat() for d in t["date"]],
            "label": t["label"],
            "value": t["value"],
            "signal": t["signal"],
            "period": t["period"],
        }
    )
    x = alt.X(
        "week:T", title=None, axis=alt.Axis(format="%b", labelFontSize=9, tickCount=4, grid=False)
    )
    y = alt.Y(
        "value:Q",
        title=None,
        scale=alt.Scale(zero=False),
        axis=alt.Axis(format=".0%" if percent else "~s", labelFontSize=9, tickCount=3),
    )
    layers: list[alt.Chart] = []
    current = chart.current
    if current is not None and current.has_limits and current.n:
        first = pd.Timestamp(t["date"].iloc[current.start]).isoformat()
        last = pd.Timestamp(t["date"].iloc[current.end - 1]).isoformat()
        band = pd.DataFrame(
            {
                "x0": [first],
                "x1": [last],
                "lo": [current.lower if current.lower is not None else 0.0],
                "hi": [current.upper],
                "centre": [current.centre],
            }
        )
        layers.append(
            alt.Chart(band)
            .mark_rect(color="#E8EEF7", opacity=0.9)
            .encode(x="x0:T", x2="x1:T", y="lo:Q", y2="hi:Q")
        )
        layers.append(
            alt.Chart(band)
            .mark_rule(color=LIMIT, strokeWidth=1)
            .encode(x="x0:T", x2="x1:T", y="centre:Q")
        )
    layers.append(
        alt.Chart(points)
        .mark_line(color=TOUCH, strokeWidth=1.5)
        .encode(x=x, y=y, detail="period:N")
    )
    layers.append(
        alt.Chart(points)
        .mark_point(filled=True)
        .encode(
            x=x,
            y=y,
            color=alt.condition("datum.signal", alt.value(SIGNAL), alt.value(TOUCH)),
            size=alt.condition("datum.signal", alt.value(40), alt.value(14)),
            tooltip=[
                alt.Tooltip("label:N", title="week"),
                alt.Tooltip("value:Q", title=chart.name, format=fmt),
                alt.Tooltip("signal:N", title="signal"),
            ],
        )
    )
    layers += _event_rules(list(events), labels=False)
    return styled(  # type: ignore[return-value]
        alt.layer(*layers).properties(width=SPARK_WIDTH, height=SPARK_HEIGHT)
    )


# Okabe and Ito's palette, safe for colour-blind readers; blue and amber stay touch and wait
# elsewhere, so the steps of the flow diagram take the other colours first.
STEP_COLOURS = (
    "#009E73",
    "#56B4E9",
    "#CC79A7",
    "#0072B2",
    "#D55E00",
    "#E69F00",
    "#F0E442",
    "#6C757D",
)
FINISHED_COLOUR = "#D5D8DC"


CFD_BANDS = MAX_DRAWN_STEPS
"""Most step bands a cumulative flow diagram stacks (the finished band aside), as many as the map
draws steps; past that the first ``CFD_BANDS - 1`` keep a band and the rest share one."""


def _fewer_bands(cfd: pd.DataFrame, bands: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The first ``CFD_BANDS - 1`` steps in flow order as bands of their own, every later one
    summed into "other (N steps)" day by day: a stream file of hundreds of steps stays a readable,
    small chart. (A log of very many states without steps is grouped before, as the map is.)"""
    if len(bands) <= CFD_BANDS:
        return cfd.copy(), bands
    rest = set(bands[CFD_BANDS - 1 :])
    other = f"other ({len(rest):,} steps)"
    data = cfd.assign(step=cfd["step"].map(lambda s: other if s in rest else s))
    data = data.groupby(["day", "step"], as_index=False, sort=False)["items"].sum()
    return data, [*bands[: CFD_BANDS - 1], other]


def cfd_chart(flow: Flow, order: list[str], window: Window) -> alt.Chart:
    """Items in each step at the end of each day, stacked in flow order with finished at the bottom.

    The finished band counts from the window's first day, so the steps' bands stay readable
    instead of riding on everything that finished before it.
    """
    cfd = flow.cfd(window, by="step")
    if cfd.empty:
        raise Unavailable("No item has entered the stream yet.")
    finish = flow.finish_band()
    present = set(cfd["step"])
    bands = [s for s in order if s in present and s != finish]
    bands += [s for s in dict.fromkeys(cfd["step"]) if s not in bands and s != finish]
    data, bands = _fewer_bands(cfd, bands)
    if finish in present:
        bands.append(finish)
        done = data["step"] == finish
        first = data.loc[done, "items"].iloc[0] if done.any() else 0
        data.loc[done, "items"] = data.loc[done, "items"] - first
    # Stacked from the bottom: finished first, then the last step, up to the first step on top.
    stack = {name: len(bands) - i for i, name in enumerate(bands)}
    data = data.assign(
        day=[pd.Timestamp(d).strftime("%Y-%m-%d") for d in data["day"]],
        order=data["step"].map(stack),
    )
    steps = [b for b in bands if b != finish]
    colours = [STEP_COLOURS[i % len(STEP_COLOURS)] for i in range(len(steps))]
    if finish in present:
        colours.append(FINISHED_COLOUR)
    names = {finish: f"{finish} (since {window.start})"}
    data["band"] = data["step"].map(lambda s: names.get(s, s))
    domain = [names.get(b, b) for b in bands]
    chart = (
        alt.Chart(data)
        .mark_area(opacity=0.92)
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("items:Q", stack="zero", title="Items"),
            color=alt.Color(
                "band:N",
                sort=domain,
                scale=alt.Scale(domain=domain, range=colours),
                legend=alt.Legend(title=None, orient="right"),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("day:T", title="day", format="%a %d %b %Y"),
                alt.Tooltip("band:N", title="step"),
                alt.Tooltip("items:Q", title="items"),
            ],
        )
        .properties(
            title=alt.TitleParams(
                "Cumulative flow: items in each step at the end of each day",
                subtitle=f"{window.start} to {window.end}; a band that widens is a queue that grows",
            )
        )
    )
    return styled(chart)  # type: ignore[return-value]


def rates_chart(flow: Flow, events: list[Event]) -> alt.LayerChart:
    """Items arriving and finishing per full week, as two lines."""
    rates = flow.rates(period="week")
    full = rates[rates["days"] == 7]
    if full.empty:
        raise Unavailable(
            "Arrivals and throughput per week need at least one full week of history (Monday to Sunday)."
        )
    week = [pd.Timestamp(d).strftime("%Y-%m-%d") for d in full["period"]]
    long = pd.concat(
        [
            pd.DataFrame({"week": week, "what": "arrived", "items": full["arrivals"].to_numpy()}),
            pd.DataFrame(
                {"week": week, "what": "finished", "items": full["throughput"].to_numpy()}
            ),
        ]
    )
    enc = {
        "x": alt.X("week:T", title="week starting"),
        "y": alt.Y("items:Q", title="Items per week"),
        "color": alt.Color(
            "what:N",
            scale=alt.Scale(domain=["arrived", "finished"], range=[WAIT, TOUCH]),
            legend=alt.Legend(title=None),
        ),
    }
    lines = alt.Chart(long).mark_line(strokeWidth=2).encode(**enc)
    dots = (
        alt.Chart(long)
        .mark_point(filled=True, size=30)
        .encode(
            **enc,
            tooltip=[
                alt.Tooltip("week:T", title="week starting", format="%d %b %Y"),
                alt.Tooltip("what:N", title=" "),
                alt.Tooltip("items:Q", title="items"),
            ],
        )
    )
    more = int(full["arrivals"].sum()) - int(full["throughput"].sum())
    trend = (
        f"{more:,} more arrived than finished: work in progress grew"
        if more > 0
        else f"{-more:,} more finished than arrived: work in progress shrank"
        if more < 0
        else "as many finished as arrived"
    )
    return styled(  # type: ignore[return-value]
        alt.layer(lines, dots, *_event_rules(events)).properties(
            title=alt.TitleParams(
                "Arrivals against throughput, per week",
                subtitle=f"{len(full)} full weeks; {trend}",
            )
        )
    )


def _scatter(inputs: Inputs) -> alt.TopLevelMixin:
    from valuestream.views.xmr_charts import lead_time_scatter

    done = inputs.done
    if done.empty:
        raise Unavailable("No item has finished yet: the scatterplot shows completed items.")
    # Every item counts in the percentiles; the chart thins only its drawing, and says so.
    events = [(pd.Timestamp(e.date), e.title) for e in inputs.events if _in_range(e, done)]
    return lead_time_scatter(done, events=events)


def _in_range(event: Event, done: pd.DataFrame) -> bool:
    first = pd.Timestamp(done["finished"].iloc[0]).date()
    last = pd.Timestamp(done["finished"].iloc[-1]).date()
    return first <= event.date <= last


def _item_xmr_chart(inputs: Inputs, kind: str) -> alt.TopLevelMixin:
    chart = inputs.item_xmr(kind)
    return chart.chart(title=f"{chart.name}: process behavior chart")


def _weekly_chart(inputs: Inputs, series: str) -> alt.TopLevelMixin:
    chart = inputs.weekly(series)
    return weekly_chart(chart, percent=series == "flow_efficiency", events=inputs.splits)


CHARTS: dict[str, Callable[[Inputs], alt.TopLevelMixin]] = {
    "lead-weekly": lambda i: _weekly_chart(i, "median_lead"),
    "efficiency-weekly": lambda i: _weekly_chart(i, "flow_efficiency"),
    "throughput-weekly": lambda i: _weekly_chart(i, "throughput"),
    "constraint": lambda i: i.constraint.chart(),
    "experiments": lambda i: i.experiments.chart(),
    "scatter": _scatter,
    "xmr-lead": lambda i: _item_xmr_chart(i, "lead"),
    "xmr-cycle": lambda i: _item_xmr_chart(i, "cycle"),
    "cfd": lambda i: cfd_chart(i.step_flow("The cumulative flow diagram"), _flow_order(i), i.window),
    "rates": lambda i: rates_chart(i.need_flow("Arrivals and throughput"), i.events),
    "aging": lambda i: i.aging.chart(),
    "forecast": lambda i: i.forecast.chart(),
}


def _flow_order(inputs: Inputs) -> list[str]:
    if inputs.stream is not None and inputs.stream.steps:
        return [s.name for s in inputs.stream.steps]
    return [str(s) for s in inputs.step_flow("The step order").steps(by="step")["step"]]


def chart(inputs: Inputs, name: str) -> alt.TopLevelMixin:
    """One of the report's charts by name (see :data:`CHART_NAMES`; 'map' is drawn by :func:`map_picture`)."""
    if name not in CHARTS:
        known = ", ".join(CHART_NAMES)
        raise InputError(f"unknown chart '{name}': one of {known}")
    return CHARTS[name](inputs)


def map_picture(inputs: Inputs) -> Any:
    """The value stream map picture with the constraint circled (a MapPicture)."""
    from valuestream.views.map_svg import draw_map

    stream, origin = inputs.map_stream
    try:
        constraint = inputs.constraint
    except Unavailable:
        constraint = None
    return draw_map(
        stream,
        comparison=inputs.comparison,
        constraint=constraint,
        discovered=bool(origin),
        subtitle=inputs.map_flow[1] or None,
    )


# -- the three measures ---------------------------------------------------------------------------


def _days(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    return f"{value:.1f} days" if value < 100 else f"{value:,.0f} days"


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    return f"{value:.0%}"


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "none"
    if unit == "%":
        return _pct(value)
    if unit == "days":
        return _days(value)
    return f"{value:,.1f} {unit}".strip()


def _judgement(chart: XmrChart, unit: str, events: list[Event]) -> tuple[str, str, str]:
    """(limits in words, verdict, since when) for the current period of a weekly chart."""
    p = chart.current
    n = len(chart.table)
    if p is None or n == 0:
        left_out = " ".join(chart.notes)
        return (
            f"No complete week with enough finished items yet. {left_out}".strip(),
            NOT_ENOUGH,
            "a week needs to pass, Monday to Sunday" + ("" if events else " (no event logged)"),
        )
    since = (
        f"since '{p.event}' ({p.start_date.date()})"
        if p.event and p.start_date is not None
        else f"since the week of {pd.Timestamp(chart.table['date'].iloc[0]).date()}"
        + ("" if events else " (no event logged)")
    )
    if not p.has_limits:
        weeks = f"{n} full week{'s' if n != 1 else ''} of history"
        why = p.note or "no limits"
        return f"No natural process limits yet: {weeks}. {why}", NOT_ENOUGH, since
    low = "no lower limit" if p.lower is None else _num(p.lower, unit)
    limits = f"Weekly natural process limits {low} to {_num(p.upper, unit)}"
    if p.lower is None:
        limits = f"Weekly upper natural process limit {_num(p.upper, unit)} (no lower limit)"
    if p.inherited:
        limits += ", kept from before the event"
    elif p.provisional:
        limits += f" (provisional: {p.baseline_n} weeks)"
    if p.doubtful and not p.inherited:
        limits += "; doubtful baseline (it may not be routine operation)"
    k = len(chart.signals_in(p.number))
    verdict = "signal" if k else "no signal"
    return limits, verdict, since


def _measure_lead(inputs: Inputs) -> Measure:
    s = inputs.summary
    chart = inputs.weekly("median_lead")
    limits, verdict, since = _judgement(chart, "days", inputs.events)
    if not s["finished"]:
        value, detail = None, f"no item finished in the last {inputs.days} days"
    else:
        value = _days(s["lead_p50"])
        detail = (
            f"median of {s['finished']:,} items finished in the last {inputs.days} days; "
            f"85% took {_days(s['lead_p85'])} or less"
        )
    return Measure("lead", "Lead time", value, detail, limits, verdict, since, "lead-weekly")


def _measure_efficiency(inputs: Inputs) -> Measure:
    s = inputs.summary
    chart = inputs.weekly("flow_efficiency")
    limits, verdict, since = _judgement(chart, "%", inputs.events)
    if not s["finished"] or s["flow_efficiency"] is None:
        value, detail = None, f"no item finished in the last {inputs.days} days"
    else:
        value = _pct(s["flow_efficiency"])
        detail = (
            f"of their lead time the items were worked on; they waited "
            f"{_pct(1 - s['flow_efficiency'])} (median item {_pct(s['flow_efficiency_median'])})"
        )
    return Measure(
        "efficiency", "Flow efficiency", value, detail, limits, verdict, since, "efficiency-weekly"
    )


def _measure_rates(inputs: Inputs) -> Measure:
    s = inputs.summary
    chart = inputs.weekly("throughput")
    limits, verdict, since = _judgement(chart, "items", inputs.events)
    t, a = s["throughput_per_week"], s["arrivals_per_week"]
    value = f"{t:,.1f} vs {a:,.1f} a week"
    if t > a * 1.05:
        trend = "finishing faster than work arrives: work in progress shrinks"
    elif a > t * 1.05:
        trend = "work arrives faster than it finishes: work in progress grows"
    else:
        trend = "finishing about as fast as work arrives"
    detail = (
        f"finished vs arrived, last {inputs.days} days; {trend} ({s['wip_now']:,} in progress now)"
    )
    return Measure(
        "rates",
        "Throughput vs arrivals",
        value,
        detail,
        limits,
        verdict,
        since,
        "throughput-weekly",
    )


MEASURES = (
    ("lead", "Lead time", _measure_lead),
    ("efficiency", "Flow efficiency", _measure_efficiency),
    ("rates", "Throughput vs arrivals", _measure_rates),
)


# -- the sections -------------------------------------------------------------------------------


def _section_constraint(inputs: Inputs) -> Section:
    report = inputs.constraint
    t = report.table
    shown = t[t["evidence"] > 0].head(3) if report.constraint else t.head(0)
    table = Table(
        ("rank", "step", "mean wait per item", "evidence"),
        tuple(
            (
                str(r.rank),
                str(r.step),
                _days(float(r.wait_per_item)) if pd.notna(r.wait_per_item) else "",
                str(r.reasons),
            )
            for r in shown.itertuples()
        ),
        (True, False, True, False),
    )
    return Section(
        "constraint",
        "The constraint and its evidence",
        report.explain(),
        charts=("constraint",),
        table=table if table.rows else None,
    )


def _section_experiments(inputs: Inputs) -> Section:
    result = inputs.experiments
    t = result.table
    currency = result.currency
    priced = bool(t["value_per_week"].notna().any()) if len(t) else False
    rows = []
    for r in t.itertuples():
        saved = (
            str(r.note)
            if r.note
            else f"{r.days_saved:.1f} ({r.days_saved_low:.1f} to {r.days_saved_high:.1f})"
        )
        value = "" if pd.isna(r.value_per_week) else f"{currency} {r.value_per_week:,.0f}"
        rows.append((str(r.rank), str(r.change) + (" *" if r.at_constraint else ""), saved, value))
    note = "* the change at the constraint. Days saved: mean lead time, with its 95% interval."
    if not priced:
        note += " Add cost_of_delay to stream.yaml to price each change per week."
    return Section(
        "experiments",
        "Experiments, ranked by value per week",
        result.explain(),
        charts=("experiments",),
        table=Table(
            ("rank", "change", "days saved", "value per week"),
            tuple(rows),
            (True, False, True, True),
        ),
        note=note,
    )


def _section_scatter(inputs: Inputs) -> Section:
    flow = inputs.need_flow("The lead-time scatterplot")
    done = inputs.done
    if done.empty:
        raise Unavailable("No item has finished yet: the scatterplot shows completed items.")
    from valuestream import forecast

    text = ""
    try:
        text = forecast.sle(flow, window_days=inputs.days).explain()
    except ValuestreamError as exc:
        text = f"No service level expectation yet: {exc}."
    return Section("scatter", "Lead time of each completed item", text, charts=("scatter",))


def _section_xmr(inputs: Inputs) -> Section:
    parts, charts, notes = [], [], []
    missing = []
    for kind in ("lead", "cycle"):
        try:
            chart = inputs.item_xmr(kind)
        except Unavailable as exc:
            missing.append(str(exc))
            continue
        charts.append(f"xmr-{kind}")
        parts.append(_xmr_words(chart))
    if not charts:
        raise Unavailable(missing[0])
    if not inputs.events:
        notes.append(
            "No event is logged yet: when the team changes a policy, add it with "
            "'valuestream event add' and the charts start a new period on its day."
        )
    return Section(
        "xmr",
        "Lead and cycle time: signal or noise",
        " ".join(parts),
        charts=tuple(charts),
        note=" ".join(notes) or None,
    )


def _xmr_words(chart: XmrChart) -> str:
    """Where one lead- or cycle-time chart stands now, in a few sentences (the chart shows every
    signal); its figures are written as ``valuestream pbc`` writes them."""
    p = chart.current
    name = chart.name
    basis = "" if chart.choice is None else f" {chart.choice.explain()}"
    if p is None or not p.has_limits:
        why = p.note if p is not None and p.note else ""
        return f"{name}: {NOT_ENOUGH}, no limits yet.{basis} {why}".strip()
    where = (
        f"Since '{p.event}' ({p.start_date.date()})"
        if p.event and p.start_date is not None
        else "Over the whole history"
    )
    low = chart.fmt(p.lower) if p.lower is not None else "0 (no lower limit)"
    k = len(chart.signals_in(p.number))
    verdict = (
        f"{chart.verdict}: {k} signal{'s' if k != 1 else ''} in this period ({ADVICE[chart.verdict]})"
        if k
        else f"{chart.verdict} ({ADVICE[chart.verdict]})"
    )
    doubt = (
        " The baseline is doubtful: read the limits as a first approximation." if p.doubtful else ""
    )
    return (
        f"{where}, the {name.lower()} centres on {chart.fmt(p.centre)} and routinely runs from "
        f"{low} to {chart.fmt(p.upper)}; {verdict}.{basis}{doubt}"
    )


def _section_cfd(inputs: Inputs) -> Section:
    flow = inputs.need_flow("The cumulative flow diagram")
    s = inputs.summary
    text = (
        f"{s['wip_now']:,} items are in the stream now; on average {s['wip_mean']:.0f} over the "
        f"last {inputs.days} days. Bands that widen are queues that grow; a flat top band is work "
        "that stopped arriving."
    )
    _ = flow
    return Section("cfd", "Cumulative flow", text, charts=("cfd",), note=inputs.grouped_note)


def _section_rates(inputs: Inputs) -> Section:
    s = inputs.summary
    text = (
        f"Over the last {inputs.days} days {s['arrivals']:,} items arrived and {s['throughput']:,} "
        f"finished ({s['arrivals_per_week']:.1f} and {s['throughput_per_week']:.1f} a week)."
    )
    return Section("rates", "Arrivals and throughput per week", text, charts=("rates",))


def _section_aging(inputs: Inputs) -> Section:
    from valuestream.views.forecast_charts import aging_drawing

    aging = inputs.aging
    note = aging_drawing(aging).words
    note = note[0].upper() + note[1:] + "." if note else None
    return Section("aging", "Aging work in progress", aging.explain(), charts=("aging",), note=note)


def _section_forecast(inputs: Inputs) -> Section:
    fc = inputs.forecast
    return Section(
        "forecast", f"Forecast: the next {FORECAST_DAYS} days", fc.explain(), charts=("forecast",)
    )


def _section_events(inputs: Inputs) -> Section:
    events = inputs.events
    if not events:
        raise Unavailable(
            "No event is logged yet. When the team changes a policy (a WIP limit, a release "
            "cadence), record it with 'valuestream event add \"what changed\" --date YYYY-MM-DD' "
            "so the charts can show the difference."
        )
    rows = tuple(
        (
            str(e.date),
            e.title,
            e.kind,
            "yes" if e.new_period else "no",
            "log" if e.id else "stream file only",
        )
        for e in sorted(events, key=lambda e: (e.date, e.id), reverse=True)
    )
    n = len(events)
    text = (
        f"{n} event{'s' if n != 1 else ''}, newest first. Events that start a new period split the "
        "process behavior charts: limits are computed on each side."
    )
    return Section(
        "events",
        "Events log",
        text,
        table=Table(("date", "what changed", "kind", "new period", "where"), rows),
    )


SECTIONS: tuple[tuple[str, str, Callable[[Inputs], Section]], ...] = (
    ("constraint", "The constraint and its evidence", _section_constraint),
    ("experiments", "Experiments, ranked by value per week", _section_experiments),
    ("scatter", "Lead time of each completed item", _section_scatter),
    ("xmr", "Lead and cycle time: signal or noise", _section_xmr),
    ("cfd", "Cumulative flow", _section_cfd),
    ("rates", "Arrivals and throughput per week", _section_rates),
    ("aging", "Aging work in progress", _section_aging),
    ("forecast", f"Forecast: the next {FORECAST_DAYS} days", _section_forecast),
    ("events", "Events log", _section_events),
)


# -- collecting -----------------------------------------------------------------------------------


def _why(exc: ValuestreamError) -> str:
    text = str(exc).strip()
    text = text[0].upper() + text[1:] if text else "It could not be computed."
    return text if text.endswith((".", ")")) else text + "."


def build_report(
    workspace: Workspace | None,
    stream: Stream | None,
    *,
    days: int = DEFAULT_DAYS,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
    filters: Filters | None = None,
) -> Report:
    """Collect every part of the page; a part that cannot be computed carries why instead.

    ``filters`` narrow every part to the items whose attributes match (see ``Flow.of``).
    """
    inputs = Inputs(workspace, stream, days=days, as_of=as_of, filters=filters)
    specs: dict[str, dict[str, Any]] = {}

    def draw(name: str) -> bool:
        try:
            specs[name] = compact(page_spec(chart(inputs, name)))
        except ValuestreamError:
            return False
        return True

    map_svg, map_text, map_missing = _map_part(inputs)
    measures = []
    for key, name, build in MEASURES:
        try:
            m = build(inputs)
        except ValuestreamError as exc:
            measures.append(Measure(key, name, None, "", "", NOT_ENOUGH, "", missing=_why(exc)))
            continue
        if m.chart and not draw(m.chart):
            m = Measure(**{**m.__dict__, "chart": None})
        measures.append(m)
    sections = []
    for key, title, build_section in SECTIONS:
        try:
            section = build_section(inputs)
        except ValuestreamError as exc:
            sections.append(Section(key, title, missing=_why(exc)))
            continue
        drawn = tuple(name for name in section.charts if draw(name))
        sections.append(Section(**{**section.__dict__, "charts": drawn}))
    title, subtitle, facts = _header(inputs)
    return Report(
        title=title,
        subtitle=subtitle,
        generated_at=now or dt.datetime.now(dt.UTC),
        measures=tuple(measures),
        sections=tuple(sections),
        map_svg=map_svg,
        map_text=map_text,
        map_missing=map_missing,
        specs=specs,
        facts=facts,
    )


def _map_part(inputs: Inputs) -> tuple[str | None, str, str | None]:
    try:
        picture = map_picture(inputs)
        _, origin = inputs.map_stream
    except ValuestreamError as exc:
        return None, "", _why(exc)
    try:
        circled = inputs.constraint.constraint
    except ValuestreamError:
        circled = None
    said = (
        f"Circled: '{circled}', the constraint (its evidence is in section 1)."
        if circled
        else "No step shows waiting yet, so no constraint is circled."
    )
    words = " ".join(part for part in (origin, said) if part)
    return picture.svg, words, None


def _header(inputs: Inputs) -> tuple[str, str, tuple[str, ...]]:
    stream = inputs.stream
    name = stream.name if stream is not None else "Value stream"
    title = f"{name}: one map, three flow measures"
    facts: list[str] = []
    if stream is not None and stream.product:
        facts.append(stream.product)
    flow = inputs.flow
    if flow is not None:
        w = inputs.window
        facts.append(f"data as of {flow.as_of:%d %b %Y}")
        facts.append(f"measures over the last {inputs.days} days ({w.start} to {w.end})")
        facts.append(f"{len(inputs.items):,} items")
        discarded = len(flow.discarded(w))
        if discarded:
            facts.append(f"{discarded:,} discarded in the window (not in lead time or throughput)")
        facts.append(flow.conventions())
    else:
        facts.append("no item histories yet: the workshop map only")
    n = len(inputs.events)
    facts.append(f"{n} event{'s' if n != 1 else ''} logged" if n else "no events logged")
    return title, " · ".join(facts), tuple(facts)


# -- rendering ------------------------------------------------------------------------------------

TEMPLATES = Path(__file__).parent / "templates"


def compact(vl: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """The spec with its inline data's decimals cut to ``digits`` (the page stays small)."""
    datasets = vl.get("datasets")
    if not datasets:
        return vl

    def cut(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, digits) if math.isfinite(value) else None
        return value

    vl["datasets"] = {
        name: [
            {k: cut(v) for k, v in row.items()} if isinstance(row, dict) else row for row in rows
        ]
        for name, rows in datasets.items()
    }
    return vl


def page_spec(drawn: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec with the shared theme, as :func:`charts.spec` gives it.

    Unvalidated: our own chart code builds these specs (the tests validate them), and schema
    validation of large inline data costs more than the rest of the page.
    """
    out = drawn.to_dict(validate=False)
    config = out.setdefault("config", {})
    config.update({k: v for k, v in theme()["config"].items() if k not in config})
    return out


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    specs = json.dumps(report.specs, separators=(",", ":"), allow_nan=False, default=str)
    return template.render(
        report=report,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        page_js=js_in_script((TEMPLATES / "report.js").read_text(encoding="utf-8")),
        vega_js=js_in_script(vega_bundle()),
        specs_json=json_in_script(specs),
        map_svg=report.map_svg,
        generated=f"{report.generated_at:%d %b %Y %H:%M} UTC",
        chart_titles=CHART_NAMES,
    )


def map_html(svg: str, title: str) -> str:
    """A page holding only the map picture (for ``valuestream chart map --out map.html``)."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{margin:16px;font-family:Helvetica,Arial,sans-serif}svg{max-width:100%;height:auto}</style>"
        f"</head><body>{svg}</body></html>"
    )


def write_report(
    path: str | Path,
    workspace: Workspace | None,
    stream: Stream | None,
    *,
    days: int = DEFAULT_DAYS,
    as_of: dt.datetime | None = None,
) -> Report:
    """Build the report and write it to ``path``; returns the report."""
    report = build_report(workspace, stream, days=days, as_of=as_of)
    report.save(path)
    return report


__all__ = [
    "CHART_NAMES",
    "Inputs",
    "Measure",
    "Report",
    "Section",
    "Unavailable",
    "build_report",
    "chart",
    "map_picture",
    "write_report",
]
