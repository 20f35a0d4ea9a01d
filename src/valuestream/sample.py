"""The bundled sample: a year of a discovery-to-adoption stream where four queues hold work back.

The tracker's own steps (Build, Test) are quick and steady, so sprint reports look green, while:

1. **legal language**: customer-facing items wait about two weeks for Legal, whatever the load;
2. **the design handoff** is overloaded: six designers run at about 98% utilisation;
3. **the environment bottleneck**: six shared test environments, so ready work queues for one;
4. **the release gate** batches changes every 14 days, until the team starts releasing daily on
   the policy-change day (recorded in the events log, so the charts show the difference).

The history is made by a small discrete-event simulation with a fixed seed (stdlib ``random``,
stable across Python versions), so every run and every machine gets the same log. The simulation
runs for four months before the log starts, so the first items meet queues that are already
full; items that arrived in that warm-up are not in the log (as if the tracker started then).
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

START = dt.datetime(2025, 11, 3, 9, 0, tzinfo=dt.UTC)
DAYS = 365
WARMUP = 126  # days simulated before the log starts, so its first items meet queues already full
DAILY_RELEASE_FROM = dt.date(2026, 8, 3)
EVENT_TITLE = "Release daily instead of bi-weekly batches"
SEED = 20251103

TYPES = (("Feature", 0.55), ("Improvement", 0.3), ("Bug", 0.15))
THEMES = (
    "checkout", "onboarding", "search", "billing", "notifications", "reporting", "mobile app",
    "pricing page", "account settings", "data export", "partner API", "invoices",
)
VERBS = ("Simplify", "Add", "Speed up", "Redesign", "Localise", "Fix", "Personalise", "Automate")


@dataclass(order=True)
class _Event:
    time: float
    order: int
    item: int = field(compare=False)
    action: Callable[[int, float], None] = field(compare=False)


class _Sim:
    """Just enough of an event loop: stations with servers and FIFO queues, and timed delays."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[_Event] = []
        self.order = 0
        self.rows: list[tuple[int, str, float]] = []
        self.busy: dict[str, int] = {}
        self.queue: dict[str, list[tuple[int, Callable[[int, float], None]]]] = {}

    def at(self, time: float, item: int, action: Callable[[int, float], None]) -> None:
        self.order += 1
        heapq.heappush(self.events, _Event(time, self.order, item, action))

    def enter(self, item: int, state: str, time: float) -> None:
        self.rows.append((item, state, time))

    def seize(self, station: str, servers: int, item: int, now: float, start: Callable[[int, float], None]) -> None:
        if self.busy.get(station, 0) < servers:
            self.busy[station] = self.busy.get(station, 0) + 1
            start(item, now)
        else:
            self.queue.setdefault(station, []).append((item, start))

    def release(self, station: str, now: float) -> None:
        waiting = self.queue.get(station)
        if waiting:
            item, start = waiting.pop(0)
            start(item, now)
        else:
            self.busy[station] -= 1

    def run(self, until: float) -> None:
        while self.events and self.events[0].time <= until:
            event = heapq.heappop(self.events)
            event.action(event.item, event.time)


def _working_time(day: float, rng: random.Random) -> float:
    """A time on a weekday during office hours, on or after ``day``."""
    d = math.floor(day)
    while (START + dt.timedelta(days=d)).weekday() >= 5:
        d += 1
    return d + rng.uniform(0.0, 0.35)


def generate(seed: int = SEED, days: int = DAYS) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The sample's transitions (item, state, entered_at, title, type) and its events log."""
    rng = random.Random(seed)
    sim = _Sim(rng)
    info: dict[int, tuple[str, str, bool]] = {}
    release_day = START.date() + dt.timedelta(days=13)

    def gamma(mean: float, shape: float = 2.5) -> float:
        return rng.gammavariate(shape, mean / shape)

    def leave(station: str, then: Callable[[int, float], None]) -> Callable[[int, float], None]:
        """Free the station's server, then move the item on."""

        def act(item: int, now: float) -> None:
            sim.release(station, now)
            then(item, now)

        return act

    def opportunity(item: int, now: float) -> None:
        sim.enter(item, "Opportunity", now)
        sim.at(now + gamma(4.0, 1.5), item, discovery)

    def discovery(item: int, now: float) -> None:
        def start(i: int, t: float) -> None:
            sim.enter(i, "Discovery", t)
            sim.at(t + gamma(1.0), i, leave("discovery", to_design))

        sim.seize("discovery", 8, item, now, start)

    def to_design(item: int, now: float) -> None:
        sim.enter(item, "Ready for Design", now)

        def start(i: int, t: float) -> None:
            sim.enter(i, "Design", t)
            sim.at(t + gamma(0.86), i, leave("design", after_design))

        sim.seize("design", 6, item, now, start)

    def after_design(item: int, now: float) -> None:
        if info[item][2]:  # customer-facing: legal language first
            sim.enter(item, "Legal Review", now)
            sim.at(now + rng.uniform(9.0, 19.0), item, ready_for_dev)
        else:
            ready_for_dev(item, now)

    def ready_for_dev(item: int, now: float) -> None:
        sim.enter(item, "Ready for Dev", now)
        sim.at(now + gamma(1.5, 1.5), item, build)

    def build(item: int, now: float) -> None:
        sim.enter(item, "Build", now)
        duration = gamma(3.0)
        if rng.random() < 0.12:  # blocked for a while in the middle of the build
            half = duration / 2
            stuck = gamma(2.0, 1.5)
            sim.at(now + half, item, lambda j, u: sim.enter(j, "Blocked", u))
            sim.at(now + half + stuck, item, lambda j, u: sim.enter(j, "Build", u))
            duration += stuck
        sim.at(now + duration, item, wait_env)

    def wait_env(item: int, now: float) -> None:
        sim.enter(item, "Waiting for Environment", now)

        def start(i: int, t: float) -> None:
            sim.enter(i, "Test", t)
            sim.at(t + gamma(0.68), i, leave("env", tested))

        sim.seize("env", 6, item, now, start)

    def tested(item: int, now: float) -> None:
        if rng.random() < 0.18:  # found a defect: back to Build
            build(item, now)
        else:
            sim.enter(item, "Ready for Release", now)
            waiting.append(item)

    waiting: list[int] = []
    shown: set[int] = set()

    def release_train(_: int, now: float) -> None:
        nonlocal release_day
        for item in waiting:
            sim.enter(item, "Released", now)
            sim.at(now + gamma(6.0, 3.0), item, lambda j, u: sim.enter(j, "Adopted", u))
        waiting.clear()
        today = (START + dt.timedelta(days=now)).date()
        step = 1 if today >= DAILY_RELEASE_FROM else 14
        release_day = today + dt.timedelta(days=step)
        while step == 1 and release_day.weekday() >= 5:
            release_day += dt.timedelta(days=1)
        sim.at((release_day - START.date()).days + 0.3, -1, release_train)

    sim.at(13.3 - WARMUP, -1, release_train)

    day, item = float(-WARMUP), 0
    while day < days:
        day += rng.expovariate(6.85)  # about 6.85 new opportunities a calendar day, on weekdays
        when = _working_time(day, rng)
        if when >= days:
            break
        item += 1
        kind = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
        title = f"{rng.choice(VERBS)} {rng.choice(THEMES)}"
        info[item] = (kind, title, kind != "Bug" and rng.random() < 0.6)
        if when >= 0:
            shown.add(item)
        sim.at(when, item, opportunity)
    sim.run(until=float(days))

    rows = []
    numbering = {item_id: n for n, item_id in enumerate(sorted(shown), start=1)}
    for item_id, state, t in sorted(sim.rows, key=lambda r: (r[0], r[2])):
        if item_id not in numbering:
            continue  # arrived during the warm-up, before the tracker's history starts
        kind, title, _ = info[item_id]
        stamp = START + dt.timedelta(days=t)
        rows.append({
            "item": f"VS-{numbering[item_id]:04d}",
            "state": state,
            "entered_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "title": title,
            "type": kind,
        })
    events = [{"date": DAILY_RELEASE_FROM.isoformat(), "title": EVENT_TITLE, "kind": "policy"}]
    return rows, events


STREAM_YAML = """\
# The sample stream: from a customer opportunity to measurable adoption.
name: Customer features
product: Self-service portal
scope: {start: Discovery, finish: Adoption}
workflow:
  start: Opportunity
  finish: Adopted
  touch: [Discovery, Design, Build, Test]
  wait: [Ready for Design, Legal Review, Ready for Dev, Waiting for Environment, Ready for Release, Released]
  blocked: [Blocked]
steps:
  - {name: Discovery, kind: work, owner: Product, states: [Opportunity, Discovery], touch_days: 1, wait_days: [2, 6], capacity: 8}
  - {name: Design, kind: handoff, owner: Design, states: [Ready for Design, Design], touch_days: 0.9, wait_days: [2, 5], capacity: 6}
  - {name: Legal language, kind: approval, owner: Legal, states: [Legal Review], touch_days: 0.5, wait_days: [7, 14]}
  - {name: Build, kind: work, owner: Engineering, states: [Ready for Dev, Build, Blocked], touch_days: 3, wait_days: 2}
  - {name: Environment, kind: queue, owner: Ops, states: [Waiting for Environment], wait_days: 1, capacity: 6}
  - {name: Test, kind: work, owner: QA, states: [Test], touch_days: 0.6, wait_days: 0.5}
  # Batched every 14 days until 2026-08-03; released daily since (see events).
  - {name: Release, kind: release_gate, owner: Ops, states: [Ready for Release], touch_days: 0.1, batch_every_days: 1}
  - {name: Adoption, kind: queue, owner: Product, states: [Released, Adopted], wait_days: [3, 10]}
rework:
  - {from: Test, to: Build, share: 0.18}
cost_of_delay:
  currency: EUR
  by_type: {Feature: 4000, Improvement: 1500, Bug: 2500}
  per_week: 2000
events:
  - {date: 2026-08-03, title: Release daily instead of bi-weekly batches, kind: policy}
# The charts' first limits: a quarter of routine operation, once the history's first (quick)
# finishes are behind it. Without this, the first 20 values of each period are the baseline.
baseline: {from: 2026-01-05, to: 2026-04-05}
"""


def write_sample(directory: Path, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``events.csv`` (the item histories) and ``stream.yaml`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rows, _ = generate(seed)
    log = directory / "events.csv"
    with log.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["item", "state", "entered_at", "title", "type"])
        writer.writeheader()
        writer.writerows(rows)
    stream = directory / "stream.yaml"
    stream.write_text(STREAM_YAML, encoding="utf-8")
    return log, stream
