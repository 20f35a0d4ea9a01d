"""The flow metrics on a real Spark (pyspark, local mode): the same answers as on DuckDB.

One local SparkSession serves the whole test session. Known-answer logs (the hand-computed ones of
test_flow_known.py) must give the figures worked out by hand, and every table of every Flow
method must equal DuckDB's, column for column and dtype for dtype, to 1e-9; random logs
(hypothesis: flags, blocked states, same-instant transitions, rework) are compared engine
against engine.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import WORKFLOW_YAML, write_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_filters import leads
from test_flow_known import LOG

from valuestream.errors import InputError
from valuestream.flow import Flow, Window
from valuestream.flow.spark import SparkEngine, to_spark
from valuestream.flow.tables import days_table
from valuestream.model import Calendar, Stream, Workflow, parse_stream
from valuestream.workspace import Workspace

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.spark

D = "2026-01-{:02d}T00:00:00Z".format
STEPS = parse_stream(
    """
workflow: {start: Backlog, finish: Done, touch: [Dev, Test], blocked: [Blocked]}
steps:
  - {name: Intake, states: [Backlog]}
  - {name: Build, states: [Dev, Blocked]}
  - {name: Verify, states: [Test]}
"""
)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("valuestream-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.showConsoleProgress", "false")
        # Tiny tables: adaptive planning and compiled stages cost more than they save here.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def assert_same(duck: Any, spark: Any, what: str) -> None:
    """DuckDB's answer and Spark's: the same columns, dtypes and rows, numbers to 1e-9."""
    if isinstance(duck, pd.DataFrame):
        pd.testing.assert_frame_equal(
            duck.reset_index(drop=True), spark.reset_index(drop=True),
            check_exact=False, rtol=0, atol=1e-9, obj=what,
        )
    elif isinstance(duck, dict):
        assert duck.keys() == spark.keys(), what
        for key, value in duck.items():
            if isinstance(value, float):
                assert spark[key] == pytest.approx(value, abs=1e-9, rel=0), f"{what}: {key}"
            else:
                assert spark[key] == value, f"{what}: {key}"
    else:
        assert duck == spark, what


FIXED = Window(dt.date(2025, 12, 30), dt.date(2026, 2, 2))


def answers(flow: Flow, *, every: bool = True) -> dict[str, Any]:
    """The tables and figures a Flow gives (``every``: all of them; else those per item and the summary)."""
    out: dict[str, Any] = {
        "items": flow.items(),
        "time_in state": flow.time_in("state"),
        "summary": flow.summary(FIXED),
    }
    if not every:
        return out
    out |= {
        "window": flow.window(),
        "item_attributes": flow.item_attributes(),
        "transitions": flow.transitions(),
        "current_step": flow.current_step().sort_values("item"),
        "unmapped_states": flow.unmapped_states(),
        "period_starts": flow.period_starts(),
        "finished_by_week": flow.finished_by_week(),
        "time_in step": flow.time_in("step"),
        "steps step": flow.steps("step"),
        "steps state": flow.steps("state"),
        "steps finished_only": flow.steps(finished_only=True),
        "step_moves": flow.step_moves(),
        "step_arrivals": flow.step_arrivals(FIXED),
        "cfd": flow.cfd(FIXED, by="step"),
        "rates week": flow.rates(FIXED, "week"),
    }
    return out


def assert_engines_agree(duck: Flow, on_spark: Flow, *, every: bool = True) -> None:
    a, b = answers(duck, every=every), answers(on_spark, every=every)
    for what in a:
        assert_same(a[what], b[what], what)


@pytest.fixture
def both(tmp_path: Path, spark: Any) -> Callable[..., tuple[Flow, Flow]]:
    """Import rows into a workspace; analyse it on DuckDB and, from the same workspace, on Spark."""

    def make(rows: list[tuple[str, str, str]], stream: Stream | Workflow | None = None, **kw: Any) -> tuple[Flow, Flow]:
        ws = Workspace(tmp_path / "ws.duckdb")
        ws.import_file(write_log(tmp_path / "log.csv", rows), **kw)
        return Flow.of(ws, stream), Flow.from_spark(spark, ws, stream)

    return make


WORKFLOW = parse_stream(WORKFLOW_YAML)


def test_the_hand_computed_log_gives_the_hand_computed_figures(both):
    duck, on_spark = both(LOG, WORKFLOW)
    items = on_spark.items().set_index("item")
    a, b = items.loc["A"], items.loc["B"]
    # The arithmetic is in test_flow_known.py: lead 9, cycle 7, touch 6, wait 3, blocked 1.
    assert (a.lead_time_days, a.cycle_time_days, a.touch_days, a.wait_days) == (9, 7, 6, 3)
    assert a.flow_efficiency == pytest.approx(2 / 3)
    assert (a.rework, a.blocked_days, a.reopened) == (1, 1, False)
    assert (b.touch_days, b.wait_days, b.unmapped_days, b.age_days, b.rework) == (2, 6, 4, 8, 0)
    wip = on_spark.wip(on_spark.window(dt.date(2025, 12, 31), dt.date(2026, 1, 10)))
    assert wip["wip"].tolist() == [0, 1] + [2] * 8 + [1]
    assert on_spark.unmapped_states() == ["Weird"]
    assert_engines_agree(duck, on_spark)


def test_steps_on_spark_group_states_and_split_touch_from_wait(both):
    duck, on_spark = both(LOG, STEPS)
    steps = on_spark.steps("step").set_index("step")
    assert steps.index.tolist() == ["Intake", "Build", "Weird", "Verify"]
    build = steps.loc["Build"]
    assert build["items"] == 2 and build["touch_mean_days"] == 2.5 and build["wait_mean_days"] == 0.5
    assert_engines_agree(duck, on_spark)


def test_percentiles_interpolate_exactly_as_on_duckdb(both):
    rows = []
    for i in range(1, 6):  # lead times 1..5 days, each touched for its last day only
        rows += [(f"I{i}", "Backlog", D(1)), (f"I{i}", "Dev", D(i)), (f"I{i}", "Done", D(1 + i))]
    duck, on_spark = both(rows, WORKFLOW)
    s = on_spark.summary()
    assert s["lead_p50"] == 3 and s["lead_p85"] == pytest.approx(4.4, abs=1e-12)  # not approximate
    assert s["flow_efficiency"] == pytest.approx(5 / 15) and s["flow_efficiency_median"] == pytest.approx(1 / 3)
    assert_engines_agree(duck, on_spark, every=False)


@pytest.mark.parametrize(
    ("rows", "stream"),
    [
        # same instant: Dev and Test at once keep the file order
        ([("X", "Backlog", D(1)), ("X", "Dev", D(2)), ("X", "Test", D(2)), ("X", "Done", D(4))], WORKFLOW),
        # reopened: the first finish counts
        ([("R", "Backlog", D(1)), ("R", "Dev", D(2)), ("R", "Done", D(4)), ("R", "Dev", D(6)), ("R", "Done", D(8))], WORKFLOW),
        # states before the start are outside the stream
        ([("P", "Idea", D(1)), ("P", "Backlog", D(5)), ("P", "Dev", D(6)), ("P", "Done", D(7))],
         parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev], before: [Idea]}")),
        # no workflow: every item finishes at its last event
        (LOG, None),
        # work started at the instant of the finish is still the first touch
        ([("S", "Backlog", D(1)), ("S", "Dev", D(3)), ("S", "Done", D(3))], WORKFLOW),
    ],
    ids=["same-instant", "reopened", "before-start", "no-workflow", "touch-at-finish"],
)
def test_known_answer_logs_agree_with_duckdb(both, rows, stream):
    assert_engines_agree(*both(rows, stream), every=False)


def test_days_follow_the_analysis_time_zone(tmp_path: Path, spark: Any):
    # Naive Berlin times across the spring change (29 March 2026): 23 hours pass, not 24; days
    # (WIP, rates) are Berlin's calendar days.
    log = tmp_path / "dst.csv"
    log.write_text("item,state,entered_at\nZ,Backlog,2026-03-28 00:30\nZ,Dev,2026-03-28 12:00\nZ,Done,2026-03-29 12:00\n")
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(log, timezone="Europe/Berlin")
    stream = parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev]}")
    duck = Flow.of(ws, stream, timezone="Europe/Berlin")
    on_spark = Flow.from_spark(spark, ws, stream, timezone="Europe/Berlin")
    z = on_spark.items().iloc[0]
    assert z.lead_time_days == pytest.approx((23 + 11.5) / 24)
    assert str(z.entered.tz) == "Europe/Berlin"  # as DuckDB gives it
    assert on_spark.rates(period="day")["arrivals"].tolist() == [1, 0]  # 00:30 Berlin is 27 March in UTC
    assert_engines_agree(duck, on_spark, every=False)


def test_blocked_flags_count_once_on_spark(tmp_path: Path, spark: Any):
    t = lambda d: dt.datetime(2026, 1, d, tzinfo=dt.UTC)  # noqa: E731
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_table(
        pa.table({
            "item": ["F"] * 4,
            "state": ["Backlog", "Dev", "Blocked", "Done"],
            "entered_at": pa.array([t(1), t(2), t(6), t(8)], pa.timestamp("us", tz="UTC")),
        }),
        flags=pa.table({
            "item": ["F", "F"],
            "raised_at": pa.array([t(3), t(4)], pa.timestamp("us", tz="UTC")),
            "cleared_at": pa.array([t(5), t(7)], pa.timestamp("us", tz="UTC")),
        }),
        source="jira",
        location="test",
    )
    stream = parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev], blocked: [Blocked]}")
    duck, on_spark = Flow.of(ws, stream), Flow.from_spark(spark, ws, stream)
    f = on_spark.items().iloc[0]
    # Flags 3-5 and 4-7 merge to 3-7; Dev 2-6 loses 3-6 to the flag; Blocked 6-8 is not counted again.
    assert (f.lead_time_days, f.touch_days, f.wait_days, f.blocked_days) == (7, 1, 6, 5)
    assert_engines_agree(duck, on_spark, every=False)


# -- Parquet where it lies ----------------------------------------------------------------------


def test_events_from_a_parquet_file_and_a_folder(tmp_path: Path, spark: Any):
    rows = [(i, s, pd.Timestamp(w)) for i, s, w in LOG]
    table = pa.table({
        "item": [r[0] for r in rows],
        "state": [r[1] for r in rows],
        "entered_at": pa.array([r[2].to_pydatetime() for r in rows], pa.timestamp("us", tz="UTC")),
        "title": [f"title of {r[0]}" for r in rows],
    })
    pq.write_table(table, tmp_path / "log.parquet")
    folder = tmp_path / "lake"
    folder.mkdir()
    pq.write_table(table.slice(0, 6), folder / "part-0.parquet")
    pq.write_table(table.slice(6), folder / "part-1.parquet")
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(tmp_path / "log.parquet")
    duck = Flow.of(ws, WORKFLOW)
    for source in (tmp_path / "log.parquet", folder):
        on_spark = Flow.from_spark(spark, str(source), WORKFLOW)
        assert on_spark.items().set_index("item").loc["A", "title"] == "title of A"
        assert_engines_agree(duck, on_spark, every=False)


def test_events_without_the_workspace_columns_are_named(tmp_path: Path, spark: Any):
    pq.write_table(pa.table({"key": ["A"], "status": ["Dev"], "entered_at": [dt.datetime(2026, 1, 1)]}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match=r"x\.parquet: no column item, state; an event log needs item, state, entered_at"):
        Flow.from_spark(spark, str(tmp_path / "x.parquet"), WORKFLOW)
    with pytest.raises(InputError, match="is no file, folder or table"):
        Flow.from_spark(spark, str(tmp_path / "nothing.parquet"), WORKFLOW)


def test_a_workflow_by_category_says_it_does_not_run_on_spark_yet(tmp_path: Path, spark: Any):
    pq.write_table(pa.table({"item": ["A"], "state": ["Dev"], "entered_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]}), tmp_path / "x.parquet")
    by_category = parse_stream("workflow: {start: {category: In Progress}, finish: {category: Done}}")
    with pytest.raises(InputError, match="by status category or board column does not run on Spark yet"):
        Flow.from_spark(spark, str(tmp_path / "x.parquet"), by_category)


def test_two_analyses_share_one_session_without_mixing_tables(both, spark: Any):
    _, first = both(LOG, WORKFLOW)
    rows = [("X", "Backlog", D(1)), ("X", "Dev", D(2)), ("X", "Done", D(4))]
    second = Flow.from_spark(spark, spark.createDataFrame(
        pd.DataFrame({"item": [r[0] for r in rows], "state": [r[1] for r in rows], "entered_at": pd.to_datetime([r[2] for r in rows])})
    ), WORKFLOW)
    assert first.items()["item"].tolist() == ["A", "B"]  # built first, asked after the second was built
    assert second.items()["item"].tolist() == ["X"]


# -- the translation: one definition, engine differences in one place ------------------------


def test_percentiles_are_spark_exact_percentile_and_epoch_keeps_fractions():
    out = to_spark("SELECT quantile_cont(x, 0.85), median(x), epoch(t) FROM v").upper()
    assert "PERCENTILE(X, 0.85)" in out and "PERCENTILE(X, 0.5)" in out
    assert "PERCENTILE_CONT" not in out and "APPROX" not in out
    assert "UNIX_MICROS(T)" in out and "UNIX_TIMESTAMP" not in out


def test_every_metric_query_runs_on_spark(spark: Any):
    """Spark itself parses and plans every translated query (SQLGlot parses anything)."""
    from valuestream.flow import metric_queries

    engine = SparkEngine(spark)
    for name, schema in {
        "transitions": "source STRING, item STRING, state STRING, entered_at TIMESTAMP, seq BIGINT",
        "flags": "source STRING, item STRING, raised_at TIMESTAMP, cleared_at TIMESTAMP",
        "items": "source STRING, item STRING, title STRING, type STRING, attributes STRING",
        "events": "date DATE, title STRING, kind STRING, new_period BOOLEAN",
        "vs_states": "state STRING, role STRING, step STRING",
    }.items():
        engine.register(name, spark.createDataFrame([], schema=schema))
    engine.load("vs_days", days_table(Calendar(), dt.date(2025, 1, 1), dt.date(2025, 1, 3), "UTC"))
    engine.load("vs_filter", pd.DataFrame({"key": ["labels"], "value": ["ui"]}))
    engine.load("vs_by", pd.DataFrame({"key": ["labels"]}))
    for name, sql in metric_queries():
        if sql.lstrip().upper().startswith("CREATE"):
            engine.execute(sql)
        else:
            engine.frame(sql)  # raises if Spark refuses it
        assert name


# -- random logs, engine against engine --------------------------------------------------------

PROPERTY_STREAM = parse_stream(
    "workflow: {start: Backlog, finish: Done, touch: [Dev, Test], wait: [Queue], blocked: [Blocked]}\n"
    "steps:\n  - {name: Build, states: [Dev, Blocked]}\n  - {name: Check, states: [Queue, Test]}\n"
)
STATES = ["Backlog", "Queue", "Dev", "Blocked", "Test", "Done", "Other"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# Times on a 6-hour grid over 10 days: same-instant transitions and same-day moves are common.
when = st.integers(min_value=0, max_value=40).map(lambda k: T0 + dt.timedelta(hours=6 * k))
history = st.lists(st.tuples(st.sampled_from(STATES), when), min_size=1, max_size=10)
flag = st.tuples(when, st.one_of(st.none(), st.integers(min_value=0, max_value=12)))


def _tables(histories: list[tuple[list[tuple[str, dt.datetime]], list[tuple[dt.datetime, int | None]]]]) -> dict[str, pa.Table]:
    ts = pa.timestamp("us", tz="UTC")
    items, states, times, f_items, raised, cleared = [], [], [], [], [], []
    for i, (h, flags) in enumerate(histories):
        for state, at in h:
            items.append(f"I{i}")
            states.append(state)
            times.append(at)
        for at, hours in flags:
            f_items.append(f"I{i}")
            raised.append(at)
            cleared.append(None if hours is None else at + dt.timedelta(hours=6 * hours))
    n = len(items)
    return {
        "transitions": pa.table({
            "source": ["log"] * n, "item": items, "state": states,
            "entered_at": pa.array(times, ts), "seq": pa.array(range(1, n + 1), pa.int64()),
        }),
        "flags": pa.table({
            "source": ["log"] * len(f_items), "item": pa.array(f_items, pa.string()),
            "raised_at": pa.array(raised, ts), "cleared_at": pa.array(cleared, ts),
        }),
        "items": pa.table({
            "source": pa.array([], pa.string()), "item": pa.array([], pa.string()),
            "title": pa.array([], pa.string()), "type": pa.array([], pa.string()),
            "attributes": pa.array([], pa.string()),
        }),
    }


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(history, st.lists(flag, max_size=2)), min_size=1, max_size=5))
def test_random_logs_agree_engine_against_engine(spark: Any, histories):
    tables = _tables(histories)
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(f"in_{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM in_{name}")
    duck = Flow(con, stream=PROPERTY_STREAM)
    engine = SparkEngine(spark)
    for name, table in tables.items():
        engine.register(name, spark.createDataFrame(table))
    on_spark = Flow(engine, stream=PROPERTY_STREAM)
    try:
        assert_engines_agree(duck, on_spark, every=False)
        assert_same(duck.steps("step"), on_spark.steps("step"), "steps")
        assert_same(duck.cfd(FIXED, by="state"), on_spark.cfd(FIXED, by="state"), "cfd")
    finally:
        engine.close()


# -- item filters and breakdowns (the JSON attributes) -----------------------------------------


@pytest.fixture
def attributed(tmp_path: Path) -> Workspace:
    """test_filters.py's log: items with a type, a label and a class of service."""
    from test_filters import HEADER, ROWS

    ws = Workspace(tmp_path / "valuestream.duckdb")
    ws.import_file(write_log(tmp_path / "log.csv", ROWS, HEADER))
    return ws


def test_filters_and_breakdowns_on_spark_give_the_known_answers(attributed: Workspace, spark: Any):
    from test_filters import STREAM

    stream = parse_stream(STREAM)
    # The answers worked out in test_filters.py: bugs A (lead 4) and C (6), story B (8).
    for filters, known in [
        ({"type": "Bug"}, {"A": 4, "C": 6}),
        ([("type", "Bug"), ("labels", "api")], {"C": 6}),
        ({"class of service": ["expedite", "nothing"]}, {"C": 6}),
    ]:
        duck = Flow.of(attributed, stream, filters=filters)
        on_spark = Flow.from_spark(spark, attributed, stream, filters=filters)
        assert leads(on_spark) == known, filters
        assert on_spark.conventions() == duck.conventions()
        assert_engines_agree(duck, on_spark, every=False)
    on_spark = Flow.from_spark(spark, attributed, stream)
    assert on_spark.attribute_keys() == Flow.of(attributed, stream).attribute_keys()
    assert on_spark.values_of("labels").to_dict("list") == {"value": ["api", "ui"], "items": [2, 1]}
    groups = on_spark.by("type")
    assert list(groups) == ["Bug", "O'Brien bug", "Story"]  # most items first, then by name
    assert leads(groups["Bug"]) == {"A": 4, "C": 6} and leads(groups["Story"]) == {"B": 8}
    assert groups["O'Brien bug"].items()["item"].tolist() == ["D"]  # a value is data, never SQL


def test_the_json_rewrites_read_members_as_duckdb_does(spark: Any):
    """A list member, a string that looks like a list, numbers, booleans, objects, nulls, a missing key."""
    from valuestream.flow.engine import DuckDBEngine

    doc = '{"labels": ["ui", "api"], "s": "[1]", "p": 3, "f": 1.5, "b": true, "o": {"a": 1}, "n": null}'
    keys = ["labels", "s", "p", "f", "b", "o", "n", "missing"]
    sql = """
        SELECT k.key,
               json_type(json_extract(d.doc, '$."' || k.key || '"')) = 'ARRAY' AS is_list,
               CASE WHEN json_type(json_extract(d.doc, '$."' || k.key || '"')) = 'ARRAY'
                    THEN CAST(json_extract(d.doc, '$."' || k.key || '"') AS VARCHAR[]) END AS list,
               json_extract_string(d.doc, '$."' || k.key || '"') AS text
        FROM docs AS d CROSS JOIN keys AS k ORDER BY k.key
    """
    duck, engine = DuckDBEngine.in_memory(), SparkEngine(spark)
    for e in (duck, engine):
        e.load("docs", pd.DataFrame({"doc": [doc]}))
        e.load("keys", pd.DataFrame({"key": keys}))
    a, b = duck.frame(sql), engine.frame(sql)
    assert a.set_index("key").loc["s", "is_list"] == False  # noqa: E712 (numpy bool)
    assert list(a.set_index("key").loc["labels", "list"]) == ["ui", "api"]
    assert a["text"].tolist() == b["text"].tolist()
    assert a["is_list"].tolist() == b["is_list"].tolist()
    lists = lambda col: [list(v) if hasattr(v, "__len__") else None for v in col]  # noqa: E731
    assert lists(a["list"]) == lists(b["list"])
    engine.close()


# Random item attributes: a type, labels (a list, sometimes holding a string that looks like a
# list), a priority (a number or a string) and a class of service.
attrs = st.fixed_dictionaries({}, optional={
    "labels": st.lists(st.sampled_from(["ui", "api", "[1]"]), max_size=3, unique=True),
    "priority": st.one_of(st.integers(1, 3), st.sampled_from(["1", "high"])),
    "class_of_service": st.sampled_from(["standard", "expedite", "[1]"]),
})
wanted = st.lists(
    st.sampled_from([("labels", "ui"), ("labels", "[1]"), ("priority", "1"), ("priority", "high"),
                     ("class_of_service", "expedite"), ("class_of_service", "[1]"), ("type", "Bug")]),
    min_size=1, max_size=3,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(history, st.sampled_from(["Bug", "Story", None]), attrs), min_size=1, max_size=5),
    wanted,
    st.sampled_from(["labels", "priority", "class_of_service", "type"]),
)
def test_random_filters_and_breakdowns_agree_engine_against_engine(spark: Any, logs, filters, by):
    import json

    tables = _tables([(h, []) for h, _, _ in logs])
    tables["items"] = pa.table({
        "source": ["log"] * len(logs), "item": [f"I{i}" for i in range(len(logs))],
        "title": pa.array([None] * len(logs), pa.string()), "type": pa.array([t for _, t, _ in logs], pa.string()),
        "attributes": [json.dumps(a) if a else None for _, _, a in logs],
    })
    con = duckdb.connect()
    engine = SparkEngine(spark)
    for name, table in tables.items():
        con.register(f"in_{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM in_{name}")
        engine.register(name, spark.createDataFrame(table))
    def same(duck: Callable[[], Any], on_spark: Callable[[], Any]) -> tuple[Any, Any]:
        """Both answers, or the same one-line refusal from both (a key no item holds)."""
        try:
            a = duck()
        except InputError as exc:
            with pytest.raises(InputError, match=re.escape(str(exc))):
                on_spark()
            return None, None
        return a, on_spark()

    try:
        duck, on_spark = same(lambda: Flow(con, stream=PROPERTY_STREAM, filters=filters),
                              lambda: Flow(engine, stream=PROPERTY_STREAM, filters=filters))
        if duck is not None:
            assert_engines_agree(duck, on_spark, every=False)
        everyone = Flow(con, stream=PROPERTY_STREAM), Flow(engine, stream=PROPERTY_STREAM)
        a, b = same(lambda: everyone[0].values_of(by), lambda: everyone[1].values_of(by))
        if a is not None:
            assert_same(a, b, f"values of {by}")
    finally:
        engine.close()


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_engine_spark_gives_the_duckdb_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark: Any):
    import json

    from typer.testing import CliRunner

    from valuestream.cli import app

    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", LOG)
    assert runner.invoke(app, ["import", "log.csv"]).exit_code == 0
    for command in (["metrics", "--format", "json"], ["items", "--format", "csv"], ["steps", "--format", "csv"],
                    ["constraint", "--format", "json"]):
        duck = runner.invoke(app, command)
        on_spark = runner.invoke(app, [*command, "--engine", "spark"])
        assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
        if command[0] in ("metrics", "constraint"):
            a, b = json.loads(duck.output), json.loads(on_spark.output)
            assert_same(a, b, command[0])
            if command[0] == "metrics":
                assert b["lead_p50"] == 9 and b["finished"] == 1
        else:
            assert_same(pd.read_csv(io.StringIO(duck.output)), pd.read_csv(io.StringIO(on_spark.output)), command[0])
    # the event log where it lies: Parquet with the workspace's column names, no workspace read
    with Workspace(tmp_path / "valuestream.duckdb").connect(read_only=True) as con:
        con.execute(f"COPY (SELECT item, state, entered_at FROM transitions ORDER BY seq) TO '{tmp_path / 'lake.parquet'}' (FORMAT parquet)")
    from_lake = runner.invoke(app, ["items", "--format", "csv", "--engine", "spark", "--events", "lake.parquet", "-w", "none.duckdb"])
    assert from_lake.exit_code == 0, from_lake.output
    assert pd.read_csv(io.StringIO(from_lake.output)).set_index("item").loc["A", "lead_time_days"] == 9
    missing = runner.invoke(app, ["items", "--engine", "spark", "--events", "nowhere.parquet"])
    assert missing.exit_code == 2 and "nowhere.parquet is no file, folder or table" in missing.output


@pytest.mark.parametrize(
    "command",
    [["sle", "--percentile", "50"], ["aging"], ["forecast", "when", "-n", "2", "--seed", "3", "--trials", "1000"],
     ["forecast", "how-many", "--days", "10", "--seed", "3", "--trials", "1000"], ["pbc", "lead"],
     ["wip", "--by-step"], ["metrics", "--by", "labels"]],
)
def test_forecasts_charts_and_breakdowns_on_spark_give_the_duckdb_answers(
    attributed: Workspace, spark: Any, monkeypatch: pytest.MonkeyPatch, command: list[str]
):
    """They take their tables from Flow, so Spark's Flow gives them DuckDB's answers."""
    import json

    from test_filters import STREAM
    from typer.testing import CliRunner

    from valuestream.cli import app

    monkeypatch.chdir(attributed.path.parent)
    Path("stream.yaml").write_text(STREAM)
    runner = CliRunner()
    duck = runner.invoke(app, [*command, "--format", "json"])
    on_spark = runner.invoke(app, [*command, "--format", "json", "--engine", "spark"])
    assert duck.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(duck.stdout), json.loads(on_spark.stdout)
    assert a and type(a) is type(b)
    for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b], strict=True):
        assert_same(x, y, " ".join(command))


# -- Spark Connect: the same answers from a server ----------------------------------------------


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Spark Connect server (pyspark's own jars) bound to 127.0.0.1; its sc:// URL."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (grpcio) on the client")
    home = Path(pyspark.__file__).parent
    if not list((home / "jars").glob("spark-connect_*.jar")) or shutil.which("java") is None:
        pytest.skip("no Spark Connect jar in pyspark or no java to run the server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(home / "bin" / "spark-submit"), "--master", "local[2]",
             "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)},
        )
    try:
        deadline = time.monotonic() + 240  # a JVM starting on a loaded machine
        while True:
            if server.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                pytest.skip(f"the Spark Connect server exited ({server.returncode}): {' | '.join(tail)}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.skip(f"the Spark Connect server did not listen on 127.0.0.1:{port} within 240 s")
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_metrics_through_spark_connect_give_the_duckdb_answers(
    attributed: Workspace, connect_server: str, monkeypatch: pytest.MonkeyPatch
):
    import json
    import subprocess
    import sys

    from test_filters import STREAM

    monkeypatch.chdir(attributed.path.parent)
    Path("stream.yaml").write_text(STREAM)

    def metrics(*args: str) -> dict[str, Any]:
        # Its own process, as a user runs it: pyspark allows no remote session beside this one's local one.
        done = subprocess.run([sys.executable, "-m", "valuestream", "metrics", "--format", "json", *args],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    for extra in ([], ["--filter", "type=Bug"]):
        a = metrics(*extra)
        b = metrics(*extra, "--engine", "spark", "--spark-master", connect_server)
        assert_same(a, b, f"metrics {extra}")
    assert (a["finished"], a["lead_p50"]) == (2, 5.0)  # bugs A (4) and C (6), as test_filters.py has it
