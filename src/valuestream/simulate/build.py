"""Building a simulation network from the map (a Stream) or from measured histories (a Flow).

From the map, each step becomes a station:

- ``touch_days`` is the touch time: observed values are resampled, a ``[low, high]`` range is
  drawn uniformly (anything in the range equally likely), a single number is fixed;
- ``capacity`` makes a capacity queue with that many people; without it work runs in parallel;
- ``batch_every_days`` makes a release gate that releases on that cadence;
- ``wait_days`` becomes a pure delay (time that passes whatever the load), **except** where the
  simulation produces that wait itself: at a step with capacity and touch time (its queue) and at
  a release gate with a cadence (its batching). Counting it again would count it twice.

From data, touch times per visit, pure waits and blocked time are resampled from each item's
history, capacity is the peak number of items in the step's touch states at the end of a day
(unless the stream file sets it), and items arrive at the measured rate (or replay the actual
arrivals).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from valuestream.errors import InputError
from valuestream.flow import Flow, Window
from valuestream.model import Estimate, Step, StepKind, Stream
from valuestream.simulate.engine import DAYS_PER_WEEK, NONE, Dist, Loop, Network, Station

MAX_SAMPLES = 5000
"""Empirical distributions keep at most this many values (a seeded subsample): plenty for shape."""


def dist_of(estimate: Estimate | None) -> Dist:
    """The distribution a workshop estimate stands for."""
    if estimate is None:
        return NONE
    if estimate.observed:
        return Dist.empirical(estimate.observed)
    return Dist.uniform(estimate.low, estimate.high)


def _station(step: Step, capacity: int | None) -> tuple[Station, str | None]:
    touch = dist_of(step.touch_days)
    wait = dist_of(step.wait_days)
    note = None
    queue_made = capacity is not None and touch.mean > 0
    gate_made = step.batch_every_days is not None
    if (queue_made or gate_made) and wait.mean > 0:
        made = "its capacity queue" if queue_made else "its release batching"
        note = f"'{step.name}': the wall's wait ({wait.describe()}) is left to {made}, which the simulation produces"
        wait = NONE
    return (
        Station(
            name=step.name,
            touch=touch,
            wait=wait,
            servers=capacity,
            batch_every=step.batch_every_days,
            kind=str(step.kind),
        ),
        note,
    )


def _loops(stream: Stream, names: set[str]) -> tuple[Loop, ...]:
    return tuple(
        Loop(lp.from_step, lp.to_step, lp.share)
        for lp in stream.rework
        if lp.from_step in names and lp.to_step in names
    )


def from_stream(
    stream: Stream,
    *,
    arrivals_per_week: float,
    capacity: Mapping[str, int] | None = None,
    wip_limit: int | None = None,
) -> Network:
    """A network from the map's estimates; ``capacity`` overrides the stream file's per step."""
    if not stream.steps:
        raise InputError("the stream has no steps: add them to the stream file first")
    if not arrivals_per_week > 0:
        raise InputError("give how many items enter the stream per week (--arrivals), above zero")
    overrides = _capacity_overrides(stream, capacity)
    stations, notes = [], []
    for step in stream.steps:
        st, note = _station(step, overrides.get(step.name, step.capacity))
        stations.append(st)
        if note:
            notes.append(note)
    return Network(
        stations=tuple(stations),
        rework=_loops(stream, {s.name for s in stream.steps}),
        arrival_rate=arrivals_per_week / DAYS_PER_WEEK,
        wip_limit=wip_limit,
        name=stream.name,
        notes=tuple(notes),
    )


def _capacity_overrides(stream: Stream, capacity: Mapping[str, int] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (capacity or {}).items():
        match = next(
            (s.name for s in stream.steps if s.name.casefold() == name.strip().casefold()), None
        )
        if match is None:
            raise InputError(
                f"capacity for '{name}': no such step (steps: {', '.join(s.name for s in stream.steps)})"
            )
        if value < 1:
            raise InputError(f"zero capacity at '{match}': nobody could work items there")
        out[match] = int(value)
    return out


def _sample(values: np.ndarray, seed: int = 0) -> tuple[float, ...]:
    values = values[np.isfinite(values)]
    if len(values) > MAX_SAMPLES:
        values = np.random.default_rng(seed).choice(values, MAX_SAMPLES, replace=False)
    return tuple(float(v) for v in np.maximum(values, 0))


def per_step_times(flow: Flow, stream: Stream, window: Window | None = None) -> pd.DataFrame:
    """Per finished item and step: touch, wait and blocked days, touch visits (from state times).

    With a window, only items that finished in it: the process as it runs now, not as it was
    before the last change.
    """
    times = flow.time_in(by="state")
    items = flow.items()
    done = items["finished"].notna()
    if window is not None:
        day = items["finished"].dt.date
        done &= (day >= window.start) & (day <= window.end)
    finished = set(items.loc[done, "item"])
    times = times[times["item"].isin(finished)].copy()
    step_of = stream.step_of_state()
    times["step"] = times["state"].map(step_of)
    times = times[times["step"].notna()]
    # Flow splits each state's time into touch, wait and blocked (flags included); the model
    # keeps blocked apart from the queue's wait.
    times["wait_days"] = times["wait_days"] - times["blocked_days"]
    times["touch_visits"] = np.where(times["role"] == "touch", times["visits"], 0)
    cols = ["touch_days", "wait_days", "blocked_days", "touch_visits"]
    return times.groupby(["item", "step"], as_index=False)[cols].sum()


def peak_touch_wip(flow: Flow, stream: Stream, window: Window | None = None) -> dict[str, int]:
    """Per step, the most items in its touch states at the end of any day: a capacity estimate."""
    if stream.workflow is None:
        return {}
    touch_states = set(stream.workflow.touch)
    cfd = flow.cfd(window, by="state")
    cfd = cfd[cfd["state"].isin(touch_states)].copy()
    cfd["step"] = cfd["state"].map(stream.step_of_state())
    per_day = cfd.dropna(subset=["step"]).groupby(["step", "day"])["items"].sum()
    return {str(k): int(v) for k, v in per_day.groupby(level=0).max().items() if v > 0}


def from_flow(
    flow: Flow,
    stream: Stream,
    *,
    capacity: Mapping[str, int] | None = None,
    window: Window | None = None,
    replay: bool = False,
    wip_limit: int | None = None,
) -> Network:
    """A network measured from item histories, for the stream file's steps (which list states)."""
    if stream.workflow is None:
        raise InputError("simulating from data needs the stream file's workflow (states -> roles)")
    mapped = [s for s in stream.steps if s.states]
    if not mapped:
        raise InputError(
            "no step of the stream file lists tracker states: add states to the steps first"
        )
    times = per_step_times(flow, stream, window)
    if times.empty:
        raise InputError("no finished items in the data (in the window) to measure the steps from")
    n_items = times["item"].nunique()
    overrides = _capacity_overrides(stream, capacity)
    peaks = peak_touch_wip(flow, stream, window)
    stations, notes = [], []
    for step in mapped:
        rows = times[times["step"] == step.name]
        touch_rows = rows[rows["touch_visits"] > 0]
        touch = (
            Dist.empirical(
                _sample((touch_rows["touch_days"] / touch_rows["touch_visits"]).to_numpy())
            )
            if len(touch_rows)
            else NONE
        )
        cap = overrides.get(step.name, step.capacity)
        if cap is None and touch.mean > 0:
            cap = peaks.get(step.name)
            if cap:
                notes.append(
                    f"'{step.name}': capacity {cap} estimated as the peak of items in its touch states"
                )
        # items that skip the step wait zero there: keep those zeros in the distribution
        waits = np.zeros(n_items)
        waits[: len(rows)] = rows["wait_days"].to_numpy()
        wait = NONE
        if step.batch_every_days is None and not (cap and touch.mean > 0) and waits.mean() > 0:
            wait = Dist.empirical(_sample(waits))
        blocked = rows.loc[rows["blocked_days"] > 0, "blocked_days"].to_numpy()
        stations.append(
            Station(
                name=step.name,
                touch=touch,
                wait=wait,
                servers=cap,
                batch_every=step.batch_every_days,
                blocked_share=len(blocked) / n_items,
                blocked=Dist.empirical(_sample(blocked)) if len(blocked) else NONE,
                kind=str(step.kind),
            )
        )
    w = window or flow.window()
    items = flow.items()
    entered = items["entered"].dropna()
    entered = entered[(entered.dt.date >= w.start) & (entered.dt.date <= w.end)]
    if len(entered) < 2:
        raise InputError(
            "fewer than two items entered the stream in the window: cannot measure arrivals"
        )
    arrivals = None
    rate = None
    if replay:
        t = (entered - entered.min()).dt.total_seconds().to_numpy() / 86400.0
        arrivals = tuple(float(x) for x in np.sort(t))
    else:
        rates = flow.rates(w, period="day")
        rate = float(rates["arrivals"].sum()) / max(len(rates), 1)
    unmapped = sorted({s.name for s in stream.steps} - {s.name for s in mapped})
    if unmapped:
        notes.append(
            f"steps without tracker states are not simulated from data: {', '.join(unmapped)}"
        )
    if any(s.kind == StepKind.release_gate and s.batch_every_days is None for s in mapped):
        notes.append(
            "a release gate without batch_every_days: its waits are resampled as a pure delay"
        )
    return Network(
        stations=tuple(stations),
        rework=_loops(stream, {s.name for s in mapped}),
        arrival_rate=rate,
        arrivals=arrivals,
        wip_limit=wip_limit,
        name=stream.name,
        notes=tuple(notes),
    )
