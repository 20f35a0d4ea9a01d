"""XES benchmark: read the BPI Challenge 2012 log (262,200 events) with valuestream and with pm4py.

    python benchmarks/bench_xes.py [--file ../shared/data/bpic2012.xes.gz] [--repeat 3]

Timed in this one process, best of ``--repeat`` runs each, alternating so that both see the same
machine load:

- valuestream read_xes: the streaming parse into transitions, items and roles (lifecycle model
  included);
- valuestream import: the same plus saving into a fresh workspace (what ``valuestream import`` does);
- pm4py.read_xes: pm4py's own XES reader (its default variant, progress bar off), into its DataFrame;
- expat floor: expat alone, with a handler that does nothing, the least a Python-driven parse costs.

Prints a table with seconds, CPU seconds (every thread of the process: expat checks the document
in a thread of its own beside the array scan), events per second, and each row's ratio to
pm4py.read_xes; the target is read_xes at least five times as fast as pm4py (ratio <= 0.2), in
seconds. On a machine whose cores are busy the second thread gains nothing, and the CPU ratio is
the one to read.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from xml.parsers import expat

from valuestream.sources.xes import read_xes
from valuestream.workspace import Workspace

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "bpic2012.xes.gz"


def expat_floor(path: Path) -> None:
    parser = expat.ParserCreate()
    parser.StartElementHandler = lambda tag, attrs: None
    parser.EndElementHandler = lambda tag: None
    with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as fh:
        parser.ParseFile(fh)


def ours_import(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Workspace(Path(tmp) / "ws.duckdb").import_file(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pm4py prints a banner on import
            import pm4py
    except ImportError:
        pm4py = None
        print("pm4py is not installed (pip install pm4py): timing valuestream alone\n")

    events = read_xes(args.file).events
    runs: dict[str, Callable[[], object]] = {
        "valuestream read_xes": lambda: read_xes(args.file),
        "valuestream import (read + save)": lambda: ours_import(args.file),
        "expat floor (no-op handlers)": lambda: expat_floor(args.file),
    }
    if pm4py is not None:
        runs["pm4py.read_xes"] = lambda: pm4py.read_xes(str(args.file), show_progress_bar=False)
    best = {name: float("inf") for name in runs}
    cpu = {name: float("inf") for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)

    base = best.get("pm4py.read_xes")
    print(f"{args.file.name}: {events:,} events, best of {args.repeat}\n")
    print(f"{'reader':<34} {'seconds':>8} {'CPU s':>7} {'events/s':>11} {'vs pm4py':>9} {'CPU vs pm4py':>13}")
    base_cpu = cpu.get("pm4py.read_xes")
    for name, seconds in best.items():
        ratio = f"{seconds / base:8.2f}x" if base else "      n/a"
        cpu_ratio = f"{cpu[name] / base_cpu:12.2f}x" if base_cpu else "          n/a"
        print(f"{name:<34} {seconds:8.2f} {cpu[name]:7.2f} {events / seconds:11,.0f} {ratio} {cpu_ratio}")
    if base and base_cpu:
        speedup = base / best["valuestream read_xes"]
        verdict = "meets" if speedup >= 5 else "MISSES"
        print(
            f"\nread_xes is {speedup:.1f} times as fast as pm4py.read_xes ({verdict} the 5x target);"
            f" {base_cpu / cpu['valuestream read_xes']:.1f} times in CPU time"
        )


if __name__ == "__main__":
    main()
