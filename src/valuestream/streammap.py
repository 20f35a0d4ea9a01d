"""The map's own figures, the map beside the data, and a map discovered from the data alone.

Small frozen result objects with ``.table`` and ``.explain()`` (and ``.chart()`` where a picture helps):

- :func:`map_figures`: expected touch, wait and lead time per step and in total, from the workshop
  estimates alone (rework loops and release gates counted), with low/high totals from ranges;
- :func:`compare`: each step's measured touch and wait (median, 85th percentile, items) beside
  its estimate, flagged when they disagree by more than a chosen factor;
- :func:`discover`: the steps the data shows, in their usual order, and the rework paths taken;
- :func:`complete_and_accurate`: %C&A per step and rolled over the stream, from the rework loops
  and, with data, from the moves items made.

How rework is counted: a loop sends a share ``p`` of the items leaving its ``from`` step back to
its ``to`` step, on every pass. The stream is then an absorbing Markov chain whose expected
number of visits to each step is the first row of ``(I - Q)^-1`` (the fundamental matrix). For one
loop that is ``1 / (1 - p)`` for every step the loop spans; for nested loops the factors multiply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from valuestream.errors import InputError
from valuestream.model import Estimate, Step, Stream
from valuestream.results import Result

if TYPE_CHECKING:
    from valuestream.flow import Flow

DEFAULT_FACTOR = 2.0
# Differences under an hour are not a disagreement a room needs to discuss; this floor also keeps
# a zero estimate against a few minutes of data from reading as "infinitely" off.
RATIO_FLOOR_DAYS = 1 / 24


# -- the map alone --------------------------------------------------------------------------


def expected_visits(stream: Stream) -> dict[str, float]:
    """How many times an item is expected to pass through each step, rework loops counted."""
    names = [s.name for s in stream.steps]
    n = len(names)
    if n == 0:
        return {}
    index = {name: i for i, name in enumerate(names)}
    back = np.zeros((n, n))
    for loop in stream.rework:
        back[index[loop.from_step], index[loop.to_step]] += loop.share
    leaving_back = back.sum(axis=1)
    for i in np.flatnonzero(leaving_back >= 1 - 1e-9):
        # Every item would go back for ever: the stream never finishes.
        raise InputError(
            f"rework shares leaving '{names[i]}' add up to {leaving_back[i]:.0%}; they must stay below 100%"
        )
    # Q: transitions between transient states (the steps); the rest of each row leaves forward.
    q = back.copy()
    for step in range(n - 1):
        q[step, step + 1] += 1 - leaving_back[step]
    fundamental_row = np.linalg.solve((np.eye(n) - q).T, np.eye(n)[0])
    out = {name: float(v) for name, v in zip(names, fundamental_row, strict=True)}
    # A measured pass count is a fact about the step, not a loop to compound.
    out.update({s.name: float(s.visits) for s in stream.steps if s.visits is not None})
    return out


def _est(e: Estimate | None) -> tuple[float, float, float]:
    """(expected, low, high) days of one estimate; a missing estimate counts as 0."""
    if e is None:
        return 0.0, 0.0, 0.0
    return e.expected, e.low, e.high


def gate_wait(step: Step) -> float:
    """The average wait a batching release gate adds: half its cadence (items arrive uniformly)."""
    return step.batch_every_days / 2 if step.batch_every_days else 0.0


@dataclass(frozen=True)
class MapFigures(Result):
    """Expected touch, wait and lead time of a mapped stream, per step and in total."""

    stream: Stream
    table: pd.DataFrame
    """One row per step: step, kind, owner, visits, touch/wait/lead (expected, low, high), gate_wait,
    wait_share, estimated (wall figures), missing (which estimates the wall lacks)."""
    totals: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        rows = self.table.to_dict(orient="records")
        return {"name": self.stream.name, "steps": rows, "totals": dict(self.totals)}

    def explain(self) -> str:
        t = self.totals
        if not len(self.table):
            return "The map has no steps yet."
        top = self.table.sort_values("wait", ascending=False).iloc[0]
        parts = [
            f"From the map, an item is expected to take {t['lead']:.1f} days from start to finish"
            + (
                f" (between {t['lead_low']:.1f} and {t['lead_high']:.1f} days given the ranges)"
                if t["lead_high"] > t["lead_low"]
                else ""
            )
            + f": {t['touch']:.1f} days of work and {t['wait']:.1f} days of waiting.",
            f"Flow efficiency is {t['flow_efficiency']:.0%}." if t["lead"] > 0 else "",
        ]
        if t["wait"] > 0:
            parts.append(
                f"The longest wait is at '{top['step']}': {top['wait']:.1f} days, {top['wait_share']:.0%} of all waiting."
            )
        gates = self.table[self.table["gate_wait"] > 0]
        for row in gates.itertuples():
            parts.append(
                f"The release gate '{row.step}' adds {row.gate_wait:.1f} days on average by batching."
            )
        loops = self.table[self.table["visits"] > 1 + 1e-9]
        if len(loops):
            parts.append(
                "Rework makes items pass "
                + ", ".join(f"'{r.step}' {r.visits:.2f} times" for r in loops.itertuples())
                + "."
            )
        missing = self.table[self.table["missing"] != ""]
        if len(missing):
            parts.append(
                "No estimate yet for: "
                + "; ".join(f"{r.step} ({r.missing})" for r in missing.itertuples())
                + " (counted as 0)."
            )
        return " ".join(p for p in parts if p)

def map_figures(stream: Stream) -> MapFigures:
    """Expected touch, wait and lead time per step and in total, from the map's estimates alone."""
    visits = expected_visits(stream)
    rows = []
    for step in stream.steps:
        v = visits[step.name]
        touch, touch_lo, touch_hi = _est(step.touch_days)
        wait, wait_lo, wait_hi = _est(step.wait_days)
        gate = gate_wait(step)
        missing = [
            what
            for what, e in (("touch", step.touch_days), ("wait", step.wait_days))
            if e is None and not (what == "wait" and gate)
        ]
        rows.append(
            {
                "step": step.name,
                "kind": step.kind.value,
                "owner": step.owner,
                "visits": v,
                "touch": v * touch,
                "wait": v * (wait + gate),
                "touch_low": v * touch_lo,
                "touch_high": v * touch_hi,
                "wait_low": v * (wait_lo + gate),
                "wait_high": v * (wait_hi + gate),
                "gate_wait": v * gate,
                "batch_every_days": step.batch_every_days,
                "has_states": bool(step.states),
                "missing": ", ".join(missing),
            }
        )
    cols = [
        "step", "kind", "owner", "visits", "touch", "wait", "lead", "touch_low", "touch_high",
        "wait_low", "wait_high", "lead_low", "lead_high", "gate_wait", "wait_share",
        "batch_every_days", "has_states", "missing",
    ]  # fmt: skip
    df = pd.DataFrame(
        rows, columns=[c for c in cols if c not in ("lead", "lead_low", "lead_high", "wait_share")]
    )
    df["lead"] = df["touch"] + df["wait"]
    df["lead_low"] = df["touch_low"] + df["wait_low"]
    df["lead_high"] = df["touch_high"] + df["wait_high"]
    total_wait = float(df["wait"].sum())
    df["wait_share"] = df["wait"] / total_wait if total_wait > 0 else 0.0
    df = df[cols]
    totals = _totals(df)
    return MapFigures(stream=stream, table=df, totals=totals)


def _totals(df: pd.DataFrame) -> dict[str, float]:
    t = {
        k: float(df[k].sum())
        for k in (
            "touch",
            "wait",
            "lead",
            "touch_low",
            "touch_high",
            "wait_low",
            "wait_high",
            "lead_low",
            "lead_high",
            "gate_wait",
        )
    }
    t["flow_efficiency"] = t["touch"] / t["lead"] if t["lead"] > 0 else 0.0
    # Efficiency rises with touch and falls with wait, so its extremes pair opposite ends.
    lo_den = t["touch_low"] + t["wait_high"]
    hi_den = t["touch_high"] + t["wait_low"]
    t["flow_efficiency_low"] = t["touch_low"] / lo_den if lo_den > 0 else 0.0
    t["flow_efficiency_high"] = t["touch_high"] / hi_den if hi_den > 0 else 0.0
    return t


# -- the map meets the data -------------------------------------------------------------------

# The names the map uses for flow's per-step figures (the same numbers, in map vocabulary).
_MAP_NAMES = {
    "touch_p50_days": "touch_p50", "touch_p85_days": "touch_p85", "touch_mean_days": "touch_mean",
    "wait_p50_days": "wait_p50", "wait_p85_days": "wait_p85", "wait_mean_days": "wait_mean",
    "total_wait_days": "wait_total",
}  # fmt: skip


def measured_step_times(flow: Flow) -> pd.DataFrame:
    """Per step the data knows (``Flow.steps``): items that left it, touch and wait, total wait."""
    steps = flow.steps(by="step").rename(columns=_MAP_NAMES)
    # A step no item has left yet has no time to measure (its items are still in it).
    steps = steps[steps["items"] > 0].reset_index(drop=True)
    return steps[["step", "items", "states", *_MAP_NAMES.values(), "wait_share"]]


def _ratio(measured: float | None, estimate: float) -> float | None:
    if measured is None or pd.isna(measured):
        return None
    return (float(measured) + RATIO_FLOOR_DAYS) / (estimate + RATIO_FLOOR_DAYS)


@dataclass(frozen=True)
class MapVsData(Result):
    """Each step's estimate beside what the data measured, with disagreements flagged."""

    figures: MapFigures
    table: pd.DataFrame
    """One row per step (map steps in map order, then steps only the data has): step, basis
    (measured, estimate, data only), estimated touch/wait, items, measured touch/wait p50 and p85,
    ratios (measured median / estimate) and flag."""
    factor: float = DEFAULT_FACTOR
    items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "items": self.items,
            "steps": self.table.to_dict(orient="records"),
        }

    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flag"]]

    def explain(self) -> str:
        t = self.table
        parts = [
            f"{int((t['basis'] == 'measured').sum())} of {int((t['basis'] != 'data only').sum())} mapped steps have data."
        ]
        wall = t[t["basis"] == "estimate"]
        if len(wall):
            parts.append("Only on the wall (estimates kept): " + ", ".join(wall["step"]) + ".")
        extra = t[t["basis"] == "data only"]
        if len(extra):
            parts.append("In the data but not on the map: " + ", ".join(extra["step"]) + ".")
        flagged = self.flagged()
        if len(flagged):
            parts.append(
                f"Estimate and data disagree by more than {self.factor:g}x at: "
                + "; ".join(f"{r.step} ({r.note})" for r in flagged.itertuples())
                + "."
            )
        else:
            parts.append(f"Where both exist, estimates and data agree within {self.factor:g}x.")
        return " ".join(parts)

def compare(stream: Stream, flow: Flow, *, factor: float = DEFAULT_FACTOR) -> MapVsData:
    """Set each step's estimate beside its measured touch and wait; flag disagreements over ``factor``."""
    if factor <= 1:
        raise InputError(f"the disagreement factor must be above 1, not {factor:g}")
    figures = map_figures(stream)
    measured = measured_step_times(flow).set_index("step")
    n_items = flow.item_count()
    rows: list[dict[str, Any]] = []
    for est in figures.table.itertuples():
        m = measured.loc[est.step] if est.has_states and est.step in measured.index else None
        rows.append(_compare_row(est.step, est.kind, est.owner, est.touch, est.wait, m, factor))
    mapped = set(figures.table["step"])
    for name, m in measured.iterrows():
        if name not in mapped:
            rows.append(_compare_row(str(name), None, None, None, None, m, factor))
    return MapVsData(figures=figures, table=pd.DataFrame(rows), factor=factor, items=n_items)


def _compare_row(
    step: str,
    kind: str | None,
    owner: str | None,
    est_touch: float | None,
    est_wait: float | None,
    m: pd.Series | None,
    factor: float,
) -> dict[str, Any]:
    basis = (
        "measured"
        if m is not None and est_touch is not None
        else ("data only" if m is not None else "estimate")
    )
    row: dict[str, Any] = {
        "step": step,
        "kind": kind,
        "owner": owner,
        "basis": basis,
        "est_touch": est_touch,
        "est_wait": est_wait,
    }
    for col in (
        "items",
        "touch_p50",
        "touch_p85",
        "wait_p50",
        "wait_p85",
        "wait_mean",
        "wait_total",
    ):
        row[col] = None if m is None else (int(m[col]) if col == "items" else float(m[col]))
    row["items"] = row["items"] or 0
    notes = []
    row["touch_ratio"] = row["wait_ratio"] = None
    if basis == "measured":
        assert est_touch is not None and est_wait is not None
        row["touch_ratio"] = _ratio(row["touch_p50"], est_touch)
        row["wait_ratio"] = _ratio(row["wait_p50"], est_wait)
        for what, r in (("touch", row["touch_ratio"]), ("wait", row["wait_ratio"])):
            if r is not None and (r > factor or r < 1 / factor):
                notes.append(
                    f"{what} measured {r:.1f}x the estimate"
                    if r > 1
                    else f"{what} measured {1 / r:.1f}x below the estimate"
                )
    elif basis == "estimate":
        notes.append("estimate only: no tracker state")
    else:
        notes.append("not on the map")
    row["flag"] = basis == "measured" and len(notes) > 0
    row["note"] = "; ".join(notes)
    return row


# -- quality: complete and accurate ------------------------------------------------------------


@dataclass(frozen=True)
class CompleteAccurate:
    """%C&A per step and rolled over the stream, as Martin and Osterling's value stream mapping
    defines them: the share of a step's output that the next step accepts as it comes, without
    sending it back, and the product of those shares (the share of items that pass the whole
    stream without a single return).

    Estimated from the map's rework loops (a loop from the next step sends that share back);
    measured from the data's moves between steps (backward moves out of the next step over all
    moves out of it), where the next step has tracker states.
    """

    table: pd.DataFrame
    """One row per step: step, judged_by (the next step, None for the last), sent_back_estimated,
    estimated, sent_back_measured, measured (None where no figure exists)."""
    rolled_estimated: float
    rolled_measured: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.table.to_dict(orient="records"),
            "rolled_estimated": self.rolled_estimated,
            "rolled_measured": self.rolled_measured,
        }

    def explain(self) -> str:
        if not len(self.table):
            return "The map has no steps yet."
        text = (
            f"Rolled %C&A from the map: {self.rolled_estimated:.0%} of items pass every step "
            "without being sent back"
        )
        if self.rolled_measured is not None:
            text += f"; the data says {self.rolled_measured:.0%}"
        text += "."
        worst = self.table.dropna(subset=["estimated"]).sort_values("estimated").head(1)
        if len(worst) and float(worst["estimated"].iloc[0]) < 1:
            r = worst.iloc[0]
            text += (
                f" Lowest: '{r['step']}' ({float(r['estimated']):.0%} accepted by '{r['judged_by']}')."
            )
        return text


def _product(values: list[float]) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def complete_and_accurate(stream: Stream, flow: Flow | None = None) -> CompleteAccurate:
    """%C&A of each step (estimated from the rework loops, measured from ``flow``) and rolled %C&A.

    The last step's customer is outside the map: it has no figure and counts as 1 in the product.
    """
    names = [s.name for s in stream.steps]
    back_est: dict[str, float] = {}
    for loop in stream.rework:
        back_est[loop.from_step] = back_est.get(loop.from_step, 0.0) + loop.share
    out_of: dict[str, float] = {}
    back_out: dict[str, float] = {}
    if flow is not None:
        moves = flow.step_moves()
        out_of = moves.groupby("from_step")["moves"].sum().astype(float).to_dict()
        back_out = (
            moves[moves["backward"].astype(bool)]
            .groupby("from_step")["moves"].sum().astype(float).to_dict()
        )
    with_states = {s.name for s in stream.steps if s.states}
    rows = []
    for i, name in enumerate(names):
        judge = names[i + 1] if i + 1 < len(names) else None
        row: dict[str, Any] = {
            "step": name, "judged_by": judge, "sent_back_estimated": None, "estimated": None,
            "sent_back_measured": None, "measured": None,
        }  # fmt: skip
        if judge is not None:
            row["sent_back_estimated"] = back_est.get(judge, 0.0)
            row["estimated"] = 1.0 - row["sent_back_estimated"]
            if judge in with_states and out_of.get(judge, 0.0) > 0:
                row["sent_back_measured"] = back_out.get(judge, 0.0) / out_of[judge]
                row["measured"] = 1.0 - row["sent_back_measured"]
        rows.append(row)
    table = pd.DataFrame(
        rows,
        columns=["step", "judged_by", "sent_back_estimated", "estimated", "sent_back_measured", "measured"],
    )
    measured = [float(r["measured"]) for r in rows if r["measured"] is not None]
    return CompleteAccurate(
        table=table,
        rolled_estimated=_product([float(r["estimated"]) for r in rows if r["estimated"] is not None]),
        rolled_measured=_product(measured) if measured else None,
    )


# -- a map discovered from the data -----------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredMap(Result):
    """The stream as the data shows it: steps in their usual order and the rework paths taken."""

    steps: pd.DataFrame
    """step, states, items, touch and wait (p50, p85), in the order items usually pass them."""
    rework: pd.DataFrame
    """from_step, to_step, moves, items, share (moves back / moves out of from_step)."""
    items: int = 0
    path: tuple[str, ...] = ()
    """The steps most items pass, in order (the others are detours and alternatives)."""
    passes: pd.DataFrame | None = None
    """step, visits_per_item, touch_per_pass, wait_per_pass over finished items: the draft's figures."""

    @property
    def table(self) -> pd.DataFrame:
        return self.steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "steps": self.steps.to_dict(orient="records"),
            "rework": self.rework.to_dict(orient="records"),
        }

    def to_stream(self, name: str = "Discovered stream") -> Stream:
        """A stream file drafted from the data: steps with their states, passes and time per pass.

        Each step's touch and wait are per pass and its ``visits`` the passes per finished item
        (rework and skipping included), so the draft's lead time is the measured mean lead time;
        the rework loops are kept to draw and to simulate, and do not multiply the times again.
        """
        passes = self.passes.set_index("step") if self.passes is not None else None
        steps = []
        for r in self.steps.itertuples():
            step: dict[str, Any] = {"name": r.step, "states": list(r.states)}
            visits = 0.0
            if passes is not None and r.step in passes.index:
                visits = round(float(passes.loc[r.step, "visits_per_item"]), 3)
            if visits > 0:
                p = passes.loc[r.step]  # type: ignore[union-attr]
                step.update(
                    touch_days=round(float(p["touch_per_pass"]), 3),
                    wait_days=round(float(p["wait_per_pass"]), 3),
                )
            else:
                # No finished item passed it (or one in thousands, which rounds to none): its
                # medians so far, or no figure (a gap the map names); with 0 visits it adds
                # nothing to the lead time of the finished items the draft describes.
                for key, value in (("touch_days", r.touch_p50), ("wait_days", r.wait_p50)):
                    if not pd.isna(value):
                        step[key] = round(float(value), 3)
            if passes is not None:
                step["visits"] = visits
            steps.append(step)
        names = [s["name"] for s in steps]
        loops = [
            {"from": r.from_step, "to": r.to_step, "share": round(min(float(r.share), 0.95), 3)}
            for r in self.rework.itertuples()
            if r.from_step in names
            and r.to_step in names
            and names.index(r.to_step) <= names.index(r.from_step)
            and round(float(r.share), 3) > 0  # a path taken once in thousands of moves
        ]
        # Shares leaving one step may add up to 100% (every item that left went back, in a small
        # or unfinished history): scale them to the 95% a map can hold, keeping their proportions.
        leaving: dict[str, float] = {}
        for loop in loops:
            leaving[loop["from"]] = leaving.get(loop["from"], 0.0) + loop["share"]
        for loop in loops:
            total = leaving[loop["from"]]
            if total > 0.95:
                loop["share"] = round(loop["share"] * 0.95 / total, 3)
        return Stream.model_validate({"name": name, "steps": steps, "rework": loops})

    def explain(self) -> str:
        if not len(self.steps):
            return "The data has no items in the stream yet."
        parts = [
            f"{self.items} items pass through {len(self.steps)} steps, usually in this order: "
            + " → ".join(self.steps["step"])
            + "."
        ]
        if len(self.rework):
            parts.append(
                "Rework paths taken: "
                + "; ".join(
                    f"{r.from_step} → {r.to_step} {r.moves} times by {r.items} items ({r.share:.0%} of moves out of {r.from_step})"
                    for r in self.rework.itertuples()
                )
                + "."
            )
        else:
            parts.append("No item went back to an earlier step.")
        return " ".join(parts)

def _first_steps(flow: Flow) -> pd.Series:
    """How many items entered the stream in each step."""
    t = flow.time_in(by="step")
    if t.empty:
        return pd.Series(dtype="int64")
    first = t.loc[t.groupby("item")["first_in_days"].idxmin(), "step"]
    return first.value_counts()


def flow_path(flow: Flow) -> tuple[list[str], list[str]]:
    """The path most items take through the steps, and every step in flow order.

    The path starts at the step most items enter the stream in and follows, from each step, the
    forward move most items make to a step not yet on it. A step off that path (an alternative,
    an occasional detour) stands right after the step most of its arrivals come from, so the
    order reads the way work goes even on a log that is not a line.
    """
    steps = [str(x) for x in flow.steps(by="step")["step"]]
    if not steps:
        return [], []
    moves = flow.step_moves()
    moves = moves[moves["from_step"].isin(steps) & moves["to_step"].isin(steps)]
    forward = moves[~moves["backward"].astype(bool)]
    firsts = _first_steps(flow)
    firsts = firsts[firsts.index.isin(steps)]
    path = [str(firsts.idxmax()) if len(firsts) else steps[0]]
    while True:
        out = forward[(forward["from_step"] == path[-1]) & ~forward["to_step"].isin(path)]
        if out.empty:
            break
        path.append(
            str(out.sort_values(["items", "to_step"], ascending=[False, True]).iloc[0]["to_step"])
        )
    order = list(path)
    left = [x for x in steps if x not in order]
    while left:
        into = moves[moves["to_step"].isin(left) & moves["from_step"].isin(order)]
        if into.empty:
            order.extend(left)  # reached from nowhere we know: keep the typical-entry order
            break
        best = into.sort_values(["items", "to_step"], ascending=[False, True]).iloc[0]
        # after the predecessor and the detours already placed behind it
        at = order.index(str(best["from_step"])) + 1
        while at < len(order) and order[at] not in path:
            at += 1
        order.insert(at, str(best["to_step"]))
        left.remove(str(best["to_step"]))
    return path, order


def discover(flow: Flow) -> DiscoveredMap:
    """Discover the map from data alone: the steps along the path most items take, and the rework."""
    path, order = flow_path(flow)
    # Every step items are in, in path order; one no item has left yet has no measured figures.
    states = flow.steps(by="step").set_index("step")["states"]
    steps = (
        measured_step_times(flow).set_index("step").reindex(order).rename_axis("step").reset_index()
    )
    steps["items"] = steps["items"].fillna(0).astype("int64")
    steps["states"] = [[str(x) for x in states[s]] for s in steps["step"]]  # plain lists, for JSON
    moves = flow.step_moves()
    out_of = moves.groupby("from_step")["moves"].sum()
    back = moves[moves["backward"].astype(bool)].copy()
    back["share"] = back["moves"].astype(float) / back["from_step"].map(out_of).astype(float)
    back = (
        back.drop(columns=["backward"])
        .sort_values(["moves", "from_step"], ascending=[False, True])
        .reset_index(drop=True)
    )
    back["moves"] = back["moves"].astype("int64")
    back["items"] = back["items"].astype("int64")
    # Per pass, over the items that finished: the draft map's figures, so that its lead time is
    # the measured mean lead time (passes x time per pass, summed over steps).
    done = flow.steps(by="step", finished_only=True).set_index("step")
    n_done = int(flow.summary()["finished"] or 0)
    passes = pd.DataFrame({"step": order})
    got = passes["step"].map(done["visits"]).fillna(0).astype(float)
    passes["visits_per_item"] = got / n_done if n_done else 0.0
    passes["touch_per_pass"] = (
        passes["step"].map(done["total_touch_days"]).astype(float) / got
    ).where(got > 0, 0.0)
    passes["wait_per_pass"] = (
        passes["step"].map(done["total_wait_days"]).astype(float) / got
    ).where(got > 0, 0.0)
    cols = ["step", "states", "items", "touch_p50", "touch_p85", "wait_p50", "wait_p85"]
    return DiscoveredMap(
        steps=steps[cols].reset_index(drop=True),
        rework=back,
        items=flow.item_count(),
        path=tuple(path),
        passes=passes,
    )


MAX_DRAWN_STEPS = 30
"""Most steps a discovered map draws: past that, a picture is unreadable and discovering the
order of every state costs time and memory that grow with the square of their number."""


def long_tail(
    names: Sequence[Any], counts: Sequence[int] | pd.Series, limit: int = MAX_DRAWN_STEPS
) -> tuple[list[Any], list[Any]] | None:
    """Which of more names (steps, states) than a picture holds keep a place of their own.

    The ``limit - 1`` with the highest ``counts`` (ties by name) are kept, most first; the others,
    in the same order, are the long tail every picture draws as one "other (N ...)". Returns
    (kept, tail), or None when all ``limit`` fit. The map, the cumulative flow diagram and the
    aging chart all group this way.
    """
    if len(names) <= limit:
        return None
    frame = pd.DataFrame({"name": list(names), "count": np.asarray(counts)})
    ranked = frame.sort_values(["count", "name"], ascending=[False, True], kind="stable")["name"]
    return ranked.iloc[: limit - 1].tolist(), ranked.iloc[limit - 1 :].tolist()


def long_tail_grouped(
    stream: Stream | None, steps: pd.DataFrame, limit: int = MAX_DRAWN_STEPS
) -> tuple[Stream, str] | None:
    """A stream to discover a drawable map with when the data has more states than a picture holds.

    ``steps`` is ``Flow.steps(by="step")`` of a stream without steps (one row per state, with
    ``items``). The ``limit - 1`` states most items pass stay steps of their own; every other one
    goes into a single step named "other (N states)". The stream file's workflow, scope and
    economics are kept. Returns the stream and a sentence saying so, or None when all states fit.
    """
    split = long_tail(steps["step"], steps["items"], limit)
    if split is None:
        return None
    ranked = steps.set_index("step", drop=False)
    kept, tail = ranked.loc[split[0]], ranked.loc[split[1]]
    tail_states = [str(x) for states in tail["states"] for x in states]
    other = f"other ({len(tail_states):,} states)"
    grouped = [{"name": str(r.step), "states": [str(x) for x in r.states]} for r in kept.itertuples()]
    grouped.append({"name": other, "states": tail_states})
    base = stream.model_dump(by_alias=True, exclude_none=True) if stream is not None else {}
    drafted = Stream.model_validate({**base, "steps": grouped, "rework": []})
    note = (
        f"The data has {len(steps):,} states: the {limit - 1} most items pass are drawn as steps, "
        f"the other {len(tail_states):,} as one step, '{other}'."
    )
    return drafted, note


def map_to_draw(stream: Stream | None, flow: Flow | None) -> tuple[Stream, str]:
    """The map to show: the stream file's steps, or, while it has none, the steps the data shows.

    Returns the stream and a note saying where its steps came from ("" for the stream file's own).
    A stream file with only a workflow keeps its workflow, scope and economics; its steps and
    rework loops are discovered (``discover``) from the histories.
    """
    if stream is not None and stream.steps:
        return stream, ""
    if flow is None:
        raise InputError(
            "no map yet and no item histories to discover one from: write the steps the team "
            "put on the wall in the stream file ('valuestream init'), or import histories"
        )
    found = discover(flow).to_stream()
    if stream is not None:
        found = stream.model_copy(update={"steps": found.steps, "rework": found.rework})
    return found, "No steps on the map yet: these are the steps the data shows."


__all__ = [
    "DEFAULT_FACTOR",
    "MAX_DRAWN_STEPS",
    "CompleteAccurate",
    "DiscoveredMap",
    "MapFigures",
    "MapVsData",
    "compare",
    "complete_and_accurate",
    "discover",
    "expected_visits",
    "flow_path",
    "gate_wait",
    "long_tail",
    "long_tail_grouped",
    "map_figures",
    "map_to_draw",
    "measured_step_times",
]
