"""Process behavior charts as pictures: the X chart over its moving-range chart, and the lead-time scatterplot.

Limits are drawn per period, with the previous period's limits carried on faintly for comparison;
events are named on their day; values that are part of a signal are drawn in the signal colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from valuestream.views.charts import INK, LIMIT, MUTED, SIGNAL, TOUCH, WAIT, WIDTH, styled
from valuestream.views.drawing import as_data, spread_values, thin, thinned_words

if TYPE_CHECKING:
    from valuestream.xmr import XmrChart

X_HEIGHT = 240
MR_HEIGHT = 110
XType = Literal["quantitative", "temporal"]
RULE_NAMES = {"signal_1": "1", "signal_2": "2", "signal_3": "3", "signal_4": "4", "signal_mr": "mR"}


def _iso(values: Any) -> list[str | None]:
    return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in values]


def _positions(chart: XmrChart) -> tuple[pd.Series, XType, str, bool]:
    """Where each value sits on the x axis: on its date when dates are distinct, else its number."""
    table = chart.table
    dates = table["date"]
    if dates.notna().all() and len(dates) and dates.is_monotonic_increasing and dates.is_unique:
        return pd.Series(_iso(dates)), "temporal", "date", True
    return table["index"] + 1, "quantitative", "value number (in time order)", False


def _event_x(chart: XmrChart, temporal: bool) -> pd.DataFrame:
    rows = []
    dates = chart.table["date"]
    for i, (when, title) in enumerate(chart.events):
        if temporal:
            x: Any = pd.Timestamp(when).isoformat()
        else:
            # Between the last value before the event and the first on or after it.
            x = (
                int(
                    np.searchsorted(
                        dates.to_numpy(), np.datetime64(pd.Timestamp(when)), side="left"
                    )
                )
                + 0.5
            )
        rows.append({"x": x, "text": f"{title} ({pd.Timestamp(when).date()})", "row": i % 3})
    return pd.DataFrame(rows, columns=["x", "text", "row"])


def _period_segments(chart: XmrChart, xs: pd.Series, temporal: bool) -> pd.DataFrame:
    """One row per period (and one per 'previous limits' overlay) with its x span and limits."""
    rows = []
    previous = None
    for p in chart.periods:
        if p.n == 0:
            continue
        if temporal:
            x0, x1 = xs.iloc[p.start], xs.iloc[p.end - 1]
        else:
            x0, x1 = float(xs.iloc[p.start]) - 0.5, float(xs.iloc[p.end - 1]) + 0.5
        base = {"x0": x0, "x1": x1, "period": p.number}
        if p.has_limits:
            rows.append(
                {
                    **base,
                    "kind": "current",
                    "centre": p.centre,
                    "lower": p.lower,
                    "upper": p.upper,
                    "mr_bar": p.mr_bar,
                    "url": p.url,
                    "what": "kept from before"
                    if p.inherited
                    else ("provisional" if p.provisional else "limits"),
                }
            )
        if previous is not None and previous.has_limits and not p.inherited and p.has_limits:
            rows.append(
                {
                    **base,
                    "kind": "previous",
                    "centre": previous.centre,
                    "lower": previous.lower,
                    "upper": previous.upper,
                    "mr_bar": previous.mr_bar,
                    "url": previous.url,
                    "what": "previous limits",
                }
            )
        previous = p
    return pd.DataFrame(
        rows,
        columns=["x0", "x1", "period", "kind", "centre", "lower", "upper", "mr_bar", "url", "what"],
    )


def _points(chart: XmrChart, xs: pd.Series) -> pd.DataFrame:
    t = chart.table
    flags = t[list(RULE_NAMES)].to_numpy()
    rules = [
        ", ".join(RULE_NAMES[c] for c, f in zip(RULE_NAMES, row, strict=True) if f) for row in flags
    ]
    return pd.DataFrame(
        {
            "x": xs.to_numpy(),
            "n": t["index"] + 1,
            "period": t["period"],
            "label": t["label"],
            "date": [None if pd.isna(d) else str(pd.Timestamp(d).date()) for d in t["date"]],
            "value": t["value"],
            "moving_range": t["moving_range"],
            "signal": t[["signal_1", "signal_2", "signal_3", "signal_4"]].any(axis=1),
            "range_signal": t["signal_mr"],
            "rules": rules,
        }
    )


def _limit_layers(
    seg: pd.DataFrame, x: alt.X, x_type: XType, keys: Sequence[tuple[str, str]]
) -> list[alt.Chart]:
    layers = []
    for kind, colour, dash, opacity in (
        ("previous", MUTED, [2, 3], 0.7),
        ("current", LIMIT, [6, 4], 1.0),
    ):
        part = seg[seg["kind"] == kind]
        if part.empty:
            continue
        for column, name in keys:
            data = part[part[column].notna()]
            if data.empty:
                continue
            centre = column in ("centre", "mr_bar")
            layers.append(
                alt.Chart(data)
                .mark_rule(
                    color=INK if centre and kind == "current" else colour,
                    strokeDash=[] if centre and kind == "current" else dash,
                    strokeWidth=1.2 if kind == "current" else 1.0,
                    opacity=opacity,
                )
                .encode(
                    x=alt.X("x0", type=x_type),
                    x2="x1",
                    y=alt.Y(column, type="quantitative"),
                    tooltip=[
                        alt.Tooltip("period:Q", title="period"),
                        alt.Tooltip("what:N", title="limits"),
                        alt.Tooltip(f"{column}:Q", title=name, format=".4~r"),
                    ],
                )
            )
            if kind == "current":
                layers.append(
                    alt.Chart(data)
                    .mark_text(align="left", dx=3, fontSize=9, color=INK if centre else LIMIT)
                    .encode(
                        x=alt.X("x1", type=x_type),
                        y=alt.Y(column, type="quantitative"),
                        text=alt.Text(f"{column}:Q", format=".4~r"),
                    )
                )
    return layers


def _event_layers(events: pd.DataFrame, x_type: XType, *, labels: bool) -> list[alt.Chart]:
    if events.empty:
        return []
    rule = (
        alt.Chart(events)
        .mark_rule(color=WAIT, strokeWidth=1.5, strokeDash=[4, 2])
        .encode(x=alt.X("x", type=x_type), tooltip=alt.Tooltip("text:N", title="event"))
    )
    if not labels:
        return [rule]
    text = (
        alt.Chart(events)
        .mark_text(align="left", baseline="top", dx=4, fontSize=10, color=INK, fontWeight="bold")
        .encode(
            x=alt.X("x", type=x_type),
            y=alt.value(2),
            yOffset=alt.YOffset("row:Q", scale=None),
            text="text:N",
        )
        .transform_calculate(row="datum.row * 12")
    )
    return [rule, text]


def _drawn(chart: XmrChart, points: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The points to draw: all of them, or every k-th with every signal and each period's ends."""
    t = chart.table
    keep = t["signal"].to_numpy(dtype=bool).copy()
    for p in chart.periods:
        if p.n:
            keep[[p.start, p.end - 1]] = True
    rows, k = thin(len(t), keep)
    return points.iloc[rows], thinned_words(len(t), k, "every signal drawn")


def xmr_chart(chart: XmrChart, *, title: str | None = None) -> alt.VConcatChart:
    """The X chart (values, central line, natural process limits) with the moving-range chart under it.

    Past :data:`~valuestream.views.drawing.MAX_DRAWN` values it draws every k-th value, every
    signal and the ends of each period, and says so; the limits and signals are the chart's own,
    computed on every value.
    """
    xs, x_type, x_title, temporal = _positions(chart)
    points, thinned = _drawn(chart, _points(chart, xs))
    seg = _period_segments(chart, xs, temporal)
    events = _event_x(chart, temporal)
    unit = f" ({chart.unit})" if chart.unit else ""
    n = len(chart.table)
    scale = (
        alt.Scale()
        if temporal
        else alt.Scale(domain=[0.5, max(n, 1) + 0.5], nice=False, zero=False)
    )
    x_axis = alt.X("x", type=x_type, title=x_title, scale=scale)
    tooltip = [
        alt.Tooltip("label:N", title="what"),
        alt.Tooltip("date:N", title="date"),
        alt.Tooltip("value:Q", title=chart.name, format=".4~r"),
        alt.Tooltip("moving_range:Q", title="moving range", format=".4~r"),
        alt.Tooltip("rules:N", title="signal rules"),
    ]
    line = (
        alt.Chart(as_data(points))
        .mark_line(color=TOUCH, strokeWidth=1.2, opacity=0.7)
        # One line per period: the values before and after an event are not one process.
        .encode(x=x_axis, y=alt.Y("value:Q", scale=alt.Scale(zero=False)), detail="period:N")
    )
    dots = (
        alt.Chart(as_data(points))
        .mark_point(filled=True, size=36)
        .encode(
            x=x_axis,
            y=alt.Y("value:Q", title=f"{chart.name}{unit}", scale=alt.Scale(zero=False)),
            color=alt.condition("datum.signal", alt.value(SIGNAL), alt.value(TOUCH)),
            size=alt.condition("datum.signal", alt.value(70), alt.value(30)),
            tooltip=tooltip,
        )
    )
    x_layers = [
        *_limit_layers(
            seg,
            x_axis,
            x_type,
            [("upper", "upper limit"), ("centre", "central line"), ("lower", "lower limit")],
        ),
        line,
        dots,
        *_event_layers(events, x_type, labels=True),
    ]
    subtitle = _subtitle(chart) + ([thinned] if thinned else [])
    top = alt.layer(*x_layers).properties(
        width=WIDTH,
        height=X_HEIGHT,
        title=alt.TitleParams(title or f"{chart.name}: process behavior chart", subtitle=subtitle),
    )
    mr_points = points[points["moving_range"].notna()]
    mr_line = (
        alt.Chart(as_data(mr_points))
        .mark_line(color=MUTED, strokeWidth=1)
        .encode(x=x_axis, y="moving_range:Q", detail="period:N")
    )
    mr_dots = (
        alt.Chart(as_data(mr_points))
        .mark_point(filled=True, size=20)
        .encode(
            x=x_axis,
            y=alt.Y("moving_range:Q", title=f"moving range{unit}"),
            color=alt.condition("datum.range_signal", alt.value(SIGNAL), alt.value(MUTED)),
            size=alt.condition("datum.range_signal", alt.value(60), alt.value(20)),
            tooltip=tooltip,
        )
    )
    bottom = alt.layer(
        *_limit_layers(
            seg, x_axis, x_type, [("url", "upper range limit"), ("mr_bar", "average moving range")]
        ),
        mr_line,
        mr_dots,
        *_event_layers(events, x_type, labels=False),
    ).properties(width=WIDTH, height=MR_HEIGHT)
    return styled(alt.vconcat(top, bottom, spacing=8).resolve_scale(x="shared"))  # type: ignore[return-value]


def _subtitle(chart: XmrChart) -> list[str]:
    n = len(chart.signals)
    first = (
        f"{n} signal{'s' if n != 1 else ''} (highlighted)" if n else "no signal: routine variation"
    )
    current = chart.periods[-1] if chart.periods else None
    return [first, current.note] if current is not None and current.note else [first]


def lead_time_scatter(
    items: pd.DataFrame,
    *,
    percentiles: Iterable[int] = (50, 70, 85, 95),
    events: Iterable[tuple[Any, str]] = (),
    column: str = "lead_time_days",
    title: str = "Lead time of every completed item",
) -> alt.LayerChart:
    """Each completed item on its finish day at its lead time, with percentile lines.

    ``items``: one row per completed item with item, finished, entered and ``column`` (as from
    :func:`valuestream.xmr.completed_items`).
    """
    done = items[items["finished"].notna() & items[column].notna()]
    data = pd.DataFrame(
        {
            "item": done["item"].astype(str),
            "title": done.get("title", ""),
            "entered": [
                str(pd.Timestamp(v).date()) if pd.notna(v) else None
                for v in done.get("entered", [])
            ],
            "finished_day": [str(pd.Timestamp(v).date()) for v in done["finished"]],
            "finished": _iso(done["finished"]),
            "days": done[column].astype(float),
        }
    )
    pct = percentile_labels(data["days"].to_numpy(dtype=float), percentiles)
    top = float(data["days"].max()) * 1.05 if len(data) else 1.0
    y_scale = alt.Scale(domain=[0, top or 1.0], nice=False)
    if len(pct):
        pct["at"] = spread_values(pct["days"].tolist(), domain=(0.0, top or 1.0), height=X_HEIGHT)
    # Thin the drawing, never the figures: every item above the highest percentile line is drawn.
    tail = data["days"].to_numpy() > (pct["days"].max() if len(pct) else np.inf)
    rows, k = thin(len(data), tail)
    drawn = data.iloc[rows]
    dots = (
        alt.Chart(as_data(drawn))
        .mark_circle(size=40, color=TOUCH, opacity=0.75)
        .encode(
            x=alt.X("finished:T", title="finished"),
            y=alt.Y(
                "days:Q",
                title="lead time (days)" if column == "lead_time_days" else "days",
                scale=y_scale,
            ),
            tooltip=[
                alt.Tooltip("item:N"),
                alt.Tooltip("title:N"),
                alt.Tooltip("entered:N", title="entered"),
                alt.Tooltip("finished_day:N", title="finished"),
                alt.Tooltip("days:Q", title="days", format=".1f"),
            ],
        )
    )
    lines = (
        alt.Chart(pct)
        .mark_rule(color=LIMIT, strokeDash=[5, 3])
        .encode(y=alt.Y("days:Q", scale=y_scale), tooltip=["text:N"])
    )
    labels = (
        alt.Chart(pct)
        # Beside the plot, not over the dots; pushed apart where percentiles are close.
        .mark_text(align="left", baseline="middle", dx=6, fontSize=10, color=INK)
        .encode(y=alt.Y("at:Q", scale=y_scale), x=alt.value(WIDTH), text="text:N")
    )
    layers: list[alt.Chart] = [dots, lines, labels]
    ev = pd.DataFrame(
        [
            {
                "x": pd.Timestamp(d).isoformat(),
                "text": f"{t} ({pd.Timestamp(d).date()})",
                "row": i % 3,
            }
            for i, (d, t) in enumerate(events)
        ],
        columns=["x", "text", "row"],
    )
    if not ev.empty:
        layers.append(
            alt.Chart(ev)
            .mark_rule(color=WAIT, strokeDash=[4, 2], strokeWidth=1.5)
            .encode(x="x:T", tooltip="text:N")
        )
        layers.append(
            alt.Chart(ev)
            .mark_text(
                align="left", baseline="top", dx=4, fontSize=10, fontWeight="bold", color=INK
            )
            .encode(
                x="x:T", y=alt.value(2), yOffset=alt.YOffset("row:Q", scale=None), text="text:N"
            )
            .transform_calculate(row="datum.row * 12")
        )
    n = len(data)
    subtitle = [f"{n:,} completed item{'s' if n != 1 else ''}; lines at percentiles of all of them"]
    if k > 1:
        subtitle.append(thinned_words(n, k, "every item above the top percentile line drawn"))
    return styled(  # type: ignore[return-value]
        alt.layer(*layers).properties(
            width=WIDTH,
            height=X_HEIGHT,
            title=alt.TitleParams(title, subtitle=subtitle),
        )
    )


def percentile_labels(days: np.ndarray, percentiles: Iterable[int]) -> pd.DataFrame:
    """One row per percentile line: p, days (the percentile of every value) and its label text."""
    if not len(days):
        return pd.DataFrame(columns=["p", "days", "text"])
    rows = []
    for p in percentiles:
        value = float(np.percentile(days, p))
        rows.append({"p": p, "days": value, "text": f"{p}%: {value:.1f} d"})
    return pd.DataFrame(rows, columns=["p", "days", "text"])
