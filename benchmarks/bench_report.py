"""Report benchmark: the one-page report of a 100,000-item workspace, against Flow.of alone.

    python benchmarks/bench_report.py [--copies 40] [--repeat 1]

The workspace is the bundled sample (2,540 items over a year, the stream file and its policy
change) copied ``--copies`` times with item ids suffixed and every item's times shifted by a
seeded random offset of up to half a day, so the load is forty teams' worth of the same stream.
Timed in this one process, after one untimed warm-up (imports, the JavaScript bundle's cache):

- Flow.of: the analysis the report starts from (the same-run baseline);
- report: build_report (every section and chart) and writing the HTML file;

and prints seconds, the ratio to Flow.of, and the file's size. Targets: under 10 s and 5 MB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from valuestream.events import merge_stream_events
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.sample import STREAM_YAML, generate
from valuestream.views.report import build_report, vega_bundle
from valuestream.workspace import Workspace

TARGET_SECONDS = 10.0
TARGET_MB = 5.0


def workspace(directory: Path, copies: int, seed: int = 7) -> tuple[Workspace, int]:
    """Import ``copies`` shifted copies of the sample into a fresh workspace; returns it and the items."""
    rows, _ = generate()
    base = pd.DataFrame(rows)
    base["entered_at"] = pd.to_datetime(base["entered_at"], utc=True)
    codes = base["item"].astype("category").cat.codes.to_numpy()
    n_items = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(copies):
        shift = pd.to_timedelta(rng.uniform(-12, 12, n_items)[codes], unit="h")
        part = base.assign(item=base["item"] + f"-{k:02d}", entered_at=base["entered_at"] + shift)
        parts.append(part)
    log = pd.concat(parts, ignore_index=True)
    path = directory / "log.csv"
    log.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    ws = Workspace(directory / "valuestream.duckdb")
    ws.import_file(path)
    return ws, n_items * copies


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    # Computation, not the answer cache: a repeat would answer Flow.of and the report from it.
    os.environ["VALUESTREAM_NO_CACHE"] = "1"
    stream = parse_stream(STREAM_YAML)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        started = time.perf_counter()
        ws, items = workspace(d, args.copies)
        merge_stream_events(ws, stream)
        print(f"workspace: {items:,} items, built in {time.perf_counter() - started:.1f} s")
        vega_bundle()  # the warm-up: the bundle is cached on disk after the first report anywhere
        out = d / "report.html"

        def report() -> object:
            r = build_report(ws, stream)
            r.save(out)
            return r

        t_flow, _ = best(lambda: Flow.of(ws, stream), args.repeat)
        t_report, result = best(report, args.repeat)
        size = out.stat().st_size / 1e6
        shown = int(result.table["shown"].sum())  # type: ignore[attr-defined]
        rows = [
            ("Flow.of (baseline)", t_flow, t_flow / t_flow, ""),
            ("report (build + write)", t_report, t_report / t_flow, f"{size:.2f} MB"),
        ]
        print(f"\n{'step':<26}{'seconds':>9}{'x Flow.of':>11}{'size':>11}")
        for name, secs, ratio, extra in rows:
            print(f"{name:<26}{secs:>9.2f}{ratio:>11.1f}{extra:>11}")
        print(f"\n{shown} of {len(result.table)} parts shown")  # type: ignore[attr-defined]
        ok_time = t_report < TARGET_SECONDS
        ok_size = size < TARGET_MB
        print(
            f"targets: under {TARGET_SECONDS:.0f} s {'met' if ok_time else 'MISSED'}, "
            f"under {TARGET_MB:.0f} MB {'met' if ok_size else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
