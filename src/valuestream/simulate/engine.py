"""The queueing-network engine: items flow through the stream's steps, one replication at a time.

A stream is a line of stations. At each station an item goes through, in order:

1. a **pure delay** (``wait``): time that passes whatever the load, like a two-week legal review;
2. a **release gate** (``batch_every``): the item leaves only at the next release, every T days;
3. a **capacity queue**: it waits for one of ``servers`` people, FIFO (unlimited when ``None``);
4. its **touch time** (``touch``), drawn from a measured distribution or an estimate range;
5. **blocked** time for a share of items (waiting on someone outside, not holding a person);

then it moves on, or back to an earlier step with a rework loop's share. **WIP limits** cap the
items in the stream (the backlog waits before the stream) or at a step (an item that finished
upstream keeps its person busy until the step has room: kanban pull, no push). Rework returns
enter their step even when it is full, so limits cannot deadlock the loop.

Every replication is one pass of an event-driven simulation compiled with numba (an earliest-event
heap over items, FIFO lists threaded through one array), run on both cores when there are several
replications. Figures come with a 95% confidence interval over seeded replications (Student t),
after discarding a warm-up share of items so that the empty start does not flatter the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from valuestream.errors import InputError, ValuestreamError
from valuestream.results import Result


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def numba_cache_dir() -> Path | None:
    """Where numba may keep compiled code: the first writable of the user's NUMBA_CACHE_DIR, the
    package's own __pycache__, the user cache and a private temporary folder; None when none is
    (then nothing is cached, and a service account with a read-only HOME still runs)."""
    import tempfile

    given = os.environ.get("NUMBA_CACHE_DIR")
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates = [Path(given)] if given else []
    candidates += [
        Path(__file__).parent / "__pycache__",
        Path(home_cache) / "valuestream" / "numba",
        Path(tempfile.gettempdir())
        / f"valuestream-numba-{os.getuid() if hasattr(os, 'getuid') else 0}",
    ]
    return next((c for c in candidates if _writable(c)), None)


_CACHE_DIR = numba_cache_dir()
CACHE = _CACHE_DIR is not None
if Path(__file__).parent / "__pycache__" == _CACHE_DIR:
    _CACHE_DIR = None  # numba's own default place (an unwritable NUMBA_CACHE_DIR given is dropped)
    os.environ.pop("NUMBA_CACHE_DIR", None)
if _CACHE_DIR is not None:
    os.environ["NUMBA_CACHE_DIR"] = str(_CACHE_DIR)

try:  # numba makes the event loop ~100x faster; without it the same code runs as plain Python
    from numba import config as _numba_config
    from numba import njit

    if CACHE:  # numba may have been imported before us
        _numba_config.CACHE_DIR = str(_CACHE_DIR or "")
    COMPILED = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    COMPILED = False

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


DAYS_PER_WEEK = 7.0
WORK_HOURS_PER_DAY = 8.0
"""A pairing hour adds 1/8 of a person: capacity counts people working a normal day."""

# -- distributions -----------------------------------------------------------------------------

_KINDS = {"none": 0, "fixed": 1, "uniform": 2, "exponential": 3, "empirical": 4, "lognormal": 5}


@dataclass(frozen=True)
class Dist:
    """A distribution of days: fixed, uniform over an estimate range, exponential, or resampled data."""

    kind: str = "none"
    a: float = 0.0
    b: float = 0.0
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InputError(f"unknown distribution '{self.kind}'")
        if self.kind == "empirical" and not self.values:
            raise InputError("an empirical distribution needs at least one observed value")
        if (
            any(not math.isfinite(v) or v < 0 for v in (self.a, *self.values))
            and self.kind != "lognormal"
        ):
            raise InputError("durations must be finite and not negative")
        if self.kind == "uniform" and self.b < self.a:
            raise InputError(f"the range is upside down: {self.a} > {self.b}")

    @classmethod
    def fixed(cls, days: float) -> Dist:
        return cls("fixed", float(days)) if days > 0 else NONE

    @classmethod
    def uniform(cls, low: float, high: float) -> Dist:
        return cls("uniform", float(low), float(high)) if high > low else cls.fixed(low)

    @classmethod
    def exponential(cls, mean: float) -> Dist:
        return cls("exponential", float(mean))

    @classmethod
    def empirical(cls, values: Sequence[float]) -> Dist:
        return cls("empirical", values=tuple(float(v) for v in values))

    @property
    def mean(self) -> float:
        if self.kind in ("fixed", "exponential"):
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "empirical":
            return float(np.mean(self.values))
        if self.kind == "lognormal":
            return math.exp(self.a + self.b**2 / 2)
        return 0.0

    def describe(self) -> str:
        if self.kind == "none":
            return "0 d"
        if self.kind == "fixed":
            return f"{self.a:g} d"
        if self.kind == "uniform":
            return f"{self.a:g}-{self.b:g} d"
        if self.kind == "exponential":
            return f"exp(mean {self.a:g} d)"
        if self.kind == "empirical":
            return f"{len(self.values)} observed, mean {self.mean:.2g} d"
        return f"lognormal(mean {self.mean:.2g} d)"


NONE = Dist()


def adjusted_mean(dist: Dist, scale: float, shift: float) -> float:
    """Mean of max(0, x * scale + shift); exact unless the shift pushes some draws below zero."""
    if dist.kind == "empirical":
        return float(np.maximum(np.asarray(dist.values) * scale + shift, 0).mean())
    if dist.kind == "uniform" and shift < 0:
        xs = np.linspace(dist.a, dist.b, 201)
        return float(np.maximum(xs * scale + shift, 0).mean())
    return max(dist.mean * scale + shift, 0.0)


# -- the network -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Station:
    """One step of the stream as the simulation sees it (see the module docstring for the order)."""

    name: str
    touch: Dist = NONE
    wait: Dist = NONE
    servers: int | None = None
    """People (or environments) working items here at once; None means no capacity queue."""
    batch_every: float | None = None
    batch_offset: float = 0.0
    blocked_share: float = 0.0
    blocked: Dist = NONE
    wip_limit: int | None = None
    touch_scale: float = 1.0
    touch_shift: float = 0.0
    wait_scale: float = 1.0
    wait_shift: float = 0.0
    extra_capacity: float = 0.0
    """Part-time extra people (a pairing hour a day is 1/8): they speed service by c / (c + extra)."""
    kind: str = "work"

    @property
    def touch_mean(self) -> float:
        speed = self.servers / (self.servers + self.extra_capacity) if self.servers else 1.0
        return adjusted_mean(self.touch, self.touch_scale * speed, self.touch_shift * speed)

    @property
    def wait_mean(self) -> float:
        return adjusted_mean(self.wait, self.wait_scale, self.wait_shift)


@dataclass(frozen=True)
class Loop:
    """A rework loop: after ``from_step``, a ``share`` of items goes back to ``to_step``."""

    from_step: str
    to_step: str
    share: float


@dataclass(frozen=True)
class Network:
    """The stream as a queueing network: stations in order, rework loops, arrivals and WIP limit."""

    stations: tuple[Station, ...]
    rework: tuple[Loop, ...] = ()
    arrival_rate: float | None = None
    """Items entering per day (Poisson arrivals); or replay ``arrivals``."""
    arrivals: tuple[float, ...] | None = None
    """Arrival times to replay, in days from the first."""
    wip_limit: int | None = None
    name: str = "stream"
    notes: tuple[str, ...] = ()

    def index(self, name: str) -> int:
        for i, st in enumerate(self.stations):
            if st.name == name:
                return i
        for i, st in enumerate(self.stations):
            if st.name.casefold() == name.strip().casefold():
                return i
        known = ", ".join(s.name for s in self.stations)
        raise InputError(f"no step named '{name}' (steps: {known})")

    def with_station(self, index: int, **changes: Any) -> Network:
        stations = list(self.stations)
        stations[index] = replace(stations[index], **changes)
        return replace(self, stations=tuple(stations))

    @property
    def rate(self) -> float:
        """Items arriving per day (measured from the replayed arrivals when replaying)."""
        if self.arrivals is not None:
            arr = np.asarray(self.arrivals)
            span = float(arr.max() - arr.min()) if len(arr) > 1 else 0.0
            return (len(arr) - 1) / span if span > 0 else 0.0
        return float(self.arrival_rate or 0.0)


def validate(net: Network) -> None:
    """Reject a network that cannot be simulated, with the reason in the stream's own words."""
    if not net.stations:
        raise InputError("the stream has no steps to simulate")
    names = [s.name for s in net.stations]
    if len(set(names)) != len(names):
        raise InputError("step names must be unique")
    if net.arrivals is None and (net.arrival_rate is None or not net.arrival_rate > 0):
        raise InputError("give an arrival rate above zero (items per week), or arrivals to replay")
    if net.arrivals is not None and (
        len(net.arrivals) < 2 or any(not math.isfinite(a) for a in net.arrivals)
    ):
        raise InputError("replaying arrivals needs at least two finite arrival times")
    if net.wip_limit is not None and net.wip_limit < 1:
        raise InputError(f"a WIP limit must be at least 1, not {net.wip_limit}")
    for st in net.stations:
        if st.servers is not None and st.servers < 1:
            raise InputError(
                f"zero capacity at '{st.name}': nobody can work items there, so nothing ever leaves it"
            )
        if st.wip_limit is not None and st.wip_limit < 1:
            raise InputError(f"the WIP limit at '{st.name}' must be at least 1, not {st.wip_limit}")
        if not 0 <= st.blocked_share <= 1:
            raise InputError(
                f"the blocked share at '{st.name}' must be between 0 and 1, not {st.blocked_share}"
            )
        if st.batch_every is not None and not st.batch_every > 0:
            raise InputError(f"the release cadence at '{st.name}' must be above zero days")
        if st.touch_scale < 0 or st.wait_scale < 0 or st.extra_capacity < 0:
            raise InputError(f"a change at '{st.name}' makes a time or capacity negative")
    out: dict[int, float] = {}
    for loop in net.rework:
        if not 0 <= loop.share <= 1:
            raise InputError(
                f"the rework share from '{loop.from_step}' to '{loop.to_step}' must be between 0 and 1, not {loop.share}"
            )
        a, b = net.index(loop.from_step), net.index(loop.to_step)
        if b > a:
            raise InputError(
                f"rework goes back: '{loop.to_step}' must come before '{loop.from_step}'"
            )
        out[a] = out.get(a, 0.0) + loop.share
    for a, total in out.items():
        if total >= 1:
            raise InputError(
                f"a loop with no exit: rework sends {total:.0%} of items back from '{net.stations[a].name}', so none ever moves on"
            )


def visits(net: Network) -> np.ndarray:
    """Expected visits per item to each station, from the traffic equations v = e0 + v P."""
    n = len(net.stations)
    route = np.zeros((n, n))
    for loop in net.rework:
        route[net.index(loop.from_step), net.index(loop.to_step)] += loop.share
    for s in range(n - 1):
        route[s, s + 1] += 1 - route[s].sum()
    e0 = np.zeros(n)
    e0[0] = 1.0
    try:
        v = np.linalg.solve(np.eye(n) - route.T, e0)
    except np.linalg.LinAlgError:
        raise InputError("a loop with no exit: some items would never leave the stream") from None
    if not np.all(np.isfinite(v)) or np.any(v < -1e-9):
        raise InputError("a loop with no exit: some items would never leave the stream")
    return v


def utilisation(net: Network) -> np.ndarray:
    """Offered load per person at each station (NaN where there is no capacity queue)."""
    v = visits(net)
    out = np.full(len(net.stations), np.nan)
    for i, st in enumerate(net.stations):
        if st.servers is not None:
            out[i] = net.rate * v[i] * st.touch_mean / st.servers
    return out


class UnstableError(ValuestreamError):
    """The model's queue grows without bound: more work arrives than a step can ever finish."""


def stability(net: Network) -> str | None:
    """None when every queue settles; else the sentence saying which queue grows without bound."""
    rho = utilisation(net)
    if not np.any(rho >= 1):
        return None
    i = int(np.nanargmax(rho))
    st = net.stations[i]
    why = (
        f"utilisation {rho[i]:.2f}: {net.rate * DAYS_PER_WEEK:.3g} items/week x {visits(net)[i]:.2f} visits x "
        f"{st.touch_mean:.3g} d touch / {st.servers} {'person' if st.servers == 1 else 'people'}"
    )
    if net.wip_limit is not None:
        return f"unstable: the backlog before the stream grows without bound; '{st.name}' caps throughput ({why})"
    return f"unstable: the queue at '{st.name}' grows without bound ({why})"


# -- the compiled event loop ------------------------------------------------------------------

# Phases of an item at its current station; an event for an item ends the phase it is in.
_ENTER, _GATED, _SERVED, _UNBLOCKED, _HELD, _QUEUED = 0, 2, 3, 4, 5, 6
# Columns of the per-station accumulator.
ACC = ("wait_days", "gate_days", "queue_days", "touch_days", "blocked_days", "held_days", "visits")
_BIG = np.int64(1) << 62


@njit(cache=CACHE, nogil=True, inline="always")
def _push(ht: np.ndarray, hi: np.ndarray, n: int, t: float, item: int) -> int:
    j = n
    while j > 0:
        p = (j - 1) >> 1
        if ht[p] < t or (ht[p] == t and hi[p] < item):
            break
        ht[j] = ht[p]
        hi[j] = hi[p]
        j = p
    ht[j] = t
    hi[j] = item
    return n + 1


@njit(cache=CACHE, nogil=True, inline="always")
def _pop(ht: np.ndarray, hi: np.ndarray, n: int) -> int:
    """Remove the root (read it before calling); returns the new size."""
    n -= 1
    t = ht[n]
    item = hi[n]
    j = 0
    while True:
        c = 2 * j + 1
        if c >= n:
            break
        if c + 1 < n and (ht[c + 1] < ht[c] or (ht[c + 1] == ht[c] and hi[c + 1] < hi[c])):
            c += 1
        if t < ht[c] or (t == ht[c] and item < hi[c]):
            break
        ht[j] = ht[c]
        hi[j] = hi[c]
        j = c
    ht[j] = t
    hi[j] = item
    return n


@njit(cache=CACHE, nogil=True, inline="always")
def _draw(dist: np.ndarray, which: int, s: int, emp: np.ndarray) -> float:
    """One draw from a distribution row (kind, a, b, offset, length, scale, shift)."""
    k = int(dist[which, s, 0])
    if k == 0:
        return 0.0
    a = dist[which, s, 1]
    if k == 1:
        x = a
    elif k == 2:
        x = a + (dist[which, s, 2] - a) * np.random.random()
    elif k == 3:
        x = np.random.exponential(a)
    elif k == 4:
        x = emp[int(dist[which, s, 3]) + int(np.random.random() * dist[which, s, 4])]
    else:
        x = np.random.lognormal(a, dist[which, s, 2])
    x = x * dist[which, s, 5] + dist[which, s, 6]
    return x if x > 0.0 else 0.0


@njit(cache=CACHE, nogil=True, inline="always")
def _start(j, s, t, dist, emp, ph, since, touch, acc, warm, ht, hi, n):  # noqa: ANN001, ANN202
    """Start item j's touch time at station s; returns the heap size."""
    svc = _draw(dist, 0, s, emp)
    ph[j] = _SERVED
    touch[j] += svc
    if j >= warm:
        acc[s, 3] += svc
    return _push(ht, hi, n, t + svc, j)


@njit(cache=CACHE, nogil=True, inline="always")
def _free(s, t, busy, qhead, qtail, nxt, held, dist, emp, ph, since, touch, acc, warm, ht, hi, n):  # noqa: ANN001, ANN202
    """A person at s is free: they take the next item in the queue. Returns the heap size."""
    busy[s] -= 1
    j = qhead[s]
    if j >= 0:
        qhead[s] = nxt[j]
        if qhead[s] < 0:
            qtail[s] = -1
        busy[s] += 1
        held[j] = 1
        if j >= warm:
            acc[s, 2] += t - since[j]
        n = _start(j, s, t, dist, emp, ph, since, touch, acc, warm, ht, hi, n)
    return n


@njit(cache=CACHE, nogil=True)
def _leave(
    s,
    t,
    count,
    lim,
    bhead,
    btail,
    nxt,
    at,
    held,
    ph,
    since,
    acc,
    warm,
    entry,
    stream,
    stream_lim,
    busy,
    qhead,
    qtail,
    dist,
    emp,
    touch,
    ht,
    hi,
    n,
):  # noqa: ANN001, ANN202
    """An item left station s; items blocked upstream by s's WIP limit move in, cascading back."""
    cur = s
    while True:
        count[cur] -= 1
        b = bhead[cur]
        if b < 0 or count[cur] >= lim[cur] or (cur == 0 and stream[0] >= stream_lim):
            break
        bhead[cur] = nxt[b]
        if bhead[cur] < 0:
            btail[cur] = -1
        prev = at[b]
        count[cur] += 1
        if prev < 0:
            entry[b] = t
            stream[0] += 1
        elif b >= warm:
            acc[prev, 5] += t - since[b]
        at[b] = cur
        ph[b] = _ENTER
        n = _push(ht, hi, n, t, b)
        if prev < 0:
            break
        if held[b] == 1:
            held[b] = 0
            n = _free(
                prev,
                t,
                busy,
                qhead,
                qtail,
                nxt,
                held,
                dist,
                emp,
                ph,
                since,
                touch,
                acc,
                warm,
                ht,
                hi,
                n,
            )
        cur = prev
    return n


@njit(cache=CACHE, nogil=True)
def _run(
    seed,
    arrivals,
    servers,
    lim,
    stream_lim,
    dist,
    emp,
    blocked_p,
    gate_t,
    gate_off,
    rw_n,
    rw_to,
    rw_cum,
    warm,
    entry,
    exit_,
    touch,
    rework,
    acc,
):  # noqa: ANN001, ANN202
    """One replication: fills entry, exit, touch and rework per item and the per-station sums."""
    np.random.seed(seed)
    n_items = arrivals.shape[0]
    n_st = servers.shape[0]
    ht = np.empty(n_items + 1)
    hi = np.empty(n_items + 1, dtype=np.int64)
    nxt = np.full(n_items, -1, dtype=np.int64)
    at = np.full(n_items, -1, dtype=np.int64)
    ph = np.zeros(n_items, dtype=np.int64)
    held = np.zeros(n_items, dtype=np.int64)
    since = np.zeros(n_items)
    busy = np.zeros(n_st, dtype=np.int64)
    count = np.zeros(n_st, dtype=np.int64)
    qhead = np.full(n_st, -1, dtype=np.int64)
    qtail = np.full(n_st, -1, dtype=np.int64)
    bhead = np.full(n_st, -1, dtype=np.int64)
    btail = np.full(n_st, -1, dtype=np.int64)
    stream = np.zeros(1, dtype=np.int64)
    n = 0
    nxt_arrival = 0
    while True:
        if nxt_arrival < n_items and (n == 0 or arrivals[nxt_arrival] <= ht[0]):
            i = nxt_arrival
            t = arrivals[i]
            nxt_arrival += 1
            if bhead[0] < 0 and count[0] < lim[0] and stream[0] < stream_lim:
                entry[i] = t
                stream[0] += 1
                count[0] += 1
                at[i] = 0
                ph[i] = _ENTER
            else:  # the backlog: waits before the stream for room under the WIP limit
                since[i] = t
                if btail[0] < 0:
                    bhead[0] = i
                else:
                    nxt[btail[0]] = i
                btail[0] = i
                nxt[i] = -1
                continue
        elif n > 0:
            t = ht[0]
            i = hi[0]
            n = _pop(ht, hi, n)
        else:
            break
        # advance item i from its phase until it has to wait for something
        while True:
            s = at[i]
            p = ph[i]
            if p == _ENTER:
                if i >= warm:
                    acc[s, 6] += 1
                d = _draw(dist, 1, s, emp)
                ready = t + d
                cad = gate_t[s]
                if cad > 0.0:
                    r = gate_off[s] + math.ceil((ready - gate_off[s]) / cad) * cad
                    if r < ready:
                        r = ready
                else:
                    r = ready
                if i >= warm:
                    acc[s, 0] += d
                    acc[s, 1] += r - ready
                if servers[s] < 0:  # no capacity queue: the whole visit is one event
                    svc = _draw(dist, 0, s, emp)
                    touch[i] += svc
                    if i >= warm:
                        acc[s, 3] += svc
                    ph[i] = _SERVED
                    if r + svc > t:
                        n = _push(ht, hi, n, r + svc, i)
                        break
                else:
                    ph[i] = _GATED
                    if r > t:
                        n = _push(ht, hi, n, r, i)
                        break
            elif p == _GATED:
                if busy[s] < servers[s]:
                    busy[s] += 1
                    held[i] = 1
                    n = _start(i, s, t, dist, emp, ph, since, touch, acc, warm, ht, hi, n)
                else:
                    ph[i] = _QUEUED
                    since[i] = t
                    nxt[i] = -1
                    if qtail[s] < 0:
                        qhead[s] = i
                    else:
                        nxt[qtail[s]] = i
                    qtail[s] = i
                break
            elif p == _SERVED:
                ph[i] = _UNBLOCKED
                if blocked_p[s] > 0.0 and np.random.random() < blocked_p[s]:
                    if held[i] == 1:  # blocked on someone outside: the person takes other work
                        held[i] = 0
                        n = _free(
                            s,
                            t,
                            busy,
                            qhead,
                            qtail,
                            nxt,
                            held,
                            dist,
                            emp,
                            ph,
                            since,
                            touch,
                            acc,
                            warm,
                            ht,
                            hi,
                            n,
                        )
                    d = _draw(dist, 2, s, emp)
                    if d > 0.0:
                        if i >= warm:
                            acc[s, 4] += d
                        n = _push(ht, hi, n, t + d, i)
                        break
            elif p == _UNBLOCKED:
                to = s + 1
                if rw_n[s] > 0:
                    u = np.random.random()
                    for k in range(rw_n[s]):
                        if u < rw_cum[s, k]:
                            to = rw_to[s, k]
                            break
                if to <= s or to >= n_st or count[to] < lim[to]:
                    if held[i] == 1:
                        held[i] = 0
                        n = _free(
                            s,
                            t,
                            busy,
                            qhead,
                            qtail,
                            nxt,
                            held,
                            dist,
                            emp,
                            ph,
                            since,
                            touch,
                            acc,
                            warm,
                            ht,
                            hi,
                            n,
                        )
                    if bhead[s] >= 0:  # only under WIP limits: someone upstream waits for room here
                        n = _leave(
                            s,
                            t,
                            count,
                            lim,
                            bhead,
                            btail,
                            nxt,
                            at,
                            held,
                            ph,
                            since,
                            acc,
                            warm,
                            entry,
                            stream,
                            stream_lim,
                            busy,
                            qhead,
                            qtail,
                            dist,
                            emp,
                            touch,
                            ht,
                            hi,
                            n,
                        )
                    else:
                        count[s] -= 1
                    if to >= n_st:
                        exit_[i] = t
                        stream[0] -= 1
                        # room in the stream: the backlog's first item may enter
                        b = bhead[0]
                        if b >= 0 and at[b] < 0 and count[0] < lim[0] and stream[0] < stream_lim:
                            bhead[0] = nxt[b]
                            if bhead[0] < 0:
                                btail[0] = -1
                            entry[b] = t
                            stream[0] += 1
                            count[0] += 1
                            at[b] = 0
                            ph[b] = _ENTER
                            n = _push(ht, hi, n, t, b)
                        break
                    if to <= s:
                        rework[i] += 1
                    count[to] += 1
                    at[i] = to
                    ph[i] = _ENTER
                else:  # the next step is at its WIP limit: wait here, keeping the person
                    ph[i] = _HELD
                    since[i] = t
                    nxt[i] = -1
                    if btail[to] < 0:
                        bhead[to] = i
                    else:
                        nxt[btail[to]] = i
                    btail[to] = i
                    break
            else:
                break
    return 0


# -- running replications ----------------------------------------------------------------------


def _dist_row(d: Dist, scale: float, shift: float, emp: list[float]) -> list[float]:
    off = len(emp)
    if d.kind == "empirical":
        emp.extend(d.values)
    return [_KINDS[d.kind], d.a, d.b, off, len(d.values), scale, shift]


@dataclass(frozen=True)
class _Arrays:
    servers: np.ndarray
    lim: np.ndarray
    stream_lim: int
    dist: np.ndarray
    emp: np.ndarray
    blocked_p: np.ndarray
    gate_t: np.ndarray
    gate_off: np.ndarray
    rw_n: np.ndarray
    rw_to: np.ndarray
    rw_cum: np.ndarray


def _arrays(net: Network) -> _Arrays:
    n = len(net.stations)
    emp: list[float] = []
    rows: list[list[list[float]]] = [[], [], []]
    for st in net.stations:
        speed = st.servers / (st.servers + st.extra_capacity) if st.servers else 1.0
        rows[0].append(_dist_row(st.touch, st.touch_scale * speed, st.touch_shift * speed, emp))
        rows[1].append(_dist_row(st.wait, st.wait_scale, st.wait_shift, emp))
        rows[2].append(_dist_row(st.blocked, 1.0, 0.0, emp))
    loops: dict[int, list[tuple[int, float]]] = {}
    for loop in net.rework:
        loops.setdefault(net.index(loop.from_step), []).append(
            (net.index(loop.to_step), loop.share)
        )
    width = max((len(v) for v in loops.values()), default=1)
    rw_n = np.zeros(n, dtype=np.int64)
    rw_to = np.zeros((n, width), dtype=np.int64)
    rw_cum = np.zeros((n, width))
    for s, targets in loops.items():
        rw_n[s] = len(targets)
        total = 0.0
        for k, (to, share) in enumerate(targets):
            total += share
            rw_to[s, k] = to
            rw_cum[s, k] = total
    return _Arrays(
        servers=np.array(
            [st.servers if st.servers is not None else -1 for st in net.stations], dtype=np.int64
        ),
        lim=np.array(
            [st.wip_limit if st.wip_limit is not None else _BIG for st in net.stations],
            dtype=np.int64,
        ),
        stream_lim=int(net.wip_limit) if net.wip_limit is not None else int(_BIG),
        dist=np.array(rows, dtype=np.float64),
        emp=np.array(emp if emp else [0.0], dtype=np.float64),
        blocked_p=np.array([st.blocked_share for st in net.stations], dtype=np.float64),
        gate_t=np.array([st.batch_every or 0.0 for st in net.stations], dtype=np.float64),
        gate_off=np.array([st.batch_offset for st in net.stations], dtype=np.float64),
        rw_n=rw_n,
        rw_to=rw_to,
        rw_cum=rw_cum,
    )


@dataclass(frozen=True)
class Run:
    """One replication's raw output: per item times (days) and per station sums of measured items."""

    arrive: np.ndarray
    entry: np.ndarray
    exit: np.ndarray
    touch: np.ndarray
    rework: np.ndarray
    acc: np.ndarray
    warm: int


def replicate(net: Network, items: int, seed: int, *, warmup: float = 0.1) -> Run:
    """Run one replication of ``items`` arrivals (or the replayed arrivals) through the network."""
    rng = np.random.default_rng(seed)
    if net.arrivals is not None:
        arrive = np.sort(np.asarray(net.arrivals, dtype=np.float64))
        arrive = arrive - arrive[0]
    else:
        arrive = np.cumsum(rng.exponential(1.0 / float(net.arrival_rate or 1.0), size=items))
    n = len(arrive)
    warm = min(int(n * warmup), n - 1)
    a = _arrays(net)
    entry = np.full(n, np.nan)
    exit_ = np.full(n, np.nan)
    touch = np.zeros(n)
    rework = np.zeros(n, dtype=np.int64)
    acc = np.zeros((len(net.stations), len(ACC)))
    kernel_seed = int(rng.integers(0, 2**31 - 1))
    _run(
        kernel_seed,
        arrive,
        a.servers,
        a.lim,
        a.stream_lim,
        a.dist,
        a.emp,
        a.blocked_p,
        a.gate_t,
        a.gate_off,
        a.rw_n,
        a.rw_to,
        a.rw_cum,
        warm,
        entry,
        exit_,
        touch,
        rework,
        acc,
    )
    return Run(arrive, entry, exit_, touch, rework, acc, warm)


# -- measures ----------------------------------------------------------------------------------

MEASURES = {
    "lead_p50": "lead time p50 (days)",
    "lead_p85": "lead time p85 (days)",
    "lead_p95": "lead time p95 (days)",
    "lead_mean": "lead time mean (days)",
    "throughput_per_week": "throughput (items/week)",
    "wip_mean": "WIP (items, time average)",
    "flow_efficiency": "flow efficiency",
    "touch_mean": "touch time per item (days)",
    "rework_share": "items reworked",
    "backlog_wait_mean": "wait before entry (days)",
}


def measure(run: Run) -> dict[str, float]:
    """The stream's measures over the measured window (after warm-up, until the last arrival)."""
    m = slice(run.warm, None)
    lead = run.exit[m] - run.entry[m]
    t0, t1 = run.arrive[run.warm], run.arrive[-1]
    span = max(t1 - t0, 1e-12)
    inside = np.clip(run.exit, t0, t1) - np.clip(run.entry, t0, t1)
    p50, p85, p95 = np.percentile(lead, [50, 85, 95])
    return {
        "lead_p50": float(p50),
        "lead_p85": float(p85),
        "lead_p95": float(p95),
        "lead_mean": float(lead.mean()),
        "throughput_per_week": float(
            np.count_nonzero((run.exit >= t0) & (run.exit <= t1)) / span * DAYS_PER_WEEK
        ),
        "wip_mean": float(inside.sum() / span),
        "flow_efficiency": float(run.touch[m].sum() / lead.sum()) if lead.sum() > 0 else 1.0,
        "touch_mean": float(run.touch[m].mean()),
        "rework_share": float(np.mean(run.rework[m] > 0)),
        "backlog_wait_mean": float(np.mean(run.entry[m] - run.arrive[m])),
    }


def step_measures(run: Run, net: Network) -> pd.DataFrame:
    """Per station: days per item waiting (by cause) and touching, visits, and utilisation."""
    measured = len(run.arrive) - run.warm
    df = pd.DataFrame(run.acc / max(measured, 1), columns=list(ACC))
    df.insert(0, "step", [s.name for s in net.stations])
    t0, t1 = run.arrive[run.warm], run.arrive[-1]
    rate = measured / max(t1 - t0, 1e-12)
    servers = np.array(
        [s.servers + s.extra_capacity if s.servers else np.nan for s in net.stations]
    )
    df["utilisation"] = rate * df["touch_days"] / servers
    df["waiting_days"] = df[
        ["wait_days", "gate_days", "queue_days", "blocked_days", "held_days"]
    ].sum(axis=1)
    return df


_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile(df: int) -> float:
    """Student t 97.5% quantile (two-sided 95%) for ``df`` degrees of freedom."""
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def interval(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% confidence interval over replications (a point when there is only one)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, mean, mean)
    half = t_quantile(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return (mean, mean - half, mean + half)


@dataclass(frozen=True)
class SimResult(Result):
    """Replicated simulation of one network: the stream's measures and each step's, with 95% CIs.

    ``runs`` has one row per replication; ``table`` gives mean, low and high per measure;
    ``steps`` per step (waiting, touch, utilisation); ``lead_times`` pools measured items' lead
    times of the first replication for the chart.
    """

    network: Network
    runs: pd.DataFrame
    step_runs: pd.DataFrame
    lead_times: np.ndarray = field(repr=False)
    items: int = 0
    seed: int = 0
    unstable: str | None = None

    def ci(self, name: str) -> tuple[float, float, float]:
        return interval(self.runs[name])

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for key, label in MEASURES.items():
            mean, low, high = self.ci(key)
            rows.append({"measure": key, "label": label, "mean": mean, "low": low, "high": high})
        return pd.DataFrame(rows)

    @property
    def steps(self) -> pd.DataFrame:
        g = self.step_runs.groupby("step", sort=False)
        rows = []
        for name, part in g:
            row: dict[str, Any] = {"step": name}
            for col in ("waiting_days", "queue_days", "touch_days", "visits", "utilisation"):
                mean, low, high = interval(part[col])
                row[col] = mean
                if col in ("waiting_days", "utilisation"):
                    row[f"{col}_low"], row[f"{col}_high"] = low, high
            rows.append(row)
        return pd.DataFrame(rows)

    def constraint(self) -> str:
        """The step where items wait longest (queue, pure wait, batching or blocked, per item)."""
        steps = self.steps
        return str(steps.loc[steps["waiting_days"].idxmax(), "step"])

    def explain(self) -> str:
        lead, lo, hi = self.ci("lead_mean")
        p85 = self.ci("lead_p85")[0]
        thr = self.ci("throughput_per_week")[0]
        fe = self.ci("flow_efficiency")[0]
        text = (
            f"Over {len(self.runs)} replications of {self.items:,} items, the mean lead time is {lead:.1f} days "
            f"(95% CI {lo:.1f}-{hi:.1f}); 85% of items finish within {p85:.1f} days. Throughput is "
            f"{thr:.2f} items/week at {fe:.0%} flow efficiency. Items wait longest at '{self.constraint()}'."
        )
        if self.unstable:
            text += f" Warning: {self.unstable}."
        return text

    def __rich__(self) -> Any:
        from rich.table import Table

        table = Table(title=f"Simulated {self.network.name}", header_style="bold")
        for col in ("measure", "mean", "95% CI"):
            table.add_column(col, justify="right" if col != "measure" else "left")
        for row in self.table.itertuples():
            table.add_row(row.label, f"{row.mean:,.2f}", f"{row.low:,.2f} - {row.high:,.2f}")
        return table

Progress = Callable[[int, int], None]


def simulate(
    net: Network,
    *,
    items: int = 20_000,
    replications: int = 5,
    seed: int = 1,
    warmup: float = 0.1,
    progress: Progress | None = None,
    threads: int | None = None,
) -> SimResult:
    """Simulate ``replications`` seeded runs of ``items`` arrivals; raise if a queue cannot settle.

    Replication ``r`` uses seed ``seed + r``, so two networks simulated with the same seed share
    their arrival streams (common random numbers make before/after differences sharper).
    """
    validate(net)
    if items < 10 and net.arrivals is None:
        raise InputError("simulate at least 10 items")
    if replications < 1:
        raise InputError("run at least one replication")
    if not 0 <= warmup < 1:
        raise InputError("the warm-up share must be in [0, 1)")
    unstable = stability(net)
    if unstable and net.wip_limit is None:
        raise UnstableError(unstable)
    workers = threads or min(replications, os.cpu_count() or 1)
    if not COMPILED:
        workers = 1  # plain-Python numpy.random is one global state: keep runs sequential
    done = 0

    def one(r: int) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
        run = replicate(net, items, seed + r, warmup=warmup)
        steps = step_measures(run, net)
        steps.insert(0, "replication", r)
        return {"replication": r, **measure(run)}, steps, (run.exit - run.entry)[run.warm :]

    results = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for out in pool.map(one, range(replications)):
            results.append(out)
            done += 1
            if progress:
                progress(done, replications)
    runs = pd.DataFrame([r[0] for r in results])
    step_runs = pd.concat([r[1] for r in results], ignore_index=True)
    return SimResult(
        net,
        runs,
        step_runs,
        results[0][2],
        items=items if net.arrivals is None else len(net.arrivals),
        seed=seed,
        unstable=unstable,
    )
