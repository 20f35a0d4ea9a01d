"""Staging: a source's Arrow tables into the temp tables the workspace commits from.

Sources parse and stage; :func:`valuestream.workspace.apply_staged` commits what is staged, in the
caller's transaction. Every rule about what a staged row may hold lives here.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from valuestream.errors import InputError
from valuestream.sources.checks import Faults, TimeRange, check_transitions


class Staged(dict[str, int]):
    """Counts from staging: rows read, duplicates dropped and distinct items (temp tables _new_t,
    _new_items, _new_flags)."""


def stage_tables(
    con: duckdb.DuckDBPyConnection,
    transitions: pa.Table,
    *,
    items: pa.Table | None = None,
    flags: pa.Table | None = None,
    time_range: TimeRange | None = None,
    location: str | None = None,
) -> Staged:
    """Stage Arrow tables from a connector into the temp tables :func:`apply_staged` reads.

    Times outside ``time_range`` and control characters in ids and states are refused, naming the
    item and state (and ``location``, where the tables came from)."""
    names = set(transitions.column_names)
    missing = {"item", "state", "entered_at"} - names
    if missing:
        raise InputError(f"transitions table lacks columns {sorted(missing)}")
    con.register("_in_t", transitions)
    seq = "seq" if "seq" in names else "row_number() OVER ()"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _new_t_all AS
        SELECT CAST(item AS VARCHAR) AS item, CAST(state AS VARCHAR) AS state,
               CAST(entered_at AS TIMESTAMPTZ) AS entered_at, CAST({seq} AS BIGINT) AS seq
        FROM _in_t
        """
    )
    con.unregister("_in_t")

    def locate(seq: int, column: str, message: str) -> InputError:
        found = con.execute("SELECT item, state FROM _new_t_all WHERE seq = ? LIMIT 1", [seq]).fetchall()
        item, state = (repr(v)[:60] for v in found[0]) if found else ("?", "?")
        return InputError(f"item {item}, state {state}: {message}", file=location, column=column)

    faults = check_transitions(con, time_range, locate)
    if items is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _new_items AS SELECT DISTINCT item, NULL::VARCHAR AS title, NULL::VARCHAR AS type, NULL::JSON AS attributes FROM _new_t_all"
        )
    else:
        con.register("_in_items", items)
        cols = set(items.column_names)
        pick = ", ".join(
            f"CAST({c} AS {t}) AS {c}" if c in cols else f"NULL::{t} AS {c}"
            for c, t in (("title", "VARCHAR"), ("type", "VARCHAR"), ("attributes", "JSON"))
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _new_items AS SELECT CAST(item AS VARCHAR) AS item, {pick} FROM _in_items"
        )
        con.unregister("_in_items")
    if flags is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _new_flags (item VARCHAR, raised_at TIMESTAMPTZ, cleared_at TIMESTAMPTZ)"
        )
    else:
        con.register("_in_flags", flags)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _new_flags AS SELECT CAST(item AS VARCHAR) AS item,"
            " CAST(raised_at AS TIMESTAMPTZ) AS raised_at, CAST(cleared_at AS TIMESTAMPTZ) AS cleared_at FROM _in_flags"
        )
        con.unregister("_in_flags")
    for key, what in (("empty_item", "an empty item id"), ("null_state", "an empty state"), ("null_time", "no time")):
        if faults[key]:
            raise InputError(f"{faults[key]} transitions have {what}")
    return dedupe_staged(con, faults)


def dedupe_staged(con: duckdb.DuckDBPyConnection, faults: Faults, table: str = "_new_t_all") -> Staged:
    """Drop repeated (item, state, time) rows of _new_t_all, staging the rest as _new_t; ``faults``
    is what :func:`~valuestream.sources.checks.find_faults` found in it (rows, items).

    ``table`` holds the same rows as _new_t_all (without seq, say) where they are cheaper to read.
    Most logs repeat nothing, and :func:`_may_repeat` proves that for far less than grouping the
    rows would cost: then _new_t is a view of _new_t_all, not a copy of it.
    """
    rows, items = faults["rows"] or 0, faults["items"] or 0
    if not _may_repeat(con, table):
        con.execute("CREATE OR REPLACE TEMP VIEW _new_t AS SELECT item, state, entered_at, seq FROM _new_t_all")
        return Staged(rows=rows, duplicates=0, items=items)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _new_t AS
        SELECT item, state, entered_at, min(seq) AS seq
        FROM _new_t_all
        GROUP BY item, state, entered_at
        """
    )
    kept = con.execute("SELECT count(*) FROM _new_t").fetchone()
    assert kept is not None
    return Staged(rows=rows, duplicates=rows - int(kept[0]), items=items)


def _may_repeat(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether two rows of ``table`` may be the same (item, state, time): False proves they never are.

    Equal rows have equal hashes, so when no two of the rows' 64-bit hashes are equal no row
    repeats. Sorting ten million hashes takes a twentieth of a second; a hash table of ten million
    rows of text, seconds. Equal hashes (a repeat, or a rare collision) leave it to the exact grouping.
    """
    hashes = con.execute(f"SELECT hash(item, state, entered_at) AS h FROM {table}").fetchnumpy()["h"]
    hashes.sort()
    return bool((hashes[1:] == hashes[:-1]).any())


STAGING = ("_new_t", "_new_t_all", "_read", "_new_items", "_new_flags", "_touched")
"""The temporary tables and views staging may leave, dropped once they are committed."""


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what staging left (tables or views, views first: they read the tables)."""
    kinds = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
        ).fetchall()
    )
    for name in sorted(STAGING, key=lambda n: kinds.get(n) != "VIEW"):
        if name in kinds:
            con.execute(f"DROP {'VIEW' if kinds[name] == 'VIEW' else 'TABLE'} {name}")
