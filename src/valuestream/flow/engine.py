"""The engine protocol: where the flow metrics' SQL runs.

Every metric is defined once, as SQL in DuckDB's dialect, in this package. An engine takes that SQL
and answers it: DuckDB (embedded, the default) runs it as written; Spark (``spark.py``, for logs
that outgrow one machine) translates it with SQLGlot and the few rewrites listed there, and nowhere
else, so a second engine is one more class, not a second copy of any definition.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import duckdb
import pandas as pd


@runtime_checkable
class Engine(Protocol):
    """What the flow metrics need from an engine: run statements, answer queries as DataFrames."""

    dialect: str
    """The SQLGlot dialect name the engine speaks ("duckdb", "spark")."""

    def execute(self, sql: str) -> None:
        """Run a statement (CREATE ... AS, SET) whose result is not needed."""

    def frame(self, sql: str) -> pd.DataFrame:
        """Answer a query as a pandas DataFrame."""

    def load(self, name: str, df: pd.DataFrame) -> None:
        """Make a small table from Python (the state roles) available to SQL as ``name``."""

    def set_timezone(self, timezone: str) -> None:
        """Days (CAST(ts AS DATE), date_trunc) are counted in this IANA time zone."""

    def has_table(self, name: str) -> bool:
        """Whether a table or view of this (possibly schema-qualified) name exists."""


class DuckDBEngine:
    """The embedded default: one DuckDB connection, the SQL run as written."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @classmethod
    def in_memory(cls) -> DuckDBEngine:
        con = duckdb.connect(":memory:")
        # Results are ordered by ORDER BY where order matters; not keeping insertion order saves
        # memory on the big window passes.
        con.execute("SET preserve_insertion_order = false")
        return cls(con)

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def load(self, name: str, df: pd.DataFrame) -> None:
        view = f"_vs_load_{name}"
        self.con.register(view, df)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def set_timezone(self, timezone: str) -> None:
        self.con.execute(f"SET TimeZone = '{_quote(timezone)}'")

    def has_table(self, name: str) -> bool:
        try:
            self.con.execute(f"SELECT * FROM {name} LIMIT 0")
        except duckdb.CatalogException:
            return False
        return True


def as_engine(source: Any) -> Engine:
    """An engine for a DuckDB connection, or the engine itself."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return DuckDBEngine(source)
    if isinstance(source, Engine):
        return source
    raise TypeError(f"a Flow runs on a DuckDB connection or an Engine, not {type(source).__name__}")


def _quote(text: str) -> str:
    return text.replace("'", "''")
