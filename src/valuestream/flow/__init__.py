"""Flow metrics: the only code that reads the event log.

Every figure valuestream shows (per item, per step and state, per period, the completed-item
series, percentiles, rework, blocked time) is computed by one method of ``Flow``, as SQL over the
derived tables of ``tables.py``, run by an ``Engine`` (``engine.py``; DuckDB by default, ``spark.py`` for Apache Spark).
"""

from valuestream.flow.core import (
    PERCENTILES,
    SECONDS_PER_DAY,
    Filters,
    Flow,
    Window,
    metric_queries,
    spark_sql,
)
from valuestream.flow.engine import DuckDBEngine, Engine

__all__ = [
    "PERCENTILES",
    "SECONDS_PER_DAY",
    "DuckDBEngine",
    "Engine",
    "Filters",
    "Flow",
    "SparkEngine",
    "Window",
    "metric_queries",
    "spark_sql",
]


def __getattr__(name: str) -> object:
    # SparkEngine loads pyspark's translator (SQLGlot) only when asked for: a DuckDB question
    # never pays for it (a repeat question is mostly interpreter start-up and imports).
    if name == "SparkEngine":
        from valuestream.flow.spark import SparkEngine

        return SparkEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
