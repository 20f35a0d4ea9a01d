"""Foundation benchmark: import and the full flow metric set on a 1,000,000-item synthetic log.

    python benchmarks/run.py [--sizes 10000,100000,1000000] [--seed 7]

Generates a seeded synthetic event log (about 10 transitions per item: a seven-state workflow, rework
loops from Test back to Dev, blocked spells, a tenth of the items unfinished), writes it as CSV,
then times in separate processes (so each peak memory is its own):

- import: ``valuestream import`` of the CSV into a fresh workspace, every check included;
- DuckDB's own load: ``CREATE TABLE t AS SELECT * FROM read_csv(...)`` of the same file into a
  fresh database file, types sniffed, nothing checked: the floor an import is compared with;
- metrics: ``Flow.of`` plus items, summary, steps, WIP, CFD and rates;
- pandas baseline: a straightforward pandas implementation of the same per-item metrics (lead,
  cycle, touch, wait, rework) from the same data already in memory;
- engine floor: the per-item lead, cycle, touch and flow efficiency as one hand-written DuckDB
  query (``SQL_FLOOR``), the least any engine can spend on those numbers;
- the CLI (largest size): ``valuestream metrics --format json`` end to end, then the same again on
  unchanged data (answered from the cache beside the workspace), the same in a process that has
  already loaded valuestream (as the web dashboard asks), then with ``--no-cache``.

and prints a table with seconds, peak memory and ratios measured in the same run for the largest
size, then the growth table: import, metric set and floor at every size side by side, with the
cost per million transitions, so that anything worse than linear shows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
STATES = ["Backlog", "Analysis", "Ready for Dev", "Dev", "Ready for Test", "Test", "Done"]
TOUCH = {"Analysis", "Dev", "Test"}
STREAM = """
workflow:
  start: Backlog
  finish: Done
  touch: [Analysis, Dev, Test]
  wait: [Ready for Dev, Ready for Test]
  blocked: [Blocked]
"""


def generate(items: int, seed: int, path: Path) -> int:
    """Write the synthetic log; returns the number of transitions."""
    rng = np.random.default_rng(seed)
    rework = rng.poisson(0.93, items)  # extra Dev -> Ready for Test -> Test rounds
    blocked = rng.random(items) < 0.1  # a Blocked spell inside the first Dev
    lengths = 7 + 3 * rework + 2 * blocked
    total = int(lengths.sum())
    item_of = np.repeat(np.arange(items), lengths)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(total) - np.repeat(starts, lengths)
    # Build the state sequence per position: 0..3 base, then optional blocked pair, then rounds.
    state = np.empty(total, dtype=np.int8)
    b = np.repeat(blocked, lengths)
    r_pos = pos - 2 * (b & (pos >= 6))  # position once the blocked pair (4, 5) is skipped
    state[:] = np.clip(r_pos, 0, 6)
    in_block = b & ((pos == 4) | (pos == 5))
    state[in_block & (pos == 4)] = 7  # Blocked
    state[in_block & (pos == 5)] = 3  # back to Dev
    after = ~in_block & (r_pos >= 4)
    extra = r_pos - 4
    n_rounds = np.repeat(rework, lengths)
    # After the first Dev: rounds of (Ready for Test, Test, Dev) then Ready for Test, Test, Done.
    cycle = np.array([4, 5, 3], dtype=np.int8)
    in_rounds = after & (extra < 3 * n_rounds)
    state[in_rounds] = cycle[extra[in_rounds] % 3]
    tail = after & ~in_rounds
    state[tail] = np.array([4, 5, 6], dtype=np.int8)[np.clip(extra[tail] - 3 * n_rounds[tail], 0, 2)]
    names = np.array(STATES + ["Blocked"])
    # Durations: touch ~ gamma(2, 1) days, waits ~ exponential(2) days; arrivals over three years.
    touch = np.isin(state, [1, 3, 5])
    dur = np.where(touch, rng.gamma(2.0, 1.0, total), rng.exponential(2.0, total))
    entry = rng.uniform(0, 3 * 365, items)
    offset = np.cumsum(dur) - np.repeat(np.cumsum(dur)[starts] - dur[starts], lengths) - dur
    when = np.repeat(entry, lengths) + offset
    cutoff = 3 * 365 + 20
    keep = when <= cutoff  # items still under way at the export are unfinished
    epoch0 = 1_700_000_000
    ts = (epoch0 + when[keep] * 86400).astype("int64") * 1_000_000
    table = pa.table({
        "item": pa.array(np.char.add("IT-", item_of[keep].astype(str))),
        "state": pa.array(names[state[keep]]),
        "entered_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    table.select(["item", "state", "entered_at"]).to_pandas().to_parquet(path.with_suffix(".parquet"))
    return table.num_rows


def phase_import(csv_path: str, ws_path: str) -> dict[str, float]:
    from valuestream.workspace import Workspace

    Path(ws_path).unlink(missing_ok=True)
    t = time.perf_counter()
    result = Workspace(ws_path).import_file(csv_path)
    return {"seconds": time.perf_counter() - t, "rows": result["rows"]}


def phase_load(csv_path: str, db_path: str) -> dict[str, float]:
    import duckdb

    Path(db_path).unlink(missing_ok=True)
    t = time.perf_counter()
    con = duckdb.connect(db_path)
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv_path}')")
    con.close()
    seconds = time.perf_counter() - t
    Path(db_path).unlink()
    return {"seconds": seconds}


def phase_metrics(ws_path: str) -> dict[str, float]:
    import os

    os.environ["VALUESTREAM_NO_CACHE"] = "1"  # the computation itself (cli_repeat times the cache)
    from valuestream.flow import Flow
    from valuestream.model import parse_stream
    from valuestream.workspace import Workspace

    t = time.perf_counter()
    flow = Flow.of(Workspace(ws_path), parse_stream(STREAM))
    built = time.perf_counter() - t
    out = metric_set(flow)
    # per-item is timed from the start, as the pandas baseline includes no separate build step
    per_item = built + out["per_item"]
    return {"seconds": time.perf_counter() - t, "build": built, "per_item": per_item, "items": out["items"]}


def metric_set(flow) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The whole flow metric set every engine is timed on: per item, then summary, steps, WIP, CFD, rates."""
    t = time.perf_counter()
    items = flow.items()
    per_item = time.perf_counter() - t
    w = flow.window(days=365)
    flow.summary(w)
    flow.steps("state")
    flow.wip(w)
    flow.cfd(w, by="state")
    flow.rates(w, "week")
    return {"per_item": per_item, "rest": time.perf_counter() - t - per_item, "items": len(items)}


# The engine's floor: the per-item lead, cycle, touch and flow efficiency of the benchmark's
# workflow as ONE hand-written DuckDB query over the workspace (one sort for the next transition,
# one aggregation per item), returned as a DataFrame as Flow.items() is. It knows the workflow's
# states, ignores blocked flags, reopened items and calendars, and computes no rework: the least
# any engine can spend on these numbers.
SQL_FLOOR = """
WITH t AS (
    SELECT item, state, entered_at,
           lead(entered_at) OVER (PARTITION BY item ORDER BY entered_at, source, seq) AS left_at,
           min(CASE WHEN state = 'Done' THEN entered_at END) OVER (PARTITION BY item) AS finished
    FROM transitions
), per AS (
    SELECT item, min(entered_at) AS entered, any_value(finished) AS finished,
           min(CASE WHEN state IN ('Analysis', 'Dev', 'Test') THEN entered_at END) AS first_touch,
           sum(CASE WHEN state IN ('Analysis', 'Dev', 'Test') AND (finished IS NULL OR entered_at < finished)
                    THEN epoch(least(coalesce(left_at, finished, now()), coalesce(finished, now()))) - epoch(entered_at)
                    ELSE 0 END) AS touch_s
    FROM t GROUP BY item
)
SELECT item, entered, first_touch, finished,
       (epoch(finished) - epoch(entered)) / 86400.0 AS lead_time_days,
       (epoch(finished) - epoch(first_touch)) / 86400.0 AS cycle_time_days,
       touch_s / 86400.0 AS touch_days,
       touch_s / nullif(epoch(finished) - epoch(entered), 0) AS flow_efficiency
FROM per
"""


def phase_floor(ws_path: str) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(ws_path, read_only=True)
    t = time.perf_counter()
    rows = len(con.execute(SQL_FLOOR).df())
    return {"seconds": time.perf_counter() - t, "items": rows}


def phase_pandas(parquet_path: str) -> dict[str, float]:
    import pandas as pd

    df = pd.read_parquet(parquet_path)
    t = time.perf_counter()
    df = df.sort_values(["item", "entered_at"], kind="stable")
    df["left_at"] = df.groupby("item")["entered_at"].shift(-1)
    first_done = df[df.state == "Done"].groupby("item")["entered_at"].min().rename("finished")
    entered = df.groupby("item")["entered_at"].min().rename("entered")
    df = df.join(first_done, on="item").join(entered, on="item")
    in_stream = df[df.finished.isna() | (df.entered_at < df.finished)].copy()
    end = in_stream.left_at.fillna(in_stream.entered_at.max())
    end = end.where(in_stream.finished.isna() | (end <= in_stream.finished), in_stream.finished)
    in_stream["secs"] = (end - in_stream.entered_at).dt.total_seconds()
    in_stream["touch"] = np.where(in_stream.state.isin(list(TOUCH)), in_stream.secs, 0.0)
    first_touch = in_stream[in_stream.state.isin(list(TOUCH))].groupby("item")["entered_at"].min().rename("first_touch")
    # Rework as DESIGN.md defines it: into a state first entered before the one left, except
    # returning from Blocked to the state worked in before it.
    df["pos"] = df.groupby("item").cumcount()
    df["first_pos"] = df.groupby(["item", "state"])["pos"].transform("min")
    df["prev_first"] = df.groupby("item")["first_pos"].shift(1)
    df["prev_state"] = df.groupby("item")["state"].shift(1)
    worked = df["state"].where(df["state"] != "Blocked")
    df["resumed_from"] = worked.groupby(df["item"]).ffill().groupby(df["item"]).shift(1)
    back = (df.first_pos < df.prev_first) & ~((df.prev_state == "Blocked") & (df.state == df.resumed_from))
    in_stream["rework"] = back.loc[in_stream.index]
    per = in_stream.groupby("item").agg(touch=("touch", "sum"), total=("secs", "sum"), rework=("rework", "sum"))
    per = per.join(entered).join(first_done).join(first_touch)
    per["lead"] = (per.finished - per.entered).dt.total_seconds() / 86400
    per["cycle"] = (per.finished - per.first_touch).dt.total_seconds() / 86400
    per["wait"] = (per.total - per.touch) / 86400
    per["eff"] = per.touch / 86400 / per.lead
    per.lead.quantile([0.5, 0.7, 0.85, 0.95])
    return {"seconds": time.perf_counter() - t, "items": len(per)}


def cli_repeat(ws_path: Path) -> dict[str, float]:
    """``valuestream metrics --format json`` end to end (a process each): the first call, which keeps
    its answers beside the workspace, the same call again on unchanged data, and ``--no-cache``."""
    stream = ws_path.with_name("stream.yaml")
    stream.write_text(STREAM)
    cli = [sys.executable, "-m", "valuestream"]
    args = ["metrics", "--workspace", str(ws_path), "--stream", str(stream), "--format", "json"]
    subprocess.run([*cli, "cache", "clear", "--workspace", str(ws_path)], check=True, capture_output=True)
    out: dict[str, float] = {}
    answers = []
    for name, argv in (("first", [*cli, *args]), ("again", [*cli, *args]), ("no_cache", [*cli, "--no-cache", *args])):
        t = time.perf_counter()
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        out[name] = time.perf_counter() - t
        answers.append(done.stdout)
    if answers[0] != answers[1]:
        raise SystemExit("the repeat answered differently from the first call")
    out["in_process"] = run_phase("repeat", str(ws_path), str(stream))["seconds"]
    return out


def phase_repeat(ws_path: str, stream_path: str) -> dict[str, float]:
    """The repeat in a process that has already loaded valuestream (the web dashboard's case):
    the same ``metrics`` command, its answers kept by the first call, with no interpreter start."""
    import contextlib
    import io

    from valuestream.cli import app

    argv = ["metrics", "--workspace", ws_path, "--stream", stream_path, "--format", "json"]
    with contextlib.redirect_stdout(io.StringIO()):
        app(argv, standalone_mode=False)  # warms the imports the command loads lazily
        t = time.perf_counter()
        app(argv, standalone_mode=False)
    return {"seconds": time.perf_counter() - t}


def run_phase(name: str, *args: str, script: str = __file__) -> dict[str, float]:
    """One phase (of this script, or another benchmark's) in its own process, so that its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, script, "--phase", name, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="item counts, comma-separated")
    parser.add_argument("--items", type=int, help="one size only (the same as --sizes N)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase")
    parser.add_argument("args", nargs="*")
    opts = parser.parse_args()
    if opts.phase:
        result = globals()[f"phase_{opts.phase}"](*opts.args)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    sizes = [opts.items] if opts.items else sorted(int(n) for n in opts.sizes.split(","))
    runs: list[dict[str, dict[str, float]]] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("benchmark", total=5 * len(sizes) + 2)
        for items in sizes:
            csv_path = DATA / f"log-{items}-{opts.seed}.csv"
            ws_path = DATA / f"ws-{items}.duckdb"
            if not csv_path.exists():
                progress.update(task, description=f"generating {items:,} items")
                generate(items, opts.seed, csv_path)
            progress.update(task, advance=1, description=f"{items:,} items: import")
            imp = run_phase("import", str(csv_path), str(ws_path))
            progress.update(task, advance=1, description=f"{items:,} items: DuckDB's own load")
            load = run_phase("load", str(csv_path), str(DATA / f"load-{items}.duckdb"))
            progress.update(task, advance=1, description=f"{items:,} items: metrics")
            met = run_phase("metrics", str(ws_path))
            progress.update(task, advance=1, description=f"{items:,} items: engine floor")
            floor = run_phase("floor", str(ws_path))
            progress.update(task, advance=1)
            runs.append({"import": imp, "load": load, "metrics": met, "floor": floor})
        progress.update(task, description=f"{sizes[-1]:,} items: pandas baseline")
        pdb = run_phase("pandas", str(csv_path.with_suffix(".parquet")))
        progress.update(task, advance=1, description=f"{sizes[-1]:,} items: the CLI, then again on unchanged data")
        cli = cli_repeat(ws_path)
        progress.update(task, advance=1)
    imp, load, met, floor = (runs[-1][k] for k in ("import", "load", "metrics", "floor"))
    opts.items = sizes[-1]

    table = Table(title=f"valuestream foundation: {opts.items:,} items, {int(imp['rows']):,} transitions (seed {opts.seed})")
    for col in ("phase", "seconds", "peak MB", "vs pandas", "vs engine floor", "vs DuckDB load", "target"):
        table.add_column(col, justify="left" if col in ("phase", "target") else "right")
    table.add_row(
        "import CSV (checks included)", f"{imp['seconds']:.2f}", f"{imp['peak_mb']:.0f}", "", "",
        f"{imp['seconds'] / load['seconds']:.1f}x", "<= 2x DuckDB's load, < 2048 MB",
    )
    table.add_row("DuckDB's own CSV load", f"{load['seconds']:.2f}", f"{load['peak_mb']:.0f}", "", "", "1.0x", "")
    table.add_row(
        "whole metric set", f"{met['seconds']:.2f}", f"{met['peak_mb']:.0f}", "",
        f"{met['seconds'] / floor['seconds']:.1f}x", "", "<= 2x the floor, < 2048 MB",
    )
    table.add_row(
        "  per-item metrics (as pandas)", f"{met['per_item']:.2f}", "",
        f"{pdb['seconds'] / met['per_item']:.1f}x faster", f"{met['per_item'] / floor['seconds']:.1f}x", "", ">= 5x faster",
    )
    table.add_row("pandas baseline (per-item only)", f"{pdb['seconds']:.2f}", f"{pdb['peak_mb']:.0f}", "1.0x", "", "", "")
    table.add_row(
        "metrics --format json (CLI, keeps its answers)", f"{cli['first']:.2f}", "", "",
        f"{cli['first'] / floor['seconds']:.1f}x", "", "",
    )
    table.add_row(
        "  the same again, unchanged data", f"{cli['again']:.2f}", "", "", "", "",
        f"< 1 s ({cli['first'] / cli['again']:.0f}x faster than the first)",
    )
    table.add_row(
        "  the same in a running process (the dashboard)", f"{cli['in_process']:.2f}", "", "", "", "",
        "< 1 s",
    )
    table.add_row(
        "  --no-cache (computes, keeps nothing)", f"{cli['no_cache']:.2f}", "", "", "", "",
        f"keeping costs {cli['first'] / cli['no_cache'] - 1:+.0%}",
    )
    table.add_row("engine floor (one per-item query)", f"{floor['seconds']:.2f}", f"{floor['peak_mb']:.0f}", "", "1.0x", "", "")
    Console().print(table)
    Console().print(growth(sizes, runs))


def growth(sizes: list[int], runs: list[dict[str, dict[str, float]]]) -> Any:
    """Each size's import, metric set and floor, and their seconds per million transitions."""
    from rich.table import Table

    table = Table(title="growth: the same phases at every size (seconds, peak MB; s per million transitions)")
    for col in ("items", "transitions", "import", "import MB", "DuckDB load", "metrics", "metrics MB", "floor",
                "import s/M", "metrics s/M", "import vs load", "metrics vs floor"):
        table.add_column(col, justify="right")
    for items, run in zip(sizes, runs, strict=True):
        rows = run["import"]["rows"] / 1e6
        table.add_row(
            f"{items:,}", f"{int(run['import']['rows']):,}",
            f"{run['import']['seconds']:.2f}", f"{run['import']['peak_mb']:.0f}", f"{run['load']['seconds']:.2f}",
            f"{run['metrics']['seconds']:.2f}", f"{run['metrics']['peak_mb']:.0f}",
            f"{run['floor']['seconds']:.3f}",
            f"{run['import']['seconds'] / rows:.2f}", f"{run['metrics']['seconds'] / rows:.2f}",
            f"{run['import']['seconds'] / run['load']['seconds']:.1f}x",
            f"{run['metrics']['seconds'] / run['floor']['seconds']:.1f}x",
        )
    return table


if __name__ == "__main__":
    main()
