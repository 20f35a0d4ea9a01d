"""The derived tables every flow metric is a query over, built once per analysis.

- ``vs_t``: each transition in the item's order (with the item's key ``ik``, see ``ITEM_KEY``),
  with the role (touch, wait, blocked, before, finish, discarded, unmapped) and step of the state entered, the time the item left it, its
  stream entry and end (finish or discard), whether the row lies inside the stream, the end of its
  segment, and the calendar's clock at both ends (every duration is a difference of clocks);
- ``vs_flags``: blocked flags merged per item, so overlapping flags are never counted twice;
- ``vs_seg_flagged``: the day-seconds (on the calendar's clock) of each segment under a flag;
- ``vs_tx``: every row of ``vs_t`` with its segment's seconds split once into touch, wait and
  blocked (THE definition of touch and wait: time in touch states less flagged time is touch,
  everything else inside the stream is wait; blocked is time in blocked states plus flagged time);
- ``vs_seg``: the rows of ``vs_tx`` inside the stream (the segments);
- ``vs_rework``: backward moves per item;
- ``vs_items``: one row per item: entry, first touch, finish or discard, lead, cycle, touch,
  wait, blocked, rework, age.

The calendar (``calendar:`` in the stream file) changes only the clock readings (``clock_fill``
and ``days_table`` at the end), so every figure built on these tables follows it.

The SQL is DuckDB's dialect; an engine that speaks another translates it (see ``engine.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from valuestream.model import Calendar

# Transitions in each item's order, with the role and step of the state entered, the time the
# item left it, its stream entry and end (finish or discard), and whether entering the state was a
# return from blocked to the work the item was on (`resumes`: such a move is never rework).
#
# Every duration is a difference of CLOCKS: `c_at` is the clock at the instant a state was
# entered, in day-seconds of the stream's calendar (calendar.py's fragments below; plain epoch
# seconds by default). `c_thru` is the clock at the end of that instant's day under inclusive
# counting (so the last day counts too) and equals `c_at` otherwise. Because every segment runs
# from one clock reading to the next, touch + wait = lead under every convention.
#
# The item's end: its first entry into a finish or discarded state (`reopened: first`), or the
# first such entry after the last move out of them (`reopened: last`: `ends_fill` below). A finish
# ends it finished, a discarded state ends it unfinished (no lead time, not throughput).
#
# Inside the stream: from entry until the end (or as_of while unfinished). A state entered at the
# very instant of the end still counts (a zero-length segment) unless it is the end itself: on
# day-resolution data work started and finished on the same day is still work, so the item's
# first touch exists and cycle time <= lead time. An item that enters the stream by ending (a file
# of finish dates only) holds a zero-length segment in its end state, where inclusive counting
# puts its one day. Without a finish state (complete cases, finished
# at their last event) the last instant is the finish and holds no segment.
SQL_T = """
CREATE OR REPLACE TEMP TABLE vs_t AS
WITH ordered AS (
    -- one sort of the item's rows: everything per row and per item that the order gives
    SELECT
        t.item,
        {item_key} AS ik,
        t.state,
        s.role,
        s.step,
        t.entered_at,
        {clock_at} AS c_at,
        {clock_thru} AS c_thru,
        lead(t.entered_at) OVER w AS left_at,
        lead({clock_at}) OVER w AS c_left,
        row_number() OVER w AS n,
        lag(s.role) OVER w AS prev_role,
        -- the state the item was working in before any run of blocked states
        last_value(CASE WHEN s.role <> 'blocked' THEN t.state END IGNORE NULLS)
            OVER (PARTITION BY {item_key} ORDER BY t.entered_at, t.source, t.seq
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS resumed_from,
        min(CASE WHEN s.role <> 'before' THEN t.entered_at END) OVER whole AS entered,
        {ends_sorted}
    FROM {transitions} AS t
    JOIN vs_states AS s ON s.state = t.state
    {clock_join}
    WHERE t.entered_at <= {as_of}
    WINDOW w AS (PARTITION BY {item_key} ORDER BY t.entered_at, t.source, t.seq),
           whole AS (PARTITION BY {item_key} ORDER BY t.entered_at, t.source, t.seq
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), ends AS (
    SELECT *{ends_after} FROM ordered
), clocked AS (
    -- the clock at the item's entry, finish and discard (a clock never runs backwards, so the
    -- clock at the first finish is the least clock of the finishes)
    SELECT o.*, {end_clocks}
    FROM ends AS o
    {end_clock_join}
    WHERE o.entered IS NOT NULL
), ended AS (
    -- whichever comes first ends the item; a finish and a discard at one instant: finished
    SELECT *,
        CASE WHEN d_at IS NULL OR f_at <= d_at THEN f_at END AS finished,
        CASE WHEN f_at IS NULL OR d_at < f_at THEN d_at END AS discarded,
        CASE WHEN d_at IS NULL OR f_at <= d_at THEN f_at ELSE d_at END AS end_at,
        CASE WHEN d_at IS NULL OR f_at <= d_at THEN f_c ELSE d_c END AS end_c,
        CASE WHEN d_at IS NULL OR f_at <= d_at THEN f_thru ELSE d_thru END AS end_thru
    FROM clocked
), placed AS (
    SELECT *,
        entered_at >= entered
            AND (end_at IS NULL OR entered_at < end_at
                 OR ({has_finish_state} AND entered_at = end_at
                     AND (role NOT IN ('finish', 'discarded') OR end_at = entered))) AS in_stream
    FROM ended
), marked AS (
    -- the item's last segment in the stream holds its last day under inclusive counting
    SELECT *, {last_in_stream} AS is_last FROM placed
)
SELECT
    item, ik, state, role, step, entered_at, left_at, n, entered, finished, discarded, in_stream,
    -- the segment ends at the next transition, the item's end or as_of, whichever comes first
    least(coalesce(left_at, {as_of}), coalesce(end_at, {as_of})) AS seg_end,
    c_at AS c_start,
    least(coalesce(c_left, {as_of_c}), coalesce(end_c, {as_of_c})) AS c_open_end,
    CASE WHEN is_last AND in_stream THEN coalesce(end_thru, {as_of_thru})
         ELSE least(coalesce(c_left, {as_of_c}), coalesce(end_c, {as_of_c})) END AS c_end,
    c_entered,
    CASE WHEN finished IS NOT NULL THEN end_thru END AS c_finished,
    -- closed: the item has moved on (a segment still open at as_of is not left yet)
    (left_at IS NOT NULL OR end_at IS NOT NULL) AS closed,
    coalesce(prev_role = 'blocked' AND state = resumed_from, FALSE) AS resumes
FROM marked
"""

# The item's end: `f_at` its finish, `d_at` its discard. Which finish counts under `reopened:
# first` is known from the rows alone, so both are aggregates over the whole item on the one sort
# (`ends_sorted`). Under `reopened: last` only a finish with no open row after it counts
# (`opens_after` = 0), which takes a second pass over the item (`ends_after`). Without a workflow
# each item finishes at its last event.
FINISH_BY_STATE = "min(CASE WHEN {role} = 'finish' AND {counts} THEN {col} END)"
FINISH_AT_LAST = "max({col})"
DISCARD_BY_STATE = "min(CASE WHEN {role} = 'discarded' AND {counts} THEN {col} END)"
OPENS_AFTER = (
    "count(CASE WHEN s.role NOT IN ('finish', 'discarded') THEN 1 END) OVER ("
    "PARTITION BY {item_key} ORDER BY t.entered_at, t.source, t.seq "
    "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS opens_after"
)
LAST_IN_STREAM = "n = max(CASE WHEN in_stream THEN n END) OVER (PARTITION BY ik)"


def ends_fill(has_workflow: bool, reopened: str, item_key: str) -> dict[str, str]:
    """The ``ends_sorted`` and ``ends_after`` fragments of ``SQL_T`` (the item's finish and discard),
    for the item key ``item_key`` (``ITEM_KEY`` or ``ITEM_NAME``)."""
    finish = FINISH_BY_STATE if has_workflow else FINISH_AT_LAST

    def ends(role: str, counts: str, col: str, over: str) -> str:
        return (
            f"{finish.format(role=role, counts=counts, col=col)} OVER {over} AS f_at, "
            f"{DISCARD_BY_STATE.format(role=role, counts=counts, col=col)} OVER {over} AS d_at"
        )

    if has_workflow and reopened == "last":
        return {
            "ends_sorted": OPENS_AFTER.format(item_key=item_key),
            "ends_after": ", " + ends("role", "opens_after = 0", "entered_at", "(PARTITION BY ik)"),
        }
    return {"ends_sorted": ends("s.role", "TRUE", "t.entered_at", "whole"), "ends_after": ""}


# Blocked flags, merged per item so that overlapping flags are never counted twice.
SQL_FLAGS = """
CREATE OR REPLACE TEMP TABLE vs_flags AS
WITH f0 AS (
    SELECT item, raised_at AS f_start, coalesce(cleared_at, {as_of}) AS f_end
    FROM {flags}
    WHERE raised_at <= {as_of}
), f AS (
    SELECT f0.*, {flag_start_c} AS c_f_start, {flag_end_c} AS c_f_end
    FROM f0 {flag_join}
), marked AS (
    SELECT *, CASE WHEN f_start <= max(f_end) OVER (
                  PARTITION BY item ORDER BY f_start, f_end
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS is_new
    FROM f
), grouped AS (
    SELECT *, sum(is_new) OVER (PARTITION BY item ORDER BY f_start, f_end ROWS UNBOUNDED PRECEDING) AS grp
    FROM marked
)
SELECT item, min(f_start) AS f_start, max(f_end) AS f_end, min(c_f_start) AS c_f_start, max(c_f_end) AS c_f_end
FROM grouped
GROUP BY item, grp
"""

# Day-seconds (the calendar's clock) of each segment under a flag (only segments that overlap one appear), keyed by the
# row's place in the item's order (n), which is unique even for same-instant transitions.
SQL_SEG_FLAGGED = """
CREATE OR REPLACE TEMP TABLE vs_seg_flagged AS
SELECT
    s.ik, s.n,
    sum(least(s.c_open_end, f.c_f_end) - greatest(s.c_start, f.c_f_start)) AS flagged_s
FROM vs_t s
JOIN vs_flags f ON f.item = s.item AND f.f_start < s.seg_end AND f.f_end > s.entered_at
WHERE s.in_stream
GROUP BY s.ik, s.n
"""

# THE split of time into touch, wait and blocked, per row (zero outside the stream). A view: it
# is a projection of vs_t, not worth a copy.
SQL_TX = """
CREATE OR REPLACE TEMP VIEW vs_tx AS
WITH d AS (
    SELECT t.*,
           t.entered_at AS seg_start,
           CASE WHEN t.in_stream THEN t.c_end - t.c_start ELSE 0 END AS dur_s,
           CASE WHEN t.in_stream THEN coalesce(g.flagged_s, 0) ELSE 0 END AS flagged_s
    FROM vs_t t
    LEFT JOIN vs_seg_flagged g ON g.ik = t.ik AND g.n = t.n
)
SELECT d.*,
       CASE WHEN role = 'touch' THEN dur_s - flagged_s ELSE 0 END AS touch_s,
       CASE WHEN role = 'touch' THEN flagged_s ELSE dur_s END AS wait_s,
       CASE WHEN role = 'blocked' THEN dur_s ELSE flagged_s END AS blocked_s
FROM d
"""

# The segments: time an item spent in a state inside the stream.
SQL_SEG = """
CREATE OR REPLACE TEMP VIEW vs_seg AS
SELECT * FROM vs_tx WHERE in_stream
"""

# Rework moves per item, on narrow rows (item, n, state) so the second sort is cheap: a move into
# a state the item first entered before the state it leaves.
SQL_REWORK = """
CREATE OR REPLACE TEMP TABLE vs_rework AS
WITH firsts AS (
    SELECT ik, n, in_stream, resumes, min(n) OVER (PARTITION BY ik, state) AS first_n
    FROM vs_t
), moves AS (
    SELECT *, lag(first_n) OVER (PARTITION BY ik ORDER BY n) AS prev_first_n
    FROM firsts
)
SELECT ik, count(*) AS rework
FROM moves
WHERE first_n < prev_first_n AND in_stream AND NOT resumes
GROUP BY ik
"""

# One row per item, in one pass over vs_tx.
SQL_ITEMS = """
CREATE OR REPLACE TEMP TABLE vs_items AS
WITH per AS (
    SELECT
        ik,
        min(item) AS item,
        -- two names under one key (see ITEM_KEY)
        max(item) <> min(item) AS shared_key,
        any_value(entered) AS entered,
        any_value(finished) AS finished,
        any_value(discarded) AS discarded,
        any_value(c_entered) AS c_entered,
        any_value(c_finished) AS c_finished,
        min(CASE WHEN role = 'touch' AND in_stream THEN entered_at END) AS first_touch,
        min(CASE WHEN role = 'touch' AND in_stream THEN c_start END) AS c_first_touch,
        sum(dur_s) AS in_stream_s,
        sum(touch_s) AS touch_s,
        sum(blocked_s) AS blocked_s,
        sum(CASE WHEN role = 'unmapped' THEN dur_s ELSE 0 END) AS unmapped_s,
        -- reopened: a move out of the finish states after the first finish (only a workflow names
        -- them); under reopened: last the item's finish is then a later one, or none yet
        min(CASE WHEN role = 'finish' THEN entered_at END) AS first_finish_at,
        max(CASE WHEN role NOT IN ('finish', 'discarded') THEN entered_at END) AS last_open_at
    FROM vs_tx
    GROUP BY ik
)
SELECT
    item,
    ik,
    entered,
    first_touch,
    finished,
    discarded,
    (c_finished - c_entered) / 86400.0 AS lead_time_days,
    (c_finished - c_first_touch) / 86400.0 AS cycle_time_days,
    touch_s / 86400.0 AS touch_days,
    (in_stream_s - touch_s) / 86400.0 AS wait_days,
    blocked_s / 86400.0 AS blocked_days,
    unmapped_s / 86400.0 AS unmapped_days,
    CASE WHEN finished IS NOT NULL AND c_finished > c_entered
         THEN touch_s / (c_finished - c_entered) END AS flow_efficiency,
    coalesce(r.rework, 0) AS rework,
    coalesce({has_finish_state} AND last_open_at > first_finish_at, FALSE) AS reopened,
    CASE WHEN finished IS NULL AND discarded IS NULL THEN ({as_of_thru} - c_entered) / 86400.0 END AS age_days,
    CASE WHEN finished IS NULL AND discarded IS NULL THEN ({as_of_thru} - c_first_touch) / 86400.0 END AS touch_age_days,
    shared_key
FROM per
LEFT JOIN vs_rework AS r USING (ik)
"""

BUILD = (SQL_T, SQL_FLAGS, SQL_SEG_FLAGGED, SQL_TX, SQL_SEG, SQL_REWORK, SQL_ITEMS)
"""The derived tables in the order they are built."""

# The item's key (`ik`): what every pass over the rows partitions, groups and joins by, so that
# ten million rows are sorted on eight bytes instead of the item's name. On DuckDB it is the
# name's 64-bit hash, which two names share with a chance of about 3 in 10^8 at a million
# items; `shared_key` in vs_items finds that case exactly (two names grouped under one
# key), and the tables are then built again keyed by the name itself (`ITEM_NAME`), so a
# collision costs time, never a wrong figure. Other engines key by the name.
ITEM_KEY = "hash(t.item)"
ITEM_NAME = "t.item"
ITEM_KEYS = {"duckdb": ITEM_KEY}
SQL_SHARED_KEY = "SELECT coalesce(bool_or(shared_key), FALSE) AS v FROM vs_items"


# -- the calendar's clock ---------------------------------------------------------------------
# A clock reading is in day-seconds: 86,400 per counted day. By default it is epoch seconds, so
# durations are elapsed time, exactly as measured. Under another convention it is read off
# `vs_days` (one row per day of the data in the analysis time zone): `before` = counted days
# before this one, `working` = 1 if the day counts, `day_start`/`day_len` = its local midnight
# and length in epoch seconds (23 or 25 hours on a DST change).
#   working, elapsed:   before + working x (the share of the day gone by)  -> fractional, a
#                       weekend or holiday adds nothing;
#   inclusive:          before (at the instant) and before + working (through the end of its
#                       day): a whole day belongs to the state the item is in at its end, and the
#                       last day of an item (finish, discard or as-of) to the state it ends from.
CLOCK_ELAPSED = "epoch({ts})"
CLOCK_WORKING = "86400.0 * ({d}.before + {d}.working * (epoch({ts}) - {d}.day_start) / {d}.day_len)"
CLOCK_DAY_START = "86400.0 * {d}.before"
CLOCK_DAY_END = "86400.0 * ({d}.before + {d}.working)"
CLOCK_JOIN = "LEFT JOIN vs_days AS {d} ON {d}.day = CAST({ts} AS DATE)"


def clock_fill(calendar: Calendar | None, days: pd.DataFrame | None, as_of: pd.Timestamp) -> dict[str, str]:
    """The SQL fragments that read the calendar's clock in ``SQL_T`` and ``SQL_FLAGS``.

    ``days`` is ``days_table``'s answer (None for elapsed calendar time, which needs no table).
    """
    if calendar is None or calendar.is_default or days is None:
        epoch = f"{as_of.timestamp():.6f}"
        return {
            "clock_at": CLOCK_ELAPSED.format(ts="t.entered_at"),
            "clock_thru": CLOCK_ELAPSED.format(ts="t.entered_at"),
            "clock_join": "",
            "flag_join": "",
            "flag_start_c": CLOCK_ELAPSED.format(ts="f0.f_start"),
            "flag_end_c": CLOCK_ELAPSED.format(ts="f0.f_end"),
            "as_of_c": epoch,
            "as_of_thru": epoch,
            "last_in_stream": "FALSE",
            "end_clocks": _end_clocks(CLOCK_ELAPSED, CLOCK_ELAPSED, joined=False),
            "end_clock_join": "",
        }
    at = CLOCK_DAY_START if calendar.counting == "inclusive" else CLOCK_WORKING
    thru = CLOCK_DAY_END if calendar.counting == "inclusive" else CLOCK_WORKING
    day = days[days["day"] == as_of.date()].iloc[0]
    share = (as_of.timestamp() - day["day_start"]) / day["day_len"]
    if calendar.counting == "inclusive":
        as_of_c, as_of_thru = day["before"], day["before"] + day["working"]
    else:
        as_of_c = as_of_thru = day["before"] + day["working"] * share
    return {
        "clock_at": at.format(d="cd", ts="t.entered_at"),
        "clock_thru": thru.format(d="cd", ts="t.entered_at"),
        "clock_join": CLOCK_JOIN.format(d="cd", ts="t.entered_at"),
        "flag_join": CLOCK_JOIN.format(d="fs", ts="f0.f_start") + " " + CLOCK_JOIN.format(d="fe", ts="f0.f_end"),
        "flag_start_c": at.format(d="fs", ts="f0.f_start"),
        "flag_end_c": at.format(d="fe", ts="f0.f_end"),
        "as_of_c": f"{86400.0 * as_of_c:.6f}",
        "as_of_thru": f"{86400.0 * as_of_thru:.6f}",
        "last_in_stream": LAST_IN_STREAM if calendar.counting == "inclusive" else "FALSE",
        "end_clocks": _end_clocks(at, thru, joined=True),
        "end_clock_join": " ".join(CLOCK_JOIN.format(d=f"e_{col}", ts=f"o.{col}") for col in END_INSTANTS),
    }


# The instants of the item's end whose clocks SQL_T reads (the day table is joined once for each).
END_INSTANTS = ("entered", "f_at", "d_at")


def _end_clocks(at: str, thru: str, *, joined: bool) -> str:
    """The clock at the item's entry (``c_entered``), finish (``f_c``, ``f_thru``) and discard."""
    def day(col: str) -> str:
        return f"e_{col}" if joined else ""

    return ", ".join([
        at.format(d=day("entered"), ts="o.entered") + " AS c_entered",
        at.format(d=day("f_at"), ts="o.f_at") + " AS f_c",
        thru.format(d=day("f_at"), ts="o.f_at") + " AS f_thru",
        at.format(d=day("d_at"), ts="o.d_at") + " AS d_c",
        thru.format(d=day("d_at"), ts="o.d_at") + " AS d_thru",
    ])


def days_table(calendar: Calendar, first: dt.date, last: dt.date, timezone: str) -> pd.DataFrame:
    """One row per day from ``first`` to ``last`` (a day either side to spare): whether it counts,
    the counted days before it, its local midnight and its length in seconds (``vs_days``)."""
    first, last = first - dt.timedelta(days=1), last + dt.timedelta(days=1)
    dates = pd.date_range(first, last + dt.timedelta(days=1), freq="D")
    # Local midnights: a midnight that a DST change skips is moved on to the first real instant.
    midnights = dates.tz_localize(timezone, nonexistent="shift_forward", ambiguous=np.zeros(len(dates), dtype=bool))
    epochs = midnights.as_unit("ns").asi8 / 1e9
    day = dates[:-1]
    if calendar.days == "working":
        holidays = set(calendar.holiday_dates(first.year, last.year))
        working = ~np.isin(day.day_of_week + 1, calendar.weekend) & ~pd.Index(day.date).isin(list(holidays))
    else:
        working = np.ones(len(day), dtype=bool)
    counted = working.astype("int64")
    return pd.DataFrame(
        {
            "day": day.date,
            "working": counted,
            "before": np.concatenate([[0], np.cumsum(counted)[:-1]]).astype("int64"),
            "day_start": epochs[:-1],
            "day_len": np.diff(epochs),
        }
    )
