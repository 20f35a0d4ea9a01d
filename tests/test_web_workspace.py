"""One workspace, many users: threads of one server and other processes share the file safely."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from valuestream.maps import load_map, save_map
from valuestream.workspace import Workspace

ONE_STEP = "steps:\n  - {name: Build, touch_days: 1}\n"


def test_threads_of_one_process_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    # DuckDB refuses, within one process, a read-only open while a read-write connection is open
    # (and the reverse): a server's threads must wait for each other as processes do.
    ws = Workspace(tmp_path / "w.duckdb", busy_timeout=10)
    save_map(ws, ONE_STEP)
    errors: list[BaseException] = []
    held = threading.Event()

    def writer() -> None:
        with ws.transaction():
            held.set()
            time.sleep(0.4)

    def reader() -> None:
        held.wait()
        try:
            assert load_map(ws).version == 1  # read-only open while the writer holds it
            save_map(ws, ONE_STEP + "  - {name: QA, touch_days: 1}\n")  # and read-write
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert load_map(ws).version == 2


def test_an_analysis_snapshot_and_a_save_in_two_threads(tmp_path: Path) -> None:
    from valuestream.flow import Flow
    from valuestream.sample import write_sample

    log, _ = write_sample(tmp_path)
    ws = Workspace(tmp_path / "w.duckdb", busy_timeout=20)
    ws.import_file(log)
    errors: list[BaseException] = []

    def analyse() -> None:
        try:
            for _ in range(3):
                assert Flow.of(ws).item_count() > 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def save() -> None:
        try:
            for k in range(10):
                save_map(ws, ONE_STEP.replace("1}", f"{k + 1}}}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=analyse), threading.Thread(target=save)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert load_map(ws).version == 10


def test_the_stamp_moves_with_imports_events_and_maps(tmp_path: Path) -> None:
    import datetime as dt

    from valuestream.events import add_event, remove_event
    from valuestream.sample import write_sample

    ws = Workspace(tmp_path / "w.duckdb")
    assert ws.stamp() == {"imports": 0, "transitions": 0, "events": 0, "maps": 0, "checks": 0}
    log, _ = write_sample(tmp_path)
    ws.import_file(log)
    first = ws.stamp()
    assert first["imports"] == 1 and first["transitions"] > 0
    ev = add_event(ws, "Daily releases", dt.date(2025, 1, 6))
    second = ws.stamp()
    assert second["events"] != first["events"]
    remove_event(ws, ev.id)
    assert ws.stamp()["events"] not in (second["events"],)
    save_map(ws, ONE_STEP)
    assert ws.stamp()["maps"] == 1
    ws.import_file(log)  # the same file again: a new import, whatever it changed
    assert ws.stamp()["imports"] == 2
