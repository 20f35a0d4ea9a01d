"""Validation at the door: every malformed or extreme input the issue names, through the CLI.

Each case ends in one line naming the place (file, line, row, column or option) and exit code 2,
and the workspace holds exactly what it held before, table by table. The widened cases show that
what is refused by default can be read on purpose.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import workspace_tables
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.workspace import Workspace

runner = CliRunner()
HEAD = "item,state,entered_at\n"
GOOD = HEAD + "A,Backlog,2026-01-01T00:00:00Z\nA,Dev,2026-01-02T00:00:00Z\n"


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.csv").write_text(GOOD)
    result = runner.invoke(app, ["import", "good.csv", "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _text(name: str, text: str) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        (d / name).write_text(text, encoding="utf-8")
        return name

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        (d / name).write_bytes(data)
        return name

    return make


def _jsonl(name: str, rows: list[dict[str, object]]) -> Callable[[Path], str]:
    return _text(name, "".join(json.dumps(r) + "\n" for r in rows))


def _parquet(name: str, table: dict[str, list[object]]) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        pq.write_table(pa.table(table), d / name)
        return name

    return make


def _folder(d: Path) -> str:
    (d / "log.csv").mkdir()
    return "log.csv"


ROW = {"item": "A", "state": "Dev", "entered_at": "2026-01-01T00:00:00Z"}
# (how to make the file, words the error line must hold: place first, then the reason)
CASES = {
    "year 1900": (_text("y.csv", HEAD + "A,Dev,1900-01-01T00:00:00Z\n"), ["y.csv, line 2, row 1, column 'entered_at'", "--time-range"]),
    "year 0001": (_text("y.csv", HEAD + "A,Dev,0001-01-01T00:00:00Z\n"), ["line 2", "outside 1970-01-01"]),
    "year 9999": (_text("y.csv", HEAD + "B,Dev,2026-01-01\nA,Dev,9999-12-31T00:00:00Z\n"), ["line 3, row 2", "outside"]),
    "year 10000": (_text("y.csv", HEAD + "A,Dev,10000-01-01T00:00:00Z\n"), ["line 2", "outside"]),
    "1e20": (_text("t.csv", HEAD + "A,Dev,1e20\n"), ["t.csv, line 2, row 1, column 'entered_at'", "cannot read '1e20'"]),
    "nan": (_text("t.csv", HEAD + "A,Dev,nan\n"), ["line 2", "cannot read 'nan'"]),
    "infinity": (_text("t.csv", HEAD + "A,Dev,infinity\n"), ["line 2", "infinity is outside"]),
    "offset +25:00": (_text("t.csv", HEAD + "A,Dev,2026-01-01T00:00:00+25:00\n"), ["line 2", "impossible UTC offset"]),
    "offset minutes": (_text("t.csv", HEAD + "A,Dev,2026-01-01T00:00:00+01:75\n"), ["line 2", "impossible UTC offset"]),
    # DuckDB's JSON reader would type these as times, reading +25:00 as an offset of 25 hours
    "json offset +25:00": (
        _text("t.jsonl", '{"item": "A", "state": "Dev", "entered_at": "2026-01-01T00:00:00Z"}\n'
              '{"item": "B", "state": "Dev", "entered_at": "2026-01-01T00:00:00+25:00"}\n'),
        ["t.jsonl, line 2, row 2, column 'entered_at'", "impossible UTC offset"],
    ),
    "NUL in a state": (_text("c.csv", HEAD + "A,De\x00v,2026-01-01T00:00:00Z\n"), ["column 'state'", "control character"]),
    "escape in an id": (_text("c.csv", HEAD + "A\x1b[31m,Dev,2026-01-01T00:00:00Z\n"), ["column 'item'", "control character"]),
    "duplicated header": (_text("h.csv", "item,item,state,entered_at\nA,B,Dev,2026-01-01\n"), ["h.csv, line 1", "'item' twice"]),
    "latin-1": (_bytes("l.csv", (HEAD + "A,D\xe9v,2026-01-01\n").encode("latin-1")), ["l.csv, line 2", "byte 25 (0xe9)", "--encoding"]),
    "invalid UTF-8 late": (
        _bytes("u.csv", (GOOD + GOOD[len(HEAD):]).encode() + b"B,\xff,2026-01-03\n"),
        ["u.csv, line 6", "(0xff) is not UTF-8", "--encoding"],
    ),
    "unclosed quote": (_text("q.csv", HEAD + 'A,"Dev,2026-01-01\nB,Dev,2026-01-02\n'), ["q.csv, line 2", "never closed"]),
    "empty file": (_text("e.csv", ""), ["e.csv", "empty"]),
    "a folder": (_folder, ["log.csv", "folder"]),
    "truncated gzip": (_bytes("t.csv.gz", gzip.compress((GOOD * 3000).encode())[:300]), ["t.csv.gz", "cut short"]),
    "JSON mixed types": (
        _jsonl("m.jsonl", [ROW, ROW, {**ROW, "entered_at": 1767225600}]),
        ["m.jsonl, line 3, row 3, column 'entered_at'", "a number where the first rows have text"],
    ),
    "JSON object": (_jsonl("o.jsonl", [ROW, {**ROW, "state": {"name": "Dev"}}]), ["line 2, row 2, column 'state'", "object"]),
    "JSON object attribute": (_jsonl("o.jsonl", [{**ROW, "extra": {"a": 1}}]), ["column 'extra'", "object"]),
    "Parquet list": (_parquet("p.parquet", {"item": ["A"], "state": [["a", "b"]], "entered_at": ["2026-01-01"]}), ["row 1, column 'state'", "a list"]),
    "Parquet struct": (
        _parquet("p.parquet", {"item": ["A", "B"], "state": ["Dev", "Dev"], "entered_at": ["2026-01-01"] * 2, "s": [None, {"a": 1}]}),
        ["row 2, column 's'", "a struct"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_refused_with_its_place_and_changes_nothing(place: Path, case: str):
    make, words = CASES[case]
    name = make(place)
    before = workspace_tables(Workspace(place / "valuestream.duckdb"))
    size = (place / "valuestream.duckdb").stat().st_size
    result = runner.invoke(app, ["import", name])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    for word in words:
        assert word in line, line
    assert workspace_tables(Workspace(place / "valuestream.duckdb")) == before
    assert (place / "valuestream.duckdb").stat().st_size == size


def _states(place: Path) -> list[tuple[str, str]]:
    with Workspace(place / "valuestream.duckdb").connect(read_only=True) as con:
        return con.execute("SELECT item, state FROM transitions ORDER BY entered_at, seq").fetchall()


def test_a_wider_time_range_lets_old_times_in(place: Path):
    (place / "old.csv").write_text(HEAD + "O,Backlog,1901-06-01T00:00:00Z\nO,Done,1901-06-03T00:00:00Z\n")
    result = runner.invoke(app, ["import", "old.csv", "--time-range", "1900..2100", "--source", "old"])
    assert result.exit_code == 0, result.output
    assert ("O", "Backlog") in _states(place)
    refused = runner.invoke(app, ["import", "old.csv", "--time-range", "1950..2100", "--source", "old"])
    assert refused.exit_code == 2 and "1950-01-01 to 2100-12-31" in refused.output and "now 1950..2100" in refused.output


@pytest.mark.parametrize("given", ["1900", "2100..1900", "1900..2100-02-30", "soon"])
def test_a_malformed_time_range_names_the_option(place: Path, given: str):
    result = runner.invoke(app, ["import", "good.csv", "--time-range", given])
    assert result.exit_code == 2
    assert "--time-range" in result.output and "Traceback" not in result.output


def test_latin1_reads_with_encoding_and_utf16_by_its_bom(place: Path):
    (place / "l.csv").write_bytes((HEAD + "L,D\xe9v,2026-01-01T00:00:00Z\n").encode("latin-1"))
    (place / "w.csv").write_bytes((HEAD + "W,Prüfung,2026-01-01T00:00:00Z\n").encode("utf-16"))
    assert runner.invoke(app, ["import", "l.csv", "--encoding", "latin-1", "--source", "l"]).exit_code == 0
    result = runner.invoke(app, ["import", "w.csv", "--source", "w"])
    assert result.exit_code == 0, result.output
    assert {("L", "Dév"), ("W", "Prüfung")} <= set(_states(place))
    bad = runner.invoke(app, ["import", "l.csv", "--encoding", "klingon"])
    assert bad.exit_code == 2 and "--encoding: unknown encoding 'klingon'" in bad.output


def test_a_plain_file_named_gz_reads_as_plain(place: Path):
    (place / "plain.csv.gz").write_text(HEAD + "G,Dev,2026-01-05T00:00:00Z\n")
    result = runner.invoke(app, ["import", "plain.csv.gz", "--source", "g"])
    assert result.exit_code == 0, result.output
    assert ("G", "Dev") in _states(place)


def test_json_times_of_one_kind_read_as_before(place: Path):
    rows = [ROW, {**ROW, "state": "Done", "entered_at": "2026-01-03T00:00:00Z", "points": 3}]
    (place / "ok.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["import", "ok.jsonl", "--source", "j"])
    assert result.exit_code == 0, result.output
    assert ("A", "Done") in _states(place)


def test_a_bad_time_format_names_the_option(place: Path):
    result = runner.invoke(app, ["import", "good.csv", "--time-format", "%Q-%K"])
    assert result.exit_code == 2
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert "--time-format '%Q-%K'" in line and "%Q" in line


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"workflow:\n  start: Backlog\n  finish: \xff\xfe\n", ["s.yaml", "line 3", "byte 37 (0xff) is not UTF-8"]),
        (b"workflow: {start: Backlog, finish: Done}\nevents:\n  - {date: 2026-13-45, name: x}\n", ["line 3", "'2026-13-45' is not a date"]),
    ],
    ids=["invalid-utf8", "impossible-date"],
)
def test_a_bad_stream_file_names_its_line(place: Path, content: bytes, words: list[str]):
    (place / "s.yaml").write_bytes(content)
    for command in (["metrics", "--stream", "s.yaml"], ["import", "good.csv", "--stream", "s.yaml"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        text = result.output.replace("\n", " ")
        assert "Traceback" not in text and all(w in text for w in words), text


def test_a_folder_as_the_stream_file(place: Path):
    (place / "s").mkdir()
    result = runner.invoke(app, ["metrics", "--stream", "s"])
    assert result.exit_code == 2 and "folder" in result.output
