"""XES trace and event attributes in --filter and --by, on tests/data's real extracts.

The rule: a trace attribute is the item's as it is (BPI 2012's AMOUNT_REQ); an event attribute
is the set of values the item's events carry, like Jira labels (org:resource, the activities
under concept:name), so ``--filter org:resource=10629`` keeps the items any event of which was
done by 10629. Every count below is also counted in the test from the raw XML text, trace by
trace, with plain string search (no XML parser).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.sources import xes
from valuestream.workspace import Workspace

DATA = Path(__file__).resolve().parent / "data"
BPI = DATA / "bpic2012-300.xes.gz"
HELPDESK = DATA / "helpdesk-500.xes.gz"


def raw_traces(path: Path) -> list[str]:
    return gzip.open(path, "rt", encoding="utf-8").read().split("<trace>")[1:]


def having(traces: list[str], *pairs: tuple[str, str]) -> int:
    """Traces whose text holds every key="K" value="V" pair (at trace or event level)."""
    return sum(all(f'key="{k}" value="{v}"' in t for k, v in pairs) for t in traces)


@pytest.fixture(scope="module")
def bpi(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("bpi") / "ws.duckdb")
    ws.import_file(BPI)
    return ws


def items(flow: Flow) -> int:
    return len(flow.items())


def test_an_event_attribute_keeps_items_any_event_of_which_carries_it(bpi: Workspace) -> None:
    traces = raw_traces(BPI)
    assert len(traces) == 300 and items(Flow.of(bpi)) == 300
    # Resource 10629 worked on 29 of the 300 applications (counted in the raw XML).
    assert having(traces, ("org:resource", "10629")) == 29
    assert items(Flow.of(bpi, filters={"org:resource": "10629"})) == 29
    # Two values of one key: either will do (10629 or 10912: 46 applications).
    either = sum(having([t], ("org:resource", "10629")) or having([t], ("org:resource", "10912")) for t in traces)
    assert either == 46 and items(Flow.of(bpi, filters={"org:resource": ["10629", "10912"]})) == 46
    # The activities are the event attribute concept:name: 66 applications had an offer cancelled.
    assert having(traces, ("concept:name", "O_CANCELLED")) == 66
    assert items(Flow.of(bpi, filters={"concept:name": "O_CANCELLED"})) == 66


def test_a_trace_attribute_and_an_event_attribute_together(bpi: Workspace) -> None:
    traces = raw_traces(BPI)
    # AMOUNT_REQ is an attribute of the trace: 43 applications asked for 5000, 5 of them with 10629.
    assert having(traces, ("AMOUNT_REQ", "5000")) == 43
    assert having(traces, ("AMOUNT_REQ", "5000"), ("org:resource", "10629")) == 5
    assert items(Flow.of(bpi, filters=[("AMOUNT_REQ", "5000")])) == 43
    assert items(Flow.of(bpi, filters=[("AMOUNT_REQ", "5000"), ("org:resource", "10629")])) == 5


def test_by_an_event_attribute_counts_an_item_under_each_value_it_carries(bpi: Workspace) -> None:
    traces = raw_traces(BPI)
    values = Flow.of(bpi).values_of("org:resource").set_index("value")["items"]
    # 112 submits every application; 11119 touched 73 of them, 11180 71 (most items first).
    assert [(v, having(traces, ("org:resource", v))) for v in ("112", "11119", "11180")] == [
        ("112", 300), ("11119", 73), ("11180", 71)
    ]  # fmt: skip
    assert values.head(3).to_dict() == {"112": 300, "11119": 73, "11180": 71}
    assert values.sum() > 300  # an item counts under every resource of its events
    keys = Flow.of(bpi).attribute_keys()
    assert {"AMOUNT_REQ", "REG_DATE", "org:resource", "concept:name", "lifecycle:transition"} <= set(keys)
    assert "time:timestamp" not in keys  # every event has its own time: not an item attribute


def test_helpdesk_event_attributes_break_down_and_filter(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(HELPDESK)
    traces = raw_traces(HELPDESK)
    # The helpdesk log writes its attributes as key="K" value="V" too (with a space before '/>').
    counts = {v: having(traces, ("seriousness_2", v)) for v in ("Value 1", "Value 2", "Value 3", "Value 4")}
    assert counts == {"Value 1": 276, "Value 2": 205, "Value 3": 6, "Value 4": 24}
    by = Flow.of(ws).values_of("seriousness_2").set_index("value")["items"].to_dict()
    assert by == counts
    assert items(Flow.of(ws, filters={"seriousness_2": "Value 3"})) == 6


def test_cli_filter_and_by_on_an_event_attribute(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(BPI), "-w", str(ws)]).exit_code == 0
    got = runner.invoke(app, ["metrics", "-w", str(ws), "--filter", "org:resource=10629", "--format", "json"])
    assert got.exit_code == 0, got.output
    assert "org:resource = 10629" in got.output  # the filter in force is named
    bad = runner.invoke(app, ["metrics", "-w", str(ws), "--filter", "org:resourcee=10629"])
    assert bad.exit_code == 2 and "org:resource" in bad.output  # the known keys are listed


def test_a_trace_attribute_stands_over_events_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0">
  <trace>
    <string key="concept:name" value="A"/>
    <string key="org:resource" value="owner"/>
    <event><string key="concept:name" value="x"/><string key="org:resource" value="ann"/><date key="time:timestamp" value="2024-01-01T00:00:00Z"/></event>
    <event><string key="concept:name" value="y"/><string key="org:resource" value="bob"/><date key="time:timestamp" value="2024-01-02T00:00:00Z"/></event>
  </trace>
  <trace>
    <string key="concept:name" value="B"/>
    <event><string key="concept:name" value="x"/><string key="org:resource" value="bob"/><date key="time:timestamp" value="2024-01-01T00:00:00Z"/></event>
    <event><string key="concept:name" value="x"/><string key="org:resource" value="bob"/><date key="time:timestamp" value="2024-01-03T00:00:00Z"/></event>
  </trace>
</log>
""",
        encoding="utf-8",
    )
    attrs = {r["item"]: json.loads(r["attributes"]) for r in xes.read_xes(path).items.to_pylist()}
    assert attrs == {
        "A": {"org:resource": "owner", "concept:name": ["x", "y"]},
        "B": {"concept:name": ["x"], "org:resource": ["bob"]},
    }


def test_the_scan_and_the_streaming_parser_keep_the_same_value_sets() -> None:
    data = gzip.decompress(BPI.read_bytes())
    scanned = xes._scan_xes(data, BPI, None)
    assert scanned is not None and scanned.event_values is not None
    streamed = xes._parse_xes(io.BytesIO(data), BPI)
    assert streamed.event_values is not None and scanned.event_values.equals(streamed.event_values)


def test_an_unknown_key_still_lists_the_known_ones(bpi: Workspace) -> None:
    with pytest.raises(InputError, match="the known keys are type, title, source, AMOUNT_REQ"):
        Flow.of(bpi, filters={"resource": "10629"})


def test_a_csv_exports_other_columns_are_event_attributes(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.import_file(DATA / "running-example.csv")
    # running-example.csv (a pm4py export): Sean works on cases 2, 3, 4; Sue on 1 and 5.
    rows = (DATA / "running-example.csv").read_text().splitlines()[1:]
    cases = {who: sorted({r.split(",")[7] for r in rows if r.split(",")[5] == who}) for who in ("Sean", "Sue")}
    assert cases == {"Sean": ["2", "3", "4"], "Sue": ["1", "5"]}
    for who, expected in cases.items():
        kept = Flow.of(ws, filters={"Resource": who}).items()["item"].tolist()
        assert sorted(kept) == expected
    # case:creator is a case column: an attribute of the item as it is, not a set.
    assert Flow.of(ws, filters={"creator": "Fluxicon Nitro"}).items().shape[0] == 6
