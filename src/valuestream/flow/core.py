"""The Flow: every flow metric of a stream, defined once as SQL over the event log.

``Flow`` builds the derived tables of ``tables.py`` once, then answers each metric with one query
next to the method that runs it (docs/concepts.md names the method behind every definition). The
queries run on an ``Engine`` (``engine.py``): DuckDB by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from valuestream.errors import InputError, ValuestreamError
from valuestream.flow import cache
from valuestream.flow.cache import FlowAnswers
from valuestream.flow.engine import DuckDBEngine, Engine, as_engine
from valuestream.flow.tables import (
    BUILD,
    ITEM_KEYS,
    ITEM_NAME,
    SQL_SHARED_KEY,
    clock_fill,
    days_table,
    ends_fill,
)
from valuestream.model import Calendar, KnownState, Stream, Workflow
from valuestream.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PERCENTILES = (50, 70, 85, 95)
SECONDS_PER_DAY = 86400.0

# -- metrics over the derived tables ----------------------------------------------------------

SQL_ITEM_TABLE = """
SELECT v.item, i.title, i.type, v.entered, v.first_touch, v.finished, v.discarded,
       v.lead_time_days, v.cycle_time_days, v.touch_days, v.wait_days, v.flow_efficiency,
       v.rework, v.blocked_days, v.unmapped_days, v.reopened, v.age_days, v.touch_age_days
FROM vs_items v
LEFT JOIN (SELECT item, any_value(title) AS title, any_value(type) AS type
           FROM {items} GROUP BY item) i ON i.item = v.item
ORDER BY v.entered, v.item
"""

# Per item and state (or step): visits and days, split into touch, wait and blocked exactly as the
# item's figures are (vs_tx holds the one split), so summed over steps they give the item's
# touch and wait. `left_it`: every visit has ended (the item has moved on from this step).
# `who` and `role`: the item's name and the role of its visits (TIME_IN_NAMED) where the rows are
# shown; the step table leaves both out (its role comes from the states, see SQL_STEP_SUMMARY).
SQL_TIME_IN = """
SELECT {who}, {key} AS {key},{role}
       count(*) AS visits,
       sum(dur_s) / 86400.0 AS days,
       sum(touch_s) / 86400.0 AS touch_days,
       sum(wait_s) / 86400.0 AS wait_days,
       sum(blocked_s) / 86400.0 AS blocked_days,
       bool_and(closed) AS left_it,
       -- how long after entering the stream the item first reached it
       min(c_start - c_entered) / 86400.0 AS first_in_days
FROM vs_seg
GROUP BY ik, {key}
"""

TIME_IN_NAMED = {
    "who": "any_value(item) AS item",
    "role": "\n       CASE WHEN min(role) = max(role) THEN min(role) ELSE 'mixed' END AS role,",
}
TIME_IN_KEYED = {"who": "ik", "role": ""}

# Per state or step, over the items that have left it (an item still sitting in a step has not
# spent its time there yet, and would pull the figures down); items still in it are counted on
# their own. Steps come in flow order: by how long after entering the stream items first reach
# them (absolute dates would mix items of different ages).
SQL_STEP_SUMMARY = """
WITH per_item AS ({time_in}), roles AS (
    -- the roles of the states it holds in the data, 'mixed' when they differ: what the roles of
    -- its visits item by item would give, without comparing text on every row
    SELECT {key}, CASE WHEN min(role) = max(role) THEN min(role) ELSE 'mixed' END AS role
    FROM vs_states
    WHERE state IN (SELECT DISTINCT state FROM vs_seg)
    GROUP BY {key}
), marked AS (
    -- d_*: the item's figures where they count (it has left the step), NULL (ignored) elsewhere
    SELECT *, left_it {finished_only} AS done,
           CASE WHEN left_it {finished_only} THEN days END AS d_days,
           CASE WHEN left_it {finished_only} THEN touch_days END AS d_touch,
           CASE WHEN left_it {finished_only} THEN wait_days END AS d_wait,
           CASE WHEN left_it {finished_only} THEN blocked_days END AS d_blocked,
           CASE WHEN left_it {finished_only} THEN visits END AS d_visits
    FROM per_item
)
SELECT {key},
       roles.role AS role,
       count(CASE WHEN done THEN 1 END) AS items,
       count(CASE WHEN NOT left_it THEN 1 END) AS in_progress,
       coalesce(sum(d_visits), 0) AS visits,
       coalesce(sum(d_days), 0) AS total_days,
       avg(d_days) AS mean_days,
       quantile_cont(d_days, 0.5) AS p50_days,
       quantile_cont(d_days, 0.85) AS p85_days,
       avg(d_touch) AS touch_mean_days,
       quantile_cont(d_touch, 0.5) AS touch_p50_days,
       quantile_cont(d_touch, 0.85) AS touch_p85_days,
       avg(d_wait) AS wait_mean_days,
       quantile_cont(d_wait, 0.5) AS wait_p50_days,
       quantile_cont(d_wait, 0.85) AS wait_p85_days,
       avg(d_blocked) AS blocked_mean_days,
       coalesce(sum(d_touch), 0) AS total_touch_days,
       coalesce(sum(d_wait), 0) AS total_wait_days,
       coalesce(sum(d_blocked), 0) AS total_blocked_days,
       quantile_cont(first_in_days, 0.5) AS typical_entry
FROM marked
JOIN roles USING ({key})
GROUP BY {key}, roles.role
ORDER BY typical_entry, {key}
"""

# The states each step holds in the data.
SQL_STEP_STATES = "SELECT DISTINCT step, state FROM vs_seg ORDER BY step, state"

# Step-level moves: an item moving from one step to another inside the stream. A move is rework
# when the item first entered the target step before the step it leaves, except coming back from
# a blocked state to the work it was on (the same rule as the item-level rework count).
SQL_STEP_MOVES = """
WITH t AS (
    SELECT v.*, lag(v.step) OVER (PARTITION BY v.ik ORDER BY v.n) AS prev_step,
           min(v.n) OVER (PARTITION BY v.ik, v.step) AS first_n
    FROM vs_t v
), moves AS (
    SELECT t.*, lag(t.first_n) OVER (PARTITION BY t.ik ORDER BY t.n) AS prev_first_n
    FROM t
)
SELECT m.prev_step AS from_step, m.step AS to_step,
       count(*) AS moves, count(DISTINCT m.ik) AS items,
       bool_or(m.first_n < m.prev_first_n AND NOT m.resumes) AS backward
FROM moves m
WHERE m.prev_step IS NOT NULL AND m.prev_step <> m.step
  AND m.entered_at >= m.entered
  AND (m.finished IS NULL OR m.entered_at <= m.finished)
GROUP BY 1, 2
ORDER BY 1, 2
"""

# Visits into and out of each step in a window: a visit starts when an item enters the step from
# another step (or enters the stream) and ends when it leaves for another step (or finishes).
SQL_STEP_ARRIVALS = """
WITH s AS (
    SELECT item, step, seg_start, seg_end, closed,
           lag(step) OVER (PARTITION BY ik ORDER BY n) AS prev_step,
           lead(step) OVER (PARTITION BY ik ORDER BY n) AS next_step
    FROM vs_seg
)
SELECT step,
       count(*) FILTER (WHERE prev_step IS DISTINCT FROM step
                          AND CAST(seg_start AS DATE) BETWEEN {start} AND {end}) AS arrivals,
       count(*) FILTER (WHERE closed AND next_step IS DISTINCT FROM step
                          AND CAST(seg_end AS DATE) BETWEEN {start} AND {end}) AS departures
FROM s
GROUP BY step
ORDER BY step
"""

# Each unfinished item's open segment: the step (and raw state) it is in at the as-of time.
SQL_CURRENT_STEP = """
SELECT item, step, state
FROM vs_seg
WHERE NOT closed
QUALIFY row_number() OVER (PARTITION BY ik ORDER BY n DESC) = 1
"""

# Per ISO week (Monday start) of finishing: items finished, their median lead and cycle time
# (items never touched have no cycle time and are left out of its median) and the week's
# aggregate flow efficiency.
SQL_FINISHED_BY_WEEK = """
SELECT CAST(date_trunc('week', CAST(finished AS DATE)) AS DATE) AS week,
       CAST(count(*) AS BIGINT) AS finished,
       quantile_cont(lead_time_days, 0.5) AS median_lead,
       quantile_cont(cycle_time_days, 0.5) AS median_cycle,
       sum(touch_days) / nullif(sum(lead_time_days), 0) AS flow_efficiency
FROM vs_items
WHERE finished IS NOT NULL
GROUP BY 1
ORDER BY 1
"""

# Every transition with its role and the time the item left it (the XES writer's input).
SQL_TRANSITIONS = """
SELECT item, state, role, entered_at, left_at FROM vs_t ORDER BY item, n
"""

SQL_ITEM_ATTRIBUTES = """
SELECT item, any_value(title) AS title, any_value(type) AS type,
       any_value(CAST(attributes AS VARCHAR)) AS attributes
FROM {items} GROUP BY item ORDER BY item
"""

# Days that start a new period: events logged in the workspace.
SQL_PERIOD_STARTS = "SELECT DISTINCT date FROM {events} WHERE new_period ORDER BY date"

# Items in the stream at the end of each day: entries so far minus first finishes so far.
SQL_WIP = """
WITH deltas AS (
    SELECT CAST(entered AS DATE) AS day, 1 AS d FROM vs_items
    UNION ALL
    SELECT CAST(finished AS DATE) AS day, -1 AS d FROM vs_items WHERE finished IS NOT NULL
    UNION ALL
    SELECT CAST(discarded AS DATE) AS day, -1 AS d FROM vs_items WHERE discarded IS NOT NULL
), per_day AS (
    SELECT day, sum(d) AS d FROM deltas GROUP BY day
), days AS (
    SELECT CAST(unnest(generate_series(least({start}, (SELECT min(day) FROM per_day)), {end}, INTERVAL 1 DAY)) AS DATE) AS day
), running AS (
    SELECT days.day, sum(coalesce(per_day.d, 0)) OVER (ORDER BY days.day ROWS UNBOUNDED PRECEDING) AS wip
    FROM days LEFT JOIN per_day ON per_day.day = days.day
)
SELECT day, CAST(wip AS BIGINT) AS wip FROM running WHERE day >= {start} AND day <= {end} ORDER BY day
"""

# Items in each step at the end of each day (the cumulative flow diagram); finished items stay
# in the finish band.
SQL_CFD = """
WITH deltas AS (
    SELECT {key} AS band, CAST(seg_start AS DATE) AS day, 1 AS d FROM vs_seg
    UNION ALL
    SELECT {key} AS band, CAST(seg_end AS DATE) AS day, -1 AS d FROM vs_seg WHERE closed
    UNION ALL
    SELECT {finish_band} AS band, CAST(finished AS DATE) AS day, 1 AS d FROM vs_items WHERE finished IS NOT NULL
), per_day AS (
    SELECT band, day, sum(d) AS d FROM deltas GROUP BY band, day
), days AS (
    SELECT CAST(unnest(generate_series(least({start}, (SELECT min(day) FROM per_day)), {end}, INTERVAL 1 DAY)) AS DATE) AS day
), grid AS (
    SELECT b.band, days.day FROM (SELECT DISTINCT band FROM per_day) b CROSS JOIN days
), running AS (
    SELECT grid.band, grid.day,
           sum(coalesce(p.d, 0)) OVER (PARTITION BY grid.band ORDER BY grid.day ROWS UNBOUNDED PRECEDING) AS items
    FROM grid LEFT JOIN per_day p ON p.band = grid.band AND p.day = grid.day
)
SELECT day, band AS {key}, CAST(items AS BIGINT) AS items FROM running WHERE day >= {start} AND day <= {end} ORDER BY day, band
"""

SQL_FLOW_RATES = """
WITH days AS (
    SELECT CAST(unnest(generate_series({start}, {end}, INTERVAL 1 DAY)) AS DATE) AS day
), arr AS (
    SELECT CAST(entered AS DATE) AS day, count(*) AS n FROM vs_items GROUP BY 1
), thr AS (
    SELECT CAST(finished AS DATE) AS day, count(*) AS n FROM vs_items WHERE finished IS NOT NULL GROUP BY 1
)
SELECT {period_expr} AS period, CAST(sum(coalesce(arr.n, 0)) AS BIGINT) AS arrivals,
       CAST(sum(coalesce(thr.n, 0)) AS BIGINT) AS throughput,
       count(*) AS days
FROM days LEFT JOIN arr ON arr.day = days.day LEFT JOIN thr ON thr.day = days.day
GROUP BY 1
ORDER BY 1
"""

SQL_FINISHED_STATS = """
SELECT
    CAST(count(*) AS BIGINT) AS finished,
    {lead_pcts},
    avg(lead_time_days) AS lead_mean,
    {cycle_pcts},
    avg(cycle_time_days) AS cycle_mean,
    sum(touch_days) / nullif(sum(lead_time_days), 0) AS flow_efficiency,
    median(flow_efficiency) AS flow_efficiency_median,
    avg(CASE WHEN rework > 0 THEN 1.0 ELSE 0.0 END) AS rework_share,
    sum(blocked_days) / nullif(sum(lead_time_days), 0) AS blocked_share
FROM vs_items
WHERE finished IS NOT NULL AND CAST(finished AS DATE) BETWEEN {start} AND {end}
"""

SQL_OPEN_STATS = """
SELECT CAST(count(*) AS BIGINT) AS in_progress, max(age_days) AS oldest_age_days, median(age_days) AS median_age_days
FROM vs_items WHERE finished IS NULL AND discarded IS NULL
"""

# Items discarded (taken out of the stream unfinished) on a day of the window.
SQL_DISCARDED = """
SELECT v.item, i.title, i.type, v.entered, v.discarded, t.state
FROM vs_items v
JOIN vs_t t ON t.ik = v.ik AND t.entered_at = v.discarded AND t.role = 'discarded'
LEFT JOIN (SELECT item, any_value(title) AS title, any_value(type) AS type
           FROM {items} GROUP BY item) i ON i.item = v.item
WHERE v.discarded IS NOT NULL AND CAST(v.discarded AS DATE) BETWEEN {start} AND {end}
QUALIFY row_number() OVER (PARTITION BY v.ik ORDER BY t.n) = 1
ORDER BY v.discarded, v.item
"""

# The item attributes a filter can name: the columns every item has, and the keys of the
# attributes the sources kept (a label list, a class of service, a priority).
SQL_ATTRIBUTE_KEYS = """
SELECT DISTINCT k AS key FROM (
    SELECT unnest(json_keys(attributes)) AS k FROM {items} WHERE attributes IS NOT NULL
) ORDER BY 1
"""

# The items a filter keeps. The wanted (key, value) pairs are a table (vs_filter), never SQL
# text: every key must match (AND), any of the values given for one key will do (OR); a list
# attribute (labels) matches when it holds the value.
SQL_KEEP = """
CREATE OR REPLACE TEMP TABLE vs_keep AS
WITH tested AS (
    SELECT i.item, f.key,
        CASE f.key
            WHEN 'type' THEN i.type = f.value
            WHEN 'title' THEN i.title = f.value
            WHEN 'source' THEN i.source = f.value
            ELSE coalesce(
                CASE WHEN json_type(json_extract(i.attributes, '$."' || f.key || '"')) = 'ARRAY'
                     THEN list_contains(CAST(json_extract(i.attributes, '$."' || f.key || '"') AS VARCHAR[]), f.value)
                     ELSE json_extract_string(i.attributes, '$."' || f.key || '"') = f.value END,
                FALSE)
        END AS hit
    FROM {items} AS i CROSS JOIN vs_filter AS f
)
SELECT item FROM tested
GROUP BY item
HAVING count(DISTINCT CASE WHEN hit THEN key END) = (SELECT count(DISTINCT key) FROM vs_filter)
"""

# The values of one attribute and how many items hold each (for a --by breakdown).
SQL_ATTRIBUTE_VALUES = """
WITH v AS (
    SELECT i.item,
        CASE f.key
            WHEN 'type' THEN [i.type]
            WHEN 'title' THEN [i.title]
            WHEN 'source' THEN [i.source]
            ELSE CASE WHEN json_type(json_extract(i.attributes, '$."' || f.key || '"')) = 'ARRAY'
                      THEN CAST(json_extract(i.attributes, '$."' || f.key || '"') AS VARCHAR[])
                      ELSE [json_extract_string(i.attributes, '$."' || f.key || '"')] END
        END AS vals
    FROM {items} AS i CROSS JOIN vs_by AS f
)
SELECT value, count(DISTINCT item) AS items FROM (SELECT item, unnest(vals) AS value FROM v)
WHERE value IS NOT NULL AND item IN (SELECT item FROM vs_items)
GROUP BY value ORDER BY items DESC, value
"""


def spark_sql(sql: str) -> str:
    """The Spark SQL translation of one of the metric queries above (placeholders filled)."""
    from valuestream.flow.spark import to_spark  # sqlglot loads only for Spark

    return to_spark(sql)


def _ts(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _date(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


@dataclass(frozen=True)
class Window:
    """A closed range of calendar days (in the analysis time zone)."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValuestreamError(f"the window ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class Flow:
    """Flow metrics of a stream: built once from the event log, then asked for tables.

    ``Flow.of(workspace, stream)`` snapshots the workspace into memory, so the workspace file is
    not held locked while the analysis is used. ``Flow(engine_or_connection, ...)`` analyses the
    tables ``transitions``, ``flags``, ``items`` and ``state_roles`` already there. Times are UTC;
    days (for WIP, arrivals and throughput) are calendar days in ``timezone``.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | Engine,
        workflow: Workflow | None = None,
        *,
        stream: Stream | None = None,
        as_of: dt.datetime | None = None,
        timezone: str = "UTC",
        schema: str | None = None,
        calendar: Calendar | None = None,
        filters: Filters | None = None,
    ) -> None:
        self.engine: Engine = as_engine(con)
        self.stream = stream
        self.workflow = workflow if workflow is not None else (stream.workflow if stream else None)
        self.calendar: Calendar = calendar or (stream.calendar if stream else Calendar())
        self.filters: tuple[tuple[str, str], ...] = filter_pairs(filters)
        self.timezone = timezone
        prefix = f"{schema}." if schema else ""
        self._tables = {
            "transitions": f"{prefix}transitions",
            "flags": f"{prefix}flags",
            "items": f"{prefix}items",
            "state_roles": f"{prefix}state_roles",
            "events": f"{prefix}events",
        }
        if self.workflow is not None and self.workflow.needs_states:
            # start: {category: ...} or finish: {column: ...}: the states the workspace knows say which.
            if self.engine.dialect != "duckdb":
                raise InputError(
                    "a workflow by status category or board column does not run on Spark yet: name its states"
                )
            self.workflow = self.workflow.resolve(self._known_states(f"{prefix}state_meta"))
            self.stream = stream.model_copy(update={"workflow": self.workflow}) if stream else None
        if as_of is None:
            last = self._scalar(f"SELECT max(entered_at) AS v FROM {self._tables['transitions']}")
            as_of = last if last is not None else dt.datetime.now(dt.UTC)
        assert as_of is not None
        as_of = pd.Timestamp(as_of).to_pydatetime()
        self.as_of: dt.datetime = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
        self._answers: dict[str, pd.DataFrame] = {}
        self._remake: Any = None
        self._cache: FlowAnswers | None = None
        self.item_key: str | None = None
        """The item key the derived tables were built with (``tables.ITEM_KEY``), once built."""
        if not getattr(self.engine, "deferred", False):
            self._build()

    @classmethod
    def of(
        cls,
        workspace: Workspace,
        stream: Stream | Workflow | None = None,
        *,
        as_of: dt.datetime | None = None,
        timezone: str = "UTC",
        calendar: Calendar | None = None,
        filters: Filters | None = None,
    ) -> Flow:
        """Analyse a workspace under a stream (or bare workflow); see the class docstring.

        ``filters``: keep only items whose imported attributes match, as ``{"type": "Bug"}``,
        ``{"labels": ["ui", "api"]}`` (either will do) or ``[("type", "Bug"), ...]``; every key
        must match. ``calendar`` overrides the stream file's (how days are counted).
        """
        engine = DuckDBEngine.in_memory()
        with workspace.attached(engine.con, "ws"):
            workflow = stream if isinstance(stream, Workflow) else None
            full = stream if isinstance(stream, Stream) else None
            kept = cache.open_answers(workspace, engine)  # None: no cache (off, unwritable, no token)
            flow = cls(
                engine if kept is None else kept.engine, workflow, stream=full, as_of=as_of,
                timezone=timezone, schema="ws", calendar=calendar, filters=filters,
            )
            if kept is None:
                _snapshot(engine)
            flow._tables["items"] = "items"
            flow._tables["events"] = "events"
            if kept is not None:

                def build() -> None:
                    _snapshot(engine)
                    flow._build()

                kept.bind(flow, build)  # builds now, unless this flow's answers are in the cache

        def remake(more: Filters) -> Flow:
            return cls.of(
                workspace, stream, as_of=flow.as_of, timezone=timezone, calendar=calendar,
                filters=[*flow.filters, *filter_pairs(more)],
            )

        flow._remake = remake
        return flow

    @classmethod
    def from_spark(
        cls,
        spark: SparkSession,
        events: str | Path | DataFrame | Workspace,
        stream: Stream | Workflow | None = None,
        *,
        as_of: dt.datetime | None = None,
        timezone: str = "UTC",
        calendar: Calendar | None = None,
        filters: Filters | None = None,
    ) -> Flow:
        """Analyse an event log on Spark: Parquet (a file or a folder), a table, a DataFrame, or a workspace.

        Parquet and DataFrames have the workspace's column names (item, state, entered_at; source,
        seq, title, type if present); see ``flow.spark.load_events``. The answers are the same
        tables, with the same columns and dtypes, as on DuckDB.
        """
        from valuestream.flow.spark import SparkEngine, load_events, load_workspace

        engine = SparkEngine(spark)
        if isinstance(events, Workspace):
            load_workspace(engine, events)
        else:
            load_events(engine, events)
        workflow = stream if isinstance(stream, Workflow) else None
        full = stream if isinstance(stream, Stream) else None
        flow = cls(
            engine, workflow, stream=full, as_of=as_of, timezone=timezone, calendar=calendar, filters=filters
        )

        def remake(more: Filters) -> Flow:
            return cls.from_spark(
                spark, events, stream, as_of=flow.as_of, timezone=timezone, calendar=calendar,
                filters=[*flow.filters, *filter_pairs(more)],
            )

        flow._remake = remake
        return flow

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection behind the default engine (for notebooks that want raw SQL)."""
        con = getattr(self.engine, "con", None)
        if not isinstance(con, duckdb.DuckDBPyConnection):
            raise ValuestreamError(f"this Flow runs on {self.engine.dialect}, not DuckDB")
        return con

    # -- building -----------------------------------------------------------------------------

    def _known_states(self, table: str) -> list[KnownState]:
        """The states' categories and board columns that the sources recorded (none in a workspace
        made before they were)."""
        if not self.engine.has_table(table):
            return []
        known = self.engine.frame(
            f"SELECT state, any_value(category) AS category, any_value(board_column) AS board_column,"
            f" any_value(column_order) AS column_order FROM {table} GROUP BY state"
        )
        return [
            KnownState(
                str(r.state),
                None if pd.isna(r.category) else str(r.category),
                None if pd.isna(r.board_column) else str(r.board_column),
                None if pd.isna(r.column_order) else int(r.column_order),
            )
            for r in known.itertuples(index=False)
        ]

    def _state_table(self) -> pd.DataFrame:
        states = self.engine.frame(f"SELECT DISTINCT state FROM {self._tables['transitions']}")[
            "state"
        ]
        step_of = self.stream.step_of_state() if self.stream else {}
        known: dict[str, str] = {}
        if self.workflow is None and self.engine.has_table(self._tables["state_roles"]):
            # Without a workflow, use what the sources know (XES lifecycle: touch and wait).
            roles = self.engine.frame(
                f"SELECT state, any_value(role) AS role FROM {self._tables['state_roles']} GROUP BY state"
            )
            known = dict(zip(roles["state"], roles["role"], strict=True))
        rows = []
        for state in states:
            state = str(state)
            role = self.workflow.role_of(state) if self.workflow else known.get(state, "unmapped")
            if role == "finish" and self.workflow is None:
                role = "unmapped"  # without a workflow every item finishes at its last event
            rows.append({"state": state, "role": role, "step": step_of.get(state, state)})
        return pd.DataFrame(rows, columns=["state", "role", "step"]).astype(str)

    def _build(self) -> None:
        self.engine.set_timezone(self.timezone)
        if self.filters:
            self._keep_filtered()
        self.engine.load("vs_states", self._state_table())
        wf = self.workflow
        clock = clock_fill(self.calendar, self._days(), pd.Timestamp(self.as_of).tz_convert(self.timezone))

        def fill(item_key: str) -> dict[str, str]:
            return {
                "transitions": self._tables["transitions"],
                "flags": self._tables["flags"],
                "as_of": _ts(self.as_of),
                "has_finish_state": "TRUE" if wf else "FALSE",
                "item_key": item_key,
                **clock,
                **ends_fill(wf is not None, wf.reopened if wf is not None else "first", item_key),
            }

        key = ITEM_KEYS.get(self.engine.dialect, ITEM_NAME)
        for sql in BUILD:
            self.engine.execute(sql.format(**fill(key)))
        if key != ITEM_NAME and self._scalar(SQL_SHARED_KEY):
            # two items share a key: build again keyed by the names (tables.ITEM_KEY)
            key = ITEM_NAME
            for sql in BUILD:
                self.engine.execute(sql.format(**fill(key)))
        self.item_key = key

    def _days(self) -> pd.DataFrame | None:
        """The calendar's day table (``vs_days``), loaded for the engine; None for elapsed calendar time."""
        if self.calendar.is_default:
            return None
        first = self._scalar(
            f"SELECT CAST(least(min(entered_at), {_ts(self.as_of)}) AS DATE) AS v FROM {self._tables['transitions']}"
        )
        flagged = self._scalar(f"SELECT CAST(min(raised_at) AS DATE) AS v FROM {self._tables['flags']}")
        last = pd.Timestamp(self.as_of).tz_convert(self.timezone).date()
        first = min(d for d in (_day(first), _day(flagged), last) if d is not None)
        try:
            days = days_table(self.calendar, first, last, self.timezone)
        except ValueError as exc:
            raise ValuestreamError(f"calendar: {exc}") from None
        self.engine.load("vs_days", days)
        return days

    def _keep_filtered(self) -> None:
        """Narrow the analysis to the items the filters keep (``vs_keep``); unknown keys fail."""
        known = self.attribute_keys()
        pairs = []
        for key, value in self.filters:
            name = _known_key(key, known)
            if name is None:
                raise InputError(f"--filter {key}={value}: no item attribute '{key}'; the known keys are {', '.join(known)}")
            pairs.append({"key": name, "value": value})
        self.engine.load("vs_filter", pd.DataFrame(pairs, columns=["key", "value"]).astype(str))
        self.engine.execute(SQL_KEEP.format(items=self._tables["items"]))
        for name in ("transitions", "flags"):
            self._tables[name] = f"(SELECT * FROM {self._tables[name]} WHERE item IN (SELECT item FROM vs_keep))"

    def attribute_keys(self) -> list[str]:
        """The item attributes a filter or a breakdown can name: type, title, source and every
        attribute key the sources kept."""
        items = self._tables["items"]
        keys = self.engine.frame(SQL_ATTRIBUTE_KEYS.format(items=items))["key"]
        return ["type", "title", "source", *(str(k) for k in keys if k not in ("type", "title", "source"))]

    def values_of(self, key: str) -> pd.DataFrame:
        """The values of an item attribute among the items in the stream, most items first."""
        name = _known_key(key, self.attribute_keys())
        if name is None:
            raise InputError(f"--by {key}: no item attribute '{key}'; the known keys are {', '.join(self.attribute_keys())}")
        self.engine.load("vs_by", pd.DataFrame({"key": [name]}))
        return self.engine.frame(SQL_ATTRIBUTE_VALUES.format(items=self._tables["items"]))

    def by(self, key: str, *, limit: int = 12) -> dict[str, Flow]:
        """One Flow per value of an item attribute (the ``limit`` values most items hold), each
        with this Flow's filters and that value: the breakdown behind ``--by``."""
        if self._remake is None:
            raise ValuestreamError("a breakdown needs a Flow made with Flow.of(workspace, ...)")
        name = _known_key(key, self.attribute_keys()) or key
        values = self.values_of(key)["value"].head(limit)
        return {str(v): self._remake([(name, str(v))]) for v in values}

    def finish_band(self) -> str:
        """The name finished items are counted under in the cumulative flow diagram."""
        if self.workflow is None:
            return "Finished"
        finish = self.workflow.finish
        return finish[0] if len(finish) == 1 else "Finished"

    def conventions(self) -> str:
        """How durations are counted here (calendar) and which items are in (filters), in words."""
        words = f"durations in {self.calendar.describe()}"
        if self.filters:
            words += "; items where " + " and ".join(f"{k} = {v}" for k, v in self.filters)
        return words

    def _q(self, sql: str, **fill: Any) -> pd.DataFrame:
        fill.setdefault("as_of", _ts(self.as_of))
        fill.setdefault("items", self._tables["items"])
        text = sql.format(**fill)
        if text not in self._answers:
            self._answers[text] = self._answer(text)
        return self._answers[text].copy()

    def _scalar(self, sql: str) -> Any:
        df = self.engine.frame(sql)
        value = df.iloc[0, 0] if len(df) else None
        return None if value is None or pd.isna(value) else value

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the analysis tables (vs_t, vs_seg, vs_items, ...) and return a DataFrame.

        For notebooks: the library's own figures all come from the methods below. The analysis
        is a snapshot, so a query's answer never changes: the engine is asked once. (Only the
        library's own queries are kept in the answer cache: yours may read tables of your own.)
        """
        if sql not in self._answers:
            self._answers[sql] = self.engine.frame(sql)
        return self._answers[sql].copy()

    def _answer(self, sql: str) -> pd.DataFrame:
        """One of the library's answers: from the workspace's answer cache (``cache.py``) when it
        is there and valid, else from the engine (then kept for the next time)."""
        kept = self._cache.get(sql) if self._cache is not None else None
        if kept is not None:
            return kept
        answer = self.engine.frame(sql)
        if self._cache is not None:
            self._cache.put(sql, answer)
        return answer

    # -- the window ---------------------------------------------------------------------------

    def window(
        self, start: dt.date | None = None, end: dt.date | None = None, *, days: int | None = None
    ) -> Window:
        """A window ending at ``end`` (default: the as-of day), starting ``days`` before or at ``start``."""
        bounds = self._q(
            "SELECT CAST(min(entered) AS DATE) AS first, CAST({as_of} AS DATE) AS last FROM vs_items"
        )
        first, last = (None if pd.isna(v) else pd.Timestamp(v).date() for v in bounds.iloc[0])
        end = end or last or self.as_of.date()
        if start is None:
            start = end - dt.timedelta(days=days - 1) if days else (first or end)
        return Window(start, end)

    # -- per item -----------------------------------------------------------------------------

    def items(self) -> pd.DataFrame:
        """One row per item: entry, first touch, finish, lead and cycle time, touch, wait, rework, age."""
        return self._q(SQL_ITEM_TABLE)

    def item_count(self) -> int:
        """Items that have entered the stream (finished or not)."""
        return int(self._q("SELECT count(*) AS n FROM vs_items")["n"].iloc[0])

    def item_attributes(self) -> pd.DataFrame:
        """Per item: title, type and the imported attributes (JSON text)."""
        return self._q(SQL_ITEM_ATTRIBUTES)

    def transitions(self) -> pd.DataFrame:
        """Every transition up to as-of, in each item's order, with its role and when it was left."""
        return self._q(SQL_TRANSITIONS)

    def current_step(self) -> pd.DataFrame:
        """Per unfinished item: the step and state it is in at the as-of time."""
        return self._q(SQL_CURRENT_STEP)

    # -- per step and state -------------------------------------------------------------------

    def time_in(self, by: str = "state") -> pd.DataFrame:
        """Per item, the days in each state (``by="state"``) or step (``by="step"``).

        Columns: visits, days, touch_days, wait_days, blocked_days (touch + wait = days, and over
        an item's steps they sum to its touch and wait), left_it, first_in_days.
        """
        key = _key(by)
        return self._q(SQL_TIME_IN + " ORDER BY item, first_in_days, {key}", key=key, **TIME_IN_NAMED)

    def steps(self, by: str = "step", *, finished_only: bool = False) -> pd.DataFrame:
        """Per state or step, in flow order: the one table of time per step.

        Over the items that have left it: items, visits, total/mean/p50/p85 days, touch and wait
        (mean, p50, p85), blocked mean, totals, and ``wait_share`` (its share of all the wait in
        steps); ``in_progress`` counts items in it now; ``states`` lists the states it holds.
        ``finished_only``: over the items that have finished the stream (the lead-time population).
        """
        key = _key(by)
        time_in = SQL_TIME_IN.format(key=key, **TIME_IN_KEYED)
        only = "AND ik IN (SELECT ik FROM vs_items WHERE finished IS NOT NULL)" if finished_only else ""
        df = self._q(SQL_STEP_SUMMARY, key=key, time_in=time_in, finished_only=only)
        df = df.drop(columns=["typical_entry"])
        for col in ("items", "in_progress", "visits"):
            df[col] = df[col].astype("int64")
        total_wait = float(df["total_wait_days"].sum())
        df["wait_share"] = df["total_wait_days"] / total_wait if total_wait > 0 else 0.0
        if key == "step":
            states = (
                self._q(SQL_STEP_STATES).groupby("step")["state"].agg(lambda v: sorted(map(str, v)))
            )
            df.insert(2, "states", [states.get(s, []) for s in df["step"]])
        else:
            df.insert(2, "states", [[str(s)] for s in df["state"]])
        return df

    def step_moves(self) -> pd.DataFrame:
        """Moves between steps inside the stream: from_step, to_step, moves, items, backward."""
        return self._q(SQL_STEP_MOVES)

    def step_arrivals(self, window: Window | None = None) -> pd.DataFrame:
        """Per step: visits that arrived into it and left it within the window."""
        w = window or self.window()
        return self._q(SQL_STEP_ARRIVALS, start=_date(w.start), end=_date(w.end))

    def unmapped_states(self) -> list[str]:
        """States in the data that the workflow does not list (their time is counted as wait)."""
        return [
            str(s)
            for s in self._q(
                "SELECT state FROM vs_states WHERE role = 'unmapped' ORDER BY state"
            )["state"]
        ]

    # -- per period ---------------------------------------------------------------------------

    def wip(self, window: Window | None = None) -> pd.DataFrame:
        """Items in the stream at the end of each day of the window."""
        w = window or self.window()
        return self._q(SQL_WIP, start=_date(w.start), end=_date(w.end))

    def cfd(self, window: Window | None = None, by: str = "step") -> pd.DataFrame:
        """Items in each step (or state) at the end of each day: the cumulative flow diagram's data."""
        w = window or self.window()
        key = _key(by)
        return self._q(
            SQL_CFD, start=_date(w.start), end=_date(w.end), key=key, finish_band=_literal(self.finish_band())
        )

    def rates(self, window: Window | None = None, period: str = "week") -> pd.DataFrame:
        """Arrivals (entries) and throughput (first finishes) per day or ISO week (Monday start)."""
        w = window or self.window()
        if period not in ("day", "week"):
            raise ValuestreamError(f"period must be day or week, not '{period}'")
        expr = "days.day" if period == "day" else "CAST(date_trunc('week', days.day) AS DATE)"
        return self._q(SQL_FLOW_RATES, start=_date(w.start), end=_date(w.end), period_expr=expr)

    def finished_by_week(self) -> pd.DataFrame:
        """Per ISO week of finishing: items finished, median lead and cycle time, aggregate flow efficiency."""
        return self._q(SQL_FINISHED_BY_WEEK)

    def period_starts(self) -> list[dt.date]:
        """Days on which an event in the workspace's events log starts a new period."""
        events = self._tables["events"]
        if not self.engine.has_table(events):
            return []
        days = self._q(SQL_PERIOD_STARTS, events=events)["date"]
        return [pd.Timestamp(d).date() for d in days]

    # -- the stream's figures -----------------------------------------------------------------

    def summary(self, window: Window | None = None) -> dict[str, Any]:
        """The stream-level figures over a window: lead and cycle time, flow efficiency, rates, WIP."""
        w = window or self.window()
        lead = ", ".join(
            f"quantile_cont(lead_time_days, {p / 100}) AS lead_p{p}" for p in PERCENTILES
        )
        cycle = ", ".join(
            f"quantile_cont(cycle_time_days, {p / 100}) AS cycle_p{p}" for p in PERCENTILES
        )
        fin = self._q(
            SQL_FINISHED_STATS,
            lead_pcts=lead,
            cycle_pcts=cycle,
            start=_date(w.start),
            end=_date(w.end),
        )
        out: dict[str, Any] = {
            "window_start": w.start.isoformat(),
            "window_end": w.end.isoformat(),
            "days": w.days,
        }
        out["as_of"] = self.as_of.isoformat()
        out.update({k: _plain(v) for k, v in fin.to_dict(orient="records")[0].items()})
        rates = self.rates(w, "day")
        weeks = w.days / 7
        out["arrivals"] = int(rates["arrivals"].sum())
        out["throughput"] = int(rates["throughput"].sum())
        out["arrivals_per_week"] = out["arrivals"] / weeks
        out["throughput_per_week"] = out["throughput"] / weeks
        wip = self.wip(w)
        out["wip_mean"] = _plain(wip["wip"].mean()) if len(wip) else None
        out["wip_now"] = int(wip["wip"].iloc[-1]) if len(wip) else 0
        opened = self._q(SQL_OPEN_STATS)
        out.update({k: _plain(v) for k, v in opened.to_dict(orient="records")[0].items()})
        out["discarded"] = len(self.discarded(w))
        out["unmapped_states"] = self.unmapped_states()
        out["calendar"] = self.calendar.describe()
        if self.filters:
            out["filters"] = " and ".join(f"{k} = {v}" for k, v in self.filters)
        return out

    def discarded(self, window: Window | None = None) -> pd.DataFrame:
        """Items taken out of the stream unfinished (a discarded state) on a day of the window:
        item, title, type, entered, discarded (when) and the state that discarded them."""
        w = window or self.window()
        return self._q(SQL_DISCARDED, start=_date(w.start), end=_date(w.end))


Filters = Mapping[str, "str | Sequence[str]"] | Iterable["tuple[str, str] | str"]
"""Item filters: ``{"type": "Bug"}``, ``{"labels": ["ui", "api"]}``, ``[("type", "Bug")]`` or
``["type=Bug"]`` (the CLI's form)."""


def _snapshot(engine: Engine) -> None:
    """Copy the workspace's (attached as ``ws``) items and events into the analysis."""
    engine.execute("CREATE TABLE items AS SELECT * FROM ws.items")
    engine.execute("CREATE TABLE events AS SELECT * FROM ws.events")


def filter_pairs(filters: Filters | None) -> tuple[tuple[str, str], ...]:
    """Filters as (key, value) pairs; ``"KEY=VALUE"`` text (the CLI's form) is split here too."""
    if not filters:
        return ()
    if isinstance(filters, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in filters.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((str(key), str(v)) for v in values)
        return tuple(pairs)
    out = []
    for pair in filters:
        if isinstance(pair, str):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise InputError(f"--filter {pair}: expected KEY=VALUE, like type=Bug")
            pair = (key.strip(), value.strip())
        out.append((str(pair[0]), str(pair[1])))
    return tuple(out)


def _known_key(key: str, known: Sequence[str]) -> str | None:
    """The attribute a filter key names: exactly, else ignoring case, spaces, _ and - and a plural
    (``label`` finds ``labels``, ``class of service`` finds ``class_of_service``)."""
    if key in known:
        return key

    def norm(text: str) -> str:
        text = "".join(ch for ch in text.lower() if ch.isalnum())
        return text[:-1] if text.endswith("s") else text

    return next((k for k in known if norm(k) == norm(key)), None)


def _day(value: Any) -> dt.date | None:
    return None if value is None else pd.Timestamp(value).date()


def _key(by: str) -> str:
    if by not in ("state", "step"):
        raise ValuestreamError(f"by must be state or step, not '{by}'")
    return by


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value, with NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def metric_queries() -> Iterable[tuple[str, str]]:
    """Every metric query with placeholders filled by sample values (for the Spark translation test)."""
    fill = {
        "transitions": "transitions",
        "flags": "flags",
        "items": "items",
        "as_of": "TIMESTAMPTZ '2026-01-01 00:00:00+00'",
        "has_finish_state": "TRUE",
        "start": "DATE '2025-01-01'",
        "end": "DATE '2025-12-31'",
        "key": "step",
        "finish_band": "'Done'",
        "period_expr": "days.day",
        "lead_pcts": "quantile_cont(lead_time_days, 0.5) AS lead_p50",
        "cycle_pcts": "quantile_cont(cycle_time_days, 0.5) AS cycle_p50",
        "time_in": SQL_TIME_IN.format(key="step", **TIME_IN_KEYED), "finished_only": "",
        "events": "events", "item_key": ITEM_NAME, **TIME_IN_NAMED,
    }
    # The calendar's clock at its most involved (working days, inclusive) over a sample year.
    sample = Calendar(days="working", counting="inclusive", holidays=(dt.date(2025, 12, 25),))
    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    fill.update(clock_fill(sample, days_table(sample, dt.date(2025, 1, 1), as_of.date(), "UTC"), as_of))
    fill.update(ends_fill(True, "last", ITEM_NAME))
    from valuestream.flow import tables

    found = {**vars(tables), **globals()}
    named = {
        name: value
        for name, value in found.items()
        if name.startswith("SQL_") and isinstance(value, str)
    }
    for name, sql in named.items():
        yield name, sql.format(**fill)
    # The item's ends take another form under reopened: first (see tables.ends_fill).
    yield "SQL_T (reopened: first)", tables.SQL_T.format(**{**fill, **ends_fill(True, "first", ITEM_NAME)})
