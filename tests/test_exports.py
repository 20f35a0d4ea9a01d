"""Every export a user has: compressed files, delimiters, XES states from any attribute, Disco and
Celonis CSVs, the input-format option, and dates that stay whole days in any time zone.

Known answers come from the real extracts in tests/data (see its README), read a second time by an
independent reader (pm4py, pandas), and from hand-computed logs with the arithmetic in comments.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import lzma
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
import zstandard
from conftest import WORKFLOW_YAML, write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.sources.spill import spill_directory
from valuestream.sources.xes import read_log, read_pm_csv, read_xes
from valuestream.workspace import Workspace

DATA = Path(__file__).resolve().parent / "data"
BERLIN = "Europe/Berlin"


def _pm4py():
    pm4py = pytest.importorskip("pm4py")
    warnings.filterwarnings("ignore", module="pm4py")
    return pm4py


def history(ws: Workspace) -> list[tuple[str, str, dt.datetime]]:
    with ws.connect() as con:
        return con.execute(
            "SELECT item, state, entered_at FROM transitions ORDER BY item, entered_at, seq"
        ).fetchall()


def packed(path: Path, kind: str, out: Path) -> Path:
    """``path`` compressed with ``kind`` into ``out``."""
    data = path.read_bytes()
    if kind == "gz":
        out.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        out.write_bytes(bz2.compress(data))
    elif kind == "xz":
        out.write_bytes(lzma.compress(data))
    else:
        out.write_bytes(zstandard.ZstdCompressor().compress(data))
    return out


# -- compressed inputs ---------------------------------------------------------------------------

HAND_CSV = [
    ("A", "Backlog", "2026-01-01T00:00:00Z"),
    ("A", "Dev", "2026-01-02T00:00:00Z"),
    ("A", "Done", "2026-01-05T00:00:00Z"),
]


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
@pytest.mark.parametrize(
    "name", ["running-example.xes", "receipt-100.csv", "transitions.csv"], ids=str
)
def test_every_compression_reads_like_the_plain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str
):
    plain = write_log(tmp_path / name, HAND_CSV) if name == "transitions.csv" else DATA / name
    ours = tmp_path / "tmp"  # every temporary file we make goes here, to be counted
    ours.mkdir()
    spill_directory()  # the process's spill folder exists already, wherever the tests began
    monkeypatch.setattr(tempfile, "tempdir", str(ours))
    a, b = Workspace(tmp_path / "a.duckdb"), Workspace(tmp_path / "b.duckdb")
    a.import_file(plain)
    b.import_file(packed(plain, kind, tmp_path / f"{name}.{kind}"))
    assert history(a) == history(b) and len(history(a)) > 0
    assert list(ours.iterdir()) == []  # bz2 and xz went through a temp file, now removed


def test_compression_is_read_from_the_bytes_not_the_name(tmp_path: Path):
    """A gzip file saved as .csv, and an xz one as .txt: DuckDB is told, and the copy is ours."""
    ws = Workspace(tmp_path / "ws.duckdb")
    plain = write_log(tmp_path / "plain.csv", HAND_CSV)
    ws.import_file(packed(plain, "gz", tmp_path / "export.csv"), source="a")
    ws.import_file(packed(plain, "xz", tmp_path / "export.txt"), source="b")
    with ws.connect() as con:
        by_source = con.execute(
            "SELECT source, count(*) FROM transitions GROUP BY source ORDER BY source"
        ).fetchall()
    assert by_source == [("a", 3), ("b", 3)]


def test_a_truncated_archive_is_one_error_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ours = tmp_path / "tmp"
    ours.mkdir()
    spill_directory()  # the process's spill folder exists already, wherever the tests began
    monkeypatch.setattr(tempfile, "tempdir", str(ours))
    whole = packed(DATA / "receipt-100.csv", "bz2", tmp_path / "whole.csv.bz2").read_bytes()
    cut = tmp_path / "cut.csv.bz2"
    cut.write_bytes(whole[: len(whole) // 2])
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(InputError, match=r"cut\.csv\.bz2.*cannot be decompressed \(bzip2\)"):
        ws.import_file(cut)
    assert list(ours.iterdir()) == []
    assert ws.counts()["transitions"] == 0


def test_cli_imports_sepsis_style_csv_xz_without_naming_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The issue's case: a pm4py CSV as .csv.xz. Its 100 cases and 524 events (pm4py's count)."""
    monkeypatch.chdir(tmp_path)
    packed(DATA / "receipt-100.csv", "xz", tmp_path / "receipt.csv.xz")
    done = CliRunner().invoke(app, ["import", "receipt.csv.xz", "-w", "ws.duckdb"])
    assert done.exit_code == 0, done.output
    assert Workspace(tmp_path / "ws.duckdb").counts()["items"] == 100


# -- delimiters and the input-format option ------------------------------------------------------


def test_delimiter_option_when_the_header_misleads(tmp_path: Path):
    # Three commas and two semicolons in the header: judged alone, it looks comma-separated.
    path = tmp_path / "export.txt"
    path.write_text(
        "id, key;status, raw;when, local\nA;Backlog;2026-01-01\nA;Dev;2026-01-03\n",
        encoding="utf-8",
    )
    ws = Workspace(tmp_path / "ws.duckdb")
    columns = {"item": "id, key", "state": "status, raw", "entered_at": "when, local"}
    with pytest.raises(
        InputError, match=r"1 fields where the header has 4 \(separated by ','.*--delimiter"
    ):
        ws.import_file(path, columns=columns)
    ws.import_file(path, columns=columns, delimiter=";")
    assert [s for _, s, _ in history(ws)] == ["Backlog", "Dev"]
    tab = tmp_path / "tab.txt"
    tab.write_text("item\tstate\tentered_at\nB\tDev, QA\t2026-01-01\n", encoding="utf-8")
    ws.import_file(tab, delimiter="tab", source="tab")
    assert ("B", "Dev, QA") in {(i, s) for i, s, _ in history(ws)}


def test_cli_input_format_option_old_name_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    write_log(tmp_path / "log.dat", HAND_CSV)
    runner = CliRunner()
    unnamed = runner.invoke(app, ["import", "log.dat", "-w", "a.duckdb"])
    assert unnamed.exit_code == 2
    assert "log.dat: cannot tell the format from the file name; name it with --input-format" in (
        unnamed.output
    )
    assert not (tmp_path / "a.duckdb.wal").exists()
    ok = runner.invoke(app, ["import", "log.dat", "--input-format", "csv", "-w", "a.duckdb"])
    assert ok.exit_code == 0, ok.output
    old = runner.invoke(app, ["import", "log.dat", "--file-format", "csv", "-w", "b.duckdb"])
    assert old.exit_code == 0, old.output
    both = runner.invoke(
        app, ["import", "log.dat", "--input-format", "csv", "--file-format", "jsonl"]
    )
    assert both.exit_code == 2 and "disagree" in both.output
    bogus = runner.invoke(app, ["import", "log.dat", "--input-format", "xlsx"])
    assert bogus.exit_code == 2
    assert "--input-format: expected one of csv, parquet, jsonl, xes, got 'xlsx'" in bogus.output
    delim = runner.invoke(app, ["import", "log.dat", "--input-format", "csv", "--delimiter", ";;"])
    assert delim.exit_code == 2 and "--delimiter: expected one character" in delim.output
    shown = runner.invoke(app, ["import", "file", "--help"])
    assert "--input-format" in shown.output and "--file-format" not in shown.output
    assert "--delimiter" in shown.output


# -- XES states from another attribute -----------------------------------------------------------


def _pm4py_events(name: str) -> pd.DataFrame:
    df = _pm4py().read_xes(str(DATA / name), show_progress_bar=False)
    df["case"] = df["case:concept:name"].astype(str)
    return df


def test_bpic2012_state_from_lifecycle_transition(tmp_path: Path):
    """BPI 2012's first 300 cases with the state from lifecycle:transition, checked against pm4py.

    Every one of the 6,929 events carries the attribute (pm4py: 4,281 COMPLETE, 1,974 START,
    674 SCHEDULE), so each becomes a transition; the time in each state, per case, is the time to
    the case's next event, which pandas computes below from pm4py's own reading of the file.
    """
    log = read_xes(DATA / "bpic2012-300.xes.gz", state="lifecycle:transition")
    assert (log.cases, log.events, log.skipped) == (300, 6929, 0)
    assert not log.lifecycle and log.roles == {} and log.state == "lifecycle:transition"
    states = log.transitions["state"].to_pylist()
    assert {s: states.count(s) for s in set(states)} == {
        "COMPLETE": 4281,
        "START": 1974,
        "SCHEDULE": 674,
    }
    df = _pm4py_events("bpic2012-300.xes.gz")
    t = log.transitions
    ours = set(zip(t["item"].to_pylist(), states, t["entered_at"].to_pylist(), strict=True))
    theirs = set(
        zip(
            df["case"],
            df["lifecycle:transition"],
            df["time:timestamp"].dt.to_pydatetime(),
            strict=True,
        )
    )
    assert ours == theirs

    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / "bpic2012-300.xes.gz", columns={"state": "lifecycle:transition"})
    got = Flow.of(ws).time_in("state").groupby("state")["days"].sum()
    df = df.sort_values(["case", "time:timestamp"], kind="stable")
    left = df.groupby("case")["time:timestamp"].shift(-1)
    spent = (
        ((left - df["time:timestamp"]).dt.total_seconds() / 86400)
        .groupby(df["lifecycle:transition"])
        .sum()
    )
    assert got.to_dict() == pytest.approx(spent.to_dict(), abs=1e-6)
    assert sorted(got.index) == ["COMPLETE", "SCHEDULE", "START"]


def test_state_from_a_classifier_by_its_keys_or_by_the_name_the_log_gives_it(tmp_path: Path):
    """BPI 2012 declares <classifier name="Activity classifier" keys="concept:name lifecycle:transition"/>."""
    by_keys = read_xes(DATA / "bpic2012-300.xes.gz", state="concept:name+lifecycle:transition")
    by_name = read_xes(DATA / "bpic2012-300.xes.gz", state="Activity classifier")
    assert by_keys.transitions.equals(by_name.transitions)
    assert by_name.state == "concept:name+lifecycle:transition"
    df = _pm4py_events("bpic2012-300.xes.gz")
    joined = df["concept:name"] + "+" + df["lifecycle:transition"]
    assert set(by_keys.transitions["state"].to_pylist()) == set(joined)
    # Case 173688, read off the file: submitted, partly submitted, pre-accepted at 00:39:37.906,
    # completing the application scheduled a second later and started at 11:36:46.437.
    first = [
        s
        for i, s in zip(
            by_keys.transitions["item"].to_pylist(),
            by_keys.transitions["state"].to_pylist(),
            strict=True,
        )
        if i == "173688"
    ][:5]
    assert first == [
        "A_SUBMITTED+COMPLETE",
        "A_PARTLYSUBMITTED+COMPLETE",
        "A_PREACCEPTED+COMPLETE",
        "W_Completeren aanvraag+SCHEDULE",
        "W_Completeren aanvraag+START",
    ]


def test_events_without_the_state_attribute_change_no_state_and_are_counted(tmp_path: Path):
    path = tmp_path / "status.xes"
    path.write_text(
        '<log><trace><string key="concept:name" value="T1"/>'
        '<event><string key="concept:name" value="open"/><string key="status" value="New"/>'
        '<date key="time:timestamp" value="2026-01-01T00:00:00Z"/></event>'
        '<event><string key="concept:name" value="comment"/>'
        '<date key="time:timestamp" value="2026-01-02T00:00:00Z"/></event>'
        '<event><string key="concept:name" value="work"/><string key="status" value="In Progress"/>'
        '<date key="time:timestamp" value="2026-01-03T00:00:00Z"/></event></trace>'
        '<trace><string key="concept:name" value="T2"/>'
        '<event><string key="concept:name" value="comment"/>'
        '<date key="time:timestamp" value="2026-01-01T00:00:00Z"/></event></trace></log>'
    )
    log = read_xes(path, state="status")
    assert (log.events, log.skipped, log.transitions.num_rows) == (4, 2, 2)
    assert log.items["item"].to_pylist() == ["T1"]  # T2 has no status at all: no history
    assert "2 events without one change no state" in log.explain()
    # New on the 1st, In Progress on the 3rd: two days in New, the comment changed nothing.
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(path, columns={"state": "status"})
    days = Flow.of(ws).time_in("state").set_index("state")["days"]
    assert days["New"] == pytest.approx(2.0)
    with pytest.raises(InputError, match="no event has a value for owner"):
        read_xes(path, state="owner")
    with pytest.raises(InputError, match="--state: expected an attribute"):
        read_xes(path, state="status+")


# -- Disco, Celonis and pm4py CSV exports --------------------------------------------------------


def test_disco_export_of_the_interval_log_gives_the_xes_figures(tmp_path: Path):
    """The interval extract written in Disco's export layout (one row per activity instance, local
    times as yyyy/MM/dd HH:mm:ss.SSS) reads into the same items as the XES log itself."""
    df = _pm4py_events("interval_event_log-150.xes")
    stamp = "%Y/%m/%d %H:%M:%S.%f"
    disco = pd.DataFrame(
        {
            "Case ID": df["case"],
            "Activity": df["concept:name"],
            "Resource": "",
            "Start Timestamp": df["start_timestamp"]
            .dt.tz_convert(BERLIN)
            .dt.strftime(stamp)
            .str[:-3],
            "Complete Timestamp": df["time:timestamp"]
            .dt.tz_convert(BERLIN)
            .dt.strftime(stamp)
            .str[:-3],
            "Variant": "Variant 1",
        }
    )
    path = tmp_path / "disco.csv"
    disco.to_csv(path, index=False)
    log = read_log(path, timezone=BERLIN)
    assert (log.tool, log.cases, log.events, log.lifecycle) == ("Disco", 150, 974, True)
    xes, csv = Workspace(tmp_path / "x.duckdb"), Workspace(tmp_path / "c.duckdb")
    xes.import_file(DATA / "interval_event_log-150.xes")
    csv.import_file(path, timezone=BERLIN)
    cols = ["lead_time_days", "touch_days", "wait_days"]
    a = Flow.of(xes).items().set_index("item")[cols].sort_index()
    b = Flow.of(csv).items().set_index("item")[cols].sort_index()
    pd.testing.assert_frame_equal(a, b, atol=1e-9)
    with csv.connect() as con:
        (attrs,) = con.execute("SELECT attributes FROM items WHERE item = 'C1'").fetchone()
    assert '"Variant": "Variant 1"' in str(attrs)


def test_celonis_activity_table_orders_ties_by_sorting(tmp_path: Path):
    """The running example as a Celonis activity table, naive local times (+01:00 in winter)."""
    df = _pm4py_events("running-example.xes")
    celonis = pd.DataFrame(
        {
            "_CASE_KEY": df["case"],
            "ACTIVITY_EN": df["concept:name"],
            "EVENTTIME": df["time:timestamp"]
            .dt.tz_convert("Europe/Amsterdam")
            .dt.strftime("%Y-%m-%d %H:%M:%S"),
            "_SORTING": range(len(df)),
        }
    )
    path = tmp_path / "activities.csv"
    celonis.to_csv(path, index=False)
    a, b = Workspace(tmp_path / "a.duckdb"), Workspace(tmp_path / "b.duckdb")
    a.import_file(DATA / "running-example.xes")
    b.import_file(path, timezone="Europe/Amsterdam")
    assert history(a) == history(b)
    # Two events at one instant: _SORTING, not the row order, says which came first.
    tie = tmp_path / "tie.csv"
    tie.write_text(
        "_CASE_KEY,ACTIVITY_EN,EVENTTIME,_SORTING\n"
        "1,Approve,2026-01-02 09:00:00,20\n"
        "1,Create,2026-01-01 09:00:00,0\n"
        "1,Check,2026-01-02 09:00:00,10\n"
    )
    log = read_pm_csv(tie)
    assert log.tool == "Celonis"
    assert log.transitions["state"].to_pylist() == ["Create", "Check", "Approve"]


def test_pm4py_csv_state_from_another_column(tmp_path: Path):
    """receipt-100.csv with the state from org:group: every event has one, pandas counts them."""
    log = read_pm_csv(DATA / "receipt-100.csv", state="org:group")
    df = pd.read_csv(DATA / "receipt-100.csv", dtype=str)
    assert log.skipped == int(df["org:group"].isna().sum())
    assert sorted(set(log.transitions["state"].to_pylist())) == sorted(
        df["org:group"].dropna().unique()
    )
    with pytest.raises(InputError, match="--state: no column 'team'"):
        read_pm_csv(DATA / "receipt-100.csv", state="team")


def test_header_that_is_no_export_says_which_columns_each_tool_writes(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_text("Case,Task,When\n1,a,2026-01-01\n")
    with pytest.raises(InputError, match=r"Disco: 'Case ID', 'Activity', 'Complete Timestamp'"):
        read_pm_csv(path)


# -- dates alone are whole days in any time zone -------------------------------------------------

# The clocks go forward in Berlin on Sunday 2026-03-29: local midnights on the 27th and the 30th
# are 71 hours apart, not 72. Dates are dates: Backlog 03-20, Dev 03-27, Test 03-30, Done 04-03.
# Lead = 14 days, Dev = 3 days, Test = 4 days: whole numbers, whatever the zone.
DST_ROWS = [
    ("K1", "Backlog", "2026-03-20"),
    ("K1", "Dev", "2026-03-27"),
    ("K1", "Test", "2026-03-30"),
    ("K1", "Done", "2026-04-03"),
]


@pytest.mark.parametrize("tz", [BERLIN, "America/New_York", "Australia/Sydney", "UTC"])
def test_dates_alone_stay_whole_days_across_a_dst_change(tmp_path: Path, tz: str):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(write_log(tmp_path / "k.csv", DST_ROWS), timezone=tz)
    flow = Flow.of(ws, parse_stream(WORKFLOW_YAML))
    item = flow.items().iloc[0]
    assert item["lead_time_days"] == 14.0
    assert item["touch_days"] == 7.0  # Dev 3 + Test 4
    days = flow.time_in("state").set_index("state")["days"]
    assert (days["Dev"], days["Test"]) == (3.0, 4.0)
    # The date shown is the date written.
    assert [t.date().isoformat() for _, _, t in history(ws)] == [r[2] for r in DST_ROWS]


def test_a_strptime_format_of_dates_alone_and_a_pm4py_csv_of_dates(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.duckdb")
    rows = [(i, s, f"{d[8:]}.{d[5:7]}.{d[:4]}") for i, s, d in DST_ROWS]  # 27.03.2026
    ws.import_file(write_log(tmp_path / "d.csv", rows), timezone=BERLIN, time_format="%d.%m.%Y")
    assert Flow.of(ws, parse_stream(WORKFLOW_YAML)).items().iloc[0]["lead_time_days"] == 14.0
    pm = write_log(
        tmp_path / "pm.csv",
        DST_ROWS,
        header=("case:concept:name", "concept:name", "time:timestamp"),
    )
    log = read_pm_csv(pm, timezone=BERLIN)
    times = log.transitions["entered_at"].to_pylist()
    assert (times[-1] - times[0]) == dt.timedelta(days=14)
    # A time of day is still local: 09:00 in Berlin on 2026-03-30 (summer time) is 07:00 UTC.
    clock = write_log(
        tmp_path / "clock.csv",
        [("c", "a", "2026-03-30 09:00:00")],
        header=("case:concept:name", "concept:name", "time:timestamp"),
    )
    (when,) = read_pm_csv(clock, timezone=BERLIN).transitions["entered_at"].to_pylist()
    assert when == dt.datetime(2026, 3, 30, 7, tzinfo=dt.UTC)
