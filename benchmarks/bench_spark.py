"""DuckDB against Spark: the same flow metric set on the same synthetic event log.

    python benchmarks/bench_spark.py [--items 1000000] [--seed 7] [--master local[2]]

The log is the foundation benchmark's (``run.py``'s generator: about 10 transitions per item),
read by both engines from the same Parquet file. Each engine runs in its own process and answers
the metric set of ``run.py`` (build, items, summary, steps per state, WIP, CFD, rates over the last
365 days); the table shows seconds per phase and the ratio Spark / DuckDB. Spark runs on the
master given (default local mode on this machine's cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DATA, STREAM, generate, metric_set, run_phase  # noqa: E402


def phase_duckdb(parquet: str) -> dict[str, float]:
    from valuestream.flow import Flow
    from valuestream.flow.engine import DuckDBEngine
    from valuestream.model import parse_stream

    t = time.perf_counter()
    engine = DuckDBEngine.in_memory()
    engine.execute(
        "CREATE TABLE transitions AS SELECT 'log' AS source, item, state, entered_at, "
        f"row_number() OVER () AS seq FROM read_parquet('{parquet}')"
    )
    engine.execute("CREATE TABLE flags (source VARCHAR, item VARCHAR, raised_at TIMESTAMPTZ, cleared_at TIMESTAMPTZ)")
    engine.execute("CREATE TABLE items (source VARCHAR, item VARCHAR, title VARCHAR, type VARCHAR, attributes VARCHAR)")
    flow = Flow(engine, stream=parse_stream(STREAM))
    built = time.perf_counter() - t
    return {"build": built, **metric_set(flow)}


def phase_spark(parquet: str, master: str) -> dict[str, float]:
    from pyspark.sql import SparkSession

    from valuestream.flow import Flow
    from valuestream.model import parse_stream

    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master(master)
        .appName("valuestream-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "8g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter() - t0
    t = time.perf_counter()
    flow = Flow.from_spark(spark, parquet, parse_stream(STREAM))
    built = time.perf_counter() - t
    out = {"start": started, "build": built, **metric_set(flow)}
    spark.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--phase")
    parser.add_argument("args", nargs="*")
    opts = parser.parse_args()
    if opts.phase:
        print(json.dumps(globals()[f"phase_{opts.phase}"](*opts.args)))
        return

    from rich.console import Console
    from rich.table import Table

    csv_path = DATA / f"log-{opts.items}-{opts.seed}.csv"
    parquet = csv_path.with_suffix(".parquet")
    if not parquet.exists():
        generate(opts.items, opts.seed, csv_path)
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(parquet).metadata.num_rows
    duck = run_phase("duckdb", str(parquet), script=__file__)
    spark = run_phase("spark", str(parquet), opts.master, script=__file__)
    assert duck["items"] == spark["items"]

    table = Table(title=f"DuckDB against Spark ({opts.master}): {opts.items:,} items, {rows:,} transitions")
    for col in ("phase", "DuckDB s", "Spark s", "Spark / DuckDB"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    phases = [("start a session", 0.0, spark["start"]), ("read and build", duck["build"], spark["build"]),
              ("per-item table", duck["per_item"], spark["per_item"]), ("rest of the set", duck["rest"], spark["rest"])]
    total_d = sum(p[1] for p in phases)
    total_s = sum(p[2] for p in phases)
    for name, d, s in [*phases, ("total", total_d, total_s)]:
        table.add_row(name, f"{d:.2f}", f"{s:.2f}", f"{s / d:.1f}x" if d else "")
    Console().print(table)
    print(json.dumps({"items": opts.items, "transitions": rows, "duckdb": duck, "spark": spark}))


if __name__ == "__main__":
    main()
