"""The bundled sample tells its story: green build and test, four queues that hold work back."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from valuestream.flow import Flow
from valuestream.model import load_stream
from valuestream.sample import DAILY_RELEASE_FROM, generate, write_sample
from valuestream.workspace import Workspace


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    d = tmp_path_factory.mktemp("sample")
    log, stream = write_sample(d)
    ws = Workspace(d / "ws.duckdb")
    ws.import_file(log)
    return Flow.of(ws, load_stream(stream))


def test_the_sample_is_the_same_every_time():
    a = hashlib.sha256(repr(generate()[0]).encode()).hexdigest()
    assert a == hashlib.sha256(repr(generate()[0]).encode()).hexdigest()
    assert generate(seed=1)[0] != generate()[0]


def test_a_year_of_a_few_thousand_items(flow: Flow):
    s = flow.summary()
    assert 300 <= s["days"] <= 370
    assert 2000 <= s["arrivals"] <= 4000


def test_four_queues_hold_the_work_back(flow: Flow):
    steps = flow.steps("step").set_index("step")
    legal = steps.loc["Legal language"]
    assert 10 <= legal["p50_days"] <= 16  # about two weeks for legal language
    assert steps.loc["Design", "wait_mean_days"] > 3 * steps.loc["Design", "touch_mean_days"]
    assert steps.loc["Environment", "wait_mean_days"] > 1
    # Build and Test, the tracker's own steps, are quick: the sprints look green.
    assert steps.loc["Test", "mean_days"] < 1.5


def test_release_gate_wait_drops_after_the_policy_change(flow: Flow):
    t = flow.time_in("step")
    release = t[t.step == "Release"].merge(flow.items()[["item", "finished"]], on="item")
    cut = dt.datetime.combine(DAILY_RELEASE_FROM, dt.time(), dt.UTC)
    before = release[release.finished < cut - dt.timedelta(days=30)]["days"].mean()
    after = release[release.finished > cut + dt.timedelta(days=30)]["days"].mean()
    assert before > 5 and after < 1.5  # batches every 14 days wait ~7 days on average


def test_write_sample_files(tmp_path: Path):
    log, stream = write_sample(tmp_path)
    assert log.read_text().startswith("item,state,entered_at,title,type\n")
    assert load_stream(stream).workflow is not None
