"""XES logs and process-mining CSV exports: real public logs, hand-computed lifecycle times, pm4py round trips."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.sources.xes import (
    END_STATE,
    XesLog,
    detect,
    read_log,
    read_pm_csv,
    read_xes,
    write_xes,
)
from valuestream.workspace import Workspace

DATA = Path(__file__).resolve().parent / "data"  # real public extracts: see data/README.md
HOUR = 1 / 24


def _pm4py():
    pm4py = pytest.importorskip("pm4py")
    warnings.filterwarnings("ignore", module="pm4py")
    return pm4py


def transitions(log: XesLog) -> set[tuple[str, str, dt.datetime]]:
    t = log.transitions
    return set(
        zip(t["item"].to_pylist(), t["state"].to_pylist(), t["entered_at"].to_pylist(), strict=True)
    )


def xes(*traces: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1849-2016">\n'
        + "\n".join(traces)
        + "\n</log>\n"
    )


def trace(name: str, *events: tuple[str, str, str | None]) -> str:
    lines = [f'<trace><string key="concept:name" value="{name}"/>']
    for activity, time, life in events:
        lc = f'<string key="lifecycle:transition" value="{life}"/>' if life else ""
        lines.append(
            f'<event><string key="concept:name" value="{activity}"/><date key="time:timestamp" value="{time}"/>{lc}</event>'
        )
    lines.append("</trace>")
    return "\n".join(lines)


# -- the real public logs (tests/data/README.md: their sources, licences and how they were cut) -----

# file, reader, cases, events, activities: counted by pm4py's own reader (pm4py.read_xes, or pandas
# for the CSVs), see test_case_spans_agree_with_pm4py below; the two running examples are whole.
EXTRACTS = [
    ("running-example.xes", read_xes, 6, 42, 8),
    ("running-example.csv", read_pm_csv, 6, 42, 8),
    ("receipt-100.csv", read_pm_csv, 100, 524, 18),
    ("interval_event_log-150.xes", read_xes, 150, 974, 8),
    ("helpdesk-500.xes.gz", read_xes, 500, 2370, 12),
    ("bpic2012-300.xes.gz", read_xes, 300, 6929, 24),
]


@pytest.mark.parametrize(("name", "reader", "cases", "events", "activities"), EXTRACTS)
def test_public_logs_import_with_their_counts(
    tmp_path: Path, name, reader, cases, events, activities
):
    log = reader(DATA / name)
    assert (log.cases, log.events) == (cases, events)
    ws = Workspace(tmp_path / "ws.duckdb")
    result = ws.import_table(
        log.transitions, items=log.items, roles=log.roles, source="log", location=name
    )
    assert result["items"] == cases
    if log.lifecycle and "interval" in name:
        # pm4py's interval log: each event is worked on, then waits for the next, then one end per case;
        # 8 events of these 150 cases start before the earlier work has ended (counted in
        # test_interval_log_touch_is_the_union_of_work_and_lead_spans_the_case), so no queue is in front.
        roles = [log.roles[s] for s in log.transitions["state"].to_pylist()]
        assert (roles.count("touch"), roles.count("wait"), roles.count("finish")) == (
            events,
            events - cases - 8,
            cases,
        )
    elif not log.lifecycle:
        assert log.roles == {} and result["rows"] == events
        assert len(set(log.transitions["state"].to_pylist())) == activities
    summary = Flow.of(ws).summary()
    assert summary["finished"] == cases  # every case of a complete log finishes at its last event


def _pm4py_spans(name: str):
    """Days from each case's first to its last time (a start_timestamp counts), read by pm4py or pandas."""
    import pandas as pd

    if name.endswith(".csv"):
        df = pd.read_csv(DATA / name, dtype=str)
        df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True, format="ISO8601")
    else:
        df = _pm4py().read_xes(str(DATA / name), show_progress_bar=False)
    times = [df["time:timestamp"]]
    if "start_timestamp" in df:
        times.append(df["start_timestamp"])
    case = df["case:concept:name"].astype(str)
    lo = pd.concat([t.groupby(case).min() for t in times], axis=1).min(axis=1)
    hi = pd.concat([t.groupby(case).max() for t in times], axis=1).max(axis=1)
    return (hi - lo).dt.total_seconds() / 86400


# Sum and largest of the case spans in days, as pm4py reads them (for a reader that would agree
# with us by accident on every case but be off in total).
SPANS = {
    "running-example.xes": (67.145139, "5", 18.245833),
    "receipt-100.csv": (262.331181, "case-10071", 91.037527),
    "interval_event_log-150.xes": (3206.352384, "C22", 32.669248),  # from the first start_timestamp
    "helpdesk-500.xes.gz": (20758.805891, "Case 1307", 59.938032),
    "bpic2012-300.xes.gz": (2813.230332, "173694", 137.221482),
}


@pytest.mark.parametrize("name", sorted(SPANS))
def test_case_spans_agree_with_pm4py(tmp_path: Path, name: str):
    """Lead time of every case = its span read by an independent reader, to the microsecond."""
    spans = _pm4py_spans(name)
    total, longest, longest_days = SPANS[name]
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / name)
    items = Flow.of(ws).items().set_index("item")
    assert sorted(items.index) == sorted(spans.index)
    assert items["lead_time_days"].sub(spans.reindex(items.index)).abs().max() < 1e-9
    assert spans.idxmax() == longest and spans.max() == pytest.approx(longest_days, abs=1e-6)
    assert items["lead_time_days"].sum() == pytest.approx(total, abs=1e-5)


def test_interval_log_touch_is_the_union_of_work_and_lead_spans_the_case(tmp_path: Path):
    """Cross-check against an independent pandas computation over pm4py's own reading of the file."""
    pm4py = _pm4py()
    df = pm4py.read_xes(str(DATA / "interval_event_log-150.xes"), show_progress_bar=False)
    df = df.sort_values(["case:concept:name", "start_timestamp", "time:timestamp"])
    case = df["case:concept:name"]
    reach = df.groupby(case)["time:timestamp"].cummax()
    before = reach.groupby(case).shift()
    starts_new = before.isna() | (df["start_timestamp"] > before)
    assert int((~starts_new).sum()) == 8  # overlapping starts, as the count test above says
    block = starts_new.astype(int).groupby(case).cumsum()
    blocks = df.groupby([case, block]).agg(
        s=("start_timestamp", "min"), e=("time:timestamp", "max")
    )
    union = ((blocks["e"] - blocks["s"]).dt.total_seconds() / 86400).groupby(level=0).sum()

    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / "interval_event_log-150.xes")
    items = Flow.of(ws).items().set_index("item")
    assert len(items) == 150
    assert items["touch_days"].sub(union.reindex(items.index)).abs().max() < 1e-6
    assert (items["touch_days"] + items["wait_days"] - items["lead_time_days"]).abs().max() < 1e-9


def test_bpic2012_lifecycle_log(tmp_path: Path):
    """BPI Challenge 2012 (4TU.ResearchData), its first 300 cases: SCHEDULE / START / COMPLETE."""
    log = read_xes(DATA / "bpic2012-300.xes.gz")
    assert (log.cases, log.events, log.lifecycle) == (300, 6929, True)
    states = log.transitions["state"].to_pylist()
    assert states.count(END_STATE) == 300
    # 24 activities; pm4py finds START events for six, all W_ (work item) ones: they are touch.
    # A_ and O_ completions are instants, shown as states only when no work is going on:
    # O_DECLINED and O_SENT_BACK always happen during work, so they never are.
    # W_Wijzigen contractgegevens is only ever scheduled, never started: it changes no state.
    started = {
        "W_Afhandelen leads", "W_Beoordelen fraude", "W_Completeren aanvraag",
        "W_Nabellen incomplete dossiers", "W_Nabellen offertes", "W_Valideren aanvraag",
    }  # fmt: skip
    touch = {s for s, r in log.roles.items() if r == "touch"}
    assert started <= touch and len(touch) == 12
    assert all(s.startswith(("A_", "O_")) for s in touch - started)
    assert not touch & {"O_DECLINED", "O_SENT_BACK", "W_Wijzigen contractgegevens"}
    assert {s for s, r in log.roles.items() if r == "wait"} <= {
        f"{a} (waiting)" for a in (*touch, "W_Wijzigen contractgegevens")
    }

    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_table(
        log.transitions, items=log.items, roles=log.roles, source="log", location="bpic2012"
    )
    items = Flow.of(ws).items().set_index("item")
    assert len(items) == 300
    # Case 173688 (the first): A_SUBMITTED at 2011-10-01T00:38:44.546+02:00, last event
    # W_Valideren aanvraag COMPLETE at 2011-10-13T10:37:37.026+02:00 (read off the file).
    first = dt.datetime(2011, 9, 30, 22, 38, 44, 546000, tzinfo=dt.UTC)
    last = dt.datetime(2011, 10, 13, 8, 37, 37, 26000, tzinfo=dt.UTC)
    assert items.loc["173688", "lead_time_days"] == pytest.approx(
        (last - first).total_seconds() / 86400, abs=1e-9
    )
    assert (
        json.loads(
            log.items.filter(pa.compute.equal(log.items["item"], "173688"))["attributes"][0].as_py()
        )["AMOUNT_REQ"]
        == "20000"
    )


def test_cli_import_xes_gz_then_items_without_a_stream_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    with (
        (DATA / "running-example.xes").open("rb") as src,
        gzip.open(tmp_path / "log.xes.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    ws = tmp_path / "work" / "ws.duckdb"
    ws.parent.mkdir()
    runner = CliRunner()
    done = runner.invoke(app, ["import", "log.xes.gz", "-w", str(ws), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["items"] == 6
    shown = runner.invoke(app, ["items", "-w", str(ws), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    rows = {r["item"]: r for r in json.loads(shown.stdout)}
    assert len(rows) == 6
    # Case 3: register request 2010-12-30 14:32 to the last event 2011-01-15 10:45 (+01:00).
    assert rows["3"]["lead_time_days"] == pytest.approx(15 + (20 * 60 + 13) / 1440)


# -- hand-computed lifecycle ---------------------------------------------------------------------

HAND = xes(
    # Work 09-10 and 12-15, a queue 10-12: touch 4 h, wait 2 h.
    trace(
        "A1",
        ("Dev", "2026-03-02T09:00:00Z", "start"),
        ("Dev", "2026-03-02T10:00:00Z", "complete"),
        ("Test", "2026-03-02T13:00:00+01:00", "start"),
        ("Test", "2026-03-02T15:00:00Z", "complete"),
    ),
    # Scheduled 08, worked 09-10, suspended 10-11, worked 11-12: touch 2 h, queue 1 h, blocked 1 h.
    trace(
        "A2",
        ("Dev", "2026-03-02T08:00:00Z", "schedule"),
        ("Dev", "2026-03-02T09:00:00Z", "start"),
        ("Dev", "2026-03-02T10:00:00Z", "suspend"),
        ("Dev", "2026-03-02T11:00:00Z", "resume"),
        ("Dev", "2026-03-02T12:00:00Z", "complete"),
    ),
    # Dev 09-11 and Review 10-12 overlap (touch 3 h, not 4), a note at 10:30 inside the work, then
    # Deploy completes at 14 with no start: a 2 h queue and an instant.
    trace(
        "A3",
        ("Dev", "2026-03-02T09:00:00Z", "start"),
        ("Review", "2026-03-02T10:00:00Z", "start"),
        ("Note", "2026-03-02T10:30:00Z", "complete"),
        ("Dev", "2026-03-02T11:00:00Z", "complete"),
        ("Review", "2026-03-02T12:00:00Z", "complete"),
        ("Deploy", "2026-03-02T14:00:00Z", "complete"),
    ),
    # An event without a transition in a lifecycle log counts as a completion.
    trace(
        "A4",
        ("Dev", "2026-03-02T09:00:00Z", "start"),
        ("Dev", "2026-03-02T10:00:00Z", "complete"),
        ("Close", "2026-03-02T16:00:00Z", None),
    ),
)


def test_start_complete_pairs_give_hand_computed_touch_and_wait(tmp_path: Path):
    path = tmp_path / "hand.xes"
    path.write_text(HAND)
    log = read_xes(path)
    assert (log.cases, log.events, log.lifecycle) == (4, 18, True)
    at = lambda h, m=0: dt.datetime(2026, 3, 2, h, m, tzinfo=dt.UTC)  # noqa: E731
    got = transitions(log)
    assert {(s, t) for i, s, t in got if i == "A2"} == {
        ("Dev (waiting)", at(8)),
        ("Dev", at(9)),
        ("Dev (suspended)", at(10)),
        ("Dev", at(11)),
        (END_STATE, at(12)),
    }
    assert {(s, t) for i, s, t in got if i == "A3"} == {
        ("Dev", at(9)),
        ("Review", at(10)),
        ("Deploy (waiting)", at(12)),
        ("Deploy", at(14)),
        (END_STATE, at(14)),
    }
    assert log.roles["Dev (suspended)"] == "blocked" and log.roles["Deploy (waiting)"] == "wait"
    assert "Note" not in log.roles  # an instant inside work does not interrupt it

    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(path)
    items = Flow.of(ws).items().set_index("item")
    expect = {  # item: lead, touch, wait, blocked (hours)
        "A1": (6, 4, 2, 0),
        "A2": (4, 2, 2, 1),
        "A3": (5, 3, 2, 0),
        "A4": (7, 1, 6, 0),
    }
    for item, (lead, touch, wait, blocked) in expect.items():
        row = items.loc[item]
        assert row["lead_time_days"] == pytest.approx(lead * HOUR), item
        assert row["touch_days"] == pytest.approx(touch * HOUR), item
        assert row["wait_days"] == pytest.approx(wait * HOUR), item
        assert row["blocked_days"] == pytest.approx(blocked * HOUR), item
    assert items.loc["A2", "rework"] == 0  # resuming suspended work is not rework


def test_without_lifecycle_each_event_enters_its_activity(tmp_path: Path):
    path = tmp_path / "plain.xes"
    path.write_text(
        xes(
            trace(
                "c1",
                ("Triage", "2026-01-01T00:00:00Z", "complete"),
                ("Fix", "2026-01-03T00:00:00Z", "complete"),
                ("Close", "2026-01-04T12:00:00Z", "complete"),
            )
        )
    )
    log = read_xes(path)
    assert log.roles == {} and not log.lifecycle
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(path)
    flow = Flow.of(ws)
    assert flow.items().iloc[0]["lead_time_days"] == pytest.approx(3.5)
    days = dict(zip(*(flow.time_in("state")[c] for c in ("state", "days")), strict=True))
    assert days == pytest.approx({"Triage": 2.0, "Fix": 1.5})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 600), st.integers(0, 120)), min_size=1, max_size=6),
        min_size=1,
        max_size=4,
    )
)
def test_touch_is_the_union_of_work_intervals_and_touch_plus_wait_is_lead(tmp_path_factory, cases):
    """pm4py-style intervals (start_timestamp): the made-up states account for every minute exactly once."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    body = []
    for c, intervals in enumerate(cases):
        events = "".join(
            f'<event><string key="concept:name" value="a{k % 3}"/>'
            f'<date key="time:timestamp" value="{(base + dt.timedelta(minutes=s + d)).isoformat()}"/>'
            f'<date key="start_timestamp" value="{(base + dt.timedelta(minutes=s)).isoformat()}"/></event>'
            for k, (s, d) in enumerate(intervals)
        )
        body.append(f'<trace><string key="concept:name" value="c{c}"/>{events}</trace>')
    path = tmp_path_factory.mktemp("prop") / "log.xes"
    path.write_text(xes(*body))
    log = read_xes(path)
    rows = sorted(
        zip(
            log.transitions["item"].to_pylist(),
            log.transitions["entered_at"].to_pylist(),
            log.transitions["seq"].to_pylist(),
            log.transitions["state"].to_pylist(),
            strict=True,
        )
    )
    for c, intervals in enumerate(cases):
        mine = [(t, s) for i, t, _, s in rows if i == f"c{c}"]
        spent = {"touch": 0.0, "wait": 0.0}
        for (t, s), (t_next, _) in zip(mine, mine[1:], strict=False):
            spent[log.roles[s]] += (t_next - t).total_seconds() / 60
        covered = set()
        for s, d in intervals:
            covered.update(range(s, s + d))
        lo = min(s for s, _ in intervals)
        hi = max(s + d for s, d in intervals)
        assert mine[-1] == (base + dt.timedelta(minutes=hi), END_STATE)
        assert spent["touch"] == len(covered)
        assert spent["touch"] + spent["wait"] == hi - lo


# -- formats and errors --------------------------------------------------------------------------


def test_gz_and_plain_read_the_same(tmp_path: Path):
    plain = tmp_path / "log.xes"
    shutil.copy(DATA / "interval_event_log-150.xes", plain)
    packed = tmp_path / "packed.xes.gz"
    with plain.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert transitions(read_xes(packed)) == transitions(read_xes(plain))


def test_malformed_xml_is_an_input_error_with_its_line(tmp_path: Path):
    path = tmp_path / "bad.xes"
    path.write_text(
        '<log>\n<trace>\n<string key="concept:name" value="x"/>\n<event>\n</trace>\n</log>\n'
    )
    with pytest.raises(InputError) as err:
        read_xes(path)
    assert err.value.line == 5 and "mismatched tag" in err.value.message


def test_event_without_timestamp_is_an_input_error_with_its_line(tmp_path: Path):
    path = tmp_path / "notime.xes"
    path.write_text(
        xes(trace("c1", ("a", "2026-01-01T00:00:00Z", None))).replace(
            "</trace>", '<event>\n<string key="concept:name" value="b"/>\n</event>\n</trace>'
        )
    )
    with pytest.raises(InputError, match="no time:timestamp") as err:
        read_xes(path)
    assert err.value.line == 5  # where the event opens


def test_unreadable_time_and_wrong_root_are_input_errors(tmp_path: Path):
    path = tmp_path / "badtime.xes"
    path.write_text(
        xes(trace("c1", ("a", "2026-01-01T00:00:00Z", None)), trace("c2", ("a", "yesterday", None)))
    )
    with pytest.raises(InputError, match="'yesterday'") as err:
        read_xes(path)
    assert err.value.line == 7  # the second trace's event
    other = tmp_path / "other.xes"
    other.write_text("<html><body/></html>")
    with pytest.raises(InputError, match="not an XES log"):
        read_xes(other)
    csv = tmp_path / "pm.csv"
    csv.write_text(
        "case:concept:name,concept:name,time:timestamp\nc1,a,2026-01-01 00:00:00+00:00\n,b,2026-01-02 00:00:00+00:00\n"
    )
    with pytest.raises(InputError) as err:
        read_pm_csv(csv)
    assert (err.value.row, err.value.line, err.value.column) == (2, 3, "case:concept:name")


def test_naive_and_nanosecond_times_are_read_as_utc(tmp_path: Path):
    path = tmp_path / "naive.xes"
    path.write_text(
        xes(
            trace(
                "c1",
                ("a", "2026-01-01T10:00:00", None),
                ("b", "2026-01-01T11:00:00.123456789+01:00", None),
            )
        )
    )
    got = sorted(t for _, _, t in transitions(read_xes(path)))
    assert got == [
        dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=dt.UTC),
    ]


def test_detect_tells_xes_and_pm4py_csv_from_other_files(tmp_path: Path):
    assert detect(DATA / "helpdesk-500.xes.gz") == "xes"
    assert detect(DATA / "receipt-100.csv") == "pm_csv"
    assert detect(DATA / "running-example.csv") == "pm_csv"
    unnamed = tmp_path / "export.log"
    shutil.copy(DATA / "running-example.xes", unnamed)
    assert detect(unnamed) == "xes"
    plain = tmp_path / "plain.csv"
    plain.write_text("item,state,entered_at\nA,Dev,2026-01-01\n")
    assert detect(plain) is None


# -- round trips against pm4py -------------------------------------------------------------------

KEY = ["case:concept:name", "concept:name", "time:timestamp"]


def test_our_export_opens_in_pm4py_with_the_same_cases_activities_and_times(tmp_path: Path):
    pm4py = _pm4py()
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / "running-example.xes")
    out = write_xes(Flow.of(ws), tmp_path / "out.xes.gz")
    ours = pm4py.read_xes(str(out), show_progress_bar=False)
    orig = pm4py.read_xes(str(DATA / "running-example.xes"), show_progress_bar=False)
    assert len(ours) == 42
    a = ours[KEY].sort_values(KEY).reset_index(drop=True)
    b = orig[KEY].sort_values(KEY).reset_index(drop=True)
    assert a.equals(b)
    assert set(ours["case:creator"]) == {"Fluxicon Nitro"}  # trace attributes travel too


def test_lifecycle_export_gives_pm4py_the_work_intervals(tmp_path: Path):
    pm4py = _pm4py()
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / "interval_event_log-150.xes")
    ours = pm4py.read_xes(str(write_xes(Flow.of(ws), tmp_path / "out.xes")), show_progress_bar=False)
    orig = pm4py.read_xes(str(DATA / "interval_event_log-150.xes"), show_progress_bar=False)
    starts = ours[ours["lifecycle:transition"] == "start"]
    ends = ours[ours["lifecycle:transition"] == "complete"]
    got = set(
        zip(
            starts["case:concept:name"],
            starts["concept:name"],
            starts["time:timestamp"],
            ends["time:timestamp"],
            strict=True,
        )
    )
    assert len(got) == 974 and set(starts["case:concept:name"]) == set(orig["case:concept:name"])
    # A history holds one state at a time, so work that overlaps other work in its case comes back
    # cut where the later work starts; every interval that overlaps no other comes back exactly.
    pairs = orig.merge(orig, on="case:concept:name")
    overlapping = pairs[
        (pairs["start_timestamp_x"] < pairs["time:timestamp_y"])
        & (pairs["start_timestamp_y"] < pairs["time:timestamp_x"])
        & ~(
            (pairs["concept:name_x"] == pairs["concept:name_y"])
            & (pairs["start_timestamp_x"] == pairs["start_timestamp_y"])
        )
    ]
    cols = ["case:concept:name", "concept:name_x", "start_timestamp_x", "time:timestamp_x"]
    touched = set(overlapping[cols].itertuples(index=False, name=None))
    alone = (
        set(
            zip(
                orig["case:concept:name"],
                orig["concept:name"],
                orig["start_timestamp"],
                orig["time:timestamp"],
                strict=True,
            )
        )
        - touched
    )
    # 8 starts overlap earlier work (see above), each one other interval: 974 - 2 x 8 = 958.
    assert len(alone) == 958 and alone <= got
    # And reading our export again gives the same history.
    assert transitions(read_xes(tmp_path / "out.xes")) == transitions(
        read_xes(DATA / "interval_event_log-150.xes")
    )


@pytest.mark.parametrize("name", ["running-example.xes", "interval_event_log-150.xes"])
def test_pm4py_writes_logs_we_read_into_the_same_transitions(tmp_path: Path, name: str):
    pm4py = _pm4py()
    df = pm4py.read_xes(str(DATA / name), show_progress_bar=False)
    pm4py.write_xes(df, str(tmp_path / "pm.xes"), show_progress_bar=False)
    df.to_csv(tmp_path / "pm.csv", index=False)
    ours = transitions(read_xes(DATA / name))
    assert transitions(read_xes(tmp_path / "pm.xes")) == ours
    assert transitions(read_pm_csv(tmp_path / "pm.csv")) == ours


def test_export_of_a_flow_keeps_touch_and_lead_of_its_workflow(tmp_path: Path, stream):
    """A CSV history under a workflow (Dev and Test are touch): exported, read back, same figures."""
    from conftest import write_log

    rows = [
        ("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "Dev", "2026-01-02T00:00:00Z"),
        ("A", "Ready for Test", "2026-01-04T00:00:00Z"), ("A", "Test", "2026-01-05T00:00:00Z"),
        ("A", "Done", "2026-01-06T00:00:00Z"),
        ("B", "Backlog", "2026-01-01T00:00:00Z"), ("B", "Dev", "2026-01-01T12:00:00Z"), ("B", "Done", "2026-01-03T00:00:00Z"),
    ]  # fmt: skip
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(write_log(tmp_path / "log.csv", rows))
    before = Flow.of(ws, stream).items().set_index("item")
    assert before.loc["A", ["lead_time_days", "touch_days"]].tolist() == [
        5.0,
        3.0,
    ]  # Dev 2 days, Test 1
    write_xes(Flow.of(ws, stream), tmp_path / "out.xes")
    again = Workspace(tmp_path / "again.duckdb")
    again.import_file(tmp_path / "out.xes")
    after = Flow.of(again).items().set_index("item")
    for column in ("lead_time_days", "touch_days", "wait_days"):
        assert after[column].to_dict() == pytest.approx(before[column].to_dict()), column


def test_duplicate_traces_and_bad_csv_times_are_input_errors_with_their_place(tmp_path: Path):
    path = tmp_path / "twice.xes"
    path.write_text(
        xes(
            trace("c1", ("a", "2026-01-01T00:00:00Z", None)),
            trace("c1", ("b", "2026-01-02T00:00:00Z", None)),
        )
    )
    with pytest.raises(InputError, match="'c1' appears twice") as err:
        read_log(path)
    assert err.value.line == 6
    csv = tmp_path / "pm.csv"
    csv.write_text(
        "case:concept:name,concept:name,time:timestamp\nc1,a,2026-01-01 00:00:00+00:00\nc1,b,soon\n"
    )
    with pytest.raises(InputError, match="'soon'") as err:
        read_log(csv)
    assert (err.value.row, err.value.line, err.value.column) == (2, 3, "time:timestamp")
    other = tmp_path / "other.csv"
    other.write_text("item,state,entered_at\n")
    with pytest.raises(InputError, match="neither an XES log nor"):
        read_log(other)
