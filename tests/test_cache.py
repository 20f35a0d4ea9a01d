"""The answer cache (flow/cache.py): a repeat question on unchanged data is answered from files
beside the workspace, each input of the answer invalidates it, and a cache that cannot be used is
no cache, never a wrong answer."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import WORKFLOW_YAML, write_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.events import add_event
from valuestream.flow import Flow, cache, tables
from valuestream.model import Calendar, parse_stream
from valuestream.workspace import Workspace

D = "2026-01-{:02d}T00:00:00Z".format
# The hand-computed log of test_flow_known.py. A: lead 9, cycle 7, touch 6, wait 3 (blocked 1),
# rework 1; B: unfinished, touch 2, wait 6 (4 of them in the unmapped Weird), age 8 at Jan 10.
LOG = [
    ("A", "Backlog", D(1)), ("A", "Dev", D(3)), ("A", "Blocked", D(4)), ("A", "Dev", D(5)),
    ("A", "Test", D(6)), ("A", "Dev", D(7)), ("A", "Test", D(8)), ("A", "Done", D(10)),
    ("B", "Backlog", D(2)), ("B", "Dev", D(4)), ("B", "Weird", D(6)),
]  # fmt: skip
STREAM = parse_stream(WORKFLOW_YAML)
SRC = Path(__file__).resolve().parents[1] / "src"


def answers(flow: Flow) -> dict[str, pd.DataFrame]:
    """Every Flow answer a command or the report shows, as frames."""
    w = flow.window(dt.date(2026, 1, 1), dt.date(2026, 1, 12))
    return {
        "items": flow.items(),
        "steps": flow.steps(),
        "steps_state": flow.steps("state", finished_only=True),
        "time_in": flow.time_in(),
        "wip": flow.wip(w),
        "cfd": flow.cfd(w),
        "rates": flow.rates(w, "day"),
        "by_week": flow.finished_by_week(),
        "summary": pd.DataFrame([flow.summary(w)]),
        "moves": flow.step_moves(),
        "arrivals": flow.step_arrivals(w),
        # in no particular order (its SQL has none): compared sorted
        "current": flow.current_step().sort_values("item", ignore_index=True),
        "transitions": flow.transitions(),
        "periods": pd.DataFrame({"day": flow.period_starts()}),
        "discarded": flow.discarded(w),
        "attributes": flow.item_attributes(),
        "unmapped": pd.DataFrame({"state": flow.unmapped_states()}),
    }


def uncached(ws: Workspace, stream: Any = STREAM, **kwargs: Any) -> dict[str, pd.DataFrame]:
    os.environ["VALUESTREAM_NO_CACHE"] = "1"
    try:
        return answers(Flow.of(ws, stream, **kwargs))
    finally:
        del os.environ["VALUESTREAM_NO_CACHE"]


def same(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == want.keys()
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)


def built(flow: Flow) -> bool:
    """Whether this flow has built its derived tables (False: every answer so far came from the cache)."""
    return getattr(flow.engine, "build", None) is None


@pytest.fixture(autouse=True)
def cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALUESTREAM_NO_CACHE", raising=False)
    monkeypatch.delenv("VALUESTREAM_CACHE_MB", raising=False)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(tmp_path / "ws.duckdb")
    w.import_file(write_log(tmp_path / "log.csv", LOG))
    return w


def kept(ws: Workspace) -> list[Path]:
    return sorted(cache.folder_of(ws).glob("*.arrow"))


def test_a_repeat_question_is_answered_from_the_cache_with_the_same_answers(ws: Workspace):
    first = Flow.of(ws, STREAM)
    assert built(first)
    cold = answers(first)
    a = cold["items"].set_index("item").loc["A"]
    assert (a.lead_time_days, a.cycle_time_days, a.touch_days, a.wait_days, a.rework) == (
        9,
        7,
        6,
        3,
        1,
    )
    assert kept(ws)
    again = Flow.of(ws, STREAM)
    warm = answers(again)
    assert not built(again)  # nothing was built: every answer came from the files
    same(warm, cold)
    same(warm, uncached(ws))


def test_cached_frames_are_copies(ws: Workspace):
    answers(Flow.of(ws, STREAM))
    flow = Flow.of(ws, STREAM)
    mine = flow.items()
    mine.loc[0, "lead_time_days"] = -1.0
    assert flow.items()["lead_time_days"].min() >= 0


def test_an_import_invalidates_and_the_new_answers_are_the_new_data(ws: Workspace, tmp_path: Path):
    answers(Flow.of(ws, STREAM))
    ws.import_file(
        write_log(
            tmp_path / "more.csv", [("C", "Backlog", D(3)), ("C", "Dev", D(5)), ("C", "Done", D(9))]
        )
    )
    flow = Flow.of(ws, STREAM)
    assert built(flow)
    got = answers(flow)
    assert got["items"].set_index("item").loc["C", "lead_time_days"] == 6
    same(got, uncached(ws))


def test_a_reimport_with_the_same_row_counts_still_invalidates(ws: Workspace, tmp_path: Path):
    answers(Flow.of(ws, STREAM))
    moved = [(i, s, D(11) if (i, s) == ("A", "Done") else t) for i, s, t in LOG]
    ws.import_file(
        write_log(tmp_path / "log.csv", moved)
    )  # same items, same counts, A done a day later
    got = answers(Flow.of(ws, STREAM))
    assert got["items"].set_index("item").loc["A", "lead_time_days"] == 10
    same(got, uncached(ws))


def test_a_write_that_bypassed_the_token_is_caught_by_the_row_counts(ws: Workspace):
    answers(Flow.of(ws, STREAM))
    with ws.connect() as con:  # another program adds a row behind valuestream's back
        con.execute(
            "INSERT INTO transitions VALUES ('log', 'B', 'Done', TIMESTAMPTZ '2026-01-09 00:00:00+00', 99)"
        )
    got = answers(Flow.of(ws, STREAM))
    assert got["items"].set_index("item").loc["B", "lead_time_days"] == 7
    same(got, uncached(ws))


CHANGED_STREAM = parse_stream(
    WORKFLOW_YAML.replace("touch: [Analysis, Dev, Test]", "touch: [Analysis, Dev]")
)
MAPPED_STREAM = parse_stream(
    WORKFLOW_YAML
    + "steps:\n  - {name: Build, states: [Dev, Blocked]}\n  - {name: Check, states: [Test]}\n"
)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (
            {"stream": CHANGED_STREAM},
            lambda a: a["items"].set_index("item").loc["A", "touch_days"] == 3,
        ),
        ({"stream": MAPPED_STREAM}, lambda a: "Build" in set(a["steps"]["step"])),
        (
            {"as_of": dt.datetime(2026, 1, 8, tzinfo=dt.UTC)},
            lambda a: a["items"]["finished"].isna().all(),
        ),
        (
            {"calendar": Calendar(days="working")},  # Jan 3-4 and 10-11 2026 are a weekend
            lambda a: a["items"].set_index("item").loc["A", "lead_time_days"] == 7,
        ),
        (
            {"calendar": Calendar(days="working", holidays=(dt.date(2026, 1, 6),))},
            lambda a: a["items"].set_index("item").loc["A", "lead_time_days"] == 6,
        ),
        ({"filters": {"item": "A"}}, None),
        (
            {"timezone": "America/New_York"},
            lambda a: a["wip"]["wip"].iloc[0] == 2,
        ),  # B entered on Jan 1 there
    ],
    ids=["workflow", "steps", "as_of", "calendar", "holidays", "filter", "timezone"],
)
def test_each_input_of_the_derived_tables_makes_a_new_entry(
    ws: Workspace, change: dict[str, Any], check: Any
):
    base = answers(Flow.of(ws, STREAM))
    stream = change.pop("stream", STREAM)
    if "filters" in change:
        with ws.connect() as con:  # give the items an attribute to filter on
            con.execute(
                """UPDATE items SET attributes = json_object('team', CASE item WHEN 'A' THEN 'x' ELSE 'y' END)"""
            )
            from valuestream.workspace import mark_log_changed

            mark_log_changed(con)
        base = answers(Flow.of(ws, STREAM))
        change = {"filters": {"team": "x"}}
        check = lambda a: a["items"]["item"].tolist() == ["A"]  # noqa: E731
    flow = Flow.of(ws, stream, **change)
    assert built(flow)  # not answered from the entry of the unchanged flow
    got = answers(flow)
    assert check(got)
    same(got, uncached(ws, stream, **change))
    assert not all(got[k].equals(base[k]) for k in ("items", "steps", "wip"))
    again = Flow.of(ws, stream, **change)
    same(answers(again), got)
    assert not built(again)


def test_a_change_to_the_build_sql_or_the_code_makes_a_new_entry(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
):
    answers(Flow.of(ws, STREAM))
    monkeypatch.setattr(tables, "BUILD", (*tables.BUILD[:-1], tables.BUILD[-1] + "\n-- rewritten"))
    assert built(Flow.of(ws, STREAM))
    monkeypatch.undo()
    assert not built(Flow.of(ws, STREAM))
    monkeypatch.setattr(cache, "_code_hash", "valuestream 9.9.9; another build")
    assert built(Flow.of(ws, STREAM))


def test_an_event_invalidates_only_the_answers_that_read_the_events_log(ws: Workspace):
    answers(Flow.of(ws, STREAM))
    add_event(ws, "WIP limit 3", dt.date(2026, 1, 5))
    flow = Flow.of(ws, STREAM)
    same(
        {"items": flow.items(), "steps": flow.steps()},
        {k: v for k, v in uncached(ws).items() if k in ("items", "steps")},
    )
    assert not built(flow)  # the item figures did not read the log: still kept
    assert flow.period_starts() == [dt.date(2026, 1, 5)]  # this one did
    assert built(flow)


def test_a_saved_map_changes_no_data_answer(ws: Workspace):
    from valuestream.maps import save_map

    answers(Flow.of(ws, STREAM))
    save_map(ws, STREAM)
    assert not built(Flow.of(ws, STREAM))


def test_the_workspace_changing_under_a_flow_answered_from_the_cache_is_said_not_mixed(
    ws: Workspace, tmp_path: Path
):
    Flow.of(ws, STREAM).items()
    flow = Flow.of(ws, STREAM)
    assert not flow.items().empty and not built(flow)
    ws.import_file(write_log(tmp_path / "more.csv", [("C", "Backlog", D(3))]))
    with pytest.raises(cache.WorkspaceChangedError, match="changed while this analysis was open"):
        flow.steps()  # not kept: it would have to be computed on data the items did not come from


def test_corrupt_and_truncated_entries_are_ignored_and_rebuilt(ws: Workspace):
    want = answers(Flow.of(ws, STREAM))
    files = kept(ws)
    for n, path in enumerate(files):
        data = path.read_bytes()
        path.write_bytes(
            data[: len(data) // 2]
            if n % 3 == 0
            else b"not arrow"
            if n % 3 == 1
            else data[:-9] + b"\0" * 9
        )
    same(answers(Flow.of(ws, STREAM)), want)
    assert not built(Flow.of(ws, STREAM)) and answers(Flow.of(ws, STREAM)).keys() == want.keys()
    same(answers(Flow.of(ws, STREAM)), want)


def test_an_entry_holding_another_key_is_not_taken(ws: Workspace):
    want = answers(Flow.of(ws, STREAM))
    files = kept(ws)
    biggest = max(files, key=lambda p: p.stat().st_size)
    for path in files:
        if path != biggest:
            path.write_bytes(biggest.read_bytes())  # every entry now says it is the items table's
    same(answers(Flow.of(ws, STREAM)), want)


def test_no_usable_folder_means_no_cache_and_the_same_answers(ws: Workspace):
    folder = cache.folder_of(ws)
    folder.write_text("a file where the folder would go")
    flow = Flow.of(ws, STREAM)
    same(answers(flow), uncached(ws))
    assert flow._cache is None and folder.is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_workspace_folder_serves_the_same_answers_without_a_cache(tmp_path: Path):
    place = tmp_path / "ro"
    place.mkdir()
    ws = Workspace(place / "ws.duckdb")
    ws.import_file(write_log(tmp_path / "log.csv", LOG))
    place.chmod(0o555)
    try:
        same(answers(Flow.of(ws, STREAM)), uncached(ws))
        assert not cache.folder_of(ws).exists()
    finally:
        place.chmod(0o755)


def test_a_workspace_without_a_token_is_not_cached(ws: Workspace):
    with ws.connect() as con:
        con.execute(
            "DELETE FROM meta WHERE key = 'log_token'"
        )  # as written before the token existed
    ws.path.chmod(0o444)
    try:
        flow = Flow.of(Workspace(ws.path), STREAM)
        same(answers(flow), uncached(ws))
        assert flow._cache is None
    finally:
        ws.path.chmod(0o644)
    Workspace(ws.path).ensure()  # the next write gives it one
    assert Workspace(ws.path).get_meta("log_token")


def test_the_switch_and_the_size_limit(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VALUESTREAM_NO_CACHE", "1")
    answers(Flow.of(ws, STREAM))
    assert not cache.folder_of(ws).exists()
    monkeypatch.delenv("VALUESTREAM_NO_CACHE")
    monkeypatch.setenv("VALUESTREAM_CACHE_MB", "0.01")  # 10 KiB: a few entries at most
    answers(Flow.of(ws, STREAM))
    sizes = [p.stat().st_size for p in kept(ws)]
    assert 0 < len(sizes) < len(answers(Flow.of(ws, STREAM))) and sum(sizes) <= 0.01 * 1024 * 1024


def test_the_least_recently_used_entry_goes_first(tmp_path: Path):
    store = cache.AnswerCache(tmp_path / "c", limit_bytes=10**9)
    store.folder.mkdir()
    frame = pd.DataFrame({"x": range(100)})
    for n, key in enumerate(("a", "b", "c")):
        assert store.put(key, frame)
        os.utime(store.folder / f"{key}.arrow", (1000 + n, 1000 + n))
    assert store.get("a") is not None  # used last now
    size = (store.folder / "a.arrow").stat().st_size
    store.limit_bytes = 2 * size
    store.prune()
    assert sorted(p.stem for p in store.folder.glob("*.arrow")) == ["a", "c"]


PROBE = """
import json, sys
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace
flow = Flow.of(Workspace(sys.argv[1]), parse_stream(sys.argv[2]))
items = flow.items()
print(json.dumps({"lead": items["lead_time_days"].fillna(-1).tolist(), "steps": flow.steps()["step"].tolist()}))
"""


def test_processes_sharing_a_cache_never_see_a_half_written_entry(ws: Workspace):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(ws.path), WORKFLOW_YAML],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in runs]
    assert all(p.returncode == 0 for p in runs)
    want = uncached(ws)
    for out in outs:
        assert out["lead"] == want["items"]["lead_time_days"].fillna(-1).tolist()
        assert out["steps"] == want["steps"]["step"].tolist()
    assert not list(cache.folder_of(ws).glob("*.tmp"))


STATES = ["Backlog", "Analysis", "Dev", "Blocked", "Test", "Ready for Test", "Done", "Weird"]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from("PQRS"), st.sampled_from(STATES), st.integers(0, 20 * 24)),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["UTC", "Europe/Berlin"]),
)
def test_cached_answers_equal_uncached_ones_on_any_log(
    tmp_path_factory: pytest.TempPathFactory, rows, tz
):
    place = tmp_path_factory.mktemp("h")
    ws = Workspace(place / "ws.duckdb")
    start = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
    log = [(i, s, (start + dt.timedelta(hours=h)).isoformat()) for i, s, h in rows]
    ws.import_file(write_log(place / "log.csv", log))
    want = uncached(ws, timezone=tz)
    same(answers(Flow.of(ws, STREAM, timezone=tz)), want)
    again = Flow.of(ws, STREAM, timezone=tz)
    same(answers(again), want)
    assert not built(again)


def test_cli_repeat_no_cache_info_and_clear(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    runner = CliRunner()
    w = ["--workspace", str(ws.path)]
    first = runner.invoke(app, ["metrics", *w, "--format", "json"])
    assert first.exit_code == 0, first.output
    entries = len(kept(ws))
    assert entries > 0
    again = runner.invoke(app, ["metrics", *w, "--format", "json"])
    assert again.output == first.output and len(kept(ws)) == entries
    info = runner.invoke(app, ["cache", "info", *w, "--format", "json"])
    assert json.loads(info.output)["answers"] == entries
    cleared = runner.invoke(app, ["cache", "clear", *w])
    assert cleared.exit_code == 0 and f"Removed {entries} kept answers" in cleared.output
    assert not cache.folder_of(ws).exists()
    fresh = runner.invoke(app, ["--no-cache", "metrics", *w, "--format", "json"])
    assert fresh.output == first.output and not cache.folder_of(ws).exists()
    assert "VALUESTREAM_NO_CACHE" not in os.environ  # the switch was for that command only


def test_raw_sql_of_a_notebook_is_not_kept(ws: Workspace):
    flow = Flow.of(ws, STREAM)
    flow.con.register("mine", pd.DataFrame({"x": [1]}))
    assert flow.query("SELECT x FROM mine")["x"].tolist() == [1]
    before = len(kept(ws))
    other = Flow.of(ws, STREAM)
    other.con.register("mine", pd.DataFrame({"x": [2]}))  # another table of the same name
    assert other.query("SELECT x FROM mine")["x"].tolist() == [2]
    assert len(kept(ws)) == before


def test_entries_of_superseded_histories_go_once_they_are_old(ws: Workspace, tmp_path: Path):
    answers(Flow.of(ws, STREAM))
    old = kept(ws)
    for path in old:
        os.utime(path, (1, 1))  # long ago
    ws.import_file(write_log(tmp_path / "more.csv", [("C", "Backlog", D(3))]))
    answers(Flow.of(ws, STREAM))
    now = kept(ws)
    assert now and not set(old) & set(now)
    assert len({p.name.partition("-")[0] for p in now}) == 1  # one tag: the current histories


def test_giving_an_old_workspace_its_token_keeps_refusing_a_newer_schema(ws: Workspace):
    from valuestream.errors import InputError

    with ws.connect() as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        con.execute("DELETE FROM meta WHERE key = 'log_token'")
    with pytest.raises(InputError, match=r"newer valuestream \(schema 99\)"):
        Workspace(ws.path).ensure()
    assert Workspace(ws.path).get_meta("log_token") is None  # nothing was written to it


def test_the_report_asked_again_builds_nothing_and_says_the_same(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
):
    from valuestream.views.report import build_report

    builds: list[int] = []
    real = Flow._build
    monkeypatch.setattr(Flow, "_build", lambda self: (builds.append(1), real(self))[1])
    now = dt.datetime(2026, 1, 12, tzinfo=dt.UTC)
    first = build_report(ws, STREAM, now=now).html()
    assert builds
    builds.clear()
    again = build_report(ws, STREAM, now=now).html()
    assert builds == []  # the dashboard's refresh on unchanged data: every figure from the cache
    assert again == first
