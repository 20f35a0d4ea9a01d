"""Name the constraint, with its evidence: the longest queue, starved downstream, growing queues.

The facilitator's question at minute 55 is "where do we circle?". The answer here ranks every step
by how many of these signs point at it, then by the waiting it causes:

- **longest queue**: the most wait per item (and, with data, the most wait across all items);
- **starves downstream** (data only): on at least half of the days the step held work, the next
  step downstream had nothing at all (and on at least three days);
- **queue growing** (data only): more items arrived into the step than left it in the window, by
  more than chance would give (at least 5 items and two standard deviations of a random walk,
  2 x sqrt(arrivals + departures)): one item more in than out is noise, not a growing queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from valuestream.errors import InputError
from valuestream.results import Result
from valuestream.streammap import MapVsData, compare, flow_path, map_figures

if TYPE_CHECKING:
    from valuestream.flow import Flow, Window
    from valuestream.model import Stream

STARVE_SHARE = 0.5
"""A step starves downstream when the next step is empty on at least this share of its busy days."""
MIN_STARVING_DAYS = 3
"""...and on at least this many days: one empty day while the stream fills up is not a pattern."""
DEFAULT_WINDOW_DAYS = 56
"""Arrivals and departures are compared over the last eight weeks: recent enough to be the
queue's present trend, long enough to hold several items."""


def _grows(arrivals: int, departures: int) -> bool:
    """Arrivals exceed departures by more than the noise of a random walk of that many moves."""
    excess = arrivals - departures
    return excess >= 5 and excess > 2 * math.sqrt(arrivals + departures)


def step_arrivals(flow: Flow, window: Window) -> pd.DataFrame:
    """Per step: visits that arrived into it and left it within the window."""
    return flow.step_arrivals(window)


def starvation(flow: Flow, order: list[str], window: Window | None = None) -> pd.DataFrame:
    """For each step and the next one in ``order``: days it held work while the next held none."""
    cfd = flow.cfd(window, by="step")
    if cfd.empty or len(order) < 2:
        return pd.DataFrame(
            columns=["step", "downstream", "days_with_work", "starving_days", "starve_share"]
        )
    wip = cfd.pivot_table(index="day", columns="step", values="items", aggfunc="sum").fillna(0)
    rows = []
    for up, down in zip(order, order[1:], strict=False):
        busy = wip[up] > 0 if up in wip else pd.Series(False, index=wip.index)
        idle = wip[down] == 0 if down in wip else pd.Series(True, index=wip.index)
        days = int(busy.sum())
        starving = int((busy & idle).sum())
        rows.append(
            {
                "step": up,
                "downstream": down,
                "days_with_work": days,
                "starving_days": starving,
                "starve_share": starving / days if days else 0.0,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ConstraintReport(Result):
    """Every step ranked as the likely constraint, with the evidence in numbers and plain words."""

    table: pd.DataFrame
    """rank, step, basis, wait_per_item, total_wait, wait_share, downstream, starving_days,
    days_with_work, starve_share, arrivals, departures, growing, evidence, reasons."""
    with_data: bool
    window: Window | None = None

    @property
    def constraint(self) -> str | None:
        """The step to circle, or None when nothing waits anywhere."""
        if self.table.empty or self.table.iloc[0]["evidence"] == 0:
            return None
        return str(self.table.iloc[0]["step"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "with_data": self.with_data,
            "window": None
            if self.window is None
            else {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "ranking": self.table.to_dict(orient="records"),
        }

    def explain(self) -> str:
        name = self.constraint
        if name is None:
            return (
                "No step shows waiting yet: add wait estimates to the map or import item histories."
            )
        top = self.table.iloc[0]
        text = [f"Circle '{name}': {top['reasons']}."]
        others = self.table.iloc[1:3]
        others = others[others["evidence"] > 0]
        for row in others.itertuples():
            text.append(f"Also watch '{row.step}': {row.reasons}.")
        if not self.with_data:
            text.append(
                "This comes from the map's estimates alone; import item histories to test it against the data."
            )
        return " ".join(text)

    def __rich__(self) -> str:
        return self.explain()


def find_constraint(
    stream: Stream | None = None,
    flow: Flow | None = None,
    *,
    window: Window | None = None,
    comparison: MapVsData | None = None,
) -> ConstraintReport:
    """Rank the steps as the likely constraint, from the map, the data, or both.

    With only a map, the evidence is the estimated wait per item. With data, measured waits replace
    the estimates of steps that have tracker states; wall-only steps keep their estimate, counted
    for every item in the stream; and starvation and arrivals come from the histories.
    """
    if stream is None and flow is None:
        raise InputError("name the constraint from a map, from data, or from both")
    if flow is None:
        assert stream is not None
        base = _from_map(stream)
        return _ranked(base, with_data=False, window=None)
    if window is None:
        window = flow.window(days=DEFAULT_WINDOW_DAYS)
        first = flow.window().start
        if first > window.start:
            window = flow.window(first, window.end)
    base = _from_data(stream, flow, comparison)
    # Starving is only meaningful downstream along the way work goes: the path most items take
    # through the steps (the map's steps where the stream file groups states), never between
    # alternatives or detours, whether the map was drawn on the wall or discovered.
    starve = starvation(flow, flow_path(flow)[0])
    arrivals = step_arrivals(flow, window)
    base = base.merge(starve, on="step", how="left").merge(arrivals, on="step", how="left")
    return _ranked(base, with_data=True, window=window)


def _from_map(stream: Stream) -> pd.DataFrame:
    fig = map_figures(stream).table
    return pd.DataFrame(
        {"step": fig["step"], "basis": "estimate", "wait_per_item": fig["wait"], "total_wait": None}
    )


def _from_data(stream: Stream | None, flow: Flow, comparison: MapVsData | None) -> pd.DataFrame:
    if stream is not None:
        cmp = comparison if comparison is not None else compare(stream, flow)
        t = cmp.table
        n = cmp.items
        measured = t["basis"] != "estimate"
        per_item = t["wait_mean"].where(measured, t["est_wait"])
        # A wall-only step delays every item in the stream by its estimate.
        total = t["wait_total"].where(measured, t["est_wait"] * n)
        return pd.DataFrame(
            {
                "step": t["step"],
                "basis": t["basis"],
                "wait_per_item": per_item.astype(float),
                "total_wait": total.astype(float),
            }
        )
    # Every step the data shows, also one whose items are all still in it (no wait measured yet,
    # but it can starve the next step): the same steps a map drawn from the data ranks.
    m = flow.steps(by="step")
    return pd.DataFrame(
        {
            "step": m["step"],
            "basis": "measured",
            "wait_per_item": m["wait_mean_days"].where(m["items"] > 0),
            "total_wait": m["total_wait_days"],
        }
    )


def _ranked(df: pd.DataFrame, *, with_data: bool, window: Window | None) -> ConstraintReport:
    df = df.copy()
    for col in (
        "downstream",
        "starving_days",
        "days_with_work",
        "starve_share",
        "arrivals",
        "departures",
    ):
        if col not in df:
            df[col] = None
    # "Share of all waiting" is one figure: with data, of the item-days waited in all steps (the
    # share Flow.steps gives); from the map alone, of the expected wait per item.
    share_of = df["total_wait"].astype(float) if with_data else df["wait_per_item"].astype(float)
    total = float(share_of.fillna(0).sum())
    df["wait_share"] = share_of.fillna(0) / total if total > 0 else 0.0
    top_item = df["wait_per_item"].fillna(0).max()
    top_total = df["total_wait"].astype(float).fillna(0).max() if with_data else 0
    reasons_col, evidence_col, growing_col = [], [], []
    for row in df.itertuples():
        reasons: list[str] = []
        wait = float(row.wait_per_item) if pd.notna(row.wait_per_item) else 0.0
        # which figure the wait is: measured, the mean over the items that have left the step
        # (Flow.steps' wait_mean_days); else the map's estimate
        which = " (estimate)" if row.basis == "estimate" else " on average"
        if wait > 0 and wait == top_item:
            reasons.append(
                f"the longest queue: items wait {wait:.1f} days here{which}, {row.wait_share:.0%} of all waiting"
            )
        if (
            with_data
            and pd.notna(row.total_wait)
            and top_total > 0
            and float(row.total_wait) == top_total
        ):
            reasons.append(
                f"the most waiting across items: {float(row.total_wait):.0f} item-days"
                + (" (estimate)" if row.basis == "estimate" else "")
            )
        if (
            pd.notna(row.starve_share)
            and row.days_with_work
            and float(row.starve_share) >= STARVE_SHARE
            and int(row.starving_days) >= MIN_STARVING_DAYS
        ):
            reasons.append(
                f"it starves '{row.downstream}': on {int(row.starving_days)} of the {int(row.days_with_work)} days it held work, '{row.downstream}' had none"
            )
        growing = bool(
            pd.notna(row.arrivals)
            and pd.notna(row.departures)
            and _grows(int(row.arrivals), int(row.departures))
        )
        if growing:
            reasons.append(
                f"its queue is growing: {int(row.arrivals)} items arrived and {int(row.departures)} left in the window"
            )
        evidence_col.append(len(reasons))
        growing_col.append(growing)
        if not reasons and wait > 0:
            reasons.append(
                f"items wait {wait:.1f} days here{which}, {row.wait_share:.0%} of all waiting"
            )
        reasons_col.append("; ".join(reasons))
    df["growing"] = growing_col
    df["evidence"] = evidence_col
    df["reasons"] = reasons_col
    df["_total"] = df["total_wait"].astype(float).fillna(0) if with_data else 0.0
    df = df.sort_values(
        ["evidence", "_total", "wait_per_item"], ascending=False, kind="stable", na_position="last"
    )
    df = df.drop(columns=["_total"]).reset_index(drop=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    cols = [
        "rank", "step", "basis", "wait_per_item", "total_wait", "wait_share", "downstream",
        "starving_days", "days_with_work", "starve_share", "arrivals", "departures", "growing",
        "evidence", "reasons",
    ]  # fmt: skip
    return ConstraintReport(table=df[cols], with_data=with_data, window=window)


__all__ = ["ConstraintReport", "find_constraint", "starvation", "step_arrivals"]
