"""Laws every history obeys, checked on random histories (hypothesis)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuestream.flow import Flow
from valuestream.model import parse_stream

STREAM = parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev, Test], wait: [Queue], blocked: [Blocked]}")
STATES = ["Backlog", "Queue", "Dev", "Blocked", "Test", "Done", "Other"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

history = st.lists(
    st.tuples(st.sampled_from(STATES), st.integers(min_value=0, max_value=60 * 24 * 30)),
    min_size=1,
    max_size=12,
)


def analyse(histories: list[list[tuple[str, int]]]) -> Flow:
    items, states, times = [], [], []
    for i, h in enumerate(histories):
        for state, minutes in h:
            items.append(f"I{i}")
            states.append(state)
            times.append(T0 + dt.timedelta(minutes=minutes))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t_in", pa.table({"item": items, "state": states, "entered_at": pa.array(times, pa.timestamp("us", tz="UTC"))}))
    con.execute("CREATE TABLE transitions AS SELECT 'log' AS source, item, state, entered_at, row_number() OVER () AS seq FROM t_in")
    con.execute("CREATE TABLE flags (source VARCHAR, item VARCHAR, raised_at TIMESTAMPTZ, cleared_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE items (source VARCHAR, item VARCHAR, title VARCHAR, type VARCHAR, attributes JSON)")
    con.execute("CREATE TABLE state_roles (source VARCHAR, state VARCHAR, role VARCHAR)")
    return Flow(con, stream=STREAM)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(history, min_size=1, max_size=6))
def test_touch_plus_wait_is_lead_and_lead_covers_cycle(histories):
    flow = analyse(histories)
    items = flow.items()
    done = items[items.finished.notna()]
    assert ((done.touch_days + done.wait_days - done.lead_time_days).abs() < 1e-9).all()
    has_cycle = done[done.cycle_time_days.notna()]
    assert (has_cycle.lead_time_days >= has_cycle.cycle_time_days - 1e-9).all()
    assert ((done.flow_efficiency.dropna() >= 0) & (done.flow_efficiency.dropna() <= 1 + 1e-9)).all()
    assert (items.rework >= 0).all() and (items.blocked_days <= items.wait_days + 1e-9).all()
    per_item = flow.time_in("state").groupby("item")["days"].sum()
    for row in done.itertuples():
        assert abs(per_item.get(row.item, 0.0) - row.lead_time_days) < 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(history, min_size=1, max_size=6))
def test_wip_is_entries_minus_finishes(histories):
    flow = analyse(histories)
    items = flow.items()
    w = flow.window(dt.date(2025, 12, 31), dt.date(2026, 2, 1))
    wip = flow.wip(w).set_index("day")["wip"]
    for day, value in wip.items():
        end = (day + dt.timedelta(days=1)).tz_localize("UTC")
        inside = (items.entered < end) & (items.finished.isna() | (items.finished >= end))
        assert value == int(inside.sum())


def test_spark_translation_of_every_metric_query():
    import sqlglot

    from valuestream.flow import metric_queries, spark_sql

    names = []
    for name, sql in metric_queries():
        out = spark_sql(sql)
        sqlglot.parse(out, read="spark")  # the translation is valid Spark SQL
        names.append(name)
    assert {"SQL_T", "SQL_SEG", "SQL_ITEMS", "SQL_WIP", "SQL_CFD"} <= set(names)


