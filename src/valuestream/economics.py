"""Cost of delay: what each queue costs, what shortening it is worth, and CD3 for candidate items.

Pure functions over tables (no I/O). Definitions (DESIGN.md, "Cost of delay"):

- the **delay cost of a queue** over a period = sum over items of (weeks waited in that queue x the
  item's cost of delay per week), with each item's figure from its type (``CostOfDelay.for_type``);
- **shortening a queue by d days** is worth about ``d / 7 x CoD x items per week`` through it, *if*
  it shortens lead time: time cut at a non-constraint may just move the wait elsewhere, which the
  simulation shows (``valuestream simulate``);
- **CD3** = cost of delay / duration: do first the item that loses most per week of its own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from valuestream.errors import InputError
from valuestream.model import CostOfDelay
from valuestream.results import Result

DAYS_PER_WEEK = 7.0
"""Time in these roles is waiting: the part of lead time that a queue costs."""


# The columns of a queue-cost table, from the data or from the map alike.
QUEUE_COST_COLUMNS = (
    "queue",
    "items",
    "wait_days",
    "mean_wait_days",
    "cost",
    "cost_per_week",
    "items_per_week",
    "value_per_day_shorter_per_week",
)


def shortening_value(days: Any, cod_per_week: Any, items_per_week: Any) -> Any:
    """Money per week saved by cutting ``days`` off every item's lead time: d/7 x CoD x items/week.

    Works on numbers or numpy arrays alike (one value per replication, say).
    """
    return days / DAYS_PER_WEEK * cod_per_week * items_per_week


def cod_per_item(cod: CostOfDelay, types: pd.Series | None = None) -> float:
    """The average cost of delay per item per week: by type over the items given, else the one figure."""
    if types is not None and len(types) and cod.by_type:
        return float(np.mean([cod.for_type(t if isinstance(t, str) else None) for t in types]))
    if cod.per_week is not None:
        return cod.per_week
    return float(np.mean(list(cod.by_type.values())))


@dataclass(frozen=True)
class QueueCosts(Result):
    """The delay cost of each queue over a period; ``table`` has one row per queue, costliest first."""

    table: pd.DataFrame
    currency: str
    weeks: float

    def explain(self) -> str:
        if self.table.empty:
            return "No waiting time in the period, so no delay cost."
        top = self.table.iloc[0]
        total = self.table["cost"].sum()
        return (
            f"Over {self.weeks:.1f} weeks, waiting cost {self.currency} {total:,.0f} in delay. The costliest queue is "
            f"'{top['queue']}' at {self.currency} {top['cost']:,.0f} ({top['cost'] / total:.0%}); a day shorter there "
            f"would be worth about {self.currency} {top['value_per_day_shorter_per_week']:,.0f} per week, if it shortens lead time."
        )

def queue_costs(
    time_in: pd.DataFrame,
    items: pd.DataFrame,
    cod: CostOfDelay,
    *,
    weeks: float,
    by: str = "step",
) -> QueueCosts:
    """Delay cost per queue: ``Flow.time_in`` rows (item, <by>, wait_days), their wait priced per item.

    The wait is flow's: time in wait, blocked and unmapped states, and flagged time in touch states.

    ``items`` gives each item's ``type`` (missing types take the stream's single figure); ``weeks``
    is the period's length, to turn totals into items and value per week.
    """
    if weeks <= 0:
        raise InputError("the period must be longer than zero weeks")
    for col in ("item", by, "wait_days"):
        if col not in time_in.columns:
            raise InputError(f"time-in rows need a '{col}' column")
    waits = time_in[time_in["wait_days"] > 0]
    types = items.set_index("item")["type"] if "type" in items.columns else pd.Series(dtype=object)
    item_type = waits["item"].map(types)
    per_week = np.array(
        [cod.for_type(t if isinstance(t, str) else None) for t in item_type], dtype=float
    )
    df = waits.assign(cod=per_week, cost=waits["wait_days"].to_numpy() / DAYS_PER_WEEK * per_week)
    grouped = df.groupby(by, sort=False).agg(
        items=("item", "nunique"),
        wait_days=("wait_days", "sum"),
        cost=("cost", "sum"),
        cod=("cod", "mean"),
    )
    out = grouped.reset_index().rename(columns={by: "queue"})
    out["mean_wait_days"] = out["wait_days"] / out["items"]
    out["items_per_week"] = out["items"] / weeks
    out["cost_per_week"] = out["cost"] / weeks
    out["value_per_day_shorter_per_week"] = [
        shortening_value(1.0, c, n) for c, n in zip(out["cod"], out["items_per_week"], strict=True)
    ]
    out = out.sort_values("cost", ascending=False, kind="stable").reset_index(drop=True)
    return QueueCosts(out[list(QUEUE_COST_COLUMNS)], cod.currency, weeks)


def map_queue_costs(
    waits: pd.DataFrame, cod_per_week: float, items_per_week: float, currency: str = "EUR"
) -> QueueCosts:
    """Delay cost per week from the map: ``waits`` rows (queue, mean_wait_days) for steady flow."""
    out = waits[["queue", "mean_wait_days"]].copy()
    out = out[out["mean_wait_days"] > 0]
    out["items"] = items_per_week
    out["wait_days"] = out["mean_wait_days"] * items_per_week
    out["cost"] = [shortening_value(d, cod_per_week, items_per_week) for d in out["mean_wait_days"]]
    out["cost_per_week"] = out["cost"]
    out["items_per_week"] = items_per_week
    out["value_per_day_shorter_per_week"] = shortening_value(1.0, cod_per_week, items_per_week)
    out = out.sort_values("cost", ascending=False, kind="stable").reset_index(drop=True)
    return QueueCosts(out[list(QUEUE_COST_COLUMNS)], currency, 1.0)


@dataclass(frozen=True)
class CD3(Result):
    """Candidate items ranked by CD3 = cost of delay per week / duration in weeks, highest first."""

    table: pd.DataFrame
    currency: str

    def explain(self) -> str:
        if self.table.empty:
            return "No candidate items."
        top = self.table.iloc[0]
        return (
            f"Do '{top['item']}' first: it loses {self.currency} {top['cost_of_delay']:,.0f} per week of delay and takes "
            f"{top['duration_weeks']:.1f} weeks, a CD3 of {top['cd3']:,.0f}."
        )

def cd3(candidates: pd.DataFrame, cod: CostOfDelay | None = None) -> CD3:
    """Rank candidate items by CD3.

    Columns: ``item`` (or ``name``), ``cost_of_delay`` (money per week; or ``type`` to take the
    stream's figure for it), and ``duration_weeks`` or ``duration_days``.
    """
    df = candidates.copy()
    df.columns = [str(c).strip().casefold() for c in df.columns]
    if "item" not in df.columns and "name" in df.columns:
        df = df.rename(columns={"name": "item"})
    if "item" not in df.columns:
        raise InputError("candidate items need an 'item' (or 'name') column", column="item")
    if "duration_weeks" in df.columns:
        duration = pd.to_numeric(df["duration_weeks"], errors="coerce")
        col = "duration_weeks"
    elif "duration_days" in df.columns:
        duration = pd.to_numeric(df["duration_days"], errors="coerce") / DAYS_PER_WEEK
        col = "duration_days"
    else:
        raise InputError("candidate items need a 'duration_weeks' or 'duration_days' column")
    if "cost_of_delay" in df.columns:
        money = pd.to_numeric(df["cost_of_delay"], errors="coerce")
        money_col = "cost_of_delay"
    elif "type" in df.columns and cod is not None:
        money = pd.Series(
            [cod.for_type(t if isinstance(t, str) else None) for t in df["type"]], index=df.index
        )
        money_col = "type"
    else:
        raise InputError(
            "candidate items need a 'cost_of_delay' column (per week), or a 'type' and the stream's cost_of_delay"
        )
    for i in df.index:
        row = int(i) + 1
        if not np.isfinite(duration[i]) or duration[i] <= 0:
            raise InputError(
                f"the duration must be a number above zero, not '{df.at[i, col]}'",
                row=row,
                column=col,
            )
        if not np.isfinite(money[i]) or money[i] < 0:
            raise InputError(
                f"the cost of delay must be a number of money per week, not '{df.at[i, money_col]}'",
                row=row,
                column=money_col,
            )
    out = pd.DataFrame(
        {
            "item": df["item"].astype(str),
            "cost_of_delay": money.astype(float),
            "duration_weeks": duration.astype(float),
        }
    )
    out["cd3"] = out["cost_of_delay"] / out["duration_weeks"]
    out = out.sort_values("cd3", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return CD3(out, cod.currency if cod else "EUR")
