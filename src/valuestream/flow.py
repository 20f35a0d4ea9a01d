"""Flow metrics, defined once as SQL over the event log (see docs/concepts.md for the contract).

Every metric is a query over three derived tables, built once per analysis:

- ``vs_t``: each transition with its role (touch, wait, blocked, before, finish, unmapped), its step,
  and the time the item left it (its next transition);
- ``vs_seg``: the stretches of time an item spent in a state inside the stream, clipped to the
  stream's entry and first finish (or to ``as_of`` while unfinished), with flagged time;
- ``vs_items``: one row per item with entry, first touch, first finish, touch, wait and rework.

The SQL is written in DuckDB's dialect using only constructs that SQLGlot transpiles to Spark SQL
(``spark_sql`` shows the translation), so the same definitions can run on a cluster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import sqlglot

from valuestream.errors import ValuestreamError
from valuestream.model import Stream, Workflow
from valuestream.workspace import Workspace

PERCENTILES = (50, 70, 85, 95)
SECONDS_PER_DAY = 86400.0

# -- the derived tables ---------------------------------------------------------------------

# Transitions in each item's order, with the role and step of the state entered, the time the
# item left it, the item's stream entry and first finish (window aggregates share the one sort by
# item, so nothing is joined back), and whether entering the state was rework: a move into a state
# the item first entered before the state it leaves (so redoing the path forward again is not
# counted), except returning from blocked to the work the item was on. `resumes` marks those
# returns from blocked.
SQL_T = """
CREATE OR REPLACE TEMP TABLE vs_t AS
WITH ordered AS (
    SELECT
        t.item,
        t.state,
        s.role,
        s.step,
        t.entered_at,
        lead(t.entered_at) OVER w AS left_at,
        row_number() OVER w AS n,
        lag(s.role) OVER w AS prev_role,
        -- the state the item was working in before any run of blocked states
        last_value(CASE WHEN s.role <> 'blocked' THEN t.state END IGNORE NULLS)
            OVER (PARTITION BY t.item ORDER BY t.entered_at, t.source, t.seq
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS resumed_from,
        min(CASE WHEN s.role <> 'before' THEN t.entered_at END) OVER (PARTITION BY t.item) AS entered,
        {finish_expr} OVER (PARTITION BY t.item) AS finished
    FROM {transitions} AS t
    JOIN vs_states AS s ON s.state = t.state
    WHERE t.entered_at <= {as_of}
    WINDOW w AS (PARTITION BY t.item ORDER BY t.entered_at, t.source, t.seq)
)
SELECT
    item, state, role, step, entered_at, left_at, n, entered, finished,
    -- inside the stream: from entry until the first finish (or as_of while unfinished)
    entered_at >= entered AND entered_at < coalesce(finished, {as_of}) AS in_stream,
    coalesce(prev_role = 'blocked' AND state = resumed_from, FALSE) AS resumes
FROM ordered
WHERE entered IS NOT NULL
"""

# Rework moves per item, on narrow rows (item, n, state) so the second sort is cheap: a move into
# a state the item first entered before the state it leaves.
SQL_REWORK = """
CREATE OR REPLACE TEMP TABLE vs_rework AS
WITH firsts AS (
    SELECT item, n, in_stream, resumes, min(n) OVER (PARTITION BY item, state) AS first_n
    FROM vs_t
), moves AS (
    SELECT *, lag(first_n) OVER (PARTITION BY item ORDER BY n) AS prev_first_n
    FROM firsts
)
SELECT item, count(*) AS rework
FROM moves
WHERE first_n < prev_first_n AND in_stream AND NOT resumes
GROUP BY item
"""

SQL_FINISH_BY_STATE = "min(CASE WHEN s.role = 'finish' THEN t.entered_at END)"
# An event log of complete cases (XES): each item finishes at its last event.
SQL_FINISH_AT_LAST = "max(t.entered_at)"

# Time in each state inside the stream: from entering it until the next transition, the first
# finish, or as_of, whichever comes first. A view: it is a filter of vs_t, not worth a copy.
SQL_SEG = """
CREATE OR REPLACE TEMP VIEW vs_seg AS
SELECT
    item,
    state,
    step,
    role,
    entered_at AS seg_start,
    least(coalesce(left_at, {as_of}), coalesce(finished, {as_of})) AS seg_end,
    -- closed: the item has moved on (a segment still open at as_of is not left yet)
    (left_at IS NOT NULL OR finished IS NOT NULL) AS closed,
    entered
FROM vs_t
WHERE in_stream
"""

# Blocked flags, merged per item so that overlapping flags are never counted twice.
SQL_FLAGS = """
CREATE OR REPLACE TEMP TABLE vs_flags AS
WITH f AS (
    SELECT item, raised_at AS f_start, coalesce(cleared_at, {as_of}) AS f_end
    FROM {flags}
    WHERE raised_at <= {as_of}
), marked AS (
    SELECT *, CASE WHEN f_start <= max(f_end) OVER (
                  PARTITION BY item ORDER BY f_start, f_end
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS is_new
    FROM f
), grouped AS (
    SELECT *, sum(is_new) OVER (PARTITION BY item ORDER BY f_start, f_end ROWS UNBOUNDED PRECEDING) AS grp
    FROM marked
)
SELECT item, min(f_start) AS f_start, max(f_end) AS f_end
FROM grouped
GROUP BY item, grp
"""

# Seconds of each segment under a flag (only segments that overlap one appear).
SQL_SEG_FLAGGED = """
CREATE OR REPLACE TEMP TABLE vs_seg_flagged AS
SELECT
    s.item, s.state, s.seg_start,
    sum(epoch(least(s.seg_end, f.f_end)) - epoch(greatest(s.seg_start, f.f_start))) AS flagged_s
FROM vs_seg s
JOIN vs_flags f ON f.item = s.item AND f.f_start < s.seg_end AND f.f_end > s.seg_start
GROUP BY s.item, s.state, s.seg_start
"""

# One row per item, in one pass over vs_t (flagged time joined only where flags exist).
SQL_ITEMS = """
CREATE OR REPLACE TEMP TABLE vs_items AS
WITH per AS (
    SELECT
        t.item,
        any_value(t.entered) AS entered,
        any_value(t.finished) AS finished,
        min(CASE WHEN t.role = 'touch' AND t.in_stream THEN t.entered_at END) AS first_touch,
        sum(CASE WHEN t.in_stream THEN epoch(least(coalesce(t.left_at, {as_of}), coalesce(t.finished, {as_of}))) - epoch(t.entered_at) END) AS in_stream_s,
        sum(CASE WHEN t.in_stream AND t.role = 'touch'
                 THEN epoch(least(coalesce(t.left_at, {as_of}), coalesce(t.finished, {as_of}))) - epoch(t.entered_at)
                      - coalesce(g.flagged_s, 0) END) AS touch_s,
        sum(CASE WHEN NOT t.in_stream THEN 0
                 WHEN t.role = 'blocked' THEN epoch(least(coalesce(t.left_at, {as_of}), coalesce(t.finished, {as_of}))) - epoch(t.entered_at)
                 ELSE coalesce(g.flagged_s, 0) END) AS blocked_s,
        sum(CASE WHEN t.in_stream AND t.role = 'unmapped'
                 THEN epoch(least(coalesce(t.left_at, {as_of}), coalesce(t.finished, {as_of}))) - epoch(t.entered_at) END) AS unmapped_s,
        -- reopened: a move out of the finish state after the first finish (only a workflow names one)
        max(CASE WHEN {has_finish_state} AND t.entered_at > t.finished AND t.role <> 'finish' THEN 1 ELSE 0 END) AS reopened
    FROM vs_t t
    LEFT JOIN vs_seg_flagged g ON g.item = t.item AND g.state = t.state AND g.seg_start = t.entered_at
    GROUP BY t.item
)
SELECT
    item,
    entered,
    first_touch,
    finished,
    (epoch(finished) - epoch(entered)) / 86400.0 AS lead_time_days,
    (epoch(finished) - epoch(first_touch)) / 86400.0 AS cycle_time_days,
    coalesce(touch_s, 0) / 86400.0 AS touch_days,
    (coalesce(in_stream_s, 0) - coalesce(touch_s, 0)) / 86400.0 AS wait_days,
    coalesce(blocked_s, 0) / 86400.0 AS blocked_days,
    coalesce(unmapped_s, 0) / 86400.0 AS unmapped_days,
    CASE WHEN finished IS NOT NULL AND finished > entered
         THEN coalesce(touch_s, 0) / (epoch(finished) - epoch(entered)) END AS flow_efficiency,
    coalesce(r.rework, 0) AS rework,
    reopened = 1 AS reopened,
    CASE WHEN finished IS NULL THEN (epoch({as_of}) - epoch(entered)) / 86400.0 END AS age_days
FROM per
LEFT JOIN vs_rework AS r USING (item)
"""

BUILD = (SQL_T, SQL_SEG, SQL_FLAGS, SQL_SEG_FLAGGED, SQL_REWORK, SQL_ITEMS)

# -- metrics over the derived tables ----------------------------------------------------------

SQL_ITEM_TABLE = """
SELECT v.item, i.title, i.type, v.entered, v.first_touch, v.finished,
       v.lead_time_days, v.cycle_time_days, v.touch_days, v.wait_days, v.flow_efficiency,
       v.rework, v.blocked_days, v.unmapped_days, v.reopened, v.age_days
FROM vs_items v
LEFT JOIN (SELECT item, any_value(title) AS title, any_value(type) AS type
           FROM {items} GROUP BY item) i ON i.item = v.item
ORDER BY v.entered, v.item
"""

# Per item and state (or step): visits and days, split into touch and wait (a step can hold
# both kinds of state; blocked and unmapped time is wait).
SQL_TIME_IN = """
SELECT item, {key} AS {key},
       CASE WHEN min(role) = max(role) THEN min(role) ELSE 'mixed' END AS role,
       count(*) AS visits,
       sum(epoch(seg_end) - epoch(seg_start)) / 86400.0 AS days,
       coalesce(sum(epoch(seg_end) - epoch(seg_start)) FILTER (WHERE role = 'touch'), 0) / 86400.0 AS touch_days,
       coalesce(sum(epoch(seg_end) - epoch(seg_start)) FILTER (WHERE role <> 'touch'), 0) / 86400.0 AS wait_days
FROM vs_seg
GROUP BY item, {key}
ORDER BY item, min(seg_start)
"""

SQL_STEP_SUMMARY = """
WITH per_item AS (
    -- first_in: how long after entering the stream the item first reached this step
    SELECT item, {key} AS name, epoch(min(seg_start)) - epoch(any_value(entered)) AS first_in, count(*) AS visits,
           CASE WHEN min(role) = max(role) THEN min(role) ELSE 'mixed' END AS role,
           sum(epoch(seg_end) - epoch(seg_start)) / 86400.0 AS days,
           coalesce(sum(epoch(seg_end) - epoch(seg_start)) FILTER (WHERE role = 'touch'), 0) / 86400.0 AS touch,
           coalesce(sum(epoch(seg_end) - epoch(seg_start)) FILTER (WHERE role <> 'touch'), 0) / 86400.0 AS wait
    FROM vs_seg
    GROUP BY item, {key}
)
SELECT name AS {key},
       CASE WHEN min(role) = max(role) THEN min(role) ELSE 'mixed' END AS role,
       count(*) AS items, sum(visits) AS visits,
       sum(days) AS total_days, avg(days) AS mean_days,
       quantile_cont(days, 0.5) AS p50_days, quantile_cont(days, 0.85) AS p85_days,
       avg(touch) AS touch_mean_days, avg(wait) AS wait_mean_days, sum(wait) AS total_wait_days,
       median(first_in) AS typical_entry
FROM per_item
GROUP BY name
ORDER BY typical_entry, name
"""

# Items in the stream at the end of each day: entries so far minus first finishes so far.
SQL_WIP = """
WITH deltas AS (
    SELECT CAST(entered AS DATE) AS day, 1 AS d FROM vs_items
    UNION ALL
    SELECT CAST(finished AS DATE) AS day, -1 AS d FROM vs_items WHERE finished IS NOT NULL
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
FROM vs_items WHERE finished IS NULL
"""


def spark_sql(sql: str) -> str:
    """The Spark SQL translation of one of the metric queries above (placeholders filled)."""
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="spark"))


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
    not held locked while the analysis is used. Times are UTC; days (for WIP, arrivals and
    throughput) are calendar days in ``timezone``.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        workflow: Workflow | None = None,
        *,
        stream: Stream | None = None,
        as_of: dt.datetime | None = None,
        timezone: str = "UTC",
        schema: str | None = None,
    ) -> None:
        self.con = con
        self.stream = stream
        self.workflow = workflow if workflow is not None else (stream.workflow if stream else None)
        self.timezone = timezone
        prefix = f"{schema}." if schema else ""
        self._tables = {
            "transitions": f"{prefix}transitions",
            "flags": f"{prefix}flags",
            "items": f"{prefix}items",
            "state_roles": f"{prefix}state_roles",
        }
        if as_of is None:
            row = con.execute(f"SELECT max(entered_at) FROM {self._tables['transitions']}").fetchone()
            as_of = row[0] if row and row[0] is not None else dt.datetime.now(dt.UTC)
        assert as_of is not None
        self.as_of: dt.datetime = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
        self._answers: dict[str, pd.DataFrame] = {}
        self._build()

    @classmethod
    def of(
        cls,
        workspace: Workspace,
        stream: Stream | Workflow | None = None,
        *,
        as_of: dt.datetime | None = None,
        timezone: str = "UTC",
    ) -> Flow:
        """Analyse a workspace under a stream (or bare workflow); see the class docstring."""
        mem = duckdb.connect(":memory:")
        # Results are ordered by ORDER BY where order matters; not keeping insertion order saves
        # memory on the big window passes.
        mem.execute("SET preserve_insertion_order = false")
        with workspace.attached(mem, "ws"):
            workflow = stream if isinstance(stream, Workflow) else None
            full = stream if isinstance(stream, Stream) else None
            flow = cls(mem, workflow, stream=full, as_of=as_of, timezone=timezone, schema="ws")
            mem.execute("CREATE TABLE items AS SELECT * FROM ws.items")
            mem.execute("CREATE TABLE events AS SELECT * FROM ws.events")
        flow._tables["items"] = "items"
        return flow

    # -- building -----------------------------------------------------------------------------

    def _state_table(self) -> pd.DataFrame:
        states = [r[0] for r in self.con.execute(f"SELECT DISTINCT state FROM {self._tables['transitions']}").fetchall()]
        step_of = self.stream.step_of_state() if self.stream else {}
        known: dict[str, str] = {}
        if self.workflow is None:
            # Without a workflow, use what the sources know (XES lifecycle: touch and wait).
            try:
                known = dict(self.con.execute(f"SELECT state, any_value(role) FROM {self._tables['state_roles']} GROUP BY state").fetchall())
            except duckdb.CatalogException:
                known = {}
        rows = []
        for state in states:
            role = self.workflow.role_of(state) if self.workflow else known.get(state, "unmapped")
            if role == "finish" and self.workflow is None:
                role = "unmapped"  # without a workflow every item finishes at its last event
            rows.append({"state": state, "role": role, "step": step_of.get(state, state)})
        return pd.DataFrame(rows, columns=["state", "role", "step"]).astype(str)

    def _build(self) -> None:
        self.con.execute(f"SET TimeZone = '{self.timezone}'")
        states = self._state_table()
        self.con.register("_vs_states_df", states)
        self.con.execute("CREATE OR REPLACE TEMP TABLE vs_states AS SELECT * FROM _vs_states_df")
        self.con.unregister("_vs_states_df")
        fill = {
            "transitions": self._tables["transitions"],
            "flags": self._tables["flags"],
            "as_of": _ts(self.as_of),
            "finish_expr": SQL_FINISH_BY_STATE if self.workflow else SQL_FINISH_AT_LAST,
            "has_finish_state": "TRUE" if self.workflow else "FALSE",
        }
        for sql in BUILD:
            self.con.execute(sql.format(**fill))

    def _q(self, sql: str, **fill: Any) -> pd.DataFrame:
        fill.setdefault("as_of", _ts(self.as_of))
        fill.setdefault("items", self._tables["items"])
        return self.query(sql.format(**fill))

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the analysis tables (vs_t, vs_seg, vs_items, ...) and return a DataFrame.

        The analysis is a snapshot, so a query's answer never changes: the engine is asked once.
        """
        if sql not in self._answers:
            self._answers[sql] = self.con.execute(sql).df()
        return self._answers[sql].copy()

    # -- the window ---------------------------------------------------------------------------

    def window(self, start: dt.date | None = None, end: dt.date | None = None, *, days: int | None = None) -> Window:
        """A window ending at ``end`` (default: the as-of day), starting ``days`` before or at ``start``."""
        row = self.con.execute("SELECT CAST(min(entered) AS DATE), CAST(? AS DATE) FROM vs_items", [self.as_of]).fetchone()
        assert row is not None
        first, last = row
        end = end or last or self.as_of.date()
        if start is None:
            start = end - dt.timedelta(days=days - 1) if days else (first or end)
        return Window(start, end)

    # -- metrics ------------------------------------------------------------------------------

    def items(self) -> pd.DataFrame:
        """One row per item: entry, first touch, finish, lead and cycle time, touch, wait, rework, age."""
        return self._q(SQL_ITEM_TABLE)

    def time_in(self, by: str = "state") -> pd.DataFrame:
        """Per item, the days spent in each state (``by="state"``) or step (``by="step"``)."""
        return self._q(SQL_TIME_IN, key=_key(by))

    def steps(self, by: str = "step") -> pd.DataFrame:
        """Per state or step: items that passed, visits, total, mean, median and p85 days, in flow order."""
        df = self._q(SQL_STEP_SUMMARY, key=_key(by))
        return df.drop(columns=["typical_entry"])

    def unmapped_states(self) -> list[str]:
        """States in the data that the workflow does not list (their time is counted as wait)."""
        return [r[0] for r in self.con.execute("SELECT state FROM vs_states WHERE role = 'unmapped' ORDER BY state").fetchall()]

    def wip(self, window: Window | None = None) -> pd.DataFrame:
        """Items in the stream at the end of each day of the window."""
        w = window or self.window()
        return self._q(SQL_WIP, start=_date(w.start), end=_date(w.end))

    def cfd(self, window: Window | None = None, by: str = "step") -> pd.DataFrame:
        """Items in each step (or state) at the end of each day: the cumulative flow diagram's data."""
        w = window or self.window()
        finish = self.workflow.finish if self.workflow else "Finished"
        key = _key(by)
        return self._q(SQL_CFD, start=_date(w.start), end=_date(w.end), key=key, finish_band=_literal(finish))

    def rates(self, window: Window | None = None, period: str = "week") -> pd.DataFrame:
        """Arrivals (entries) and throughput (first finishes) per day or ISO week (Monday start)."""
        w = window or self.window()
        if period not in ("day", "week"):
            raise ValuestreamError(f"period must be day or week, not '{period}'")
        expr = "days.day" if period == "day" else "CAST(date_trunc('week', days.day) AS DATE)"
        return self._q(SQL_FLOW_RATES, start=_date(w.start), end=_date(w.end), period_expr=expr)

    def summary(self, window: Window | None = None) -> dict[str, Any]:
        """The stream-level figures over a window: lead and cycle time, flow efficiency, rates, WIP."""
        w = window or self.window()
        lead = ", ".join(f"quantile_cont(lead_time_days, {p / 100}) AS lead_p{p}" for p in PERCENTILES)
        cycle = ", ".join(f"quantile_cont(cycle_time_days, {p / 100}) AS cycle_p{p}" for p in PERCENTILES)
        fin = self._q(SQL_FINISHED_STATS, lead_pcts=lead, cycle_pcts=cycle, start=_date(w.start), end=_date(w.end))
        out: dict[str, Any] = {"window_start": w.start.isoformat(), "window_end": w.end.isoformat(), "days": w.days}
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
        out["unmapped_states"] = self.unmapped_states()
        return out


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
        "transitions": "transitions", "flags": "flags", "items": "items",
        "as_of": "TIMESTAMPTZ '2026-01-01 00:00:00+00'", "finish_expr": SQL_FINISH_BY_STATE, "has_finish_state": "TRUE",
        "start": "DATE '2025-01-01'", "end": "DATE '2025-12-31'", "key": "step", "finish_band": "'Done'",
        "period_expr": "days.day", "lead_pcts": "quantile_cont(lead_time_days, 0.5) AS lead_p50",
        "cycle_pcts": "quantile_cont(cycle_time_days, 0.5) AS cycle_p50",
    }
    named = {name: value for name, value in globals().items() if name.startswith("SQL_") and isinstance(value, str)}
    for name, sql in named.items():
        if name.startswith("SQL_FINISH_"):
            continue
        yield name, sql.format(**fill)
