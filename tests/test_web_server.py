"""``valuestream serve`` as a process: the CLI beside it, a crash mid-save, the live socket."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("websockets")
from typer.testing import CliRunner  # noqa: E402
from web_server import Server  # noqa: E402

from valuestream.cli import app  # noqa: E402
from valuestream.maps import load_map, map_versions  # noqa: E402
from valuestream.model import parse_stream  # noqa: E402
from valuestream.sample import write_sample  # noqa: E402
from valuestream.workspace import Workspace  # noqa: E402

ONE = "name: Crash test\nsteps:\n  - {name: S0, touch_days: 1}\n"


def test_the_cli_and_the_server_share_the_workspace(tmp_path: Path) -> None:
    ws_path = tmp_path / "w.duckdb"
    log, _ = write_sample(tmp_path)
    stream = tmp_path / "board.yaml"
    stream.write_text(ONE)
    runner = CliRunner()
    with Server(ws_path, stream=stream) as server, server.client() as c:
        errors: list[str] = []
        acked: list[tuple[int, str]] = []
        done = threading.Event()

        def edits() -> None:
            k = 0
            while (not done.is_set() or len(acked) < 8) and k < 200:
                version = c.get("/api/map").json()["version"]
                r = c.post("/api/map/steps", json={"base_version": version, "step": {"name": f"E{k}", "touch_days": 1}})
                if r.status_code == 200:
                    acked.append((r.json()["version"], f"E{k}"))
                elif r.status_code != 409:  # a clash with the CLI's save is not an error
                    errors.append(r.text)
                k += 1

        t = threading.Thread(target=edits)
        t.start()
        # meanwhile the CLI imports data, logs an event and saves a map, each waiting its turn
        r1 = runner.invoke(app, ["import", "file", str(log), "-w", str(ws_path)])
        r2 = runner.invoke(app, ["event", "add", "Daily releases", "--date", "2026-08-03", "-w", str(ws_path)])
        r3 = runner.invoke(app, ["map", "--save", "--stream", str(stream), "-w", str(ws_path), "--format", "json"])
        done.set()
        t.join()
        for r in (r1, r2, r3):
            assert r.exit_code == 0, r.output
        assert errors == []
        stamp = c.get("/api/workspace").json()
        assert stamp["imports"] == 1 and stamp["transitions"] > 0
        state = c.get("/api/map").json()
        # every acknowledged edit is a version in the workspace, holding that step
        ws = Workspace(ws_path)
        assert len(acked) > 3
        for version, name in acked:
            assert name in [s.name for s in parse_stream(load_map(ws, version).content).steps]
        assert state["yaml"] == load_map(ws).content
        # the CLI's save is a version like the board's: the edits after it built on it
        assert len(map_versions(Workspace(ws_path))) == state["version"]
        assert [e["title"] for e in c.get("/api/events").json()] == ["Daily releases"]


def test_a_server_killed_mid_save_keeps_every_acknowledged_change(tmp_path: Path) -> None:
    ws_path = tmp_path / "w.duckdb"
    stream = tmp_path / "stream.yaml"
    stream.write_text(ONE)
    acked: list[tuple[int, str]] = []
    server = Server(ws_path, stream=stream).start()
    stop = threading.Event()

    def edits() -> None:
        with server.client() as c:
            version, k = 1, 0
            while not stop.is_set():
                try:
                    r = c.post("/api/map/steps", json={"base_version": version, "step": {"name": f"A{k}", "touch_days": 1}})
                except httpx.HTTPError:
                    return  # the server died mid-request: that edit was never acknowledged
                if r.status_code == 200:
                    version = r.json()["version"]
                    acked.append((version, f"A{k}"))
                k += 1

    threads = [threading.Thread(target=edits) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # with three edits in flight at almost any instant
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 12
    restarted = Server(ws_path, stream=stream).start()
    try:
        with restarted.client() as c:
            state = c.get("/api/map").json()
            versions = {v["version"] for v in c.get("/api/map/versions").json()}
    finally:
        restarted.stop()
    names = {s["name"] for s in state["stream"]["steps"]}
    assert {name for _v, name in acked} <= names
    assert {v for v, _name in acked} <= versions
    assert len(map_versions(Workspace(ws_path))) == len(versions)


def test_every_participant_hears_every_change(tmp_path: Path) -> None:
    import websockets

    stream = tmp_path / "stream.yaml"
    stream.write_text(ONE)
    with Server(tmp_path / "w.duckdb", stream=stream) as server, server.client() as c:

        async def listen(n: int) -> list[tuple[list[int], list[str]]]:
            url = server.url.replace("http", "ws") + "/ws"
            socks = [await websockets.connect(url, origin=server.url) for _ in range(n)]
            for s in socks:  # the greeting: the map as it is
                first = json.loads(await s.recv())
                assert first["type"] == "map" and first["state"]["version"] == 1

            def edit() -> None:
                v = 1
                for k in range(5):
                    v = c.post("/api/map/steps", json={"base_version": v, "step": {"name": f"L{k}"}}).json()["version"]

            await asyncio.to_thread(edit)
            seen = []
            for s in socks:
                versions: list[int] = []
                while 6 not in versions:
                    msg = json.loads(await asyncio.wait_for(s.recv(), 10))
                    if msg["type"] == "map":
                        versions.append(msg["state"]["version"])
                        names = [x["name"] for x in msg["state"]["stream"]["steps"]]
                seen.append((versions, names))
                await s.close()
            return seen

        seen = asyncio.run(listen(3))
    # Edits that land while a broadcast is on its way travel together in the next one (each
    # message is the whole map): versions only go up, and the last holds every edit.
    for versions, names in seen:
        assert versions == sorted(set(versions)) and versions[-1] == 6
        assert names == ["S0", "L0", "L1", "L2", "L3", "L4"]


def test_a_socket_from_another_site_is_refused(tmp_path: Path) -> None:
    import websockets

    with Server(tmp_path / "w.duckdb") as server:

        async def attempt() -> None:
            url = server.url.replace("http", "ws") + "/ws"
            async with websockets.connect(url, origin="http://evil.example") as s:
                await s.recv()

        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(attempt())


def test_off_loopback_needs_a_token_and_the_token_a_login(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["serve", "-w", str(tmp_path / "w.duckdb"), "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "--token" in r.output
    with Server(tmp_path / "w.duckdb", args=("--token", "correct horse")) as server, httpx.Client(base_url=server.url) as c:
        assert c.get("/api/map").status_code == 401
        assert c.get("/", follow_redirects=False).headers["location"].startswith("/login")
        assert c.post("/api/login", json={"token": "wrong one"}).status_code == 401
        r = c.post("/api/login", json={"token": "correct horse"})
        assert r.status_code == 200
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        assert c.get("/api/map").status_code == 200
        # a change without the session's CSRF token is refused, with it accepted
        step = {"base_version": 0, "step": {"name": "First"}}
        assert c.post("/api/map/steps", json=step).status_code == 403
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        assert c.post("/api/map/steps", json=step).status_code == 200
