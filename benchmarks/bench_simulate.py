"""Simulation benchmark: one 10-step model (rework, one batching gate) in our engine and in SimPy.

    python benchmarks/bench_simulate.py [--items 100000] [--big 1000000] [--repeat 3] [--seed 7]

The model: Poisson arrivals at 1 item a day through ten steps: capacity queues with one to three
people (exponential and uniform touch times), pure waits (a 7-14 day legal review, a fixed 1-day
handoff), blocked time at Test, a release gate every 7 days, and 20% rework from Test back to
Build. In this one process:

- engine: ``valuestream.simulate.engine.replicate`` (compiled event loop), best of ``--repeat``;
- SimPy: the same model written the usual SimPy way (a process per item, a Resource per step);
- plain Python: our event loop without numba, timed on a twentieth of the items and scaled
  (labelled as extrapolated), to show what the compilation buys;
- engine at ``--big`` items: the 1,000,000-item target (< 5 s).

Prints seconds (wall and CPU, since this machine is shared), items per second, ratios to the
engine and the mean lead time each implementation found (they must agree).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from valuestream.simulate.engine import Dist, Loop, Network, Station, replicate

RATE = 1.0


def model() -> Network:
    return Network(
        (
            Station("Discover", touch=Dist.uniform(0.5, 1.5), servers=2),
            Station("Legal", wait=Dist.uniform(7, 14), kind="approval"),
            Station("Design", touch=Dist.exponential(0.8), servers=1),
            Station("Handoff", wait=Dist.fixed(1.0)),
            Station("Build", touch=Dist.exponential(2.0), servers=3),
            Station("Review", touch=Dist.uniform(0.1, 0.5), servers=1),
            Station("Environment", touch=Dist.exponential(0.5), servers=1),
            Station(
                "Test",
                touch=Dist.uniform(0.5, 1.5),
                servers=2,
                blocked_share=0.1,
                blocked=Dist.uniform(1, 3),
            ),
            Station("Release", batch_every=7.0, touch=Dist.fixed(0.05)),
            Station("Adopt", wait=Dist.exponential(3.0)),
        ),
        rework=(Loop("Test", "Build", 0.2),),
        arrival_rate=RATE,
    )


def simpy_run(items: int, seed: int) -> float:
    """The same model in SimPy; returns the mean lead time of the items after a 10% warm-up."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    res = {
        name: simpy.Resource(env, capacity=c)
        for name, c in (
            ("Discover", 2),
            ("Design", 1),
            ("Build", 3),
            ("Review", 1),
            ("Environment", 1),
            ("Test", 2),
        )
    }
    lead = np.full(items, np.nan)

    def work(name: str, duration: float) -> Any:
        with res[name].request() as req:
            yield req
            yield env.timeout(duration)

    def item(i: int) -> Any:
        start = env.now
        yield from work("Discover", rng.uniform(0.5, 1.5))
        yield env.timeout(rng.uniform(7, 14))
        yield from work("Design", rng.exponential(0.8))
        yield env.timeout(1.0)
        while True:
            yield from work("Build", rng.exponential(2.0))
            yield from work("Review", rng.uniform(0.1, 0.5))
            yield from work("Environment", rng.exponential(0.5))
            yield from work("Test", rng.uniform(0.5, 1.5))
            if rng.random() < 0.1:
                yield env.timeout(rng.uniform(1, 3))
            if rng.random() >= 0.2:
                break
        release = math.ceil(env.now / 7.0) * 7.0
        yield env.timeout(release - env.now + 0.05)
        yield env.timeout(rng.exponential(3.0))
        lead[i] = env.now - start

    def source() -> Any:
        for i in range(items):
            yield env.timeout(rng.exponential(1 / RATE))
            env.process(item(i))

    env.process(source())
    env.run()
    return float(np.nanmean(lead[items // 10 :]))


def engine_run(items: int, seed: int) -> float:
    run = replicate(model(), items, seed)
    return float(np.mean((run.exit - run.entry)[run.warm :]))


def plain_python_run(items: int, seed: int) -> float:
    """Our event loop, interpreted: the numba dispatchers' original Python functions."""
    from valuestream.simulate import engine

    names = ("_push", "_pop", "_draw", "_start", "_free", "_leave", "_run")
    saved = {n: getattr(engine, n) for n in names}
    try:
        for n in names:
            setattr(engine, n, getattr(saved[n], "py_func", saved[n]))
        return engine_run(items, seed)
    finally:
        for n, f in saved.items():
            setattr(engine, n, f)


def timed(fn: Callable[[], float], repeat: int) -> tuple[float, float, float]:
    """Best wall and CPU seconds over ``repeat`` runs, and the function's result."""
    best_wall = best_cpu = math.inf
    value = math.nan
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    engine_run(1_000, args.seed)  # compile (or load the cached machine code) before timing
    rows = []
    rows.append(
        ("engine", args.items, *timed(lambda: engine_run(args.items, args.seed), args.repeat), "")
    )
    rows.append(("SimPy", args.items, *timed(lambda: simpy_run(args.items, args.seed), 1), ""))
    small = max(args.items // 20, 1_000)
    w, c, v = timed(lambda: plain_python_run(small, args.seed), 1)
    scale = args.items / small
    rows.append(
        (
            "plain Python (no numba)",
            args.items,
            w * scale,
            c * scale,
            v,
            f"extrapolated from {small:,} items",
        )
    )
    rows.append(
        ("engine", args.big, *timed(lambda: engine_run(args.big, args.seed), 1), "target < 5 s")
    )

    base = rows[0][2]
    print(
        f"{'implementation':<26}{'items':>11}{'wall s':>9}{'cpu s':>8}{'items/s':>12}{'x engine':>10}{'mean lead d':>13}  note"
    )
    for name, n, wall, cpu, lead, note in rows:
        ratio = wall / base * (args.items / n)
        print(
            f"{name:<26}{n:>11,}{wall:>9.2f}{cpu:>8.2f}{n / wall:>12,.0f}{ratio:>10.1f}{lead:>13.2f}  {note}"
        )
    print(f"\nSimPy / engine at {args.items:,} items: {rows[1][2] / base:.1f}x (target >= 50x)")
    print(
        f"engine at {args.big:,} items: {rows[3][2]:.2f} s wall, {rows[3][3]:.2f} s CPU (target < 5 s)"
    )


if __name__ == "__main__":
    main()
