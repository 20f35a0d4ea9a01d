"""Process behavior charts of a flow at any volume: published examples through the event log, batch
completions, a long history whose first check is short, the report and the CLI agreeing to the
digit, and a 20,000-item log that draws.

Every log here is written so that its chart is a known answer: the values the chart must hold are
chosen first (published series, or a pattern whose limits are worked out by hand in the comments),
then items are made to finish with exactly those lead times, weekly medians, efficiencies or counts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_log
from typer.testing import CliRunner

from valuestream import forecast
from valuestream.check import SHOWN_SIGNALS, weekly_check
from valuestream.cli import app
from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.sources.checks import TimeRange
from valuestream.views.drawing import LABEL_GAP, spread
from valuestream.workspace import Workspace
from valuestream.xmr import NO_SIGNAL, SIGNAL, choose_series, flow_predictability, flow_xmr

runner = CliRunner()
MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
STREAM = """\
name: Volume
workflow:
  start: Backlog
  finish: Done
  touch: [In progress]
"""

# NIST/SEMATECH e-Handbook of Statistical Methods, 6.3.2.2 (see test_xmr.py): mean 50.81,
# mR-bar 1.8778, limits 50.81 +- 2.66 x 1.8778 = 45.82 to 55.80, upper range limit
# 3.268 x 1.8778 = 6.137 (published 6.13 with 3.267); no value outside the limits.
NIST_FLOW = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
# Montgomery, Introduction to Statistical Quality Control, 6th ed., Example 6.5 (see test_xmr.py):
# x-bar 300.5, mR-bar 7.79, limits 279.78 to 321.22, range limit 25.45; no point out of control.
MONTGOMERY = [310, 288, 297, 298, 307, 303, 294, 297, 308, 306,
              294, 299, 297, 299, 314, 295, 293, 306, 301, 304]  # fmt: skip


def _at(t: dt.datetime) -> str:
    return t.isoformat()


def _item(rows: list[list[str]], name: str, finish: dt.datetime, lead: float, touch: float) -> None:
    """An item that waits in Backlog, is worked on for its last ``touch`` days, and finishes."""
    rows.append([name, "Backlog", _at(finish - dt.timedelta(days=lead))])
    rows.append([name, "In progress", _at(finish - dt.timedelta(days=touch))])
    rows.append([name, "Done", _at(finish)])


def _workspace(tmp: Path, rows: list[list[str]]) -> Workspace:
    ws = Workspace(tmp / "vs.duckdb")
    # Long synthetic histories run past a year from today: widen the door's time range.
    ws.import_file(write_log(tmp / "log.csv", rows), time_range=TimeRange.parse("2000..2100"))
    (tmp / "stream.yaml").write_text(STREAM, encoding="utf-8")
    return ws


def _flow(ws: Workspace, as_of: dt.datetime | None = None) -> Flow:
    return Flow.of(ws, parse_stream(STREAM), as_of=as_of)


def _cli(ws: Workspace, *args: str) -> str:
    r = runner.invoke(app, [*args, "-w", str(ws.path), "-s", str(ws.path.parent / "stream.yaml")])
    assert r.exit_code == 0, r.output
    return r.stdout


# -- numbers before pictures --------------------------------------------------------------------


def test_results_compute_without_altair_and_draw_through_views() -> None:
    """The analyses compute; views draw (tests/test_architecture.py checks every import statement).
    Computing a chart, forecasting and showing them in a notebook load no chart library; asking
    a result for its chart does, through ``views.draw``."""
    code = """
import sys
import numpy as np
from valuestream import forecast
from valuestream.xmr import xmr
chart = xmr([5.0, 7.0, 6.0, 9.0, 30.0], name="<b>lead</b>")
fc = forecast.when(np.full(30, 2), 10, seed=1)
html = chart._repr_html_() + fc._repr_html_()
print(sorted({m.split(".")[0] for m in sys.modules} & {"altair", "vl_convert"}))
print("<b>" not in html and "&lt;b&gt;lead&lt;/b&gt;" in html)
top = chart.chart(title="Titled").to_dict()["vconcat"][0]["title"]["text"]
print(top, "altair" in sys.modules, fc.chart().to_dict()["layer"][0]["mark"]["type"])
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["[]", "True", "Titled True rect"]


# -- a published example for each chart a flow gets ---------------------------------------------


def _nist_items(tmp: Path) -> Workspace:
    # Ten items, one finishing each weekday at noon, with the NIST flow rates as lead times (days):
    # five a week, not in batches, so single items are charted.
    rows: list[list[str]] = []
    for i, lead in enumerate(NIST_FLOW):
        finish = MONDAY + dt.timedelta(weeks=8 + i // 5, days=i % 5, hours=12)
        _item(rows, f"N-{i:02d}", finish, lead, 1.0)
    return _workspace(tmp, rows)


def test_single_items_chart_the_published_example(tmp_path: Path) -> None:
    ws = _nist_items(tmp_path)
    flow = _flow(ws)
    assert choose_series(flow).kind == "items"
    chart = flow_xmr(flow, "lead")
    assert list(chart.table["value"]) == pytest.approx(NIST_FLOW)
    (p,) = chart.periods
    assert p.centre == pytest.approx(50.81)
    assert p.mr_bar == pytest.approx(1.8778, abs=1e-4)
    assert p.lower == pytest.approx(45.82, abs=0.01)
    assert p.upper == pytest.approx(55.80, abs=0.01)
    assert p.url == pytest.approx(6.137, abs=0.001)
    assert chart.signals == () and chart.verdict == NO_SIGNAL
    data = json.loads(_cli(ws, "pbc", "lead", "--format", "json"))
    assert data["basis"]["kind"] == "items"
    assert data["periods"][0]["upper"] == pytest.approx(55.80, abs=0.01)


def _nist_weeks(tmp: Path) -> tuple[Workspace, dt.datetime]:
    # Ten weeks of three items each, finishing Tuesday, Wednesday and Thursday at noon. Week w's
    # lead times are NIST[w] - 1, NIST[w] and NIST[w] + 1 days, so its median is NIST[w]; each item
    # is worked on for NIST[w] % of its lead time, so the week's flow efficiency, sum(touch) /
    # sum(lead), is NIST[w] / 100. The weeks before the first finish have no throughput: warm-up.
    rows: list[list[str]] = []
    for w, value in enumerate(NIST_FLOW):
        for d, lead in enumerate((value - 1, value, value + 1)):
            finish = MONDAY + dt.timedelta(weeks=8 + w, days=1 + d, hours=12)
            _item(rows, f"W-{w:02d}-{d}", finish, lead, lead * value / 100)
    # As of the Monday after the last week, so that week is complete.
    return _workspace(tmp, rows), MONDAY + dt.timedelta(weeks=18)


def test_weekly_medians_and_flow_efficiency_chart_the_published_example(tmp_path: Path) -> None:
    ws, as_of = _nist_weeks(tmp_path)
    flow = _flow(ws, as_of)
    for series, scale in (("median_lead", 1.0), ("flow_efficiency", 0.01)):
        chart = flow_xmr(flow, series)
        assert list(chart.table["value"]) == pytest.approx([v * scale for v in NIST_FLOW])
        (p,) = chart.periods
        assert p.centre == pytest.approx(50.81 * scale)
        assert p.lower == pytest.approx(45.82 * scale, abs=0.01 * scale)
        assert p.upper == pytest.approx(55.80 * scale, abs=0.01 * scale)
        assert p.url == pytest.approx(6.137 * scale, abs=0.001 * scale)
        assert chart.signals == ()
        # The first item enters on Wednesday 14 January (3 March noon less 48.6 days): that week
        # is cut by the start of the data, and the six empty weeks from 19 January are warm-up.
        assert chart.notes[0].startswith(
            "The first 6 weeks of the history are left out as warm-up: the data really start in "
            "the week of 2026-03-02"
        )
    # Forced to weeks, the lead-time chart is the weekly median chart.
    forced = flow_xmr(flow, "lead", basis="weekly")
    assert forced.choice is not None and forced.choice.forced
    assert forced.periods[0].centre == pytest.approx(50.81)


def test_weekly_throughput_charts_the_published_example(tmp_path: Path) -> None:
    # Twenty weeks in which Montgomery's weekly costs are the counts of items finished: the items of
    # a week finish spread over its seven days, each a day after it entered.
    rows: list[list[str]] = []
    for w, count in enumerate(MONTGOMERY):
        for k in range(count):
            finish = MONDAY + dt.timedelta(weeks=1 + w, seconds=int((k + 0.5) * 7 * 86400 / count))
            rows.append([f"T-{w:02d}-{k:03d}", "Backlog", _at(finish - dt.timedelta(days=1))])
            rows.append([f"T-{w:02d}-{k:03d}", "Done", _at(finish)])
    ws = _workspace(tmp_path, rows)
    flow = _flow(ws, MONDAY + dt.timedelta(weeks=21))
    chart = flow_xmr(flow, "throughput")
    assert list(chart.table["value"]) == MONTGOMERY
    (p,) = chart.periods
    assert p.centre == pytest.approx(300.5)
    assert p.mr_bar == pytest.approx(7.79, abs=0.005)
    assert p.lower == pytest.approx(279.78, abs=0.02)
    assert p.upper == pytest.approx(321.22, abs=0.02)
    assert p.url == pytest.approx(25.45, abs=0.02)
    assert chart.signals == ()
    # About 300 a week: far more than single items can chart, so lead time is weekly medians.
    assert choose_series(flow).kind == "weekly"


# -- batch completions: each week is one value ------------------------------------------------


def _batches(tmp: Path) -> tuple[Workspace, dt.datetime]:
    # Twelve Friday releases of five items at 16:00. Week w's lead times are m - 2 ... m + 2 days
    # with m = 10 in even weeks and 12 in odd ones, so the weekly medians alternate 10 and 12:
    # centre 11, mR-bar 2, limits 11 +- 2.66 x 2 = 5.68 to 16.32, range limit 3.268 x 2 = 6.536,
    # and no signal (no value out, no run of 8, no trend of 6).
    # Charted item by item instead (completion order inside a batch is the item id, which means
    # nothing), the first 20 values 8..12, 10..14, 8..12, 10..14 have 16 moving ranges of 1, two
    # of 2 and one of 6: mR-bar 26 / 19 = 1.368, range limit 4.47, and every fall from 14 to 8
    # between batches is a "signal" of the batching, not of the process.
    rows: list[list[str]] = []
    for w in range(12):
        m = 10 if w % 2 == 0 else 12
        finish = MONDAY + dt.timedelta(weeks=2 + w, days=4, hours=16)
        for k, lead in enumerate(range(m - 2, m + 3)):
            _item(rows, f"B-{w:02d}-{k}", finish, float(lead), 2.0)
    return _workspace(tmp, rows), MONDAY + dt.timedelta(weeks=14)


def test_batch_completions_are_charted_one_value_a_week(tmp_path: Path) -> None:
    ws, as_of = _batches(tmp_path)
    flow = _flow(ws, as_of)
    choice = choose_series(flow)
    assert choice.kind == "weekly" and choice.batched == 1.0 and choice.per_week == 5.0
    assert "100% of items finish in batches" in choice.explain()
    chart = flow_xmr(flow, "lead")
    assert list(chart.table["value"]) == [10.0, 12.0] * 6
    (p,) = chart.periods
    assert (p.centre, p.mr_bar) == (pytest.approx(11.0), pytest.approx(2.0))
    assert p.lower == pytest.approx(5.68) and p.upper == pytest.approx(16.32)
    assert p.url == pytest.approx(6.536)
    assert chart.verdict == NO_SIGNAL and chart.signals == ()
    items = flow_xmr(flow, "lead", basis="items")
    q = items.periods[0]
    assert q.mr_bar == pytest.approx(26 / 19)
    jumps = [s for s in items.signals if s.rule == "mR"]
    assert jumps and all(s.values == (14.0, 8.0) for s in jumps)
    assert items.verdict == SIGNAL
    # The CLI says which series it charts and why.
    out = _cli(ws, "pbc", "lead", "--as-of", "2026-04-13")
    assert "one value per week, the median of the items finished that week" in out.lower()
    assert "no signal" in out


def test_forecasts_the_check_and_pbc_give_one_verdict(tmp_path: Path) -> None:
    ws, as_of = _batches(tmp_path)
    flow = _flow(ws, as_of)
    pbc = flow_xmr(flow, "lead").verdict
    check = weekly_check(flow).measure("lead").verdict
    fc = forecast.how_many(flow, 14, seed=3, window_days=None)
    assert fc.predictability is not None
    assert pbc == check == fc.predictability.verdict == NO_SIGNAL
    assert flow_predictability(flow).verdict == NO_SIGNAL
    words = fc.explain()
    assert "not predictable" not in words and "predictable: no signal" in words
    assert "'valuestream pbc lead', one value per week" in words
    # The item chart (which batching fills with false signals) is not what the forecast judges.
    out = _cli(ws, "forecast", "how-many", "--days", "14", "--as-of", "2026-04-13", "-f", "json")
    assert json.loads(out)["predictability"]["verdict"] == NO_SIGNAL


# -- the report and the CLI: one computation ---------------------------------------------------

N_LONG = 2600  # more than the 2,500 values past which the report used to chart 1 in 2 items
OUTLIERS = (500, 1000, 1500, 2000, 2500)


def _daily_items(tmp: Path) -> Workspace:
    # Item i enters on day i at noon, is worked on from a day later, and takes 4 days (even i) or
    # 4.5 days (odd i); the five items in OUTLIERS (all even) take 9 days. Finish times
    # i + lead(i) increase with i except around an outlier, which finishes four items later; so in
    # completion order the values alternate 4 and 4.5, broken only by the five 9s.
    # The first 20 values: centre (10 x 4 + 10 x 4.5) / 20 = 4.25, every moving range 0.5, so
    # mR-bar 0.5, limits 4.25 +- 2.66 x 0.5 = 2.92 to 5.58, range limit 3.268 x 0.5 = 1.634.
    # Each 9 is above 5.58 (rule 1) and differs from both neighbours by 4.5 or 5, above 1.634
    # (two range signals); nothing else fires: 5 x (1 + 2) = 15 signals.
    rows: list[list[str]] = []
    for i in range(N_LONG):
        lead = 9.0 if i in OUTLIERS else 4.0 + 0.5 * (i % 2)
        finish = MONDAY + dt.timedelta(days=i + lead, hours=12)
        _item(rows, f"L-{i:04d}", finish, lead, lead - 1.0)
    return _workspace(tmp, rows)


def test_the_report_and_the_cli_give_the_same_limits_and_signals(tmp_path: Path) -> None:
    ws = _daily_items(tmp_path)
    stream = ws.path.parent / "stream.yaml"
    cli = json.loads(_cli(ws, "pbc", "lead", "--format", "json"))
    (period,) = cli["periods"]
    assert cli["basis"]["kind"] == "items"
    assert (period["centre"], period["mr_bar"]) == (pytest.approx(4.25), pytest.approx(0.5))
    assert period["lower"] == pytest.approx(2.92) and period["upper"] == pytest.approx(5.58)
    assert period["url"] == pytest.approx(1.634)
    assert len(cli["signals"]) == 15
    assert sorted(s["rule"] for s in cli["signals"]) == ["1"] * 5 + ["mR"] * 10
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["report", "--out", str(page), "-w", str(ws.path), "-s", str(stream)])
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    said = re.search(
        r"lead time per completed item centres on ([\d.]+) days and routinely runs from "
        r"([\d.]+) days to ([\d.]+) days; signal: (\d+) signals in this period",
        text,
    )
    assert said is not None, "the report's lead-time sentence"
    assert [float(said.group(k)) for k in (1, 2, 3)] == [4.25, 2.92, 5.58]
    assert int(said.group(4)) == 15
    # The drawn chart's limits are the CLI's too, and it holds every value.
    found = re.search(r'<script id="vs-specs" type="application/json">(.*?)</script>', text, re.S)
    assert found is not None
    specs = json.loads(found.group(1))
    rows = [row for data in specs["xmr-lead"]["datasets"].values() for row in data]
    limits = {round(row["upper"], 4) for row in rows if row.get("kind") == "current"}
    assert limits == {5.58}
    assert max(row["n"] for row in rows if "n" in row) == N_LONG
    # Signals are drawn in the signal colour on every chart of the page, the weekly tiles too.
    from valuestream.views.charts import SIGNAL as SIGNAL_COLOUR

    for name in ("xmr-lead", "lead-weekly", "throughput-weekly"):
        assert SIGNAL_COLOUR in json.dumps(specs[name]), name


# -- a long history: the first check fits on a screen -------------------------------------------


def _long_history(tmp: Path) -> Workspace:
    # Two years at about 40 items a week, lead times log-normal around 6 days; from week 70 work
    # takes 1.8 times as long (a real shift), and two items are still in progress.
    rng = np.random.default_rng(13)
    rows: list[list[str]] = []
    for w in range(104):
        for k in range(int(rng.poisson(40))):
            lead = float(rng.lognormal(np.log(6.0), 0.5)) * (1.8 if w >= 70 else 1.0)
            finish = MONDAY + dt.timedelta(weeks=w + 2, seconds=int(rng.uniform(0, 7 * 86400)))
            _item(rows, f"H-{w:03d}-{k:02d}", finish, lead, lead * float(rng.uniform(0.2, 0.5)))
    for k in range(2):
        rows.append([f"OPEN-{k}", "Backlog", _at(MONDAY + dt.timedelta(weeks=105))])
    return _workspace(tmp, rows)


def test_the_first_check_of_a_long_history_is_short(tmp_path: Path) -> None:
    ws = _long_history(tmp_path)
    out = _cli(ws, "check", "--dry-run")
    # What the command prints, before the terminal wraps it.
    words = weekly_check(_flow(ws)).explain()
    assert " ".join(words.split()) == " ".join(out.split())
    lines = words.splitlines()
    # Heading, four verdicts, the signals line with at most three signals and the count of the
    # rest, the rates, and the two open items: a screen, not thousands of "new" signals.
    assert len(lines) <= 14, out
    assert "(first check: summarised)" in words
    assert "'valuestream check --all' lists every one" in words
    assert sum(1 for line in lines if re.match(r"\s+\d+\. ", line)) == SHOWN_SIGNALS
    assert re.search(r"Lead time: signal, react\. Weekly median", words)
    full = _cli(ws, "check", "--dry-run", "--all")
    assert len(full.splitlines()) > len(lines)
    data = json.loads(_cli(ws, "check", "--dry-run", "--format", "json"))
    assert data["measures"]["lead"]["basis"]["kind"] == "weekly"
    count = re.search(r"(\d+) signals? in the current periods", words)
    assert count is not None and len(data["signals"]) == int(count.group(1))


# -- 20,000 items draw --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    # 20,000 items over 200 weeks, about 100 a week, log-normal lead times.
    tmp = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(20_000)
    leads = rng.lognormal(np.log(5.0), 0.6, 20_000)
    finishes = np.sort(rng.uniform(7, 7 * 201, 20_000))
    rows: list[list[str]] = []
    for i in range(20_000):
        finish = MONDAY + dt.timedelta(days=float(finishes[i]))
        _item(rows, f"X-{i:05d}", finish, float(leads[i]), float(leads[i]) / 4)
    return _workspace(tmp, rows)


def test_twenty_thousand_items_render(big: Workspace, tmp_path: Path) -> None:
    png, page = tmp_path / "lead.png", tmp_path / "lead.html"
    for out in (png, page):
        _cli(big, "pbc", "lead", "--out", str(out))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Weekly median lead time" in page.read_text(encoding="utf-8")
    # Forced to single items: all 20,000 values are charted, the drawing thinned and saying so.
    items, scatter = tmp_path / "items.png", tmp_path / "items.html"
    data = json.loads(
        _cli(big, "pbc", "lead", "--basis", "items", "--format", "json", "--out", str(scatter))
    )
    assert len(data["points"]) == 20_000
    text = scatter.read_text(encoding="utf-8")
    assert re.search(r"drawing 1 in \d+ of the 20,000 values \(every signal drawn\)", text)
    _cli(
        big,
        "pbc",
        "lead",
        "--basis",
        "items",
        "--out",
        str(items),
        "--scatter",
        str(tmp_path / "s.png"),
    )
    assert items.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_thinned_chart_keeps_every_signal(big: Workspace) -> None:
    from valuestream.views.xmr_charts import xmr_chart

    chart = flow_xmr(_flow(big), "lead", basis="items")
    spec = xmr_chart(chart).to_dict()
    drawn = {
        row["n"]
        for layer in spec["vconcat"][0]["layer"]
        for row in (
            layer.get("data", {}).get("values")
            or spec.get("datasets", {}).get(layer.get("data", {}).get("name"), [])
        )
        if "n" in row and "rules" in row
    }
    flagged = set((chart.table.loc[chart.table["signal"], "index"] + 1).tolist())
    assert flagged and flagged <= drawn
    # Besides the signals (thousands on log-normal times charted item by item), every k-th value,
    # k chosen so that all stay within Altair's 5,000 rows of one data frame.
    subtitle = " ".join(spec["vconcat"][0]["title"]["subtitle"])
    said = re.search(r"drawing 1 in (\d+) of the 20,000 values", subtitle)
    assert said is not None
    k = int(said.group(1))
    assert set(range(1, 20_001, k)) <= drawn and len(drawn) <= 5000


# -- labels apart -------------------------------------------------------------------------------


def test_labels_are_pushed_apart_and_keep_their_order() -> None:
    # Four percentiles within 2 pixels of each other on a 240-pixel axis: 13 pixels apart after.
    # In value order 100, 101, 101.5, 102: the lowest stays, each next one goes 13 above the last.
    assert spread([100.0, 101.0, 102.0, 101.5], low=0, high=240) == [100.0, 113.0, 139.0, 126.0]
    # At the top of the axis the stack is moved down inside it.
    top = spread([239.0, 240.0], low=0, high=240)
    assert top == [240.0 - LABEL_GAP, 240.0]
    # Far apart, nothing moves.
    assert spread([10.0, 100.0], low=0, high=240) == [10.0, 100.0]


def _pixels(values: list[float], domain: list[float], height: float) -> list[float]:
    return sorted((v - domain[0]) / (domain[1] - domain[0]) * height for v in values)


def _apart(pixels: list[float]) -> bool:
    return all(b - a >= LABEL_GAP - 1e-6 for a, b in zip(pixels, pixels[1:], strict=False))


def test_percentile_labels_never_overlap_on_the_scatter(tmp_path: Path) -> None:
    from valuestream.views.xmr_charts import X_HEIGHT, lead_time_scatter

    # 95 items of 2 to 2.3 days and five of 100: the 50th to 95th percentiles sit within a few
    # pixels of each other at the bottom of a 105-day axis.
    rows: list[list[str]] = []
    for i in range(100):
        lead = 100.0 if i >= 95 else 2.0 + 0.003 * i
        _item(rows, f"S-{i:03d}", MONDAY + dt.timedelta(days=120 + i, hours=12), lead, 1.0)
    ws = _workspace(tmp_path, rows)
    from valuestream.xmr import completed_items

    spec = lead_time_scatter(completed_items(_flow(ws))).to_dict()
    layer = next(
        la
        for la in spec["layer"]
        if la["mark"]["type"] == "text" and la["encoding"]["y"]["field"] == "at"
    )
    rows_ = spec["datasets"][layer["data"]["name"]]
    domain = layer["encoding"]["y"]["scale"]["domain"]
    lines = _pixels([r["days"] for r in rows_], domain, X_HEIGHT)
    assert lines[-1] - lines[0] < LABEL_GAP  # the lines themselves are close ...
    assert _apart(_pixels([r["at"] for r in rows_], domain, X_HEIGHT))  # ... their labels are not


def test_percentile_labels_never_overlap_on_the_forecast_charts() -> None:
    from valuestream.views.charts import HEIGHT
    from valuestream.views.forecast_charts import aging_chart

    # Constant throughput: every trial gives the same answer, so all four rules are on one value.
    fc = forecast.when(np.full(60, 2), 10, seed=1)
    spec = fc.chart().to_dict()
    labels = next(
        la for la in spec["layer"] if la["mark"]["type"] == "text" and "stroke" not in la["mark"]
    )
    rows = spec["datasets"][labels["data"]["name"]]
    assert len({r["at"] for r in rows}) == 1
    domain = labels["encoding"]["y"]["scale"]["domain"]
    assert _apart(_pixels([r["y"] for r in rows], domain, HEIGHT))
    # Aging against finished items whose percentiles are all but equal.
    durations = np.array([3.0] * 50 + [3.05] * 45 + [3.1] * 5)
    ages = {
        "item": ["A", "B"],
        "step": ["Dev", "Dev"],
        "age_days": [1.0, 40.0],
        "entered": [None, None],
    }
    import pandas as pd

    aging = forecast.aging(pd.DataFrame(ages), forecast.sle(durations), steps=["Dev"])
    spec = aging_chart(aging).to_dict()
    text = next(la for la in spec["layer"] if la["mark"]["type"] == "text")
    rows = spec["datasets"][text["data"]["name"]]
    domain = text["encoding"]["y"]["scale"]["domain"]
    assert _apart(_pixels([r["label_at"] for r in rows], domain, HEIGHT))
