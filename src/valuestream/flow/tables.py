"""The derived tables every flow metric is a query over, built once per analysis.

- ``vs_t``: each transition in the item's order, with the role (touch, wait, blocked, before,
  finish, unmapped) and step of the state entered, the time the item left it, its stream entry
  and first finish, whether the row lies inside the stream, and the end of its segment;
- ``vs_flags``: blocked flags merged per item, so overlapping flags are never counted twice;
- ``vs_seg_flagged``: the seconds of each segment that lie under a flag;
- ``vs_tx``: every row of ``vs_t`` with its segment's seconds split once into touch, wait and
  blocked (THE definition of touch and wait: time in touch states less flagged time is touch,
  everything else inside the stream is wait; blocked is time in blocked states plus flagged time);
- ``vs_seg``: the rows of ``vs_tx`` inside the stream (the segments);
- ``vs_rework``: backward moves per item;
- ``vs_items``: one row per item: entry, first touch, first finish, touch, wait, blocked, rework.

The SQL is DuckDB's dialect; an engine that speaks another translates it (see ``engine.py``).
"""

from __future__ import annotations

# Transitions in each item's order, with the role and step of the state entered, the time the
# item left it, the item's stream entry and first finish (window aggregates share the one sort by
# item, so nothing is joined back), and whether entering the state was a return from blocked to
# the work the item was on (`resumes`: such a move is never rework).
#
# Inside the stream: from entry until the first finish (or as_of while unfinished). A state
# entered at the very instant of the finish still counts (a zero-length segment) unless it is the
# finish itself: on day-resolution data work started and finished on the same day is still work,
# so the item's first touch exists and cycle time <= lead time. Without a finish state (complete
# cases, finished at their last event) the last instant is the finish and holds no segment.
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
), placed AS (
    SELECT *,
        entered_at >= entered
            AND (finished IS NULL OR entered_at < finished
                 OR ({has_finish_state} AND entered_at = finished AND role <> 'finish')) AS in_stream
    FROM ordered
    WHERE entered IS NOT NULL
)
SELECT
    item, state, role, step, entered_at, left_at, n, entered, finished, in_stream,
    -- the segment ends at the next transition, the first finish or as_of, whichever comes first
    least(coalesce(left_at, {as_of}), coalesce(finished, {as_of})) AS seg_end,
    -- closed: the item has moved on (a segment still open at as_of is not left yet)
    (left_at IS NOT NULL OR finished IS NOT NULL) AS closed,
    coalesce(prev_role = 'blocked' AND state = resumed_from, FALSE) AS resumes
FROM placed
"""

SQL_FINISH_BY_STATE = "min(CASE WHEN s.role = 'finish' THEN t.entered_at END)"
# An event log of complete cases (XES): each item finishes at its last event.
SQL_FINISH_AT_LAST = "max(t.entered_at)"

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

# Seconds of each segment under a flag (only segments that overlap one appear), keyed by the
# row's place in the item's order (n), which is unique even for same-instant transitions.
SQL_SEG_FLAGGED = """
CREATE OR REPLACE TEMP TABLE vs_seg_flagged AS
SELECT
    s.item, s.n,
    sum(epoch(least(s.seg_end, f.f_end)) - epoch(greatest(s.entered_at, f.f_start))) AS flagged_s
FROM vs_t s
JOIN vs_flags f ON f.item = s.item AND f.f_start < s.seg_end AND f.f_end > s.entered_at
WHERE s.in_stream
GROUP BY s.item, s.n
"""

# THE split of time into touch, wait and blocked, per row (zero outside the stream). A view: it
# is a projection of vs_t, not worth a copy.
SQL_TX = """
CREATE OR REPLACE TEMP VIEW vs_tx AS
WITH d AS (
    SELECT t.*,
           t.entered_at AS seg_start,
           CASE WHEN t.in_stream THEN epoch(t.seg_end) - epoch(t.entered_at) ELSE 0 END AS dur_s,
           CASE WHEN t.in_stream THEN coalesce(g.flagged_s, 0) ELSE 0 END AS flagged_s
    FROM vs_t t
    LEFT JOIN vs_seg_flagged g ON g.item = t.item AND g.n = t.n
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

# One row per item, in one pass over vs_tx.
SQL_ITEMS = """
CREATE OR REPLACE TEMP TABLE vs_items AS
WITH per AS (
    SELECT
        item,
        any_value(entered) AS entered,
        any_value(finished) AS finished,
        min(CASE WHEN role = 'touch' AND in_stream THEN entered_at END) AS first_touch,
        sum(dur_s) AS in_stream_s,
        sum(touch_s) AS touch_s,
        sum(blocked_s) AS blocked_s,
        sum(CASE WHEN role = 'unmapped' THEN dur_s ELSE 0 END) AS unmapped_s,
        -- reopened: a move out of the finish state after the first finish (only a workflow names one)
        max(CASE WHEN {has_finish_state} AND entered_at > finished AND role <> 'finish' THEN 1 ELSE 0 END) AS reopened
    FROM vs_tx
    GROUP BY item
)
SELECT
    item,
    entered,
    first_touch,
    finished,
    (epoch(finished) - epoch(entered)) / 86400.0 AS lead_time_days,
    (epoch(finished) - epoch(first_touch)) / 86400.0 AS cycle_time_days,
    touch_s / 86400.0 AS touch_days,
    (in_stream_s - touch_s) / 86400.0 AS wait_days,
    blocked_s / 86400.0 AS blocked_days,
    unmapped_s / 86400.0 AS unmapped_days,
    CASE WHEN finished IS NOT NULL AND finished > entered
         THEN touch_s / (epoch(finished) - epoch(entered)) END AS flow_efficiency,
    coalesce(r.rework, 0) AS rework,
    reopened = 1 AS reopened,
    CASE WHEN finished IS NULL THEN (epoch({as_of}) - epoch(entered)) / 86400.0 END AS age_days
FROM per
LEFT JOIN vs_rework AS r USING (item)
"""

BUILD = (SQL_T, SQL_FLAGS, SQL_SEG_FLAGGED, SQL_TX, SQL_SEG, SQL_REWORK, SQL_ITEMS)
"""The derived tables in the order they are built."""
