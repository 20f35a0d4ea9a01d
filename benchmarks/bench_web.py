"""Live board load benchmark: simulated participants editing one board over loopback.

    python benchmarks/bench_web.py [--participants 50] [--seconds 60] [--think 3]

Starts ``valuestream serve`` on a free 127.0.0.1 port with a fresh workspace whose map has one
step per participant. Each participant holds a WebSocket open (as a page does) and, in a loop,
changes its own step's touch estimate through the HTTP API, waits for the answer, then pauses a
random 0 to 2 x ``--think`` seconds (a busy room: everyone changes something every few seconds);
each starts after such a pause too, so that they do not all edit on the same beat.

Measured:
- edits per second acknowledged;
- edit to every participant: from sending an edit to the moment the last participant's socket
  delivered a map version that includes it (p50, p95, max);
- lost edits: after the run, every participant's step must hold its last acknowledged value, and
  the workspace must hold one map version per acknowledged edit (plus the first).

The same-run baseline is one participant alone for ``--baseline-seconds`` (the floor: one edit,
one listener). Prints a table; nothing here is a unit test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

SRC = Path(__file__).resolve().parents[1] / "src"
VERSION = re.compile(r'"version": (\d+)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, participants: int) -> tuple[subprocess.Popen[bytes], str]:
    steps = "\n".join(f"  - {{name: P{i}, owner: Person {i}, touch_days: 1, wait_days: 1}}" for i in range(participants))
    (folder / "stream.yaml").write_text(f"name: Load test\nsteps:\n{steps}\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "valuestream", "serve", "-w", str(folder / "w.duckdb"), "--stream", str(folder / "stream.yaml"), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/api/agenda", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start: {(folder / 'server.log').read_text()}")


async def run(url: str, participants: int, seconds: float, think: float) -> dict[str, float]:
    """Drive ``participants`` for ``seconds``; returns the figures."""
    seen: list[dict[int, float]] = [{} for _ in range(participants)]  # version -> first seen
    latest = [0] * participants
    sent: list[tuple[int, float]] = []  # (version acknowledged, time sent)
    last_value: dict[int, float] = {}
    conflicts = 0
    errors: list[str] = []

    async def listen(i: int, sock: websockets.ClientConnection) -> None:
        async for raw in sock:
            text = raw if isinstance(raw, str) else raw.decode()
            if text.startswith('{"type": "map"'):
                m = VERSION.search(text, 0, 200)
                if m:
                    v = int(m.group(1))
                    if v > latest[i]:
                        now = time.perf_counter()
                        for k in range(latest[i] + 1, v + 1):
                            seen[i][k] = now
                        latest[i] = v

    async def edit(i: int, client: httpx.AsyncClient, stop_at: float) -> None:
        nonlocal conflicts
        rng = random.Random(i)
        k = mine = 0
        await asyncio.sleep(rng.uniform(0, 2 * think))  # people do not all start on one beat
        while time.perf_counter() < stop_at:
            k += 1
            value = round(1 + k / 100, 2)
            # the version this participant last saw: its own last edit, or a later broadcast
            body = {"base_version": max(latest[i], mine), "step": {"name": f"P{i}", "owner": f"Person {i}", "touch_days": value, "wait_days": 1}}
            t0 = time.perf_counter()
            r = await client.put(f"/api/map/steps/P{i}", json=body)
            if r.status_code == 200:
                mine = r.json()["version"]
                sent.append((mine, t0))
                last_value[i] = value
            elif r.status_code == 409:
                conflicts += 1
                if conflicts <= 3:
                    print(f"409 for P{i} on base {body['base_version']} (own {mine}): {r.json()['detail']}", file=sys.stderr)
            else:
                errors.append(f"{r.status_code} {r.text[:200]}")
            await asyncio.sleep(max(0.0, min(rng.uniform(0, 2 * think), stop_at - time.perf_counter())))

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=participants + 5)) as client:
        client.headers["X-CSRF-Token"] = (await client.get("/api/session")).json()["csrf"]
        ws_url = url.replace("http", "ws") + "/ws"
        socks = [await websockets.connect(ws_url, origin=url, max_size=2**24) for _ in range(participants)]
        listeners = [asyncio.create_task(listen(i, s)) for i, s in enumerate(socks)]
        while min(latest) == 0:  # every socket has its greeting (the map as it is) first
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        start = time.perf_counter()
        await asyncio.gather(*(edit(i, client, start + seconds) for i in range(participants)))
        elapsed = time.perf_counter() - start
        await asyncio.sleep(3.0)  # the last broadcasts arrive
        final = (await client.get("/api/map")).json()
        versions = (await client.get("/api/map/versions")).json()
        for t in listeners:
            t.cancel()
        for s in socks:
            await s.close()
    latencies = []
    undelivered = 0
    for version, t0 in sent:
        arrivals = [seen[i].get(version) for i in range(participants)]
        if any(a is None for a in arrivals):
            undelivered += 1
            continue
        latencies.append(max(arrivals) - t0)  # type: ignore[type-var]
    steps = {s["name"]: s for s in final["stream"]["steps"]}
    lost = sum(1 for i, v in last_value.items() if steps[f"P{i}"].get("touch_days") != v)
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "participants": participants,
        "seconds": elapsed,
        "edits": len(sent),
        "edits_per_s": len(sent) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(np.max(lat)),
        "lost": lost + (len(sent) + 1 - len(versions)),
        "undelivered": undelivered,
        "conflicts": conflicts,
        "errors": len(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--think", type=float, default=3.0, help="mean pause between one participant's edits (s)")
    ap.add_argument("--baseline-seconds", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    for n, secs in ((1, args.baseline_seconds), (args.participants, args.seconds)):
        with tempfile.TemporaryDirectory(prefix="valuestream-bench-web-") as d:
            proc, url = start_server(Path(d), n)
            try:
                rows.append(asyncio.run(run(url, n, secs, args.think if n > 1 else 0.0)))
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"Live board on loopback: edits through the HTTP API, changes to every participant over WebSocket (think {args.think:g} s)")
    print()
    print("| participants | seconds | edits | edits/s | p50 ms | p95 ms | max ms | lost | not delivered | 409 | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['participants']}{' (baseline)' if r['participants'] == 1 else ''} | {r['seconds']:.0f} | {r['edits']} | {r['edits_per_s']:.1f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['max_ms']:.0f} | {r['lost']} | {r['undelivered']} | {r['conflicts']} | {r['errors']} |"
        )
    print()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
