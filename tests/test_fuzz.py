"""Fuzzing the door: hypothesis builds malformed CSV, JSON Lines, Parquet, XES, stream files and
option values, and runs each through the CLI in-process.

Every generated input carries at least one defect whose place we know (the row we spoiled, the
option we gave). For each: no traceback, exit code 2, one error line naming the file and that
place, and the workspace byte-identical afterwards, table by table and in size. Example counts are
modest so the whole module runs in well under a minute.
"""

from __future__ import annotations

import csv
import io
import json
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import workspace_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from valuestream.cli import app
from valuestream.workspace import Workspace

runner = CliRunner()
FUZZ = settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with something in it, and a stream file, that every example must leave alone."""
    here = tmp_path_factory.mktemp("fuzz")
    (here / "good.csv").write_text(
        "item,state,entered_at\nA,Backlog,2026-01-01T00:00:00Z\nA,Dev,2026-01-02T00:00:00Z\nA,Done,2026-01-05T00:00:00Z\n"
    )
    (here / "stream.yaml").write_text("workflow: {start: Backlog, finish: Done, touch: [Dev]}\n")
    done = runner.invoke(app, ["import", str(here / "good.csv"), "-w", str(here / "ws.duckdb"), "-q"])
    assert done.exit_code == 0, done.output
    yield here


def _snapshot(place: Path) -> tuple[dict[str, list[tuple[object, ...]]], int]:
    ws = place / "ws.duckdb"
    return workspace_tables(Workspace(ws)), ws.stat().st_size


def _refused(result: Result, *places: str) -> str:
    """The one error line of a refused command, which must name every given place."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    text = " ".join(result.output.split()) if not errors else errors[0]
    assert len(errors) <= 1, result.output
    for where in places:
        assert where in text, (where, result.output)
    return text


def _import(place: Path, name: str, *more: str) -> Result:
    before = _snapshot(place)
    result = runner.invoke(app, ["import", str(place / name), "-w", str(place / "ws.duckdb"), "--source", "fuzz", *more])
    assert _snapshot(place) == before, result.output
    return result


# -- values ------------------------------------------------------------------------------------

ids = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8)
states = st.sampled_from(["Backlog", "Dev", "Test", "Done", "In Review"])
days = st.integers(min_value=1, max_value=28).map(lambda d: f"2026-01-{d:02d}T10:00:00Z")
good_rows = st.lists(st.tuples(ids, states, days), min_size=1, max_size=12)

bad_times = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-infinity", "1e20", "-1e300", "2026-13-45", "2026-02-30T10:00:00Z",
                     "1899-12-31T00:00:00Z", "0001-01-01", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
                     "2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00-13:99", "yesterday", "", " "]),
    st.text(st.characters(codec="ascii", categories=["L"]), min_size=1, max_size=10),
)  # fmt: skip
controls = st.sampled_from(["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f"])


@st.composite
def defect(draw: st.DrawFn) -> tuple[str, object]:
    """One defect for one row: a time that is no usable time, or a control character in an id or a state."""
    kind = draw(st.sampled_from(["time", "item", "state"]))
    if kind == "time":
        return kind, draw(bad_times)
    return kind, draw(ids) + draw(controls) + draw(ids)


def _spoil(rows: list[tuple[str, str, str]], at: int, bad: tuple[str, object]) -> list[list[object]]:
    out = [list(r) for r in rows]
    column = {"item": 0, "state": 1, "time": 2}[bad[0]]
    out[at][column] = bad[1]
    return out


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["item", "state", "entered_at"])
    writer.writerows(rows)
    return buf.getvalue()


# -- CSV ---------------------------------------------------------------------------------------


@FUZZ
@given(rows=good_rows, data=st.data())
def test_csv_with_one_bad_value_names_its_line(place: Path, rows: list[tuple[str, str, str]], data: st.DataObject):
    at = data.draw(st.integers(0, len(rows) - 1))
    bad = data.draw(defect())
    (place / "f.csv").write_text(_csv(_spoil(rows, at, bad)), encoding="utf-8")
    _refused(_import(place, "f.csv"), "f.csv", f"line {at + 2}", f"row {at + 1}")


@FUZZ
@given(rows=good_rows, data=st.data())
def test_csv_with_a_broken_structure_names_its_line(place: Path, rows: list[tuple[str, str, str]], data: st.DataObject):
    at = data.draw(st.integers(0, len(rows) - 1))
    kind = data.draw(st.sampled_from(["byte", "extra field", "open quote"]))
    lines = _csv([list(r) for r in rows]).encode().splitlines(keepends=True)
    if kind == "byte":
        lines[at + 1] = lines[at + 1][:1] + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe9", b"\x80"])) + lines[at + 1][1:]
    elif kind == "extra field":
        lines[at + 1] = lines[at + 1].rstrip(b"\n") + b",surplus\n"
    else:
        lines[at + 1] = b'"' + lines[at + 1]
        if at + 1 < len(lines) - 1:
            lines = lines[: at + 2]  # the quote runs to the end of the file
    (place / "f.csv").write_bytes(b"".join(lines))
    _refused(_import(place, "f.csv"), "f.csv", f"line {at + 2}")


@FUZZ
@given(content=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_csv_never_crash(place: Path, content: bytes):
    (place / "f.csv").write_bytes(content)
    result = _import(place, "f.csv")
    assert result.exit_code in (0, 2), result.output  # some byte strings are a valid log
    assert "Traceback" not in result.output and (result.exit_code == 0 or "f.csv" in result.output)


@FUZZ
@given(header=st.lists(st.sampled_from(["item", "state", "entered_at", "title", "x"]), min_size=2, max_size=6))
def test_csv_headers_naming_a_column_twice_or_missing_one(place: Path, header: list[str]):
    duplicated = len(set(header)) < len(header)
    missing = not {"item", "state", "entered_at"} <= set(header)
    if not (duplicated or missing):
        header = [*header, header[0]]
    (place / "f.csv").write_text(",".join(header) + "\n" + ",".join("2026-01-01" for _ in header) + "\n")
    text = _refused(_import(place, "f.csv"), "f.csv")
    assert "twice" in text or "missing column" in text


# -- JSON Lines --------------------------------------------------------------------------------


@FUZZ
@given(rows=good_rows, data=st.data())
def test_jsonl_with_one_bad_value_names_its_line(place: Path, rows: list[tuple[str, str, str]], data: st.DataObject):
    at = data.draw(st.integers(0, len(rows) - 1))
    kind = data.draw(st.sampled_from(["defect", "object", "list", "number time"]))
    records = [{"item": i, "state": s, "entered_at": t} for i, s, t in rows]
    if kind == "defect":
        column, value = data.draw(defect())
        records[at][{"time": "entered_at"}.get(column, column)] = value
    elif kind == "object":
        records[at][data.draw(st.sampled_from(["item", "state", "entered_at"]))] = {"v": 1}
    elif kind == "list":
        records[at]["state"] = ["Dev", "Test"]
    else:
        if at == 0:
            rows_text_first = len(records) > 1
            at = 1 if rows_text_first else 0
        records[at]["entered_at"] = 1767225600 if at else "yesterday"
    (place / "f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    _refused(_import(place, "f.jsonl"), "f.jsonl", f"line {at + 1}")


# -- Parquet -----------------------------------------------------------------------------------


@FUZZ
@given(rows=good_rows, data=st.data())
def test_parquet_with_one_bad_value_names_its_row(place: Path, rows: list[tuple[str, str, str]], data: st.DataObject):
    at = data.draw(st.integers(0, len(rows) - 1))
    kind = data.draw(st.sampled_from(["defect", "list", "struct"]))
    items, sts, times = (list(c) for c in zip(*rows, strict=True))
    table: dict[str, object]
    if kind == "defect":
        column, value = data.draw(defect())
        {"item": items, "state": sts, "time": times}[column][at] = value
        table = {"item": items, "state": sts, "entered_at": times}
    elif kind == "list":
        table = {"item": items, "state": [[s] if n == at else None for n, s in enumerate(sts)], "entered_at": times}
    else:
        table = {"item": items, "state": sts, "entered_at": times, "extra": [{"a": 1} if n == at else None for n in range(len(rows))]}
    pq.write_table(pa.table(table), place / "f.parquet")
    _refused(_import(place, "f.parquet"), "f.parquet", f"row {at + 1}")


# -- XES ---------------------------------------------------------------------------------------

XES_EVENT = '<event><string key="concept:name" value="{name}"/><date key="time:timestamp" value="{time}"/></event>'


def _xes(events: list[tuple[str, str]]) -> str:
    body = "".join(XES_EVENT.format(name=n, time=t) for n, t in events)
    return f'<?xml version="1.0"?>\n<log xes.version="1.0"><trace><string key="concept:name" value="c1"/>{body}</trace></log>\n'


@FUZZ
@given(
    events=st.lists(st.tuples(states, days), min_size=1, max_size=6),
    kind=st.sampled_from(["cut", "bad time", "old time", "no time", "control"]),
    data=st.data(),
)
def test_xes_malformed_or_extreme_is_refused_with_its_file(place: Path, events: list[tuple[str, str]], kind: str, data: st.DataObject):
    at = data.draw(st.integers(0, len(events) - 1))
    if kind == "bad time":
        events[at] = (events[at][0], data.draw(st.sampled_from(["2026-13-45T00:00:00Z", "nan", "soon", "2026-01-01T25:61:00"])))
    elif kind == "old time":
        events[at] = (events[at][0], "1899-01-01T00:00:00Z")
    elif kind == "control":
        events[at] = ("De&#27;v", events[at][1])
    text = _xes(events)
    if kind == "no time":
        text = text.replace('<date key="time:timestamp"', '<date key="other"', 1)
    if kind == "cut":
        text = text[: data.draw(st.integers(60, len(text) - 8))]
    (place / "f.xes").write_text(text)
    _refused(_import(place, "f.xes"), "f.xes")


# -- stream files ------------------------------------------------------------------------------

BROKEN_STREAM = st.sampled_from(
    [
        b"workflow:\n  start: Backlog\n  finish: \xff\n",
        b"workflow: {start: Backlog, finish: Done}\nevents:\n  - {date: 2026-13-45, name: x}\n",
        b"steps:\n  - {name: Dev, kind: work, touch_days: abc}\n",
        b"steps:\n  - {name: Dev, kind: teleport}\n",
        b"steps: [\n",
        b"steps:\n  - {name: Dev, touch_days: -3}\n",
        b"- just\n- a list\n",
        b"workflow: {start: Backlog, finish: Done}\nrework:\n  - {from: Nowhere, to: Dev, share: 2}\n",
        b"!!python/object:os.system {}\n",
    ]
)


@FUZZ
@given(content=BROKEN_STREAM, junk=st.binary(max_size=3), command=st.sampled_from([["metrics"], ["map"], ["items"]]))
def test_a_broken_stream_file_is_named(place: Path, content: bytes, junk: bytes, command: list[str]):
    (place / "s.yaml").write_bytes(content + (b"# " + junk.replace(b"\n", b"") if junk else b""))
    before = _snapshot(place)
    result = runner.invoke(app, [*command, "-w", str(place / "ws.duckdb"), "--stream", str(place / "s.yaml")])
    _refused(result, "s.yaml")
    assert _snapshot(place) == before


# -- option values -----------------------------------------------------------------------------


def _not_a_zone(text: str) -> bool:
    try:
        zoneinfo.ZoneInfo(text)
    except Exception:
        return True
    return False


def _not_iso(text: str) -> bool:
    try:
        __import__("datetime").datetime.fromisoformat(text)
    except ValueError:
        return True
    return False


OPTIONS = st.one_of(
    st.tuples(st.just("--days"), st.integers().filter(lambda n: not 1 <= n <= 36_600).map(str)),
    st.tuples(st.just("--limit"), st.integers(max_value=0).map(str)),
    st.tuples(st.just("--tz"), st.text(min_size=1, max_size=20).filter(lambda t: _not_a_zone(t) and not t.startswith("-"))),
    st.tuples(st.just("--as-of"), st.text(min_size=1, max_size=20).filter(lambda t: _not_iso(t) and not t.startswith("-"))),
    st.tuples(st.just("--days"), st.sampled_from(["ten", "1.5", "1e9", "nan", ""])),
)


@FUZZ
@given(option=OPTIONS, command=st.sampled_from([["metrics"], ["items"], ["wip"]]))
def test_a_bad_option_value_names_the_option(place: Path, option: tuple[str, str], command: list[str]):
    if option[0] == "--limit" and command != ["items"]:
        command = ["items"]
    before = _snapshot(place)
    result = runner.invoke(app, [*command, "-w", str(place / "ws.duckdb"), "--stream", str(place / "stream.yaml"), option[0], option[1]])
    _refused(result, option[0])
    assert _snapshot(place) == before


@FUZZ
@given(value=st.text(max_size=20).filter(lambda t: not t.startswith("-")), option=st.sampled_from(["--time-range", "--encoding", "--time-format", "--delimiter"]))
def test_bad_import_options_name_the_option(place: Path, value: str, option: str):
    if option == "--time-range" and __import__("re").fullmatch(r"\s*\d{4}(-\d\d-\d\d)?\s*\.\.\s*\d{4}(-\d\d-\d\d)?\s*", value):
        value += "x"
    if option == "--encoding":
        value = "no-such-codec-" + value
    if option == "--time-format":
        value = "%Q" + value  # no strptime directive %Q
    if option == "--delimiter":
        value = "ab" + value
    result = _import(place, "good.csv", option, value)
    _refused(result, option)
