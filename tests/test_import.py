"""Importing event logs: formats, time zones, errors with their location, all-or-nothing, idempotence."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_log

from valuestream.errors import InputError
from valuestream.workspace import Workspace


def transitions(ws: Workspace) -> list[tuple]:
    with ws.connect() as con:
        return con.execute("SELECT item, state, epoch(entered_at) FROM transitions ORDER BY ALL").fetchall()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws.duckdb")


def test_reimport_adds_nothing_and_newer_export_updates(ws: Workspace, tmp_path: Path):
    rows = [("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "Dev", "2026-01-02T00:00:00Z"), ("B", "Backlog", "2026-01-01T00:00:00Z")]
    first = ws.import_file(write_log(tmp_path / "v1.csv", rows))
    assert (first["added"], first["removed"], first["items"]) == (3, 0, 2)
    again = ws.import_file(tmp_path / "v1.csv")
    assert (again["added"], again["removed"]) == (0, 0)
    assert len(transitions(ws)) == 3
    # The newer export: A moved on to Done, its Dev time was corrected; B is not in it.
    newer = [("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "Dev", "2026-01-02T12:00:00Z"), ("A", "Done", "2026-01-05T00:00:00Z")]
    upd = ws.import_file(write_log(tmp_path / "v2.csv", newer))
    assert (upd["added"], upd["removed"], upd["items"]) == (2, 1, 1)
    got = transitions(ws)
    assert len(got) == 4 and ("B", "Backlog", 1767225600.0) in got


def test_duplicates_are_counted_and_ignored_and_order_does_not_matter(ws: Workspace, tmp_path: Path):
    rows = [("A", "Dev", "2026-01-02T00:00:00Z"), ("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "Dev", "2026-01-02T00:00:00Z")]
    result = ws.import_file(write_log(tmp_path / "d.csv", rows))
    assert result["duplicates"] == 1 and result["added"] == 2


@pytest.mark.parametrize(
    ("value", "fmt", "tz", "epoch"),
    [
        ("2026-01-01T10:00:00+02:00", "auto", "UTC", 1767254400),
        ("2026-01-01 10:00:00", "auto", "UTC", 1767261600),
        ("2026-01-01 10:00:00", "auto", "America/New_York", 1767279600),
        ("1767261600", "auto", "UTC", 1767261600),
        ("1767261600000", "epoch_ms", "UTC", 1767261600),
        ("01/01/2026 10:00", "%d/%m/%Y %H:%M", "Europe/Berlin", 1767258000),
        ("2026-01-01T10:00:00Z", "iso", "Asia/Tokyo", 1767261600),
    ],
)
def test_time_formats_and_zones(ws: Workspace, tmp_path: Path, value: str, fmt: str, tz: str, epoch: int):
    ws.import_file(write_log(tmp_path / "t.csv", [("A", "Backlog", value)]), time_format=fmt, timezone=tz)
    assert transitions(ws) == [("A", "Backlog", float(epoch))]


def test_bad_time_names_file_row_line_and_column_and_writes_nothing(ws: Workspace, tmp_path: Path):
    ws.import_file(write_log(tmp_path / "good.csv", [("Z", "Backlog", "2026-01-01T00:00:00Z")]))
    before = transitions(ws)
    rows = [("A", "Backlog", "2026-01-01T00:00:00Z"), ("A", "Dev", "yesterday"), ("B", "Dev", "soon")]
    with pytest.raises(InputError) as err:
        ws.import_file(write_log(tmp_path / "bad.csv", rows))
    e = err.value
    assert (e.row, e.line, e.column) == (2, 3, "entered_at")
    assert "bad.csv" in str(e) and "'yesterday'" in str(e) and "1 more rows" in str(e)
    assert transitions(ws) == before


def test_empty_item_id_is_an_error(ws: Workspace, tmp_path: Path):
    with pytest.raises(InputError, match="empty item id") as err:
        ws.import_file(write_log(tmp_path / "e.csv", [("A", "Backlog", "2026-01-01"), ("  ", "Dev", "2026-01-02")]))
    assert err.value.row == 2 and err.value.column == "item"


def test_missing_column_lists_what_the_file_has(ws: Workspace, tmp_path: Path):
    path = write_log(tmp_path / "m.csv", [("A", "2026-01-01")], header=("key", "changed"))
    with pytest.raises(InputError, match=r"missing column 'item'.*'state'.*the file has key, changed"):
        ws.import_file(path)
    ws.import_file(write_log(tmp_path / "m2.csv", [("A", "Dev", "2026-01-01")], header=("key", "status", "changed")),
                   columns={"item": "key", "state": "status", "entered_at": "changed"})
    assert transitions(ws)[0][:2] == ("A", "Dev")


def test_a_file_that_is_not_what_it_claims(ws: Workspace, tmp_path: Path):
    fake = tmp_path / "log.parquet"
    fake.write_text("item,state,entered_at\nA,Dev,2026-01-01\n")
    with pytest.raises(InputError, match="cannot be read as PARQUET"):
        ws.import_file(fake)
    with pytest.raises(InputError, match="cannot tell the format"):
        ws.import_file(write_log(tmp_path / "log.xlsx", [("A", "Dev", "2026-01-01")]))


def test_ragged_csv_is_rejected_with_its_location(ws: Workspace, tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_text("item,state,entered_at\nA,Dev,2026-01-01\nB,Dev,2026-01-02,extra,more\n")
    with pytest.raises(InputError, match=r"r\.csv.*cannot be read as CSV"):
        ws.import_file(path)


def test_parquet_jsonl_and_gzip(ws: Workspace, tmp_path: Path):
    table = pa.table({"item": ["P"], "state": ["Dev"], "entered_at": pa.array([1767261600_000000], pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, tmp_path / "p.parquet")
    ws.import_file(tmp_path / "p.parquet", source="pq")
    (tmp_path / "j.jsonl").write_text(json.dumps({"item": "J", "state": "Dev", "entered_at": "2026-01-01T10:00:00Z"}) + "\n")
    ws.import_file(tmp_path / "j.jsonl", source="js")
    with gzip.open(tmp_path / "g.csv.gz", "wt") as fh:
        fh.write("item,state,entered_at\nG,Dev,2026-01-01T10:00:00Z\n")
    ws.import_file(tmp_path / "g.csv.gz", source="gz")
    assert transitions(ws) == [("G", "Dev", 1767261600.0), ("J", "Dev", 1767261600.0), ("P", "Dev", 1767261600.0)]


def test_extra_columns_are_kept_as_item_attributes(ws: Workspace, tmp_path: Path):
    rows = [("A", "Backlog", "2026-01-01", "Refunds", "Feature", "red"), ("A", "Dev", "2026-01-02", "Refunds v2", "Feature", "blue")]
    ws.import_file(write_log(tmp_path / "a.csv", rows, header=("item", "state", "entered_at", "title", "type", "team")))
    with ws.connect() as con:
        title, kind, attrs = con.execute("SELECT title, type, attributes FROM items").fetchone()
    assert (title, kind, json.loads(attrs)) == ("Refunds v2", "Feature", {"team": "blue"})


def test_unknown_time_zone(ws: Workspace, tmp_path: Path):
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        ws.import_file(write_log(tmp_path / "z.csv", [("A", "Dev", "2026-01-01")]), timezone="Mars/Olympus")
