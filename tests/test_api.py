"""The Python API a notebook user sees: small, lazy, and the same names as the CLI's results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import valuestream as vs


def test_every_public_name_resolves():
    for name in vs.__all__:
        assert getattr(vs, name) is not None, name


def test_import_stays_light():
    # The analyses (numba, altair, the simulation) load only when used.
    code = "import sys, valuestream; print(sorted(m for m in ('numba', 'altair', 'valuestream.simulate') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_notebook_session_on_the_sample(tmp_path: Path):
    from valuestream.sample import write_sample

    log, stream_path = write_sample(tmp_path)
    ws = vs.Workspace(tmp_path / "ws.duckdb")
    ws.import_file(log)
    stream = vs.load_stream(stream_path)
    flow = vs.Flow.of(ws, stream)
    report = vs.find_constraint(stream, flow)
    assert report.constraint == "Legal language"
    assert "Legal language" in report.explain()
    chart = vs.flow_xmr(flow, "median_lead")
    assert len(chart.table) > 40
