"""Map picture of a log with very many distinct states: time and peak memory of ``map --out m.svg``.

    python benchmarks/bench_map_long_tail.py [--items 100000]

Each item passes Backlog, two states of its own and Done (so ``--items 100000`` gives 200,000
distinct states, the case of issue 16). Import and map run in child processes (the peak resident
memory is the larger of the two) in a temporary folder; prints the map's seconds, peak MB, SVG size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_log(folder: Path, items: int) -> None:
    with (folder / "log.csv").open("w") as fh:
        fh.write("item,state,entered_at\n")
        for i in range(items):
            d = 1 + i % 27
            fh.write(
                f"I{i},Backlog,2026-01-{d:02d}T00:00:00Z\nI{i},X-{i}-a,2026-01-{d:02d}T06:00:00Z\n"
                f"I{i},X-{i}-b,2026-01-{d:02d}T12:00:00Z\nI{i},Done,2026-01-{d + 1:02d}T00:00:00Z\n"
            )
    (folder / "stream.yaml").write_text("workflow: {start: Backlog, finish: Done}\n")


def setup(doc: str) -> tuple[argparse.Namespace, dict[str, str]]:
    """The ``--items`` argument, and the environment that runs this checkout's valuestream."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    src = str(Path(__file__).resolve().parents[1] / "src")
    return parser.parse_args(), {**os.environ, "PYTHONPATH": src}


def main() -> None:
    args, env = setup(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_log(folder, args.items)
        cli = [sys.executable, "-m", "valuestream"]
        subprocess.run([*cli, "import", "log.csv", "-q"], cwd=folder, env=env, check=True)
        started = time.perf_counter()
        subprocess.run([*cli, "map", "--out", "m.svg", "--format", "json"], cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = (folder / "m.svg").stat().st_size / 1024
    print(f"{2 * args.items:,} distinct states: map --out m.svg in {seconds:.1f} s, peak {peak:,.0f} MB, SVG {size:,.0f} KB")


if __name__ == "__main__":
    main()
