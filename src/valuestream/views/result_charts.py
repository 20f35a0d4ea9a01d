"""Charts of the analysis results: the constraint, delay cost, the map's figures, the simulation.

Each function takes a result object and returns an Altair chart in the shared look; the analyses
themselves never import this module (``views.draw`` dispatches to it).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from valuestream.views.charts import INK, MUTED, SIGNAL, TOUCH, WAIT, styled


def constraint_chart(report: Any) -> alt.TopLevelMixin:
    """Wait per item at each step, the constraint in the signal colour."""
    df = report.table.assign(circled=report.table["step"] == (report.constraint or ""))
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=list(df["step"]), title=None),
            x=alt.X("wait_per_item:Q", title="Mean wait per item (days)"),
            color=alt.condition("datum.circled", alt.value(SIGNAL), alt.value(WAIT)),
            tooltip=["step", "reasons"],
        )
        .properties(title="Where items wait: the constraint in red")
    )
    return styled(chart)


def queue_costs_chart(costs: Any) -> alt.TopLevelMixin:
    """Delay cost per queue, costliest first."""
    return styled(
        alt.Chart(costs.table)
        .mark_bar(color=WAIT)
        .encode(
            x=alt.X("cost:Q", title=f"delay cost ({costs.currency})"),
            y=alt.Y("queue:N", sort="-x", title=None),
            tooltip=["queue", "items", "wait_days", "cost"],
        )
        .properties(title="Delay cost per queue")
    )


def map_figures_chart(figures: Any) -> alt.TopLevelMixin:
    """Touch and wait per step, stacked, in flow order."""
    long = figures.table.melt(
        id_vars=["step"], value_vars=["touch", "wait"], var_name="time", value_name="days"
    )
    order = list(figures.table["step"])
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=order, title=None),
            x=alt.X("days:Q", stack=True, title="Expected days per item"),
            color=alt.Color(
                "time:N",
                scale=alt.Scale(domain=["touch", "wait"], range=[TOUCH, WAIT]),
                title=None,
            ),
            tooltip=["step", "time", alt.Tooltip("days:Q", format=".1f")],
        )
        .properties(title=f"{figures.stream.name}: expected time per step (from the map)")
    )
    return styled(chart)


def discovered_chart(discovered: Any) -> alt.TopLevelMixin:
    """The draft map's expected time per step."""
    from valuestream.streammap import map_figures

    return map_figures_chart(map_figures(discovered.to_stream()))


def map_vs_data_chart(comparison: Any) -> alt.TopLevelMixin:
    """Estimated against measured median wait per step."""
    rows = comparison.table[comparison.table["basis"] == "measured"]
    long = pd.concat(
        [
            pd.DataFrame({"step": rows["step"], "figure": "estimate", "days": rows["est_wait"]}),
            pd.DataFrame({"step": rows["step"], "figure": "measured p50", "days": rows["wait_p50"]}),
        ]
    )
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("step:N", sort=list(rows["step"]), title=None),
            yOffset="figure:N",
            x=alt.X("days:Q", title="Wait per item (days)"),
            color=alt.Color(
                "figure:N",
                scale=alt.Scale(domain=["estimate", "measured p50"], range=[MUTED, WAIT]),
                title=None,
            ),
        )
        .properties(title="Wait per step: the wall's estimate against the data")
    )
    return styled(chart)


def _saved_bars(df: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    df = df.assign(where=np.where(df["at_constraint"], "at the constraint", "elsewhere"))
    df = df.replace([np.inf, -np.inf], np.nan)  # an unstable candidate has no bar
    # rank order top to bottom (a layered chart cannot sort by one layer's x)
    base = alt.Chart(df).encode(y=alt.Y("change:N", sort=list(df["change"]), title=None))
    bars = base.mark_bar().encode(
        x=alt.X("days_saved:Q", title="days off the mean lead time"),
        color=alt.Color(
            "where:N",
            scale=alt.Scale(domain=["at the constraint", "elsewhere"], range=[SIGNAL, TOUCH]),
            title=None,
        ),
    )
    errs = base.mark_rule(color=INK).encode(x="days_saved_low:Q", x2="days_saved_high:Q")
    return styled((bars + errs).properties(title=title))


def experiments_chart(ranked: Any) -> alt.TopLevelMixin:
    """Candidate changes by lead time saved, with the 95% interval; the constraint's in red."""
    return _saved_bars(ranked.table, "Candidate changes, by lead time saved (95% CI)")


def simulation_chart(run: Any) -> alt.TopLevelMixin:
    """Histogram of simulated lead times (binned here, so any run size charts), with p50/p85/p95."""
    counts, edges = np.histogram(run.lead_times, bins=40)
    bars = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "items": counts})
    pcts = pd.DataFrame(
        {
            "label": ["p50", "p85", "p95"],
            "days": [run.ci(k)[0] for k in ("lead_p50", "lead_p85", "lead_p95")],
        }
    )
    hist = (
        alt.Chart(bars)
        .mark_bar(color=WAIT)
        .encode(
            x=alt.X("start:Q", title="simulated lead time (days)"),
            x2="end:Q",
            y=alt.Y("items:Q", title="items"),
            y2=alt.datum(0),
        )
    )
    rules = alt.Chart(pcts).mark_rule(color=INK, strokeDash=[4, 3]).encode(x="days:Q")
    labels = (
        alt.Chart(pcts)
        .mark_text(align="left", dx=3, dy=-4, baseline="top", color=INK)
        .encode(x="days:Q", y=alt.value(0), text="label:N")
    )
    title = f"Simulated lead time: {run.network.name}"
    return styled((hist + rules + labels).properties(title=title))
