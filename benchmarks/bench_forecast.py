"""Forecast benchmark: 10,000 trials of a 200-item "when" forecast, against same-run baselines.

    python benchmarks/bench_forecast.py [--items 200] [--trials 10000] [--repeat 5] [--seed 7]

The history is 90 seeded days: Poisson(1.5) items a weekday, none at weekends. Timed, best of
``--repeat`` runs each, in this one process:

- vectorised: :func:`valuestream.forecast.simulate_when` (the Monte Carlo alone);
- forecast.when: the full call (validation, percentiles, predictability via the XmR module);
- forecast.how_many: 10,000 trials of the items finished in the next 365 days;
- numpy per trial: the same simulation, one trial at a time with numpy (a common first version);
- plain Python: random.choice and a while loop per trial (the textbook implementation).

Prints a table with seconds and each row's ratio to the vectorised simulation.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np

from valuestream import forecast


def history(seed: int, days: int = 90) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.poisson(1.5, days)
    values[np.arange(days) % 7 >= 5] = 0  # weekends happened, and nothing finished on them
    return values


def plain_python(values: list[int], items: int, trials: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    out = []
    for _ in range(trials):
        done = days = 0
        while done < items:
            done += rnd.choice(values)
            days += 1
        out.append(days)
    return out


def numpy_per_trial(values: np.ndarray, items: int, trials: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    horizon = int(2 * items / values.mean()) + 30
    out = np.empty(trials, dtype=np.int64)
    for i in range(trials):
        total = np.cumsum(rng.choice(values, horizon))
        out[i] = int(np.searchsorted(total, items)) + 1
    return out


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    values = history(args.seed)
    items, trials, seed = args.items, args.trials, args.seed
    throughput = values.astype(np.int32)

    rows: list[tuple[str, float, str]] = []
    vec_s, vec = best(
        lambda: forecast.simulate_when(throughput, items, trials, np.random.default_rng(seed)),
        args.repeat,
    )
    rows.append(("vectorised simulate_when", vec_s, f"p85 {np.percentile(vec, 85):.0f} days"))
    full_s, full = best(lambda: forecast.when(values, items, trials=trials, seed=seed), args.repeat)
    rows.append(("forecast.when (whole call)", full_s, f"p85 {full.level(85)} days"))
    hm_s, hm = best(lambda: forecast.how_many(values, 365, trials=trials, seed=seed), args.repeat)
    rows.append(("forecast.how_many (365 days)", hm_s, f"85%: {hm.level(85)} items"))
    # The baselines are slow: time them once or twice, not --repeat times.
    per_s, per = best(lambda: numpy_per_trial(values, items, trials, seed), min(2, args.repeat))
    rows.append(("baseline: numpy per trial", per_s, f"p85 {np.percentile(per, 85):.0f} days"))
    py_s, py = best(lambda: plain_python(values.tolist(), items, trials, seed), min(2, args.repeat))
    rows.append(("baseline: plain Python loop", py_s, f"p85 {np.percentile(py, 85):.0f} days"))

    print(
        f"'when' forecast: {items} items, {trials:,} trials, 90 days of history ({values.sum()} items, {(values == 0).sum()} zero days)"
    )
    print(f"{'implementation':<32}{'seconds':>10}{'x vectorised':>14}   check")
    for name, seconds, check in rows:
        print(f"{name:<32}{seconds:>10.4f}{seconds / vec_s:>14.1f}   {check}")


if __name__ == "__main__":
    main()
