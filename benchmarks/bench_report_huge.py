"""The report and the aging chart on a log with very many distinct states: time and peak memory.

    python benchmarks/bench_report_huge.py [--items 100000]

Four logs of ``--items`` items, each in a temporary folder, imported, then ``report`` and
``aging --out a.html`` run in child processes (peak resident memory of that child alone):

- long tail, all finished: each item passes Backlog, two states of its own and Done (the log of
  ``bench_map_long_tail.py``: ``--items 100000`` gives 200,000 distinct states);
- long tail, half in progress: the same, but every second item has not reached Done (50,000
  items in progress, each in a state of its own);
- and, as the baseline in the same run, the same two with the two states shared by every item
  (A and B instead of X-i-a and X-i-b): what the same volume costs without the long tail.

Prints one row per log and command: seconds, peak MB, output size, and the ratio to the baseline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_map_long_tail import setup

CASES = (
    ("long tail, all finished", True, False),
    ("long tail, half in progress", True, True),
    ("shared states, all finished", False, False),
    ("shared states, half in progress", False, True),
)
COMMANDS = (("report", ["report", "-o", "r.html"], "r.html"), ("aging --out", ["aging", "--out", "a.html", "--limit", "5"], "a.html"))


def write_log(folder: Path, items: int, *, own_states: bool, open_half: bool) -> None:
    with (folder / "log.csv").open("w") as fh:
        fh.write("item,state,entered_at\n")
        for i in range(items):
            d = 1 + i % 27
            a, b = (f"X-{i}-a", f"X-{i}-b") if own_states else ("A", "B")
            fh.write(
                f"I{i},Backlog,2026-01-{d:02d}T00:00:00Z\nI{i},{a},2026-01-{d:02d}T06:00:00Z\n"
                f"I{i},{b},2026-01-{d:02d}T12:00:00Z\n"
            )
            if not (open_half and i % 2 == 0):
                fh.write(f"I{i},Done,2026-01-{d + 1:02d}T00:00:00Z\n")
    (folder / "stream.yaml").write_text("workflow: {start: Backlog, finish: Done}\n")


def run(cli: list[str], args: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak resident MB of one child process (its own, not its siblings')."""
    started = time.perf_counter()
    child = subprocess.Popen([*cli, *args], cwd=folder, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed in {folder}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    args, env = setup(__doc__)
    cli = [sys.executable, "-m", "valuestream"]
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    for name, own, open_half in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_log(folder, args.items, own_states=own, open_half=open_half)
            subprocess.run([*cli, "import", "log.csv", "-q"], cwd=folder, env=env, check=True)
            for label, command, out in COMMANDS:
                seconds, peak = run(cli, command, folder, env)
                results[(name, label)] = (seconds, peak, (folder / out).stat().st_size / 1e6)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"{args.items:,} items, load average {load}")
    print(f"{'log':34} {'command':12} {'seconds':>8} {'peak MB':>8} {'file MB':>8} {'x baseline':>11}")
    for name, _, _ in CASES:
        base = "shared states, " + name.split(", ", 1)[1]
        for label, _, _ in COMMANDS:
            seconds, peak, size = results[(name, label)]
            ratio = seconds / results[(base, label)][0]
            print(f"{name:34} {label:12} {seconds:8.1f} {peak:8,.0f} {size:8.1f} {ratio:10.1f}x")


if __name__ == "__main__":
    main()
