"""The one-page report: what each section shows, and why the ones that cannot be shown say so.

Known answers come from a hand-computed week of three items (lead times 3 and 4 days, touch 1 and
3 days) and from the bundled sample, whose figures the report must repeat from the library
rather than compute again.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.events import merge_stream_events
from valuestream.flow import Flow
from valuestream.model import load_stream, parse_stream
from valuestream.sample import EVENT_TITLE, STREAM_YAML, write_sample
from valuestream.views import report as rp
from valuestream.views.report import Inputs, build_report, compact
from valuestream.workspace import Workspace

SECTION_KEYS = [
    "constraint", "experiments", "scatter", "xmr", "cfd", "rates", "aging", "forecast", "events",
]  # fmt: skip

TINY = """
name: Tiny team
workflow:
  start: Waiting
  finish: Done
  touch: [Doing]
  wait: [Waiting]
steps:
  - {name: Queue, kind: queue, states: [Waiting], wait_days: 2}
  - {name: Work, kind: work, states: [Doing], touch_days: 1}
"""

# One full week, Monday 5 to Sunday 11 January 2026. A: lead 3 days, touch 1 (Doing 7th-8th).
# B: lead 4 days, touch 3. C is still in Doing; D arrives on the Sunday (the as-of time).
TINY_ROWS = [
    ("A", "Waiting", "2026-01-05T00:00:00Z"),
    ("A", "Doing", "2026-01-07T00:00:00Z"),
    ("A", "Done", "2026-01-08T00:00:00Z"),
    ("B", "Waiting", "2026-01-06T00:00:00Z"),
    ("B", "Doing", "2026-01-07T00:00:00Z"),
    ("B", "Done", "2026-01-10T00:00:00Z"),
    ("C", "Waiting", "2026-01-06T12:00:00Z"),
    ("C", "Doing", "2026-01-09T00:00:00Z"),
    ("D", "Waiting", "2026-01-11T10:00:00Z"),
]


def _by_key(report: rp.Report) -> dict[str, rp.Section]:
    return {s.key: s for s in report.sections}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> rp.Report:
    d = tmp_path_factory.mktemp("tiny")
    ws = Workspace(d / "ws.duckdb")
    ws.import_file(write_log(d / "log.csv", TINY_ROWS))
    return build_report(ws, parse_stream(TINY))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Workspace, rp.Report]:
    d = tmp_path_factory.mktemp("sample")
    log, stream_path = write_sample(d)
    ws = Workspace(d / "valuestream.duckdb")
    ws.import_file(log)
    stream = load_stream(stream_path)
    merge_stream_events(ws, stream)
    return d, ws, build_report(ws, stream)


# -- a hand-computed week: values, one week of history, no events ---------------------------------


def test_the_three_measures_of_a_hand_computed_week(tiny: rp.Report):
    lead, efficiency, rates = tiny.measures
    # Median of 3 and 4 days; p85 by linear interpolation: 3 + 0.85 x 1.
    assert lead.value == "3.5 days"
    assert "85% took 3.9 days or less" in lead.detail
    assert "median of 2 items finished" in lead.detail
    # Flow efficiency of the set: (1 + 3) / (3 + 4); median of 1/3 and 3/4 is 0.5417.
    assert efficiency.value == "57%"
    assert "median item 54%" in efficiency.detail
    weeks = 90 / 7
    assert rates.value == f"{2 / weeks:,.1f} vs {4 / weeks:,.1f} a week"


def test_one_week_of_history_is_not_judged_and_says_why(tiny: rp.Report):
    lead, efficiency, rates = tiny.measures
    for m in tiny.measures:
        assert m.verdict == "not enough data"
    # One complete week with 2 finished items: too few for a weekly median (at least 3).
    for m in (lead, efficiency):
        assert "fewer than 3 finished items" in m.limits
    assert "1 full week of history" in rates.limits and "at least 2 values" in rates.limits
    # A short history still forecasts, and says it is provisional and why.
    forecast = _by_key(tiny)["forecast"]
    assert forecast.shown
    assert "Provisional: only 7 days of history" in forecast.text


def test_no_events_says_how_to_add_one(tiny: rp.Report):
    events = _by_key(tiny)["events"]
    assert not events.shown
    assert "No event is logged yet" in events.missing  # type: ignore[operator]
    assert "valuestream event add" in events.missing  # type: ignore[operator]
    assert all("(no event logged)" in m.since for m in tiny.measures)
    assert "No event is logged yet" in (_by_key(tiny)["xmr"].note or "")


def test_too_few_finished_items_for_aging_still_shows_it_provisional(tiny: rp.Report):
    aging = _by_key(tiny)["aging"]
    assert aging.shown
    assert "Provisional: only 2 finished items" in aging.text


def test_sections_that_can_be_shown_are_shown(tiny: rp.Report):
    shown = {s.key for s in tiny.sections if s.shown}
    assert {"constraint", "scatter", "xmr", "cfd", "rates"} <= shown
    assert tiny.map_svg is not None and "CONSTRAINT" in tiny.map_svg
    # Each chart a shown section names has its specification in the page.
    for s in tiny.sections:
        for name in s.charts:
            assert tiny.specs[name]["$schema"].startswith(
                "https://vega.github.io/schema/vega-lite/"
            )


def test_the_cfd_counts_finished_items_from_the_window_start(tiny: rp.Report):
    data = next(iter(tiny.specs["cfd"]["datasets"].values()))
    done = [row for row in data if row["step"] == "Done"]
    # B finished on the 10th and A on the 8th; the band starts at zero on the window's first day.
    assert done[0]["items"] == 0
    assert max(row["items"] for row in done) == 2


# -- nothing at all; only a workshop map ----------------------------------------------------------


def test_an_empty_workspace_says_why_everywhere(tmp_path: Path):
    report = build_report(Workspace(tmp_path / "none.duckdb"), None)
    table = report.table
    assert not table["shown"].any()
    assert "No map yet" in (report.map_missing or "")
    for m in report.measures:
        assert "no item histories have been imported" in (m.missing or "")
    constraint = _by_key(report)["constraint"]
    assert "neither" in (constraint.missing or "")
    html = report.html()
    for key in SECTION_KEYS:
        assert f'id="{key}"' in html


def test_only_a_workshop_map(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ensure()
    report = build_report(ws, parse_stream(STREAM_YAML))
    # Legal language has the longest estimated wait (7 to 14 days, 10.5 on average): circled.
    assert report.map_svg is not None and "CONSTRAINT" in report.map_svg
    assert "'Legal language'" in report.map_text
    sections = _by_key(report)
    assert sections["constraint"].shown
    assert "map's estimates alone" in sections["constraint"].text
    for key in ("scatter", "xmr", "cfd", "rates", "aging", "forecast"):
        assert "only the workshop map is here" in (sections[key].missing or ""), key
    assert "arrive" in (sections["experiments"].missing or "")
    # The stream file's event is shown even before it is merged into the log.
    assert sections["events"].shown
    assert sections["events"].table is not None
    assert sections["events"].table.rows[0][1] == EVENT_TITLE
    assert sections["events"].table.rows[0][4] == "stream file only"


# -- the bundled sample: every section, the library's figures, one small page ---------------------


def test_the_sample_shows_every_section(sample):
    _, _, report = sample
    assert report.table["shown"].all(), report.table[~report.table["shown"]]


def test_the_measures_repeat_the_library_figures(sample):
    _, ws, report = sample
    flow = Flow.of(ws, load_stream(sample[0] / "stream.yaml"))
    s = flow.summary(flow.window(days=90))
    lead, efficiency, rates = report.measures
    assert lead.value == f"{s['lead_p50']:.1f} days"
    assert efficiency.value == f"{s['flow_efficiency']:.0%}"
    assert rates.value == f"{s['throughput_per_week']:,.1f} vs {s['arrivals_per_week']:,.1f} a week"
    # The last event starts the current period the verdicts are judged in.
    for m in report.measures:
        assert f"since '{EVENT_TITLE}' (2026-08-03)" in m.since
        assert m.verdict in ("signal", "no signal")


def test_the_charts_split_at_the_policy_change(sample):
    _, _, report = sample
    xmr = _by_key(report)["xmr"]
    assert xmr.charts == ("xmr-lead", "xmr-cycle")
    assert f"Since '{EVENT_TITLE}' (2026-08-03)" in xmr.text
    spec_text = json.dumps(report.specs["xmr-lead"])
    assert f"{EVENT_TITLE} (2026-08-03)" in spec_text
    periods = {
        row["period"]
        for rows in report.specs["xmr-lead"]["datasets"].values()
        for row in rows
        if "period" in row
    }
    assert periods == {1, 2}


def test_every_chart_of_the_page_is_valid_vega_lite(sample):
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema

    _, _, report = sample
    schema = load_schema()
    assert len(report.specs) == 12
    for name, spec in report.specs.items():
        validate_jsonschema(spec, schema)  # raises on the first error, naming it
        assert spec["config"]["font"].startswith("Helvetica"), name


def test_the_experiments_are_ranked_with_value_per_week(sample):
    _, _, report = sample
    table = _by_key(report)["experiments"].table
    assert table is not None
    assert [int(r[0]) for r in table.rows] == list(range(1, len(table.rows) + 1))
    values = [float(r[3].removeprefix("EUR ").replace(",", "")) for r in table.rows]
    # Ranked by what they are worth; a change at a non-constraint may be worth nothing (or noise).
    assert values == sorted(values, reverse=True) and values[0] > 0


def test_the_page_is_self_contained_and_small(sample):
    d, _, report = sample
    path = report.save(d / "report.html")
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 5_000_000
    # Nothing is fetched: no external script, style sheet, image or font in the markup.
    assert not re.search(r"<script[^>]*\bsrc=", text)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.S)
    assert not re.search(r"<(link|img|iframe|object)\b", markup)
    assert "@import" not in markup and not re.search(r"url\(\s*[\"']?(https?:)?//", markup)
    assert "window.vegaEmbed=" in text
    for key in SECTION_KEYS:
        assert f'<section id="{key}"' in text
    specs = re.search(r'<script id="vs-specs" type="application/json">(.*?)</script>', text, re.S)
    assert specs is not None
    assert set(json.loads(specs.group(1))) == set(report.specs)
    assert "@media print" in text and "@page" in text


def test_large_workspaces_thin_the_drawing_never_the_figures(sample, monkeypatch: pytest.MonkeyPatch):
    import numpy as np

    from valuestream.views import drawing
    from valuestream.xmr import flow_xmr

    d, ws, _ = sample
    monkeypatch.setattr(drawing, "MAX_DRAWN", 100)
    stream = load_stream(d / "stream.yaml")
    inputs = Inputs(ws, stream)
    chart = inputs.item_xmr("lead")
    # The report's chart is the one 'valuestream pbc lead' computes, on every value.
    same = flow_xmr(Flow.of(ws, stream), "lead", splits=inputs.splits)
    assert len(chart.table) == len(same.table)
    assert [p.as_dict() for p in chart.periods] == [p.as_dict() for p in same.periods]
    assert len(chart.signals) == len(same.signals)
    done = inputs.done
    n = len(done)
    assert n > 200
    scatter = compact(rp.page_spec(rp.chart(inputs, "scatter")))
    text = json.dumps(scatter)
    k = math.ceil(n / 100)
    assert f"drawing 1 in {k} of the {n:,} values" in text
    rows = {len(v) for v in scatter["datasets"].values()}
    tail = int((done["lead_time_days"] > np.percentile(done["lead_time_days"], 95)).sum())
    assert max(rows) <= math.ceil(n / k) + 1 + tail
    # The percentile lines are those of every completed item.
    lines = next(v for v in scatter["datasets"].values() if v and "p" in v[0])
    for row in lines:
        assert row["days"] == pytest.approx(np.percentile(done["lead_time_days"], row["p"]), abs=1e-3)


def test_compact_cuts_decimals_of_inline_data_only():
    spec = {
        "datasets": {"d": [{"x": 1.234567891, "n": 3, "s": "a", "bad": math.nan}]},
        "width": 1.23456789,
    }
    out = compact(spec)
    assert out["datasets"]["d"] == [{"x": 1.2346, "n": 3, "s": "a", "bad": None}]
    assert out["width"] == 1.23456789


# -- the commands --------------------------------------------------------------------------------


def test_report_and_chart_commands(sample, tmp_path: Path):
    d, _, _ = sample
    runner = CliRunner()
    out = tmp_path / "page.html"
    ws, stream = str(d / "valuestream.duckdb"), str(d / "stream.yaml")
    result = runner.invoke(
        app, ["report", "--out", str(out), "-w", ws, "-s", stream, "--days", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and out.exists()
    assert "measures over the last 60 days" in out.read_text(encoding="utf-8")
    png = tmp_path / "map.png"
    assert (
        runner.invoke(app, ["chart", "map", "--out", str(png), "-w", ws, "-s", stream]).exit_code
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "rates.svg"
    assert (
        runner.invoke(app, ["chart", "rates", "--out", str(svg), "-w", ws, "-s", stream]).exit_code
        == 0
    )
    assert "Arrivals against throughput" in svg.read_text(encoding="utf-8")
    bad = runner.invoke(app, ["chart", "pie", "--out", str(svg), "-w", ws, "-s", stream])
    assert bad.exit_code == 2 and "unknown chart 'pie'" in bad.output


def test_a_chart_that_cannot_be_drawn_says_why(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.duckdb")
    # Nothing has finished: no throughput to forecast from.
    ws.import_file(write_log(tmp_path / "log.csv", [r for r in TINY_ROWS if r[1] != "Done"]))
    (tmp_path / "stream.yaml").write_text(TINY, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "chart",
            "forecast",
            "--out",
            str(tmp_path / "f.svg"),
            "-w",
            str(ws.path),
            "-s",
            str(tmp_path / "stream.yaml"),
        ],
    )
    assert result.exit_code == 2
    assert "the forecast chart cannot be drawn" in result.output
    assert "no item finished" in result.output
