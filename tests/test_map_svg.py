"""The map picture: real SVG and PNG files, their structure, legibility, and the map commands."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.constraint import find_constraint
from valuestream.flow import Flow
from valuestream.maps import load_map, map_versions, save_map
from valuestream.model import Stream, parse_stream
from valuestream.streammap import compare
from valuestream.views.charts import TOUCH, WAIT
from valuestream.views.map_svg import MAX_NAME_LINES, draw_map, text_width, wrap
from valuestream.workspace import Workspace

NS = {"s": "http://www.w3.org/2000/svg"}
KINDS = ["work", "handoff", "approval", "queue", "work", "release_gate"]
LONG = "Extraordinarily long name for the security and privacy review board sign-off"


def stream_of(n: int, *, long_names: bool = False) -> Stream:
    steps = []
    for i in range(n):
        name = f"Step {i + 1} " + (LONG if long_names and i % 2 == 0 else "Build")
        if long_names and i % 5 == 1:
            name += " Supercalifragilisticexpialidocious"
        step = {
            "name": name,
            "kind": KINDS[i % 6],
            "owner": "Legal and Compliance of the Northern Region" if long_names else "Eng",
            "touch_days": [0.5, 2],
            "wait_days": i % 7 + 1,
        }
        if step["kind"] == "release_gate":
            step["batch_every_days"] = 14
        steps.append(step)
    rework = [{"from": steps[n - 1]["name"], "to": steps[0]["name"], "share": 0.1}]
    if n > 6:
        rework.append({"from": steps[6]["name"], "to": steps[5]["name"], "share": 0.25})
    return parse_stream(yaml.safe_dump({"name": f"{n} steps", "steps": steps, "rework": rework}))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def text_boxes(root: ET.Element) -> list[tuple[float, float, float, float, str]]:
    """Every text line's box: (left, top, right, bottom, text), from its position, size and anchor."""
    boxes = []
    for el in root.iter("{http://www.w3.org/2000/svg}text"):
        size = float(el.get("font-size", "11"))
        width = text_width(el.text or "", size, bold=el.get("font-weight") == "bold")
        x, y = float(el.get("x", "0")), float(el.get("y", "0"))
        left = {"start": x, "middle": x - width / 2, "end": x - width}[
            el.get("text-anchor", "start")
        ]
        boxes.append((left, y - 0.78 * size, left + width, y + 0.22 * size, el.text or ""))
    return boxes


def overlaps(boxes: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    found = []
    for a, b in itertools.combinations(boxes, 2):
        if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5:
            found.append((a[4], b[4]))
    return found


def png_size(data: bytes) -> tuple[int, int]:
    """Decode a PNG far enough to trust it: signature, chunk CRCs, and the inflated pixel rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, per_pixel = 8, b"", 0
    width = height = 0
    channels = {0: 1, 2: 3, 4: 2, 6: 4}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            per_pixel = channels[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width * per_pixel)
    return width, height


@pytest.mark.parametrize("n", [3, 8, 25])
def test_structure_for_3_8_and_25_steps(n: int) -> None:
    s = stream_of(n)
    pic = draw_map(s, constraint=find_constraint(s))
    root = parse(pic.svg)
    steps = root.findall(".//s:g[@class='step']", NS)
    assert [g.get("data-step") for g in steps] == [st.name for st in s.steps]
    assert len(root.findall(".//s:rect[@class='box']", NS)) == n
    assert len(root.findall(".//s:g[@class='wait']", NS)) == n
    assert len(root.findall(".//s:path[@class='rework']", NS)) == len(s.rework)
    [circle] = root.findall(".//s:rect[@class='constraint']", NS)
    assert circle.get("stroke") is not None
    assert report_constraint_box_is_circled(root, find_constraint(s).constraint)
    # Approvals, handoffs, queues and gates are marked; gates show their cadence.
    kinds = {g.get("data-kind") for g in steps}
    for kind, mark in (
        ("approval", "approval"),
        ("handoff", "handoff"),
        ("release_gate", "gate"),
        ("queue", "queue"),
    ):
        if kind in kinds:
            assert root.findall(f".//s:path[@class='mark {mark}']", NS)
    if "release_gate" in kinds:
        assert any(
            "every 14 d" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text")
        )
    # Touch and wait keep their colours on the ladder.
    assert {p.get("stroke") for p in root.findall(".//s:path[@class='rung touch']", NS)} == {TOUCH}
    assert {p.get("stroke") for p in root.findall(".//s:path[@class='rung wait']", NS)} == {WAIT}
    totals = " ".join(t.text or "" for t in root.findall(".//s:text[@class='total']", NS))
    assert "Lead time" in totals and "Touch" in totals and "Flow efficiency" in totals
    # Rows wrap at five steps.
    assert pic.width <= 1500
    assert not overlaps(text_boxes(root))


def report_constraint_box_is_circled(root: ET.Element, name: str | None) -> bool:
    [circle] = root.findall(".//s:rect[@class='constraint']", NS)
    box = root.find(f".//s:g[@data-step='{name}']/s:rect[@class='box']", NS)
    assert box is not None
    cx0, cy0 = float(circle.get("x")), float(circle.get("y"))
    cx1, cy1 = cx0 + float(circle.get("width")), cy0 + float(circle.get("height"))
    bx0, by0 = float(box.get("x")), float(box.get("y"))
    bx1, by1 = bx0 + float(box.get("width")), by0 + float(box.get("height"))
    return cx0 < bx0 and cy0 < by0 and cx1 > bx1 and cy1 > by1


def test_25_long_names_wrap_inside_their_boxes_and_never_overlap() -> None:
    s = stream_of(25, long_names=True)
    root = parse(draw_map(s, constraint=find_constraint(s)).svg)
    assert not overlaps(text_boxes(root))
    for g in root.findall(".//s:g[@class='step']", NS):
        box = g.find("s:rect[@class='box']", NS)
        left = float(box.get("x"))
        right = left + float(box.get("width"))
        for t in g.findall("s:text", NS):
            size = float(t.get("font-size"))
            assert (
                float(t.get("x"))
                + text_width(t.text or "", size, bold=t.get("font-weight") == "bold")
                <= right - 4
            ), t.text
        # The full name stays in the tooltip even when the box shows it cut.
        assert g.get("data-step") in g.find("s:title", NS).text


def test_wrap_splits_long_words_and_caps_lines() -> None:
    lines = wrap("Supercalifragilisticexpialidocious", 80, 13, bold=True)
    assert len(lines) > 1 and all(text_width(line, 13, bold=True) <= 80 for line in lines)
    assert "".join(line.rstrip("-") for line in lines) == "Supercalifragilisticexpialidocious"
    cut = wrap(" ".join(["word"] * 60), 100, 13)
    assert len(cut) == MAX_NAME_LINES and cut[-1].endswith("…")


T0 = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
HISTORY = [
    ("A", "Discovery", 0), ("A", "Ready for build", 2), ("A", "Building", 3), ("A", "Testing", 6), ("A", "Done", 7),
    ("B", "Discovery", 0), ("B", "Ready for build", 1), ("B", "Building", 5), ("B", "Testing", 7), ("B", "Done", 8),
]  # fmt: skip
MAPPED = """\
name: Checkout
steps:
  - {name: Discovery, owner: Product, states: [Discovery], touch_days: 2, wait_days: 1}
  - {name: Legal, kind: approval, owner: Legal, touch_days: 0.5, wait_days: 10}
  - {name: Build, owner: Engineering, states: [Ready for build, Building], touch_days: 3, wait_days: 1}
  - {name: QA, owner: QA, states: [Testing], touch_days: 1, wait_days: 0.5}
workflow: {start: Discovery, finish: Done, touch: [Discovery, Building, Testing], wait: [Ready for build]}
"""


def import_history(path: Path) -> Workspace:
    ws = Workspace(path)
    ws.import_table(
        pa.table(
            {
                "item": [r[0] for r in HISTORY],
                "state": [r[1] for r in HISTORY],
                "entered_at": pa.array(
                    [T0 + dt.timedelta(days=r[2]) for r in HISTORY], pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        source="test",
        location="memory",
    )
    return ws


def test_measured_and_estimated_figures_look_different(tmp_path: Path) -> None:
    s = parse_stream(MAPPED)
    flow = Flow.of(import_history(tmp_path / "ws.duckdb"), s)
    pic = draw_map(s, comparison=compare(s, flow))
    root = parse(pic.svg)
    basis = {
        g.get("data-step"): g.get("data-basis") for g in root.findall(".//s:g[@class='step']", NS)
    }
    assert basis == {
        "Discovery": "measured",
        "Legal": "estimate",
        "Build": "measured",
        "QA": "measured",
    }
    for g in root.findall(".//s:g[@class='step']", NS):
        box = g.find("s:rect[@class='box']", NS)
        assert (box.get("stroke-dasharray") is None) == (g.get("data-basis") == "measured")
    measured = root.findall(".//s:text[@class='figure measured']", NS)
    estimated = root.findall(".//s:text[@class='figure estimate']", NS)
    assert measured and estimated
    assert all(t.get("font-style") is None for t in measured)
    assert all(t.get("font-style") == "italic" for t in estimated)
    # Build's measured median wait (A 1 day, B 4 days -> 2.5) is shown upright in its wait slot.
    build_wait = root.find(".//s:g[@class='wait'][@data-step='Build']", NS)
    assert build_wait.get("data-basis") == "measured"
    assert "2.5 d" in [t.text for t in build_wait.findall("s:text[@class='figure measured']", NS)]


def test_png_decodes_with_the_svg_dimensions(tmp_path: Path) -> None:
    s = stream_of(8, long_names=True)
    pic = draw_map(s)
    png = pic.save(tmp_path / "map.png", scale=2)
    assert png_size(png.read_bytes()) == (int(pic.width * 2), int(pic.height * 2))
    svg = pic.save(tmp_path / "map.svg")
    assert parse(svg.read_text()).get("width") == f"{pic.width:.0f}"
    assert pic._repr_svg_() == pic.svg


def test_map_command_draws_by_extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    import_history(tmp_path / "valuestream.duckdb")
    Path("stream.yaml").write_text(MAPPED)
    runner = CliRunner()
    for name in ("map.svg", "map.png"):
        result = runner.invoke(app, ["map", "--out", name])
        assert result.exit_code == 0, result.output
    assert re.search(
        r'class="step" data-step="Legal"[^>]*data-basis="estimate"', Path("map.svg").read_text()
    )
    width, height = png_size(Path("map.png").read_bytes())
    assert width > 1000 and height > 300
    bad = runner.invoke(app, ["map", "--out", "map.gif"])
    assert bad.exit_code == 2 and ".svg or .png" in bad.output


def test_saved_maps_append_and_never_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    first = save_map(ws, MAPPED)
    same = save_map(ws, MAPPED)
    second = save_map(ws, MAPPED + "# after the second session\n")
    assert (first.version, first.new) == (1, True)
    assert (same.version, same.new) == (1, False)
    assert second.version == 2
    assert list(map_versions(ws)["version"]) == [1, 2]
    assert load_map(ws, 1).content == MAPPED
    assert load_map(ws).content.endswith("# after the second session\n")
    assert load_map(ws, 1).stream().name == "Checkout"
    # Through the command line: --save appends, versions lists, show prints a version.
    monkeypatch.chdir(tmp_path)
    Path("stream.yaml").write_text(MAPPED.replace("Checkout", "Checkout v3"))
    runner = CliRunner()
    assert "version 3" in runner.invoke(app, ["map", "-w", "ws.duckdb", "--save"]).output
    listing = runner.invoke(
        app, ["map", "versions", "-w", "ws.duckdb", "--format", "csv"]
    ).output.splitlines()
    assert len(listing) == 4
    assert "Checkout v3" in runner.invoke(app, ["map", "show", "3", "-w", "ws.duckdb"]).output
    assert runner.invoke(app, ["map", "show", "9", "-w", "ws.duckdb"]).exit_code == 2


def test_a_discovered_two_step_map_quotes_the_data_only_and_keeps_its_note_inside(
    tmp_path: Path,
) -> None:
    """A workflow-only stream file: the map is the data's. No "est." (its estimates would be the
    data's own means), and the timeline note wraps inside a narrow picture."""
    from valuestream.streammap import map_to_draw

    ws = Workspace(tmp_path / "ws.duckdb")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [("A", "Todo", 0), ("A", "Doing", 1), ("A", "Done", 4), ("B", "Todo", 0), ("B", "Doing", 2), ("B", "Done", 3)]  # fmt: skip
    ws.import_table(
        pa.table(
            {
                "item": [r[0] for r in rows],
                "state": [r[1] for r in rows],
                "entered_at": [t0 + dt.timedelta(days=r[2]) for r in rows],
            }
        ),
        source="t",
        location="test",
    )
    file_stream = parse_stream("workflow: {start: Todo, finish: Done, touch: [Doing], wait: [Todo]}")
    flow = Flow.of(ws, file_stream)
    stream, origin = map_to_draw(file_stream, flow)
    assert origin
    pic = draw_map(stream, comparison=compare(stream, flow), discovered=True)
    root = parse(pic.svg)
    texts = [t.text or "" for t in root.iter(f"{{{NS['s']}}}text")]
    assert not [t for t in texts if t.startswith("est.")]
    assert "2 steps, as the data shows them" in texts
    # Todo: A waited 1 day, B 2 days -> median 1.5 d; Doing: 3 and 1 days -> median 2 d
    assert "1.5 d" in texts and "touch 2 d" in texts
    notes = root.findall(".//s:text[@class='note']", NS)
    assert len(notes) >= 2
    for note in notes:
        x = float(note.get("x"))
        assert x + text_width(note.text, 11) <= pic.width
