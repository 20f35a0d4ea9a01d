"""Apache Spark as an engine: the flow metrics' SQL, translated by SQLGlot, run by a SparkSession.

Nothing here defines a metric. Every statement ``Flow`` sends is the DuckDB SQL of ``tables.py``
and ``core.py``; ``to_spark`` parses it with SQLGlot and writes Spark SQL, after the few rewrites
in ``REWRITES``, the one place where the two engines differ (what SQLGlot translates but Spark
answers differently, or refuses):

- ``quantile_cont(x, p)`` and ``median(x)`` become ``percentile(x, p)``: Spark's exact percentile
  with the same linear interpolation (never ``percentile_approx``, whose answers are approximate);
- ``epoch(ts)`` becomes microseconds / 10^6, as a double: Spark's ``unix_timestamp`` drops the
  fraction of a second;
- a number written with a decimal point is a double (Spark would make it a DECIMAL, and averages
  of decimals stay decimals where DuckDB answers doubles);
- ``CAST(EXPLODE(a) AS T)`` becomes ``EXPLODE(CAST(a AS ARRAY<T>))``: Spark runs no generator
  nested in an expression;
- ``any_value(x)`` skips NULLs, as DuckDB's does;
- the JSON item attributes (filters, breakdowns): a member ``json_extract(doc, '$."' || key ||
  '"')`` is read from ``from_json(doc, 'MAP<STRING, VARIANT>')``, so the key may come from a
  table; its ``json_type``, its cast to a list and ``json_extract_string`` go through the variant
  (``schema_of_variant``, ``try_variant_get``), since Spark's ``get_json_object`` gives a string
  member unquoted and ``"[1]"`` would pass for a list;
- table names: each engine keeps its tables under names of its own in the session, so that two
  analyses sharing one SparkSession never read each other's ``vs_t``.

A ``CREATE TEMP TABLE`` is computed once, at once, and kept (a local checkpoint behind a temporary
view), as is a ``CREATE TEMP VIEW`` that joins; other views stay views. Answers come back through Arrow and DuckDB's own conversion to
pandas, so a Spark answer has exactly the columns and dtypes the DuckDB engine gives.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa
import sqlglot
from sqlglot import exp

from valuestream.errors import InputError, ValuestreamError
from valuestream.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Rewrite = Callable[[exp.Expression], exp.Expression]


def _percentile(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.PercentileCont | exp.Quantile):
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.Median):
        return exp.Anonymous(this="percentile", expressions=[node.this, exp.Literal.number("0.5")])
    return node


def _epoch(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.TimeToUnix):
        micros = exp.Anonymous(this="unix_micros", expressions=[node.this])
        return exp.Div(
            this=exp.Cast(this=micros, to=exp.DataType.build("DOUBLE")),
            expression=exp.Literal.number(1_000_000),
        )
    return node


def _double_literal(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_number and "." in node.this:
        parent = node.parent
        in_percentile = isinstance(parent, exp.Anonymous) and parent.name == "percentile"
        if not isinstance(parent, exp.Cast) and not in_percentile:
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    return node


def _explode_cast(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Explode):
        array = exp.DataType(
            this=exp.DataType.Type.ARRAY, expressions=[node.to.copy()], nested=True
        )
        return exp.Explode(this=exp.Cast(this=node.this.this, to=array))
    return node


def _any_value(node: exp.Expression) -> exp.Expression:
    # DuckDB's any_value skips NULLs; Spark's takes its second argument for that.
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return exp.Anonymous(this="any_value", expressions=[node.this.this, exp.true()])
    if isinstance(node, exp.AnyValue) and not isinstance(node.parent, exp.IgnoreNulls):
        return exp.Anonymous(this="any_value", expressions=[node.this, exp.true()])
    return node


def _json_key(path: exp.Expression) -> exp.Expression | None:
    """The member a JSON path names: ``'$."' || key || '"'`` (a key from a table) or ``'$.key'``."""
    if isinstance(path, exp.JSONPath) and len(path.expressions) == 2:
        root, key = path.expressions
        if isinstance(root, exp.JSONPathRoot) and isinstance(key, exp.JSONPathKey):
            return exp.Literal.string(str(key.this))
    if (
        isinstance(path, exp.DPipe)
        and isinstance(path.this, exp.DPipe)
        and path.this.this == exp.Literal.string('$."')
        and path.expression == exp.Literal.string('"')
    ):
        return path.this.expression.copy()
    return None


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _member(extract: exp.Expression) -> exp.Expression | None:
    """``json_extract(doc, path)`` of one member as a Spark VARIANT (NULL when it is missing):
    the document read as a map of variants, so the key may come from a table."""
    if not isinstance(extract, exp.JSONExtract | exp.JSONExtractScalar):
        return None
    key = _json_key(extract.expression)
    if key is None:
        return None
    doc = _fn("from_json", extract.this.copy(), exp.Literal.string("MAP<STRING, VARIANT>"))
    return _fn("try_element_at", doc, key)


# DuckDB's json_type names, for the type names Spark's schema_of_variant starts with.
JSON_TYPES = {"ARRAY": "ARRAY", "OBJECT": "OBJECT", "STRING": "VARCHAR", "BOOLEAN": "BOOLEAN", "VOID": "NULL"}


def _json(node: exp.Expression) -> exp.Expression:
    # A member's type, a member as an array, a member as text: read through a VARIANT
    # (get_json_object gives a string member unquoted, so "[1]" would pass for an array).
    if isinstance(node, exp.JSONType) and (member := _member(node.this)) is not None:
        kind = _fn("regexp_extract", _fn("schema_of_variant", member), exp.Literal.string("^[A-Z]+"),
                   exp.Literal.number(0))
        cases = exp.Case(this=kind)
        for spark_name, duckdb_name in JSON_TYPES.items():
            cases = cases.when(exp.Literal.string(spark_name), exp.Literal.string(duckdb_name))
        return cases.else_(kind.copy())
    if (
        isinstance(node, exp.Cast)
        and node.to.is_type(exp.DataType.Type.ARRAY)
        and (member := _member(node.this)) is not None
    ):
        to = exp.Literal.string(node.to.sql(dialect="spark"))
        return _fn("try_variant_get", member, exp.Literal.string("$"), to)
    if isinstance(node, exp.JSONExtractScalar) and (member := _member(node)) is not None:
        # arrays and objects come back as JSON text, as DuckDB's json_extract_string gives them
        return _fn("try_variant_get", member, exp.Literal.string("$"), exp.Literal.string("STRING"))
    return node


REWRITES: tuple[Rewrite, ...] = (_json, _percentile, _epoch, _double_literal, _explode_cast, _any_value)
"""The engine differences, in the order they are applied to each parsed statement."""


def _renamed(names: dict[str, str]) -> Rewrite:
    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.db and node.name in names:
            renamed = exp.to_table(names[node.name])
            if node.alias:
                renamed.set("alias", node.args["alias"].copy())
            return renamed
        return node

    return rename


def translate(node: exp.Expression, names: dict[str, str] | None = None) -> str:
    """One parsed DuckDB statement (or query) as Spark SQL."""
    tree = node.copy()
    for rewrite in (*REWRITES, *((_renamed(names),) if names else ())):
        tree = tree.transform(rewrite)
    return tree.sql(dialect="spark")


def to_spark(sql: str) -> str:
    """DuckDB SQL (one or more statements) as Spark SQL, with every rewrite of ``REWRITES``."""
    return ";\n".join(translate(node) for node in sqlglot.parse(sql, read="duckdb") if node)


def _created(node: exp.Expression) -> tuple[str, exp.Expression, bool] | None:
    """(name, query, is_table) of a CREATE [OR REPLACE] TEMP TABLE/VIEW name AS query."""
    if not isinstance(node, exp.Create) or node.expression is None:
        return None
    kind = str(node.args.get("kind", "")).upper()
    table = node.this if isinstance(node.this, exp.Table) else node.find(exp.Table)
    if table is None or kind not in ("TABLE", "VIEW"):
        return None
    return table.name, node.expression, kind == "TABLE"


_engines = itertools.count(1)


class SparkEngine:
    """The flow metrics on a SparkSession (local, a cluster, or a Spark Connect server)."""

    dialect = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._suffix = f"_vs{next(_engines)}"
        self._names: dict[str, str] = {}
        self._cached: dict[str, DataFrame] = {}
        self._timezone = "UTC"
        self.spark.conf.set("spark.sql.session.timeZone", self._timezone)

    # -- tables ---------------------------------------------------------------------------------

    def register(self, name: str, frame: DataFrame, *, cache: bool = False) -> None:
        """Make a Spark DataFrame available to the flow SQL as ``name`` (for this engine only).

        ``cache``: compute it now, once, and keep the rows (``localCheckpoint``, memory then
        disk), so every later query reads them instead of planning the whole lineage again: a
        persisted DataFrame is only found again when Spark matches the plans, which it does not
        for a lineage that starts with a generated ``seq`` (``monotonically_increasing_id``), so
        each query used to recompute the derived tables from the Parquet file.
        """
        self._cached.pop(name, None)
        if cache:
            frame = frame.localCheckpoint(eager=True)
            self._cached[name] = frame
        view = f"{name}{self._suffix}"
        frame.createOrReplaceTempView(view)
        self._names[name] = view

    def table(self, name: str) -> DataFrame:
        """The Spark DataFrame behind one of this engine's tables."""
        return self.spark.table(self._names.get(name, name))

    def spark_sql(self, sql: str) -> str:
        """The Spark SQL this engine runs for a DuckDB query (this engine's table names filled in)."""
        return ";\n".join(
            translate(node, self._names) for node in sqlglot.parse(sql, read="duckdb") if node
        )

    # -- the Engine protocol --------------------------------------------------------------------

    def execute(self, sql: str) -> None:
        for node in sqlglot.parse(sql, read="duckdb"):
            if node is None:
                continue
            created = _created(node)
            if created is None:
                self.spark.sql(translate(node, self._names))
                continue
            name, query, is_table = created
            # A view that joins is computed once too: on Spark each read would repeat the shuffle.
            keep = is_table or query.find(exp.Join) is not None
            self.register(name, self.spark.sql(translate(query, self._names)), cache=keep)

    def frame(self, sql: str) -> pd.DataFrame:
        return _as_duckdb_would(self.spark.sql(self.spark_sql(sql)).toArrow(), self._timezone)

    def load(self, name: str, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        self.register(name, self.spark.createDataFrame(table), cache=True)

    def set_timezone(self, timezone: str) -> None:
        self._timezone = timezone
        self.spark.conf.set("spark.sql.session.timeZone", timezone)

    def has_table(self, name: str) -> bool:
        return name in self._names or bool(self.spark.catalog.tableExists(name))

    def close(self) -> None:
        """Drop this engine's views and let go of what it computed (the session stays up; Spark
        frees a local checkpoint's blocks once nothing refers to it)."""
        for view in self._names.values():
            self.spark.catalog.dropTempView(view)
        self._cached.clear()
        self._names.clear()


def _as_duckdb_would(table: pa.Table, timezone: str) -> pd.DataFrame:
    """An Arrow answer as the pandas frame DuckDB gives for the same SQL types.

    Spark's ``row_number`` is an INT where DuckDB's is a BIGINT; every other type maps as is.
    """
    fields = [
        pa.field(f.name, pa.int64()) if pa.types.is_int32(f.type) else f for f in table.schema
    ]
    table = table.cast(pa.schema(fields))
    con = duckdb.connect()
    try:
        con.execute(f"SET TimeZone = '{timezone.replace(chr(39), chr(39) * 2)}'")
        return con.from_arrow(table).df()
    finally:
        con.close()


# -- the event log in Spark -------------------------------------------------------------------

# The workspace's tables as Spark reads them (JSON attributes as text); an empty one has this schema.
SCHEMAS = {
    "transitions": "source STRING, item STRING, state STRING, entered_at TIMESTAMP, seq BIGINT",
    "flags": "source STRING, item STRING, raised_at TIMESTAMP, cleared_at TIMESTAMP",
    "items": "source STRING, item STRING, title STRING, type STRING, attributes STRING",
    "state_roles": "source STRING, state STRING, role STRING",
    "events": "date DATE, title STRING, kind STRING, new_period BOOLEAN",
}
REQUIRED = ("item", "state", "entered_at")
"""The columns an event log needs (the workspace's names); source, seq, title and type may follow."""


def load_workspace(engine: SparkEngine, workspace: Workspace) -> None:
    """Copy a workspace's tables into the engine's session (through Arrow; for logs one machine holds)."""
    with workspace.connect(read_only=True) as con:
        for name, schema in SCHEMAS.items():
            columns = ", ".join(
                f"CAST({c} AS VARCHAR) AS {c}" if c == "attributes" else c
                for c in (part.split()[0] for part in schema.split(", "))
            )
            table = con.sql(f"SELECT {columns} FROM {name}").to_arrow_table()
            engine.register(name, engine.spark.createDataFrame(table, schema=schema))


def load_events(engine: SparkEngine, events: str | Path | DataFrame) -> None:
    """Register an event log held in Spark: a DataFrame, Parquet (a file or a folder), or a table.

    A folder holding ``transitions`` (and maybe ``flags``, ``items``, ``state_roles``, ``events``,
    each Parquet) is read as a workspace's tables; anything else is the transitions alone, with
    the workspace's column names (``item``, ``state``, ``entered_at``; ``source``, ``seq``,
    ``title``, ``type`` if present). Without ``seq``, transitions at the same instant keep the
    order Spark reads them in.
    """
    spark = engine.spark
    frames: dict[str, DataFrame] = {}
    label = "the events DataFrame"
    if isinstance(events, str | Path):
        label = str(events)
        local = Path(events)
        parts = {p.stem: p for p in local.iterdir()} if local.is_dir() else {}
        if "transitions" in parts:
            frames = {n: _read(spark, str(parts[n]), label) for n in SCHEMAS if n in parts}
        else:
            frames["transitions"] = _read(spark, str(events), label)
    else:
        frames["transitions"] = events
    transitions = frames["transitions"]
    missing = [c for c in REQUIRED if c not in transitions.columns]
    if missing:
        raise InputError(
            f"{label}: no column {', '.join(missing)}; an event log needs {', '.join(REQUIRED)} "
            f"(it has {', '.join(transitions.columns) or 'no columns'})"
        )
    derived = "items" not in frames
    if derived:
        frames["items"] = _items_of(transitions)
    frames["transitions"] = _transitions(transitions)
    for name, schema in SCHEMAS.items():
        frame = frames.get(name)
        if frame is None:
            frame = spark.createDataFrame([], schema=schema)
        elif name != "transitions":
            frame = frame.selectExpr(
                *(f"CAST({c} AS {t}) AS {c}" for c, t in (p.split() for p in schema.split(", ")))
            )
        # items made from the transitions: one aggregation, kept, not one per query that names them
        engine.register(name, frame, cache=derived and name == "items")


def _read(spark: SparkSession, path: str, label: str) -> DataFrame:
    local = Path(path)
    if "://" not in path and not local.exists():
        if _is_table(spark, path):
            return spark.table(path)
        raise InputError(f"--events: {label} is no file, folder or table")
    if local.exists():  # the JVM's working folder is where Spark started, not ours
        path = str(local.resolve())
    try:
        return spark.read.parquet(path)
    except Exception as exc:  # Spark's analysis errors carry a JVM stack: one line of it is enough
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--events: {label} is not readable as Parquet ({first[:200]})") from None


def _is_table(spark: SparkSession, name: str) -> bool:
    try:
        return bool(spark.catalog.tableExists(name))
    except Exception:  # not even a table name (a path that does not exist, say)
        return False


def _transitions(frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    cols = frame.columns
    return frame.select(
        (F.col("source").cast("string") if "source" in cols else F.lit("log")).alias("source"),
        F.col("item").cast("string").alias("item"),
        F.col("state").cast("string").alias("state"),
        F.col("entered_at").cast("timestamp").alias("entered_at"),
        (F.col("seq").cast("bigint") if "seq" in cols else F.monotonically_increasing_id()).alias(
            "seq"
        ),
    )


def _items_of(frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    cols = frame.columns
    source = F.col("source").cast("string") if "source" in cols else F.lit("log")
    text = {
        c: (F.col(c).cast("string") if c in cols else F.lit(None).cast("string"))
        for c in ("title", "type")
    }
    return (
        frame.select(
            source.alias("source"),
            F.col("item").cast("string").alias("item"),
            *(v.alias(k) for k, v in text.items()),
        )
        .groupBy("source", "item")
        .agg(F.any_value("title", True).alias("title"), F.any_value("type", True).alias("type"))
        .withColumn("attributes", F.lit(None).cast("string"))
    )


def session(master: str | None = None) -> SparkSession:
    """A SparkSession for the CLI: a Spark Connect server (``sc://...``, or SPARK_REMOTE when no
    master is named), else the master URL given (default ``local[2]``, Spark on this machine).
    An already running session of this process is reused."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ValuestreamError(
            "--engine spark needs pyspark: pip install 'valuestream[spark]' (and Java 17)"
        ) from None
    remote = os.environ.get("SPARK_REMOTE") if master is None else None
    if master and master.startswith("sc://"):
        remote = master
    builder = SparkSession.builder.appName("valuestream")
    try:
        if remote:
            return builder.remote(remote).getOrCreate()
        return (
            builder.master(master or "local[2]")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    except Exception as exc:  # no Java, a master that does not answer: one line, not a JVM stack
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        where = remote or master or "local[2]"
        raise ValuestreamError(
            f"--spark-master: could not start Spark at {where} ({first}); local mode needs Java 17"
        ) from None
