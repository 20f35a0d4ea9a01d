"""One answer everywhere: random logs through every path that shows a per-step number.

The logs carry what real trackers produce: flags on touch states, blocked states, identical
timestamps (whole days), work that starts at the instant the item finishes, reopened items and
rework. On each, the laws of the definitions must hold, and ``items``, ``time_in``, ``steps``, the
map comparison, the constraint, the delay cost and the data-built simulation model must quote the
same figures.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuestream.constraint import find_constraint
from valuestream.economics import queue_costs
from valuestream.flow import Flow
from valuestream.model import CostOfDelay, parse_stream
from valuestream.simulate.build import per_step_times
from valuestream.streammap import compare

STREAM = parse_stream(
    """\
steps:
  - {name: Intake, states: [Backlog]}
  - {name: Ready, states: [Queue]}
  - {name: Build, states: [Dev, Blocked]}
  - {name: Verify, states: [Test]}
  - {name: Done, states: [Done]}
workflow:
  start: Backlog
  finish: Done
  touch: [Dev, Test]
  wait: [Backlog, Queue]
  blocked: [Blocked]
"""
)
STATES = ["Backlog", "Queue", "Dev", "Blocked", "Test", "Done"]
STEP_OF = {"Backlog": "Intake", "Queue": "Ready", "Dev": "Build", "Blocked": "Build", "Test": "Verify"}
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAY = 24 * 60
EPS = 1e-6

# Whole days make identical timestamps and same-instant moves common; minutes make the rest.
moment = st.one_of(
    st.integers(min_value=0, max_value=40).map(lambda d: d * DAY),
    st.integers(min_value=0, max_value=40 * DAY),
)
history = st.lists(st.tuples(st.sampled_from(STATES), moment), min_size=1, max_size=10)
flag = st.tuples(moment, st.integers(min_value=0, max_value=5 * DAY))


def _ts(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def build(histories: list[list[tuple[str, int]]], flags: list[list[tuple[int, int]]]) -> Flow:
    rows = [
        (f"I{i}", state, _ts(m)) for i, h in enumerate(histories) for state, m in h
    ]
    flag_rows = [
        (f"I{i}", _ts(start), _ts(start + length))
        for i, fs in enumerate(flags)
        for start, length in fs
    ]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ts = pa.timestamp("us", tz="UTC")
    con.register(
        "t_in",
        pa.table(
            {
                "item": [r[0] for r in rows],
                "state": [r[1] for r in rows],
                "entered_at": pa.array([r[2] for r in rows], ts),
            }
        ),
    )
    con.register(
        "f_in",
        pa.table(
            {
                "item": pa.array([r[0] for r in flag_rows], pa.string()),
                "raised_at": pa.array([r[1] for r in flag_rows], ts),
                "cleared_at": pa.array([r[2] for r in flag_rows], ts),
            }
        ),
    )
    con.execute(
        "CREATE TABLE transitions AS SELECT 'log' AS source, item, state, entered_at,"
        " row_number() OVER () AS seq FROM t_in"
    )
    con.execute("CREATE TABLE flags AS SELECT 'log' AS source, * FROM f_in")
    con.execute(
        "CREATE TABLE items AS SELECT DISTINCT 'log' AS source, item, NULL::VARCHAR AS title,"
        " 'feature' AS type, NULL::JSON AS attributes FROM t_in"
    )
    con.execute("CREATE TABLE state_roles (source VARCHAR, state VARCHAR, role VARCHAR)")
    return Flow(con, stream=STREAM)


logs = st.tuples(
    st.lists(history, min_size=1, max_size=6),
    st.lists(st.lists(flag, max_size=2), max_size=6),
)


def _finished(flow: Flow) -> pd.DataFrame:
    items = flow.items()
    return items[items["finished"].notna()].set_index("item")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs)
def test_item_laws_hold_with_flags_blocked_ties_and_reopening(log) -> None:  # type: ignore[no-untyped-def]
    histories, flags = log
    flow = build(histories, flags)
    done = _finished(flow)
    # touch + wait = lead; blocked time is part of the wait; cycle <= lead
    assert ((done.touch_days + done.wait_days - done.lead_time_days).abs() < EPS).all()
    assert (done.blocked_days <= done.wait_days + EPS).all()
    timed = done[done.cycle_time_days.notna()]
    assert (timed.cycle_time_days <= timed.lead_time_days + EPS).all()
    # Same-instant rule: touch work entered between the start and the finish, the finish
    # instant included, always gives a cycle time (0 when it starts at the finish).
    for i, h in enumerate(histories):
        item = f"I{i}"
        if item not in done.index:
            continue
        start, finish = done.at[item, "entered"], done.at[item, "finished"]
        touched = any(s in ("Dev", "Test") and start <= _ts(m) <= finish for s, m in h)
        if touched:
            assert pd.notna(done.at[item, "cycle_time_days"]), (item, h)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs)
def test_every_view_quotes_the_same_per_step_figures(log) -> None:  # type: ignore[no-untyped-def]
    histories, flags = log
    flow = build(histories, flags)
    done = _finished(flow)
    time_in = flow.time_in(by="step")

    # 1. Over an item's steps, touch, wait and blocked sum to the item's (every state is mapped).
    per_item = time_in.groupby("item")[["touch_days", "wait_days", "blocked_days"]].sum()
    for item, row in done.iterrows():
        got = per_item.loc[item] if item in per_item.index else pd.Series(0.0, per_item.columns)
        assert abs(got.touch_days - row.touch_days) < EPS
        assert abs(got.wait_days - row.wait_days) < EPS
        assert abs(got.blocked_days - row.blocked_days) < EPS

    # 2. Flow.steps totals are time_in's, over the items that left the step.
    steps = flow.steps(by="step").set_index("step")
    left = time_in[time_in["left_it"]]
    for step, row in steps.iterrows():
        rows = left[left["step"] == step]
        assert row["items"] == rows["item"].nunique()
        assert abs(row.total_touch_days - rows.touch_days.sum()) < EPS
        assert abs(row.total_wait_days - rows.wait_days.sum()) < EPS
        if row["items"]:
            assert abs(row.wait_mean_days - rows.wait_days.sum() / row["items"]) < EPS

    # 3. The map comparison and the constraint quote Flow.steps, share included.
    cmp = compare(STREAM, flow).table.set_index("step")
    report = find_constraint(STREAM, flow, window=flow.window())
    ranked = report.table.set_index("step")
    for step, row in steps[steps["items"] > 0].iterrows():
        assert abs(cmp.at[step, "wait_mean"] - row.wait_mean_days) < EPS
        assert abs(ranked.at[step, "wait_per_item"] - row.wait_mean_days) < EPS
        assert abs(ranked.at[step, "total_wait"] - row.total_wait_days) < EPS
        assert abs(ranked.at[step, "wait_share"] - row.wait_share) < EPS
    if report.constraint is not None and steps["total_wait_days"].max() > 0:
        # the circled step is the one with the most waiting per item or in total
        top = ranked.loc[report.constraint]
        assert (
            top.wait_per_item >= ranked["wait_per_item"].max() - EPS
            or top.total_wait >= ranked["total_wait"].max() - EPS
            or top.evidence > 0
        )

    # 3b. `constraint` without a map and `map` drawing the data's own map name the same step.
    from valuestream.streammap import map_to_draw

    drawn, _ = map_to_draw(None, flow)
    if drawn.steps:
        on_map = find_constraint(drawn, flow, comparison=compare(drawn, flow), window=flow.window())
        alone = find_constraint(None, flow, window=flow.window())
        assert on_map.constraint == alone.constraint

    # 4. Delay cost prices exactly the wait Flow measures, step by step.
    cod = CostOfDelay(per_week=700.0)
    costs = queue_costs(time_in, flow.items(), cod, weeks=1.0).table.set_index("queue")
    by_step = time_in.groupby("step")["wait_days"].sum()
    for step, wait in by_step[by_step > 0].items():
        assert abs(costs.at[step, "wait_days"] - wait) < EPS
        assert abs(costs.at[step, "cost"] - wait / 7 * 700.0) < 1e-6

    # 5. The simulation's measured input is Flow's split over the finished items.
    if len(done):
        sim = per_step_times(flow, STREAM)
        finished_only = flow.steps(by="step", finished_only=True).set_index("step")
        for step, row in finished_only[finished_only["items"] > 0].iterrows():
            rows = sim[sim["step"] == step]
            assert abs(rows.touch_days.sum() - row.total_touch_days) < EPS
            # the model keeps blocked time apart from the queue's wait
            assert abs(rows.wait_days.sum() + rows.blocked_days.sum() - row.total_wait_days) < EPS
        assert np.isfinite(sim[["touch_days", "wait_days", "blocked_days"]].to_numpy()).all()
