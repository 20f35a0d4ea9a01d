"""What-if simulation of the stream as a queueing network, priced through cost of delay.

::

    from valuestream.simulate import compare, experiments, from_stream, parse_change

    net = from_stream(load_stream("stream.yaml"), arrivals_per_week=5)
    result = compare(net, [parse_change("release: daily")], cod_per_week=2000)
    result.explain()      # before vs after, and the money per week the change is worth
    experiments(net, cod_per_week=2000).explain()   # the default candidates, ranked by value

Before and after share their seeds (common random numbers), so the difference between them has a
much tighter confidence interval than either figure alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from valuestream.economics import shortening_value
from valuestream.results import Result
from valuestream.simulate.build import from_flow, from_stream
from valuestream.simulate.engine import (
    DAYS_PER_WEEK,
    MEASURES,
    Dist,
    Loop,
    Network,
    Progress,
    SimResult,
    Station,
    UnstableError,
    interval,
    simulate,
    stability,
    utilisation,
    visits,
)
from valuestream.simulate.policies import (
    SYNTAX,
    Change,
    apply_changes,
    candidate_for,
    candidates,
    parse_change,
    parse_changes,
)

__all__ = [
    "SYNTAX",
    "Change",
    "Comparison",
    "Dist",
    "Experiments",
    "Loop",
    "Network",
    "SimResult",
    "Station",
    "UnstableError",
    "apply_changes",
    "candidate_for",
    "candidates",
    "compare",
    "experiments",
    "from_flow",
    "from_stream",
    "parse_change",
    "parse_changes",
    "simulate",
    "stability",
    "utilisation",
    "visits",
]


@dataclass(frozen=True)
class Comparison(Result):
    """Before vs after one or more changes, with paired 95% CIs and the value per week."""

    before: SimResult
    after: SimResult
    changes: tuple[Change, ...]
    cod_per_week: float | None
    currency: str = "EUR"

    def _paired(self, name: str) -> tuple[float, float, float]:
        return interval(self.after.runs[name].to_numpy() - self.before.runs[name].to_numpy())

    @property
    def days_saved(self) -> tuple[float, float, float]:
        """Mean lead time cut per item (days), with its 95% CI."""
        mean, low, high = self._paired("lead_mean")
        return (-mean, -high, -low)

    @property
    def value_per_week(self) -> tuple[float, float, float] | None:
        """Money per week: days saved / 7 x cost of delay x items per week, per paired replication."""
        if self.cod_per_week is None:
            return None
        saved = self.before.runs["lead_mean"].to_numpy() - self.after.runs["lead_mean"].to_numpy()
        per_week = self.before.runs["throughput_per_week"].to_numpy()
        return interval(np.atleast_1d(shortening_value(saved, self.cod_per_week, per_week)))

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for key, label in MEASURES.items():
            b, a, d = self.before.ci(key), self.after.ci(key), self._paired(key)
            rows.append(
                {
                    "measure": label,
                    "before": b[0],
                    "before_low": b[1],
                    "before_high": b[2],
                    "after": a[0],
                    "after_low": a[1],
                    "after_high": a[2],
                    "change": d[0],
                    "change_low": d[1],
                    "change_high": d[2],
                }
            )
        return pd.DataFrame(rows)

    def explain(self) -> str:
        what = "; ".join(c.text for c in self.changes)
        saved, lo, hi = self.days_saved
        b, a = self.before.ci("lead_mean")[0], self.after.ci("lead_mean")[0]
        text = f"With '{what}', the mean lead time goes from {b:.1f} to {a:.1f} days: {saved:.1f} days shorter (95% CI {lo:.1f} to {hi:.1f})."
        value = self.value_per_week
        if value is not None:
            text += (
                f" At {self.currency} {self.cod_per_week:,.0f} cost of delay per item-week and "
                f"{self.before.ci('throughput_per_week')[0]:.1f} items a week, that is worth about {self.currency} "
                f"{value[0]:,.0f} per week (95% CI {value[1]:,.0f} to {value[2]:,.0f})."
            )
        if lo <= 0 <= hi:
            text += " The simulation cannot tell this change from no change: it does not shorten lead time."
        return text

def compare(
    net: Network,
    changes: Sequence[Change],
    *,
    cod_per_week: float | None = None,
    currency: str = "EUR",
    items: int = 20_000,
    replications: int = 5,
    seed: int = 1,
    progress: Progress | None = None,
    before: SimResult | None = None,
) -> Comparison:
    """Simulate the network as it is and with ``changes`` applied, on the same seeds."""
    changed = apply_changes(net, changes)
    if before is None:
        before = simulate(net, items=items, replications=replications, seed=seed, progress=progress)
    after = simulate(changed, items=items, replications=replications, seed=seed, progress=progress)
    return Comparison(before, after, tuple(changes), cod_per_week, currency)


def _step_of(change: Change, net: Network) -> str:
    if change.target is not None:
        return net.stations[net.index(change.target)].name
    gates = [s.name for s in net.stations if s.batch_every is not None]
    return ", ".join(gates) if gates else "(stream)"


@dataclass(frozen=True)
class Experiments(Result):
    """Candidate changes ranked by the lead time they save (and its value), with the constraint named."""

    table: pd.DataFrame
    constraint: str
    before: SimResult
    currency: str = "EUR"

    @property
    def top(self) -> pd.Series:
        return self.table.iloc[0]

    def explain(self) -> str:
        if self.table.empty:
            return "No candidate changes to try."
        top = self.top
        worth = (
            f", worth about {self.currency} {top['value_per_week']:,.0f} per week"
            if np.isfinite(top.get("value_per_week", np.nan))
            else ""
        )
        waiting = self.before.steps.set_index("step")["waiting_days"]
        text = (
            f"The constraint is '{self.constraint}' (simulated wait there: "
            f"{waiting.get(self.constraint, float('nan')):.1f} days per item, averaged over all items). "
            f"The best single change is '{top['change']}': {top['days_saved']:.1f} days off the mean lead time{worth}."
        )
        at_constraint = self.table[self.table["at_constraint"]]
        if top["at_constraint"]:
            text += " It is the constraint's change, as it should be: shortening the constraint's queue shortens the stream."
        elif len(at_constraint):
            row = at_constraint.iloc[0]
            text += (
                f" The constraint's own candidate, '{row['change']}', ranks {int(row['rank'])}: "
                "the top change does more here, so try it first."
            )
        flat = self.table[self.table["days_saved_high"] <= 0]
        if len(flat):
            text += f" {len(flat)} change(s) do not shorten lead time at all: {', '.join(flat['change'])}."
        return text

def experiments(
    net: Network,
    changes: Sequence[Change] | None = None,
    *,
    cod_per_week: float | None = None,
    currency: str = "EUR",
    items: int = 20_000,
    replications: int = 5,
    seed: int = 1,
    progress: Progress | None = None,
    constraint: str | None = None,
) -> Experiments:
    """Simulate each candidate change on its own (default: one per step plus the release cadence).

    ``constraint`` names the constraint as :func:`valuestream.constraint.find_constraint` found it
    from the map and the data; without it, the step where simulated items wait longest is taken.
    """
    defaults = changes is None
    changes = list(candidates(net) if changes is None else changes)
    before = simulate(net, items=items, replications=replications, seed=seed)
    if constraint is None or constraint not in {s.name for s in net.stations}:
        constraint = before.constraint()
    if defaults and not any(constraint in _step_of(c, net).split(", ") for c in changes):
        # The named constraint always has a candidate of its own, whatever its kind.
        own = candidate_for(net, constraint)
        if own is not None:
            changes.append(own)
    rows = []
    for k, change in enumerate(changes):
        step = _step_of(change, net)
        row: dict[str, Any] = {
            "change": change.text,
            "step": step,
            "at_constraint": constraint in step.split(", "),
        }
        try:
            result = compare(
                net,
                [change],
                cod_per_week=cod_per_week,
                currency=currency,
                items=items,
                replications=replications,
                seed=seed,
                before=before,
            )
        except UnstableError as exc:
            row.update(
                days_saved=-np.inf,
                days_saved_low=-np.inf,
                days_saved_high=-np.inf,
                lead_after=np.inf,
                value_per_week=np.nan,
                note=str(exc),
            )
        else:
            saved, lo, hi = result.days_saved
            value = result.value_per_week
            row.update(
                days_saved=saved,
                days_saved_low=lo,
                days_saved_high=hi,
                lead_after=result.after.ci("lead_mean")[0],
                value_per_week=value[0] if value else np.nan,
                note="",
            )
        rows.append(row)
        if progress:
            progress(k + 1, len(changes))
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("days_saved", ascending=False, kind="stable").reset_index(
            drop=True
        )
        table.insert(0, "rank", range(1, len(table) + 1))
    return Experiments(table, constraint, before, currency)


def items_per_week(net: Network) -> float:
    return net.rate * DAYS_PER_WEEK
