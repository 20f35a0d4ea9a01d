"""Forecast charts: the trials' histogram with its confidence rules, and aging work in progress.

Charts take the result objects of :mod:`valuestream.forecast` and return Altair charts in the
shared theme; :func:`valuestream.views.charts.save` writes them to SVG, PNG or HTML.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

from valuestream.views.charts import HEIGHT, INK, LIMIT, MUTED, SIGNAL, TOUCH, WAIT, styled
from valuestream.views.drawing import MAX_DRAWN, as_data, spread_values, thin

if TYPE_CHECKING:
    from valuestream.forecast import Aging, Forecast, ServiceLevel

# Bands from the median to the 95th percentile: from calm to warning, readable without red/green.
BAND_COLOURS = ("#EAF2FB", "#FFF3D6", "#FCDDA8", "#F7BE8F")
RULE_COLOURS = {50: MUTED, 70: LIMIT, 85: SIGNAL, 95: INK}


def _rules(
    levels: list[tuple[int, float]], top: float, *, field: str, unit: str, dates: dict[int, str]
) -> pd.DataFrame:
    """One rule per confidence level, labels stacked so that close (or equal) values stay readable."""
    rows = []
    for rank, (confidence, value) in enumerate(levels):
        label = f"{confidence}%: {value:g} {unit}"
        if day := dates.get(confidence):
            label += f" ({day})"
        rows.append(
            {
                field: value,
                "confidence": f"{confidence}%",
                "label": label,
                "y": top * (1.32 - 0.08 * rank),
            }
        )
    return pd.DataFrame(rows)


def _histogram(
    counts: pd.DataFrame,
    rules: pd.DataFrame,
    *,
    x_title: str,
    title: str,
    subtitle: str,
    bar: str,
    zero: bool = True,
    y_title: str = "Share of trials",
) -> alt.TopLevelMixin:
    top = float(counts["share"].max())
    y_scale = alt.Scale(domain=[0, top * 1.4])
    bars = (
        alt.Chart(counts)
        .mark_rect(color=bar, opacity=0.85)
        .encode(
            x=alt.X("lo:Q", title=x_title, scale=alt.Scale(zero=zero)),
            x2="hi:Q",
            y=alt.Y("share:Q", title=y_title, axis=alt.Axis(format="%"), scale=y_scale),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("value:Q", title=x_title),
                alt.Tooltip("trials:Q", title=y_title.removeprefix("Share of ").capitalize()),
                alt.Tooltip("share:Q", format=".1%", title="Share"),
            ],
        )
    )
    colour = alt.Color(
        "confidence:N",
        scale=alt.Scale(
            domain=list(rules["confidence"]),
            range=[RULE_COLOURS.get(int(c.rstrip("%")), INK) for c in rules["confidence"]],
        ),
        legend=None,
    )
    lines = (
        alt.Chart(rules)
        .mark_rule(strokeDash=[5, 3], strokeWidth=1.6)
        .encode(x="at:Q", color=colour)
    )
    y = alt.Y("y:Q", scale=y_scale)
    # A white outline under each label keeps it readable where it crosses the next rule.
    halo = (
        alt.Chart(rules)
        .mark_text(
            align="left",
            dx=4,
            fontSize=11,
            fontWeight="bold",
            stroke="white",
            strokeWidth=4,
            strokeJoin="round",
        )
        .encode(x="at:Q", y=y, text="label:N")
    )
    labels = (
        alt.Chart(rules)
        .mark_text(align="left", dx=4, fontSize=11, fontWeight="bold")
        .encode(x="at:Q", y=y, text="label:N", color=colour)
    )
    return styled(
        alt.layer(bars, lines, halo, labels).properties(title=alt.Title(title, subtitle=subtitle))
    )


def _counts(values: np.ndarray) -> pd.DataFrame:
    """Trials per outcome (the chart holds one row per distinct outcome, not one per trial)."""
    value, trials = np.unique(values, return_counts=True)
    return pd.DataFrame(
        {
            "value": value,
            "lo": value - 0.45,
            "hi": value + 0.45,
            "trials": trials,
            "share": trials / trials.sum(),
        }
    )


def forecast_histogram(forecast: Forecast) -> alt.TopLevelMixin:
    """How the trials came out, with a dashed rule at each confidence level."""
    counts = _counts(forecast.outcomes)
    levels = [(c, float(v)) for c, v in forecast.levels]
    if forecast.question == "when":
        dates = {c: _short(forecast.date_of(int(v))) for c, v in levels} if forecast.start else {}
        rules = _rules(levels, float(counts["share"].max()), field="at", unit="days", dates=dates)
        title = f"When will {forecast.items} items be finished?"
        start = f" starting {forecast.start}" if forecast.start else ""
        x_title = (
            f"Days until finished (day 1 = {forecast.start})"
            if forecast.start
            else "Days until finished"
        )
        subtitle = (
            f"{forecast.trials:,} trials{start}; 85% confidence: within {forecast.level(85)} days"
        )
    else:
        rules = _rules(levels, float(counts["share"].max()), field="at", unit="items", dates={})
        by = f" by {forecast.by}" if forecast.by else f" in {forecast.days} days"
        title = f"How many items will be finished{by}?"
        x_title = "Items finished"
        subtitle = (
            f"{forecast.trials:,} trials; 85% confidence: at least {forecast.level(85)} items"
        )
    # "When" keeps day 0 in view (how far from today); "how many" zooms in on the counts reached.
    zero = forecast.question == "when"
    return _histogram(
        counts, rules, x_title=x_title, title=title, subtitle=subtitle, bar=TOUCH, zero=zero
    )


def duration_histogram(service_level: ServiceLevel) -> alt.TopLevelMixin:
    """Finished items' lead (or cycle) times by whole day, with the percentile rules."""
    days = np.ceil(service_level.durations - 1e-9).astype(int)
    counts = _counts(days)
    levels = [(p, round(d, 1)) for p, d in service_level.levels]
    rules = _rules(levels, float(counts["share"].max()), field="at", unit="days", dates={})
    rules["confidence"] = [f"{p}%" for p, _ in levels]
    name = "Lead time" if service_level.measure == "lead" else "Cycle time"
    return _histogram(
        counts,
        rules,
        x_title=f"{name} (days, rounded up)",
        title=f"{service_level.percentile}% of items finish within {service_level.whole_days} days",
        subtitle=f"{name} of {len(service_level.durations)} finished items",
        bar=WAIT,
        y_title="Share of items",
    )


def _short(day: dt.date | None) -> str:
    return day.strftime("%d %b %Y") if day else ""


def _jitter(item: str) -> float:
    """A fixed offset per item, so points in one step do not hide each other (same on every render)."""
    digest = hashlib.blake2b(item.encode("utf-8"), digest_size=2).digest()
    return int.from_bytes(digest, "big") / 65535 * 0.7 - 0.35


@dataclass(frozen=True)
class AgingDrawing:
    """What the aging chart draws of many items in progress: which points, under which steps."""

    points: pd.DataFrame
    """The drawn rows of ``Aging.table``, oldest first, their step named as drawn."""
    steps: list[str]
    """The drawn steps in flow order, the long tail as one "other (N steps)" at the end."""
    words: str
    """What was left out, in words ('' when every item and step is drawn)."""


def aging_drawing(aging: Aging) -> AgingDrawing:
    """The points and steps the aging chart draws; every figure is the analysis's, on every item.

    Past :data:`~valuestream.streammap.MAX_DRAWN_STEPS` steps, those holding the most items now
    keep a column of their own and the rest share one (:func:`~valuestream.streammap.long_tail`,
    as the map groups them). Past :data:`~valuestream.views.drawing.MAX_DRAWN` items it draws the
    oldest (every one above the expectation, up to half of that) and every k-th of the others
    (:func:`~valuestream.views.drawing.thin`).
    """
    from valuestream.streammap import long_tail

    table = aging.table
    steps = list(aging.steps)
    said = []
    split = long_tail(steps, table["step"].value_counts().reindex(steps, fill_value=0))
    if split is not None:
        kept, tail = set(split[0]), split[1]
        other = f"other ({len(tail):,} steps)"
        steps = [s for s in steps if s in kept] + [other]
        table = table.assign(step=table["step"].where(table["step"].isin(kept), other))
        said.append(f"{len(kept)} of {len(aging.steps):,} steps shown; the rest as '{other}'")
    # The table is oldest first, so the items above the expectation are its first rows.
    oldest = min(int(table["over_sle"].sum()), MAX_DRAWN // 2)
    keep = np.zeros(len(table), dtype=bool)
    keep[:oldest] = True
    rows, k = thin(len(table), keep)
    if k > 1:
        said.append(
            f"drawing {len(rows):,} of {len(table):,} items (the {oldest:,} oldest above the "
            f"expectation, then 1 in {k}); every figure counts all of them"
        )
    return AgingDrawing(table.iloc[rows], steps, "; ".join(said))


def aging_chart(aging: Aging) -> alt.TopLevelMixin:
    """Age of each item in progress by current step (flow order), over the percentile bands.

    Huge work in progress is drawn as :func:`aging_drawing` chooses, and the subtitle says so.
    """
    s = aging.service_level
    lines = [(c, s.level(c)) for c in (50, 70, 85, 95)]
    table = aging.table
    top = max([float(table["age_days"].max()) if len(table) else 0.0, lines[-1][1]]) * 1.1 or 1.0
    drawing = aging_drawing(aging)
    steps = drawing.steps
    y_scale = alt.Scale(domain=[0, top], nice=False)
    bounds = [0.0] + [d for _, d in lines]
    bands = pd.DataFrame(
        {
            "lo": bounds[:-1],
            "hi": bounds[1:],
            "band": [
                f"{a}-{b}%" if a else f"under {b}%"
                for a, b in zip([0, 50, 70, 85], [50, 70, 85, 95], strict=True)
            ],
        }
    )
    clock = "lead" if s.measure == "lead" else "cycle"
    band_layer = (
        alt.Chart(bands)
        .mark_rect()
        .encode(
            y=alt.Y("lo:Q", scale=y_scale, title="Age (days)"),
            y2="hi:Q",
            color=alt.Color(
                "band:N",
                title=f"Finished items' {clock} time",
                scale=alt.Scale(domain=list(bands["band"]), range=list(BAND_COLOURS)),
            ),
        )
    )
    rules = pd.DataFrame(
        {"at": [d for _, d in lines], "label": [f"{c}%: {d:.1f} d" for c, d in lines]}
    )
    # Close percentiles would print their labels on top of each other: push them apart.
    rules["label_at"] = spread_values(rules["at"].tolist(), domain=(0.0, top), height=HEIGHT)
    rule_layer = (
        alt.Chart(rules)
        .mark_rule(color=LIMIT, strokeDash=[4, 3])
        .encode(y=alt.Y("at:Q", scale=y_scale))
    )
    label_layer = (
        alt.Chart(rules)
        .mark_text(
            align="right", baseline="bottom", dy=-2, color=LIMIT, fontSize=10, x="width", dx=-4
        )
        .encode(y=alt.Y("label_at:Q", scale=y_scale), text="label:N")
    )
    drawn = drawing.points
    points = drawn.assign(
        jitter=[_jitter(str(i)) for i in drawn["item"]],
        entered_day=[_day(v) for v in drawn["entered"]] if "entered" in drawn else "",
        status=np.where(
            drawn["over_sle"],
            f"older than the {s.percentile}% expectation",
            "within the expectation",
        ),
    )
    tooltip = [alt.Tooltip("item:N", title="Item")]
    if "title" in points:
        tooltip.append(alt.Tooltip("title:N", title="Title"))
    tooltip += [
        alt.Tooltip("step:N", title="Step"),
        alt.Tooltip("entered_day:N", title="Entered"),
        alt.Tooltip("age_days:Q", title="Age (days)", format=".1f"),
        alt.Tooltip("band:N", title="Band"),
    ]
    point_layer = (
        alt.Chart(as_data(points))
        .mark_circle(size=70, opacity=0.9, stroke="white", strokeWidth=0.8)
        .encode(
            x=alt.X(
                "step:N",
                sort=steps,
                scale=alt.Scale(domain=steps),
                title="Current step (flow order)",
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset=alt.XOffset("jitter:Q", scale=alt.Scale(domain=[-0.5, 0.5])),
            y=alt.Y("age_days:Q", scale=y_scale),
            color=alt.Color(
                "status:N",
                title=None,
                scale=alt.Scale(
                    domain=[
                        "within the expectation",
                        f"older than the {s.percentile}% expectation",
                    ],
                    range=[TOUCH, SIGNAL],
                ),
            ),
            tooltip=tooltip,
        )
    )
    chart = alt.layer(band_layer, rule_layer, label_layer, point_layer).resolve_scale(
        color="independent"
    )
    subtitle = [
        f"{len(table):,} items in progress; {len(aging.at_risk):,} older than {s.whole_days} days "
        f"({s.percentile}% of finished items took no longer)"
    ]
    if drawing.words:
        subtitle.append(drawing.words)
    title = alt.Title("Aging work in progress", subtitle=subtitle)
    return styled(chart.properties(title=title, width=max(320, 110 * len(steps))))


def _day(value: object) -> str:
    if value is None or value is pd.NaT:
        return ""
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(value)
