"""Process behavior charts of a flow at any volume: published examples through the event log, batch
completions, a long history whose first check is short, the report and the CLI agreeing to the
digit, and a 20,000-item log that draws.

Every log here is written so that its chart is a known answer: the values the chart must hold are
chosen first (published series, or a pattern whose limits are worked out by hand in the comments),
then items are made to finish with exactly those lead times, weekly medians, efficiencies or counts.
"""

from __future__ import annotations

import ast
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
from valuestream.views import report as rp
from valuestream.views.drawing import LABEL_GAP, spread
from valuestream.workspace import Workspace
from valuestream.xmr import NO_SIGNAL, SIGNAL, choose_series, flow_predictability, flow_xmr

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src" / "valuestream"
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
    ws.import_file(write_log(tmp / "log.csv", rows))
    (tmp / "stream.yaml").write_text(STREAM, encoding="utf-8")
    return ws


def _flow(ws: Workspace, as_of: dt.datetime | None = None) -> Flow:
    return Flow.of(ws, parse_stream(STREAM), as_of=as_of)


def _cli(ws: Workspace, *args: str) -> str:
    r = runner.invoke(
        app, [*args, "-w", str(ws.path), "-s", str(ws.path.parent / "stream.yaml")]
    )
    assert r.exit_code == 0, r.output
    return r.stdout


# -- numbers before pictures --------------------------------------------------------------------

ANALYSES = ("xmr.py", "forecast.py", "check.py")
BANNED = ("altair", "vl_convert", "duckdb", "valuestream.views")


def test_analysis_modules_import_no_views_altair_or_duckdb() -> None:
    """The analyses compute; views draw. A chart may be asked for (``.chart()``), and then the view
    is imported inside that method, never when the analysis module loads."""
    for name in ANALYSES:
        tree = ast.parse((SRC / name).read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: imports inside a function are lazy
            if isinstance(node, ast.If):  # TYPE_CHECKING blocks are for type hints alone
                continue
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for imported in names:
                assert not imported.startswith(BANNED), f"{name} imports {imported}"
    code = (
        "import sys, valuestream.xmr, valuestream.forecast, valuestream.check\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('altair', 'vl_convert')"
        " or m.startswith('valuestream.views')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


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
